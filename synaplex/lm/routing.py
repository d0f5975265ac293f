"""Routing decisions without a call (SynthOrg's routing engine), for :class:`synaplex.Router`.

``router.route(RoutingRequest(agent_level=..., task_type=..., model_override=...,
remaining_budget=...))`` returns a :class:`RoutingDecision` (``resolved_model``,
``strategy_used``, ``reason``, ``fallbacks_tried``) and sends nothing. The strategies:

* ``manual``: ``model_override`` (required);
* ``role_based``: the first rule whose ``role_level`` is the agent's, else the seniority's
  default tier (:data:`SENIORITY_TIERS`, a tier being an alias such as ``"large"``);
* ``cost_aware`` / ``cheapest``: the ``task_type`` rules, else the cheapest model whose
  ``total_cost_per_1k`` is within ``remaining_budget``;
* ``fastest``: the ``task_type`` rules, else the lowest ``estimated_latency_ms`` within budget
  (cheapest when no model has a latency yet);
* ``smart``: override > task rules > role rules > seniority default > cheapest within budget >
  the ``fallback_chain`` > :class:`NoAvailableModelError`, skipping models in their cooldown
  (see ``router.health()``).

Any object with ``name`` and ``select(request, config, resolver)`` is a strategy too
(:class:`RoutingStrategy`). Model references are aliases, ``provider/model`` strings or bare
model ids; one the Router does not have raises :class:`ModelResolutionError`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import pydantic

from synaplex.lm.errors import ModelResolutionError, NoAvailableModelError, UnknownStrategyError
from synaplex.lm.provider_models import NotBlankStr

_FROZEN = pydantic.ConfigDict(frozen=True, allow_inf_nan=False, extra="forbid")


class SeniorityLevel(str, enum.Enum):
    JUNIOR = "junior"
    MID = "mid"
    SENIOR = "senior"
    LEAD = "lead"
    PRINCIPAL = "principal"
    DIRECTOR = "director"
    VP = "vp"
    C_SUITE = "c_suite"


#: The model tier (an alias) a seniority level uses when no rule names its model.
SENIORITY_TIERS = {
    SeniorityLevel.JUNIOR: "small", SeniorityLevel.MID: "medium", SeniorityLevel.SENIOR: "medium",
    SeniorityLevel.LEAD: "large", SeniorityLevel.PRINCIPAL: "large", SeniorityLevel.DIRECTOR: "large",
    SeniorityLevel.VP: "large", SeniorityLevel.C_SUITE: "large",
}


class ResolvedModel(pydantic.BaseModel):
    """A model the Router can use, with what routing reads of it. Prices are USD per 1,000
    tokens (``None``: unknown); ``max_context`` in tokens (``None``: unknown)."""

    model_config = _FROZEN
    provider_name: NotBlankStr
    model_id: NotBlankStr
    alias: NotBlankStr | None = None
    cost_per_1k_input: float | None = pydantic.Field(default=None, ge=0.0)
    cost_per_1k_output: float | None = pydantic.Field(default=None, ge=0.0)
    max_context: int | None = pydantic.Field(default=None, gt=0)
    estimated_latency_ms: int | None = pydantic.Field(default=None, ge=0)

    @property
    def ref(self) -> str:
        """``provider/model``, as a LanguageModel names it."""
        return f"{self.provider_name}/{self.model_id}"

    @property
    def total_cost_per_1k(self) -> float | None:
        if self.cost_per_1k_input is None or self.cost_per_1k_output is None:
            return None
        return self.cost_per_1k_input + self.cost_per_1k_output


class RoutingRequest(pydantic.BaseModel):
    """What a routing decision reads (each strategy uses some of it, see the module docstring).
    ``remaining_budget`` is a per-request ceiling compared with each model's ``total_cost_per_1k``."""

    model_config = _FROZEN
    agent_level: SeniorityLevel | None = None
    task_type: NotBlankStr | None = None
    model_override: NotBlankStr | None = None
    remaining_budget: float | None = pydantic.Field(default=None, ge=0.0)


class RoutingDecision(pydantic.BaseModel):
    """The chosen model, the strategy, why, and the model references tried before it."""

    model_config = _FROZEN
    resolved_model: ResolvedModel
    strategy_used: NotBlankStr
    reason: NotBlankStr
    fallbacks_tried: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """The chosen model as ``provider/model``."""
        return self.resolved_model.ref

    @property
    def strategy(self) -> str:
        return self.strategy_used


class RoutingRule(pydantic.BaseModel):
    """``role_level`` and/or ``task_type`` -> ``preferred_model`` (then ``fallback``)."""

    model_config = _FROZEN
    role_level: SeniorityLevel | None = None
    task_type: NotBlankStr | None = None
    preferred_model: NotBlankStr
    fallback: NotBlankStr | None = None

    @pydantic.model_validator(mode="after")
    def _matches_something(self) -> RoutingRule:
        if self.role_level is None and self.task_type is None:
            raise ValueError("a routing rule needs role_level or task_type (or both)")
        return self


