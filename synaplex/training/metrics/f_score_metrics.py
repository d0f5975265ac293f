"""The F-beta family (Synalinks' definitions): FBetaScore and F1Score (tokens),
BinaryFBetaScore and BinaryF1Score (boolean fields), CategoricalFBetaScore and
CategoricalF1Score (label sets; ``ListFBetaScore``/``ListF1Score`` are their old names).

Per field position, true positives, false positives and false negatives accumulate over the
updates (see :mod:`synaplex.training.metrics.field_scores`); then
``precision = tp / (tp + fp + 1e-7)``, ``recall = tp / (tp + fn + 1e-7)`` and
``f_beta = (1 + b²)·precision·recall / (b²·precision + recall + 1e-7)``. An update whose
ground truth or prediction is ``None`` (a failed prediction) is skipped.
"""

from __future__ import annotations

import collections
import numbers
from itertools import zip_longest
from typing import Any

from synaplex.backend.errors import InvalidInputError
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

_KEYS = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


class FBetaScore(ComparisonMetric):
    """Token F-beta score, the weighted harmonic mean of precision and recall, for QA.

    Both values are flattened into their leaves (fields in sorted order, list items in
    order); leaf ``i`` of the ground truth is compared with leaf ``i`` of the prediction by
    their normalized tokens (see ``normalize_and_tokenize``), as multisets (SQuAD):
    ``tp`` = tokens in both, ``fp`` = only predicted, ``fn`` = only expected.

    Args:
        average: ``None`` (default: one score per field, a float when there is one field),
            ``"micro"`` (pool the counts of every field, then score), ``"macro"`` (mean of
            the fields' scores), ``"weighted"`` (weighted by each field's number of expected
            tokens). ``"samples"`` (synaplex's: the mean over examples of each example's
            pooled score) is kept for programs saved with it.
        beta: the weight of recall (a positive number; 1 gives F1).
        name: default ``"fbeta_score"``.
        in_mask, out_mask: the fields to keep, to drop.

    Example:
        >>> metric = synaplex.metrics.FBetaScore(beta=2.0, average="micro")
    """

    direction = "up"
    _formula = "fbeta"
    _EXTRA_AVERAGES: tuple = ("samples",)

    def __init__(self, average: str | None = None, beta: float = 1.0, name: str | None = "fbeta_score",
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        self.average = check_average(average, type(self).__name__, self._EXTRA_AVERAGES)
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0:
            raise InvalidInputError(f"{type(self).__name__}: beta must be a positive number (e.g. 1.0), got {beta!r}.")
        self.beta = float(beta)
        self.reset_state()

    def reset_state(self) -> None:
        self.state: dict[str, list[float] | None] = dict.fromkeys(_KEYS)
        self.sample_total = 0.0
        self.sample_count = 0

    def _counts(self, y_true: dict, y_pred: dict) -> tuple[list, list, list, list]:
        tp, fp, fn, weights = [], [], [], []
        for yt, yp in zip_longest(leaves(y_true), leaves(y_pred), fillvalue=""):
            true_tokens = normalize_and_tokenize(str(yt))
            pred_tokens = normalize_and_tokenize(str(yp))
            common = sum((collections.Counter(true_tokens) & collections.Counter(pred_tokens)).values())
            tp.append(common)
            fp.append(len(pred_tokens) - common)
            fn.append(len(true_tokens) - common)
            weights.append(len(true_tokens))
        return tp, fp, fn, weights

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = self._prepare(y_true, y_pred)
        if y_true is None or y_pred is None:  # a failed prediction: nothing to compare
            return
        counts = self._counts(y_true, y_pred)
        for key, values in zip(_KEYS, counts):
            self.state[key] = ragged_add(self.state[key], values)
        self.sample_total += self._score(sum(counts[0]), sum(counts[1]), sum(counts[2]))
        self.sample_count += 1

    def _score(self, tp: float, fp: float, fn: float) -> float:
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        if self._formula == "precision":
            return precision
        if self._formula == "recall":
            return recall
        b2 = self.beta ** 2
        return (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)

    def result(self) -> float | list[float] | dict[str, float]:
        tp, fp, fn = (self.state[key] for key in _KEYS[:3])
        if tp is None:
            return 0.0
        if self.average == "samples":
            return self.sample_total / self.sample_count if self.sample_count else 0.0
        if self.average == "micro":
            return float(self._score(sum(tp), sum(fp), sum(fn)))
        scores = [self._score(*counts) for counts in zip(tp, fp, fn)]
        return aggregate(scores, self.average, self.state["intermediate_weights"])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(average=self.average, beta=self.beta)
        return config


class F1Score(FBetaScore):
    """Token F1 score: ``2·precision·recall / (precision + recall)``, for QA.

    ``"Paris Paris is France"`` against ``"Paris is France"``: tokens ``[paris, paris,
    france]`` and ``[paris, france]`` ("is" is dropped), tp=2, fp=1, fn=0, F1 = 0.8. See
    :class:`FBetaScore` for fields and averages.

    Example:
        >>> synaplex.metrics.F1Score(in_mask=["answer"], average="micro")
    """

    def __init__(self, average: str | None = None, name: str | None = "f1_score", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, name=name, in_mask=in_mask, out_mask=out_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class BinaryFBetaScore(FBetaScore):
    """F-beta score of boolean fields (or floats thresholded at ``threshold``), for
    multi-class and multi-label classification: per field, a true prediction of a true
    label is a true positive, of a false one a false positive; a missed true label a false
    negative. A leaf missing on one side counts as false there.

    Args:
        average, beta: as :class:`FBetaScore` (``"weighted"`` weighs each field by its
            number of true labels).
        threshold: a float in (0, 1] (default 0.5).
    """

    _EXTRA_AVERAGES = ()

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float = 0.5,
                 name: str | None = "binary_fbeta_score", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=beta, name=name, in_mask=in_mask, out_mask=out_mask)
        self.threshold = check_threshold(threshold, type(self).__name__)

    def _counts(self, y_true: dict, y_pred: dict) -> tuple[list, list, list, list]:
        owner = f"{type(self).__name__} {self.name!r}"
        true_leaves = binary_leaves(y_true, self.threshold, owner)
        pred_leaves = binary_leaves(y_pred, self.threshold, owner)
        size = max(len(true_leaves), len(pred_leaves))
        true_leaves += [0.0] * (size - len(true_leaves))
        pred_leaves += [0.0] * (size - len(pred_leaves))
        tp = [p * t for t, p in zip(true_leaves, pred_leaves)]
        fp = [p * (1 - t) for t, p in zip(true_leaves, pred_leaves)]
        fn = [(1 - p) * t for t, p in zip(true_leaves, pred_leaves)]
        return tp, fp, fn, list(true_leaves)

    def get_config(self) -> dict:
        config = super().get_config()
        config["threshold"] = self.threshold
        return config


class BinaryF1Score(BinaryFBetaScore):
    """F1 score of boolean fields (see :class:`BinaryFBetaScore`)."""

    def __init__(self, average: str | None = None, threshold: float = 0.5, name: str | None = "binary_f1_score",
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, in_mask=in_mask,
                         out_mask=out_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class CategoricalFBetaScore(FBetaScore):
    """F-beta score of labels, for classification and retrieval: each list item (or string
    value) of the fields is one label.

    Without ``labels``: one set-based count of the whole (masked) value, ``tp`` = labels in
    both, ``fp`` = only predicted, ``fn`` = only expected, pooled over the updates. With
    ``labels=[...]``: per label (sklearn-style); ``average=None`` then returns
    ``{label: score}``.

    Example:
        >>> synaplex.metrics.CategoricalFBetaScore(in_mask=["sources"], average="micro")
    """

    _EXTRA_AVERAGES = ()

    def __init__(self, average: str | None = None, beta: float = 1.0, labels: list | None = None,
                 name: str | None = "categorical_fbeta_score", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=beta, name=name, in_mask=in_mask, out_mask=out_mask)
        self.labels = check_labels(labels, type(self).__name__)

    def _counts(self, y_true: dict, y_pred: dict) -> tuple[list, list, list, list]:
        true_labels = [str(v) for v in leaves(y_true)]
        pred_labels = [str(v) for v in leaves(y_pred)]
        true_set, pred_set = set(true_labels), set(pred_labels)
        if self.labels is not None:
            return ([1 if label in true_set and label in pred_set else 0 for label in self.labels],
                    [1 if label in pred_set and label not in true_set else 0 for label in self.labels],
                    [1 if label in true_set and label not in pred_set else 0 for label in self.labels],
                    [1 if label in true_set else 0 for label in self.labels])
        common = true_set & pred_set
        return [len(common)], [len(pred_set) - len(common)], [len(true_set) - len(common)], [len(true_labels)]

    def result(self) -> float | list[float] | dict[str, float]:
        return by_label(super().result(), self.labels, self.average)

    def get_config(self) -> dict:
        config = super().get_config()
        config["labels"] = list(self.labels) if self.labels is not None else None
        return config


class CategoricalF1Score(CategoricalFBetaScore):
    """F1 score of labels (see :class:`CategoricalFBetaScore`)."""

    def __init__(self, average: str | None = None, labels: list | None = None,
                 name: str | None = "categorical_f1_score", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, labels=labels, name=name, in_mask=in_mask, out_mask=out_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


# Synalinks' former names
ListFBetaScore = CategoricalFBetaScore
ListF1Score = CategoricalF1Score
