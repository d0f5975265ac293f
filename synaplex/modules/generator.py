"""Generator: ask a language model for an output that follows a DataModel's schema."""

from __future__ import annotations

import json
from typing import Any

from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.builtins import ChatMessage, ChatMessages, GeneratorState
from synaplex.data.data_model import is_data_model_class
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.lm.language_model import LanguageModel
from synaplex.lm.reasoning import check_effort
from synaplex.modules import trace
from synaplex.modules.module import Module
from synaplex.serialization import (
    deserialize_data_model,
    deserialize_synaplex_object,
    serialize_data_model,
    serialize_synaplex_object,
)

DEFAULT_PROMPT_TEMPLATE = "{instructions}{input_schema_section}{output_schema_section}"


def default_instructions(schema: dict | None) -> str:
    if schema is None:
        return "You are a helpful assistant. Answer the conversation's last message."
    fields = ", ".join(f"`{name}`" for name in schema.get("properties", {}))
    title = schema.get("title", "output")
    return (f"Read the inputs and produce the {title} as a JSON object with the fields {fields}. "
            "Follow each field's description.")


def normalize_examples(examples: Any, owner: str) -> list[dict]:
    """Few-shot examples as ``{"inputs": {...}, "outputs": {...}}`` dicts.

    Accepts Synalinks' ``(inputs, outputs)`` pairs, synaplex's dicts (an extra ``reward``
    key, as Synalinks saves its examples, is kept), and DataModels on either side.
    """
    if examples is None:
        return []
    if not isinstance(examples, (list, tuple)):
        raise InvalidInputError(f"{owner}(examples=...) must be a list of (inputs, outputs) pairs, got "
                                f"{type(examples).__name__}: {examples!r:.100}.")
    out = []
    for index, example in enumerate(examples):
        if isinstance(example, (list, tuple)) and len(example) == 2:
            example = {"inputs": example[0], "outputs": example[1]}
        if not isinstance(example, dict) or not {"inputs", "outputs"} <= example.keys():
            raise InvalidInputError(
                f"{owner}(examples=...): example {index} must be an (inputs, outputs) pair or a dict with "
                f"'inputs' and 'outputs', got {example!r:.100}.")
        example = dict(example)
        for side in ("inputs", "outputs"):
            value = example[side]
            if hasattr(value, "get_json"):  # a DataModel or JsonDataModel
                value = example[side] = value.get_json()
            if not isinstance(value, dict):
                raise InvalidInputError(
                    f"{owner}(examples=...): the {side} of example {index} must be a JSON object (a dict or a "
                    f"DataModel), got {type(value).__name__}: {value!r:.100}.")
        out.append(example)
    return out


def sampling_params(temperature=None, max_tokens=None, top_p=None, top_k=None, reasoning_effort=None) -> dict:
    """The request parameters a module sends: only those set (an unset one keeps the model's default)."""
    params = {"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p, "top_k": top_k,
              "reasoning_effort": check_effort(reasoning_effort)}
    return {key: value for key, value in params.items() if value is not None}


def resolve_language_model(language_model: Any):
    if language_model is None or isinstance(language_model, str):
        return LanguageModel(model=language_model)
    if not hasattr(language_model, "get_config") or not callable(language_model):
        raise InvalidInputError(
            f"language_model must be a synaplex.LanguageModel or a model string, got {language_model!r:.100}."
        )
    return language_model


class StreamingResponse:
    """The output of a ``Generator(streaming=True)``: iterate it for the text as it comes.

    ``async for piece in response`` yields text pieces; afterwards ``response.message`` (and
    ``get_json()``) hold the whole assistant message. ``await response.collect()`` reads it
    all at once. A stream can be read once, and it must be a program's output: a module
    that receives one unread gets a clear error.
    """

    def __init__(self, stream, schema: dict, finish=None):
        self._stream = stream
        self._schema = schema            # the schema of what the response stands for, once read
        self._finish = finish            # message -> that output (an agent's conversation); None: the message
        self._parts: list[str] = []
        self._started = False
        self.message: JsonDataModel | None = None
        self._output: JsonDataModel | None = None
        self.usage = None

    async def __aiter__(self):
        if self._started:
            raise InvalidInputError("This stream was already read; use response.message for its text.")
        self._started = True
        async for chunk in self._stream:
            if chunk.usage is not None:
                self.usage = chunk.usage
            if chunk.text:
                self._parts.append(chunk.text)
                yield chunk.text
        self.message = JsonDataModel(json={"role": "assistant", "content": "".join(self._parts),
                                           "tool_call_id": None, "tool_calls": []}, schema=ChatMessage.get_schema())
        self._output = self.message if self._finish is None else self._finish(self.message)

    async def collect(self) -> JsonDataModel:
        """Read the whole stream; return the assistant message."""
        if self.message is None:
            async for _ in self:
                pass
        return self.message

    def to_json_data_model(self) -> JsonDataModel:
        if self._output is None:
            raise InvalidInputError(
                "A streaming module's output was passed on before it was read: a stream must be the "
                "program's output (iterate it there), or use streaming=False for a step in the middle.")
        return self._output

    def get_json(self) -> dict:
        return self.to_json_data_model().get_json()

    def get_schema(self) -> dict:
        return self._schema

    def __repr__(self):
        return f"<StreamingResponse {'read' if self.message is not None else 'unread'}>"


