"""SymbolicDataModel: a schema with no value, flowing through modules while a program is traced."""

from __future__ import annotations

import json

from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data.operators import OperatorMixin


class SymbolicDataModel(OperatorMixin):
    """The placeholder a module receives and returns while a functional program is built.

    It carries a JSON schema, the DataModel class it came from when there is one (used to
    validate program inputs quickly), and its history: the node of the graph that made it.
    """

    __slots__ = ("_schema", "name", "data_model", "_history")

    def __init__(self, schema: dict | None = None, data_model=None, name: str | None = None):
        if schema is None:
            if data_model is None:
                raise InvalidInputError(
                    "SymbolicDataModel needs a schema: pass schema=<JSON schema dict> or "
                    "data_model=<DataModel class>."
                )
            schema = data_model.get_schema()
        self._schema = schema
        self.data_model = data_model if isinstance(data_model, type) else None
        self.name = name
        self._history = None

    def get_schema(self) -> dict:
        return self._schema

    def prettify_schema(self) -> str:
        return json.dumps(self._schema, indent=2, ensure_ascii=False)

    def to_symbolic_data_model(self, name: str | None = None) -> SymbolicDataModel:
        return self

    def clone(self, name: str | None = None) -> SymbolicDataModel:
        return SymbolicDataModel(schema=self._schema, data_model=self.data_model, name=name)

    def get_json(self):
        raise DataModelTypeError(
            "A SymbolicDataModel has a schema but no value: it exists only while a program is "
            "being built. Read values inside call(), when the program runs."
        )

    def __bool__(self):
        return True

    def __await__(self):
        """``await symbolic`` is the same SymbolicDataModel: Synalinks' ops are awaited, ``synaplex.ops``' may be."""
        return self
        yield  # noqa: B901 - a generator that returns at once

    def __repr__(self):
        title = self._schema.get("title", "object")
        return f"SymbolicDataModel(schema={title}, name={self.name!r})"
