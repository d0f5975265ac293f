"""The module twins of the JSON operators, each taking a list of inputs.

``Concat`` (``+``), ``And`` (``&``), ``Or`` (``|``), ``Xor`` (``^``) and ``Not`` (``~``).
The renaming of colliding fields is planned once, while the program is built.
"""

from __future__ import annotations

from synaplex.backend import tree
from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.module import Module


class _Merge(Module):
    handles_none = True
    symbol = "?"

    def __init__(self, name: str | None = None, description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        self._concat = schema_lib.PlannedConcat()
        self.built = True

    def _check_list(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise InvalidInputError(
                f"{type(self).__name__} takes a list of inputs, e.g. "
                f"await synaplex.{type(self).__name__}()([x1, x2]); got {inputs!r:.100}."
            )

    def _concat_all(self, items: list) -> JsonDataModel:
        out = items[0]
        for item in items[1:]:
            out = self._concat(out, item)
        return out

    def _concat_schemas(self, inputs: list) -> SymbolicDataModel:
        schema = inputs[0].get_schema()
        for item in inputs[1:]:
            schema, _ = schema_lib.concat_plan(schema, item.get_schema())
        return SymbolicDataModel(schema=schema)

    def compute_output_spec(self, inputs, training=False):
        self._check_list(inputs)
        return self._concat_schemas(list(inputs))


class Concat(_Merge):
    """Concatenate the fields of all inputs; raises when one of them is None."""

    async def call(self, inputs, training=False):
        self._check_list(inputs)
        missing = [i for i, x in enumerate(inputs) if x is None]
        if missing:
            raise InvalidInputError(
                f"Concat {self.name!r}: input(s) at position {missing} are None. Use And (None when "
                "any is None) or Or (skips None) when an input may be missing."
            )
        return self._concat_all(list(inputs))


class And(_Merge):
    """Concatenate all inputs, or return None when any of them is None."""

    async def call(self, inputs, training=False):
        self._check_list(inputs)
        if any(x is None for x in inputs):
            return None
        return self._concat_all(list(inputs))


class Or(_Merge):
    """Concatenate the inputs that are not None; None when all are None."""

    async def call(self, inputs, training=False):
        self._check_list(inputs)
        present = [x for x in inputs if x is not None]
        if not present:
            return None
        return present[0] if len(present) == 1 else self._concat_all(present)


class Xor(_Merge):
    """The single input that is not None; None when several or none are there."""

    def compute_output_spec(self, inputs, training=False):
        self._check_list(inputs)
        return inputs[0].clone()

    async def call(self, inputs, training=False):
        self._check_list(inputs)
        present = [x for x in inputs if x is not None]
        return present[0] if len(present) == 1 else None


class Not(Module):
    """Always outputs None: a stop condition, or a placeholder before a guard."""

    handles_none = True

    def __init__(self, name: str | None = None, description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        self.built = True

    def compute_output_spec(self, inputs, training=False):
        return tree.map_structure(lambda x: x.clone() if hasattr(x, "clone") else x, inputs)

    async def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple, dict)):
            return tree.map_structure(lambda _: None, inputs)
        return None
