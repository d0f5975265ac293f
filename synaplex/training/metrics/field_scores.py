"""What the field-wise metrics share (Synalinks' definitions): the leaves of a JSON value,
their tokens, per-position counts that accumulate across updates, and the averages.

A value is flattened into its leaves as Synalinks (optree) does: an object's fields in sorted
key order, a list's items in order, nested values recursively; ``null`` is a leaf, an empty
object or list has none. Leaf ``i`` of every example adds to position ``i`` of the metric's
counts (a shorter vector is padded with zeros, so examples with different numbers of leaves
accumulate; the unmatched leaves of one example count against it).

Scores divide by ``count + EPSILON`` (Keras' ``1e-7``), so a perfect score reads
``0.9999999…``, and nothing over nothing reads 0.
"""

from __future__ import annotations

import re
import string
from typing import Any

from synaplex.backend.errors import InvalidInputError

EPSILON = 1e-7
AVERAGES = (None, "micro", "macro", "weighted")

_ARTICLES = re.compile(r"\b(a|an|the|of|is)\b", re.UNICODE)
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_and_tokenize(text: str) -> list[str]:
    """Synalinks' normalization, as tokens: lowercase, drop the words a/an/the/of/is, drop
    punctuation, split on whitespace. ``"The Cat is on the mat!"`` gives ``["cat", "on", "mat"]``."""
    text = _ARTICLES.sub("", text.lower())
    return text.translate(_PUNCTUATION).split()


def leaves(value: Any) -> list:
    """The leaves of a JSON value: objects by sorted keys, lists in order, recursively."""
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in leaves(value[key])]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def ragged_add(current: list[float] | None, fresh: list[float]) -> list[float]:
    """Position-wise sum of two count vectors, the shorter padded with zeros."""
    current = list(current or [])
    size = max(len(current), len(fresh))
    current += [0.0] * (size - len(current))
    fresh = list(fresh) + [0.0] * (size - len(fresh))
    return [float(a + b) for a, b in zip(current, fresh)]


def check_average(average: Any, owner: str, extra: tuple = ()) -> Any:
    allowed = AVERAGES + tuple(extra)
    if average not in allowed:
        raise InvalidInputError(
            f"{owner}: average must be one of {', '.join(map(repr, allowed))}, got {average!r}. None returns one "
            "score per field; 'micro' pools the counts of every field; 'macro' averages the fields' scores; "
            "'weighted' weighs them by their number of expected tokens (labels).")
    return average


def check_threshold(threshold: Any, owner: str) -> float:
    if not isinstance(threshold, float) or not 0.0 < threshold <= 1.0:
        raise InvalidInputError(
            f"{owner}: threshold must be a float with 0 < threshold <= 1 (e.g. 0.5), got {threshold!r}.")
    return threshold


def binary_leaves(value: Any, threshold: float, owner: str) -> list[float]:
    """The leaves as 0/1: booleans as they are, floats ``> threshold`` as 1."""
    out = []
    for leaf in leaves(value):
        if isinstance(leaf, bool):
            out.append(1.0 if leaf else 0.0)
        elif isinstance(leaf, float):
            out.append(1.0 if leaf > threshold else 0.0)
        else:
            raise InvalidInputError(
                f"{owner} compares booleans or floats in [0, 1], got the value {leaf!r:.60} "
                f"({type(leaf).__name__}). Keep only such fields with in_mask=[...] or drop the others with "
                "out_mask=[...].")
    return out


def aggregate(scores: list[float], average: Any, weights: list[float] | None) -> float | list[float]:
    """Reduce per-position scores: ``None`` keeps them (a float when there is one),
    ``"macro"``/``"micro"`` average them, ``"weighted"`` weighs them by ``weights``."""
    if average == "weighted":
        weights = list(weights or [])
        weights += [0.0] * (len(scores) - len(weights))
        total = sum(weights) + EPSILON
        return float(sum(s * w / total for s, w in zip(scores, weights)))
    if average is not None:
        return float(sum(scores) / len(scores)) if scores else 0.0
    if len(scores) == 1:
        return float(scores[0])
    return [float(s) for s in scores]


def check_labels(labels: Any, owner: str) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, (str, bytes, dict)) or not hasattr(labels, "__iter__"):
        raise InvalidInputError(
            f"{owner}: labels must be a list of label names (e.g. ['a', 'b']), got {labels!r:.80}.")
    return [str(label) for label in labels]


def by_label(result: Any, labels: list[str] | None, average: Any) -> Any:
    if labels is not None and average is None and isinstance(result, list):
        return dict(zip(labels, result))
    return result
