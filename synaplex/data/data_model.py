"""DataModel: a pydantic model that knows its JSON schema and takes part in JSON operators."""

from __future__ import annotations

import json
from typing import Any

import pydantic
from pydantic._internal._model_construction import ModelMetaclass

from synaplex.backend.errors import InvalidInputError, describe_validation_error
from synaplex.data import operators_implementation
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.operators import OperatorMixin
from synaplex.data.symbolic_data_model import SymbolicDataModel

Field = pydantic.Field

_SCHEMAS: dict[type, dict] = {}


class DataModelMeta(ModelMetaclass):
    """Gives DataModel *classes* the schema-level operators: ``Query + Answer``, ``Query in X``.

    ``|`` is left to Python so that ``Answer | None`` stays a type annotation.
    """

    def __add__(cls, other):
        return operators_implementation().concat(cls, other)

    def __radd__(cls, other):
        return operators_implementation().concat(other, cls)

    def __and__(cls, other):
        return operators_implementation().logical_and(cls, other)

    def __rand__(cls, other):
        return operators_implementation().logical_and(other, cls)

    def __xor__(cls, other):
        return operators_implementation().logical_xor(cls, other)

    def __rxor__(cls, other):
        return operators_implementation().logical_xor(other, cls)

    def __contains__(cls, other):
        if isinstance(other, str):
            return other in cls.model_fields
        return operators_implementation().contains(cls, other)


class DataModel(OperatorMixin, pydantic.BaseModel, metaclass=DataModelMeta):
    """The typed unit of data of synaplex, declared like a pydantic model.

    Example:
        >>> class Query(synaplex.DataModel):
        ...     query: str = synaplex.Field(description="The user query")
        >>> Query(query="What is the capital of France?").get_json()
        {'query': 'What is the capital of France?'}

    DataModels are strict, as in Synalinks: a field the class does not declare is an error
    (``Query(query="x", extra=1)`` raises ``pydantic.ValidationError`` naming ``extra``), and the
    JSON schema says so (``"additionalProperties": false``), so structured outputs cannot invent
    fields either. A subclass that wants extras sets ``model_config = pydantic.ConfigDict(extra="allow")``.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    @classmethod
    def get_schema(cls) -> dict:
        """The class's JSON schema, computed once per class and shared (do not mutate it)."""
        schema = _SCHEMAS.get(cls)
        if schema is None:
            schema = cls.model_json_schema()
            _SCHEMAS[cls] = schema
        return schema

    @classmethod
    def prettify_schema(cls) -> str:
        return json.dumps(cls.get_schema(), indent=2, ensure_ascii=False)

    @classmethod
    def to_symbolic_data_model(cls, name: str | None = None):
        return SymbolicDataModel(schema=cls.get_schema(), data_model=cls, name=name)

    @classmethod
    def validate_json(cls, value: Any, context: str) -> DataModel:
        """Validate a dict into an instance, or raise InvalidInputError naming each bad field.

        ``context`` starts the message, e.g. ``"Program 'qa': invalid Query input"``.
        """
        try:
            return cls.model_validate(value)
        except pydantic.ValidationError as error:
            raise InvalidInputError(f"{context}: {describe_validation_error(error)}.") from None

    def get_json(self) -> dict:
        """The value as a JSON-compatible dict (enums as values, dates as strings)."""
        return self.model_dump(mode="json")

    def prettify_json(self) -> str:
        return json.dumps(self.get_json(), indent=2, ensure_ascii=False)

    def to_json_data_model(self, name: str | None = None):
        return JsonDataModel(json=self.get_json(), schema=type(self).get_schema(), name=name)

    def __contains__(self, other: Any) -> bool:
        if isinstance(other, str):
            return other in type(self).model_fields
        return operators_implementation().contains(self, other)


def is_data_model_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, DataModel)
