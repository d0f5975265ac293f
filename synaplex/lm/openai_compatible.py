"""The OpenAI Chat Completions wire protocol: OpenAI and every compatible provider or server.

One adapter, configured by the provider's profile (see :mod:`synaplex.lm.profiles`).
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend.redaction import safe_headers
from synaplex.lm import wire
from synaplex.lm.base import Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import ContentFilterError, LMError, ProviderInternalError
from synaplex.lm.http import DEFAULT_MAX_RESPONSE_BYTES, HttpClient
from synaplex.lm.options import merge_extra_body
from synaplex.lm.profiles import ProviderProfile
from synaplex.lm.schemas import schema_name, transform
from synaplex.lm.tools import tool_call

_log = logging.getLogger("synaplex.lm")

_TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "required"}
JSON_PROMPT = ("Respond with a single JSON object, and nothing else, that follows this JSON schema:\n{schema}")
#: How many schemas' provider forms an adapter keeps (least recently used dropped first).
SCHEMA_CACHE_SIZE = 128


def _merge(base: dict, extra: dict) -> dict:
    """Deep-merge ``extra`` under ``base``: the user's values (in base) win."""
    out = copy.deepcopy(extra)
    for key, value in base.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(value, out[key])
        else:
            out[key] = value
    return out


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    raise wire.WireValueError(f"the content is a {type(content).__name__}, not text nor a list of parts")


def _object(value: Any, what: str) -> dict:
    """``value`` when it is a JSON object (``None`` is ``{}``), else WireValueError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise wire.WireValueError(f"{what} is a {type(value).__name__}, not an object")
    return value


def _items(value: Any, what: str) -> list:
    """``value`` when it is a JSON array (``None`` is ``[]``), else WireValueError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise wire.WireValueError(f"{what} is a {type(value).__name__}, not an array")
    return value


