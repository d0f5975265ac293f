"""Esperanto-style chat: ``lm.chat_complete`` and ``lm.achat_complete`` (and ChatResponse).

``lm.chat_complete(messages)`` blocks (for scripts); ``await lm.achat_complete(messages)``
does not; with ``stream=True`` they give a (sync or async) iterator of StreamChunks, whose
``chunk.choices[0].delta.content`` is OpenAI's shape (``async for chunk in
lm.achat_complete(messages, stream=True)`` works without the ``await``).
``synaplex.create_language_model`` (in :mod:`synaplex.lm.language_model`) makes the model.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

from synaplex.backend.asyncio_utils import run_sync
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage


@dataclasses.dataclass
class ChatResponse:
    """A chat reply: ``content`` (``parsed`` too when a schema or JSON mode was asked),
    ``tool_calls``, ``usage``, ``finish_reason`` (``"stop"``, ``"length"``, ``"tool_calls"``...)
    and ``request_id`` (the provider's id of the reply). ``choices[0].message.content`` and
    ``choices[0].finish_reason`` also work."""

    content: str
    model: str
    tool_calls: list = dataclasses.field(default_factory=list)
    parsed: Any = None
    usage: Usage | None = None
    finish_reason: str | None = None
    request_id: str | None = None

    @property
    def choices(self) -> list:
        message = types.SimpleNamespace(role="assistant", content=self.content, tool_calls=self.tool_calls)
        return [types.SimpleNamespace(index=0, message=message, finish_reason=self.finish_reason)]


def structured_schema(structured: Any) -> dict | None:
    """``{"type": "json"}`` (any JSON object) or ``{"type": "json", "schema": {...}}``."""
    if structured is None:
        return None
    if not isinstance(structured, dict) or structured.get("type") not in ("json", "json_object", "json_schema"):
        raise InvalidInputError(
            f"structured must be {{'type': 'json'}} or {{'type': 'json', 'schema': {{...}}}}, got {structured!r}.")
    return structured.get("schema") or {"type": "object"}


async def _achat_complete(lm, messages: Any, stream: bool, schema: dict | None, kwargs: dict):
    if stream:
        return lm.stream(messages, **kwargs)
    value = await lm(messages, schema=schema, **kwargs)
    usage, finish_reason, request_id = lm._last_call()  # this call's, whatever other threads did meanwhile
    ends = {"model": lm.model, "usage": usage, "finish_reason": finish_reason, "request_id": request_id}
    if schema is not None:
        return ChatResponse(content=json.dumps(value), parsed=value, **ends)
    return ChatResponse(content=value["content"], tool_calls=value["tool_calls"], **ends)


class ChatCall:
    """What ``lm.achat_complete(...)`` returns: ``await`` it for a ChatResponse (or, with
    ``stream=True``, for an async iterator of StreamChunks); with ``stream=True`` it may also be
    iterated at once, as Esperanto writes it: ``async for chunk in lm.achat_complete(m, stream=True)``.
    Nothing is sent before it is awaited or iterated."""

    __slots__ = ("_lm", "_messages", "_stream", "_schema", "_kwargs")

    def __init__(self, lm, messages: Any, stream: bool, schema: dict | None, kwargs: dict):
        self._lm, self._messages, self._stream, self._schema, self._kwargs = lm, messages, stream, schema, kwargs

    def __await__(self):
        return _achat_complete(self._lm, self._messages, self._stream, self._schema, self._kwargs).__await__()

    def __aiter__(self):
        if not self._stream:
            raise InvalidInputError("achat_complete(...) without stream=True gives one ChatResponse: write "
                                    "`response = await lm.achat_complete(messages)`, or pass stream=True to iterate "
                                    "over chunks.")
        return self._lm.stream(self._messages, **self._kwargs).__aiter__()


def achat_complete(lm, messages: Any, stream: bool | None = None, schema: dict | None = None, **kwargs) -> ChatCall:
    schema = schema if schema is not None else getattr(lm, "default_schema", None)
    if stream is None:
        stream = getattr(lm, "streaming", False) and schema is None
    return ChatCall(lm, messages, bool(stream), schema, kwargs)


def chat_complete(lm, messages: Any, stream: bool | None = None, schema: dict | None = None, **kwargs):
    if stream is None:
        stream = getattr(lm, "streaming", False) and (schema if schema is not None else
                                                      getattr(lm, "default_schema", None)) is None
    if stream:
        return _iterate_in_thread(lambda: lm.stream(messages, **kwargs))
    schema = schema if schema is not None else getattr(lm, "default_schema", None)
    return run_sync(_achat_complete(lm, messages, False, schema, kwargs))


def _iterate_in_thread(make_iterator) -> Iterator:
    """A blocking iterator over an async iterator run on its own loop in a worker thread."""
    items: queue.Queue = queue.Queue(maxsize=64)
    done = object()

    async def pump(iterator: AsyncIterator):
        try:
            async for item in iterator:
                items.put(item)
        except BaseException as error:  # handed to the consumer, who re-raises it
            items.put(error)
        finally:
            items.put(done)

    thread = threading.Thread(target=lambda: run_sync(pump(make_iterator())), daemon=True)
    thread.start()
    while True:
        item = items.get()
        if item is done:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()
