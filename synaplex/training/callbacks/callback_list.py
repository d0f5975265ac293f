"""CallbackList: the callbacks of one run, each hook called on every one of them in order."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.callbacks.callback import Callback
from synaplex.training.callbacks.history import History
from synaplex.training.callbacks.identifiers import get as get_callback
from synaplex.training.callbacks.progbar_logger import ProgbarLogger


class CallbackList(Callback):
    """Calls each hook on every callback, in order.

    As in Keras 3, the defaults are appended after the user's callbacks: first a
    :class:`History` (``add_history``, unless one is already there), then a
    :class:`ProgbarLogger` (``add_progbar``, unless one is already there). So a progress
    bar's epoch summary prints after what the user's callbacks print, and ``History`` sees
    the logs last.

    Args:
        callbacks: a Callback, a list of them (Callbacks or their string ids, e.g.
            ``"early_stopping"``), or ``None``.
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
        elif isinstance(item, str):  # a callback id: "early_stopping", "EarlyStopping"
            flat.append(get_callback(item))
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
