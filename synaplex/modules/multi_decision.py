"""MultiDecision: a Generator whose answer is one or more of a fixed list of labels."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.modules.decision import LabelsGenerator, check_labels, check_question


def multi_decision_schema(question: str, labels: list[str], inline: bool = True) -> dict:
    """Step-by-step thinking, then ``choices``: an array whose items are labels (an enum).

    ``inline=False`` puts the enum in ``$defs`` (``Choices``) and refers to it, as Synalinks does.
    """
    enum = {"type": "string", "enum": list(labels)}
    schema = {
        "title": "MultiDecisionAnswer",
        "type": "object",
        "properties": {
            "thinking": {"type": "string", "description": "Your step by step thinking to choose the correct labels."},
            "choices": {"type": "array", "description": f"The chosen labels (one or more): {question}",
                        "items": enum if inline else {"$ref": "#/$defs/Choices"}},
        },
        "required": ["thinking", "choices"],
    }
    if not inline:
        schema = {"$defs": {"Choices": {"title": "Choices", **enum}}, **schema}
    return schema


def default_multi_decision_instructions(question: str, labels: list[str]) -> str:
    return (f"{question} Think step by step, then choose one or more of the following labels: "
            f"{', '.join(labels)}.")


class MultiDecision(LabelsGenerator):
    """Answer ``question`` with one or more of ``labels`` (multi-label classification).

    The output is ``{"thinking", "choices"}``, as in Synalinks: ``choices`` is a list whose
    items are constrained to ``labels`` by an enum in the schema (the embedded model's
    constrained decoding cannot produce anything else; other models are validated against it).

    Args:
        question: what to decide.
        labels: the labels to choose from (unique, non-empty strings).
        inline: ``True`` (the default) puts the enum in the array's items; ``False`` refers to
            it in ``$defs``.
        The others are the Generator's (``instructions``, ``examples``, ``temperature``,
        ``prompt_template``, ``max_tokens``, ``top_p``, ``top_k``, ``reasoning_effort``,
        ``use_inputs_schema``, ``use_outputs_schema``).

    Example:
        >>> topics = await synaplex.MultiDecision(question="Which topics does this article cover?",
        ...     labels=["science", "politics", "sports", "technology"], language_model=lm)(inputs)
        >>> topics.get("choices")
        ['science', 'technology']
    """

    def __init__(self, question: str | None = None, labels: list[str] | None = None, language_model: Any = None,
                 inline: bool = True, instructions: str | None = None, examples: list | None = None,
                 temperature: float | None = 0.0, prompt_template: str | None = None, max_tokens: int | None = None,
                 top_p: float | None = None, top_k: int | None = None, reasoning_effort: str | None = None,
                 use_inputs_schema: bool = False, use_outputs_schema: bool = False, name: str | None = None,
                 description: str | None = None, trainable: bool = True):
        self.question = check_question(question, "MultiDecision")
        self.labels = check_labels(labels, "MultiDecision")
        if not isinstance(inline, bool):
            raise InvalidInputError(f"MultiDecision(inline=...) must be True or False, got {inline!r}.")
        self.inline = inline
        super().__init__(
            schema=multi_decision_schema(question, self.labels, inline), language_model=language_model,
            instructions=instructions or default_multi_decision_instructions(question, self.labels),
            examples=examples, temperature=temperature, prompt_template=prompt_template, max_tokens=max_tokens,
            top_p=top_p, top_k=top_k, reasoning_effort=reasoning_effort, use_inputs_schema=use_inputs_schema,
            use_outputs_schema=use_outputs_schema, name=name, description=description, trainable=trainable)

    def get_config(self) -> dict:
        return self._decision_config(inline=self.inline)
