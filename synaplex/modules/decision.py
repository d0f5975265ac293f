"""Decision: a Generator whose answer is one of a fixed list of labels."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.modules.generator import Generator
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


def check_labels(labels: Any) -> list[str]:
    if not isinstance(labels, (list, tuple)) or not labels \
            or not all(isinstance(label, str) and label for label in labels):
        raise InvalidInputError(f"labels must be a non-empty list of non-empty strings, got {labels!r}.")
    duplicates = sorted({label for label in labels if list(labels).count(label) > 1})
    if duplicates:
        raise InvalidInputError(f"labels must be unique; repeated: {duplicates}.")
    return list(labels)


class Decision(Generator):
    """Answer ``question`` with one of ``labels``: the LM's choice is constrained to them by an
    enum in the schema, so it cannot answer anything else.

    Example:
        >>> decision = await synaplex.Decision(question="Evaluate query difficulty",
        ...                                    labels=["easy", "difficult"], language_model=lm)(inputs)
    """

    def __init__(self, question: str | None = None, labels: list[str] | None = None, language_model: Any = None,
                 instructions: str | None = None, examples: list | None = None, temperature: float | None = 0.0,
                 name: str | None = None, description: str | None = None, trainable: bool = True):
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError(f"Decision needs a question (a non-empty string), got {question!r}.")
        self.question = question
        self.labels = check_labels(labels)
        super().__init__(
            schema=decision_schema(question, self.labels), language_model=language_model,
            instructions=instructions or (f"{question} Think step by step, then choose exactly one of: "
                                          f"{', '.join(self.labels)}."),
            examples=examples, temperature=temperature, name=name, description=description, trainable=trainable)

    def get_config(self) -> dict:
        return {"name": self.name, "description": self.description, "trainable": self.trainable,
                "question": self.question, "labels": self.labels, "temperature": self.temperature,
                "instructions": self.state["instructions"], "examples": self.state["examples"],
                "language_model": serialize_synaplex_object(self.language_model)}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(**config)
