"""Gemini's ``responseSchema``: the OpenAPI subset its structured output and tools take.

:func:`to_gemini_schema` turns a JSON schema into it; :mod:`synaplex.lm.gemini` sends it and
:mod:`synaplex.lm.schemas` offers it among the providers' schema transforms.
"""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import InvalidInputError

# Keywords copied as they are (after recursion into their sub-schemas where they hold any).
_KEPT_SCALARS = ("description", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength",
                 "minProperties", "maxProperties")
# The formats Gemini accepts, per type.
_FORMATS = {"string": {"date-time", "enum"}, "number": {"float", "double"}, "integer": {"int32", "int64"}}
_NULL_TYPE = "null"


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and (node.get("type") == _NULL_TYPE or node == {"const": None}
                                       or node.get("enum") == [None])


class _SchemaConverter:
    def __init__(self, root: dict):
        self.root = root
        self.defs: dict = {}
        for key in ("$defs", "definitions"):
            if isinstance(root.get(key), dict):
                self.defs.update({f"#/{key}/{name}": value for name, value in root[key].items()})
        self.stack: list[str] = []

    def _resolve(self, ref: str) -> tuple[str, dict]:
        if ref == "#":
            return str(self.root.get("title") or "(the root schema)"), self.root
        target = self.defs.get(ref)
        if target is None and ref.startswith("#/"):
            node: Any = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                node = node.get(part) if isinstance(node, dict) else None
            target = node
        if not isinstance(target, dict):
            raise InvalidInputError(f"The schema refers to {ref!r}, which it does not define; Gemini needs "
                                    "every $ref resolvable to inline it.")
        return ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~"), target

    def convert(self, node: Any) -> dict:
        if not isinstance(node, dict):
            return {}
        if "$ref" in node:
            name, target = self._resolve(node["$ref"])
            if node["$ref"] in self.stack:
                raise InvalidInputError(
                    f"The schema's definition {name!r} is recursive (it contains itself); Gemini's "
                    "responseSchema cannot express recursive types. Bound the nesting (e.g. a fixed "
                    "number of levels) or flatten the data model.")
            self.stack.append(node["$ref"])
            try:
                inlined = self.convert(target)
            finally:
                self.stack.pop()
            # Keywords beside $ref (pydantic puts description/default there) win over the target's.
            siblings = self.convert({k: v for k, v in node.items() if k != "$ref"})
            return {**inlined, **siblings}
        if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            merged = self.convert(node["allOf"][0])
            merged.update(self.convert({k: v for k, v in node.items() if k != "allOf"}))
            return merged

        out: dict[str, Any] = {}
        nullable = False
        type_ = node.get("type")
        if isinstance(type_, list):
            nullable = _NULL_TYPE in type_
            kinds = [t for t in type_ if t != _NULL_TYPE]
            if len(kinds) == 1:
                out["type"] = kinds[0]
            elif kinds:
                out["anyOf"] = [self.convert({**node, "type": kind}) for kind in kinds]
        elif isinstance(type_, str) and type_ != _NULL_TYPE:
            out["type"] = type_
        elif type_ == _NULL_TYPE:
            nullable = True

        options = node.get("anyOf", node.get("oneOf"))
        if isinstance(options, list):
            non_null = [o for o in options if not _is_null(o)]
            nullable = nullable or len(non_null) < len(options)
            if len(non_null) == 1:
                out.update(self.convert(non_null[0]))
            elif non_null:
                out["anyOf"] = [self.convert(o) for o in non_null]

        for key in _KEPT_SCALARS:
            if key in node:
                out[key] = node[key]   # beside anyOf, the outer (field-level) keyword wins
        values = None
        if "const" in node:
            values = [node["const"]]
        elif isinstance(node.get("enum"), list):
            values = list(node["enum"])
        if values is not None:
            if None in values:
                nullable = True
                values = [v for v in values if v is not None]
            if values and all(isinstance(v, str) for v in values):
                out["type"] = "string"
                out["enum"] = values
            elif values:
                # Gemini's enum holds strings only: keep the type, say the values in words
                # (the facade validates the reply against the original schema).
                listed = ", ".join(json.dumps(v) for v in values)
                description = out.get("description")
                out["description"] = (f"{description} " if description else "") + f"(one of: {listed})"
                if "type" not in out:
                    kinds = {"boolean" if isinstance(v, bool) else "integer" if isinstance(v, int)
                             else "number" if isinstance(v, float) else "object" if isinstance(v, dict)
                             else "array" for v in values}
                    if len(kinds) == 1:
                        out["type"] = kinds.pop()

        if isinstance(node.get("format"), str) and node["format"] in _FORMATS.get(out.get("type"), ()):
            out["format"] = node["format"]
        for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            value = node.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and bound not in out:
                # No exclusive bounds in Gemini's subset: the closest inclusive one (the facade
                # still checks the exact bound).
                if out.get("type") == "integer" and isinstance(value, int):
                    value = value + 1 if key == "exclusiveMinimum" else value - 1
                out[bound] = value

        if isinstance(node.get("properties"), dict):
            properties = {name: self.convert(sub) for name, sub in node["properties"].items()}
            out.setdefault("type", "object")
            out["properties"] = properties
            if properties:
                out["propertyOrdering"] = list(properties)
            required = [name for name in node.get("required", []) if name in properties]
            if required:
                out["required"] = required
        if isinstance(node.get("items"), dict):
            out.setdefault("type", "array")
            out["items"] = self.convert(node["items"])
        elif isinstance(node.get("prefixItems"), list) and node["prefixItems"]:
            out.setdefault("type", "array")
            items = [self.convert(item) for item in node["prefixItems"]]
            out["items"] = items[0] if all(item == items[0] for item in items) else {"anyOf": items}
        if nullable:
            out["nullable"] = True
        return out


def to_gemini_schema(schema: dict) -> dict:
    """Turn a (pydantic-style) JSON schema into Gemini's ``responseSchema`` subset.

    Every ``$ref`` is inlined (a recursive definition raises ``InvalidInputError``),
    ``anyOf [X, null]`` becomes ``X`` with ``nullable``, ``const`` an enum of one value,
    keywords Gemini rejects (``title``, ``default``, ``additionalProperties``, ``$schema``,
    ``examples``…) are dropped, and every object gets ``propertyOrdering`` so that the
    fields come in their declaration order.
    """
    if not isinstance(schema, dict):
        raise InvalidInputError(f"A schema must be a JSON schema dict, got {type(schema).__name__}.")
    return _SchemaConverter(schema).convert(schema)
