"""The Anthropic Messages API adapter (``model="anthropic/claude-..."``).

Translates the neutral formats of :mod:`synaplex.lm.base` to and from
``POST {api_base}/messages``:

* system messages are joined into the top-level ``system`` string;
* an assistant message with ``tool_calls`` becomes ``text`` + ``tool_use`` content blocks;
* tool messages become ``tool_result`` blocks of a user message (consecutive messages of
  the same role are merged, as Anthropic requires alternating roles);
* ``max_tokens`` is required by Anthropic: 4096 unless given (plus the thinking budget when
  extended thinking is on); ``stop`` becomes
  ``stop_sequences``; ``seed`` (not supported by Anthropic) is dropped; ``timeout`` is the
  request timeout; any other parameter (``thinking``, ``metadata``, ``top_k``…) goes into
  the body as is;
* structured output (profile strategy ``tool``) is a forced call of one extra tool,
  ``structured_output``, whose input is the answer. A schema whose top level is not an object
  is wrapped as ``{"value": <schema>}`` and unwrapped on the way back. With extended
  thinking enabled (which forbids forcing a tool) the tool is asked for instead;
* the reply's ``thinking`` blocks become ``Completion.reasoning``; a ``refusal`` stop raises
  :class:`~synaplex.lm.errors.ContentFilterError`.

All HTTP goes through :class:`~synaplex.lm.http.HttpClient`, which maps statuses, network
failures and ``event: error`` stream events to typed errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from synaplex.lm import wire
from synaplex.lm.base import Capabilities, Completion, CompletionRequest, StreamChunk
from synaplex.lm.errors import ContentFilterError, InvalidRequestError
from synaplex.lm.forced_tool import (
    DEFAULT_MAX_TOKENS,  # noqa: F401 - part of this module's names
    DEFAULT_TIMEOUT,
    HANDLED_PARAMS,
    STRUCTURED_TOOL,
    STRUCTURED_TOOL_DESCRIPTION,
    STRUCTURED_TOOL_INSTRUCTION,
    ForcedToolAdapter,
    StructuredStream,
    default_max_tokens,
    stop_sequences,
    tool_spec,
)
from synaplex.lm.forced_tool import structured_schema as _structured_schema  # noqa: F401 - kept importable
from synaplex.lm.http import DEFAULT_MAX_RESPONSE_BYTES, HttpClient
from synaplex.lm.messages import split_data_url
from synaplex.lm.options import merge_extra_body
from synaplex.lm.tools import mark_cut_off, tool_call

#: The most pages of a model list read before the list is deemed endless.
MAX_MODEL_PAGES = 100

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _image_block(part: dict) -> dict:
    """A neutral image part as an Anthropic ``image`` block (a base64 or a URL source)."""
    url = part["image_url"]["url"]
    data = split_data_url(url)
    if data is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": data[0], "data": data[1]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list:
    if isinstance(content, list):
        return [_image_block(p) if isinstance(p, dict) and p.get("type") == "image_url" else p for p in content]
    return [{"type": "text", "text": content}] if content else []


class AnthropicAdapter(ForcedToolAdapter):
    """Speaks the Anthropic Messages API. Built by the ``LanguageModel`` facade.

    Args:
        profile: the ``anthropic`` provider profile (auth header, version header…).
        model_name: e.g. ``claude-3-5-haiku-latest``.
        api_key: sent as ``x-api-key``; never logged, saved nor put in an error message.
        api_base: the API root, ``https://api.anthropic.com/v1`` by default.
        transport: an ``httpx2`` async transport (tests pass ``httpx2.MockTransport``).
        timeout: seconds for a whole request (a stream: to the first event, then between two).
        max_response_bytes: the largest reply read (see :mod:`synaplex.lm.http`).
        headers: extra HTTP headers, e.g. ``{"anthropic-beta": "..."}`` (saved in the config,
            except auth headers).
    """

    provider = "anthropic"
    REPLY_SHAPE = "Messages"
    STREAM_SHAPE = "Messages"
    FINISH_REASONS = _FINISH_REASONS
    STOP_REASON_KEY = "stop_reason"
    USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")

    def __init__(self, profile, model_name: str, api_key: str | None, api_base: str | None, transport=None,
                 timeout: float = DEFAULT_TIMEOUT, headers: dict | None = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self._init_options(profile, model_name, timeout, headers, max_response_bytes)
        self._http = HttpClient.for_profile(profile, model_name, api_key, api_base, timeout=timeout,
                                            transport=transport, headers=self.extra_headers,
                                            max_response_bytes=max_response_bytes)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(context_window=200_000 if self.model_name.startswith("claude") else None,
                            tools=self.profile.tools,
                            vision=not self.model_name.startswith(("claude-instant", "claude-2")),
                            structured_output=True, streaming=True,
                            embeddings=False)

    # --- request -------------------------------------------------------------------------

    _blocks = staticmethod(_blocks)

    @staticmethod
    def _system_part(content: Any) -> list[str]:
        if not content:
            return []
        return [content if isinstance(content, str) else
                "".join(b.get("text", "") for b in content if isinstance(b, dict))]

    @staticmethod
    def _system_out(system: list[str]) -> str | None:
        return "\n\n".join(system) if system else None

    @staticmethod
    def _tool_result(call_id: Any, content: Any) -> dict:
        return {"type": "tool_result", "tool_use_id": call_id, "content": content if content is not None else ""}

    @staticmethod
    def _tool_use(call_id: Any, name: Any, arguments: Any) -> dict:
        return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}

    @staticmethod
    def _turn_content(content: Any) -> Any:
        return _blocks(content) if isinstance(content, list) else content if content is not None else ""

    @staticmethod
    def _merged(previous: Any, content: Any) -> list:
        return _blocks(previous) + _blocks(content)

    def _role_error(self, role: Any) -> InvalidRequestError:
        return InvalidRequestError(f"anthropic/{self.model_name}: a message's role must be system, user, "
                                   f"assistant or tool, got {role!r}.", provider=self.profile.name,
                                   model=self.model_name)

    @staticmethod
    def _tool(tool: dict) -> dict:
        name, description, schema = tool_spec(tool)
        return {"name": name, "description": description, "input_schema": schema}

    @staticmethod
    def _tool_choice(choice: Any) -> dict | None:
        if choice is None:
            return None
        if isinstance(choice, dict):
            if "name" in choice:
                return {"type": "tool", "name": choice["name"]}
            function = choice.get("function")
            if isinstance(function, dict) and "name" in function:  # OpenAI-shaped
                return {"type": "tool", "name": function["name"]}
            return dict(choice)
        return {"auto": {"type": "auto"}, "required": {"type": "any"}, "any": {"type": "any"},
                "none": {"type": "none"}}.get(choice, {"type": str(choice)})

    def _body(self, request: CompletionRequest, stream: bool = False) -> tuple[dict, float | None, bool]:
        """The request body, the request timeout and whether a structured answer is wrapped."""
        params = dict(request.params or {})
        system, messages = self._messages(request.messages)
        body: dict = {"model": self.model_name}
        body.update(dict(self.profile.extra_body))
        if system is not None:
            body["system"] = system
        body["messages"] = messages
        max_tokens = params.get("max_tokens")
        if max_tokens is None:
            # Required by Anthropic, and it must leave room beyond an extended-thinking budget.
            max_tokens = default_max_tokens(params.get("thinking"))
        body["max_tokens"] = max_tokens
        for key in ("temperature", "top_p"):
            if params.get(key) is not None:
                body[key] = params[key]
        stop = stop_sequences(params.get("stop"))
        if stop:
            body["stop_sequences"] = stop
        for key, value in params.items():
            if key not in HANDLED_PARAMS and key not in self.profile.rejected_params:
                body[key] = value
        for old, new in self.profile.renamed_params:
            if old in body:
                body[new] = body.pop(old)
        for key in self.profile.rejected_params:
            body.pop(key, None)

        tools = [self._tool(t) for t in request.tools or []]
        choice = self._tool_choice(params.get("tool_choice"))
        wrapped = False
        if request.schema is not None:
            input_schema, wrapped, forced = self._structured_tool(request, body.get("thinking"))
            tools.append({"name": STRUCTURED_TOOL, "description": STRUCTURED_TOOL_DESCRIPTION,
                          "input_schema": input_schema})
            if forced:
                choice = {"type": "tool", "name": STRUCTURED_TOOL}
            else:  # extended thinking does not allow forcing a tool: ask for it instead
                choice = {"type": "auto"}
                instruction = STRUCTURED_TOOL_INSTRUCTION
                body["system"] = f"{body['system']}\n\n{instruction}" if body.get("system") else instruction
        if tools:
            body["tools"] = tools
            if params.get("parallel_tool_calls") is False:
                choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
            if choice is not None:
                body["tool_choice"] = choice
        if stream:
            body["stream"] = True
        merge_extra_body(body, params.get("extra_body"))
        timeout = params.get("timeout")
        return body, (float(timeout) if timeout else None), wrapped

    # --- response ------------------------------------------------------------------------

    def _refusal(self, text: str) -> ContentFilterError:
        detail = f" Partial reply: {text!r:.200}" if text else ""
        return ContentFilterError(f"{self.profile.name}/{self.model_name}: the model refused to answer "
                                  f"(stop_reason 'refusal').{detail}", provider=self.profile.name,
                                  model=self.model_name)

    async def complete(self, request: CompletionRequest) -> Completion:
        body, timeout, wrapped = self._body(request)
        data = await self._http.post_json("/messages", body, timeout=timeout)
        return self.completion(data, request, wrapped)

    def completion(self, data: Any, request: CompletionRequest, wrapped: bool = False) -> Completion:
        """The Completion of a Messages API reply; ProviderInternalError when it is malformed."""
        return self._read(data, request, wrapped)

    def _read_completion(self, data: Any, request: CompletionRequest, wrapped: bool) -> Completion:
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise self._unexpected("the reply is not an Anthropic message", data)
        texts: list[str] = []
        thinking: list[str] = []
        tool_calls: list[dict] = []
        structured: dict | None = None
        for block in data["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(wire.text(block.get("text"), "a text block's text"))
            elif kind == "thinking":
                thinking.append(wire.text(block.get("thinking"), "a thinking block's text"))
            elif kind == "tool_use":
                if request.schema is not None and block.get("name") == STRUCTURED_TOOL and structured is None:
                    structured = block.get("input")
                    if not isinstance(structured, dict):
                        structured = {}
                else:
                    tool_calls.append(tool_call(block.get("id"), block.get("name"), block.get("input")))
        if tool_calls and data.get("stop_reason") == "max_tokens":
            mark_cut_off(tool_calls[-1])  # an incomplete tool_use comes with the input parsed so far
        text = "".join(texts)
        stop_reason = data.get("stop_reason")
        finish_reason = self._finish_reason(stop_reason)
        if stop_reason == "refusal":
            raise self._refusal(text)
        return self._answer(text, tool_calls, self._usage(data.get("usage")), finish_reason,
                            wire.text(data.get("id"), "id") or None, thinking, structured, wrapped)

    async def _stream(self, request: CompletionRequest, body: dict, timeout: float | None,
                      wrapped: bool) -> AsyncIterator[StreamChunk]:
        input_usage: dict = {}
        request_id: str | None = None
        output_tokens = 0
        stop_reason: str | None = None
        tools = StructuredStream(request, wrapped)
        texts: list[str] = []
        finished = False
        async for event in self._http.stream_events("/messages", body, timeout=timeout):
            try:
                data = wire.loads(event.data)
            except wire.WireValueError as error:
                raise self._unexpected(f"a stream event is not JSON it can use ({error})", event.data) from None
            if not isinstance(data, dict):
                raise wire.WireValueError(f"the event is a {type(data).__name__}, not an object")
            kind = event.event if event.event and event.event != "message" else data.get("type")
            if kind == "message_start":
                input_usage = dict((data.get("message") or {}).get("usage") or {})
                request_id = wire.text((data.get("message") or {}).get("id"), "message.id") or None
                output_tokens = input_usage.get("output_tokens") or 0
            elif kind == "content_block_start":
                block = data.get("content_block") or {}
                index = data.get("index", 0)
                if block.get("type") == "tool_use":
                    chunk = tools.start(index, block.get("id"), block.get("name"), block.get("input"))
                    if chunk is not None:
                        yield chunk
                elif block.get("type") == "text" and block.get("text"):
                    texts.append(wire.text(block["text"], "a text block's text"))
                    yield StreamChunk(text=block["text"])
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                index = data.get("index", 0)
                if delta.get("type") == "text_delta":
                    if delta.get("text"):
                        texts.append(wire.text(delta["text"], "a text delta"))
                        yield StreamChunk(text=delta["text"])
                elif delta.get("type") == "input_json_delta":
                    chunk = tools.delta(index, wire.text(delta.get("partial_json"), "partial_json"))
                    if chunk is not None:
                        yield chunk
                # thinking_delta, signature_delta, citations_delta: not part of the neutral reply
            elif kind == "content_block_stop":
                chunk = tools.stop(data.get("index"))
                if chunk is not None:
                    yield chunk
            elif kind == "message_delta":
                stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
                delta_usage = data.get("usage") or {}
                if delta_usage.get("output_tokens") is not None:
                    output_tokens = delta_usage["output_tokens"]
                for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                    if delta_usage.get(key) is not None:
                        input_usage[key] = delta_usage[key]
            elif kind == "message_stop":
                finished = True
                break
            # "ping" and unknown events are ignored; "error" events raise in HttpClient.
        if not finished:
            raise self._unexpected("the stream ended before message_stop", f"stop_reason={stop_reason!r}")
        finish_reason = self._finish_reason(stop_reason)
        if stop_reason == "refusal":
            raise self._refusal("".join(texts))
        usage = self._usage({**input_usage, "output_tokens": output_tokens})
        finish_reason = tools.finish_reason(finish_reason)
        yield StreamChunk(usage=usage, finish_reason=finish_reason, request_id=request_id)

    async def list_models(self) -> list[dict]:
        """Every model the key may use: ``[{"id", "display_name", "provider"}]`` (all pages)."""
        models: list[dict] = []
        params: dict = {"limit": 1000}
        seen: set[str] = set()
        while True:
            data = await self._http.get_json(self.profile.models_path or "/models", params=params)
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise self._unexpected("the model list is not an Anthropic model list", data)
            for item in data["data"]:
                if isinstance(item, dict):
                    models.append({"id": item.get("id"), "display_name": item.get("display_name") or item.get("id"),
                                   "provider": self.profile.name})
            if not data.get("has_more") or not data.get("last_id") or not data["data"]:
                return models
            last = data["last_id"]
            if not isinstance(last, str) or last in seen or len(seen) >= MAX_MODEL_PAGES:
                raise self._unexpected("the model list does not end",
                                       f"last_id {last!r:.80} after {len(seen) + 1} pages")
            seen.add(last)
            params = {"limit": 1000, "after_id": last}
