"""The contract between the LanguageModel facade and the wire adapters.

An adapter implements ``complete`` (and optionally ``stream`` and ``embed``) for one wire
protocol and exposes its ``capabilities``. The facade does everything shared: message
normalization, schema validation, accounting, and (in the provider layer) retries, rate
limits, caching and fallback.
"""

from __future__ import annotations

import dataclasses
from typing import Any, AsyncIterator, Protocol


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

    def add(self, other: "Usage") -> None:
        # Runs once per LM call: plain additions, no dataclasses.fields() reflection.
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


@dataclasses.dataclass(frozen=True)
class Capabilities:
    context_window: int | None = None
    max_output_tokens: int | None = None
    tools: bool = False
    vision: bool = False
    structured_output: bool = True
    streaming: bool = True
    embeddings: bool = False
    input_price_per_token: float | None = None
    output_price_per_token: float | None = None


class Adapter(Protocol):
    provider: str
    repair_attempts: int

    @property
    def capabilities(self) -> Capabilities: ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[str]: ...

    def get_config(self) -> dict: ...


class EmbeddingAdapter(Protocol):
    provider: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    def get_config(self) -> dict: ...
