"""Normalize what users pass as messages into the neutral wire form (a list of dicts)."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data.data_model import DataModel
from synaplex.data.json_data_model import JsonDataModel

_ROLES = {"system", "user", "assistant", "tool"}


def _message(item: Any) -> dict:
    if isinstance(item, DataModel):
        item = item.get_json()
    elif isinstance(item, JsonDataModel):
        item = item.get_json()
    if not isinstance(item, dict):
        raise InvalidInputError(f"A message must be a dict or a ChatMessage, got {type(item).__name__}: {item!r:.100}")
    role = item.get("role")
    if hasattr(role, "value"):
        role = role.value
    if role not in _ROLES:
        raise InvalidInputError(f"A message's role must be one of {sorted(_ROLES)}, got {role!r}.")
    out = {"role": role, "content": item.get("content") or ""}
    if item.get("tool_calls"):
        out["tool_calls"] = item["tool_calls"]
    if item.get("tool_call_id"):
        out["tool_call_id"] = item["tool_call_id"]
    return out


def normalize_messages(messages: Any) -> list[dict]:
    """Accept ChatMessages, a JsonDataModel with ``messages``, a list of messages, or a string."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    elif isinstance(messages, (DataModel, JsonDataModel)):
        value = messages.get_json()
        if "messages" in value:
            messages = value["messages"]
        elif "role" in value:
            messages = [value]
        else:
            raise InvalidInputError(
                "messages must be ChatMessages, a list of messages or a string; got a data model "
                f"with fields {sorted(value)}."
            )
    if not isinstance(messages, (list, tuple)):
        raise InvalidInputError(f"messages must be a list of messages, got {type(messages).__name__}.")
    if not messages:
        raise InvalidInputError("messages is empty: a language model call needs at least one message.")
    if all(type(m) is dict and m.get("role") in _ROLES and "content" in m and len(m) == 2 for m in messages):
        return list(messages)
    return [_message(m) for m in messages]
