"""ExactMatch: 1.0 when the (masked) prediction equals the ground truth."""

from __future__ import annotations

from synaplex.training.rewards.reward import Reward


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
