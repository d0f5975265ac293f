"""JsonDataModel: a runtime value (a JSON object) together with its JSON schema."""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data.operators import OperatorMixin
from synaplex.data.symbolic_data_model import SymbolicDataModel


class JsonDataModel(OperatorMixin):
    """A JSON value with its schema: what flows between modules when a program runs.

    It is cheap to make (no validation, no copy): the value comes from a validated source
    (a DataModel, a schema-checked LM reply, an operator on other JsonDataModels). Treat
    it as immutable.

    Example:
        >>> jdm = JsonDataModel(json={"answer": "Paris"}, schema=Answer.get_schema())
        >>> jdm.get("answer")
        'Paris'
    """

    __slots__ = ("_json", "_schema", "name")

    def __init__(self, json: dict | None = None, schema: dict | None = None, data_model=None,
                 name: str | None = None, value: dict | None = None):
        if data_model is not None:
            if schema is None:
                schema = data_model.get_schema()
            if json is None and value is None and not isinstance(data_model, type):
                json = data_model.get_json()
        if json is None:
            json = value if value is not None else {}
        if schema is None:
            raise _schema_missing()
        self._json = json
        self._schema = schema
        self.name = name

    def get_json(self) -> dict:
        return self._json

    def get_schema(self) -> dict:
        return self._schema

    def get(self, key: str, default: Any = None) -> Any:
        return self._json.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def keys(self):
        return self._json.keys()

    def items(self):
        return self._json.items()

    def prettify_json(self) -> str:
        return json.dumps(self._json, indent=2, ensure_ascii=False)

    def prettify_schema(self) -> str:
        return json.dumps(self._schema, indent=2, ensure_ascii=False)

    def to_json_data_model(self) -> JsonDataModel:
        return self

    def to_symbolic_data_model(self, name: str | None = None):
        return SymbolicDataModel(schema=self._schema, name=name)

    def clone(self, name: str | None = None) -> JsonDataModel:
        return JsonDataModel(json=dict(self._json), schema=self._schema, name=name or self.name)

    def __await__(self):
        """``await value`` is the value: Synalinks' ops are awaited, ``synaplex.ops``' may be."""
        return self
        yield  # noqa: B901 - a generator that returns at once

    def __eq__(self, other):
        if isinstance(other, JsonDataModel):
            return self._json == other._json
        if isinstance(other, dict):
            return self._json == other
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        title = self._schema.get("title", "object")
        return f"JsonDataModel(schema={title}, json={self._json!r})"


def _schema_missing():
    return InvalidInputError(
        "JsonDataModel needs a schema: pass schema=<JSON schema dict> or data_model=<DataModel>."
    )