def _text_or_none(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise wire.WireValueError(f"{what} is a {type(value).__name__}, not text")


def _tool_call_out(call: dict) -> dict:
    """A wire tool call, read by the parser every adapter shares: arguments that are not one
    JSON object come out as ``{}`` with ``arguments_error`` and ``arguments_raw``."""
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return tool_call(call.get("id") or "", function.get("name", ""), function.get("arguments"))


def _usage(data: Any) -> Usage:
    data = _object(data, "usage")
    prompt_details = _object(data.get("prompt_tokens_details"), "usage.prompt_tokens_details")
    completion_details = _object(data.get("completion_tokens_details"), "usage.completion_tokens_details")
    return Usage(
        calls=1,
        input_tokens=wire.count(data.get("prompt_tokens"), "usage.prompt_tokens"),
        output_tokens=wire.count(data.get("completion_tokens"), "usage.completion_tokens"),
        cached_tokens=wire.count(prompt_details.get("cached_tokens"), "usage.cached_tokens"),
        reasoning_tokens=wire.count(completion_details.get("reasoning_tokens"), "usage.reasoning_tokens"),
        cost=wire.cost(data.get("cost")),
    )


_SHAPE_ERRORS = wire.SHAPE_ERRORS


class OpenAICompatibleAdapter:
    """Chat Completions over HTTP for the provider described by ``profile``."""

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None, api_base: str,
                 transport: Any = None, timeout: float = 120.0, headers: dict | None = None,
                 api_version: str | None = None, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.profile = profile
        self.model_name = model_name
        self.repair_attempts = profile.repair_attempts
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.extra_headers = dict(headers or {})
        self.query = dict(profile.query_params)
        if api_version:
            self.query["api-version"] = api_version
        self.api_version = api_version
        self.http = HttpClient.for_profile(profile, model_name, api_key, api_base, timeout=timeout,
                                           transport=transport, headers=self.extra_headers,
                                           max_response_bytes=max_response_bytes)
        # id(schema) -> (schema, its provider form); bounded, least recently used dropped first.
        self._schemas: collections.OrderedDict[int, tuple[dict, dict]] = collections.OrderedDict()
        # the structured-output strategy after the profile's structured_fallback took over
        self._structured_override: str | None = None

    # --- requests ---------------------------------------------------------------------

    def _path(self, template: str) -> str:
        return template.format(model=self.model_name)

    def _wire_message(self, message: dict) -> dict:
        out = {"role": message["role"], "content": message.get("content") or ""}
        if message.get("tool_calls"):
            out["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
                for c in message["tool_calls"]
            ]
            if not message.get("content"):
                out["content"] = None
        if message["role"] == "tool":
            out["tool_call_id"] = message.get("tool_call_id") or ""
        return out

    def body(self, request: CompletionRequest, stream: bool = False) -> dict:
        profile = self.profile
        messages = [self._wire_message(m) for m in request.messages]
        body: dict[str, Any] = {"model": self.model_name, "messages": messages}
        for key, value in profile.extra_body:
            body[key] = copy.deepcopy(value)
        renamed = dict(profile.renamed_params)
        for key, value in request.params.items():
            if key in ("timeout", "tool_choice", "extra_body") or value is None:
                continue
            if key in profile.rejected_params:
                _log.debug("%s/%s does not take %r: not sent", profile.name, self.model_name, key)
                continue
            body[renamed.get(key, key)] = value
        if request.tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t["name"], "description": t.get("description", ""), "parameters": t["parameters"]}}
                for t in request.tools]
            choice = request.params.get("tool_choice")
            if isinstance(choice, dict):
                body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
            elif choice in _TOOL_CHOICES:
                body["tool_choice"] = _TOOL_CHOICES[choice]
        if request.schema is not None:
            self._structured(body, request.schema)
        if request.schema is not None or request.tools:
            for key, value in profile.structured_extra_body:
                if isinstance(body.get(key), dict) and isinstance(value, dict):
                    body[key] = _merge(body[key], value)
                elif key not in body:
                    body[key] = copy.deepcopy(value)
        if stream:
            body["stream"] = True
            if profile.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return merge_extra_body(body, request.params.get("extra_body"))

    def _transformed(self, schema: dict) -> dict:
        """The provider's form of ``schema``, computed once per schema object (the last
        :data:`SCHEMA_CACHE_SIZE` schemas are kept)."""
        entry = self._schemas.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = (schema, transform(self.profile.schema_transform, schema))
            self._schemas[id(schema)] = entry
            if len(self._schemas) > SCHEMA_CACHE_SIZE:
                self._schemas.popitem(last=False)
        else:
            self._schemas.move_to_end(id(schema))
        return entry[1]

    def _structured(self, body: dict, schema: dict) -> None:
        strategy = self._structured_override or self.profile.structured
        if not schema.get("properties") and strategy in ("json_schema_strict", "json_schema"):
            strategy = "json_object_prompt"  # a free-form object cannot be described strictly
        if strategy == "json_schema_strict":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema_name(schema), "schema": self._transformed(schema), "strict": True}}
        elif strategy == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema_name(schema), "schema": self._transformed(schema), "strict": False}}
        elif strategy == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif strategy in ("json_object_prompt", "prompt"):
            if strategy == "json_object_prompt":
                body["response_format"] = {"type": "json_object"}
            instruction = JSON_PROMPT.format(schema=json.dumps(schema))
            messages = body["messages"]
            if messages and messages[0]["role"] == "system":
                messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{instruction}"}
            else:
                messages.insert(0, {"role": "system", "content": instruction})
        else:
            raise ProviderInternalError(f"{self.profile.name}: unknown structured-output strategy {strategy!r}",
                                        provider=self.profile.name, model=self.model_name)

    # --- calls --------------------------------------------------------------------------

    def _malformed(self, what: str, problem: str, data: Any) -> ProviderInternalError:
        return ProviderInternalError(
            f"{self.profile.name}/{self.model_name}: {what} does not have the Chat Completions shape "
            f"({problem}): {wire.excerpt(data, 300)}", provider=self.profile.name, model=self.model_name,
            secrets=self.http.secrets)

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            data = await self._post(request)
        except LMError as error:
            if not self._falls_back_to_prompt(request, error):
                raise
            # No backend of this model takes the structured-output parameters (OpenRouter's
            # 404): once more with the schema in the prompt, then validated and repaired as
            # always; kept for this model's next calls.
            _log.info("%s/%s: %s; asking for the JSON in the prompt instead (%s)", self.profile.name,
                      self.model_name, error, self.profile.structured_fallback)
            self._structured_override = self.profile.structured_fallback
            data = await self._post(request)
        return self.completion(data)

    async def _post(self, request: CompletionRequest) -> Any:
        return await self.http.post_json(self._path(self.profile.chat_path), self.body(request),
                                         params=self.query or None, timeout=request.params.get("timeout"))

    def _falls_back_to_prompt(self, request: CompletionRequest, error: LMError) -> bool:
        profile = self.profile
        return (request.schema is not None and profile.structured_fallback is not None
                and self._structured_override is None and profile.structured_fallback_when is not None
                and re.search(profile.structured_fallback_when, str(error)) is not None)

    def completion(self, data: Any) -> Completion:
        """The Completion of a Chat Completions reply; ProviderInternalError when it is malformed."""
        try:
            return self._read_completion(data)
        except LMError:
            raise
        except _SHAPE_ERRORS as error:
            problem = str(error) or type(error).__name__
        raise self._malformed("the reply", problem, data)

    def _read_completion(self, data: Any) -> Completion:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices:
            raise ProviderInternalError(
                f"{self.profile.name}/{self.model_name}: the reply has no choices: {wire.excerpt(data, 300)}",
                provider=self.profile.name, model=self.model_name, secrets=self.http.secrets)
        choice = _object(_items(choices, "choices")[0], "choices[0]")
        message = _object(choice.get("message"), "choices[0].message")
        finish = _text_or_none(choice.get("finish_reason"), "finish_reason")
        if finish == "content_filter":
            raise ContentFilterError(
                f"{self.profile.name}/{self.model_name}: the provider's content filter stopped the reply.",
                provider=self.profile.name, model=self.model_name)
        completion = Completion(
            text=_content_text(message.get("content")),
            tool_calls=[_tool_call_out(_object(c, "a tool call"))
                        for c in _items(message.get("tool_calls"), "tool_calls")],
            usage=_usage(data.get("usage")),
            finish_reason=finish,
            request_id=_text_or_none(data.get("id"), "id") or None,
        )
        reasoning = message.get("reasoning") or message.get("reasoning_content")
        if reasoning:
            completion.reasoning = _content_text(reasoning)
        return completion

    def stream_event(self, data: Any) -> tuple[list[StreamChunk], str | None, Usage | None]:
        """The chunks, finish reason and usage of one parsed stream event; ProviderInternalError
        when it is malformed."""
        try:
            return self._stream_event(data)
        except LMError:
            raise
        except _SHAPE_ERRORS as error:
            problem = str(error) or type(error).__name__
        raise self._malformed("a stream event", problem, data)

    def _stream_event(self, data: Any) -> tuple[list[StreamChunk], str | None, Usage | None]:
        """The chunks, the finish reason and the usage carried by one stream event."""
        data = _object(data, "the event")
        usage = _usage(data["usage"]) if data.get("usage") else None
        chunks: list[StreamChunk] = []
        finish = None
        for choice in _items(data.get("choices"), "choices"):
            choice = _object(choice, "a choice")
            delta = _object(choice.get("delta"), "delta")
            chunk = StreamChunk(text=_content_text(delta.get("content")))
            for call in _items(delta.get("tool_calls"), "tool_calls"):
                call = _object(call, "a tool call delta")
                function = _object(call.get("function"), "a tool call delta's function")
                chunk.tool_call_deltas.append({
                    "index": call.get("index", 0), "id": call.get("id"), "name": function.get("name"),
                    "arguments_delta": function.get("arguments") or ""})
            if choice.get("finish_reason"):
                finish = _text_or_none(choice["finish_reason"], "finish_reason")
            if chunk.text or chunk.tool_call_deltas:
                chunks.append(chunk)
        return chunks, finish, usage

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        request_id: str | None = None
        usage: Usage | None = None
        finish: str | None = None
        done = False
        async for event in self.http.stream_events(self._path(self.profile.chat_path),
                                                   self.body(request, stream=True), params=self.query or None,
                                                   timeout=request.params.get("timeout"), until="[DONE]"):
            if event.data.strip() == "[DONE]":
                done = True
                continue
            problem = None
            try:
                data = wire.loads(event.data)
            except wire.WireValueError as error:
                problem = f"a stream event is not JSON it can use ({error}): {wire.excerpt(event.data)}"
            if problem is not None:
                raise ProviderInternalError(f"{self.profile.name}/{self.model_name}: {problem}",
                                            provider=self.profile.name, model=self.model_name,
                                            secrets=self.http.secrets)
            chunks, event_finish, event_usage = self.stream_event(data)
            if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
                request_id = data["id"]
            usage = event_usage or usage
            finish = event_finish or finish
            for chunk in chunks:
                yield chunk
        if not done and finish is None:
            raise ProviderInternalError(
                f"{self.profile.name}/{self.model_name}: the stream was cut off: it ended without [DONE] and "
                "without a finish reason, so the reply may be incomplete (retrying may help).",
                provider=self.profile.name, model=self.model_name)
        if finish == "content_filter":
            raise ContentFilterError(f"{self.profile.name}/{self.model_name}: the content filter stopped the reply.",
                                     provider=self.profile.name, model=self.model_name)
        yield StreamChunk(usage=usage or Usage(calls=1, cost=None), finish_reason=finish,
                          request_id=request_id)

    async def list_models(self) -> list[dict]:
        if not self.profile.models_path:
            raise ProviderInternalError(
                f"{self.profile.name} has no endpoint that lists models; see the provider's documentation.",
                provider=self.profile.name, model=self.model_name)
        data = await self.http.get_json(self.profile.models_path, params=self.query or None)
        items = data.get("data", data.get("models", [])) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise self._malformed("the model list", f"it is a {type(items).__name__}, not a list", data)
        return [{**item, "id": item.get("id") or item.get("name"), "provider": self.profile.name}
                for item in items if isinstance(item, dict)]

    def get_config(self) -> dict:
        config: dict[str, Any] = {}
        if self.timeout != 120.0:
            config["timeout"] = self.timeout
        if self.api_version:
            config["api_version"] = self.api_version
        if self.max_response_bytes != DEFAULT_MAX_RESPONSE_BYTES:
            config["max_response_bytes"] = self.max_response_bytes
        safe = safe_headers(self.extra_headers)  # credential headers by rule, never saved
        if safe:
            config["headers"] = safe
        return config


