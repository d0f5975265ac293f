"""ProgbarLogger: a progress bar per epoch and a summary line, drawn with rich."""

from __future__ import annotations

import logging
import time
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.formatting import format_cost, format_number

_log = logging.getLogger("synaplex.training")

_USAGE_SUFFIXES = ("_calls", "_tokens", "_cost")

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
    return [f"{name} {format_number(logs[name])}" for name in ordered]


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
                from rich.console import Console  # noqa: PLC0415 - rich loads when something is shown

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
        from rich.progress import (  # noqa: PLC0415 - rich loads when a bar is drawn
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
            parts.append(format_cost(logs["total_cost"]))
        elif logs.get("total_tokens") is not None:
            parts.append(f"{format_number(logs['total_tokens'])} tokens")
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
            parts.append(f"run total {format_cost(totals['cost'])}")
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
            parts.append(f"{format_number(delta('calls'))} calls")
        if totals.get("tokens") is not None:
            parts.append(f"{format_number(delta('tokens'))} tokens")
        if "cost" in totals:
            parts.append(format_cost(delta("cost")))
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
            parts.append(f"{format_number(errors)} failed examples")
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
            parts.append(f"{format_number(logs['errors'])} failed examples")
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
