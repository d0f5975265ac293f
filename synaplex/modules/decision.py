"""Decision: a Generator whose answer is one of a fixed list of labels."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.modules.generator import DEFAULT_PROMPT_TEMPLATE, Generator
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


def decision_schema(question: str, labels: list[str]) -> dict:
    """The output schema of a decision: step-by-step thinking, then a label from an enum."""
    return {
        "title": "Decision",
        "type": "object",
        "properties": {
            "thinking": {"type": "string", "description": "Your step by step thinking"},
            "choice": {"type": "string", "enum": list(labels), "description": question},
        },
        "required": ["thinking", "choice"],
    }


def check_labels(labels: Any, owner: str = "Decision") -> list[str]:
    if not isinstance(labels, (list, tuple)) or not labels \
            or not all(isinstance(label, str) and label for label in labels):
        raise InvalidInputError(f"{owner}: labels must be a non-empty list of non-empty strings, got {labels!r:.200}.")
    duplicates = sorted({label for label in labels if list(labels).count(label) > 1})
    if duplicates:
        raise InvalidInputError(f"{owner}: labels must be unique; repeated: {duplicates}.")
    return list(labels)


def check_question(question: Any, owner: str = "Decision") -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError(f"{owner} needs a question (a non-empty string), got {question!r:.100}.")
    return question


# Generator settings a decision passes on, saved when they differ from these defaults.
_OPTIONAL_SETTINGS = {"prompt_template": DEFAULT_PROMPT_TEMPLATE, "max_tokens": None, "top_p": None, "top_k": None,
                      "reasoning_effort": None, "use_inputs_schema": False, "use_outputs_schema": False}


class LabelsGenerator(Generator):
    """What Decision and MultiDecision share: a question, labels, and their saved form."""

    def _decision_config(self, **fields: Any) -> dict:
        config = {"name": self.name, "description": self.description, "trainable": self.trainable,
                  "question": self.question, "labels": self.labels, **fields, "temperature": self.temperature,
                  "instructions": self.state["instructions"], "examples": self.state["examples"],
                  "language_model": serialize_synaplex_object(self.language_model)}
        for key, default in _OPTIONAL_SETTINGS.items():
            if getattr(self, key) != default:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(**config)


class Decision(LabelsGenerator):
    """Answer ``question`` with one of ``labels``: the LM's choice is constrained to them by an
    enum in the schema, so it cannot answer anything else. The output is
    ``{"thinking", "choice"}``, as in Synalinks.

    ``prompt_template``, ``max_tokens``, ``top_p``, ``top_k``, ``reasoning_effort``,
    ``use_inputs_schema``, ``use_outputs_schema`` are the Generator's.

    Example:
        >>> decision = await synaplex.Decision(question="Evaluate query difficulty",
        ...                                    labels=["easy", "difficult"], language_model=lm)(inputs)
    """

    def __init__(self, question: str | None = None, labels: list[str] | None = None, language_model: Any = None,
                 instructions: str | None = None, examples: list | None = None, temperature: float | None = 0.0,
                 prompt_template: str | None = None, max_tokens: int | None = None, top_p: float | None = None,
                 top_k: int | None = None, reasoning_effort: str | None = None, use_inputs_schema: bool = False,
                 use_outputs_schema: bool = False, name: str | None = None, description: str | None = None,
                 trainable: bool = True):
        self.question = check_question(question)
        self.labels = check_labels(labels)
        super().__init__(
            schema=decision_schema(question, self.labels), language_model=language_model,
            instructions=instructions or (f"{question} Think step by step, then choose exactly one of: "
                                          f"{', '.join(self.labels)}."),
            examples=examples, temperature=temperature, prompt_template=prompt_template, max_tokens=max_tokens,
            top_p=top_p, top_k=top_k, reasoning_effort=reasoning_effort, use_inputs_schema=use_inputs_schema,
            use_outputs_schema=use_outputs_schema, name=name, description=description, trainable=trainable)

    def get_config(self) -> dict:
        return self._decision_config()
