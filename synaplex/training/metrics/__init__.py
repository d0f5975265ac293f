"""Metrics: stateful measures of a program's predictions, the Keras (and Synalinks) way.

A metric accumulates over ``await metric.update_state(y_true, y_pred)`` calls;
``metric.result()`` reads the value so far and ``metric.reset_state()`` starts again (the
trainer resets at each epoch and evaluation); ``await metric(y_true, y_pred)`` updates and
returns the result. A metric that has seen nothing reads ``0.0`` (Keras' convention).

Synalinks' definitions (see :mod:`~synaplex.training.metrics.field_scores`): the values are
flattened into their fields, scored per field, and averaged by ``average`` (``None``: one
score per field; ``"micro"``, ``"macro"``, ``"weighted"``):

* :class:`Accuracy` (token Jaccard), :class:`BinaryAccuracy` (booleans),
  :class:`CategoricalAccuracy` (label sets);
* :class:`FBetaScore`, :class:`F1Score`, :class:`Precision`, :class:`Recall` (tokens, SQuAD
  multisets), their ``Binary…`` and ``Categorical…`` twins;
* :class:`Mean`, :class:`Sum`, :class:`MeanMetricWrapper`: the mean or sum of numbers, or
  the mean of a function of ``(y_true, y_pred)``;
* :class:`LMUsage`: tokens, cost, latency, calls, rates of one training phase, and
  Synalinks' names for them (``InputTokens``, ``RewardCost``, ``AvgOptimizerLatency``…);
* :class:`BatchMetric`: the base of metrics that see a whole batch at once.

``y_true`` and ``y_pred`` are DataModels, JsonDataModels, dicts or ``None``; an update with a
``None`` side (a failed prediction) is skipped by the field-wise metrics.

Example:
    >>> program.compile(reward=..., optimizer=..., metrics=[synaplex.metrics.F1Score(in_mask=["answer"])])
"""

from __future__ import annotations

import inspect
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.lookup import Lookup, UnknownIdentifierError  # noqa: F401 - the error of get()
from synaplex.training.metrics.accuracy_metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy
from synaplex.training.metrics.f_score_metrics import (
    BinaryF1Score,
    BinaryFBetaScore,
    CategoricalF1Score,
    CategoricalFBetaScore,
    F1Score,
    FBetaScore,
    ListF1Score,
    ListFBetaScore,
)
from synaplex.training.metrics.field_scores import normalize_and_tokenize
from synaplex.training.metrics.metric import BatchMetric, Metric
from synaplex.training.metrics.precision_recall_metrics import (
    BinaryPrecision,
    BinaryRecall,
    CategoricalPrecision,
    CategoricalRecall,
    Precision,
    Recall,
)
from synaplex.training.metrics.reduction_metrics import Mean, MeanMetricWrapper, Sum
from synaplex.training.metrics.usage_metrics import PHASES, LMUsage, synalinks_usage_classes

normalize_text = normalize_and_tokenize  # the name synaplex used before Synalinks' tokenization

# Synalinks' LM-usage names (InputTokens, RewardCost, AvgOptimizerLatency…): thin subclasses of
# LMUsage, made here rather than written out one by one.
_USAGE_CLASSES = synalinks_usage_classes()
globals().update(_USAGE_CLASSES)

_CLASSES = (Accuracy, BatchMetric, BinaryAccuracy, BinaryF1Score, BinaryFBetaScore, BinaryPrecision, BinaryRecall,
            CategoricalAccuracy, CategoricalF1Score, CategoricalFBetaScore, CategoricalPrecision, CategoricalRecall,
            F1Score, FBetaScore, LMUsage, Mean, MeanMetricWrapper, Metric, Precision, Recall, Sum)

__all__ = sorted([cls.__name__ for cls in _CLASSES] + list(_USAGE_CLASSES) + [
    "ListF1Score", "ListFBetaScore", "deserialize", "get", "normalize_and_tokenize", "normalize_text", "serialize"])

# A saved config names a class by its module (see synaplex.serialization.registry). The built-in
# metrics keep this package's name, as when they shared one file, so that saved files stay the same
# (and stay readable by earlier versions).
for _cls in _CLASSES + tuple(_USAGE_CLASSES.values()):
    _cls.__module__ = __name__


# --- lookup and serialization ------------------------------------------------------------

# compile(metrics=["..."]) ids: the snake_case and class names (and Synalinks' lower-case ones)
LOOKUP = Lookup(
    "metric",
    [cls for cls in _CLASSES if cls not in (BatchMetric, LMUsage, Metric, MeanMetricWrapper)]
    + list(_USAGE_CLASSES.values()),
    aliases={"list_f1_score": ListF1Score, "ListF1Score": ListF1Score, "list_fbeta_score": ListFBetaScore,
             "ListFBetaScore": ListFBetaScore, "fbeta_score": FBetaScore, "binary_fbeta_score": BinaryFBetaScore,
             "categorical_fbeta_score": CategoricalFBetaScore},
    needs_arguments={
        MeanMetricWrapper: "pass synaplex.metrics.MeanMetricWrapper(fn=my_metric).",
        Metric: "it is the base class: subclass it, or use a built-in metric such as 'f1_score'.",
        BatchMetric: "it is the base class of batch metrics: subclass it.",
    },
    hint="the usage metrics '<phase>_<kind>' with phase in " + repr(PHASES) + " and kind in "
         + repr(LMUsage.KINDS) + " (e.g. 'inference_tokens'); or pass a Metric instance")


def serialize(metric: Metric) -> dict:
    """A metric's JSON config (through the serialization registry)."""
    return serialize_synaplex_object(metric)


def deserialize(config: dict, custom_objects: dict | None = None) -> Metric:
    """The metric that :func:`serialize` described."""
    return deserialize_synaplex_object(config, custom_objects)


def get(identifier: Any) -> Metric:
    """Resolve a metric from an instance, a string id or a config dict.

    Strings: the snake_case or class name of a built-in metric (``"accuracy"``,
    ``"f1_score"``, ``"BinaryAccuracy"``, ``"reward_cost"``, ``"AvgLatency"``…;
    case-insensitive as in Synalinks), and the usage ids ``"<phase>_<kind>"``
    (``"inference_tokens"``, ``"optimizer_calls"``…), each built with its defaults. An
    unknown id raises :class:`~synaplex.training.lookup.UnknownIdentifierError` listing the
    valid ones.

    Example:
        >>> synaplex.metrics.get("f1_score")
        <F1Score name='f1_score'>
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if LOOKUP.find(identifier) is None:
            for phase in PHASES:
                kind = identifier[len(phase) + 1:]
                if identifier.startswith(phase + "_") and kind in LMUsage.KINDS:
                    return LMUsage(kind=kind, phase=phase)
        return LOOKUP.resolve(identifier)
    if isinstance(identifier, dict):
        metric = deserialize(identifier)
        if not isinstance(metric, Metric):
            raise InvalidInputError(f"The config {identifier!r:.80} does not describe a Metric.")
        return metric
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    raise InvalidInputError(
        f"Cannot use {identifier!r:.80} as a metric: pass a Metric instance, a metric id such as 'f1_score' or "
        "'accuracy', or a config dict."
    )
