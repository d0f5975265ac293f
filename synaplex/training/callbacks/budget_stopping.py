"""BudgetStopping: stop training before a spending budget is exceeded."""

from __future__ import annotations

import asyncio
import logging
import math

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.budget import Budget
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.formatting import format_cost, format_number
from synaplex.training.callbacks.monitoring import is_number, request_stop

_log = logging.getLogger("synaplex.training")

_BUDGET_UNITS = {"cost": "", "tokens": " tokens", "calls": " calls"}


def _format_amount(kind: str, value: float) -> str:
    return format_cost(value) if kind == "cost" else f"{format_number(value)}{_BUDGET_UNITS[kind]}"


class BudgetStopping(Callback):
    """Stops training before a spending budget is exceeded.

    After each batch it reads the run's usage so far (``total_cost``, ``total_tokens``,
    ``total_calls``) and the largest batch seen (``batch_*``); when one more batch that large
    could go over a budget, it stops training (``program.stop_training``), says why in
    ``program.stop_reason`` and logs it as a warning on the ``synaplex.training`` logger. It
    checks again at each epoch's end (validation and the optimizer's epoch-end work also
    spend). The budget covers everything the run spends: the program, the reward's judges
    and the optimizer.

    It also opens a :func:`synaplex.budget` with the same limits for the run, checked before
    every LM and embedding call: a call that would go over is refused (``BudgetExceededError``,
    the example scores 0) and training stops at that batch's end, so the budget is overshot by
    at most one call, even by a batch much larger than all before it.

    Args:
        max_cost: in dollars. When the cost is unknown (a model without a price) it cannot
            be enforced: a warning says so, once per run.
        max_tokens: input + output tokens.
        max_calls: language- and embedding-model calls.

    Example:
        >>> program.fit(x, y, callbacks=[synaplex.callbacks.BudgetStopping(max_cost=2.00)])
    """

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None, max_calls: int | None = None):
        super().__init__()
        limits = {"cost": max_cost, "tokens": max_tokens, "calls": max_calls}
        if all(value is None for value in limits.values()):
            raise InvalidInputError("BudgetStopping needs a budget: give max_cost (dollars), max_tokens and/or "
                                    "max_calls, e.g. BudgetStopping(max_cost=1.0).")
        for kind, value in limits.items():
            if value is None:
                continue
            if not is_number(value) or math.isnan(value):
                raise InvalidInputError(f"BudgetStopping max_{kind} must be a number, got {value!r}.")
            if value <= 0:
                raise InvalidInputError(f"BudgetStopping max_{kind} must be positive, got {value!r}.")
        self.max_cost, self.max_tokens, self.max_calls = max_cost, max_tokens, max_calls
        self.limits = {kind: value for kind, value in limits.items() if value is not None}
        self.largest_batch: dict[str, float] = {}
        self.stopped = False
        self.reason: str | None = None
        self._warned: set[str] = set()
        self.budget: Budget | None = None

    def on_train_begin(self, logs=None):
        self.largest_batch = {kind: 0 for kind in self.limits}
        self.stopped = False
        self.reason = None
        self._warned = set()
        # the per-call check (the same mechanism as synaplex.budget); unknown prices warn, as below.
        # Opened in fit's task only (it is closed in on_train_end, in the same task): a callback
        # driven outside an event loop opens none, so nothing leaks into the thread's context.
        self.budget = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.budget = Budget(max_cost=self.max_cost, max_tokens=self.max_tokens, max_calls=self.max_calls,
                             name="BudgetStopping", unknown_cost="warn").__enter__()

    def on_train_end(self, logs=None):
        if self.budget is not None:
            self.budget.__exit__(None, None, None)
            self.budget = None

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        for kind in self.limits:
            spent = logs.get(f"batch_{kind}")
            if spent is not None and spent > self.largest_batch.get(kind, 0):
                self.largest_batch[kind] = spent
        self._check(logs, f"batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs or {}, f"epoch {epoch + 1}")

    def _check(self, logs: dict, where: str) -> None:
        if self.stopped:
            return
        refused = self.budget.refused if self.budget is not None else None
        if refused is not None:
            self._stop(f"BudgetStopping: max_{refused.limit.removeprefix('max_')}="
                       f"{_format_amount(refused.limit.removeprefix('max_'), refused.maximum)} reached: a call "
                       f"was refused before it could exceed it (after {where}).")
            return
        for kind, limit in self.limits.items():
            total = logs.get(f"total_{kind}")
            if total is None:
                self._warn_unknown(kind, logs)
                continue
            largest = self.largest_batch.get(kind, 0)
            if total > limit:
                reason = (f"BudgetStopping: max_{kind}={_format_amount(kind, limit)} exceeded: "
                          f"{_format_amount(kind, total)} spent (after {where}).")
            elif total + largest > limit:
                reason = (f"BudgetStopping: max_{kind}={_format_amount(kind, limit)} reached: "
                          f"{_format_amount(kind, total)} spent so far (after {where}) and a batch has taken up "
                          f"to {_format_amount(kind, largest)}, so the next one could exceed it.")
            else:
                continue
            self._stop(reason)
            return

    def _stop(self, reason: str) -> None:
        self.stopped = True
        self.reason = reason
        _log.warning("%s Stopping training.", reason)
        request_stop(self.program, reason)

    def _warn_unknown(self, kind: str, logs: dict) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        limit = _format_amount(kind, self.limits[kind])
        if kind == "cost" and "total_cost" in logs:
            _log.warning(
                "BudgetStopping: max_cost=%s cannot be enforced: the cost of this run is unknown (no price is "
                "known for a model it uses). Give the model its prices (LanguageModel(..., capabilities="
                "{'input_price_per_token': ..., 'output_price_per_token': ...})) or set max_tokens / max_calls.",
                limit)
        else:
            _log.warning("BudgetStopping: max_%s=%s cannot be enforced: the logs have no total_%s "
                         "(available: %s).", kind, limit, kind, ", ".join(sorted(logs)) or "(none)")
