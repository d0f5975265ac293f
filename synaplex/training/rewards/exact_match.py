"""ExactMatch: 1.0 when the (masked) prediction equals the ground truth."""

from __future__ import annotations

from synaplex.training.rewards.reward import Reward
from synaplex.training.values import to_json_value


class ExactMatch(Reward):
    """``1.0`` when the (masked) ground truth and prediction are equal JSON values, else ``0.0``.

    Example:
        >>> synaplex.rewards.ExactMatch(in_mask=["answer"])
    """

    needs_ground_truth = True

    def __init__(self, in_mask: list[str] | None = None, out_mask: list[str] | None = None,
                 name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)

    async def call(self, y_true: dict, y_pred: dict) -> float:
        return 1.0 if y_true == y_pred else 0.0


async def exact_match(y_true, y_pred) -> float:
    """Synalinks' reward function: ``1.0`` when both values are present and equal, else ``0.0``.

    ``y_true`` and ``y_pred`` are DataModels, JsonDataModels, dicts or ``None`` (a missing
    side scores 0). :class:`ExactMatch` is this comparison with masks.

    Example:
        >>> await synaplex.rewards.exact_match({"answer": "Paris"}, {"answer": "Paris"})
        1.0
    """
    if y_true is None or y_pred is None:
        return 0.0
    return 1.0 if to_json_value(y_true, "exact_match: y_true") == to_json_value(y_pred, "exact_match: y_pred") \
        else 0.0
