"""Input: the entry point of a functional program."""

from __future__ import annotations

from synaplex.backend.errors import InvalidInputError
from synaplex.data.data_model import is_data_model_class
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.module import Module
from synaplex.modules.node import Node
from synaplex.serialization import deserialize_data_model, serialize_data_model


class InputModule(Module):
    """The module behind :func:`Input`: it has one node, and its output is the program input."""

    def __init__(self, data_model=None, schema: dict | None = None, name: str | None = None, **kwargs):
        from synaplex.backend import naming

        super().__init__(name=name or naming.auto_name("input"), **kwargs)
        if data_model is None and schema is None:
            raise InvalidInputError(
                "Input needs a data_model: synaplex.Input(data_model=Query), where Query is a "
                "synaplex.DataModel subclass (or pass schema=<JSON schema dict>)."
            )
        if data_model is not None and schema is not None and data_model.get_schema() != schema:
            data_model = None
        if data_model is not None and not is_data_model_class(data_model):
            raise InvalidInputError(
                f"Input(data_model=...) expects a synaplex.DataModel subclass, got {data_model!r}."
            )
        self.data_model = data_model
        self.schema = data_model.get_schema() if data_model is not None else schema
        self.built = True
        self.output = SymbolicDataModel(schema=self.schema, data_model=data_model, name=self.name)
        Node(self, (), {}, self.output)

    async def call(self, inputs, training=False):
        return inputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(serialize_data_model(self.data_model, self.schema))
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        data_model, schema = deserialize_data_model(config)
        return cls(data_model=data_model, schema=None if data_model else schema, **config)


def Input(data_model=None, schema: dict | None = None, name: str | None = None) -> SymbolicDataModel:
    """Declare a program input.

    Example:
        >>> inputs = synaplex.Input(data_model=Query)
    """
    return InputModule(data_model=data_model, schema=schema, name=name).output
