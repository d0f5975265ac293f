"""InMask and OutMask: keep or drop fields by name."""

from __future__ import annotations

from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.module import Module


class _Mask(Module):
    keep = True

    def __init__(self, mask: list[str] | None = None, recursive: bool = True, name: str | None = None,
                 description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        if not mask or isinstance(mask, str) or not all(isinstance(m, str) for m in mask):
            raise InvalidInputError(
                f"{type(self).__name__} needs mask=[field names, …], got {mask!r}."
            )
        self.mask = list(mask)
        self.recursive = recursive
        self._plans: dict[int, tuple] = {}
        self.built = True

    def _plan(self, schema: dict) -> tuple:
        plan = self._plans.get(id(schema))
        if plan is None or plan[0] is not schema:
            masked, fields = schema_lib.mask_plan(schema, self.mask, keep=self.keep, recursive=self.recursive)
            plan = (schema, masked, fields)
            self._plans[id(schema)] = plan
        return plan

    def apply(self, x: JsonDataModel) -> JsonDataModel:
        _, masked, fields = self._plan(x.get_schema())
        return JsonDataModel(json=schema_lib.mask_values(x.get_json(), fields), schema=masked)

    def compute_output_spec(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            return type(inputs)(self.compute_output_spec(x) for x in inputs)
        _, masked, _ = self._plan(inputs.get_schema())
        return SymbolicDataModel(schema=masked)

    async def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            return type(inputs)(None if x is None else self.apply(x) for x in inputs)
        return self.apply(inputs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(mask=self.mask, recursive=self.recursive)
        return config


class InMask(_Mask):
    """Keep only the fields named in ``mask`` (and, with ``recursive``, named nested fields)."""

    keep = True


class OutMask(_Mask):
    """Remove the fields named in ``mask`` (at every depth with ``recursive``)."""

    keep = False
