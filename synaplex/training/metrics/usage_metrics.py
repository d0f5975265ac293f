"""LMUsage: what the language models consumed in one phase of training."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.training.metrics.metric import Metric

PHASES = ("inference", "reward", "optimizer")
_KINDS = {
    "tokens": lambda u: u.total_tokens,
    "input_tokens": lambda u: u.input_tokens,
    "output_tokens": lambda u: u.output_tokens,
    "cost": lambda u: u.cost,
    "latency": lambda u: u.latency,
    "calls": lambda u: u.calls,
    "cache_hits": lambda u: u.cache_hits,
}


class LMUsage(Metric):
    """What the language models consumed in one phase of training, as a running total.

    The trainer counts usage per phase (``"inference"``: the program; ``"reward"``: judges;
    ``"optimizer"``: mutations and embeddings) and feeds it with
    ``update_from_usage(usage)`` (a ``synaplex.lm.base.Usage``); ``update_state`` does
    nothing. ``result()`` is the sum of ``kind`` over the usages given since the last reset.
    For ``kind="cost"`` it is ``None`` as soon as one usage has an unknown price (a model
    missing from the price catalogue): an unknown cost is never shown as 0.

    Args:
        kind: ``"tokens"`` (input + output), ``"input_tokens"``, ``"output_tokens"``,
            ``"cost"`` (USD), ``"latency"`` (seconds, summed over calls), ``"calls"`` or
            ``"cache_hits"``.
        phase: ``"inference"``, ``"reward"`` or ``"optimizer"``.
        name: default ``f"{phase}_{kind}"`` (``"inference_tokens"``, ``"reward_cost"``…).

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
        self.reset_state()

    async def update_state(self, y_true: Any = None, y_pred: Any = None) -> None:
        """Nothing: usage comes through :meth:`update_from_usage`."""

    def update_from_usage(self, usage: Any) -> None:
        """Add one ``Usage`` (of this metric's phase) to the total."""
        if not isinstance(usage, Usage):
            raise InvalidInputError(
                f"LMUsage {self.name!r}: update_from_usage takes a synaplex.lm.base.Usage, got {usage!r:.80}."
            )
        value = _KINDS[self.kind](usage)
        if value is None:
            self.unknown = True
        else:
            self.total += value

    def result(self) -> float | int | None:
        if self.kind == "cost" and self.unknown:
            return None
        return self.total

    def reset_state(self) -> None:
        self.total: float | int = 0.0 if self.kind in ("cost", "latency") else 0
        self.unknown = False

    def get_config(self) -> dict:
        return {"kind": self.kind, "phase": self.phase, "name": self.name}
