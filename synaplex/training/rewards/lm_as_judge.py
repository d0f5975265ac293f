"""LMAsJudge: a language model critiques the prediction and scores it."""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.modules.generator import resolve_language_model
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.rewards.reward import Reward

JUDGE_SCHEMA: dict = {
    "title": "Judgement",
    "type": "object",
    "properties": {
        "critique": {
            "title": "Critique",
            "type": "string",
            "description": "A short critique of the prediction: what is right, what is wrong or missing.",
        },
        "reward": {
            "title": "Reward",
            "type": "number",
            "minimum": 0.0,
            "maximum": 1.0,
            "description": "The score of the prediction, from 0.0 (wrong or useless) to 1.0 (fully correct).",
        },
    },
    "required": ["critique", "reward"],
}
"""The structured output that :class:`LMAsJudge` asks for (shared: do not mutate)."""

DEFAULT_JUDGE_INSTRUCTIONS = (
    "You are a strict, fair judge of a program's outputs. Critique the prediction, then give it "
    "a reward between 0.0 and 1.0: 1.0 when it is fully correct, 0.0 when it is wrong or useless, "
    "in between for partly correct answers."
)
_WITH_GROUND_TRUTH = "Compare the prediction with the ground truth: what matters is whether they agree."
_WITHOUT_GROUND_TRUTH = "There is no ground truth: judge the prediction on its own merits (correctness, coherence)."


class LMAsJudge(Reward):
    """A language model critiques the prediction and scores it in [0, 1].

    The model is asked for :data:`JUDGE_SCHEMA` (``{"critique": str, "reward": number}``)
    with a system message (the judge's instructions) and a user message that shows the
    ground truth and the prediction as JSON. With ``y_true=None`` it judges the prediction
    alone. The critique is asked for first so that the model reasons before it scores.

    Args:
        language_model: a ``synaplex.LanguageModel`` or a model string (default: the
            configured default language model).
        instructions: extra criteria for the judge, added to the default instructions
            (e.g. ``"Penalize answers longer than one sentence."``).

    Example:
        >>> synaplex.rewards.LMAsJudge(language_model=lm, in_mask=["answer"])
    """

    def __init__(self, language_model: Any = None, instructions: str | None = None,
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None, name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInputError(f"LMAsJudge: instructions must be a string, got {instructions!r:.80}.")
        self.language_model = resolve_language_model(language_model)
        self.instructions = instructions

    def messages(self, y_true: dict | None, y_pred: dict) -> list[dict]:
        """The chat messages sent to the judge for one example."""
        system = DEFAULT_JUDGE_INSTRUCTIONS + " " + (_WITHOUT_GROUND_TRUTH if y_true is None else _WITH_GROUND_TRUTH)
        if self.instructions:
            system += "\n\nAdditional instructions:\n" + self.instructions
        parts = []
        if y_true is not None:
            parts.append("Ground truth:\n```json\n" + json.dumps(y_true, ensure_ascii=False, indent=2) + "\n```")
        parts.append("Prediction:\n```json\n" + json.dumps(y_pred, ensure_ascii=False, indent=2) + "\n```")
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        judgement = await self.language_model(self.messages(y_true, y_pred), schema=JUDGE_SCHEMA)
        return judgement["reward"]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(language_model=serialize_synaplex_object(self.language_model), instructions=self.instructions)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        config["language_model"] = deserialize_synaplex_object(config.get("language_model"), custom_objects)
        return cls(**config)
