"""Training callbacks: hooks that ``fit`` / ``evaluate`` / ``predict`` call, the Keras way.

A callback subclasses :class:`Callback` and overrides the hooks it needs; ``fit`` calls them
in Keras order::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(batch) / on_train_batch_end(batch, logs)   # for each batch
      on_epoch_end(epoch, logs)
    on_train_end

The hooks are plain synchronous methods. ``logs`` is a dict of floats (or ``None`` where a
value is unknown, e.g. the cost of a model without a price):

- at ``on_train_batch_end``: the epoch's running means (``reward`` and each metric), the
  usage since the run began (``total_calls``, ``total_tokens``, ``total_cost``) and the
  batch's own (``batch_calls``, ``batch_tokens``, ``batch_cost``);
- at ``on_epoch_end``: the epoch's means, the validation ones prefixed ``val_``, the usage
  per phase (``inference_*``, ``reward_*``, ``optimizer_*``) and in all (``total_*``).

A callback stops training by setting ``self.program.stop_training = True`` (and, to say why,
``self.program.stop_reason = "..."``); ``fit`` checks after each batch and each epoch.

Built-ins: :class:`History` (always added by ``fit``), :class:`ProgbarLogger` (added when
``verbose`` > 0), :class:`CSVLogger`, :class:`EarlyStopping`, :class:`ProgramCheckpoint`,
:class:`BudgetStopping`, :class:`BackupAndRestore` and :class:`LambdaCallback`.
"""

from __future__ import annotations

import copy
import csv
import errno
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError, SavingError, SynaplexError
from synaplex.serialization import files

_log = logging.getLogger("synaplex.training")

__all__ = [
    "BackupAndRestore",
    "BudgetStopping",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ProgbarLogger",
    "ProgramCheckpoint",
]

# Names that contain one of these are maximized by mode="auto" (everything else, such as
# costs, tokens, calls and errors, is minimized).
_MAXIMIZED = ("reward", "accuracy", "f1", "precision", "recall")
_USAGE_SUFFIXES = ("_calls", "_tokens", "_cost")


