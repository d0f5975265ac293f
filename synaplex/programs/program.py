"""Program: a DAG of modules, built functionally, sequentially, by subclassing, or mixed."""

from __future__ import annotations

import asyncio
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
            given = tree.flatten(inputs)
            if len(given) != len(graph.inputs):
                raise InvalidInputError(
                    f"Program {self.name!r} takes {len(graph.inputs)} inputs, got {len(given)}."
                )
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
