"""Metric, the base class of metrics, and ComparisonMetric, the base of those that compare
``y_true`` with ``y_pred`` on the fields their masks select."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case
from synaplex.training.values import apply_masks, check_mask, to_json_value


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


class ComparisonMetric(Metric):
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
