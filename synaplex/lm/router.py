"""Router: one callable over several LanguageModels, choosing per call by a strategy.

Strategies for calls (SynthOrg-style):

* ``manual``: the order given; the next model when one fails;
* ``cheapest`` (``cost_aware``): the lowest catalogue price first (unknown prices last);
* ``fastest``: the lowest observed latency first (an exponential moving average; models
  never tried come first, in the given order, so that each gets measured);
* ``smart``: models that can serve the request (tools, structured output, a context window
  that fits the prompt), healthy ones (no failure in the last ``cooldown`` seconds) before
  recently failed ones, then cheapest, then fastest;
* ``round_robin``: each call starts at the next model (a fleet of replicas of one model on
  several ``api_base``s, see :meth:`Router.fleet`), then falls back along the others;
* ``role_based`` and user strategies (:class:`~synaplex.lm.routing.RoutingStrategy`): the
  model :meth:`Router.route` picks first, then the others in the given order.

Every strategy first drops models that cannot serve the request (a tool call to a model
without tools) and falls back along the rest. ``router.route(RoutingRequest(...))`` makes a
decision without a call (:mod:`synaplex.lm.routing`); ``await router(messages,
routing=RoutingRequest(...))`` calls the model it picks first. ``router.health()`` is each
model's status (recent errors, latency, cooldown), which ``smart`` reads.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import routing as routing_lib
from synaplex.lm.base import Usage
from synaplex.lm.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    LMError,
    ModelResolutionError,
    NoAvailableModelError,
)
from synaplex.lm.language_model import LanguageModel
from synaplex.lm.messages import normalize_messages
from synaplex.lm.routing import ResolvedModel, RoutingConfig, RoutingDecision, RoutingRequest, RoutingRule
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object

__all__ = ["NoAvailableModelError", "ProviderHealth", "Router", "RoutingDecision", "RoutingRequest"]

#: Strategies a call understands by name (the routing strategies, plus round_robin).
STRATEGIES = ("manual", "cheapest", "cost_aware", "fastest", "smart", "role_based", "round_robin")
_ORDERING = {"manual", "cheapest", "cost_aware", "fastest", "smart", "round_robin"}
HEALTH_WINDOW = 300.0   # seconds of errors counted in ProviderHealth.recent_errors


@dataclasses.dataclass(frozen=True)
class ProviderHealth:
    """One model's status in a Router: ``healthy`` is False during its ``cooldown`` after a failure.

    ``recent_errors``: failures in the last five minutes; ``last_error``: the last one's type;
    ``latency_ms``: the moving average of its answered calls (None: never measured);
    ``cooldown_remaining_s``: seconds until it counts as healthy again."""

    model: str
    provider: str
    api_base: str | None
    healthy: bool
    recent_errors: int
    last_error: str | None
    latency_ms: float | None
    cooldown_remaining_s: float


class Router:
    """Route each call to one of ``models``.

    Args:
        models: the LanguageModels (a fleet may hold one model on several endpoints).
        strategy: a name (see the module docstring) or a RoutingStrategy object.
        cooldown: seconds a failed model stays unhealthy (``smart`` puts it last).
        aliases: ``{"fast": "openai/gpt-4o-mini", ...}``: names routing rules and requests may use.
        rules: RoutingRules (or dicts): ``role_level`` / ``task_type`` -> ``preferred_model``, ``fallback``.
        fallback_chain: model references ``smart`` and ``role_based`` try last.
        estimated_latency_ms: ``{ref: ms}`` until a model's latency is measured.

    Example:
        >>> router = synaplex.Router(models=[cheap_lm, strong_lm], strategy="cheapest")
        >>> await router(messages, schema=Answer.get_schema())
        >>> router.last_decision.model
        >>> router.route(RoutingRequest(agent_level="senior")).resolved_model
    """

    def __init__(self, models: list, strategy: Any = "smart", cooldown: float = 30.0, name: str = "router",
                 aliases: dict | None = None, rules: list | None = None, fallback_chain: list | None = None,
                 estimated_latency_ms: dict | None = None):
        if not models or not all(isinstance(m, LanguageModel) for m in models):
            raise InvalidInputError("Router(models=[...]) takes a non-empty list of LanguageModels.")
        self._strategy = routing_lib.strategy_for(strategy, extra=("round_robin",))
        self.models = list(models)
        self.strategy = strategy if isinstance(strategy, str) else self._strategy.name
        self._custom_strategy = not isinstance(strategy, str)
        self.cooldown = cooldown
        self.model = name
        self.provider = "router"
        self.usage = Usage()
        self.last_usage: Usage | None = None
        self.last_decision: RoutingDecision | None = None
        self._latency: dict[int, float] = {}
        self._failed_at: dict[int, float] = {}
        self._errors: dict[int, collections.deque] = {}
        self._turn = 0
        self.aliases = dict(aliases or {})
        self.estimated_latency_ms = dict(estimated_latency_ms or {})
        try:
            parsed = tuple(r if isinstance(r, RoutingRule) else RoutingRule(**r) for r in rules or ())
            self.routing_config = RoutingConfig(strategy=self.strategy, rules=parsed,
                                                fallback_chain=tuple(fallback_chain or ()))
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"Router: invalid routing rules or fallback_chain: {error}") from None
        self._check_references()

    # --- routing decisions (no call) ---------------------------------------------------------

    def _by_ref(self) -> dict[str, LanguageModel]:
        refs: dict[str, LanguageModel] = {}
        for lm in self.models:
            refs.setdefault(lm.model, lm)
            refs.setdefault(lm.model.partition("/")[2] or lm.model, lm)
        return refs

    def _check_references(self) -> None:
        refs = self._by_ref()
        for alias, target in self.aliases.items():
            if not isinstance(alias, str) or not alias or target not in refs:
                raise ModelResolutionError(
                    f"Router alias {alias!r} -> {target!r}: the target must be one of the Router's models "
                    f"({', '.join(lm.model for lm in self.models)}).", provider="router")
        known = set(refs) | set(self.aliases)
        config = self.routing_config
        named = [(f"rule {i}", ref) for i, rule in enumerate(config.rules)
                 for ref in (rule.preferred_model, rule.fallback) if ref is not None]
        named += [("fallback_chain", ref) for ref in config.fallback_chain]
        for where, ref in named:
            if ref not in known:
                raise ModelResolutionError(
                    f"Router {where} names {ref!r}, which is neither one of its models "
                    f"({', '.join(lm.model for lm in self.models)}) nor an alias "
                    f"({', '.join(self.aliases) or 'none'}).", provider="router")

    def _resolved(self, lm: LanguageModel, alias: str | None = None) -> ResolvedModel:
        caps = lm.capabilities
        measured = self._latency.get(id(lm))
        estimate = self.estimated_latency_ms.get(lm.model)
        if estimate is None and alias is not None:
            estimate = self.estimated_latency_ms.get(alias)
        latency = round(measured * 1000) if measured is not None else estimate
        model_id = lm.model.partition("/")[2] or lm.model
        return ResolvedModel(provider_name=lm.provider, model_id=model_id, alias=alias,
                             cost_per_1k_input=routing_lib.per_1k(caps.input_price_per_token),
                             cost_per_1k_output=routing_lib.per_1k(caps.output_price_per_token),
                             max_context=caps.context_window or None, estimated_latency_ms=latency)

    def resolver(self) -> routing_lib.ModelResolver:
        """The Router's models as ResolvedModels (aliases included), with their health."""
        refs = self._by_ref()
        alias_of = {}
        for alias, target in self.aliases.items():
            alias_of.setdefault(id(refs[target]), alias)
        resolved, owners = [], {}
        for lm in self.models:
            model = self._resolved(lm, alias_of.pop(id(lm), None))
            resolved.append(model)
            owners[id(model)] = lm
        for alias, target in self.aliases.items():  # further aliases of one model
            if all(m.alias != alias for m in resolved):
                model = self._resolved(refs[target], alias)
                resolved.append(model)
                owners[id(model)] = refs[target]
        self._owners = owners
        now = time.monotonic()
        return routing_lib.ModelResolver(resolved, healthy=lambda m: not self._unhealthy(owners[id(m)], now))

    def route(self, request: RoutingRequest | dict | None = None) -> RoutingDecision:
        """Decide which model serves ``request`` with the Router's strategy; sends nothing.

        Raises UnknownStrategyError (``round_robin`` decides per call, not here), ModelResolutionError
        or NoAvailableModelError."""
        if request is None:
            request = RoutingRequest()
        elif isinstance(request, dict):
            try:
                request = RoutingRequest(**request)
            except (TypeError, ValueError) as error:
                raise InvalidInputError(f"Router.route: invalid RoutingRequest: {error}") from None
        elif not isinstance(request, RoutingRequest):
            raise InvalidInputError(f"Router.route takes a RoutingRequest, got {type(request).__name__}.")
        if self._strategy is None:
            raise routing_lib.UnknownStrategyError(
                f"strategy {self.strategy!r} orders the calls themselves and makes no decision without a call; "
                "route() needs manual, role_based, cost_aware, cheapest, fastest, smart or your own strategy.")
        return self._strategy.select(request, self.routing_config, self.resolver())

    def language_model(self, decision: RoutingDecision | str) -> LanguageModel:
        """The LanguageModel behind a decision (or a model reference or alias)."""
        ref = decision.model if isinstance(decision, RoutingDecision) else self.aliases.get(decision, decision)
        lm = self._by_ref().get(ref)
        if lm is None:
            raise ModelResolutionError(f"No model {ref!r} in this Router ({', '.join(m.model for m in self.models)}).",
                                       provider="router")
        return lm

    @classmethod
    def fleet(cls, model: str, api_bases: list[str], strategy: str = "round_robin", **kwargs: Any) -> Router:
        """One model served by several endpoints (vLLM or llama.cpp replicas), one LanguageModel each.

        ``kwargs`` go to every LanguageModel (``max_retries``, ``timeout``, ``transport``...).

        Example:
            >>> router = synaplex.Router.fleet("vllm/meta-llama/Llama-3.1-8B-Instruct",
            ...                               api_bases=["http://gpu1:8000/v1", "http://gpu2:8000/v1"])
        """
        if not isinstance(api_bases, (list, tuple)) or not api_bases or not all(
                isinstance(b, str) and b for b in api_bases):
            raise InvalidInputError(f"Router.fleet needs api_bases=[...], a non-empty list of URLs, got "
                                    f"{api_bases!r:.80}.")
        if len(set(api_bases)) != len(api_bases):
            raise InvalidInputError("Router.fleet: api_bases has the same URL twice; list each server once.")
        return cls(models=[LanguageModel(model=model, api_base=base, **kwargs) for base in api_bases],
                   strategy=strategy)

    # --- health ---------------------------------------------------------------------------------

    def _unhealthy(self, lm, now: float) -> bool:
        return now - self._failed_at.get(id(lm), -1e18) < self.cooldown

    def _record_failure(self, lm, error: LMError) -> None:
        now = time.monotonic()
        self._failed_at[id(lm)] = now
        errors = self._errors.setdefault(id(lm), collections.deque(maxlen=100))
        errors.append((now, type(error).__name__))

    def health(self) -> list[ProviderHealth]:
        """Each model's status, in the Router's order."""
        now = time.monotonic()
        out = []
        for lm in self.models:
            errors = [e for e in self._errors.get(id(lm), ()) if now - e[0] <= HEALTH_WINDOW]
            failed = self._failed_at.get(id(lm))
            remaining = max(0.0, failed + self.cooldown - now) if failed is not None else 0.0
            latency = self._latency.get(id(lm))
            out.append(ProviderHealth(
                model=lm.model, provider=lm.provider, api_base=lm.endpoint, healthy=remaining == 0.0,
                recent_errors=len(errors), last_error=errors[-1][1] if errors else None,
                latency_ms=None if latency is None else latency * 1000, cooldown_remaining_s=remaining))
        return out

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

    def order(self, messages: list, schema: dict | None = None, tools: list | None = None,
              routing: RoutingRequest | dict | None = None) -> tuple[list, list[str]]:
        """The candidates in the order they will be tried, and why the others were dropped.

        With ``routing`` (or a strategy that only decides, such as ``role_based``), the model
        :meth:`route` picks comes first, then the others in the given order."""
        plain = normalize_messages(messages) if messages else []
        candidates, dropped = [], []
        for lm in self.models:
            problem = self._fits(lm, plain, schema, tools)
            if problem:
                dropped.append(f"{lm.model}: {problem}")
            else:
                candidates.append(lm)
        position = {id(lm): i for i, lm in enumerate(self.models)}
        if routing is not None or self._custom_strategy or self.strategy not in _ORDERING:
            chosen = self.language_model(self.route(routing))
            candidates.sort(key=lambda lm: (lm is not chosen, position[id(lm)]))
            return candidates, dropped
        latency = lambda lm: self._latency.get(id(lm), -1.0)  # noqa: E731 - untried first
        now = time.monotonic()
        if self.strategy in ("cheapest", "cost_aware"):
            candidates.sort(key=lambda lm: (self._price(lm), position[id(lm)]))
        elif self.strategy == "fastest":
            candidates.sort(key=lambda lm: (latency(lm), position[id(lm)]))
        elif self.strategy == "smart":
            candidates.sort(key=lambda lm: (self._unhealthy(lm, now), self._price(lm), latency(lm),
                                            position[id(lm)]))
        elif self.strategy == "round_robin" and candidates:
            turn = self._turn % len(candidates)
            self._turn += 1
            candidates = candidates[turn:] + candidates[:turn]
        return candidates, dropped

    # --- calling -----------------------------------------------------------------------

    async def __call__(self, messages: Any, schema: dict | None = None, streaming: bool = False,
                       tools: list | None = None, routing: RoutingRequest | dict | None = None, **kwargs):
        candidates, dropped = self.order(messages, schema, tools, routing)
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
                self._record_failure(lm, error)
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
            self.last_decision = RoutingDecision(resolved_model=self._resolved(lm), strategy_used=self.strategy,
                                                 reason=reason, fallbacks_tried=tuple(tried))
            usage = lm._last_call()[0] if not streaming else None  # this call's, not another thread's
            if usage is not None:
                used = dataclasses.replace(usage, fallbacks=usage.fallbacks + len(tried))
                self.last_usage = used
                self.usage.add(used)
            return value
        raise last

    @property
    def capabilities(self):
        return self.models[0].capabilities

    def stream(self, messages: Any, routing: RoutingRequest | dict | None = None, **kwargs):
        candidates, _ = self.order(messages, None, kwargs.get("tools"), routing)
        return (candidates or self.models)[0].stream(messages, **kwargs)

    def get_config(self) -> dict:
        if self._custom_strategy:
            raise InvalidInputError(f"A Router with your own strategy object ({self.strategy!r}) cannot be saved: "
                                    "its code is not data. Save it with a named strategy, or rebuild it in code.")
        config = {"models": [serialize_synaplex_object(m) for m in self.models], "strategy": self.strategy,
                  "cooldown": self.cooldown, "name": self.model}
        if self.aliases:
            config["aliases"] = dict(self.aliases)
        if self.routing_config.rules:
            config["rules"] = [r.model_dump(mode="json", exclude_none=True) for r in self.routing_config.rules]
        if self.routing_config.fallback_chain:
            config["fallback_chain"] = list(self.routing_config.fallback_chain)
        if self.estimated_latency_ms:
            config["estimated_latency_ms"] = dict(self.estimated_latency_ms)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["models"] = [deserialize_synaplex_object(m) for m in config["models"]]
        return cls(**config)

    def __repr__(self):
        return f"<Router strategy={self.strategy!r} models={[m.model for m in self.models]}>"
