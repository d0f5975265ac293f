"""F1Score, Precision and Recall: token overlap of the text of the (masked) fields, SQuAD-style."""

from __future__ import annotations

import collections
import re
import string
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.metrics.metric import ComparisonMetric
from synaplex.training.values import json_text

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> list[str]:
    """SQuAD's normalization, as tokens: lowercase, drop punctuation and the articles
    a/an/the, split on whitespace. ``normalize_text("The Cat, sat!")`` is ``["cat", "sat"]``."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return " ".join(_text(item) for item in value.values())
    return json_text(value)  # numbers and booleans as JSON: 42, 3.5, true


def _field_texts(value: dict | None, prefix: str = "") -> dict[str, str]:
    """``{"a.b": text}`` for each leaf field (nested objects flattened with dots)."""
    out: dict[str, str] = {}
    for key, item in (value or {}).items():
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            out.update(_field_texts(item, path + "."))
        else:
            out[path] = _text(item)
    return out


def _overlap(true_text: str, pred_text: str) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of two texts' token bags."""
    true_tokens, pred_tokens = normalize_text(true_text), normalize_text(pred_text)
    common = sum((collections.Counter(true_tokens) & collections.Counter(pred_tokens)).values())
    return common, len(pred_tokens) - common, len(true_tokens) - common


class _TokenOverlap(ComparisonMetric):
    """Precision, recall and F1 of tokens, with three ways to average.

    Each field (a leaf of the masked JSON, nested objects flattened, lists joined) is
    compared with the same field of the other side: its normalized tokens (see
    :func:`normalize_text`) are counted as true positives (tokens in both, with
    multiplicity), false positives (only predicted) and false negatives (only expected).
    A field missing on one side counts as empty there.

    ``average``:

    * ``"micro"`` (default): pool the counts of every field of every example, then compute
      the score once (long answers weigh more);
    * ``"macro"``: pool per field across examples, score each field, then average the
      fields (each field weighs the same);
    * ``"samples"``: score each example (its fields pooled) and average the examples
      (SQuAD's per-question F1, averaged).

    When there are no tokens at all on both sides the score is 1.0 (agreement on nothing,
    as in SQuAD); with no update at all it is 0.0.
    """

    AVERAGES = ("micro", "macro", "samples")

    def __init__(self, in_mask: list[str] | None = None, out_mask: list[str] | None = None,
                 average: str = "micro", name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if average not in self.AVERAGES:
            raise InvalidInputError(
                f"{type(self).__name__}: average must be one of {', '.join(map(repr, self.AVERAGES))}, got {average!r}."
            )
        self.average = average
        self.reset_state()

    @staticmethod
    def _formula(tp: int, fp: int, fn: int) -> float:
        raise NotImplementedError

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = self._prepare(y_true, y_pred)
        true_fields, pred_fields = _field_texts(y_true), _field_texts(y_pred)
        example = [0, 0, 0]
        for field in list(true_fields) + [f for f in pred_fields if f not in true_fields]:
            counts = _overlap(true_fields.get(field, ""), pred_fields.get(field, ""))
            per_field = self.field_counts.setdefault(field, [0, 0, 0])
            for i in range(3):
                per_field[i] += counts[i]
                example[i] += counts[i]
                self.counts[i] += counts[i]
        self.sample_total += self._formula(*example)
        self.sample_count += 1

    def result(self) -> float:
        if not self.sample_count:
            return 0.0
        if self.average == "micro":
            return self._formula(*self.counts)
        if self.average == "macro":
            if not self.field_counts:
                return 1.0
            return sum(self._formula(*c) for c in self.field_counts.values()) / len(self.field_counts)
        return self.sample_total / self.sample_count

    def reset_state(self) -> None:
        self.counts = [0, 0, 0]
        self.field_counts: dict[str, list[int]] = {}
        self.sample_total = 0.0
        self.sample_count = 0

    def get_config(self) -> dict:
        config = super().get_config()
        config["average"] = self.average
        return config


def _precision(tp: int, fp: int, fn: int) -> float:
    if tp + fp:
        return tp / (tp + fp)
    return 1.0 if fn == 0 else 0.0


def _recall(tp: int, fp: int, fn: int) -> float:
    if tp + fn:
        return tp / (tp + fn)
    return 1.0 if fp == 0 else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 1.0


class F1Score(_TokenOverlap):
    """Token F1: ``2·tp / (2·tp + fp + fn)``, the harmonic mean of precision and recall.

    ``"the cat sat"`` against the prediction ``"cat sat down"``: tokens ``[cat, sat]`` and
    ``[cat, sat, down]``, tp=2, fp=1, fn=0, F1 = 0.8. See :class:`_TokenOverlap` for fields
    and averaging.

    Example:
        >>> synaplex.metrics.F1Score(in_mask=["answer"])
    """

    _formula = staticmethod(_f1)


class Precision(_TokenOverlap):
    """Token precision: ``tp / (tp + fp)``, the share of predicted tokens that are expected."""

    _formula = staticmethod(_precision)


class Recall(_TokenOverlap):
    """Token recall: ``tp / (tp + fn)``, the share of expected tokens that are predicted."""

    _formula = staticmethod(_recall)
