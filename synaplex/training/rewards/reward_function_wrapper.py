"""RewardFunctionWrapper (and MeanRewardWrapper, its Synalinks name): a reward from a function."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.function_wrapping import FunctionWrapping
from synaplex.training.rewards.reward import Reward


class RewardFunctionWrapper(FunctionWrapping, Reward):
    """A reward from a function ``fn(y_true, y_pred, **kwargs)``, async or not.

    ``fn`` receives the masked plain dicts (``y_true`` may be ``None`` when there is no
    ground truth; ``y_pred`` never is) and returns a number in [0, 1]. To save a program
    compiled with it, register the function with
    ``@synaplex.saving.register_synaplex_serializable()``; saving with an unregistered
    function (a lambda, a local function) raises a ``SavingError`` that says so.

    Args:
        fn: the reward function.
        name: the reward's name (default: the function's name).
        in_mask, out_mask: see :class:`Reward`.
        **kwargs: extra keyword arguments passed to ``fn`` on every call (saved with it, so
            they must be JSON values or serializable synaplex objects).

    Example:
        >>> @synaplex.saving.register_synaplex_serializable()
        ... async def my_reward(y_true, y_pred):
        ...     return 1.0 if y_true.get("answer") == y_pred.get("answer") else 0.0
        >>> synaplex.rewards.RewardFunctionWrapper(my_reward)
    """

    def __init__(self, fn: Any = None, name: str | None = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None, **kwargs: Any):
        if not callable(fn):
            raise InvalidInputError(
                f"{type(self).__name__}: fn must be a function fn(y_true, y_pred) returning a number in [0, 1], "
                f"got {fn!r:.80}."
            )
        super().__init__(name=name or getattr(fn, "__name__", None) or None, in_mask=in_mask, out_mask=out_mask)
        self.fn = fn
        self.fn_kwargs = kwargs

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        return await self.call_fn(y_true, y_pred)

    def __repr__(self):
        return f"<{type(self).__name__} fn={getattr(self.fn, '__qualname__', self.fn)!r} name={self.name!r}>"


class MeanRewardWrapper(RewardFunctionWrapper):
    """The seed's name for :class:`RewardFunctionWrapper` (identical behaviour).

    In Synalinks it is the function wrapper with a ``"mean"`` reduction. Here a reward
    call scores one example and returns one number; the trainer averages the rewards of a
    batch and of an epoch, so the mean reduction is what always happens.

    Example:
        >>> program.compile(reward=synaplex.rewards.MeanRewardWrapper(fn=my_reward), ...)
    """
