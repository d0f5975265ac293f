"""Metrics: stateful measures of a program's predictions, the Keras way.

A metric accumulates over ``await metric.update_state(y_true, y_pred)`` calls;
``metric.result()`` reads the value so far and ``metric.reset_state()`` starts again (the
trainer resets at each epoch and evaluation). A metric that has seen nothing reads ``0.0``
(Keras' convention).

* :class:`Accuracy`: the fraction of exact matches of the (masked) JSON values.
* :class:`F1Score`, :class:`Precision`, :class:`Recall`: token overlap of the text of the
  (masked) fields, SQuAD-style.
* :class:`Mean`, :class:`MeanMetricWrapper`: the mean of numbers, or of a function of
  ``(y_true, y_pred)``.
* :class:`LMUsage`: tokens, cost, latency, calls or cache hits of one training phase.

``y_true`` and ``y_pred`` are DataModels, JsonDataModels, dicts or ``None``; a ``None``
prediction (a branch that produced nothing) counts as a miss. Comparison metrics need a
ground truth: ``y_true=None`` raises ``InvalidInputError``.

Example:
    >>> program.compile(reward=..., optimizer=..., metrics=[synaplex.metrics.F1Score(in_mask=["answer"])])
"""

from __future__ import annotations

import collections
import inspect
import math
import numbers
import re
import string
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case
from synaplex.lm.base import Usage
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.rewards import FunctionWrapping, apply_masks, check_mask, json_text, to_json_value

__all__ = [
    "Accuracy",
    "F1Score",
    "LMUsage",
    "Mean",
    "MeanMetricWrapper",
    "Metric",
    "Precision",
    "Recall",
    "deserialize",
    "get",
    "normalize_text",
    "serialize",
]


def _check_number(value: Any, owner: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real) and not math.isnan(float(value)):
        return float(value)
    raise InvalidInputError(f"Metric {owner!r} averages numbers, got {value!r:.80} ({type(value).__name__}).")


