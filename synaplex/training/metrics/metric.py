"""Metric, the base class of metrics, and ComparisonMetric, the base of those that compare
``y_true`` with ``y_pred`` on the fields their masks select."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case
from synaplex.training.values import apply_masks, check_mask, to_json_value


class Metric:
    """Base class of metrics: implement ``update_state``, ``result`` and ``reset_state``.

    ``await metric(y_true, y_pred)`` updates the state and returns ``result()``, as in
    Keras and Synalinks.

    Args:
        name: the metric's name, its key in logs and History (default: the class name in
            snake case).

    Attributes:
        direction: ``"up"`` when higher is better, ``"down"`` when lower is, ``None`` when
            unknown (Synalinks' attribute).
    """

    direction: str | None = None

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"{type(self).__name__}: name must be a string, got {name!r}.")
        self.name = name or to_snake_case(type(self).__name__)

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement `async def update_state(...)`.")

    def result(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `result()`.")

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Update the state with one example (``y_true, y_pred``) and return ``result()``."""
        await self.update_state(*args, **kwargs)
        return self.result()

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement `reset_state()`.")

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class ComparisonMetric(Metric):
    """A metric of ``(y_true, y_pred)`` pairs, on the fields ``in_mask``/``out_mask`` select."""

    def __init__(self, name: str | None = None, in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(name=name)
        self.in_mask = check_mask(in_mask, "in_mask", type(self).__name__)
        self.out_mask = check_mask(out_mask, "out_mask", type(self).__name__)

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[dict | None, dict | None]:
        """Both values as plain dicts (or ``None``), masked."""
        y_true = to_json_value(y_true, f"Metric {self.name!r}: y_true")
        y_pred = to_json_value(y_pred, f"Metric {self.name!r}: y_pred")
        return apply_masks(y_true, self.in_mask, self.out_mask), apply_masks(y_pred, self.in_mask, self.out_mask)

    def get_config(self) -> dict:
        return {"name": self.name, "in_mask": self.in_mask, "out_mask": self.out_mask}


class BatchMetric(Metric):
    """Base class of metrics that need the whole batch at once (pass@k over the k samples
    of one problem, group statistics): implement ``update_state(y_true, y_pred)`` on lists
    (one entry per example of the batch), ``result`` and ``reset_state``.

    The trainer calls ``update_state`` once per batch with every example's ground truth and
    prediction (plain dicts; ``None`` for a failed prediction), while the other metrics are
    updated one example at a time.

    Example:
        >>> class AllCorrect(synaplex.metrics.BatchMetric):
        ...     def __init__(self, name=None):
        ...         super().__init__(name=name)
        ...         self.reset_state()
        ...     async def update_state(self, y_true, y_pred):
        ...         self.batches += 1
        ...         self.perfect += all(t == p for t, p in zip(y_true, y_pred))
        ...     def result(self):
        ...         return self.perfect / self.batches if self.batches else 0.0
        ...     def reset_state(self):
        ...         self.batches, self.perfect = 0, 0
    """