class Generator(Module):
    """Generate a ``data_model`` (or, without one, a chat message) from the inputs.

    The system prompt is built from the instructions (a trainable Variable, as are the
    few-shot ``examples``: ``(inputs, outputs)`` pairs, as in Synalinks, or
    ``{"inputs", "outputs"}`` dicts) through ``prompt_template``, once per change of the
    variable; the inputs are sent as JSON in the user message.
    ``generator.format_messages(inputs)`` returns the exact messages sent, as ``ChatMessages``.

    ``temperature``, ``max_tokens``, ``top_p``, ``top_k`` are sent when set;
    ``reasoning_effort`` (``"minimal"``, ``"low"``, ``"medium"``, ``"high"``, ``"disable"``,
    ``"none"``) goes to the provider as its own reasoning setting (see ``LanguageModel``).

    Example:
        >>> outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    """

    def __init__(self, data_model=None, schema: dict | None = None, language_model: Any = None,
                 instructions: str | None = None, examples: list | None = None,
                 temperature: float | None = 0.0, prompt_template: str | None = None,
                 return_inputs: bool = False, use_inputs_schema: bool = False,
                 use_outputs_schema: bool = False, streaming: bool = False, max_tokens: int | None = None,
                 top_p: float | None = None, top_k: int | None = None, reasoning_effort: str | None = None,
                 name: str | None = None, description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        if data_model is not None and not is_data_model_class(data_model):
            raise DataModelTypeError(
                f"Generator(data_model=...) expects a synaplex.DataModel subclass, got {data_model!r:.100}."
            )
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInputError(
                "Generator(instructions=...) must be a string, got "
                f"{type(instructions).__name__}: {instructions!r:.100}. Join a list of instructions "
                "into one string, e.g. instructions=\"Be concise. Focus on key points.\""
            )
        if prompt_template is not None and not isinstance(prompt_template, str):
            raise InvalidInputError(f"prompt_template must be a string, got {prompt_template!r:.100}.")
        if streaming and (data_model is not None or schema is not None or return_inputs):
            raise InvalidInputError(
                "Generator(streaming=True) streams text, so it needs chat mode: no data_model=, schema= or "
                "return_inputs=. Structured outputs arrive whole, once validated.")
        self.streaming = streaming
        self.data_model = data_model
        self.schema = data_model.get_schema() if data_model is not None else schema
        self.language_model = resolve_language_model(language_model)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.top_k = top_k
        self.reasoning_effort = reasoning_effort
        self._call_kwargs = sampling_params(temperature, max_tokens, top_p, top_k, reasoning_effort)
        self.prompt_template = prompt_template or DEFAULT_PROMPT_TEMPLATE
        self.return_inputs = return_inputs
        self.use_inputs_schema = use_inputs_schema
        self.use_outputs_schema = use_outputs_schema
        self.state = self.add_variable(
            initializer=GeneratorState(instructions=instructions or default_instructions(self.schema),
                                       examples=normalize_examples(examples, type(self).__name__)),
            name="state",
        )
        self._output_schema = self.schema if self.schema is not None else ChatMessage.get_schema()
        self._system_cache: tuple | None = None
        self._concat = schema_lib.PlannedConcat()
        self.built = True

    # --- prompt ---------------------------------------------------------------------------

    def _system_messages(self, input_schema: dict | None) -> list[dict]:
        value = self.state.get_json()
        cache = self._system_cache
        if cache is not None and cache[0] is value and cache[1] is input_schema:
            return cache[2]
        sections = {
            "instructions": value["instructions"],
            "input_schema_section": "",
            "output_schema_section": "",
        }
        if self.use_inputs_schema and input_schema is not None:
            sections["input_schema_section"] = "\n\nThe inputs follow this JSON schema:\n" + json.dumps(input_schema)
        if self.use_outputs_schema and self.schema is not None:
            sections["output_schema_section"] = ("\n\nAnswer with JSON that follows this schema:\n"
                                                 + json.dumps(self.schema))
        try:
            system = self.prompt_template.format(**sections)
        except (KeyError, IndexError, ValueError) as error:
            raise InvalidInputError(
                f"prompt_template of {self.name!r} is invalid ({error!r}); it may use "
                "{instructions}, {input_schema_section} and {output_schema_section} (double other braces)."
            ) from None
        messages = [{"role": "system", "content": system}]
        for example in value.get("examples", []):
            messages.append({"role": "user", "content": json.dumps(example.get("inputs", {}), ensure_ascii=False)})
            messages.append({"role": "assistant",
                             "content": json.dumps(example.get("outputs", {}), ensure_ascii=False)})
        self._system_cache = (value, input_schema, messages)
        return messages

    def format_messages(self, inputs: Any) -> ChatMessages:
        """The messages this generator sends to its language model for ``inputs``, as
        ``ChatMessages`` (``.messages`` lists them; ``.get_json()`` gives them as JSON)."""
        return ChatMessages(messages=self._messages(inputs))

    def _messages(self, inputs: Any) -> list[dict]:
        if hasattr(inputs, "to_json_data_model"):
            inputs = inputs.to_json_data_model()
        if not isinstance(inputs, JsonDataModel):
            raise DataModelTypeError(f"{self.name}: inputs must be a DataModel or JsonDataModel, got {inputs!r:.100}.")
        system = self._system_messages(inputs.get_schema())
        if self.schema is None:
            conversation = inputs.get("messages")
            if conversation is None:
                raise InvalidInputError(
                    f"{self.name}: without data_model a Generator chats: its input must be "
                    f"ChatMessages (a 'messages' field); got fields {sorted(inputs.keys())}."
                )
            return system + list(conversation)
        return system + [{"role": "user", "content": json.dumps(inputs.get_json(), ensure_ascii=False)}]

    # --- calling ----------------------------------------------------------------------

    async def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(
                f"{self.name}: a Generator takes one input; merge several with '+', '&' or '|' first."
            )
        messages = self._messages(inputs)
        if self.streaming and not training:
            return StreamingResponse(self.language_model.stream(messages, **self._call_kwargs), self._output_schema)
        result = await self.language_model(messages, schema=self.schema, **self._call_kwargs)
        if self.schema is None:
            result = {"role": "assistant", "content": result.get("content", ""),
                      "tool_call_id": None, "tool_calls": result.get("tool_calls", [])}
        outputs = JsonDataModel(json=result, schema=self._output_schema)
        if training:
            trace.record(self.state, self.name, inputs.get_json(), result)
        if self.return_inputs:
            return self._concat(inputs, outputs)
        return outputs

    def compute_output_spec(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(
                f"{self.name}: a Generator takes one input; merge several with '+', '&' or '|' first."
            )
        output = SymbolicDataModel(schema=self._output_schema, data_model=self.data_model or
                                   (ChatMessage if self.schema is None else None))
        if self.return_inputs:
            schema, _ = schema_lib.concat_plan(inputs.get_schema(), self._output_schema)
            return SymbolicDataModel(schema=schema)
        return output

    # --- serialization ------------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(serialize_data_model(self.data_model, self.schema))
        config.update(
            language_model=serialize_synaplex_object(self.language_model),
            instructions=self.state["instructions"],
            examples=self.state["examples"],
            temperature=self.temperature,
            prompt_template=None if self.prompt_template == DEFAULT_PROMPT_TEMPLATE else self.prompt_template,
            return_inputs=self.return_inputs,
            use_inputs_schema=self.use_inputs_schema,
            use_outputs_schema=self.use_outputs_schema,
        )
        if self.streaming:
            config["streaming"] = True
        for key in ("max_tokens", "top_p", "top_k", "reasoning_effort"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        data_model, schema = deserialize_data_model(config)
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(data_model=data_model, schema=None if data_model else schema, **config)
