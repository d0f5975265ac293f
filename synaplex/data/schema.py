"""Pure functions on JSON schemas (object schemas as pydantic emits them).

They never mutate their arguments. Plans (the renaming of a concatenation, the fields a
mask keeps) are computed once per pair of schemas so that runtime merges only copy keys.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from synaplex.data.json_data_model import JsonDataModel

_META_KEYS = ("title", "description")


def title(schema: dict) -> str:
    """The schema's title, ``"object"`` when it has none (for messages)."""
    return schema.get("title") or "object"


def fields_text(schema: dict) -> str:
    """The schema's field names, comma-separated, ``"no fields"`` when it has none (for messages)."""
    return ", ".join(schema.get("properties", {})) or "no fields"


def properties(schema: dict) -> dict:
    return schema.get("properties", {})


def field_names(schema: dict) -> list[str]:
    return list(properties(schema))


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                name = value[len("#/$defs/"):]
                out[key] = "#/$defs/" + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def concat_plan(schema1: dict, schema2: dict) -> tuple[dict, dict[str, str]]:
    """Concatenate two object schemas.

    Returns the new schema and the renaming applied to ``schema2``'s fields. A field of
    ``schema2`` whose name is taken gets the first free suffix: ``answer`` becomes
    ``answer_1``, then ``answer_2``. Conflicting ``$defs`` are renamed the same way.
    """
    props1 = properties(schema1)
    props2 = properties(schema2)
    defs1 = schema1.get("$defs", {})
    defs2 = schema2.get("$defs", {})

    def_renames: dict[str, str] = {}
    defs = dict(defs1)
    for name, definition in defs2.items():
        if name in defs and defs[name] != definition:
            i = 1
            while f"{name}_{i}" in defs:
                i += 1
            def_renames[name] = f"{name}_{i}"
            defs[f"{name}_{i}"] = definition
        else:
            defs[name] = definition
    if def_renames:
        props2 = _rewrite_refs(props2, def_renames)
        defs = {k: _rewrite_refs(v, def_renames) if k in def_renames.values() else v
                for k, v in defs.items()}

    renames: dict[str, str] = {}
    props = dict(props1)
    for name, prop in props2.items():
        new_name = name
        if new_name in props:
            i = 1
            while f"{name}_{i}" in props or f"{name}_{i}" in props2:
                i += 1
            new_name = f"{name}_{i}"
            renames[name] = new_name
        props[new_name] = prop

    required = list(schema1.get("required", []))
    required += [renames.get(n, n) for n in schema2.get("required", [])]
    out: dict[str, Any] = {}
    if schema1.get("additionalProperties") is False and schema2.get("additionalProperties") is False:
        out["additionalProperties"] = False  # two strict DataModels make a strict one
    if defs:
        out["$defs"] = defs
    out["properties"] = props
    out["required"] = required
    t1, t2 = schema1.get("title"), schema2.get("title")
    if t1 or t2:
        out["title"] = f"{t1 or 'Object'}{t2 or 'Object'}"
    out["type"] = "object"
    return out, renames


def concat_values(json1: dict, json2: dict, renames: dict[str, str]) -> dict:
    out = dict(json1)
    if renames:
        for key, value in json2.items():
            out[renames.get(key, key)] = value
    else:
        out.update(json2)
    return out


def _resolve(prop: dict, defs: dict) -> dict:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs.get(ref[len("#/$defs/"):], prop)
    return prop


def _strip(node: Any, defs: dict) -> Any:
    """A comparable form of a sub-schema: refs resolved, titles, descriptions and closedness
    (``"additionalProperties": false``, which strict DataModels have and older saved schemas lack)
    dropped."""
    if isinstance(node, dict):
        node = _resolve(node, defs)
        out = {}
        for key, value in node.items():
            if key in _META_KEYS or (key == "additionalProperties" and value is False):
                continue
            if key == "properties" and isinstance(value, dict):
                # field names, not keywords: a field may be called "title"
                out[key] = {name: _strip(prop, defs) for name, prop in value.items()}
            else:
                out[key] = _strip(value, defs)
        return out
    if isinstance(node, list):
        return [_strip(v, defs) for v in node]
    return node