class Metric:
    """Base class of metrics: implement ``update_state``, ``result`` and ``reset_state``.

    Args:
        name: the metric's name, its key in logs and History (default: the class name in
            snake case).
    """

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"{type(self).__name__}: name must be a string, got {name!r}.")
        self.name = name or to_snake_case(type(self).__name__)

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement `async def update_state(...)`.")

    def result(self) -> float | None:
        raise NotImplementedError(f"{type(self).__name__} must implement `result()`.")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement `reset_state()`.")

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class _Comparison(Metric):
    """A metric of ``(y_true, y_pred)`` pairs, on the fields ``in_mask``/``out_mask`` select."""

    def __init__(self, name: str | None = None, in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(name=name)
        self.in_mask = check_mask(in_mask, "in_mask", type(self).__name__)
        self.out_mask = check_mask(out_mask, "out_mask", type(self).__name__)

    def _prepare(self, y_true: Any, y_pred: Any, needs_ground_truth: bool = True) -> tuple[dict | None, dict | None]:
        y_true = to_json_value(y_true, f"Metric {self.name!r}: y_true")
        y_pred = to_json_value(y_pred, f"Metric {self.name!r}: y_pred")
        if y_true is None and needs_ground_truth:
            raise InvalidInputError(
                f"Metric {self.name!r} ({type(self).__name__}) compares predictions with ground truths, but "
                "y_true is None. Pass y=... to fit()/evaluate(), or drop this metric."
            )
        return apply_masks(y_true, self.in_mask, self.out_mask), apply_masks(y_pred, self.in_mask, self.out_mask)

    def get_config(self) -> dict:
        return {"name": self.name, "in_mask": self.in_mask, "out_mask": self.out_mask}


class _Average:
    """A running mean: ``total`` and ``count``, with Keras's 0.0 before any update."""

    def _add(self, value: Any) -> None:
        self.total += _check_number(value, self.name)
        self.count += 1

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0


class Mean(_Average, Metric):
    """The running mean of numbers: ``await mean.update_state(0.5)``.

    Example:
        >>> m = synaplex.metrics.Mean()
        >>> await m.update_state(1.0); await m.update_state(0.0)
        >>> m.result()
        0.5
    """

    def __init__(self, name: str | None = None):
        super().__init__(name=name)
        self.reset_state()

    async def update_state(self, value: Any, *extra: Any) -> None:
        if extra:
            raise InvalidInputError(
                f"Metric {self.name!r} (Mean) averages numbers: update_state(value). To average a function "
                "of (y_true, y_pred), use synaplex.metrics.MeanMetricWrapper(fn)."
            )
        self._add(value)


class _MeanOf(_Average, _Comparison):
    """The mean over examples of a per-example score (implement ``_score``)."""

    def __init__(self, name: str | None = None, in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        self.reset_state()

    needs_ground_truth = True

    async def _score(self, y_true: dict | None, y_pred: dict | None) -> Any:
        raise NotImplementedError

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = self._prepare(y_true, y_pred, self.needs_ground_truth)
        self._add(await self._score(y_true, y_pred))


class Accuracy(_MeanOf):
    """The fraction of predictions whose (masked) JSON value equals the ground truth's.

    Example:
        >>> synaplex.metrics.Accuracy(in_mask=["answer"])
    """

    def __init__(self, in_mask: list[str] | None = None, out_mask: list[str] | None = None, name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)

    async def _score(self, y_true: dict, y_pred: dict | None) -> float:
        return 1.0 if y_pred is not None and y_true == y_pred else 0.0


class MeanMetricWrapper(FunctionWrapping, _MeanOf):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (async or not) over the examples.

    ``fn`` receives the masked plain dicts (``y_true`` may be ``None`` when there is no
    ground truth, ``y_pred`` when the program produced nothing) and returns a number. To
    save it, register ``fn`` with ``@synaplex.saving.register_synaplex_serializable()``.

    Example:
        >>> @synaplex.saving.register_synaplex_serializable()
        ... def answer_length(y_true, y_pred):
        ...     return len((y_pred or {}).get("answer", ""))
        >>> synaplex.metrics.MeanMetricWrapper(answer_length)
    """

    needs_ground_truth = False

    def __init__(self, fn: Any = None, name: str | None = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None, **kwargs: Any):
        if not callable(fn):
            raise InvalidInputError(f"MeanMetricWrapper: fn must be a function fn(y_true, y_pred), got {fn!r:.80}.")
        super().__init__(name=name or getattr(fn, "__name__", None), in_mask=in_mask, out_mask=out_mask)
        self.fn = fn
        self.fn_kwargs = kwargs

    async def _score(self, y_true: dict | None, y_pred: dict | None) -> Any:
        return await self.call_fn(y_true, y_pred)


# --- token overlap -----------------------------------------------------------------------

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


class _TokenOverlap(_Comparison):
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


# --- usage -------------------------------------------------------------------------------

PHASES = ("inference", "reward", "optimizer")
_KINDS = {
    "tokens": lambda u: u.total_tokens,
    "input_tokens": lambda u: u.input_tokens,
    "output_tokens": lambda u: u.output_tokens,
    "cost": lambda u: u.cost,
    "latency": lambda u: u.latency,
    "calls": lambda u: u.calls,
    "cache_hits": lambda u: u.cache_hits,
}


class LMUsage(Metric):
    """What the language models consumed in one phase of training, as a running total.

    The trainer counts usage per phase (``"inference"``: the program; ``"reward"``: judges;
    ``"optimizer"``: mutations and embeddings) and feeds it with
    ``update_from_usage(usage)`` (a ``synaplex.lm.base.Usage``); ``update_state`` does
    nothing. ``result()`` is the sum of ``kind`` over the usages given since the last reset.
    For ``kind="cost"`` it is ``None`` as soon as one usage has an unknown price (a model
    missing from the price catalogue): an unknown cost is never shown as 0.

    Args:
        kind: ``"tokens"`` (input + output), ``"input_tokens"``, ``"output_tokens"``,
            ``"cost"`` (USD), ``"latency"`` (seconds, summed over calls), ``"calls"`` or
            ``"cache_hits"``.
        phase: ``"inference"``, ``"reward"`` or ``"optimizer"``.
        name: default ``f"{phase}_{kind}"`` (``"inference_tokens"``, ``"reward_cost"``…).

    Example:
        >>> synaplex.metrics.LMUsage(kind="cost", phase="reward").name
        'reward_cost'
    """

    KINDS = tuple(_KINDS)
    PHASES = PHASES

    def __init__(self, kind: str = "tokens", phase: str = "inference", name: str | None = None):
        if kind not in _KINDS:
            raise InvalidInputError(f"LMUsage: kind must be one of {', '.join(map(repr, _KINDS))}, got {kind!r}.")
        if phase not in PHASES:
            raise InvalidInputError(f"LMUsage: phase must be one of {', '.join(map(repr, PHASES))}, got {phase!r}.")
        super().__init__(name=name or f"{phase}_{kind}")
        self.kind = kind
        self.phase = phase
        self.reset_state()

    async def update_state(self, y_true: Any = None, y_pred: Any = None) -> None:
        """Nothing: usage comes through :meth:`update_from_usage`."""

    def update_from_usage(self, usage: Any) -> None:
        """Add one ``Usage`` (of this metric's phase) to the total."""
        if not isinstance(usage, Usage):
            raise InvalidInputError(
                f"LMUsage {self.name!r}: update_from_usage takes a synaplex.lm.base.Usage, got {usage!r:.80}."
            )
        value = _KINDS[self.kind](usage)
        if value is None:
            self.unknown = True
        else:
            self.total += value

    def result(self) -> float | int | None:
        if self.kind == "cost" and self.unknown:
            return None
        return self.total

    def reset_state(self) -> None:
        self.total: float | int = 0.0 if self.kind in ("cost", "latency") else 0
        self.unknown = False

    def get_config(self) -> dict:
        return {"kind": self.kind, "phase": self.phase, "name": self.name}


# --- lookup and serialization ------------------------------------------------------------

_BUILT_INS: dict[str, type] = {
    "accuracy": Accuracy,
    "f1_score": F1Score,
    "precision": Precision,
    "recall": Recall,
    "mean": Mean,
}


def serialize(metric: Metric) -> dict:
    """A metric's JSON config (through the serialization registry)."""
    return serialize_synaplex_object(metric)


def deserialize(config: dict, custom_objects: dict | None = None) -> Metric:
    """The metric that :func:`serialize` described."""
    return deserialize_synaplex_object(config, custom_objects)


def get(identifier: Any) -> Metric:
    """Resolve a metric from an instance, a string id or a config dict.

    Strings: ``"accuracy"``, ``"f1_score"``, ``"precision"``, ``"recall"``, ``"mean"`` (or
    the class names), and the usage ids ``"<phase>_<kind>"`` (``"inference_tokens"``,
    ``"reward_cost"``, ``"optimizer_calls"``…), each built with its defaults.

    Example:
        >>> synaplex.metrics.get("f1_score")
        <F1Score name='f1_score'>
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _BUILT_INS.get(identifier) or _BUILT_INS.get(to_snake_case(identifier))
        if cls is not None:
            return cls()
        for phase in PHASES:
            kind = identifier[len(phase) + 1:]
            if identifier.startswith(phase + "_") and kind in _KINDS:
                return LMUsage(kind=kind, phase=phase)
        valid = sorted(_BUILT_INS) + [c.__name__ for c in _BUILT_INS.values()]
        raise InvalidInputError(
            f"Unknown metric {identifier!r}. Valid names: {', '.join(map(repr, valid))}, and the usage "
            f"metrics '<phase>_<kind>' with phase in {PHASES} and kind in {tuple(_KINDS)} "
            "(e.g. 'inference_tokens'); or pass a Metric instance."
        )
    if isinstance(identifier, dict):
        metric = deserialize(identifier)
        if not isinstance(metric, Metric):
            raise InvalidInputError(f"The config {identifier!r:.80} does not describe a Metric.")
        return metric
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    raise InvalidInputError(
        f"Cannot use {identifier!r:.80} as a metric: pass a Metric instance, one of "
        f"{', '.join(map(repr, sorted(_BUILT_INS)))} or a config dict."
    )
