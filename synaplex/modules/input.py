"""Input: the entry point of a functional program."""

from __future__ import annotations

from typing import Any

from synaplex.backend import naming
from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.data_model import DataModel, is_data_model_class
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.lm.validation import validation_errors
from synaplex.modules.module import Module
from synaplex.modules.node import Node
from synaplex.serialization import deserialize_data_model, serialize_data_model


class InputModule(Module):
    """The module behind :func:`Input`: it has one node, and its output is the program input."""

    def __init__(self, data_model=None, schema: dict | None = None, name: str | None = None, **kwargs):
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

    @property
    def input_schema(self) -> dict:
        """The JSON schema of the program input (as Synalinks' ``InputModule.input_schema``)."""
        return self.schema

    def get_schema(self) -> dict:
        return self.schema

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


def convert_input(x: Any, spec: SymbolicDataModel, program_name: str) -> Any:
    """A program's input value as the JsonDataModel its Input (``spec``) takes.

    A DataModel, a JsonDataModel with the same fields or a dict that validates against the
    spec's schema; ``None`` stays ``None``. Anything else raises an error that names the
    program ``program_name``.
    """
    expected = spec.get_schema()
    if isinstance(x, JsonDataModel):
        schema = x.get_schema()
        if schema is expected or schema_lib.same_fields(schema, expected):
            return x
        raise DataModelTypeError(
            f"Program {program_name!r} expects {schema_lib.title(expected)} (fields: "
            f"{schema_lib.fields_text(expected)}) as input, got {schema_lib.title(schema)} (fields: "
            f"{schema_lib.fields_text(schema)})."
        )
    if isinstance(x, DataModel):
        return convert_input(x.to_json_data_model(), spec, program_name)
    if isinstance(x, dict):
        if spec.data_model is not None:
            context = f"Program {program_name!r}: invalid {schema_lib.title(expected)} input"
            return spec.data_model.validate_json(x, context).to_json_data_model()
        errors = validation_errors(x, expected)
        if errors:
            raise InvalidInputError(f"Program {program_name!r}: invalid input: {'; '.join(errors)}.")
        return JsonDataModel(json=x, schema=expected)
    if x is None:
        return None
    raise DataModelTypeError(
        f"Program {program_name!r} expects {schema_lib.title(expected)} (a DataModel, JsonDataModel or dict) as "
        f"input, got {type(x).__name__}: {x!r:.80}."
    )
