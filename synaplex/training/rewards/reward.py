"""Reward: the base class of rewards, and RewardError."""

from __future__ import annotations

import asyncio
import math
import numbers
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case
from synaplex.training.values import apply_masks, as_json_dict, check_mask, to_json_value


class RewardError(InvalidInputError):
    """A reward produced something that is not a number in [0, 1], or could not score."""


def check_score(value: Any, owner: str) -> float:
    """A reward's raw result as a float in [0, 1], or a :class:`RewardError`."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isnan(number) and 0.0 <= number <= 1.0:
            return number
    raise RewardError(
        f"Reward {owner!r} returned {value!r:.80} ({type(value).__name__}); rewards must be numbers "
        "in [0, 1] (a float, an int or a bool). Scale or clip the score in the reward function."
    )


class Reward:
    """Base class of rewards: subclass it and implement ``async def call(self, y_true, y_pred)``.

    ``call`` receives the values as :class:`~synaplex.training.values.JsonDict` (plain dicts
    that also answer Synalinks' ``get_json()``), already masked; ``y_pred`` is never ``None`` there, and
    ``y_true`` may be ``None`` unless the class sets ``needs_ground_truth = True``. It returns
    a number in [0, 1].

    Args:
        name: the reward's name (default: the class name in snake case).
        in_mask: the fields to compare (all others are ignored), e.g. ``["answer"]``.
        out_mask: the fields to ignore.

    Example:
        >>> class Shorter(synaplex.rewards.Reward):
        ...     async def call(self, y_true, y_pred):
        ...         return 1.0 if len(y_pred["answer"]) <= len(y_true["answer"]) else 0.0
    """

    needs_ground_truth = False

    def __init__(self, name: str | None = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"{type(self).__name__}: name must be a string, got {name!r}.")
        self.name = name or to_snake_case(type(self).__name__)
        self.in_mask = check_mask(in_mask, "in_mask", type(self).__name__)
        self.out_mask = check_mask(out_mask, "out_mask", type(self).__name__)

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `async def call(self, y_true, y_pred)`.")

    async def __call__(self, y_true: Any, y_pred: Any) -> float:
        """Score one prediction: a float in [0, 1] (``0.0`` when ``y_pred`` is ``None``)."""
        y_true = to_json_value(y_true, f"Reward {self.name!r}: y_true")
        y_pred = to_json_value(y_pred, f"Reward {self.name!r}: y_pred")
        if y_true is None and self.needs_ground_truth:
            raise InvalidInputError(
                f"Reward {self.name!r} ({type(self).__name__}) compares the prediction with a ground truth, "
                "but y_true is None. Pass y=... to fit()/evaluate(), or use a reward that can score a "
                "prediction alone (LMAsJudge, ProgramAsJudge, a custom function)."
            )
        if y_pred is None:
            return 0.0
        masked_true = apply_masks(y_true, self.in_mask, self.out_mask)
        if self.in_mask and y_true and not masked_true:
            raise InvalidInputError(
                f"Reward {self.name!r}: in_mask={self.in_mask} keeps no field of y_true (its fields: "
                f"{', '.join(map(repr, y_true))}). Name fields that the ground truth has."
            )
        masked_pred = apply_masks(y_pred, self.in_mask, self.out_mask)
        return check_score(await self.call(as_json_dict(masked_true), as_json_dict(masked_pred)), self.name)

    async def batch(self, y_true: list, y_pred: list) -> list[float]:
        """Score many predictions concurrently; one float per pair, in order."""
        y_true, y_pred = list(y_true), list(y_pred)
        if len(y_true) != len(y_pred):
            raise InvalidInputError(
                f"Reward {self.name!r}: batch() got {len(y_true)} ground truths and {len(y_pred)} "
                "predictions; they must be the same length."
            )
        return list(await asyncio.gather(*(self(t, p) for t, p in zip(y_true, y_pred))))

    def get_config(self) -> dict:
        return {"name": self.name, "in_mask": self.in_mask, "out_mask": self.out_mask}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"
