"""Normalize what users pass as messages into the neutral wire form (a list of dicts).

A message's ``content`` is text, or a list of parts (for images):

* ``{"type": "text", "text": "..."}``;
* ``{"type": "image_url", "image_url": {"url": "https://..." | "data:image/png;base64,...",
  "detail"?: "low" | "high" | "auto"}}`` (OpenAI's shape, the neutral one);
* shorthands, normalized to the above: ``{"type": "image_url", "image_url": "<url>"}``,
  ``{"type": "image", "url": "<url>"}``, ``{"type": "image", "data": "<base64>",
  "media_type": "image/png"}``.

Each adapter says the parts its wire's way (OpenAI and OpenRouter as is, Anthropic ``image``
blocks with a ``url`` or ``base64`` source, Gemini ``inlineData``/``fileData``).
"""

from __future__ import annotations

import re
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
    content = item.get("content") or ""
    out = {"role": role, "content": content if isinstance(content, str) else content_parts(content)}
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
    if all(type(m) is dict and m.get("role") in _ROLES and type(m.get("content")) is str and len(m) == 2
           for m in messages):
        return list(messages)
    return [_message(m) for m in messages]


_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$", re.S)


def _image_url(url: Any, detail: Any = None) -> dict:
    if not isinstance(url, str) or not (url.startswith(("http://", "https://"))
                                        or (url.startswith("data:") and ";base64," in url[:120])):
        raise InvalidInputError(f"An image part needs an http(s) URL or a data URL (data:image/png;base64,...), got "
                                f"{url!r:.80}.")
    image = {"url": url}
    if detail is not None:
        if detail not in ("low", "high", "auto"):
            raise InvalidInputError(f"An image part's detail must be 'low', 'high' or 'auto', got {detail!r}.")
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _part(part: Any) -> dict:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        raise InvalidInputError(f"A content part must be a dict, got {type(part).__name__}: {part!r:.80}.")
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise InvalidInputError(f"A text part needs 'text' (a str), got {part!r:.80}.")
        return {"type": "text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, dict):
            return _image_url(image.get("url"), image.get("detail"))
        return _image_url(image)
    if kind == "image":
        if part.get("url") is not None:
            return _image_url(part["url"], part.get("detail"))
        data, media_type = part.get("data"), part.get("media_type") or "image/png"
        if not isinstance(data, str) or not data or not isinstance(media_type, str) or "/" not in media_type:
            raise InvalidInputError("An image part needs 'url', or 'data' (base64) with 'media_type' (e.g. "
                                    f"'image/png'); got {sorted(part)}.")
        return _image_url(f"data:{media_type};base64,{data}", part.get("detail"))
    raise InvalidInputError(f"A content part's type must be 'text', 'image_url' or 'image', got {kind!r:.40}.")


def content_parts(content: Any) -> list[dict]:
    """A message's content parts in the neutral shape (see the module docstring)."""
    if not isinstance(content, (list, tuple)):
        raise InvalidInputError(f"A message's content must be text or a list of parts, got "
                                f"{type(content).__name__}: {content!r:.80}.")
    return [_part(p) for p in content]


def has_images(messages: list[dict]) -> bool:
    for message in messages:
        content = message.get("content")
        if type(content) is list and any(p.get("type") == "image_url" for p in content if isinstance(p, dict)):
            return True
    return False


def split_data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a data URL, None for another URL."""
    match = _DATA_URL.match(url)
    return (match["type"], match["data"]) if match else None
