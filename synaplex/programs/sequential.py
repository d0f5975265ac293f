"""Sequential: a program that is a plain chain of modules."""

from __future__ import annotations

from synaplex.backend.asyncio_utils import run_now
from synaplex.backend.errors import InvalidInputError, ModuleLookupError, ProgramBuildError
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.input import InputModule
from synaplex.modules.module import Module
from synaplex.programs.program import Program
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


class Sequential(Program):
    """A chain of modules, each fed the previous one's output.

    Example:
        >>> program = synaplex.Sequential([
        ...     synaplex.Input(data_model=Query),
        ...     synaplex.Generator(data_model=Answer, language_model=lm),
        ... ])
    """

    def __init__(self, modules: list | None = None, name: str | None = None,
                 description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        self._input_module: InputModule | None = None
        self._sequence: list[Module] = []
        for item in modules or []:
            self.add(item, rebuild=False)
        self._rebuild()

    def add(self, item, rebuild: bool = True) -> None:
        """Append a module (or set the Input, given ``synaplex.Input(...)``)."""
        if isinstance(item, SymbolicDataModel) and item._history is not None \
                and isinstance(item._history[0].module, InputModule):
            if self._input_module is not None or self._sequence:
                raise ProgramBuildError(f"Sequential {self.name!r}: the Input must come first, and only once.")
            self._input_module = item._history[0].module
        elif isinstance(item, Module):
            self._sequence.append(item)
        else:
            raise InvalidInputError(
                f"Sequential {self.name!r} takes synaplex.Input(...) then modules; got {item!r:.80}."
            )
        if rebuild:
            self._rebuild()

    def pop(self, rebuild: bool = True):
        """Remove the last module and return it (the Input, once no module is left), as in
        Synalinks. The program is rebuilt on what remains (unbuilt when that is the Input alone)."""
        if self._sequence:
            module = self._sequence.pop()
        elif self._input_module is not None:
            module, self._input_module = self._input_module, None
        else:
            raise ModuleLookupError(f"Sequential {self.name!r} is empty: there is no module to pop.")
        self._graph = None
        self.built = False
        if rebuild:
            self._rebuild()
        return module

    @property
    def input_schema(self):
        """The JSON schema of the input; known from the Input alone, before any module is added."""
        if self._graph is None and self._input_module is not None:
            return self._input_module.schema
        return super().input_schema

    def _rebuild(self) -> None:
        if self._input_module is None or not self._sequence:
            return

        async def trace():
            x = self._input_module.output
            for module in self._sequence:
                x = await module(x)
            return x

        outputs = run_now(trace)
        self._graph = None
        Program.__init__(self, inputs=self._input_module.output, outputs=outputs)

    async def build(self, inputs) -> None:
        if not self._sequence:
            raise ProgramBuildError(f"Sequential {self.name!r} has no modules.")
        if self._input_module is None:
            self._input_module = InputModule(schema=inputs.get_schema(), data_model=inputs.data_model)
            self._rebuild()

    def _serialized_class(self):
        return type(self)  # saved as itself (its list of modules), never as a functional Program

    def get_config(self) -> dict:
        config = Module.get_config(self)
        config["input"] = None if self._input_module is None else serialize_synaplex_object(self._input_module)
        config["modules"] = [serialize_synaplex_object(m) for m in self._sequence]
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        input_config = config.pop("input", None)
        modules = [deserialize_synaplex_object(m, custom_objects) for m in config.pop("modules", [])]
        if input_config is not None:
            modules.insert(0, deserialize_synaplex_object(input_config, custom_objects).output)
        return cls(modules=modules, **config)
