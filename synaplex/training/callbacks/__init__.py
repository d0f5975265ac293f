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

from synaplex.training.callbacks.backup_and_restore import (  # noqa: F401 - the backup format's constants too
    BACKUP_FORMAT,
    BACKUP_VERSION,
    BackupAndRestore,
)
from synaplex.training.callbacks.budget_stopping import BudgetStopping
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.callback_list import CallbackList
from synaplex.training.callbacks.csv_logger import CSVLogger
from synaplex.training.callbacks.early_stopping import EarlyStopping
from synaplex.training.callbacks.history import History
from synaplex.training.callbacks.identifiers import get
from synaplex.training.callbacks.lambda_callback import LambdaCallback
from synaplex.training.callbacks.progbar_logger import ProgbarLogger
from synaplex.training.callbacks.program_checkpoint import ProgramCheckpoint

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
    "get",
]