class Callback:
    """The base class of training callbacks: every hook is a no-op.

    Attributes:
        program: the Program being trained (set by ``fit`` through :meth:`set_program`).
            ``model`` is a read-only alias, for code written for Keras.
        params: ``{"epochs": ..., "steps": ..., "verbose": ...}`` (``steps``: batches per
            epoch), set through :meth:`set_params`.

    Example:
        >>> class PrintReward(synaplex.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["reward"])
    """

    def __init__(self):
        self.program = None
        self.params: dict = {}

    def set_program(self, program) -> None:
        self.program = program

    def set_params(self, params: dict) -> None:
        self.params = dict(params or {})

    @property
    def model(self):
        """The program (Keras' name for it)."""
        return self.program

    # --- training ---------------------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once at the end of ``fit``."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of each epoch (``epoch`` counts from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of each epoch with its means, ``val_*`` and the usage."""

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Keras' older name for :meth:`on_train_batch_begin` (called by it)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras' older name for :meth:`on_train_batch_end` (called by it)."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each training batch (``batch`` counts from 0 in each epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each training batch with the running means and the usage."""
        self.on_batch_end(batch, logs=logs)

    # --- evaluation -------------------------------------------------------------------

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Called at the start of ``evaluate``."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """Called at the end of ``evaluate`` with its results."""

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each evaluation batch with the running means."""

    # --- prediction -------------------------------------------------------------------

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each prediction batch."""


class CallbackList(Callback):
    """Calls each hook on every callback, in order.

    As in Keras 3, the defaults are appended after the user's callbacks: first a
    :class:`History` (``add_history``, unless one is already there), then a
    :class:`ProgbarLogger` (``add_progbar``, unless one is already there). So a progress
    bar's epoch summary prints after what the user's callbacks print, and ``History`` sees
    the logs last.

    Args:
        callbacks: a Callback, a list of them, or ``None``.
        add_history, add_progbar: add the default callbacks.
        program: passed to every callback's ``set_program``.
        **params: passed to every callback's ``set_params`` (``epochs``, ``steps``, ``verbose``).
    """

    def __init__(self, callbacks: Any = None, add_history: bool = False, add_progbar: bool = False,
                 program: Any = None, **params):
        super().__init__()
        self.callbacks: list[Callback] = _callback_list(callbacks)
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        if program is not None:
            self.set_program(program)
        if params:
            self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.extend(_callback_list(callback))

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def set_program(self, program) -> None:
        super().set_program(program)
        for callback in self.callbacks:
            callback.set_program(program)

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def on_train_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        self.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_test_begin(logs)

    def on_test_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_test_batch_begin(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_test_batch_begin(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_test_batch_end(batch, logs)

    def on_predict_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_predict_begin(logs)

    def on_predict_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_predict_end(logs)

    def on_predict_batch_begin(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_predict_batch_begin(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_predict_batch_end(batch, logs)


def _callback_list(callbacks: Any) -> list[Callback]:
    if callbacks is None:
        return []
    items = list(callbacks) if isinstance(callbacks, (list, tuple, CallbackList)) else [callbacks]
    flat: list[Callback] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            flat.extend(_callback_list(item))
        elif isinstance(item, type) and issubclass(item, Callback):
            raise InvalidInputError(
                f"callbacks must hold Callback instances; got the class {item.__name__}: "
                f"pass {item.__name__}(...) instead.")
        elif not isinstance(item, Callback):
            raise InvalidInputError(
                f"callbacks must hold synaplex.callbacks.Callback instances; got {type(item).__name__}: "
                f"{item!r:.80}. Subclass synaplex.callbacks.Callback, or wrap functions in LambdaCallback.")
        else:
            flat.append(item)
    return flat


# --- History ------------------------------------------------------------------------------


class History(Callback):
    """Records each epoch's logs; ``fit`` adds one and returns it.

    Attributes:
        history: ``{name: [value per epoch]}``. Every list has one entry per recorded epoch:
            a name that appears late (or is missing at some epoch) holds ``None`` there.
        epoch: the epochs recorded (counting from 0).
        stop_reason: why training stopped early (copied from ``program.stop_reason`` at the
            end of training), or ``None``.

    Unlike Keras, ``on_train_begin`` does not clear ``epoch``: a History lives for one
    ``fit`` (``fit`` creates a fresh one), and a run resumed by :class:`BackupAndRestore`
    has its history restored before this callback's ``on_train_begin`` runs.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.stop_reason: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        recorded = len(self.epoch)
        self.epoch.append(epoch)
        for key, values in self.history.items():
            if key not in logs:
                values.append(None)
        for key, value in logs.items():
            if key in self.history:
                self.history[key].append(value)
            else:
                self.history[key] = [None] * recorded + [value]

    def on_train_end(self, logs=None):
        reason = getattr(self.program, "stop_reason", None)
        if reason:
            self.stop_reason = reason

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={sorted(self.history)}>"


# --- ProgbarLogger ------------------------------------------------------------------------

# The rich progress display that is live now (rich allows one at a time): a new one stops a
# leftover that an interrupted run left behind.
_ACTIVE_PROGRESS: list = []


def _stop_progress(progress) -> None:
    try:
        progress.stop()
    except Exception:  # a broken terminal must not hide the training's own outcome
        pass
    if progress in _ACTIVE_PROGRESS:
        _ACTIVE_PROGRESS.remove(progress)


def _is_usage(key: str) -> bool:
    return key.endswith(_USAGE_SUFFIXES) or key in ("errors", "val_errors")


