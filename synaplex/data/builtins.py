"""Built-in DataModels: chat messages, tool calls, embeddings, instructions, module states."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pydantic

from synaplex.data.data_model import DataModel, Field


class ChatRole(str, Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ToolCall(DataModel):
    """A tool call requested by the model: which tool, with which arguments."""

    id: str = Field(description="The call's identifier, echoed by the tool's result message")
    name: str = Field(description="The tool's name")
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments")
    # Set by the provider adapters on a call whose arguments could not be read (see
    # synaplex.lm.tools.tool_call): such a call must never run. Left out of the JSON when unset.
    arguments_error: str | None = Field(default=None, description="Why the arguments are unusable")
    arguments_raw: str | None = Field(default=None, description="The unreadable arguments, as sent")

    @pydantic.model_serializer(mode="wrap")
    def _leave_out_unset_errors(self, handler):
        out = handler(self)
        for key in ("arguments_error", "arguments_raw"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


class ChatMessage(DataModel):
    """One message of a conversation."""

    role: ChatRole = Field(description="Who speaks: system, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = Field(
        default="", description="The text of the message, or its parts: text and images "
        "({'type': 'image_url', 'image_url': {'url': ...}})")
    tool_call_id: str | None = Field(default=None, description="For a tool message: the call it answers")
    tool_calls: list[ToolCall] = Field(default_factory=list, description="Tool calls requested by the assistant")


class ChatMessages(DataModel):
    """A conversation: the input of chat programs and of agents."""

    messages: list[ChatMessage] = Field(default_factory=list, description="The messages, oldest first")


class Embedding(DataModel):
    embedding: list[float] = Field(description="An embedding vector")


class Embeddings(DataModel):
    embeddings: list[list[float]] = Field(description="Embedding vectors, one per input text")


class Instructions(DataModel):
    instructions: str = Field(description="Instructions for the language model")


class GeneratorState(DataModel):
    """The trainable state of a Generator: its instructions and its few-shot examples."""

    instructions: str = Field(description="The instructions sent to the language model")
    examples: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Few-shot examples, each {'inputs': {...}, 'outputs': {...}}",
    )
