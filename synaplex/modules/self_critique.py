"""SelfCritique: the language model critiques the inputs (typically an answer) and scores them."""

from __future__ import annotations

from typing import Any

from synaplex.data.data_model import DataModel, Field
from synaplex.modules.generator import Generator
from synaplex.serialization import deserialize_synaplex_object


class Critique(DataModel):
    critique: str = Field(description="What is wrong or missing, step by step; say so if nothing is")
    score: float = Field(ge=0.0, le=1.0, description="How good the inputs are, from 0.0 (wrong) to 1.0 (perfect)")


class SelfCritique(Generator):
    """Critique the inputs and score them in [0, 1]; returns ``inputs + {critique, score}`` by
    default (``return_inputs=False`` for the critique alone).

    Example:
        >>> critiqued = await synaplex.SelfCritique(language_model=lm)(query & answer)
    """

    def __init__(self, language_model: Any = None, instructions: str | None = None, return_inputs: bool = True,
                 **kwargs: Any):
        kwargs.pop("data_model", None)
        kwargs.pop("schema", None)
        super().__init__(
            data_model=Critique, language_model=language_model, return_inputs=return_inputs,
            instructions=instructions or ("Critique the inputs: check the answer against the question, "
                                          "point out errors or omissions, then score it from 0.0 to 1.0."),
            **kwargs)

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config.pop("schema", None)
        config.pop("data_model", None)
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(**config)