class RoutingConfig(pydantic.BaseModel):
    """The rules and the global fallback chain a strategy reads."""

    model_config = _FROZEN
    strategy: NotBlankStr = "smart"
    rules: tuple[RoutingRule, ...] = ()
    fallback_chain: tuple[NotBlankStr, ...] = ()


class ModelResolver:
    """Model references (aliases, ``provider/model``, bare ids) -> ResolvedModels.

    ``healthy`` says whether a model may be chosen now (the Router passes its health)."""

    def __init__(self, models: Iterable[ResolvedModel], healthy: Callable[[ResolvedModel], bool] | None = None):
        self._models = tuple(models)
        self._index: dict[str, ResolvedModel] = {}
        for model in self._models:
            for ref in (model.ref, model.model_id, model.alias):
                if ref is not None:
                    self._index.setdefault(ref, model)
        self._healthy = healthy or (lambda model: True)

    def resolve_safe(self, ref: str) -> ResolvedModel | None:
        return self._index.get(ref)

    def resolve(self, ref: str) -> ResolvedModel:
        model = self._index.get(ref)
        if model is None:
            raise ModelResolutionError(
                f"No model {ref!r} in this Router: use an alias ({', '.join(self.aliases()) or 'none defined'}) or "
                f"one of its models ({', '.join(m.ref for m in self._models)}), or add the model to the Router.")
        return model

    def aliases(self) -> list[str]:
        return sorted(m.alias for m in self._models if m.alias)

    def all_models(self) -> tuple[ResolvedModel, ...]:
        return self._models

    def healthy(self, model: ResolvedModel) -> bool:
        return self._healthy(model)

    def all_models_sorted_by_cost(self) -> list[ResolvedModel]:
        """Known prices first, cheapest first; unknown prices last (in the given order)."""
        return sorted(self._models, key=lambda m: (m.total_cost_per_1k is None, m.total_cost_per_1k or 0.0))


@runtime_checkable
class RoutingStrategy(Protocol):
    """A strategy: ``name`` and ``select``, which returns a decision or raises ModelResolutionError
    / NoAvailableModelError."""

    name: str

    def select(self, request: RoutingRequest, config: RoutingConfig, resolver: ModelResolver) -> RoutingDecision: ...


# --- the steps strategies share ------------------------------------------------------------------

def _within(model: ResolvedModel, budget: float | None) -> bool:
    """Within the per-request budget; an unknown price cannot be shown to be, so it is not."""
    if budget is None:
        return True
    total = model.total_cost_per_1k
    return total is not None and total <= budget + 1e-12


class _Search:
    """One decision in the making: the references tried and why, and the budget and health tests."""

    def __init__(self, name: str, request: RoutingRequest, resolver: ModelResolver, use_health: bool = False):
        self.name, self.request, self.resolver, self.use_health = name, request, resolver, use_health
        self.tried: list[str] = []
        self.notes: list[str] = []

    def usable(self, model: ResolvedModel) -> str | None:
        """Why ``model`` cannot be chosen, or None."""
        if not _within(model, self.request.remaining_budget):
            price = model.total_cost_per_1k
            return (f"over the budget ({'unknown price' if price is None else f'${price:g}/1k'} > "
                    f"${self.request.remaining_budget:g}/1k)")
        if self.use_health and not self.resolver.healthy(model):
            return "in its cooldown after a recent failure"
        return None

    def attempt(self, ref: str | None, why: str, strict: bool = False) -> RoutingDecision | None:
        if ref is None:
            return None
        model = self.resolver.resolve(ref) if strict else self.resolver.resolve_safe(ref)
        if model is None:
            self.tried.append(ref)
            self.notes.append(f"{ref}: not in this Router")
            return None
        problem = self.usable(model)
        if problem:
            self.tried.append(ref)
            self.notes.append(f"{ref}: {problem}")
            return None
        return self.decide(model, why)

    def decide(self, model: ResolvedModel, why: str) -> RoutingDecision:
        reason = why + (f" (skipped {'; '.join(self.notes)})" if self.notes else "")
        return RoutingDecision(resolved_model=model, strategy_used=self.name, reason=reason,
                               fallbacks_tried=tuple(self.tried))

    def rules(self, config: RoutingConfig, field: str, value: Any) -> RoutingDecision | None:
        if value is None:
            return None
        for rule in config.rules:
            if getattr(rule, field) == value:
                label = value.value if isinstance(value, enum.Enum) else value
                decision = (self.attempt(rule.preferred_model, f"{field} rule for {label!r}")
                            or self.attempt(rule.fallback, f"{field} rule for {label!r}, its fallback"))
                if decision is not None:
                    return decision
        return None

    def seniority(self) -> RoutingDecision | None:
        level = self.request.agent_level
        if level is None:
            return None
        tier = SENIORITY_TIERS[level]
        return self.attempt(tier, f"seniority default: {level.value!r} uses the {tier!r} tier")

    def cheapest(self) -> RoutingDecision | None:
        for model in self.resolver.all_models_sorted_by_cost():
            problem = self.usable(model)
            if problem is not None:
                label = model.alias or model.ref
                if label not in self.tried:  # a rule may have noted it already
                    self.tried.append(label)
                    self.notes.append(f"{label}: {problem}")
                continue
            budget = self.request.remaining_budget
            within = f" within ${budget:g}/1k" if budget is not None else ""
            price = model.total_cost_per_1k
            return self.decide(model, f"cheapest available{within} "
                                      f"({'unknown price' if price is None else f'${price:g}/1k'})")
        return None

    def fallback_chain(self, config: RoutingConfig) -> RoutingDecision | None:
        for ref in config.fallback_chain:
            decision = self.attempt(ref, "global fallback chain")
            if decision is not None:
                return decision
        return None

    def exhausted(self) -> NoAvailableModelError:
        budget = self.request.remaining_budget
        detail = "; ".join(self.notes) or (
            f"no model's price is within ${budget:g}/1k" if budget is not None else "the Router has no usable model")
        return NoAvailableModelError(
            f"{self.name} routing found no model for {self.request.model_dump(exclude_none=True, mode='json')}: "
            f"{detail}. Raise remaining_budget, add a model, or give prices with "
            "LanguageModel(..., capabilities={'input_price_per_token': ..., 'output_price_per_token': ...}).",
            provider="router")


