"""Esperanto-style conveniences: ``create_language_model`` and ``chat_complete``.

``lm.chat_complete(messages)`` blocks (for scripts); ``await lm.achat_complete(messages)``
does not; with ``stream=True`` they give a (sync or async) iterator of StreamChunks.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import types
from typing import Any, AsyncIterator, Iterator

from synaplex.backend.asyncio_utils import run_sync
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage

_CONFIG_KEYS = {"temperature", "max_tokens", "top_p", "timeout", "structured", "api_key", "api_base",
                "max_retries", "caching", "fallback", "stop", "seed"}


@dataclasses.dataclass
class ChatResponse:
    """A chat reply: ``content`` (``parsed`` too when a schema or JSON mode was asked),
    ``tool_calls``, ``usage``, ``finish_reason``. ``choices[0].message.content`` also works."""

    content: str
    model: str
    tool_calls: list = dataclasses.field(default_factory=list)
    parsed: Any = None
    usage: Usage | None = None

    @property
    def choices(self) -> list:
        message = types.SimpleNamespace(role="assistant", content=self.content, tool_calls=self.tool_calls)
        return [types.SimpleNamespace(index=0, message=message)]


def structured_schema(structured: Any) -> dict | None:
    """``{"type": "json"}`` (any JSON object) or ``{"type": "json", "schema": {...}}``."""
    if structured is None:
        return None
    if not isinstance(structured, dict) or structured.get("type") not in ("json", "json_object", "json_schema"):
        raise InvalidInputError(
            f"structured must be {{'type': 'json'}} or {{'type': 'json', 'schema': {{...}}}}, got {structured!r}.")
    return structured.get("schema") or {"type": "object"}


async def achat_complete(lm, messages: Any, stream: bool = False, schema: dict | None = None, **kwargs):
    schema = schema if schema is not None else getattr(lm, "default_schema", None)
    if stream:
        return lm.stream(messages, **kwargs)
    value = await lm(messages, schema=schema, **kwargs)
    if schema is not None:
        import json

        return ChatResponse(content=json.dumps(value), parsed=value, model=lm.model, usage=lm.last_usage)
    return ChatResponse(content=value["content"], tool_calls=value["tool_calls"], model=lm.model,
                        usage=lm.last_usage)


def chat_complete(lm, messages: Any, stream: bool = False, schema: dict | None = None, **kwargs):
    if stream:
        return _iterate_in_thread(lambda: lm.stream(messages, **kwargs))
    return run_sync(achat_complete(lm, messages, schema=schema, **kwargs))


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


def create_language_model(provider: str, model: str, config: dict | None = None):
    """Make a LanguageModel from a provider name, a model name and a config dict.

    Example:
        >>> lm = synaplex.create_language_model("openrouter", "anthropic/claude-3.5-sonnet",
        ...                                     config={"temperature": 0.2, "max_tokens": 500})
        >>> lm.chat_complete([{"role": "user", "content": "Hi"}]).content
    """
    from synaplex.lm.language_model import LanguageModel

    config = dict(config or {})
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise InvalidInputError(f"Unknown config keys {unknown}; accepted: {sorted(_CONFIG_KEYS)}.")
    if not isinstance(provider, str) or not isinstance(model, str) or not model:
        raise InvalidInputError("create_language_model(provider, model, config) takes two non-empty strings.")
    structured = config.pop("structured", None)
    lm = LanguageModel(model=f"{provider}/{model}", **config)
    lm.default_schema = structured_schema(structured)
    return lm
