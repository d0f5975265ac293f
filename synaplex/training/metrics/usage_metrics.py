"""LMUsage: what the language models consumed in one phase of training, and Synalinks' names
for it (``InputTokens``, ``RewardCost``, ``AvgOptimizerLatency``…) as thin subclasses that fix
its ``kind`` and ``phase``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.training.metrics.metric import Metric

PHASES = ("inference", "reward", "optimizer", "selection")


def _per_call(read: Callable[[Usage], Any]) -> Callable[[Usage, float], float | None]:
    def value(usage: Usage, _seconds: float) -> float | None:
        total = read(usage)
        if total is None:  # an unknown cost stays unknown
            return None
        return total / usage.calls if usage.calls else 0.0
    return value


def _ratio(numerator: Callable[[Usage], int], denominator: Callable[[Usage], int]) -> Callable[[Usage, float], float]:
    return lambda u, _: numerator(u) / denominator(u) if denominator(u) > 0 else 0.0


def _per_second(read: Callable[[Usage], int]) -> Callable[[Usage, float], float]:
    return lambda u, seconds: read(u) / seconds if seconds > 0 else 0.0


# kind -> (value of a Usage and the phase's wall-clock seconds, direction)
_KINDS: dict[str, tuple[Callable[[Usage, float], Any], str]] = {
    "tokens": (lambda u, _: u.total_tokens, "down"),
    "input_tokens": (lambda u, _: u.input_tokens, "down"),
    "output_tokens": (lambda u, _: u.output_tokens, "down"),
    "cost": (lambda u, _: u.cost, "down"),
    "latency": (lambda u, _: u.latency, "down"),
    "calls": (lambda u, _: u.calls, "down"),
    "cache_hits": (lambda u, _: u.cache_hits, "up"),
    "cached_tokens": (lambda u, _: u.cached_tokens, "up"),
    "reasoning_tokens": (lambda u, _: u.reasoning_tokens, "down"),
    "fallbacks": (lambda u, _: u.fallbacks, "down"),
    "avg_input_tokens_per_call": (_per_call(lambda u: u.input_tokens), "down"),
    "avg_output_tokens_per_call": (_per_call(lambda u: u.output_tokens), "down"),
    "avg_tokens_per_call": (_per_call(lambda u: u.total_tokens), "down"),
    "avg_cached_tokens_per_call": (_per_call(lambda u: u.cached_tokens), "up"),
    "avg_reasoning_tokens_per_call": (_per_call(lambda u: u.reasoning_tokens), "down"),
    "avg_cost_per_call": (_per_call(lambda u: u.cost), "down"),
    "avg_latency": (_per_call(lambda u: u.latency), "down"),
    "cache_hit_rate": (_ratio(lambda u: u.cached_tokens, lambda u: u.input_tokens), "up"),
    "reasoning_token_share": (_ratio(lambda u: u.reasoning_tokens, lambda u: u.output_tokens), "down"),
    "tokens_per_second": (_per_second(lambda u: u.total_tokens), "up"),
    "throughput": (_per_second(lambda u: u.calls), "up"),
}


class LMUsage(Metric):
    """What the language models consumed in one phase of training.

    The trainer counts usage per phase (``"inference"``: the program; ``"reward"``: judges;
    ``"optimizer"``: mutations and embeddings; ``"selection"``: the candidates' runs on the
    selection set) with the wall-clock time spent in it, and
    feeds it with ``update_from_usage(usage, seconds)``; ``update_state`` does nothing.
    ``result()`` is ``kind`` over the usage given since the last reset. Costs are ``None``
    as soon as one usage has an unknown price (a model missing from the price catalogue):
    an unknown cost is never shown as 0.

    Args:
        kind: totals ``"tokens"`` (input + output), ``"input_tokens"``, ``"output_tokens"``,
            ``"cached_tokens"``, ``"reasoning_tokens"``, ``"cost"`` (USD), ``"latency"``
            (seconds, summed over calls), ``"calls"``, ``"cache_hits"`` (replies from
            synaplex's cache), ``"fallbacks"``; per call ``"avg_input_tokens_per_call"``,
            ``"avg_output_tokens_per_call"``, ``"avg_tokens_per_call"``,
            ``"avg_cached_tokens_per_call"``, ``"avg_reasoning_tokens_per_call"``,
            ``"avg_cost_per_call"``, ``"avg_latency"``; ratios ``"cache_hit_rate"`` (cached /
            input tokens), ``"reasoning_token_share"`` (reasoning / output tokens); rates
            ``"tokens_per_second"`` and ``"throughput"`` (calls per second), over the phase's
            wall-clock time.
        phase: ``"inference"``, ``"reward"``, ``"optimizer"`` or ``"selection"`` (the program
            and the reward run on ``fit``'s selection set to compare candidates).
        name: default ``f"{phase}_{kind}"`` (``"inference_tokens"``, ``"reward_cost"``…).

    Synalinks' names are subclasses with ``kind`` and ``phase`` fixed: ``InputTokens()`` is
    ``LMUsage("input_tokens", "inference", name="input_tokens")``, ``RewardCost()`` is
    ``LMUsage("cost", "reward", name="reward_cost")``, ``AvgOptimizerLatency()`` is
    ``LMUsage("avg_latency", "optimizer", name="avg_optimizer_latency")``.

    Example:
        >>> synaplex.metrics.LMUsage(kind="cost", phase="reward").name
        'reward_cost'
    """

    KINDS = tuple(_KINDS)
    PHASES = PHASES

    def __init__(self, kind: str = "tokens", phase: str = "inference", name: str | None = None):
        if kind not in _KINDS:
            raise InvalidInputError(f"LMUsage: kind must be one of {', '.join(map(repr, _KINDS))}, got {kind!r}.")
        if phase not in PHASES:
            raise InvalidInputError(f"LMUsage: phase must be one of {', '.join(map(repr, PHASES))}, got {phase!r}.")
        super().__init__(name=name or f"{phase}_{kind}")
        self.kind = kind
        self.phase = phase
        self.direction = _KINDS[kind][1]
        self.reset_state()

    async def update_state(self, y_true: Any = None, y_pred: Any = None) -> None:
        """Nothing: usage comes through :meth:`update_from_usage`."""

    def update_from_usage(self, usage: Any, seconds: float = 0.0) -> None:
        """Add one ``Usage`` of this metric's phase, and the seconds the phase took."""
        if not isinstance(usage, Usage):
            raise InvalidInputError(
                f"LMUsage {self.name!r}: update_from_usage takes a synaplex.lm.base.Usage, got {usage!r:.80}."
            )
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise InvalidInputError(f"LMUsage {self.name!r}: seconds must be a number >= 0, got {seconds!r}.")
        self.usage.add(usage)
        self.seconds += seconds

    def result(self) -> float | int | None:
        return _KINDS[self.kind][0](self.usage, self.seconds)

    def reset_state(self) -> None:
        self.usage = Usage()
        self.seconds = 0.0

    def get_config(self) -> dict:
        return {"kind": self.kind, "phase": self.phase, "name": self.name}


# Synalinks' names: (class-name part, name part, kind). Each phase has its prefix: none for
# inference ("InputTokens", "input_tokens"), "Reward"/"reward_" and "Optimizer"/"optimizer_";
# an "Avg…" name puts it after "Avg" ("AvgRewardLatency", "avg_reward_latency").
_SYNALINKS_KINDS = (
    ("InputTokens", "input_tokens", "input_tokens"),
    ("OutputTokens", "output_tokens", "output_tokens"),
    ("TotalTokens", "total_tokens", "tokens"),
    ("Cost", "cost", "cost"),
    ("CachedTokens", "cached_tokens", "cached_tokens"),
    ("ReasoningTokens", "reasoning_tokens", "reasoning_tokens"),
    ("CacheHitRate", "cache_hit_rate", "cache_hit_rate"),
    ("ReasoningTokenShare", "reasoning_token_share", "reasoning_token_share"),
    ("FallbackActivations", "fallback_activations", "fallbacks"),
    ("TokensPerSecond", "tokens_per_second", "tokens_per_second"),
    ("Throughput", "throughput", "throughput"),
    ("Avg{}InputTokensPerCall", "avg_{}input_tokens_per_call", "avg_input_tokens_per_call"),
    ("Avg{}OutputTokensPerCall", "avg_{}output_tokens_per_call", "avg_output_tokens_per_call"),
    ("Avg{}TotalTokensPerCall", "avg_{}total_tokens_per_call", "avg_tokens_per_call"),
    ("Avg{}CachedTokensPerCall", "avg_{}cached_tokens_per_call", "avg_cached_tokens_per_call"),
    ("Avg{}ReasoningTokensPerCall", "avg_{}reasoning_tokens_per_call", "avg_reasoning_tokens_per_call"),
    ("Avg{}CostPerCall", "avg_{}cost_per_call", "avg_cost_per_call"),
    ("Avg{}Latency", "avg_{}latency", "avg_latency"),
)
_PHASE_PREFIXES = (("inference", "", ""), ("reward", "Reward", "reward_"), ("optimizer", "Optimizer", "optimizer_"))


def _named_usage_class(class_name: str, default_name: str, kind: str, phase: str) -> type:
    def __init__(self, name: str | None = default_name):
        LMUsage.__init__(self, kind=kind, phase=phase, name=name)

    def get_config(self) -> dict:
        return {"name": self.name}

    doc = (f"Synalinks' ``{class_name}``: ``LMUsage(kind={kind!r}, phase={phase!r})``, named "
           f"``{default_name!r}`` (see :class:`LMUsage`).")
    return type(class_name, (LMUsage,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


def synalinks_usage_classes() -> dict[str, type]:
    """Synalinks' LM-usage metric names, each a thin subclass of :class:`LMUsage`."""
    classes = {}
    for phase, class_prefix, name_prefix in _PHASE_PREFIXES:
        for class_part, name_part, kind in _SYNALINKS_KINDS:
            if "{}" in class_part:
                class_name, default_name = class_part.format(class_prefix), name_part.format(name_prefix)
            else:
                class_name, default_name = class_prefix + class_part, name_prefix + name_part
            classes[class_name] = _named_usage_class(class_name, default_name, kind, phase)
    return classes
