"""EarlyStopping: stop training when a monitored value has stopped improving."""

from __future__ import annotations

from synaplex.backend.errors import InvalidInputError
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.formatting import format_number
from synaplex.training.callbacks.monitoring import (
    check_monitor,
    is_int,
    is_number,
    monitor_value,
    request_stop,
    resolve_mode,
    restore_variables,
    snapshot_variables,
)


class EarlyStopping(Callback):
    """Stops training when a monitored value has stopped improving (Keras semantics).

    At each epoch's end (from ``start_from_epoch`` on) the monitored value is compared with
    the best so far: it improves when it beats it by more than ``min_delta``. After
    ``patience`` epochs without improvement (never at the first epoch), training stops.
    With a ``baseline``, the patience counter is only reset by a value that also beats it.

    Args:
        monitor: the log to watch (``"val_reward"`` by default: give ``fit`` validation
            data, or monitor ``"reward"``).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"max"``, ``"min"``, or ``"auto"``: maximized for names containing
            ``reward``, ``accuracy``, ``f1``, ``precision`` or ``recall``, minimized otherwise
            (costs, tokens, calls, errors).
        baseline: a value to reach; training stops after ``patience`` epochs without
            reaching it.
        stop_at: a target: training stops as soon as the monitored value reaches it (``>=``
            in mode ``"max"``, ``<=`` in mode ``"min"``). The default ``"auto"`` is Synalinks'
            ``1.0`` in mode ``"max"`` (a perfect reward or score) and no target in mode
            ``"min"``; ``None``: no target.
        restore_best_variables: at the end of training, put back the trainable variables of
            the best epoch (Synalinks' name; ``restore_best_weights``, Keras' name, is the same).
        start_from_epoch: epochs of warm-up before monitoring begins.
        verbose: 1 prints when it stops and when it restores.

    A missing monitored value warns (naming the values there are) and skips that epoch.
    """

    def __init__(self, monitor: str = "val_reward", min_delta: float = 0, stop_at: float | str | None = "auto",
                 patience: int = 0, verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_variables: bool = False, start_from_epoch: int = 0,
                 restore_best_weights: bool | None = None):
        super().__init__()
        if restore_best_weights is not None:
            if restore_best_variables and not restore_best_weights:
                raise InvalidInputError(
                    "EarlyStopping got restore_best_variables=True and restore_best_weights=False: they are the same "
                    "option (Synalinks' and Keras' names); give one.")
            restore_best_variables = restore_best_weights
        if not isinstance(restore_best_variables, bool):
            raise InvalidInputError(
                f"EarlyStopping restore_best_variables must be True or False, got {restore_best_variables!r}.")
        if stop_at is not None and stop_at != "auto" and not is_number(stop_at):
            raise InvalidInputError(
                f"EarlyStopping stop_at must be a number (the value to stop at), 'auto' or None, got {stop_at!r}.")
        self.monitor = check_monitor(monitor, "EarlyStopping")
        if not is_number(min_delta):
            raise InvalidInputError(f"EarlyStopping min_delta must be a number, got {min_delta!r}.")
        if not is_int(patience) or patience < 0:
            raise InvalidInputError(f"EarlyStopping patience must be an integer >= 0, got {patience!r}.")
        if not is_int(start_from_epoch) or start_from_epoch < 0:
            raise InvalidInputError(
                f"EarlyStopping start_from_epoch must be an integer >= 0, got {start_from_epoch!r}.")
        if baseline is not None and not is_number(baseline):
            raise InvalidInputError(f"EarlyStopping baseline must be a number or None, got {baseline!r}.")
        self.mode = resolve_mode(mode, self.monitor, "EarlyStopping")
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_variables = restore_best_variables
        if stop_at == "auto":
            stop_at = 1.0 if self.mode == "max" else None
        self.stop_at = stop_at
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    @property
    def restore_best_weights(self) -> bool:
        """Keras' name of :attr:`restore_best_variables`."""
        return self.restore_best_variables

    @restore_best_weights.setter
    def restore_best_weights(self, value: bool) -> None:
        self.restore_best_variables = value

    @property
    def best_variables(self):
        """Synalinks' name of :attr:`best_weights` (the best epoch's variables)."""
        return self.best_weights

    def _reached(self, value: float) -> bool:
        if self.stop_at is None:
            return False
        return value >= self.stop_at if self.mode == "max" else value <= self.stop_at

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "max":
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = monitor_value(self.monitor, logs or {}, "EarlyStopping")
        if current is None:
            return
        if self._reached(current):
            if self.restore_best_variables and self._is_improvement(current, self.best):
                self.best, self.best_epoch = current, epoch
                self.best_weights = snapshot_variables(self.program)
            self.stopped_epoch = epoch
            request_stop(self.program, f"EarlyStopping: {self.monitor} reached stop_at={self.stop_at} "
                                       f"({format_number(current)} at epoch {epoch + 1}).")
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_variables and self.best_weights is None:
            self.best_weights = snapshot_variables(self.program)  # the first epoch seen is the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_variables:
                self.best_weights = snapshot_variables(self.program)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            target = "improve" if self.baseline is None else f"reach the baseline {self.baseline}"
            request_stop(self.program,
                          f"EarlyStopping: {self.monitor} did not {target} for {self.wait} epoch(s) "
                          f"(best {format_number(self.best)} at epoch {self.best_epoch + 1}).")

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_variables and self.best_weights is not None and self.program is not None:
            if self.verbose > 0:
                print(f"Restoring the program's variables from the end of the best epoch: {self.best_epoch + 1}.")
            restore_variables(self.program, self.best_weights)
