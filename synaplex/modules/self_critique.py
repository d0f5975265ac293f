"""SelfCritique: the language model critiques the inputs (typically an answer) and rewards them."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data.data_model import DataModel, Field
from synaplex.modules.generator import Generator
from synaplex.serialization import deserialize_synaplex_object


class Critique(DataModel):
    critique: str = Field(description="The elaborated critique of the provided inputs")


class CritiqueWithReward(DataModel):
    critique: str = Field(description="The elaborated critique of the provided inputs")
    reward: float = Field(ge=0.0, le=1.0, description="The reward value corresponding to the critique "
                                                      "(a float between 0.0 and 1.0), 0.0 being very bad and "
                                                      "1.0 very good")


def default_critique_instructions(return_reward: bool = True) -> str:
    if not return_reward:
        return "Your task is to carefully examine the provided inputs and write an elaborated critique of them."
    return ("Your task is to carefully examine the provided inputs and write an elaborated critique of them, "
            "then grade them with a reward. The reward is a float between 0.0 and 1.0, 0.0 being very bad and "
            "1.0 very good.")


class SelfCritique(Generator):
    """Critique the inputs and reward them in [0, 1]: the output is ``inputs + {critique,
    reward}`` by default, as in Synalinks (``return_inputs=False`` for the critique alone,
    ``return_reward=False`` for no reward).

    Example:
        >>> critiqued = await synaplex.SelfCritique(language_model=lm)(query & answer)
        >>> critiqued.get("reward")
    """

    def __init__(self, language_model: Any = None, instructions: str | None = None, return_inputs: bool = True,
                 return_reward: bool = True, **kwargs: Any):
        for key in ("data_model", "schema"):
            if kwargs.get(key) is not None:
                raise InvalidInputError(
                    f"SelfCritique(...) has a fixed output ({{critique, reward}}), so it takes no {key}=; use a "
                    "Generator for another output, or return_reward=False for the critique alone.")
            kwargs.pop(key, None)
        if not isinstance(return_reward, bool):
            raise InvalidInputError(f"SelfCritique(return_reward=...) must be True or False, got {return_reward!r}.")
        self.return_reward = return_reward
        super().__init__(
            data_model=CritiqueWithReward if return_reward else Critique, language_model=language_model,
            return_inputs=return_inputs, instructions=instructions or default_critique_instructions(return_reward),
            **kwargs)

    def _system_messages(self, input_schema: dict | None) -> list[dict]:
        # A state loaded from a file saved when the output was {critique, score} (its variables
        # are assigned after from_config) is read as {critique, reward}, once per value.
        value = self.state.get_json()
        if value is not getattr(self, "_read_state", None):
            migrated = _reward_state(value, default_critique_instructions(self.return_reward))
            if migrated is not value:
                self.state.assign(migrated)
            self._read_state = self.state.get_json()
        return super()._system_messages(input_schema)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("data_model", "schema"):
            config.pop(key, None)
        config["return_reward"] = self.return_reward
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        # Files saved when the output was {critique, score} hold that schema and may hold its
        # default instructions (which ask for a score) and examples: read as {critique, reward}.
        config.pop("schema", None)
        config.pop("data_model", None)
        if config.get("instructions") == _SCORE_INSTRUCTIONS:
            config["instructions"] = None
        config["examples"] = [_reward_example(e) for e in config.get("examples") or []]
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(**config)


# The default instructions of the {critique, score} SelfCritique, replaced when a file holds them.
_SCORE_INSTRUCTIONS = ("Critique the inputs: check the answer against the question, point out errors or "
                       "omissions, then score it from 0.0 to 1.0.")


def _reward_state(value: dict, instructions: str) -> dict:
    """``value`` (a state), or a copy read as {critique, reward} when it is of the score era."""
    examples = [_reward_example(e) for e in value.get("examples") or []]
    old_instructions = value.get("instructions") == _SCORE_INSTRUCTIONS
    if not old_instructions and all(new is old for new, old in zip(examples, value.get("examples") or [])):
        return value
    return {**value, "instructions": instructions if old_instructions else value["instructions"],
            "examples": examples}


def _reward_example(example: Any) -> Any:
    outputs = example.get("outputs") if isinstance(example, dict) else None
    if isinstance(outputs, dict) and "score" in outputs and "reward" not in outputs:
        outputs = {("reward" if key == "score" else key): value for key, value in outputs.items()}
        return {**example, "outputs": outputs}
    return example
