"""What the callbacks that watch the logs share: checking their arguments, reading the monitored
value, its direction (``mode``), a copy of the trainable variables, and asking training to stop."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

from synaplex.backend.errors import InvalidInputError

# Names that contain one of these are maximized by mode="auto" (everything else, such as
# costs, tokens, calls and errors, is minimized).
MAXIMIZED = ("reward", "accuracy", "f1", "precision", "recall")


def resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise InvalidInputError(f"{who} mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    name = monitor.lower()
    return "max" if any(word in name for word in MAXIMIZED) else "min"


def check_monitor(monitor: Any, who: str) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise InvalidInputError(f"{who} monitor must be the name of a log value (e.g. 'val_reward'), got {monitor!r}.")
    return monitor


def monitor_value(monitor: str, logs: dict, who: str) -> float | None:
    value = logs.get(monitor)
    if value is None:
        available = ", ".join(sorted(logs)) or "(none)"
        hint = (" Validation values (val_*) need fit(validation_data=...) or validation_split; or monitor 'reward'."
                if monitor.startswith("val_") and not any(k.startswith("val_") for k in logs) else "")
        state = "is None" if monitor in logs else "is not available"
        warnings.warn(f"{who} is conditioned on {monitor!r}, which {state}. Available values are: {available}.{hint}",
                      UserWarning, stacklevel=3)
        return None
    if isinstance(value, (list, tuple, dict)):
        raise InvalidInputError(
            f"{who} monitors {monitor!r}, which holds one value per field or label ({value!r:.80}), not one number. "
            "Give the metric an average (e.g. F1Score(average='micro')) or monitor another value.")
    if isinstance(value, float) and math.isnan(value):
        warnings.warn(f"{who}: {monitor!r} is NaN; this epoch is not compared.", UserWarning, stacklevel=3)
        return None
    return value


def snapshot_variables(program) -> dict | None:
    items = getattr(program, "trainable_variable_items", None)
    if items is None:
        return None
    return {path: copy.deepcopy(dict(variable.get_json())) for path, variable in items()}


def restore_variables(program, snapshot: dict) -> None:
    variables = dict(program.trainable_variable_items())
    for path, value in snapshot.items():
        if path in variables:
            variables[path].assign(copy.deepcopy(value))


def request_stop(program, reason: str) -> None:
    if program is None:
        return
    program.stop_training = True
    if not getattr(program, "stop_reason", None):  # the first reason given wins
        program.stop_reason = reason


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_save_freq(save_freq: Any, who: str) -> str | int:
    """``"epoch"`` or a positive integer (a number of batches), as in Keras."""
    if save_freq == "epoch" or (is_int(save_freq) and save_freq >= 1):
        return save_freq
    raise InvalidInputError(
        f"{who} save_freq must be 'epoch' (save at each epoch's end) or a positive integer (save every that many "
        f"batches), got {save_freq!r}.")


class BatchCounter:
    """Keras' count of batches for ``save_freq=N``: it carries over epochs, and says when N
    batches have passed since the last save."""

    def __init__(self, save_freq: str | int):
        self.save_freq = save_freq
        self.since_last_save = 0
        self.last_batch = 0

    def reset(self) -> None:
        self.since_last_save = 0
        self.last_batch = 0

    def due(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        added = batch + 1 if batch <= self.last_batch else batch - self.last_batch  # batch <= last: a new epoch
        self.since_last_save += added
        self.last_batch = batch
        if self.since_last_save >= self.save_freq:
            self.since_last_save = 0
            return True
        return False