# --- the strategies --------------------------------------------------------------------------------

class ManualStrategy:
    name = "manual"

    def select(self, request, config, resolver):
        if request.model_override is None:
            raise ModelResolutionError("manual routing needs RoutingRequest(model_override='<alias or "
                                       "provider/model>'), or use strategy='smart'.", provider="router")
        search = _Search(self.name, request, resolver)
        decision = search.attempt(request.model_override, f"explicit override {request.model_override!r}",
                                  strict=True)
        if decision is None:
            raise search.exhausted()
        return decision


class RoleBasedStrategy:
    name = "role_based"

    def select(self, request, config, resolver):
        if request.agent_level is None:
            raise ModelResolutionError("role_based routing needs RoutingRequest(agent_level=...) (one of "
                                       f"{', '.join(level.value for level in SeniorityLevel)}).", provider="router")
        search = _Search(self.name, request, resolver)
        decision = (search.rules(config, "role_level", request.agent_level) or search.seniority()
                    or search.fallback_chain(config))
        if decision is None:
            raise search.exhausted()
        return decision


class CostAwareStrategy:
    name = "cost_aware"

    def select(self, request, config, resolver):
        search = _Search(self.name, request, resolver)
        decision = search.rules(config, "task_type", request.task_type) or search.cheapest()
        if decision is None:
            raise search.exhausted()
        return decision


class CheapestStrategy(CostAwareStrategy):
    name = "cheapest"


class FastestStrategy:
    name = "fastest"

    def select(self, request, config, resolver):
        search = _Search(self.name, request, resolver)
        decision = search.rules(config, "task_type", request.task_type)
        if decision is not None:
            return decision
        timed = [m for m in resolver.all_models() if m.estimated_latency_ms is not None and search.usable(m) is None]
        if timed:
            model = min(timed, key=lambda m: m.estimated_latency_ms)
            return search.decide(model, f"fastest available ({model.estimated_latency_ms} ms)")
        decision = search.cheapest()  # no latency known yet: the cheapest is usually the smallest
        if decision is None:
            raise search.exhausted()
        return decision.model_copy(update={"reason": "no latency measured yet, so " + decision.reason})


class SmartStrategy:
    name = "smart"

    def select(self, request, config, resolver):
        search = _Search(self.name, request, resolver, use_health=True)
        decision = (search.attempt(request.model_override, f"explicit override {request.model_override!r}")
                    or search.rules(config, "task_type", request.task_type)
                    or search.rules(config, "role_level", request.agent_level)
                    or search.seniority()
                    or search.cheapest()
                    or search.fallback_chain(config))
        if decision is None:
            raise search.exhausted()
        return decision


STRATEGY_MAP = {s.name: s for s in (ManualStrategy(), RoleBasedStrategy(), CostAwareStrategy(), CheapestStrategy(),
                                    FastestStrategy(), SmartStrategy())}


def strategy_for(strategy: Any, extra: Iterable[str] = ()) -> Any:
    """The strategy object for a name (or a user's strategy object, checked)."""
    if isinstance(strategy, str):
        if strategy in STRATEGY_MAP or strategy in extra:
            return STRATEGY_MAP.get(strategy)
        names = sorted({*STRATEGY_MAP, *extra})
        raise UnknownStrategyError(f"Unknown routing strategy {strategy!r}; choose one of {', '.join(names)}, or "
                                   "pass an object with name and select(request, config, resolver).")
    if isinstance(strategy, RoutingStrategy) and isinstance(strategy.name, str) and strategy.name:
        return strategy
    raise UnknownStrategyError(f"A routing strategy must be a name or an object with a 'name' (str) and "
                               f"select(request, config, resolver); got {type(strategy).__name__}.")


def per_1k(price_per_token: float | None) -> float | None:
    return None if price_per_token is None or not math.isfinite(price_per_token) else price_per_token * 1000
