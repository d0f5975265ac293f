"""BackupAndRestore: back a training run up as it goes, and resume it where it stopped."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError, SavingError, SynaplexError
from synaplex.serialization import files
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.monitoring import BatchCounter, check_save_freq

_log = logging.getLogger("synaplex.training")

BACKUP_FORMAT = "synaplex.training_backup"
BACKUP_VERSION = 1


class BackupAndRestore(Callback):
    """Backs the training run up as it goes, so an interrupted ``fit`` resumes where it
    stopped (same epoch, same batch, same shuffle order, the optimizer's state, the
    history) when run again with the same ``backup_dir``.

    ``backup_dir/backup.json`` is rewritten atomically (a temporary file, then
    ``os.replace``) after every ``save_freq`` batches and at each epoch's end (with the default
    ``save_freq=1``: after each batch and each epoch). At the start of training, an existing
    backup is restored. When training ends normally the file is deleted (with
    ``delete_checkpoint``); a run that ended on an error keeps it.

    Args:
        backup_dir: the folder of the backup (created when needed). Use one per run.
        save_freq: an integer N (default 1): back up every N batches (counted across epochs,
            as in Keras) and at each epoch's end; ``"epoch"``: only at each epoch's end (an
            interrupted run then resumes at the start of the epoch it was in).
        double_checkpoint: accepted for Synalinks' signature (a bool). What it protects
            against, a backup left half-written by a crash, cannot happen here: each backup is
            written to a temporary file and renamed over the previous one, so the last
            complete backup is always there.
        delete_checkpoint: delete the backup once training has finished.

    Attributes:
        restored: whether this run resumed from a backup.
    """

    FILENAME = "backup.json"

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int = 1, double_checkpoint: bool = False,
                 delete_checkpoint: bool = True):
        super().__init__()
        if not isinstance(double_checkpoint, bool):
            raise InvalidInputError(
                f"BackupAndRestore double_checkpoint must be True or False, got {double_checkpoint!r}.")
        self.double_checkpoint = double_checkpoint
        self.save_freq = check_save_freq(save_freq, "BackupAndRestore")
        self._counter = BatchCounter(self.save_freq)
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
        self._counter.reset()
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
        if self._counter.due(batch):
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
