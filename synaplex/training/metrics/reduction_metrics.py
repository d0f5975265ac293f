"""Running means: Mean (of numbers), MeanOfScores (of a per-example score) and MeanMetricWrapper
(of a function)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.function_wrapping import FunctionWrapping
from synaplex.training.metrics.metric import ComparisonMetric, Metric


def _check_number(value: Any, owner: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real) and not math.isnan(float(value)):
        return float(value)
    raise InvalidInputError(f"Metric {owner!r} averages numbers, got {value!r:.80} ({type(value).__name__}).")


def _numbers(value: Any) -> list:
    """A number, or a list of numbers (Synalinks' ``update_state([1, 3, 5, 7])``), as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


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
    """The running mean of numbers: ``await mean.update_state(0.5)`` (or a list of numbers).

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
        for number in _numbers(value):
            self._add(number)


class Sum(Metric):
    """The running sum of numbers: ``await total.update_state([1, 3, 5, 7])`` reads 16.0.

    Example:
        >>> s = synaplex.metrics.Sum()
        >>> await s([1, 3, 5, 7])
        16.0
    """

    def __init__(self, name: str | None = None):
        super().__init__(name=name)
        self.reset_state()

    async def update_state(self, value: Any, *extra: Any) -> None:
        if extra:
            raise InvalidInputError(
                f"Metric {self.name!r} (Sum) adds numbers: update_state(value) with a number or a list of numbers.")
        self.total += sum(_check_number(number, self.name) for number in _numbers(value))

    def result(self) -> float:
        return self.total

    def reset_state(self) -> None:
        self.total = 0.0


class MeanOfScores(_Average, ComparisonMetric):
    """The mean over examples of a per-example score (implement ``_score``)."""

    def __init__(self, name: str | None = None, in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        self.reset_state()

    async def _score(self, y_true: dict | None, y_pred: dict | None) -> Any:
        raise NotImplementedError

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = self._prepare(y_true, y_pred)
        self._add(await self._score(y_true, y_pred))


class MeanMetricWrapper(FunctionWrapping, MeanOfScores):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (async or not) over the examples.

    ``fn`` receives the masked values as :class:`~synaplex.training.values.JsonDict` (plain
    dicts that also answer Synalinks' ``get_json()``; ``y_true`` may be ``None`` when there is
    no ground truth, ``y_pred`` when the program produced nothing) and returns a number. To
    save it, register ``fn`` with ``@synaplex.saving.register_synaplex_serializable()``.

    Example:
        >>> @synaplex.saving.register_synaplex_serializable()
        ... def answer_length(y_true, y_pred):
        ...     return len((y_pred or {}).get("answer", ""))
        >>> synaplex.metrics.MeanMetricWrapper(answer_length)
    """

    def __init__(self, fn: Any = None, name: str | None = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None, **kwargs: Any):
        if not callable(fn):
            raise InvalidInputError(f"MeanMetricWrapper: fn must be a function fn(y_true, y_pred), got {fn!r:.80}.")
        super().__init__(name=name or getattr(fn, "__name__", None), in_mask=in_mask, out_mask=out_mask)
        self.fn = fn
        self.fn_kwargs = kwargs

    async def _score(self, y_true: dict | None, y_pred: dict | None) -> Any:
        return await self.call_fn(y_true, y_pred)
