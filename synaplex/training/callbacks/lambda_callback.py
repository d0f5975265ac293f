"""LambdaCallback: a callback made of functions."""

from __future__ import annotations

from collections.abc import Callable

from synaplex.backend.errors import InvalidInputError
from synaplex.training.callbacks.callback import Callback


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