class OpenAICompatibleEmbeddingAdapter:
    """``POST /embeddings`` of an OpenAI-compatible provider, one batch a request (the facade
    batches). The request parameters (``dimensions``, ``user``, OpenRouter's ``provider``
    routing, ``extra_body``...) come with each call."""

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None, api_base: str,
                 transport: Any = None, timeout: float = 120.0, api_version: str | None = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.profile = profile
        self.model_name = model_name
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.query = dict(profile.query_params)
        if api_version:
            self.query["api-version"] = api_version
        self.api_version = api_version
        self.http = HttpClient.for_profile(profile, model_name, api_key, api_base, timeout=timeout,
                                           transport=transport, max_response_bytes=max_response_bytes)

    async def embed(self, texts: list[str], params: dict | None = None) -> list[list[float]]:
        size = self.profile.embedding_batch_size or len(texts)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), size):
            vectors.extend((await self.embed_batch(texts[start:start + size], params))[0])
        return vectors

    async def embed_batch(self, texts: list[str], params: dict | None = None) -> tuple[list[list[float]], Usage | None]:
        """The vectors of ``texts`` (one request) and the usage the provider reported, if any."""
        params = dict(params or {})
        timeout = params.pop("timeout", None)
        extra = params.pop("extra_body", None)
        body = {"model": self.model_name, "input": texts, "encoding_format": "float"}
        body.update((k, v) for k, v in params.items() if v is not None)
        merge_extra_body(body, extra)
        data = await self.http.post_json(self.profile.embeddings_path.format(model=self.model_name), body,
                                         params=self.query or None, timeout=timeout)
        items = data.get("data") if isinstance(data, dict) else None
        if (not isinstance(items, list) or len(items) != len(texts)
                or not all(isinstance(item, dict) and isinstance(item.get("embedding"), list)
                           and isinstance(item.get("index", 0), int) for item in items)):
            raise ProviderInternalError(
                f"{self.profile.name}/{self.model_name}: expected {len(texts)} embeddings, got "
                f"{wire.excerpt(data)}", provider=self.profile.name, model=self.model_name,
                secrets=self.http.secrets)
        items = sorted(items, key=lambda item: item.get("index", 0))
        usage = None
        reported = data.get("usage")
        if isinstance(reported, dict) and (reported.get("prompt_tokens") is not None
                                           or reported.get("total_tokens") is not None):
            try:
                tokens = wire.count(reported.get("prompt_tokens", reported.get("total_tokens")), "usage.prompt_tokens")
            except wire.WireValueError as error:
                raise self._malformed(str(error), data) from None
            usage = Usage(calls=1, input_tokens=tokens, cost=wire.cost(reported.get("cost")))
        return [self._vector(item["embedding"]) for item in items], usage

    def _malformed(self, problem: str, data: Any) -> ProviderInternalError:
        return ProviderInternalError(f"{self.profile.name}/{self.model_name}: the embeddings reply is malformed "
                                     f"({problem}): {wire.excerpt(data)}", provider=self.profile.name,
                                     model=self.model_name, secrets=self.http.secrets)

    def _vector(self, embedding: list) -> list[float]:
        if not all(isinstance(x, (int, float, list)) and not isinstance(x, bool) for x in embedding):
            raise ProviderInternalError(f"{self.profile.name}/{self.model_name}: an embedding holds something "
                                        f"that is not a number: {wire.excerpt(embedding)}",
                                        provider=self.profile.name, model=self.model_name)
        if embedding and isinstance(embedding[0], list):
            # Some servers return one vector per token for models without a pooling layer.
            if self.profile.embedding_pooling != "mean":
                raise ProviderInternalError(
                    f"{self.profile.name}/{self.model_name}: the server returned per-token embeddings; use "
                    "an embedding model, or the 'llamacpp' provider, which mean-pools them.",
                    provider=self.profile.name, model=self.model_name)
            count = len(embedding)
            return [sum(column) / count for column in zip(*embedding)]
        return embedding

    def get_config(self) -> dict:
        config: dict[str, Any] = {}
        if self.api_version:
            config["api_version"] = self.api_version
        if self.timeout != 120.0:
            config["timeout"] = self.timeout
        if self.max_response_bytes != DEFAULT_MAX_RESPONSE_BYTES:
            config["max_response_bytes"] = self.max_response_bytes
        return config
