"""JSON-schema validation of structured replies, with validators compiled once per schema."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError

_VALIDATORS: dict[int, tuple[dict, Any]] = {}


def validator_for(schema: dict):
    """The compiled validator of ``schema`` (checked once as a valid JSON schema)."""
    entry = _VALIDATORS.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    import jsonschema  # noqa: PLC0415 - heavy: loads at the first validation, not with synaplex

    if not isinstance(schema, dict):
        raise InvalidInputError(f"schema must be a JSON schema dict, got {type(schema).__name__}.")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise InvalidInputError(
            f"schema is not a valid JSON schema: {error.message} (at {list(error.path)})") from error
    validator = cls(schema)
    if len(_VALIDATORS) > 4096:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def validation_errors(value: Any, schema: dict) -> list[str]:
    validator = validator_for(schema)
    if validator.is_valid(value):
        return []
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(value)
    ]
