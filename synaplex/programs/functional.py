"""The graph of a functional program: validated at build time, run concurrently with asyncio, saved as JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from synaplex.backend import tree
from synaplex.backend.asyncio_utils import run_now
from synaplex.backend.errors import ProgramBuildError
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.input import InputModule
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class _Step:
    """One non-input node, compiled: where its arguments come from, where its outputs go."""

    __slots__ = ("module", "single_slot", "args", "kwargs", "out_slots", "structured_out", "preds")

    def __init__(self, module, single_slot, args, kwargs, out_slots, structured_out, preds):
        self.module = module
        self.single_slot = single_slot
        self.args = args
        self.kwargs = kwargs
        self.out_slots = out_slots
        self.structured_out = structured_out
        self.preds = preds


def _resolve(structure: Any, values: list) -> Any:
    return tree.map_structure(lambda x: values[x.index] if isinstance(x, _Slot) else x, structure)


def _describe(symbolic: SymbolicDataModel) -> str:
    return symbolic.get_schema().get("title") or symbolic.name or "data model"


class FunctionalGraph:
    def __init__(self, inputs: Any, outputs: Any, owner: str):
        self.inputs_structure = inputs
        self.outputs_structure = outputs
        self.inputs = tree.flatten(inputs)
        self.outputs = tree.flatten(outputs)
        self._check_endpoints(owner)
        self.nodes = self._sort_nodes(owner)
        self.modules = []
        seen_names: dict[str, Any] = {}
        for node in self.nodes:
            module = node.module
            if any(module is m for m in self.modules):
                continue
            other = seen_names.get(module.name)
            if other is not None:
                raise ProgramBuildError(
                    f"Program {owner!r} has two different modules named {module.name!r} "
                    f"({type(other).__name__} and {type(module).__name__}); module names must be unique "
                    "within a program. Pass distinct name=... arguments."
                )
            seen_names[module.name] = module
            self.modules.append(module)
        self._compile()

    def _check_endpoints(self, owner: str) -> None:
        if not self.inputs:
            raise ProgramBuildError(f"Program {owner!r}: inputs is empty; pass synaplex.Input(...) outputs.")
        for x in self.inputs:
            if not isinstance(x, SymbolicDataModel) or x._history is None or not isinstance(
                    x._history[0].module, InputModule):
                raise ProgramBuildError(
                    f"Program {owner!r}: every input must come from synaplex.Input(data_model=...); "
                    f"got {x!r:.100}."
                )
        if not self.outputs:
            raise ProgramBuildError(f"Program {owner!r}: outputs is empty.")
        for x in self.outputs:
            if not isinstance(x, SymbolicDataModel):
                raise ProgramBuildError(
                    f"Program {owner!r}: every output must be the symbolic result of a module call "
                    f"(await module(inputs)); got {type(x).__name__}: {x!r:.100}."
                )

    def _sort_nodes(self, owner: str) -> list:
        input_ids = {id(x) for x in self.inputs}
        state: dict[int, int] = {}
        order: list = []
        stack_path: list = []

        def visit(symbolic: SymbolicDataModel, consumer: str) -> None:
            if symbolic._history is None:
                raise ProgramBuildError(
                    f"Program {owner!r}: {consumer} uses {_describe(symbolic)!r}, which was not produced "
                    "by synaplex.Input or by a module call, so the graph is disconnected. Build every "
                    "value from the program's inputs."
                )
            node = symbolic._history[0]
            status = state.get(id(node))
            if status == 2:
                return
            if status == 1:
                # stack_path runs from consumers to producers; show it in data-flow order.
                cycle = [n.module.name for n in stack_path[stack_path.index(node):]] + [node.module.name]
                raise ProgramBuildError(
                    f"Program {owner!r}: the graph has a cycle: {' -> '.join(reversed(cycle))}. A program "
                    "must be a directed acyclic graph."
                )
            if isinstance(node.module, InputModule) and id(symbolic) not in input_ids:
                raise ProgramBuildError(
                    f"Program {owner!r}: an output depends on Input {node.module.name!r} "
                    f"({_describe(symbolic)}), which is not among the program's inputs: the output is "
                    "disconnected from the inputs. Add that Input to inputs=[...] or build the output "
                    "from the listed inputs."
                )
            state[id(node)] = 1
            stack_path.append(node)
            for parent in node.inputs:
                visit(parent, f"module {node.module.name!r}")
            stack_path.pop()
            state[id(node)] = 2
            order.append(node)

        for x in self.inputs:
            visit(x, "inputs")
        for x in self.outputs:
            visit(x, "outputs")

        depth: dict[int, int] = {}
        for node in order:
            parents = [p._history[0] for p in node.inputs]
            depth[id(node)] = 1 + max((depth[id(p)] for p in parents), default=-1)
        position = {id(n): i for i, n in enumerate(order)}
        return sorted(order, key=lambda n: (depth[id(n)], position[id(n)]))

    def _compile(self) -> None:
        slots: dict[int, int] = {}
        for node in self.nodes:
            for output in node.outputs:
                slots[id(output)] = len(slots)
        self.n_slots = len(slots)
        self.input_slots = [slots[id(x)] for x in self.inputs]
        self.output_slots = [slots[id(x)] for x in self.outputs]
        node_index = {id(n): i for i, n in enumerate(self.nodes)}
        self.steps: list[_Step] = []
        step_of_node: dict[int, int] = {}
        for node in self.nodes:
            if isinstance(node.module, InputModule):
                continue
            to_slot = lambda x: _Slot(slots[id(x)]) if isinstance(x, SymbolicDataModel) else x  # noqa: E731
            single = None
            if len(node.args) == 1 and not node.kwargs and isinstance(node.args[0], SymbolicDataModel):
                single = slots[id(node.args[0])]
            preds = sorted({step_of_node[id(p._history[0])] for p in node.inputs
                            if id(p._history[0]) in step_of_node})
            step_of_node[id(node)] = len(self.steps)
            self.steps.append(_Step(
                module=node.module,
                single_slot=single,
                args=tree.map_structure(to_slot, node.args),
                kwargs=tree.map_structure(to_slot, node.kwargs),
                out_slots=[slots[id(x)] for x in node.outputs],
                structured_out=not isinstance(node.output_structure, SymbolicDataModel),
                preds=preds,
            ))
        del node_index
        self.sequential = all(
            len(step.preds) <= 1 and (not step.preds or step.preds[0] == i - 1) for i, step in enumerate(self.steps)
        ) and sum(1 for s in self.steps if not s.preds) <= 1

    async def _run_step(self, step: _Step, values: list, training: bool) -> None:
        if step.single_slot is not None:
            args, kwargs = (values[step.single_slot],), {}
        else:
            args, kwargs = _resolve(step.args, values), _resolve(step.kwargs, values)
        result = await step.module._runtime_call(args, kwargs, training)
        if not step.structured_out:
            values[step.out_slots[0]] = result
            return
        flat = [None] * len(step.out_slots) if result is None else tree.flatten(result)
        if len(flat) != len(step.out_slots):
            raise ProgramBuildError(
                f"Module {step.module.name!r} returned {len(flat)} outputs at run time but declared "
                f"{len(step.out_slots)} when the program was built."
            )
        for slot, value in zip(step.out_slots, flat):
            values[slot] = value

    async def run(self, flat_inputs: list, training: bool = False) -> list:
        values: list = [None] * self.n_slots
        for slot, value in zip(self.input_slots, flat_inputs):
            values[slot] = value
        if self.sequential:
            for step in self.steps:
                await self._run_step(step, values, training)
        else:
            await self._run_concurrently(values, training)
        return [values[slot] for slot in self.output_slots]

    async def _run_concurrently(self, values: list, training: bool) -> None:
        tasks: list[asyncio.Task] = []

        async def run(step: _Step) -> None:
            for pred in step.preds:
                await tasks[pred]
            await self._run_step(step, values, training)

        for step in self.steps:
            tasks.append(asyncio.ensure_future(run(step)))
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


# --- the graph as JSON (a functional program's config) ---------------------------------

def _encode(structure: Any, refs: dict[int, list[int]]) -> Any:
    if isinstance(structure, SymbolicDataModel):
        return {"__node__": refs[id(structure)]}
    if isinstance(structure, tuple):
        return {"__tuple__": [_encode(x, refs) for x in structure]}
    if isinstance(structure, list):
        return [_encode(x, refs) for x in structure]
    if isinstance(structure, dict):
        return {k: _encode(v, refs) for k, v in structure.items()}
    return serialize_synaplex_object(structure)


def _decode(data: Any, outputs: list[list]) -> Any:
    if isinstance(data, dict):
        if "__node__" in data:
            node_index, output_index = data["__node__"]
            return outputs[node_index][output_index]
        if "__tuple__" in data:
            return tuple(_decode(x, outputs) for x in data["__tuple__"])
        return {k: _decode(v, outputs) for k, v in data.items()}
    if isinstance(data, list):
        return [_decode(x, outputs) for x in data]
    return data


def functional_config(program) -> dict:
    """A functional program's config: its modules, the nodes that call them, its inputs and outputs."""
    graph = program._graph
    module_index = {id(m): i for i, m in enumerate(graph.modules)}
    refs: dict[int, list[int]] = {}
    nodes = []
    for node_index, node in enumerate(graph.nodes):
        entry: dict[str, Any] = {"module": module_index[id(node.module)]}
        if not isinstance(node.module, InputModule):
            entry["args"] = _encode(list(node.args), refs)
            entry["kwargs"] = _encode(node.kwargs, refs)
        nodes.append(entry)
        for output_index, output in enumerate(node.outputs):
            refs[id(output)] = [node_index, output_index]
    return {
        "name": program.name,
        "description": program.description,
        "trainable": program.trainable,
        "modules": [serialize_synaplex_object(m) for m in graph.modules],
        "nodes": nodes,
        "inputs": _encode(graph.inputs_structure, refs),
        "outputs": _encode(graph.outputs_structure, refs),
    }


def functional_from_config(config: dict, custom_objects: dict | None = None) -> tuple[Any, Any]:
    """The inputs and outputs of the graph that :func:`functional_config` described, traced again."""
    modules = [deserialize_synaplex_object(m, custom_objects) for m in config["modules"]]

    async def trace():
        outputs: list[list] = []
        for entry in config["nodes"]:
            module = modules[entry["module"]]
            if isinstance(module, InputModule):
                outputs.append([module.output])
                continue
            args = _decode(entry.get("args", []), outputs)
            kwargs = _decode(entry.get("kwargs", {}), outputs)
            result = await module._symbolic_call(tuple(args), kwargs)
            outputs.append([x for x in tree.flatten(result) if isinstance(x, SymbolicDataModel)])
        return _decode(config["inputs"], outputs), _decode(config["outputs"], outputs)

    return run_now(trace)
