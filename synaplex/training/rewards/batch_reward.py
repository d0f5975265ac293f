"""BatchReward and BatchRewardFunctionWrapper: rewards that score a whole batch at once."""

from __future__ import annotations

import numbers
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.function_wrapping import FunctionWrapping
from synaplex.training.rewards.reward import Reward, RewardError, check_score
from synaplex.training.values import apply_masks, as_json_dict, to_json_value

REDUCTIONS = ("mean", "sum", "min", "max", "none", None)


def reduce_rewards(rewards: list[float], reduction: str | None = "mean") -> float | list[float]:
    """Synalinks' reductions of per-sample rewards: ``"mean"``, ``"sum"``, ``"min"``, ``"max"``;
    ``"none"``/``None`` returns the list. An empty list reduces to ``0.0``."""
    if reduction is None or reduction == "none":
        return list(rewards)
    if not rewards:
        return 0.0
    if reduction == "sum":
        return float(sum(rewards))
    if reduction == "min":
        return float(min(rewards))
    if reduction == "max":
        return float(max(rewards))
    return float(sum(rewards) / len(rewards))


class BatchReward(Reward):
    """Base class of rewards that need the whole batch (group-relative scores, ranking,
    pairwise comparisons): implement ``async def call(self, y_true, y_pred)`` where both are
    lists (one entry per example of the batch) and return one number in [0, 1] per example.

    The trainer calls :meth:`compute_batch` once per batch with every example's ground truth
    and prediction. Entries are :class:`~synaplex.training.values.JsonDict` (dicts that also
    answer ``get_json()``), masked by ``in_mask``/``out_mask``; a prediction that failed is
    ``None`` (and scores 0 whatever ``call`` returns). Called directly,
    ``await reward(y_true_list, y_pred_list)`` returns the rewards reduced by ``reduction``.

    Args:
        name: the reward's name (default: the class name in snake case).
        reduction: ``"mean"`` (default), ``"sum"``, ``"min"``, ``"max"``, or ``"none"``/``None``
            (the list), for direct calls. The trainer logs the mean reward of a batch and of an
            epoch whatever the reduction.
        in_mask, out_mask: see :class:`Reward`.

    Example:
        >>> class RankReward(synaplex.rewards.BatchReward):
        ...     async def call(self, y_true, y_pred):
        ...         lengths = [len(p["answer"]) if p else 0 for p in y_pred]
        ...         return [1.0 if n == min(lengths) else 0.0 for n in lengths]
    """

    def __init__(self, name: str | None = None, reduction: str | None = "mean", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if reduction not in REDUCTIONS:
            raise InvalidInputError(
                f"{type(self).__name__}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
                f"got {reduction!r}.")
        self.reduction = reduction

    async def call(self, y_true: list, y_pred: list) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must implement `async def call(self, y_true, y_pred)` on lists, "
            "returning one reward per example.")

    def _prepare(self, values: Any, what: str) -> list:
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise InvalidInputError(
                f"Reward {self.name!r} ({type(self).__name__}) scores a batch: {what} must be a list (one entry "
                f"per example), got {type(values).__name__}.")
        out = []
        for value in values:
            value = to_json_value(value, f"Reward {self.name!r}: an entry of {what}")
            out.append(as_json_dict(apply_masks(value, self.in_mask, self.out_mask)))
        return out

    async def compute_batch(self, y_true: Any, y_pred: Any) -> list[float]:
        """One reward in [0, 1] per example, in order (what the trainer calls)."""
        y_pred = self._prepare(y_pred, "y_pred")
        y_true = [None] * len(y_pred) if y_true is None else self._prepare(y_true, "y_true")
        if len(y_true) != len(y_pred):
            raise InvalidInputError(
                f"Reward {self.name!r}: {len(y_true)} ground truths and {len(y_pred)} predictions; they must be "
                "the same length.")
        rewards = await self.call(y_true, y_pred)
        if isinstance(rewards, (str, bytes, dict, numbers.Number)) or not hasattr(rewards, "__iter__"):
            raise RewardError(
                f"Reward {self.name!r} ({type(self).__name__}) must return a list of per-example rewards, got "
                f"{type(rewards).__name__}: {rewards!r:.80}.")
        rewards = list(rewards)
        if len(rewards) != len(y_pred):
            raise RewardError(
                f"Reward {self.name!r} ({type(self).__name__}) returned {len(rewards)} rewards for a batch of "
                f"{len(y_pred)} examples; return one per example, in order.")
        return [0.0 if pred is None else check_score(r, self.name) for r, pred in zip(rewards, y_pred)]

    async def __call__(self, y_true: Any, y_pred: Any) -> float | list[float]:
        """The batch's rewards, reduced by ``reduction``."""
        return reduce_rewards(await self.compute_batch(y_true, y_pred), self.reduction)

    async def batch(self, y_true: list, y_pred: list) -> list[float]:
        """One reward per example (same as :meth:`compute_batch`)."""
        return await self.compute_batch(y_true, y_pred)

    def get_config(self) -> dict:
        config = super().get_config()
        config["reduction"] = self.reduction
        return config


class BatchRewardFunctionWrapper(FunctionWrapping, BatchReward):
    """A batch reward from a function ``fn(y_true, y_pred, **kwargs) -> list[float]``, async or not.

    ``fn`` receives the batch's lists (see :class:`BatchReward`). To save a program compiled
    with it, register ``fn`` with ``@synaplex.saving.register_synaplex_serializable()``.

    Example:
        >>> async def my_batch_reward(y_true, y_pred):
        ...     return [1.0 if t.get_json() == p.get_json() else 0.0 for t, p in zip(y_true, y_pred)]
        >>> synaplex.rewards.BatchRewardFunctionWrapper(fn=my_batch_reward)
    """

    def __init__(self, fn: Any = None, reduction: str | None = "mean", name: str | None = None,
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None, **kwargs: Any):
        if not callable(fn):
            raise InvalidInputError(
                f"{type(self).__name__}: fn must be a function fn(y_true, y_pred) taking the batch's lists and "
                f"returning one reward per example, got {fn!r:.80}.")
        super().__init__(name=name or getattr(fn, "__name__", None) or None, reduction=reduction,
                         in_mask=in_mask, out_mask=out_mask)
        self.fn = fn
        self.fn_kwargs = kwargs

    async def call(self, y_true: list, y_pred: list) -> Any:
        return await self.call_fn_raw(y_true, y_pred)

    def __repr__(self):
        return f"<{type(self).__name__} fn={getattr(self.fn, '__qualname__', self.fn)!r} name={self.name!r}>"
