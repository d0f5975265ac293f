"""Schema transformers: the JSON schema a provider's structured output accepts.

Replies are always validated locally against the *original* schema, so a transformer may
only make the schema stricter, never looser.
"""

from __future__ import annotations

import copy
import re

from synaplex.lm.gemini_schema import to_gemini_schema

_NULL = {"type": "null"}


def _allows_null(node: dict) -> bool:
    types = node.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    return any(isinstance(o, dict) and _allows_null(o) for o in node.get("anyOf", []) + node.get("oneOf", []))


def _strict(node):
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        # OpenAI rejects keywords next to $ref (the seed's patch deleted descriptions for this).
        return {"$ref": node["$ref"]}
    out = {k: _strict(v) for k, v in node.items() if k != "default"}
    if out.get("type") == "object" or "properties" in out:
        out["type"] = "object"
        out["additionalProperties"] = False
        # Strict mode wants every field required. A field that was optional keeps its
        # nullability as it was: one that did not allow null must now be given a value.
        out["required"] = list(out.get("properties", {}))
    return out


def to_openai_strict(schema: dict) -> dict:
    """OpenAI's strict ``json_schema`` rules: closed objects, every field required, no
    ``default``, nothing beside ``$ref``."""
    return _strict(copy.deepcopy(schema))


def schema_name(schema: dict) -> str:
    """A ``json_schema.name``: letters, digits, ``_`` and ``-``, at most 64 characters."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "structured_output"))
    return name[:64] or "structured_output"


TRANSFORMS = {
    None: lambda schema: schema,
    "anthropic": lambda schema: schema,  # the Messages API takes JSON schema as it is
    "openai_strict": to_openai_strict,
    "gemini": to_gemini_schema,
}


def transform(name: str | None, schema: dict) -> dict:
    try:
        return TRANSFORMS[name](schema)
    except KeyError:
        raise ValueError(f"Unknown schema transform {name!r}; known: {sorted(map(str, TRANSFORMS))}") from None


def nullable(schema: dict) -> bool:
    return _allows_null(schema)
