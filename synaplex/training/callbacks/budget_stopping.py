"""BudgetStopping: stop training before a spending budget is exceeded."""

from __future__ import annotations

import logging
import math

from synaplex.backend.errors import InvalidInputError
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

    A batch's spending is estimated by the largest batch so far, so a batch much larger
    than all before it (or an epoch's validation) can still go over.

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

    def on_train_begin(self, logs=None):
        self.largest_batch = {kind: 0 for kind in self.limits}
        self.stopped = False
        self.reason = None
        self._warned = set()

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
            self.stopped = True
            self.reason = reason
            _log.warning("%s Stopping training.", reason)
            request_stop(self.program, reason)
            return

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
