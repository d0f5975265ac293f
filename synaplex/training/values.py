"""The values that rewards and metrics compare: plain dicts, masked, and their JSON text.

Both sides of a comparison (``y_true``, ``y_pred``) arrive as DataModels, JsonDataModels,
dicts or ``None``; rewards and metrics read them the same way through these functions.
"""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib


def to_json_value(value: Any, what: str) -> dict | None:
    """A DataModel, JsonDataModel or dict as a plain dict; ``None`` stays ``None``."""
    if value is None or isinstance(value, dict):
        return value
    if hasattr(value, "get_json"):
        return value.get_json()
    raise InvalidInputError(
        f"{what} must be a DataModel, a JsonDataModel, a dict or None, got {type(value).__name__}: {value!r:.80}."
    )


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
