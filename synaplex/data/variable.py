"""Variable: a module's trainable state, a JSON value with a schema."""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.data_model import DataModel, is_data_model_class


class Variable:
    """A JSON object with a schema, owned by a module and rewritten by optimizers.

    ``variable["instructions"]`` reads a field; :meth:`assign` replaces the whole value
    after validating it (against the DataModel class when there is one). ``"instructions" in
    variable`` says whether its schema has that field. ``path`` is ``"<module name>/<name>"``
    for a module's variable (as in Synalinks), the name alone for a free one.

    Example:
        >>> program.trainable_variables[0]["instructions"]
    """

    __slots__ = ("name", "trainable", "data_model", "path", "_schema", "_value")

    def __init__(self, initializer: Any = None, data_model=None, trainable: bool = True,
                 name: str = "variable", schema: dict | None = None):
        if isinstance(initializer, DataModel):
            data_model = data_model or type(initializer)
            initializer = initializer.get_json()
        if data_model is not None and not is_data_model_class(data_model):
            raise InvalidInputError(f"Variable data_model must be a DataModel class, got {data_model!r}.")
        if not isinstance(name, str) or not name or "/" in name:
            raise InvalidInputError(
                f"A variable's name must be a non-empty string without '/' (a path separator), got {name!r}.")
        self.name = name
        self.path = name
        self.trainable = trainable
        self.data_model = data_model
        self._schema = data_model.get_schema() if data_model is not None else (schema or {"type": "object"})
        if initializer is None:
            if data_model is None:
                initializer = {}
            else:
                initializer = data_model().get_json()
        self._value = self._validate(initializer)

    def _validate(self, value: Any) -> dict:
        if isinstance(value, DataModel):
            value = value.get_json()
        if not isinstance(value, dict):
            raise InvalidInputError(
                f"Variable {self.name!r} holds a JSON object; got {type(value).__name__}: {value!r:.200}"
            )
        if self.data_model is not None:
            context = f"Value for variable {self.name!r} does not match {self.data_model.__name__}"
            return self.data_model.validate_json(value, context).get_json()
        return value

    def assign(self, value: Any) -> None:
        self._value = self._validate(value)

    def get_json(self) -> dict:
        return self._value

    @property
    def value(self) -> dict:
        return self._value

    def get_schema(self) -> dict:
        return self._schema

    def __getitem__(self, key: str) -> Any:
        return self._value[key]

    def __setitem__(self, key: str, item: Any) -> None:
        new = dict(self._value)
        new[key] = item
        self.assign(new)

    def get(self, key: str, default: Any = None) -> Any:
        return self._value.get(key, default)

    def __contains__(self, other: Any) -> bool:
        """``"field" in variable``: the schema has that field (a schema without fields: the value
        has it). ``Model in variable``: every field of a DataModel (class, instance, JsonDataModel,
        SymbolicDataModel) is in the schema with the same type."""
        if isinstance(other, str):
            fields = schema_lib.properties(self._schema)
            return other in fields if fields else other in self._value
        if not hasattr(other, "get_schema"):
            raise DataModelTypeError(
                f"'in' a Variable takes a field name or a data model, got {type(other).__name__}: {other!r:.80}.")
        return schema_lib.contains(self._schema, other.get_schema())

    def prettify_json(self) -> str:
        return json.dumps(self._value, indent=2, ensure_ascii=False)

    def __repr__(self):
        return f"Variable(path={self.path!r}, trainable={self.trainable}, value={self._value!r:.120})"
