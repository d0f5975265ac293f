"""CSVLogger: one row per epoch in a CSV file."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
from typing import Any

from synaplex.backend.errors import InvalidInputError, SavingError
from synaplex.training.callbacks.callback import Callback

_log = logging.getLogger("synaplex.training")


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
