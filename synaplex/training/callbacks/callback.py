"""Callback: the base class of training callbacks."""

from __future__ import annotations


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
