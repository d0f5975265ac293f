"""What the adapters of the tool-use wires share (Anthropic Messages, Bedrock Converse).

Both wires speak in content blocks, take tools whose input is an object, and have no JSON-schema
mode for every model, so structured output is a forced call of one extra tool,
``structured_output``, whose input is the answer. A schema whose top level is not an object is
wrapped as ``{"value": <schema>}`` and unwrapped on the way back. With extended thinking enabled
(which forbids forcing a tool) the tool is asked for instead.

:class:`ForcedToolAdapter` holds the logic; each adapter keeps only its wire's field names and
shapes (class attributes and a few small methods). Adapters never import one another: both
import this module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from synaplex.backend.redaction import safe_headers
from synaplex.lm import wire
from synaplex.lm.base import Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import LMError, ProviderInternalError
from synaplex.lm.http import DEFAULT_MAX_RESPONSE_BYTES, HttpClient

STRUCTURED_TOOL = "structured_output"
STRUCTURED_TOOL_DESCRIPTION = "Answer with this tool; its input is the answer."
#: The system instruction when the structured tool can only be asked for (extended thinking).
STRUCTURED_TOOL_INSTRUCTION = f"Answer by calling the {STRUCTURED_TOOL} tool."
#: max_tokens when none is given (plus the thinking budget when extended thinking is on).
DEFAULT_MAX_TOKENS = 4096
DEFAULT_TIMEOUT = 120.0

# Neutral params the adapters translate themselves (everything else goes into the body as is).
HANDLED_PARAMS = frozenset({"max_tokens", "temperature", "top_p", "stop", "seed", "timeout", "tool_choice",
                            "parallel_tool_calls", "stream", "extra_body"})


def json_arguments(arguments: Any) -> Any:
    """Tool-call arguments as a dict (a JSON string, as OpenAI-shaped messages carry, is parsed)."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            return {"arguments": arguments}
    return {} if arguments is None else arguments


def structured_schema(schema: dict) -> tuple[dict, bool]:
    """The input schema of the structured-output tool, and whether the answer is wrapped
    in ``{"value": ...}`` (a tool's input must be an object)."""
    kind = schema.get("type")
    composite = any(key in schema for key in ("$ref", "anyOf", "oneOf", "allOf", "items", "enum", "const"))
    if kind == "object" or (kind is None and ("properties" in schema or not composite)):
        return ({**schema, "type": "object"} if kind is None else schema), False
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema")}
    wrapped: dict = {"type": "object", "properties": {"value": inner}, "required": ["value"]}
    for key in ("$defs", "definitions"):
        if key in schema:
            wrapped[key] = schema[key]
    return wrapped, True


def tool_spec(tool: dict) -> tuple[str, str, dict]:
    """A neutral (or OpenAI-shaped) tool as its name, description and input schema (an object)."""
    if isinstance(tool.get("function"), dict):  # an OpenAI-shaped tool
        tool = tool["function"]
    schema = tool.get("parameters") or tool.get("input_schema") or {"type": "object", "properties": {}}
    if "type" not in schema:
        schema = {"type": "object", **schema}
    return tool["name"], tool.get("description") or "", schema


