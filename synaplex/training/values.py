"""The values that rewards and metrics compare: plain dicts, masked, and their JSON text.

Both sides of a comparison (``y_true``, ``y_pred``) arrive as DataModels, JsonDataModels,
dicts or ``None``; rewards and metrics read them the same way through these functions.
"""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.json_data_model import JsonDataModel


def to_json_value(value: Any, what: str) -> dict | None:
    """A DataModel, JsonDataModel or dict as a plain dict; ``None`` stays ``None``."""
    if value is None or isinstance(value, dict):
        return value
    if hasattr(value, "get_json"):
        return value.get_json()
    raise InvalidInputError(
        f"{what} must be a DataModel, a JsonDataModel, a dict or None, got {type(value).__name__}: {value!r:.80}."
    )


class JsonDict(dict):
    """A JSON object as rewards and metrics hand it to user code: a plain ``dict`` that also
    answers Synalinks' ``JsonDataModel`` reads.

    ``y["answer"]``, ``y.get("answer")``, ``"answer" in y``, ``json.dumps(y)`` and ``y == {...}``
    work as on any dict; ``y.get_json()`` (the plain dict), ``y.get_schema()``,
    ``y.prettify_json()`` and ``y.to_json_data_model()`` as on a ``JsonDataModel``. So reward
    and metric functions written for Synalinks (``y_true.get_json()``) and for synaplex
    (``y_true["answer"]``) both run.

    Example:
        >>> y = JsonDict({"answer": "Paris"})
        >>> y["answer"], y.get_json()
        ('Paris', {'answer': 'Paris'})
    """

    __slots__ = ("_schema",)

    def __init__(self, value: dict | None = None, schema: dict | None = None):
        super().__init__(value or {})
        self._schema = schema

    def get_json(self) -> dict:
        """The value as a plain ``dict`` (a copy of the top level)."""
        return dict(self)

    def get_schema(self) -> dict:
        """The value's JSON schema (read off the value itself when none was given)."""
        return self._schema if self._schema is not None else value_schema(dict(self))

    def prettify_json(self) -> str:
        return json.dumps(dict(self), indent=2, ensure_ascii=False)

    def prettify_schema(self) -> str:
        return json.dumps(self.get_schema(), indent=2, ensure_ascii=False)

    def to_json_data_model(self):
        """The value as a ``synaplex.JsonDataModel`` (with its schema)."""
        return JsonDataModel(json=dict(self), schema=self.get_schema())

    def __repr__(self):
        return f"JsonDict({dict.__repr__(self)})"


def as_json_dict(value: dict | None) -> JsonDict | None:
    """A plain dict as a :class:`JsonDict` (``None`` stays ``None``)."""
    if value is None or isinstance(value, JsonDict):
        return value
    return JsonDict(value)


def check_mask(mask: Any, argument: str, owner: str) -> list[str] | None:
    if mask is None:
        return None
    if isinstance(mask, str) or not isinstance(mask, (list, tuple)) or not mask \
            or not all(isinstance(m, str) for m in mask):
        raise InvalidInputError(
            f"{owner}: {argument} must be a non-empty list of field names (e.g. {argument}=['answer']), got {mask!r}."
        )
    return list(mask)


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (type(None), "null"))


def value_schema(value: Any) -> dict:
    """A JSON schema read off a value itself (plain dicts then mask exactly like JsonDataModels)."""
    if isinstance(value, dict):
        props = {k: value_schema(v) for k, v in value.items()}
        return {"type": "object", "properties": props, "required": list(props)}
    for python_type, json_type in _JSON_TYPES:
        if isinstance(value, python_type):
            return {"type": json_type}
    return {}


def apply_masks(value: dict | None, in_mask: list[str] | None, out_mask: list[str] | None) -> dict | None:
    """Keep the ``in_mask`` fields, then drop the ``out_mask`` fields (recursively)."""
    if value is None or (in_mask is None and out_mask is None):
        return value
    for mask, keep in ((in_mask, True), (out_mask, False)):
        if mask is not None:
            _, plan = schema_lib.mask_plan(value_schema(value), mask, keep=keep)
            value = schema_lib.mask_values(value, plan)
    return value


def json_text(value: Any) -> str:
    """The JSON text of a value, keys sorted (field order never matters)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
