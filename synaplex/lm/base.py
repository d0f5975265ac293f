"""The contract between the LanguageModel facade and the wire adapters.

An adapter implements ``complete`` (and optionally ``stream``, ``embed`` and
``list_models``) for one wire protocol. The facade does everything shared: message
normalization, schema validation and repair, accounting, retries, rate limits, caching and
fallback.

Neutral formats, which every adapter translates to and from its wire format:

* message: ``{"role": "system"|"user"|"assistant"|"tool", "content": str,
  "tool_calls"?: [{"id", "name", "arguments": dict}], "tool_call_id"?: str}``
* tool: ``{"name": str, "description": str, "parameters": <JSON schema of an object>}``
* ``params["tool_choice"]``: ``"auto"``, ``"none"``, ``"required"`` or ``{"name": tool}``
* tool call (in a Completion): ``{"id": str, "name": str, "arguments": dict}``
* finish reason: ``"stop"``, ``"length"``, ``"tool_calls"``, ``"content_filter"`` or the
  provider's own word
* params: ``temperature``, ``max_tokens``, ``top_p``, ``stop``, ``seed``, ``timeout``,
  ``tool_choice``; any other key is passed to the provider's request body as is
  (e.g. OpenRouter's ``provider``, ``models``, ``reasoning``).
"""

from __future__ import annotations

import dataclasses
import threading
import types
from collections.abc import AsyncIterator
from typing import Any, Protocol

_ADDING = threading.Lock()


@dataclasses.dataclass
class Usage:
    """What one or many LM calls consumed. ``cost`` is ``None`` when the price is unknown."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = 0.0
    latency: float = 0.0
    retries: int = 0
    repairs: int = 0
    fallbacks: int = 0
    cache_hits: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        # Runs once per LM call: plain additions, no dataclasses.fields() reflection. Under a lock:
        # threads calling one model (LangChain's batch, a thread pool) would otherwise lose updates.
        with _ADDING:
            self._add(other)

    def _add(self, other: Usage) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.latency += other.latency
        self.retries += other.retries
        self.repairs += other.repairs
        self.fallbacks += other.fallbacks
        self.cache_hits += other.cache_hits
        # An unknown price makes the total unknown: never 0 pretending to be known.
        self.cost = None if self.cost is None or other.cost is None else self.cost + other.cost

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["total_tokens"] = self.total_tokens
        return out


@dataclasses.dataclass
class CompletionRequest:
    messages: list[dict]
    schema: dict | None = None
    tools: list[dict] | None = None
    params: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Completion:
    """An adapter's answer: text, or an already-parsed structured value, plus tool calls."""

    text: str = ""
    parsed: Any = None
    tool_calls: list[dict] = dataclasses.field(default_factory=list)
    usage: Usage = dataclasses.field(default_factory=Usage)
    finish_reason: str | None = None
    reasoning: str | None = None
    request_id: str | None = None      # the provider's id of the reply, for its support


@dataclasses.dataclass
class StreamChunk:
    """One piece of a streamed reply.

    ``text`` is new text; ``tool_call_deltas`` are pieces of tool calls
    (``{"index", "id"?, "name"?, "arguments_delta": str}``); the last chunk carries
    ``usage``, ``finish_reason`` and the provider's ``request_id``.
    """

    text: str = ""
    tool_call_deltas: list[dict] = dataclasses.field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    request_id: str | None = None

    @property
    def choices(self) -> list:
        """OpenAI's chunk shape (Esperanto reads it): ``chunk.choices[0].delta.content`` is
        ``text`` (``""`` on a chunk without text, so printing it never prints ``None``),
        ``.delta.tool_calls`` the tool-call pieces, ``choices[0].finish_reason`` the finish reason."""
        delta = types.SimpleNamespace(role="assistant", content=self.text,
                                      tool_calls=self.tool_call_deltas or None)
        return [types.SimpleNamespace(index=0, delta=delta, finish_reason=self.finish_reason)]

    @property
    def content(self) -> str:
        return self.text

    def __str__(self) -> str:
        """The new text: ``print(chunk, end="")`` prints the reply as it comes (SynapseKit's tokens)."""
        return self.text


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a model can do and costs. Every flag is tri-state: ``True``, ``False``, or ``None``
    when unknown; an unknown capability is tried (the Router keeps the model), never taken
    as a no. ``tool_choice``: it takes ``tool_choice``; ``streaming_tool_calls``: it streams
    tool calls; ``system_messages``: it takes the system role."""

    context_window: int | None = None
    max_output_tokens: int | None = None
    tools: bool | None = None
    vision: bool | None = None
    structured_output: bool | None = None
    streaming: bool | None = None
    embeddings: bool | None = None
    input_price_per_token: float | None = None
    output_price_per_token: float | None = None
    reasoning: bool | None = None
    tool_choice: bool | None = None
    streaming_tool_calls: bool | None = None
    system_messages: bool | None = None


class Adapter(Protocol):
    """What a chat adapter implements. Built as ``cls(profile=, model_name=, api_key=,
    api_base=, transport=None, **options)``; raises typed ``LMError`` subclasses only."""

    repair_attempts: int

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]: ...

    async def list_models(self) -> list[dict]: ...

    def get_config(self) -> dict: ...


class EmbeddingAdapter(Protocol):
    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    def get_config(self) -> dict: ...
