"""Router: one callable over several LanguageModels, choosing per call by a strategy.

Strategies (SynthOrg-style):

* ``manual``: the order given; the next model when one fails;
* ``cheapest``: the lowest catalogue price first (unknown prices last);
* ``fastest``: the lowest observed latency first (an exponential moving average; models
  never tried come first, in the given order, so that each gets measured);
* ``smart``: models that can serve the request (tools, structured output, a context window
  that fits the prompt), healthy ones (no failure in the last ``cooldown`` seconds) before
  recently failed ones, then cheapest, then fastest.

Every strategy first drops models that cannot serve the request (a tool call to a model
without tools) and falls back along the rest.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.lm.errors import ContextWindowExceededError, InvalidRequestError, LMError
from synaplex.lm.language_model import LanguageModel
from synaplex.lm.messages import normalize_messages
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object

STRATEGIES = ("manual", "cheapest", "fastest", "smart")


@dataclasses.dataclass(frozen=True)
class RoutingDecision:
    model: str
    strategy: str
    reason: str
    fallbacks_tried: tuple[str, ...] = ()


class NoAvailableModelError(LMError, ValueError):
    """No model of the router can serve the request (capabilities or context window)."""


class Router:
    """Route each call to one of ``models``.

    Example:
        >>> router = synaplex.Router(models=[cheap_lm, strong_lm], strategy="cheapest")
        >>> await router(messages, schema=Answer.get_schema())
        >>> router.last_decision.model
    """

    def __init__(self, models: list, strategy: str = "smart", cooldown: float = 30.0, name: str = "router"):
        if not models or not all(isinstance(m, LanguageModel) for m in models):
            raise InvalidInputError("Router(models=[...]) takes a non-empty list of LanguageModels.")
        if strategy not in STRATEGIES:
            raise InvalidInputError(f"Unknown routing strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
        self.models = list(models)
        self.strategy = strategy
        self.cooldown = cooldown
        self.model = name
        self.provider = "router"
        self.usage = Usage()
        self.last_usage: Usage | None = None
        self.last_decision: RoutingDecision | None = None
        self._latency: dict[int, float] = {}
        self._failed_at: dict[int, float] = {}

    # --- choosing --------------------------------------------------------------------

    def _fits(self, lm, messages, schema, tools) -> str | None:
        caps = lm.capabilities
        if tools and caps.tools is False:           # None (unknown) is tried, never a no
            return "no tool calling"
        if schema is not None and caps.structured_output is False:
            return "no structured output"
        if caps.context_window:
            estimate = sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, dict)) // 4
            if estimate > caps.context_window:
                return f"prompt of ~{estimate} tokens exceeds its {caps.context_window}-token context"
        return None

    def _price(self, lm) -> float:
        caps = lm.capabilities
        if caps.input_price_per_token is None or caps.output_price_per_token is None:
            return float("inf")
        return caps.input_price_per_token + caps.output_price_per_token

    def order(self, messages: list, schema: dict | None = None, tools: list | None = None) -> tuple[list, list[str]]:
        """The candidates in the order they will be tried, and why the others were dropped."""
        plain = normalize_messages(messages) if messages else []
        candidates, dropped = [], []
        for lm in self.models:
            problem = self._fits(lm, plain, schema, tools)
            if problem:
                dropped.append(f"{lm.model}: {problem}")
            else:
                candidates.append(lm)
        position = {id(lm): i for i, lm in enumerate(self.models)}
        latency = lambda lm: self._latency.get(id(lm), -1.0)  # noqa: E731 - untried first
        now = time.monotonic()
        unhealthy = lambda lm: now - self._failed_at.get(id(lm), -1e18) < self.cooldown  # noqa: E731
        if self.strategy == "cheapest":
            candidates.sort(key=lambda lm: (self._price(lm), position[id(lm)]))
        elif self.strategy == "fastest":
            candidates.sort(key=lambda lm: (latency(lm), position[id(lm)]))
        elif self.strategy == "smart":
            candidates.sort(key=lambda lm: (unhealthy(lm), self._price(lm), latency(lm), position[id(lm)]))
        return candidates, dropped

    # --- calling -----------------------------------------------------------------------

    async def __call__(self, messages: Any, schema: dict | None = None, streaming: bool = False,
                       tools: list | None = None, **kwargs):
        candidates, dropped = self.order(messages, schema, tools)
        if not candidates:
            raise NoAvailableModelError(
                f"Router {self.model!r}: no model can serve this request: {'; '.join(dropped)}.",
                provider="router", model=self.model)
        tried: list[str] = []
        last: LMError | None = None
        for lm in candidates:
            started = time.perf_counter()
            try:
                value = await lm(messages, schema=schema, streaming=streaming, tools=tools, **kwargs)
            except LMError as error:
                self._failed_at[id(lm)] = time.monotonic()
                if isinstance(error, InvalidRequestError) and not isinstance(error, ContextWindowExceededError):
                    raise
                tried.append(lm.model)
                last = error
                continue
            elapsed = time.perf_counter() - started
            previous = self._latency.get(id(lm))
            self._latency[id(lm)] = elapsed if previous is None else 0.7 * previous + 0.3 * elapsed
            self._failed_at.pop(id(lm), None)
            reason = f"{self.strategy}: first of {[c.model for c in candidates]}"
            if dropped:
                reason += f" (dropped {'; '.join(dropped)})"
            self.last_decision = RoutingDecision(lm.model, self.strategy, reason, tuple(tried))
            if lm.last_usage is not None and not streaming:
                used = dataclasses.replace(lm.last_usage, fallbacks=lm.last_usage.fallbacks + len(tried))
                self.last_usage = used
                self.usage.add(used)
            return value
        raise last

    @property
    def capabilities(self):
        return self.models[0].capabilities

    def stream(self, messages: Any, **kwargs):
        candidates, _ = self.order(messages, None, kwargs.get("tools"))
        return (candidates or self.models)[0].stream(messages, **kwargs)

    def get_config(self) -> dict:
        return {"models": [serialize_synaplex_object(m) for m in self.models], "strategy": self.strategy,
                "cooldown": self.cooldown, "name": self.model}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["models"] = [deserialize_synaplex_object(m) for m in config["models"]]
        return cls(**config)

    def __repr__(self):
        return f"<Router strategy={self.strategy!r} models={[m.model for m in self.models]}>"
