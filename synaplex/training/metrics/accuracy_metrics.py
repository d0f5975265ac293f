"""Accuracy, BinaryAccuracy and CategoricalAccuracy: Synalinks' definitions.

* :class:`Accuracy`: per field, the Jaccard index of the normalized tokens,
  ``|true ∩ pred| / |true ∪ pred|`` (word level, for QA).
* :class:`BinaryAccuracy`: per boolean (or thresholded float) field, 1 when both agree.
* :class:`CategoricalAccuracy`: the Jaccard index of label sets (each list item or string
  value is one label), or per label with ``labels=[...]``.

The counts accumulate per field position over the updates (see
:mod:`synaplex.training.metrics.field_scores`); an update whose ground truth or prediction is
``None`` (a failed prediction) is skipped.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from synaplex.training.metrics.field_scores import (
    EPSILON,
    aggregate,
    binary_leaves,
    by_label,
    check_average,
    check_labels,
    check_threshold,
    leaves,
    normalize_and_tokenize,
    ragged_add,
)
from synaplex.training.metrics.metric import ComparisonMetric


class Accuracy(ComparisonMetric):
    """Per-field token accuracy: the Jaccard index of the fields' normalized tokens.

    Both values are flattened into their leaves (fields in sorted order, list items in
    order); leaf ``i`` of the ground truth is compared with leaf ``i`` of the prediction:
    ``correct = |tokens_true ∩ tokens_pred|`` and ``total = |tokens_true ∪ tokens_pred|``
    (token sets, see :func:`normalize_and_tokenize`). Counts add up per position over the
    updates; the score of a position is ``correct / (total + 1e-7)``.

    Args:
        average: ``None`` (default: one score per field, a float when there is one field),
            ``"micro"`` (pool the counts of every field), ``"macro"`` (mean of the fields'
            scores) or ``"weighted"`` (weighted by each field's number of expected tokens).
        name: default ``"accuracy"``.
        in_mask, out_mask: the fields to keep, to drop.

    Example:
        >>> metric = synaplex.metrics.Accuracy(average="weighted")
        >>> await metric({"answer": "Paris is in France"}, {"answer": "Paris, France"})
        0.6666666...
    """

    direction = "up"

    def __init__(self, average: str | None = None, name: str | None = "accuracy", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        self.average = check_average(average, type(self).__name__)
        self.reset_state()

    def reset_state(self) -> None:
        self.state: dict[str, list[float] | None] = {"correct": None, "total": None, "intermediate_weights": None}

    def _counts(self, y_true: dict, y_pred: dict) -> tuple[list, list, list]:
        correct, total, weights = [], [], []
        for yt, yp in zip_longest(leaves(y_true), leaves(y_pred), fillvalue=""):
            true_tokens = normalize_and_tokenize(str(yt))
            pred_tokens = normalize_and_tokenize(str(yp))
            correct.append(len(set(true_tokens) & set(pred_tokens)))
            total.append(len(set(true_tokens) | set(pred_tokens)))
            weights.append(len(true_tokens))
        return correct, total, weights

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = self._prepare(y_true, y_pred)
        if y_true is None or y_pred is None:  # a failed prediction: nothing to compare
            return
        for key, counts in zip(("correct", "total", "intermediate_weights"), self._counts(y_true, y_pred)):
            self.state[key] = ragged_add(self.state[key], counts)

    def result(self) -> float | list[float] | dict[str, float]:
        if self.state["correct"] is None:
            return 0.0
        correct, total = self.state["correct"], self.state["total"]
        if self.average == "micro":
            return float(sum(correct) / (sum(total) + EPSILON))
        scores = [c / (t + EPSILON) for c, t in zip(correct, total)]
        return aggregate(scores, self.average, self.state["intermediate_weights"])

    def get_config(self) -> dict:
        config = super().get_config()
        config["average"] = self.average
        return config


class BinaryAccuracy(Accuracy):
    """Per-field accuracy of booleans (or floats thresholded at ``threshold``): 1 when the
    ground truth and the prediction agree, for multi-class and multi-label classification.

    Every (masked) field must be a boolean or a float in [0, 1]; a float above
    ``threshold`` counts as true. A leaf missing on one side counts as a disagreement.

    Args:
        average: as :class:`Accuracy` (``"weighted"`` weighs each field by its number of
            true labels).
        threshold: a float in (0, 1] (default 0.5).

    Example:
        >>> class Labels(synaplex.DataModel):
        ...     spam: bool
        ...     urgent: bool
        >>> await synaplex.metrics.BinaryAccuracy(average="macro")(Labels(spam=True, urgent=False),
        ...                                                         Labels(spam=True, urgent=True))
        0.5
    """

    def __init__(self, average: str | None = None, threshold: float = 0.5, name: str | None = "binary_accuracy",
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(average=average, name=name, in_mask=in_mask, out_mask=out_mask)
        self.threshold = check_threshold(threshold, type(self).__name__)

    def _counts(self, y_true: dict, y_pred: dict) -> tuple[list, list, list]:
        owner = f"{type(self).__name__} {self.name!r}"
        true_leaves = binary_leaves(y_true, self.threshold, owner)
        pred_leaves = binary_leaves(y_pred, self.threshold, owner)
        size = max(len(true_leaves), len(pred_leaves))
        correct = [1.0 if t == p else 0.0 for t, p in zip_longest(true_leaves, pred_leaves)]
        weights = true_leaves + [0.0] * (size - len(true_leaves))
        return correct, [1.0] * size, weights

    def get_config(self) -> dict:
        config = super().get_config()
        config["threshold"] = self.threshold
        return config


class CategoricalAccuracy(Accuracy):
    """Accuracy of labels: each list item (or string value) of the fields is one label.

    Without ``labels``: the Jaccard index of the label sets of the whole (masked) value,
    ``|true ∩ pred| / |true ∪ pred|``, pooled over the updates (one score). With
    ``labels=[...]``: per label, 1 when its presence in the prediction matches its presence
    in the ground truth; ``average=None`` then returns ``{label: score}``.

    Example:
        >>> metric = synaplex.metrics.CategoricalAccuracy(in_mask=["sources"])
    """

    def __init__(self, average: str | None = None, labels: list | None = None,
                 name: str | None = "categorical_accuracy", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, name=name, in_mask=in_mask, out_mask=out_mask)
        self.labels = check_labels(labels, type(self).__name__)

    def _counts(self, y_true: dict, y_pred: dict) -> tuple[list, list, list]:
        true_labels = [str(v) for v in leaves(y_true)]
        pred_labels = [str(v) for v in leaves(y_pred)]
        if self.labels is not None:
            true_set, pred_set = set(true_labels), set(pred_labels)
            correct = [1 if (label in true_set) == (label in pred_set) else 0 for label in self.labels]
            return correct, [1] * len(self.labels), [1 if label in true_set else 0 for label in self.labels]
        common = set(true_labels) & set(pred_labels)
        union = set(true_labels) | set(pred_labels)
        return [len(common)], [len(union)], [len(true_labels)]

    def result(self) -> float | list[float] | dict[str, float]:
        return by_label(super().result(), self.labels, self.average)

    def get_config(self) -> dict:
        config = super().get_config()
        config["labels"] = list(self.labels) if self.labels is not None else None
        return config

