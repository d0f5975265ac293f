"""Strict, frozen message and response types of the provider layer (SynthOrg's shapes).

synaplex's own call path speaks plain dicts (:mod:`synaplex.lm.base`); these types are for code
that wants every message checked where it is made, as SynthOrg's provider models do:

* :class:`MessageRole`, :class:`FinishReason`, :class:`StreamEventType`: enums;
* :class:`ChatMessage`: role constraints (only an ``assistant`` carries ``tool_calls``, only a
  ``tool`` message carries a ``tool_result``, which it must; ``system``/``user`` need content);
* :class:`ToolDefinition`, :class:`ToolCall`, :class:`ToolResult` (with ``is_error``);
* :class:`CompletionConfig`, :class:`CompletionResponse` (content or tool calls, never neither),
  :class:`StreamChunk` (the ``event_type`` says which field is set);
* :class:`TokenUsage` with ``ZERO_TOKEN_USAGE`` the identity of a pure ``add`` (``a + b`` too),
  and :func:`compute_cost` from per-1k prices.

Every model is frozen and refuses ``NaN``/``inf``. ``to_wire()`` gives the neutral dict the
LanguageModel takes; :func:`response_from_completion` and :func:`chunk_events` read synaplex's
replies into these types.

Example:
    >>> ChatMessage(role="user", content="Hi", tool_calls=(ToolCall(id="1", name="f"),))
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: ... a 'user' message cannot carry tool_calls ...
"""

from __future__ import annotations

import enum
import json
import math
from typing import Annotated, Any

import pydantic

from synaplex.lm.errors import InvalidRequestError

NotBlankStr = Annotated[str, pydantic.StringConstraints(strip_whitespace=False, min_length=1, pattern=r"\S")]
_FROZEN = pydantic.ConfigDict(frozen=True, allow_inf_nan=False, extra="forbid")