def contains(outer: dict, inner: dict) -> bool:
    """True when every field of ``inner`` is in ``outer`` with the same type."""
    outer_props = properties(outer)
    outer_defs = outer.get("$defs", {})
    inner_defs = inner.get("$defs", {})
    for name, prop in properties(inner).items():
        if name not in outer_props:
            return False
        if _strip(prop, inner_defs) != _strip(outer_props[name], outer_defs):
            return False
    return True


def same_fields(schema1: dict, schema2: dict) -> bool:
    """True when both schemas have exactly the same fields and types (titles ignored)."""
    return schema1 is schema2 or (
        field_names(schema1) == field_names(schema2)
        and contains(schema1, schema2)
        and set(schema1.get("required", [])) == set(schema2.get("required", []))
    )


def _inline_object(prop: dict, defs: dict) -> dict | None:
    resolved = _resolve(prop, defs)
    if resolved.get("type") == "object" and "properties" in resolved:
        return resolved
    return None


def mask_plan(schema: dict, mask: Iterable[str], keep: bool, recursive: bool = True) -> tuple[dict, dict]:
    """Filter an object schema's fields by name.

    ``keep=True`` (in-mask) keeps the named fields; with ``recursive`` it also descends
    into nested objects that are not named and keeps their named fields. ``keep=False``
    (out-mask) removes the named fields, at every depth when ``recursive``.

    Returns the masked schema and a plan ``{field: None | subplan}`` used by
    :func:`mask_values` (``None`` means "copy the value as is").
    """
    mask = set(mask)
    defs = schema.get("$defs", {})

    def walk(obj_schema: dict, depth: int) -> tuple[dict, dict]:
        props, required, plan = {}, [], {}
        for name, prop in properties(obj_schema).items():
            named = name in mask
            nested = _inline_object(prop, defs) if recursive else None
            if keep:
                if named:
                    props[name], plan[name] = prop, None
                elif nested is not None:
                    sub_schema, sub_plan = walk(nested, depth + 1)
                    if sub_plan:
                        props[name], plan[name] = sub_schema, sub_plan
            else:
                if named:
                    continue
                if nested is not None:
                    sub_schema, sub_plan = walk(nested, depth + 1)
                    props[name], plan[name] = sub_schema, sub_plan
                else:
                    props[name], plan[name] = prop, None
            if name in props and name in obj_schema.get("required", []):
                required.append(name)
        out = {k: v for k, v in obj_schema.items() if k not in ("properties", "required", "$defs")}
        out["properties"] = props
        out["required"] = required
        out["type"] = "object"
        return out, plan

    masked, plan = walk(schema, 0)
    if defs:
        masked["$defs"] = copy.deepcopy(defs)
    return masked, plan


def mask_values(value: dict, plan: dict) -> dict:
    out = {}
    for name, sub in plan.items():
        if name not in value:
            continue
        v = value[name]
        out[name] = v if sub is None or not isinstance(v, dict) else mask_values(v, sub)
    return out


def empty_object_schema(title: str | None = None) -> dict:
    out = {"properties": {}, "required": [], "type": "object"}
    if title:
        out["title"] = title
    return out


class PlannedConcat:
    """Concatenates JSON values of two schemas, planning the renaming once per pair of schemas.

    ``concat(first, second)`` takes and returns JsonDataModels; the plan is keyed by the
    schemas' identities (schemas are shared, never mutated), so the hot path copies keys only.
    """

    def __init__(self):
        self._plans: dict[tuple[int, int], tuple] = {}

    def schema(self, first: dict, second: dict) -> tuple[dict, dict]:
        plan = self._plans.get((id(first), id(second)))
        if plan is None or plan[0] is not first or plan[1] is not second:
            merged, renames = concat_plan(first, second)
            plan = (first, second, merged, renames)
            self._plans[(id(first), id(second))] = plan
        return plan[2], plan[3]

    def __call__(self, first, second):
        merged, renames = self.schema(first.get_schema(), second.get_schema())
        return JsonDataModel(json=concat_values(first.get_json(), second.get_json(), renames), schema=merged)