def thinking_enabled(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def default_max_tokens(thinking: Any) -> int:
    """max_tokens when none is given: room beyond an extended-thinking budget."""
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    return DEFAULT_MAX_TOKENS + (budget if isinstance(budget, int) else 0)


def stop_sequences(stop: Any) -> list | None:
    if not stop:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


class StructuredStream:
    """The tool-use blocks of one streamed reply: tool-call deltas, and the structured tool's
    input as the reply's text (unwrapped when the schema was wrapped)."""

    def __init__(self, request: CompletionRequest, wrapped: bool):
        self.structured = request.schema is not None
        self.wrapped = wrapped
        self.tool_index: dict[Any, int] = {}      # content block index -> tool call index
        self.structured_blocks: set = set()
        self.structured_json: list[str] = []

    def start(self, index: Any, call_id: Any, name: Any, initial: Any = None) -> StreamChunk | None:
        """A tool-use block starts: its first delta, or None for the structured tool's block."""
        if self.structured and name == STRUCTURED_TOOL and not self.structured_blocks:
            self.structured_blocks.add(index)
            return None
        self.tool_index[index] = len(self.tool_index)
        return StreamChunk(tool_call_deltas=[{"index": self.tool_index[index], "id": call_id, "name": name,
                                              "arguments_delta": json.dumps(initial) if initial else ""}])

    def delta(self, index: Any, piece: str) -> StreamChunk | None:
        """A piece of a tool-use block's input JSON."""
        if index in self.structured_blocks:
            self.structured_json.append(piece)
            return StreamChunk(text=piece) if piece and not self.wrapped else None
        if index in self.tool_index and piece:
            return StreamChunk(tool_call_deltas=[{"index": self.tool_index[index], "arguments_delta": piece}])
        return None

    def stop(self, index: Any) -> StreamChunk | None:
        """A block ends: a wrapped structured answer is sent whole, unwrapped."""
        if index in self.structured_blocks and self.wrapped:
            try:
                value = wire.loads("".join(self.structured_json) or "{}")
            except wire.WireValueError:
                value = None
            text = json.dumps(value.get("value")) if isinstance(value, dict) and "value" in value \
                else "".join(self.structured_json)
            return StreamChunk(text=text)
        return None

    def finish_reason(self, finish_reason: str | None) -> str | None:
        """A reply that only called the structured tool stopped, it called no tool."""
        if self.structured_blocks and finish_reason == "tool_calls" and not self.tool_index:
            return "stop"
        return finish_reason


class ForcedToolAdapter:
    """The shared part of the Anthropic and Bedrock adapters. A subclass sets the wire's names
    (class attributes) and implements ``_body``, ``_read_completion``, ``_stream`` and the
    message hooks (``_blocks``, ``_system_part``, ``_system_out``, ``_tool_result``,
    ``_tool_use``, ``_turn_content``, ``_merged``, ``_role_error``)."""

    #: The names of the reply's shape in error messages.
    REPLY_SHAPE: ClassVar[str] = ""
    STREAM_SHAPE: ClassVar[str] = ""
    #: The wire's stop reasons -> neutral finish reasons, and the key of the stop reason.
    FINISH_REASONS: ClassVar[dict] = {}
    STOP_REASON_KEY: ClassVar[str] = ""
    #: The usage keys: input, output, cache read, cache write.
    USAGE_KEYS: ClassVar[tuple[str, str, str, str]] = ("", "", "", "")

    _http: HttpClient

    def _init_options(self, profile, model_name: str, timeout: float, headers: dict | None,
                      max_response_bytes: int) -> None:
        self.profile = profile
        self.model_name = model_name
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.repair_attempts = profile.repair_attempts
        self.extra_headers = dict(headers or {})

    @property
    def http(self) -> HttpClient:
        return self._http

    def _extra_config(self) -> dict:
        return {}

    def get_config(self) -> dict:
        """Options safe to save: never a key, a credential nor an auth header."""
        config: dict = {} if self.timeout == DEFAULT_TIMEOUT else {"timeout": self.timeout}
        if self.max_response_bytes != DEFAULT_MAX_RESPONSE_BYTES:
            config["max_response_bytes"] = self.max_response_bytes
        config.update(self._extra_config())
        safe = safe_headers(self.extra_headers)  # credential headers by rule, never saved
        if safe:
            config["headers"] = safe
        return config

    # --- request -------------------------------------------------------------------------

    def _messages(self, messages: list[dict]) -> tuple[Any, list[dict]]:
        """The system part and the turns (consecutive turns of one role merged: both wires want
        user and assistant turns to alternate)."""
        system: list = []
        out: list[dict] = []
        for message in messages:
            role = message.get("role")
            content = message.get("content")
            if role == "system":
                system.extend(self._system_part(content))
                continue
            if role == "tool":
                turn = {"role": "user", "content": [self._tool_result(message.get("tool_call_id"), content)]}
            elif role == "assistant" and message.get("tool_calls"):
                blocks = self._blocks(content)
                for call in message["tool_calls"]:
                    function = call.get("function") if isinstance(call.get("function"), dict) else call
                    blocks.append(self._tool_use(call.get("id"), function.get("name"),
                                                 json_arguments(function.get("arguments"))))
                turn = {"role": "assistant", "content": blocks}
            elif role in ("user", "assistant"):
                turn = {"role": role, "content": self._turn_content(content)}
            else:
                raise self._role_error(role)
            if out and out[-1]["role"] == turn["role"]:
                out[-1] = {"role": turn["role"], "content": self._merged(out[-1]["content"], turn["content"])}
            else:
                out.append(turn)
        return self._system_out(system), out

    def _structured_tool(self, request: CompletionRequest, thinking: Any) -> tuple[dict, bool, bool]:
        """The structured tool's input schema, whether the answer is wrapped, and whether the
        tool can be forced (extended thinking forbids it: it is asked for instead)."""
        input_schema, wrapped = structured_schema(request.schema)
        return input_schema, wrapped, not thinking_enabled(thinking)

    # --- response ------------------------------------------------------------------------

    def _usage(self, usage: Any) -> Usage:
        usage = usage or {}
        if not isinstance(usage, dict):
            raise wire.WireValueError(f"usage is a {type(usage).__name__}, not an object")
        input_key, output_key, read_key, write_key = self.USAGE_KEYS
        cache_read = wire.count(usage.get(read_key), f"usage.{read_key}")
        cache_write = wire.count(usage.get(write_key), f"usage.{write_key}")
        return Usage(calls=1, input_tokens=wire.count(usage.get(input_key), f"usage.{input_key}")
                     + cache_write + cache_read,
                     output_tokens=wire.count(usage.get(output_key), f"usage.{output_key}"),
                     cached_tokens=cache_read, cost=None)

    def _unexpected(self, what: str, data: Any) -> ProviderInternalError:
        shown = data if isinstance(data, str) else wire.excerpt(data, 300)
        return ProviderInternalError(f"{self.profile.name}/{self.model_name}: {what}: {shown[:300]}",
                                     provider=self.profile.name, model=self.model_name, secrets=self._http.secrets)

    def _finish_reason(self, stop_reason: Any) -> str | None:
        """The neutral finish reason of a stop reason (which must be text or None)."""
        if stop_reason is not None and not isinstance(stop_reason, str):
            raise wire.WireValueError(f"{self.STOP_REASON_KEY} is a {type(stop_reason).__name__}, not text")
        return self.FINISH_REASONS.get(stop_reason, stop_reason)

    def _read(self, data: Any, *args: Any) -> Completion:
        """``_read_completion(data, *args)``; ProviderInternalError when the reply is malformed."""
        try:
            return self._read_completion(data, *args)
        except LMError:
            raise
        except wire.SHAPE_ERRORS as error:
            problem = str(error) or type(error).__name__
        raise self._unexpected(f"the reply does not have the {self.REPLY_SHAPE} shape ({problem})", data)

    def _read_completion(self, data: Any, *args: Any) -> Completion:
        raise NotImplementedError

    @staticmethod
    def _answer(text: str, tool_calls: list[dict], usage: Usage, finish_reason: str | None,
                request_id: str | None, reasoning: list[str], structured: dict | None, wrapped: bool) -> Completion:
        """The Completion of a read reply: the reasoning blocks joined, the structured tool's
        input as the answer (unwrapped); a reply that only called the structured tool stopped,
        it called no tool."""
        completion = Completion(text=text, tool_calls=tool_calls, usage=usage, finish_reason=finish_reason,
                                request_id=request_id)
        if reasoning:
            completion.reasoning = "\n\n".join(reasoning)
        if structured is not None:
            if wrapped and "value" in structured:
                completion.parsed = structured["value"]
            elif not wrapped:
                completion.parsed = structured
            # Wrapped without "value": parsed stays None and the facade reports the raw reply.
            completion.text = json.dumps(structured["value"] if wrapped and "value" in structured else structured)
            if completion.finish_reason == "tool_calls" and not completion.tool_calls:
                completion.finish_reason = "stop"
        return completion

    def _body(self, request: CompletionRequest, stream: bool = False) -> tuple[dict, float | None, bool]:
        raise NotImplementedError

    def _stream(self, request: CompletionRequest, body: dict, timeout: float | None,
                wrapped: bool) -> AsyncIterator[StreamChunk]:
        raise NotImplementedError

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        body, timeout, wrapped = self._body(request, stream=True)
        problem: str | None = None
        try:
            async for chunk in self._stream(request, body, timeout, wrapped):
                yield chunk
        except LMError:
            raise
        except wire.SHAPE_ERRORS as error:  # the events are untrusted data
            problem = str(error) or type(error).__name__
        if problem is not None:
            raise self._unexpected(f"a stream event does not have the {self.STREAM_SHAPE} shape", problem)

    async def aclose(self) -> None:
        await self._http.aclose()