class MessageRole(str, enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class FinishReason(str, enum.Enum):
    STOP = "stop"
    MAX_TOKENS = "max_tokens"
    TOOL_USE = "tool_use"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


class StreamEventType(str, enum.Enum):
    CONTENT_DELTA = "content_delta"
    TOOL_CALL_DELTA = "tool_call_delta"
    USAGE = "usage"
    ERROR = "error"
    DONE = "done"


# synaplex's neutral finish reasons (and the providers' words the adapters pass on) -> the enum
_FINISH_REASONS = {
    "stop": FinishReason.STOP, "end_turn": FinishReason.STOP, "stop_sequence": FinishReason.STOP,
    "STOP": FinishReason.STOP, "length": FinishReason.MAX_TOKENS, "max_tokens": FinishReason.MAX_TOKENS,
    "MAX_TOKENS": FinishReason.MAX_TOKENS, "tool_calls": FinishReason.TOOL_USE, "tool_use": FinishReason.TOOL_USE,
    "function_call": FinishReason.TOOL_USE, "content_filter": FinishReason.CONTENT_FILTER,
    "SAFETY": FinishReason.CONTENT_FILTER, "refusal": FinishReason.CONTENT_FILTER,
}


def finish_reason(value: str | None) -> FinishReason:
    """The enum for a synaplex finish reason; ``None`` (not reported) reads as ``STOP``, a word
    no mapping knows as ``ERROR`` (the reply ended for a reason the provider did not explain)."""
    if value is None:
        return FinishReason.STOP
    return _FINISH_REASONS.get(value, FinishReason.ERROR)


class TokenUsage(pydantic.BaseModel):
    """Token counts and cost of one call (or a sum of calls). ``a + b`` and ``a.add(b)`` return a new
    TokenUsage; ``ZERO_TOKEN_USAGE`` is their identity."""

    model_config = _FROZEN
    input_tokens: int = pydantic.Field(ge=0)
    output_tokens: int = pydantic.Field(ge=0)
    cost_usd: float = pydantic.Field(ge=0.0)

    @pydantic.computed_field
    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            raise TypeError(f"TokenUsage.add takes a TokenUsage, got {type(other).__name__}.")
        return TokenUsage(input_tokens=self.input_tokens + other.input_tokens,
                          output_tokens=self.output_tokens + other.output_tokens,
                          cost_usd=self.cost_usd + other.cost_usd)

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return self.add(other)


ZERO_TOKEN_USAGE = TokenUsage(input_tokens=0, output_tokens=0, cost_usd=0.0)


def add_token_usage(a: TokenUsage, b: TokenUsage) -> TokenUsage:
    """``a + b``: a new TokenUsage (neither argument changes)."""
    return a.add(b)


def compute_cost(input_tokens: int, output_tokens: int, cost_per_1k_input: float,
                 cost_per_1k_output: float) -> TokenUsage:
    """A TokenUsage from token counts and prices per 1,000 tokens (USD).

    Raises InvalidRequestError (naming the argument) for a negative or non-finite value.
    """
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                        ("cost_per_1k_input", cost_per_1k_input), ("cost_per_1k_output", cost_per_1k_output)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidRequestError(f"compute_cost: {name} must be a finite number >= 0, got {value!r}.")
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if not float(value).is_integer():
            raise InvalidRequestError(f"compute_cost: {name} must be a whole number of tokens, got {value!r}.")
    cost = input_tokens / 1000 * cost_per_1k_input + output_tokens / 1000 * cost_per_1k_output
    return TokenUsage(input_tokens=int(input_tokens), output_tokens=int(output_tokens), cost_usd=cost)


class ToolDefinition(pydantic.BaseModel):
    """A tool the model can call: its name, description and the JSON schema of its arguments."""

    model_config = _FROZEN
    name: NotBlankStr
    description: str = ""
    parameters_schema: dict[str, Any] = pydantic.Field(default_factory=dict)

    def to_wire(self) -> dict:
        return {"name": self.name, "description": self.description,
                "parameters": self.parameters_schema or {"type": "object", "properties": {}}}


class ToolCall(pydantic.BaseModel):
    """A tool call the model asked for."""

    model_config = _FROZEN
    id: NotBlankStr
    name: NotBlankStr
    arguments: dict[str, Any] = pydantic.Field(default_factory=dict)


class ToolResult(pydantic.BaseModel):
    """What a tool returned, sent back to the model; ``is_error`` marks a failed tool."""

    model_config = _FROZEN
    tool_call_id: NotBlankStr
    content: str
    is_error: bool = False


class ChatMessage(pydantic.BaseModel):
    """One message, checked on creation (see the module docstring for the role constraints)."""

    model_config = _FROZEN
    role: MessageRole
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_result: ToolResult | None = None

    @pydantic.model_validator(mode="after")
    def _validate_role_constraints(self) -> ChatMessage:
        role = self.role.value
        if self.tool_calls and self.role is not MessageRole.ASSISTANT:
            raise ValueError(f"a {role!r} message cannot carry tool_calls: only an 'assistant' message asks "
                             "for tool calls")
        if self.tool_result is not None and self.role is not MessageRole.TOOL:
            raise ValueError(f"a {role!r} message cannot carry a tool_result: send it as role='tool'")
        if self.role is MessageRole.TOOL and self.tool_result is None:
            raise ValueError("a 'tool' message needs tool_result=ToolResult(tool_call_id=..., content=...)")
        if self.role in (MessageRole.SYSTEM, MessageRole.USER) and not self.content:
            raise ValueError(f"a {role!r} message needs non-empty content")
        if self.role is MessageRole.ASSISTANT and not self.content and not self.tool_calls:
            raise ValueError("an 'assistant' message needs content or tool_calls")
        return self

    def to_wire(self) -> dict:
        """The neutral message dict a LanguageModel takes (a failed tool's content is marked)."""
        if self.role is MessageRole.TOOL:
            result = self.tool_result
            content = f"Error: {result.content}" if result.is_error else result.content
            return {"role": "tool", "content": content, "tool_call_id": result.tool_call_id}
        out: dict[str, Any] = {"role": self.role.value, "content": self.content or ""}
        if self.tool_calls:
            out["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        return out


class CompletionConfig(pydantic.BaseModel):
    """Optional parameters of a completion request (the provider fills in the rest)."""

    model_config = _FROZEN
    temperature: float | None = pydantic.Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = pydantic.Field(default=None, gt=0)
    stop_sequences: tuple[str, ...] = ()
    top_p: float | None = pydantic.Field(default=None, gt=0.0, le=1.0)
    timeout: float | None = pydantic.Field(default=None, gt=0.0)

    def to_params(self) -> dict:
        """The LanguageModel request parameters this config sets."""
        params = {k: v for k, v in (("temperature", self.temperature), ("max_tokens", self.max_tokens),
                                    ("top_p", self.top_p), ("timeout", self.timeout)) if v is not None}
        if self.stop_sequences:
            params["stop"] = list(self.stop_sequences)
        return params


class CompletionResponse(pydantic.BaseModel):
    """A non-streamed reply: content or tool calls (never neither), why it stopped, usage, model."""

    model_config = _FROZEN
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason
    usage: TokenUsage
    model: NotBlankStr
    provider_request_id: str | None = None

    @pydantic.model_validator(mode="after")
    def _validate_has_output(self) -> CompletionResponse:
        if not self.content and not self.tool_calls and self.finish_reason not in (
                FinishReason.CONTENT_FILTER, FinishReason.ERROR, FinishReason.MAX_TOKENS):
            raise ValueError("a completion needs content or tool_calls (unless it was filtered, cut or failed)")
        return self


class StreamChunk(pydantic.BaseModel):
    """One event of a streamed reply; ``event_type`` says which field it carries."""

    model_config = _FROZEN
    event_type: StreamEventType
    content: str | None = None
    tool_call_delta: ToolCall | None = None
    usage: TokenUsage | None = None
    error_message: str | None = None

    @pydantic.model_validator(mode="after")
    def _validate_event_fields(self) -> StreamChunk:
        required = {StreamEventType.CONTENT_DELTA: "content", StreamEventType.TOOL_CALL_DELTA: "tool_call_delta",
                    StreamEventType.USAGE: "usage", StreamEventType.ERROR: "error_message"}.get(self.event_type)
        if required is not None and getattr(self, required) is None:
            raise ValueError(f"a {self.event_type.value!r} event needs {required}")
        return self


def token_usage(usage: Any) -> TokenUsage:
    """A synaplex Usage as a TokenUsage (an unknown cost reads as 0.0: TokenUsage has no 'unknown')."""
    if usage is None:
        return ZERO_TOKEN_USAGE
    return TokenUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                      cost_usd=usage.cost or 0.0)


def _tool_call(call: dict) -> ToolCall:
    arguments = call.get("arguments")
    return ToolCall(id=call.get("id") or call.get("name") or "call", name=call.get("name") or "unknown",
                    arguments=arguments if isinstance(arguments, dict) else {})


def response_from_completion(value: dict, model: str, usage: Any, finish: str | None,
                             request_id: str | None) -> CompletionResponse:
    """A LanguageModel's reply (the assistant message dict) as a CompletionResponse."""
    return CompletionResponse(content=value.get("content") or None,
                              tool_calls=tuple(_tool_call(c) for c in value.get("tool_calls") or ()),
                              finish_reason=finish_reason(finish), usage=token_usage(usage), model=model,
                              provider_request_id=request_id)


def chunk_events(chunk: Any, tool_calls: dict[int, dict]) -> list[StreamChunk]:
    """synaplex stream chunk -> typed events. Tool-call pieces are gathered in ``tool_calls`` (by
    index) and each call is given as one ``tool_call_delta`` event, whole, at the stream's end."""
    events = []
    if chunk.text:
        events.append(StreamChunk(event_type=StreamEventType.CONTENT_DELTA, content=chunk.text))
    for delta in chunk.tool_call_deltas:
        slot = tool_calls.setdefault(delta.get("index", 0), {"id": None, "name": None, "arguments": ""})
        slot["id"] = delta.get("id") or slot["id"]
        slot["name"] = delta.get("name") or slot["name"]
        slot["arguments"] += delta.get("arguments_delta") or ""
    if chunk.usage is not None or chunk.finish_reason is not None:
        for _, slot in sorted(tool_calls.items()):
            try:
                arguments = json.loads(slot["arguments"] or "{}")
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):  # never run a call whose arguments cannot be read
                events.append(StreamChunk(event_type=StreamEventType.ERROR, error_message=(
                    f"tool call {slot['name']!r}: its arguments are not a JSON object: {slot['arguments']!r:.200}")))
                continue
            events.append(StreamChunk(event_type=StreamEventType.TOOL_CALL_DELTA, tool_call_delta=_tool_call(
                {"id": slot["id"], "name": slot["name"], "arguments": arguments})))
        tool_calls.clear()
        if chunk.usage is not None:
            events.append(StreamChunk(event_type=StreamEventType.USAGE, usage=token_usage(chunk.usage)))
            events.append(StreamChunk(event_type=StreamEventType.DONE))
    return events
