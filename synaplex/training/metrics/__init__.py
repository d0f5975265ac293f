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

import inspect
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.metrics.accuracy_metrics import Accuracy
from synaplex.training.metrics.metric import Metric
from synaplex.training.metrics.reduction_metrics import Mean, MeanMetricWrapper
from synaplex.training.metrics.token_overlap_metrics import F1Score, Precision, Recall, normalize_text
from synaplex.training.metrics.usage_metrics import PHASES, LMUsage

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

# A saved config names a class by its module (see synaplex.serialization.registry). The built-in
# metrics keep this package's name, as when they shared one file, so that saved files stay the same
# (and stay readable by earlier versions).
for _cls in (Accuracy, F1Score, LMUsage, Mean, MeanMetricWrapper, Metric, Precision, Recall):
    _cls.__module__ = __name__


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
            if identifier.startswith(phase + "_") and kind in LMUsage.KINDS:
                return LMUsage(kind=kind, phase=phase)
        valid = sorted(_BUILT_INS) + [c.__name__ for c in _BUILT_INS.values()]
        raise InvalidInputError(
            f"Unknown metric {identifier!r}. Valid names: {', '.join(map(repr, valid))}, and the usage "
            f"metrics '<phase>_<kind>' with phase in {PHASES} and kind in {LMUsage.KINDS} "
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
