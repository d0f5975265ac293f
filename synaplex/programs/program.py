"""Program: a DAG of modules, built functionally, sequentially, by subclassing, or mixed."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from synaplex.backend import tree
from synaplex.backend.errors import (
    DataModelTypeError,
    InvalidInputError,
    ModuleLookupError,
    PredictionError,
    ProgramBuildError,
)
from synaplex.data import schema as schema_lib
from synaplex.data.data_model import DataModel
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.data.variable import Variable
from synaplex.lm.budget import estimating
from synaplex.modules.input import InputModule, convert_input
from synaplex.modules.module import Module
from synaplex.programs import program_io
from synaplex.programs.functional import FunctionalGraph, functional_config, functional_from_config
from synaplex.programs.summary import print_summary
from synaplex.training.trainer import Trainer


class Program(Trainer, Module):
    """A program: modules wired into a graph, trained and saved as one object.

    Four ways to build one:

    * functional: ``Program(inputs=inputs, outputs=outputs)``;
    * sequential: ``Sequential([Input(data_model=Query), Generator(...)])``;
    * subclassing: override ``async def call(self, inputs, training=False)``;
    * mixed: override ``async def build(self, inputs)`` and call
      ``super().__init__(inputs=..., outputs=...)`` at its end.

    Example:
        >>> inputs = synaplex.Input(data_model=Query)
        >>> outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
        >>> program = synaplex.Program(inputs=inputs, outputs=outputs, name="simple_qa")
        >>> result = await program(Query(query="What is the capital of France?"))
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 description: str | None = None, trainable: bool = True):
        if "_program_initialized" not in self.__dict__:
            self._init_module_state(name=name, description=description, trainable=trainable)
            self._graph = None
            self._language_model = None
            self._program_initialized = True
        else:
            if name is not None:
                self.name = name
            if description is not None:
                self.description = description
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ProgramBuildError(
                    f"Program {self.name!r}: pass both inputs= and outputs= to build a functional "
                    "program (or neither, to subclass)."
                )
            self._graph = FunctionalGraph(inputs, outputs, self.name)
            self.built = True

    @property
    def handles_none(self) -> bool:
        """A program with a graph runs it whatever its inputs: a ``None`` input flows into the
        graph, where each module decides (most skip and give ``None``; ``Or``, ``Xor``, ``Not``
        and ``Branch`` see it), as in Synalinks. A subclassed program (no graph) is skipped
        like any module unless its class sets ``handles_none = True``."""
        return getattr(self, "_graph", None) is not None

    # --- structure ----------------------------------------------------------------------

    @property
    def language_model(self):
        """The program's language model: the one set on it, else the one its modules share."""
        if self._language_model is not None:
            return self._language_model
        found = []
        for module in self._all_modules():
            lm = getattr(module, "language_model", None)
            if lm is not None and not isinstance(module, Program) and all(lm is not f for f in found):
                found.append(lm)
        if len(found) == 1:
            return found[0]
        if not found:
            raise AttributeError(f"Program {self.name!r} has no language model.")
        raise AttributeError(
            f"Program {self.name!r} uses {len(found)} language models; read each from its module."
        )

    @language_model.setter
    def language_model(self, value) -> None:
        self._language_model = value

    def _all_modules(self, seen: set | None = None) -> list[Module]:
        seen = set() if seen is None else seen
        out = []
        for _, module in self._tracked_modules():
            if id(module) in seen:
                continue
            seen.add(id(module))
            out.append(module)
            if isinstance(module, Program):
                out.extend(module._all_modules(seen))
            else:
                out.extend(m for _, m in module._tracked_modules() if id(m) not in seen)
        return out

    def _tracked_modules(self) -> list[tuple[str, Module]]:
        found: list[tuple[str, Module]] = []
        if self._graph is not None:
            found.extend((m.name, m) for m in self._graph.modules)
        for key, module in super()._tracked_modules():
            if all(module is not m for _, m in found):
                found.append((key, module))
        return found

    @property
    def modules(self) -> list[Module]:
        """The program's modules, Inputs included, in topological order."""
        return [m for _, m in self._tracked_modules()]

    def get_module(self, name: str | None = None, index: int | None = None) -> Module:
        """A module by ``name`` or by ``index`` (topological order)."""
        if (name is None) == (index is None):
            raise InvalidInputError("get_module takes exactly one of name= or index=.")
        modules = self.modules
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool):
                raise InvalidInputError(f"get_module(index=...) takes an integer, got {index!r}.")
            if not -len(modules) <= index < len(modules):
                raise ModuleLookupError(
                    f"get_module(index={index}) is out of range: program {self.name!r} has "
                    f"{len(modules)} modules (indices 0 to {len(modules) - 1})."
                )
            return modules[index]
        for module in modules:
            if module.name == name:
                return module
        raise ModuleLookupError(
            f"Program {self.name!r} has no module named {name!r}. Its modules: "
            f"{', '.join(m.name for m in modules) or 'none'}."
        )

    # --- building and calling -----------------------------------------------------------

    async def _maybe_build(self, args, kwargs) -> None:
        """Build on Inputs made from the first inputs' schemas (mixed programs override build)."""

        def as_input(x):
            if isinstance(x, (JsonDataModel, SymbolicDataModel)):
                return InputModule(schema=x.get_schema(), data_model=getattr(x, "data_model", None)).output
            if isinstance(x, DataModel):
                return InputModule(data_model=type(x)).output
            if isinstance(x, dict):
                raise ProgramBuildError(
                    f"Program {self.name!r} is built on its first call from the input's schema; "
                    "call it with DataModels the first time, not plain dicts."
                )
            return x

        if type(self).build is not Module.build:
            await super()._maybe_build(tree.map_structure(as_input, args), tree.map_structure(as_input, kwargs))
        self.built = True

    def compute_output_spec(self, *args, **kwargs):
        if self._graph is not None:
            return tree.map_structure(lambda s: s.clone(), self._graph.outputs_structure)
        return super().compute_output_spec(*args, **kwargs)

    async def call(self, inputs, training: bool = False):
        if self._graph is None:
            raise NotImplementedError(
                f"Program {self.name!r} ({type(self).__name__}) has no graph: build it functionally "
                "(Program(inputs=..., outputs=...)), override call(), or override build() and call "
                "super().__init__(inputs=..., outputs=...) in it."
            )
        graph = self._graph
        structure = graph.inputs_structure
        if isinstance(structure, SymbolicDataModel):
            flat = [convert_input(inputs, graph.inputs[0], self.name)]
        else:
            if not isinstance(inputs, (list, tuple, dict)):
                raise DataModelTypeError(
                    f"Program {self.name!r} takes {len(graph.inputs)} inputs as a list "
                    f"({', '.join(schema_lib.title(x.get_schema()) for x in graph.inputs)}); "
                    f"got {type(inputs).__name__}."
                )
            try:  # each input may itself be a dict (a DataModel's JSON): cut to the structure's shape only
                given = tree.flatten_up_to(structure, inputs)
            except ValueError as error:
                if not (isinstance(inputs, (list, tuple)) and len(inputs) == len(graph.inputs)):
                    raise InvalidInputError(
                        f"Program {self.name!r} takes {len(graph.inputs)} inputs, got {len(inputs)} ({error}: give "
                        "them as the program's inputs were given, a dict or a JSON object each).") from None
                given = list(inputs)  # the inputs as one flat list, in the order of program.inputs
            flat = [convert_input(x, spec, self.name) for x, spec in zip(given, graph.inputs)]
        outputs = await graph.run(flat, training)
        return tree.pack_sequence_as(graph.outputs_structure, outputs)

    async def predict(self, x: Any, batch_size: int = 32, on_error: str = "raise") -> list:
        """Run the program on every example of ``x``; results come back in input order.

        Up to ``batch_size`` examples run concurrently. A failed example is never dropped:
        with ``on_error="raise"`` (default) a :class:`PredictionError` is raised once all
        examples are done, carrying every output and every error; with ``on_error="return"``
        the failed example's slot holds its exception.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if on_error not in ("raise", "return"):
            raise InvalidInputError(f"on_error must be 'raise' or 'return', got {on_error!r}.")
        items = list(x)
        results: list = [None] * len(items)
        errors: dict[int, BaseException] = {}
        indices = iter(range(len(items)))

        async def worker() -> None:
            for i in indices:
                try:
                    results[i] = await self(items[i])
                except Exception as error:  # noqa: BLE001 - reported below, never dropped
                    errors[i] = error
                    results[i] = error

        await asyncio.gather(*(worker() for _ in range(min(batch_size, len(items)))))
        if errors and on_error == "raise":
            shown = "; ".join(f"example {i}: {type(e).__name__}: {e}" for i, e in sorted(errors.items())[:3])
            raise PredictionError(
                f"{len(errors)} of {len(items)} examples failed ({shown}). The error's .outputs has "
                "every result in input order and .errors maps each failed index to its exception; "
                "pass on_error='return' to get them without raising.",
                outputs=results, errors=dict(sorted(errors.items())),
            )
        return results

    async def estimate_cost(self, x: Any, batch_size: int = 32):
        """A pre-run estimate of what ``predict(x)`` would spend, without any request.

        Every LM call the program makes records its estimate (the prompt's tokens; the output
        from the schema's bounds, else the model's average reply so far, else ``max_tokens``)
        and answers a placeholder valid against its schema, so the program runs on. Returns a
        :class:`~synaplex.lm.budget.CostEstimate` (``calls``, ``input_tokens``,
        ``output_tokens``, ``cost``, ``by_model``); an agent's tool loop is counted as one turn.
        """
        with estimating() as estimate:
            await self.predict(x, batch_size=batch_size, on_error="return")
        return estimate

    # --- schemas and state ----------------------------------------------------------------

    def _graph_schemas(self, which: str) -> Any:
        if self._graph is None:
            raise AttributeError(
                f"Program {self.name!r} has no {which} schema yet: it has no graph (build it functionally, "
                "or call it once if it builds itself on its first call).")
        structure = self._graph.inputs_structure if which == "input" else self._graph.outputs_structure
        schemas = tree.map_structure(lambda x: x.get_schema(), structure)
        if isinstance(schemas, (list, tuple)) and len(schemas) == 1:
            return schemas[0]
        return schemas

    @property
    def input_schema(self) -> Any:
        """The JSON schema of the program's input, or the structure (list, dict) of its inputs'
        schemas; a one-item list gives its schema (as in Synalinks). ``AttributeError`` while the
        program has no graph."""
        return self._graph_schemas("input")

    @property
    def output_schema(self) -> Any:
        """The JSON schema of the program's output, or the structure of its outputs' schemas."""
        return self._graph_schemas("output")

    def get_state_tree(self) -> dict:
        """The values of the program's variables as nested dicts, as in Synalinks:
        ``{"trainable_variables": {"generator": {"state": {...}}}, "non_trainable_variables": {...}}``.

        Each variable sits at its path in the program (``generator/state``, the names
        :meth:`get_variable` takes and saved files use). The values are copies, plain JSON:
        change them and give the tree to :meth:`set_state_tree`. The optimizer's and the
        metrics' state are not variables in synaplex, so the tree has no ``optimizer_*`` or
        ``metrics_variables`` entries.
        """
        trainable = {id(v) for v in self._trainable_items()}
        items = list(self._variable_items())
        return {
            "trainable_variables": _nest([(p, v) for p, v in items if id(v) in trainable], self.name),
            "non_trainable_variables": _nest([(p, v) for p, v in items if id(v) not in trainable], self.name),
        }

    def set_state_tree(self, state_tree: dict) -> None:
        """Assign the values of a tree from :meth:`get_state_tree` (or the same shape, parsed from JSON).

        A variable may be given in part (the fields given replace those fields); variables the
        tree leaves out keep their values. Every value is validated first: a path the program
        does not have, a field the variable's DataModel does not declare, or a value of the wrong
        type raises ``InvalidInputError`` and changes nothing.
        """
        if not isinstance(state_tree, dict):
            raise InvalidInputError(
                f"set_state_tree takes the dict that get_state_tree returns, got {type(state_tree).__name__}.")
        trainable = {id(v) for v in self._trainable_items()}
        items = list(self._variable_items())
        groups = {
            "trainable_variables": [(p, v) for p, v in items if id(v) in trainable],
            "non_trainable_variables": [(p, v) for p, v in items if id(v) not in trainable],
        }
        updates: list[tuple[Variable, dict]] = []
        for key, subtree in state_tree.items():
            if key not in groups:
                raise InvalidInputError(
                    f"set_state_tree: unknown entry {key!r}; a state tree has 'trainable_variables' and "
                    "'non_trainable_variables' (synaplex keeps the optimizer's state with the program's "
                    "compile config, and metrics hold no variables).")
            updates.extend(_unnest(subtree, dict(groups[key]), key, self.name))
        previous = [(variable, variable.get_json()) for variable, _ in updates]
        try:
            for variable, fields in updates:
                variable.assign({**variable.get_json(), **fields})
        except InvalidInputError as error:
            for variable, value in previous:
                variable.assign(value)
            raise InvalidInputError(f"set_state_tree changed nothing: {error}") from None

    # --- inspection ---------------------------------------------------------------------

    def summary(self, print_fn=None) -> None:
        """Print a table of modules: name, type, output schema and trainable variables."""
        print_summary(self, print_fn=print_fn)

    # --- saving -------------------------------------------------------------------------

    def _serialized_class(self):
        if self._graph is not None and type(self).get_config is Program.get_config:
            return Program
        return type(self)

    def get_config(self) -> dict:
        if self._graph is not None and self._serialized_class() is Program:
            return functional_config(self)
        return super().get_config()

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        if "nodes" in config:
            inputs, outputs = functional_from_config(config, custom_objects)
            return Program(inputs=inputs, outputs=outputs, name=config.get("name"),
                           description=config.get("description"), trainable=config.get("trainable", True))
        return cls(**config)

    def save(self, filepath: str) -> None:
        """Save the architecture and the variables to a JSON file."""
        program_io.save_program(self, filepath)

    @classmethod
    def load(cls, filepath: str, custom_objects: dict | None = None, *, safe_mode: bool = True,
             allow: tuple = ()) -> Program:
        """Load a program saved with :meth:`save`.

        Safe by default: a file that would start a process, import code, read environment
        variables, send the environment's credentials to an endpoint it names, or create
        files raises ``UnsafeLoadError`` naming the field. For a file you trust, name what it
        may do, ``allow=("processes", "imports", "environment", "credentials", "files")``, or
        pass ``safe_mode=False`` (see the README's "Safe loading").
        """
        return program_io.load_program(filepath, custom_objects=custom_objects, safe_mode=safe_mode, allow=allow,
                                       program_class=Program)

    def save_variables(self, filepath: str) -> None:
        program_io.save_variables(self, filepath)

    def load_variables(self, filepath: str) -> None:
        program_io.load_variables(self, filepath)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _nest(items: list[tuple[str, Variable]], program: str) -> dict:
    """``[("generator/state", v)]`` as ``{"generator": {"state": <copy of v's value>}}``."""
    out: dict = {}
    leaves: set[str] = set()
    for path, variable in items:
        parts = path.split("/")
        node = out
        for depth, part in enumerate(parts[:-1]):
            if "/".join(parts[:depth + 1]) in leaves:
                raise InvalidInputError(
                    f"Program {program!r}: the variable path {path!r} runs through the variable "
                    f"{'/'.join(parts[:depth + 1])!r}, so the state tree cannot hold both. Rename the module or "
                    "the variable.")
            node = node.setdefault(part, {})
        if parts[-1] in node:
            raise InvalidInputError(
                f"Program {program!r}: two variables have the path {path!r}; give their modules distinct names."
                if path in leaves else
                f"Program {program!r}: the variable {path!r} has variables below it in the state tree "
                f"({path}/...); rename the module or the variable.")
        node[parts[-1]] = copy.deepcopy(variable.get_json())
        leaves.add(path)
    return out


def _unnest(subtree: Any, variables: dict[str, Variable], key: str, program: str) -> list[tuple[Variable, dict]]:
    """The ``(variable, fields)`` a state tree's ``key`` entry gives, found by walking it along the
    program's variable paths."""
    found: list[tuple[Variable, dict]] = []

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, dict):
            raise InvalidInputError(
                f"set_state_tree: {key}{'/' + prefix if prefix else ''} must be a dict, got "
                f"{type(node).__name__}: {node!r:.80}.")
        for name, value in node.items():
            path = f"{prefix}/{name}" if prefix else str(name)
            if path in variables:
                if not isinstance(value, dict):
                    raise InvalidInputError(
                        f"set_state_tree: the value of variable {path!r} must be a JSON object, got "
                        f"{type(value).__name__}: {value!r:.80}.")
                found.append((variables[path], value))
            elif any(p.startswith(path + "/") for p in variables):
                walk(value, path)
            else:
                raise InvalidInputError(
                    f"set_state_tree: program {program!r} has no variable at {key}/{path}. Its {key}: "
                    f"{', '.join(variables) or 'none'}.")

    walk(subtree, "")
    return found
