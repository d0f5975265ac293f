"""Accuracy: the fraction of exact matches."""

from __future__ import annotations

from synaplex.training.metrics.reduction_metrics import MeanOfScores


class Accuracy(MeanOfScores):
    """The fraction of predictions whose (masked) JSON value equals the ground truth's.

    Example:
        >>> synaplex.metrics.Accuracy(in_mask=["answer"])
    """

    def __init__(self, in_mask: list[str] | None = None, out_mask: list[str] | None = None, name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)

    async def _score(self, y_true: dict, y_pred: dict | None) -> float:
        return 1.0 if y_pred is not None and y_true == y_pred else 0.0
