"""Variable: a module's trainable state, a JSON value with a schema."""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data.data_model import DataModel, is_data_model_class


class Variable:
    """A JSON object with a schema, owned by a module and rewritten by optimizers.

    ``variable["instructions"]`` reads a field; :meth:`assign` replaces the whole value
    after validating it (against the DataModel class when there is one).

    Example:
        >>> program.trainable_variables[0]["instructions"]
    """

    __slots__ = ("name", "trainable", "data_model", "_schema", "_value")

    def __init__(self, initializer: Any = None, data_model=None, trainable: bool = True,
                 name: str = "variable", schema: dict | None = None):
        if isinstance(initializer, DataModel):
            data_model = data_model or type(initializer)
            initializer = initializer.get_json()
        if data_model is not None and not is_data_model_class(data_model):
            raise InvalidInputError(f"Variable data_model must be a DataModel class, got {data_model!r}.")
        self.name = name
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

    def prettify_json(self) -> str:
        return json.dumps(self._value, indent=2, ensure_ascii=False)

    def __repr__(self):
        return f"Variable(name={self.name!r}, trainable={self.trainable}, value={self._value!r:.120})"