def _format_number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _format_cost(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    if 0 < abs(cost) < 0.0001:
        return f"${cost:.2e}"
    return f"${cost:.4f}"


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _values_text(logs: dict) -> list[str]:
    """``reward 0.7500``, each metric, then the ``val_`` ones (usage left out)."""
    names = [k for k in logs if not _is_usage(k)]
    ordered = sorted(names, key=lambda k: (k.startswith("val_"), k.removeprefix("val_") != "reward", k))
    return [f"{name} {_format_number(logs[name])}" for name in ordered]


class ProgbarLogger(Callback):
    """A rich progress bar per epoch (batch i/steps, reward, metrics, cost, ETA) and one
    summary line per epoch.

    ``fit`` adds one when ``verbose`` > 0. When stdout is not a terminal (a CI log, a
    file, pytest's capture) the bar is not drawn: only the summary lines are printed. Also
    shows ``evaluate``'s and ``predict``'s batches when called outside ``fit``.

    Args:
        verbose: 0 prints nothing; 1 the bar and a summary line per epoch; 2 the summary
            lines only. ``None`` (the default) follows ``fit``'s ``verbose`` (1 if unset).
        console: a ``rich.console.Console`` to draw on (default: a new one on stdout).
    """

    def __init__(self, verbose: int | None = None, console: Any = None):
        super().__init__()
        if verbose not in (None, 0, 1, 2, "auto", True, False):
            raise InvalidInputError(f"ProgbarLogger verbose must be 0, 1 or 2, got {verbose!r}.")
        self.verbose = verbose
        self._console_arg = console
        self._console = None
        self._progress = None
        self._task = None
        self._in_fit = False
        self._started = 0.0
        self._done = 0
        self._epoch = 0
        self._description = ""
        self._previous_totals: dict = {}

    # --- state --------------------------------------------------------------------------

    def _verbosity(self) -> int:
        verbose = self.verbose
        if verbose is None:
            verbose = self.params.get("verbose", 1)
        if verbose == "auto" or verbose is None:
            return 1
        try:
            return int(verbose)
        except (TypeError, ValueError):
            return 1

    def _get_console(self):
        if self._console is None:
            if self._console_arg is not None:
                self._console = self._console_arg
            else:
                from rich.console import Console

                self._console = Console()
        return self._console

    def _open(self, description: str) -> None:
        """Start a phase (an epoch, an evaluation, a prediction): its clock, and its bar when
        it can be drawn."""
        self.close()
        self._started = time.monotonic()
        self._done = 0
        if self._verbosity() != 1:
            return
        console = self._get_console()
        if not (console.is_terminal or getattr(console, "is_jupyter", False)):
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=console, transient=True)
        while _ACTIVE_PROGRESS:  # _stop_progress removes it from the list
            _stop_progress(_ACTIVE_PROGRESS[0])
        try:
            progress.start()
        except Exception as error:  # e.g. another rich Live display of the user's is on
            _log.debug("ProgbarLogger: no progress bar (%s); summary lines only.", error)
            return
        _ACTIVE_PROGRESS.append(progress)
        self._progress = progress
        self._task = None
        self._description = description

    def _advance(self, batch: int, done: int, logs: dict | None) -> None:
        self._done = max(self._done, done)
        if self._progress is None:
            return
        steps = self.params.get("steps")
        try:
            if self._task is None:  # created at the first batch: a resumed epoch starts mid-way
                self._task = self._progress.add_task(self._description, total=steps, completed=batch, info="")
            self._progress.update(self._task, completed=done, info=self._bar_info(logs or {}))
        except Exception as error:
            _log.debug("ProgbarLogger: cannot update the progress bar (%s).", error)

    def _begin_batch(self, batch: int) -> None:
        self._advance(batch, batch, None)

    def _bar_info(self, logs: dict) -> str:
        parts = _values_text(logs)
        if "total_cost" in logs and logs["total_cost"] is not None:
            parts.append(_format_cost(logs["total_cost"]))
        elif logs.get("total_tokens") is not None:
            parts.append(f"{_format_number(logs['total_tokens'])} tokens")
        return " · ".join(parts)

    def close(self) -> None:
        """Stop the bar if one is drawn (idempotent; ``on_train_end`` calls it)."""
        if self._progress is not None:
            _stop_progress(self._progress)
        self._progress = None
        self._task = None

    def _print(self, text: str) -> None:
        if self._verbosity() <= 0:
            return
        try:
            self._get_console().print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception as error:
            _log.debug("ProgbarLogger: cannot print (%s).", error)

    def _steps_text(self) -> str:
        steps = self.params.get("steps")
        return f"{self._done}/{steps} batches" if steps else f"{self._done} batches"

    def _usage_text(self, logs: dict) -> list[str]:
        """This phase's calls, tokens and cost (the epoch's own: ``total_*`` minus the
        previous epoch's), then the run's total cost."""
        totals = {kind: logs.get(f"total_{kind}") for kind in ("calls", "tokens", "cost")}
        if all(key not in logs for key in ("total_calls", "total_tokens", "total_cost")):
            # evaluate's logs: usage per phase only; add them up
            totals = {}
            for kind in ("calls", "tokens", "cost"):
                values = [v for k, v in logs.items() if k.endswith(f"_{kind}") and not k.startswith(("val_", "batch_"))]
                if not values:
                    continue
                totals[kind] = None if any(v is None for v in values) else sum(values)
            return self._usage_parts(totals, {})
        parts = self._usage_parts(totals, self._previous_totals)
        if self._previous_totals and totals.get("cost") is not None:
            parts.append(f"run total {_format_cost(totals['cost'])}")
        self._previous_totals = totals
        return parts

    @staticmethod
    def _usage_parts(totals: dict, previous: dict) -> list[str]:
        parts = []

        def delta(kind):
            value = totals.get(kind)
            before = previous.get(kind, 0)
            if value is None or before is None:
                return None
            return value - before

        if totals.get("calls") is not None:
            parts.append(f"{_format_number(delta('calls'))} calls")
        if totals.get("tokens") is not None:
            parts.append(f"{_format_number(delta('tokens'))} tokens")
        if "cost" in totals:
            parts.append(_format_cost(delta("cost")))
        return parts

    # --- fit ------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._previous_totals = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        epochs = self.params.get("epochs")
        self._open(f"Epoch {epoch + 1}/{epochs}" if epochs else f"Epoch {epoch + 1}")

    def on_train_batch_begin(self, batch, logs=None):
        self._begin_batch(batch)

    def on_train_batch_end(self, batch, logs=None):
        self._advance(batch, batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.close()
        logs = logs or {}
        epochs = self.params.get("epochs")
        head = f"Epoch {epoch + 1}/{epochs}" if epochs else f"Epoch {epoch + 1}"
        elapsed = _format_seconds(time.monotonic() - self._started) if self._started else None
        parts = [head, self._steps_text()] + ([elapsed] if elapsed else [])
        parts += _values_text(logs)
        errors = logs.get("errors")
        if errors:
            parts.append(f"{_format_number(errors)} failed examples")
        parts += self._usage_text(logs)
        self._print(" · ".join(parts))
        self._started = 0.0

    def on_train_end(self, logs=None):
        self.close()
        if self._in_fit:
            reason = getattr(self.program, "stop_reason", None)
            if reason and getattr(self.program, "stop_training", False):
                self._print(f"Training stopped early: {reason}")
        self._in_fit = False

    # --- evaluate / predict (outside fit) ---------------------------------------------------

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._open("Evaluate")

    def on_test_batch_begin(self, batch, logs=None):
        if not self._in_fit:
            self._begin_batch(batch)

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._advance(batch, batch + 1, logs)

    def on_test_end(self, logs=None):
        if self._in_fit:
            return
        self.close()
        logs = logs or {}
        parts = ["Evaluate", self._steps_text(), _format_seconds(time.monotonic() - self._started)]
        parts += _values_text(logs)
        if logs.get("errors"):
            parts.append(f"{_format_number(logs['errors'])} failed examples")
        parts += self._usage_text(logs)
        self._print(" · ".join(parts))

    def on_predict_begin(self, logs=None):
        if not self._in_fit:
            self._open("Predict")

    def on_predict_batch_begin(self, batch, logs=None):
        if not self._in_fit:
            self._begin_batch(batch)

    def on_predict_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._advance(batch, batch + 1, None)

    def on_predict_end(self, logs=None):
        if self._in_fit:
            return
        self.close()
        self._print(" · ".join(["Predict", self._steps_text(), _format_seconds(time.monotonic() - self._started)]))

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# --- CSVLogger ----------------------------------------------------------------------------


class CSVLogger(Callback):
    """Writes one row per epoch to a CSV file.

    As in Keras, the header (``epoch``, then the first epoch's log names sorted) is written
    once, at the first epoch: a name that first appears later is not written (a warning
    names it), and a name missing at some epoch is written empty, as is ``None`` (an
    unknown cost). Lists and dicts are written as JSON.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file (its header is kept: not written again when the
            file has content) instead of overwriting it. Use ``append=True`` with
            :class:`BackupAndRestore`, so a resumed run keeps the earlier rows.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)) or not os.fspath(filename):
            raise InvalidInputError(f"CSVLogger filename must be a file path, got {filename!r}.")
        if not isinstance(separator, str) or len(separator) != 1:
            raise InvalidInputError(f"CSVLogger separator must be one character, got {separator!r}.")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None
        self._write_header = True
        self._warned: set[str] = set()

    def on_train_begin(self, logs=None):
        self._close()
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._file = _open_log(self.filename, self.append)
        # appending to a file with content: its header is already there
        self._write_header = not (self.append and os.fstat(self._file.fileno()).st_size > 0)
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:  # used without on_train_begin (a hand-written loop)
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(k for k in logs if k != "epoch")
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                          lineterminator="\n")
            if self._write_header:
                self._writer.writeheader()
        new = sorted(k for k in logs if k != "epoch" and k not in self.keys and k not in self._warned)
        if new:
            self._warned.update(new)
            _log.warning("CSVLogger(%r): %s first appeared at epoch %d, after the header was written; "
                         "not written to the CSV file (History has them).", self.filename, new, epoch + 1)
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key))) for key in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
                self._writer = None

    def __del__(self):
        try:
            self._close()
        except Exception:
            pass


def _open_log(filename: str, append: bool):
    """Open the log for writing, never through a symbolic link: a link planted at the log's
    path would make ``"w"`` truncate whatever file it points to."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC) | nofollow | getattr(os, "O_CLOEXEC", 0)
    try:
        if not nofollow and os.path.islink(filename):  # no O_NOFOLLOW (Windows): check first
            raise OSError(errno.ELOOP, "symbolic link")
        descriptor = os.open(filename, flags, 0o666)
    except OSError as error:
        if os.path.islink(filename):
            raise SavingError(
                f"CSVLogger will not write to {filename!r}: it is a symbolic link (to {os.readlink(filename)!r}), "
                "and writing through it could overwrite another file. Remove the link or log to another path.",
                path=filename) from None
        raise SavingError(f"CSVLogger cannot open {filename!r}: {error.strerror or error}.", path=filename) from None
    return os.fdopen(descriptor, "a" if append else "w", newline="", encoding="utf-8")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


# --- monitoring helpers -------------------------------------------------------------------


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise InvalidInputError(f"{who} mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    name = monitor.lower()
    return "max" if any(word in name for word in _MAXIMIZED) else "min"


def _check_monitor(monitor: Any, who: str) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise InvalidInputError(f"{who} monitor must be the name of a log value (e.g. 'val_reward'), got {monitor!r}.")
    return monitor


def _monitor_value(monitor: str, logs: dict, who: str) -> float | None:
    value = logs.get(monitor)
    if value is None:
        available = ", ".join(sorted(logs)) or "(none)"
        hint = (" Validation values (val_*) need fit(validation_data=...) or validation_split; or monitor 'reward'."
                if monitor.startswith("val_") and not any(k.startswith("val_") for k in logs) else "")
        state = "is None" if monitor in logs else "is not available"
        warnings.warn(f"{who} is conditioned on {monitor!r}, which {state}. Available values are: {available}.{hint}",
                      UserWarning, stacklevel=3)
        return None
    if isinstance(value, float) and math.isnan(value):
        warnings.warn(f"{who}: {monitor!r} is NaN; this epoch is not compared.", UserWarning, stacklevel=3)
        return None
    return value


def _snapshot(program) -> dict | None:
    items = getattr(program, "trainable_variable_items", None)
    if items is None:
        return None
    return {path: copy.deepcopy(dict(variable.get_json())) for path, variable in items()}


def _restore(program, snapshot: dict) -> None:
    variables = dict(program.trainable_variable_items())
    for path, value in snapshot.items():
        if path in variables:
            variables[path].assign(copy.deepcopy(value))


def _request_stop(program, reason: str) -> None:
    if program is None:
        return
    program.stop_training = True
    if not getattr(program, "stop_reason", None):  # the first reason given wins
        program.stop_reason = reason


# --- EarlyStopping ------------------------------------------------------------------------


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
        restore_best_weights: at the end of training, put back the trainable variables of
            the best epoch.
        start_from_epoch: epochs of warm-up before monitoring begins.
        verbose: 1 prints when it stops and when it restores.

    A missing monitored value warns (naming the values there are) and skips that epoch.
    """

    def __init__(self, monitor: str = "val_reward", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.monitor = _check_monitor(monitor, "EarlyStopping")
        if not _is_number(min_delta):
            raise InvalidInputError(f"EarlyStopping min_delta must be a number, got {min_delta!r}.")
        if not _is_int(patience) or patience < 0:
            raise InvalidInputError(f"EarlyStopping patience must be an integer >= 0, got {patience!r}.")
        if not _is_int(start_from_epoch) or start_from_epoch < 0:
            raise InvalidInputError(f"EarlyStopping start_from_epoch must be an integer >= 0, got {start_from_epoch!r}.")
        if baseline is not None and not _is_number(baseline):
            raise InvalidInputError(f"EarlyStopping baseline must be a number or None, got {baseline!r}.")
        self.mode = _resolve_mode(mode, self.monitor, "EarlyStopping")
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

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
        current = _monitor_value(self.monitor, logs or {}, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _snapshot(self.program)  # the first epoch seen is the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.program)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            target = "improve" if self.baseline is None else f"reach the baseline {self.baseline}"
            _request_stop(self.program,
                          f"EarlyStopping: {self.monitor} did not {target} for {self.wait} epoch(s) "
                          f"(best {_format_number(self.best)} at epoch {self.best_epoch + 1}).")

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None and self.program is not None:
            if self.verbose > 0:
                print(f"Restoring the program's variables from the end of the best epoch: {self.best_epoch + 1}.")
            _restore(self.program, self.best_weights)


# --- ProgramCheckpoint --------------------------------------------------------------------


class ProgramCheckpoint(Callback):
    """Saves the program at each epoch's end (or only when it improves).

    Args:
        filepath: where to save; may hold ``{epoch}`` (counting from 1) and any log name,
            with format specs: ``"ckpt_{epoch:02d}_{val_reward:.2f}.json"``.
        monitor: the log compared with ``save_best_only``.
        mode: ``"max"``, ``"min"`` or ``"auto"`` (the default: maximized for names with
            ``reward``, ``accuracy``, ``f1``, ``precision`` or ``recall``).
        save_best_only: save only when ``monitor`` beats the best value so far (strictly).
        save_variables_only: ``program.save_variables`` (the trainable state only) instead
            of ``program.save`` (the whole program).
        initial_value_threshold: the value to beat before the first save with
            ``save_best_only``.
        verbose: 1 prints each save (and each non-improvement).

    Attributes:
        best: the best monitored value so far (kept across ``fit`` calls, as in Keras).
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_reward", mode: str = "auto",
                 save_best_only: bool = False, save_variables_only: bool = False, verbose: int = 0,
                 initial_value_threshold: float | None = None):
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
            raise InvalidInputError(f"ProgramCheckpoint filepath must be a file path, got {filepath!r}.")
        if initial_value_threshold is not None and not _is_number(initial_value_threshold):
            raise InvalidInputError(
                f"ProgramCheckpoint initial_value_threshold must be a number, got {initial_value_threshold!r}.")
        self.filepath = os.fspath(filepath)
        self.monitor = _check_monitor(monitor, "ProgramCheckpoint")
        self.mode = _resolve_mode(mode, self.monitor, "ProgramCheckpoint")
        self.save_best_only = save_best_only
        self.save_variables_only = save_variables_only
        self.verbose = verbose
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        else:
            self.best = -math.inf if self.mode == "max" else math.inf

    def _improves(self, value: float) -> bool:
        return value > self.best if self.mode == "max" else value < self.best

    def _file_path(self, epoch: int, logs: dict) -> str:
        try:
            return self.filepath.format(**{**logs, "epoch": epoch + 1})
        except KeyError as error:
            raise InvalidInputError(
                f"ProgramCheckpoint cannot format filepath {self.filepath!r}: no log named {error.args[0]!r} "
                f"at epoch {epoch + 1}. Available: epoch, {', '.join(sorted(logs))}.") from None
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

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self.save_best_only:
            path = self._file_path(epoch, logs)
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: saving the program to {path}")
            self._save(path)
            return
        current = _monitor_value(self.monitor, logs, "ProgramCheckpoint")
        if current is None:
            return
        if self._improves(current):
            path = self._file_path(epoch, logs)
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {_format_number(self.best)} to "
                      f"{_format_number(current)}, saving the program to {path}")
            self.best = current
            self._save(path)
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {_format_number(self.best)}")


