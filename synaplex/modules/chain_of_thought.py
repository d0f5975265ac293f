"""ChainOfThought: a Generator that thinks step by step before its answer."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.data_model import DataModel, Field
from synaplex.modules.generator import Generator
from synaplex.serialization import serialize_data_model


class Thinking(DataModel):
    thinking: str = Field(description="Your step by step thinking")


class ChainOfThought(Generator):
    """Generate ``thinking`` first, then the fields of ``data_model`` (or ``schema``).

    Example:
        >>> outputs = await synaplex.ChainOfThought(data_model=Answer, language_model=lm)(inputs)
        >>> outputs.get("thinking"), outputs.get("answer")
    """

    def __init__(self, data_model=None, schema: dict | None = None, language_model: Any = None, **kwargs):
        base = data_model.get_schema() if data_model is not None else schema
        if base is None:
            raise InvalidInputError("ChainOfThought needs data_model=<DataModel> or schema=<JSON schema>.")
        self.answer_data_model = data_model
        combined, _ = schema_lib.concat_plan(Thinking.get_schema(), base)
        combined["title"] = f"{base.get('title', 'Answer')}WithThinking"
        super().__init__(schema=combined, language_model=language_model, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        answer = self.answer_data_model
        config.update(serialize_data_model(answer, answer.get_schema() if answer else None))
        if answer is None:
            properties = dict(self.schema["properties"])
            properties.pop("thinking", None)
            config["schema"] = {**self.schema, "properties": properties,
                                "required": [r for r in self.schema.get("required", []) if r != "thinking"]}
        return config
