"""The callbacks' string ids: ``fit(callbacks=["early_stopping"])`` and ``synaplex.callbacks.get``."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.callbacks.backup_and_restore import BackupAndRestore
from synaplex.training.callbacks.budget_stopping import BudgetStopping
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.csv_logger import CSVLogger
from synaplex.training.callbacks.early_stopping import EarlyStopping
from synaplex.training.callbacks.history import History
from synaplex.training.callbacks.lambda_callback import LambdaCallback
from synaplex.training.callbacks.progbar_logger import ProgbarLogger
from synaplex.training.callbacks.program_checkpoint import ProgramCheckpoint
from synaplex.training.lookup import Lookup

LOOKUP = Lookup(
    "callback",
    [EarlyStopping, History, ProgbarLogger],
    needs_arguments={
        ProgramCheckpoint: "it needs a file path: ProgramCheckpoint(filepath='checkpoints/{epoch:02d}.json').",
        BackupAndRestore: "it needs a folder: BackupAndRestore(backup_dir='backup').",
        CSVLogger: "it needs a file name: CSVLogger(filename='training.csv').",
        BudgetStopping: "it needs a budget: BudgetStopping(max_cost=1.0) (or max_tokens=, max_calls=).",
        LambdaCallback: "it needs the hooks: LambdaCallback(on_epoch_end=lambda epoch, logs: ...).",
        Callback: "it is the base class: subclass it.",
    },
    hint="or pass a Callback instance (e.g. synaplex.callbacks.EarlyStopping(patience=2))")


def get(identifier: Any) -> Callback:
    """A callback from an instance (returned as is), a callback class, or its string id
    (``"early_stopping"``, ``"EarlyStopping"``, ``"history"``, ``"progbar_logger"``), built with
    its defaults. An unknown id raises ``UnknownIdentifierError`` listing the valid ones.

    Example:
        >>> synaplex.callbacks.get("early_stopping")
    """
    if isinstance(identifier, Callback):
        return identifier
    if isinstance(identifier, str):
        return LOOKUP.resolve(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Callback):
        return LOOKUP.resolve(identifier.__name__) if LOOKUP.find(identifier.__name__) is identifier \
            else identifier()
    raise InvalidInputError(
        f"Cannot use {identifier!r:.80} as a callback: pass a synaplex.callbacks.Callback instance or a callback id "
        f"({', '.join(map(repr, LOOKUP.names))}). Wrap functions in LambdaCallback.")