# --- BudgetStopping -----------------------------------------------------------------------


_BUDGET_UNITS = {"cost": "", "tokens": " tokens", "calls": " calls"}


def _format_amount(kind: str, value: float) -> str:
    return _format_cost(value) if kind == "cost" else f"{_format_number(value)}{_BUDGET_UNITS[kind]}"


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
            if not _is_number(value) or math.isnan(value):
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
            _request_stop(self.program, reason)
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


# --- BackupAndRestore ---------------------------------------------------------------------


BACKUP_FORMAT = "synaplex.training_backup"
BACKUP_VERSION = 1


class BackupAndRestore(Callback):
    """Backs the training run up as it goes, so an interrupted ``fit`` resumes where it
    stopped (same epoch, same batch, same shuffle order, the optimizer's state, the
    history) when run again with the same ``backup_dir``.

    ``backup_dir/backup.json`` is rewritten atomically (a temporary file, then
    ``os.replace``) after each batch and each epoch. At the start of training, an existing
    backup is restored. When training ends normally the file is deleted (with
    ``delete_checkpoint``); a run that ended on an error keeps it.

    Args:
        backup_dir: the folder of the backup (created when needed). Use one per run.
        delete_checkpoint: delete the backup once training has finished.

    Attributes:
        restored: whether this run resumed from a backup.
    """

    FILENAME = "backup.json"

    def __init__(self, backup_dir: str | os.PathLike, delete_checkpoint: bool = True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise InvalidInputError(f"BackupAndRestore backup_dir must be a folder path, got {backup_dir!r}.")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self.restored = False

    @property
    def filepath(self) -> str:
        return os.path.join(self.backup_dir, self.FILENAME)

    def _check_program(self, method: str) -> Callable:
        function = getattr(self.program, method, None)
        if function is None:
            raise InvalidInputError(
                f"BackupAndRestore needs a program whose fit can back up and resume (it has no {method}); "
                f"got {self.program!r:.80}.")
        return function

    def on_train_begin(self, logs=None):
        self.restored = False
        path = self.filepath
        if not os.path.exists(path):
            return
        state = self._read(path)
        restore = self._check_program("_restore_training_state")
        try:
            restore(state)
        except SynaplexError:
            raise
        except Exception as error:
            raise SavingError(
                f"Cannot resume training from the backup {path!r}: {type(error).__name__}: {error}. "
                "Was it written by a run of this same program? Delete the file to start over.", path=path) from error
        self.restored = True
        _log.info("BackupAndRestore: resumed training from %s (epoch %s, batch %s).", path,
                  _epoch_text(state.get("epoch")), state.get("batch"))

    def on_train_batch_end(self, batch, logs=None):
        self._write()

    def on_epoch_end(self, epoch, logs=None):
        self._write()

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and getattr(self.program, "_training_finished", False):
            try:
                os.remove(self.filepath)
            except FileNotFoundError:
                pass

    def _read(self, path: str) -> dict:
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError, or a number too long to read
            raise SavingError(
                f"The training backup {path!r} is corrupt (not valid JSON: {error}). Delete it to start training "
                "over, or point BackupAndRestore at another backup_dir.", path=path) from None
        except RecursionError:
            data = None
            deep = True
        except OSError as error:
            raise SavingError(f"Cannot read the training backup {path!r}: {error}.", path=path) from None
        else:
            deep = files.too_deep(data)
        if deep:
            raise SavingError(
                f"The training backup {path!r} is corrupt (its JSON is nested more than {files.MAX_NESTING} levels "
                "deep). Delete it to start training over.", path=path)
        if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT or not isinstance(data.get("state"), dict):
            raise SavingError(
                f"The training backup {path!r} is corrupt or not a synaplex training backup (expected "
                f"an object with format {BACKUP_FORMAT!r} and a 'state'). Delete it to start training over.",
                path=path)
        if data.get("version", BACKUP_VERSION) > BACKUP_VERSION:
            raise SavingError(f"The training backup {path!r} has version {data.get('version')}, newer than this "
                              f"synaplex reads ({BACKUP_VERSION}). Upgrade synaplex, or delete it.", path=path)
        return data["state"]

    def _write(self) -> None:
        state = self._check_program("_training_state")()
        try:
            text = json.dumps({"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "state": state},
                              ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise SavingError(f"Cannot write the training backup {self.filepath!r}: the training state is not "
                              f"JSON-serializable ({error}).", path=self.filepath) from None
        # a temporary file, fsync, rename, fsync of the folder; a killed write's temporary
        # file is removed by the next write
        files.write_text_atomically(self.filepath, text)


def _epoch_text(epoch: Any) -> str:
    return str(epoch + 1) if isinstance(epoch, int) else str(epoch)


# --- LambdaCallback -----------------------------------------------------------------------


class LambdaCallback(Callback):
    """A callback made of functions, for quick hooks.

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        (and the ``test`` / ``predict`` twins.)

    Example:
        >>> synaplex.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs["reward"]))
    """

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
              "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
              "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")

    def __init__(self, **hooks: Callable):
        super().__init__()
        unknown = sorted(set(hooks) - set(self._HOOKS))
        if unknown:
            raise InvalidInputError(f"LambdaCallback got unknown hooks {unknown}; the hooks are {list(self._HOOKS)}.")
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise InvalidInputError(f"LambdaCallback {name} must be a function, got {function!r:.80}.")
            setattr(self, name, function)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
