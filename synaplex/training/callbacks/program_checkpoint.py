"""ProgramCheckpoint: save the program at each epoch's end (or every N batches), or when it improves."""

from __future__ import annotations

import math
import os

from synaplex.backend.errors import InvalidInputError
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.formatting import format_number
from synaplex.training.callbacks.monitoring import (
    BatchCounter,
    check_monitor,
    check_save_freq,
    is_number,
    monitor_value,
    resolve_mode,
)


class ProgramCheckpoint(Callback):
    """Saves the program at each epoch's end, or every ``save_freq`` batches (or only when it
    improves).

    Args:
        filepath: where to save; may hold ``{epoch}`` (counting from 1), ``{batch}`` (counting
            from 1, with an integer ``save_freq``) and any log name, with format specs:
            ``"ckpt_{epoch:02d}_{val_reward:.2f}.json"``.
        monitor: the log compared with ``save_best_only``.
        mode: ``"max"``, ``"min"`` or ``"auto"`` (the default: maximized for names with
            ``reward``, ``accuracy``, ``f1``, ``precision`` or ``recall``).
        save_best_only: save only when ``monitor`` beats the best value so far (strictly).
        save_variables_only: ``program.save_variables`` (the trainable state only) instead
            of ``program.save`` (the whole program).
        initial_value_threshold: the value to beat before the first save with
            ``save_best_only``.
        verbose: 1 prints each save (and each non-improvement).
        save_freq: ``"epoch"`` (default): save at each epoch's end; an integer N: save every
            N batches (counted across epochs, as in Keras), with the batch's logs (the
            epoch's running means so far; no ``val_*`` values there).

    Attributes:
        best: the best monitored value so far (kept across ``fit`` calls, as in Keras).
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_reward", mode: str = "auto",
                 save_best_only: bool = False, save_variables_only: bool = False, verbose: int = 0,
                 initial_value_threshold: float | None = None, save_freq: str | int = "epoch"):
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
            raise InvalidInputError(f"ProgramCheckpoint filepath must be a file path, got {filepath!r}.")
        if initial_value_threshold is not None and not is_number(initial_value_threshold):
            raise InvalidInputError(
                f"ProgramCheckpoint initial_value_threshold must be a number, got {initial_value_threshold!r}.")
        self.filepath = os.fspath(filepath)
        self.save_freq = check_save_freq(save_freq, "ProgramCheckpoint")
        self._counter = BatchCounter(self.save_freq)
        self._epoch = 0
        self.monitor = check_monitor(monitor, "ProgramCheckpoint")
        self.mode = resolve_mode(mode, self.monitor, "ProgramCheckpoint")
        self.save_best_only = save_best_only
        self.save_variables_only = save_variables_only
        self.verbose = verbose
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        else:
            self.best = -math.inf if self.mode == "max" else math.inf

    def _improves(self, value: float) -> bool:
        return value > self.best if self.mode == "max" else value < self.best

    def _file_path(self, epoch: int, logs: dict, batch: int | None = None) -> str:
        names = {**logs, "epoch": epoch + 1}
        if batch is not None:
            names["batch"] = batch + 1
        try:
            return self.filepath.format(**names)
        except KeyError as error:
            raise InvalidInputError(
                f"ProgramCheckpoint cannot format filepath {self.filepath!r}: no log named {error.args[0]!r} "
                f"at epoch {epoch + 1}. Available: {', '.join(['epoch'] + (['batch'] if batch is not None else []))}, "
                f"{', '.join(sorted(logs))}.") from None
        except (TypeError, ValueError, IndexError, AttributeError) as error:
            raise InvalidInputError(
                f"ProgramCheckpoint cannot format filepath {self.filepath!r} at epoch {epoch + 1}: {error} "
                "(a value that is None, e.g. an unknown cost, cannot take a number format).") from None

    def _save(self, path: str) -> None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_variables_only:
            self.program.save_variables(path)
        else:
            self.program.save(path)

    def on_train_begin(self, logs=None):
        self._counter.reset()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter.due(batch):
            self._maybe_save(self._epoch, logs or {}, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._maybe_save(epoch, logs or {})

    def _maybe_save(self, epoch: int, logs: dict, batch: int | None = None) -> None:
        where = f"Epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
        if not self.save_best_only:
            path = self._file_path(epoch, logs, batch)
            if self.verbose > 0:
                print(f"{where}: saving the program to {path}")
            self._save(path)
            return
        current = monitor_value(self.monitor, logs, "ProgramCheckpoint")
        if current is None:
            return
        if self._improves(current):
            path = self._file_path(epoch, logs, batch)
            if self.verbose > 0:
                print(f"{where}: {self.monitor} improved from {format_number(self.best)} to "
                      f"{format_number(current)}, saving the program to {path}")
            self.best = current
            self._save(path)
        elif self.verbose > 0:
            print(f"{where}: {self.monitor} did not improve from {format_number(self.best)}")
