"""The Google Gemini ``generateContent`` wire protocol (Generative Language API, v1beta).

``LanguageModel(model="gemini/gemini-2.0-flash")`` and
``EmbeddingModel(model="gemini/text-embedding-004")``. Structured output is native: the
JSON schema is turned into Gemini's OpenAPI-subset ``responseSchema`` by
:func:`to_gemini_schema`; the reply is still validated against the original schema by the
facade.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import wire
from synaplex.lm.base import Capabilities, Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import (
    AuthenticationError,
    ContentFilterError,
    InvalidRequestError,
    LMError,
    ProviderInternalError,
)
from synaplex.lm.gemini_schema import to_gemini_schema
from synaplex.lm.http import DEFAULT_MAX_RESPONSE_BYTES, HttpClient
from synaplex.lm.messages import split_data_url
from synaplex.lm.options import merge_extra_body
from synaplex.lm.profiles import ProviderProfile
from synaplex.lm.tools import tool_call

# --- the adapter ---------------------------------------------------------------------

# finishReason values that mean the provider's filters stopped the reply.
_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                       "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}
_NEUTRAL_GENERATION = {"temperature": "temperature", "top_p": "topP", "max_tokens": "maxOutputTokens",
                       "stop": "stopSequences", "seed": "seed"}
# Fields of Gemini's GenerationConfig: such params go there, every other one to the body.
_GENERATION_FIELDS = frozenset({
    "candidateCount", "stopSequences", "maxOutputTokens", "temperature", "topP", "topK", "seed",
    "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
    "speechConfig", "thinkingConfig", "imageConfig", "mediaResolution", "responseModalities",
    "responseMimeType", "responseSchema", "responseJsonSchema", "audioTimestamp",
})
_BODY_FIELDS = frozenset({"safetySettings", "cachedContent", "labels", "tools", "toolConfig",
                          "systemInstruction"})
#: The most pages of a model list read before the list is deemed endless.
MAX_MODEL_PAGES = 100
_API_KEY_REJECTED = re.compile(r"API key not valid|API_KEY_INVALID|API key expired|invalid api key",
                               re.IGNORECASE)


# Image types by file extension, for an image given by URL (Gemini's fileData needs a mimeType).
_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
                "gif": "image/gif", "heic": "image/heic", "heif": "image/heif"}


def _part(part: dict) -> dict:
    """A neutral content part as a Gemini part: text, inlineData (a data URL) or fileData."""
    if part.get("type") != "image_url":
        return {"text": part.get("text", "")}
    url = part["image_url"]["url"]
    data = split_data_url(url)
    if data is not None:
        return {"inlineData": {"mimeType": data[0], "data": data[1]}}
    extension = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    return {"fileData": {"mimeType": _IMAGE_TYPES.get(extension, "image/jpeg"), "fileUri": url}}


def _retyped(error: InvalidRequestError, http: HttpClient) -> Exception:
    """Gemini answers a bad key with 400 INVALID_ARGUMENT, not 401: an AuthenticationError."""
    if _API_KEY_REJECTED.search(str(error)):
        return AuthenticationError(
            str(error).replace("InvalidRequestError", "AuthenticationError"), provider=http.provider,
            model=http.model, status_code=error.status_code, secrets=http.secrets)
    return error


async def _call(coroutine, http: HttpClient):
    try:
        return await coroutine
    except InvalidRequestError as error:
        raise _retyped(error, http) from None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _model_path(model_name: str) -> str:
    # "gemini-2.0-flash" -> models/gemini-2.0-flash; "tunedModels/x" and "models/x" as given.
    return model_name if "/" in model_name else f"models/{model_name}"


def _arguments(arguments: Any) -> dict:
    if isinstance(arguments, str):   # a JSON string, as some callers keep them
        try:
            arguments = json.loads(arguments or "{}")
        except (ValueError, RecursionError):
            raise InvalidInputError(f"A tool call's arguments are not valid JSON: {arguments[:200]!r}.") from None
    return arguments or {}


def _signature_key(call_id: str, name: str, arguments: Any) -> tuple[str, str, str]:
    # Generated ids (call_0…) repeat from turn to turn: the call itself tells them apart.
    return call_id, name, json.dumps(arguments, sort_keys=True, default=str)


def _tool_response(content: Any) -> dict:
    if isinstance(content, str):
        try:
            return {"content": json.loads(content)}
        except ValueError:
            return {"content": {"result": content}}
    return {"content": content}


class GeminiAdapter:
    """Gemini's ``generateContent`` / ``streamGenerateContent`` for one model."""

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None, api_base: str | None,
                 transport: Any = None, timeout: float = 120.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.profile = profile
        self.provider = profile.name
        self.model_name = model_name
        self.repair_attempts = profile.repair_attempts
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.http = HttpClient.for_profile(profile, model_name, api_key, api_base, timeout=timeout,
                                           transport=transport, max_response_bytes=max_response_bytes)
        # Gemini 3 wants the thoughtSignature of each functionCall part sent back with it;
        # the neutral tool call has no room for it, so it is remembered here by call id.
        self._signatures: dict[tuple, str] = {}
        self._last_response_id: str | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(tools=True, vision=True, structured_output=True, streaming=True)

    # --- requests -----------------------------------------------------------------------

    def _error(self, cls: type, message: str) -> Exception:
        return cls(f"{self.provider}/{self.model_name}: {message}", provider=self.provider,
                   model=self.model_name, secrets=self.http.secrets)

    def _contents(self, messages: list[dict]) -> tuple[list[str], list[dict]]:
        system: list[str] = []
        contents: list[dict] = []
        names: dict[str, str] = {}   # tool call id -> tool name, from the assistant turns so far
        for message in messages:
            role = message.get("role")
            content = message.get("content") or ""
            if isinstance(content, list) and role == "user":
                contents.append({"role": "user", "parts": [_part(p) for p in content]})
                continue
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                content = json.dumps(content)
            if role == "system":
                system.append(content)
            elif role == "user":
                contents.append({"role": "user", "parts": [{"text": content}]})
            elif role == "assistant":
                parts: list[dict] = [{"text": content}] if content else []
                for call in message.get("tool_calls") or []:
                    call_id = call.get("id") or ""
                    names[call_id] = call["name"]
                    arguments = _arguments(call.get("arguments"))
                    part: dict[str, Any] = {"functionCall": {"name": call["name"], "args": arguments}}
                    signature = self._signatures.get(_signature_key(call_id, call["name"], arguments))
                    if signature:
                        part["thoughtSignature"] = signature
                    parts.append(part)
                contents.append({"role": "model", "parts": parts or [{"text": ""}]})
            elif role == "tool":
                call_id = message.get("tool_call_id") or ""
                name = names.get(call_id)
                if name is None:
                    raise InvalidInputError(
                        f"A tool message answers tool call {call_id!r}, but no earlier assistant message "
                        "made a tool call with that id; Gemini needs the tool's name, found from that call.")
                part = {"functionResponse": {"name": name, "response": _tool_response(content)}}
                previous = contents[-1] if contents else None
                if previous and previous["role"] == "user" and all("functionResponse" in p
                                                                    for p in previous["parts"]):
                    # The answers to parallel calls go together in one turn.
                    previous["parts"].append(part)
                else:
                    contents.append({"role": "user", "parts": [part]})
            else:
                raise InvalidInputError(f"Unknown message role {role!r}.")
        return system, contents

    def body(self, request: CompletionRequest) -> dict:
        system, contents = self._contents(request.messages)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        generation: dict[str, Any] = {}
        for key, value in request.params.items():
            if key in ("timeout", "tool_choice", "extra_body") or value is None:
                continue
            if key in _NEUTRAL_GENERATION:
                if key == "stop" and isinstance(value, str):
                    value = [value]
                generation[_NEUTRAL_GENERATION[key]] = value
            elif _camel(key) in _GENERATION_FIELDS:
                generation[_camel(key)] = value
            elif key == "generationConfig" and isinstance(value, dict):
                generation.update(value)
            elif _camel(key) in _BODY_FIELDS:
                body[_camel(key)] = value
            else:
                body[key] = value
        if request.schema is not None:
            generation["responseMimeType"] = "application/json"
            generation["responseSchema"] = to_gemini_schema(request.schema)
        if generation:
            body["generationConfig"] = generation
        if request.tools:
            body["tools"] = [{"functionDeclarations": [self._declaration(t) for t in request.tools]}]
        choice = request.params.get("tool_choice")
        if choice is not None:
            body["toolConfig"] = {"functionCallingConfig": self._calling_config(choice)}
        return merge_extra_body(body, request.params.get("extra_body"))

    @staticmethod
    def _declaration(tool: dict) -> dict:
        if "function" in tool and "name" not in tool:   # OpenAI's {"type": "function", "function": {...}}
            tool = tool["function"]
        out = {"name": tool["name"], "description": tool.get("description") or ""}
        parameters = tool.get("parameters")
        if isinstance(parameters, dict) and parameters.get("properties"):
            # A tool without parameters has none declared: Gemini rejects an empty object.
            out["parameters"] = to_gemini_schema(parameters)
        return out

    @staticmethod
    def _calling_config(choice: Any) -> dict:
        if isinstance(choice, str) and choice.lower() in _TOOL_MODES:
            return {"mode": _TOOL_MODES[choice.lower()]}
        if isinstance(choice, dict):
            name = choice.get("name") or (choice.get("function") or {}).get("name")
            if name:
                return {"mode": "ANY", "allowedFunctionNames": [name]}
        raise InvalidInputError(
            f"tool_choice must be 'auto', 'none', 'required' or {{'name': tool_name}}, got {choice!r}.")

    def _path(self, method: str) -> str:
        return f"/{_model_path(self.model_name)}:{method}"

    def _retyped(self, error: InvalidRequestError) -> Exception:
        return _retyped(error, self.http)

    async def _call(self, coroutine):
        return await _call(coroutine, self.http)

    # --- replies ------------------------------------------------------------------------

    def _usage(self, metadata: Any) -> Usage:
        metadata = metadata if isinstance(metadata, dict) else {}
        thoughts = wire.count(metadata.get("thoughtsTokenCount"), "thoughtsTokenCount")
        return Usage(
            calls=1,
            input_tokens=wire.count(metadata.get("promptTokenCount"), "promptTokenCount")
            + wire.count(metadata.get("toolUsePromptTokenCount"), "toolUsePromptTokenCount"),
            # Thinking is billed as output: like OpenAI's completion_tokens, output includes it.
            output_tokens=wire.count(metadata.get("candidatesTokenCount"), "candidatesTokenCount") + thoughts,
            cached_tokens=wire.count(metadata.get("cachedContentTokenCount"), "cachedContentTokenCount"),
            reasoning_tokens=thoughts,
            cost=None,
        )

    def _check_blocked(self, data: dict) -> dict | None:
        """The first candidate, or a ContentFilterError when the prompt or reply was blocked."""
        candidates = data.get("candidates") or []
        if not candidates:
            feedback = data.get("promptFeedback") or {}
            reason = feedback.get("blockReason")
            if reason:
                raise self._error(ContentFilterError,
                                  f"Gemini blocked the prompt ({reason}); nothing was generated.")
            return None
        candidate = candidates[0]
        reason = candidate.get("finishReason")
        if reason in _FILTERED:
            raise self._error(ContentFilterError, f"Gemini's filters stopped the reply (finishReason {reason}).")
        return candidate

    def _finish(self, reason: Any, has_calls: bool) -> str | None:
        if reason is not None and not isinstance(reason, str):
            raise wire.WireValueError(f"finishReason is a {type(reason).__name__}, not text")
        if has_calls:
            return "tool_calls"
        if reason is None:
            return None
        return _FINISH.get(reason, reason.lower())

    def _read_parts(self, parts: list, first_index: int) -> tuple[str, list[dict], str]:
        """The text, the tool calls and the thought summaries of a candidate's parts."""
        text: list[str] = []
        calls: list[dict] = []
        thoughts: list[str] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("thought"):
                if isinstance(part.get("text"), str):
                    thoughts.append(part["text"])
                continue
            if isinstance(part.get("text"), str):
                text.append(part["text"])
            call = part.get("functionCall")
            if isinstance(call, dict):
                call_id = call.get("id") or f"call_{first_index + len(calls)}"
                name = call.get("name") or ""
                parsed = tool_call(call_id, name, call.get("args"))  # args not an object: an arguments_error
                if part.get("thoughtSignature"):
                    if len(self._signatures) > 1024:
                        self._signatures.clear()
                    self._signatures[_signature_key(call_id, name, parsed["arguments"])] = part["thoughtSignature"]
                calls.append(parsed)
        return "".join(text), calls, "".join(thoughts)

    def _completion(self, data: Any) -> Completion:
        """The Completion of a generateContent reply; ProviderInternalError when it is malformed."""
        try:
            return self._read_completion(data)
        except LMError:
            raise
        except wire.SHAPE_ERRORS as error:  # the reply is untrusted data
            problem = str(error) or type(error).__name__
        raise self._error(ProviderInternalError, f"the reply does not have the generateContent shape ({problem}): "
                                                 f"{wire.excerpt(data, 300)}")

    def _read_completion(self, data: Any) -> Completion:
        if not isinstance(data, dict):
            raise self._error(ProviderInternalError, f"the reply is not a JSON object: {wire.excerpt(data, 300)}")
        candidate = self._check_blocked(data)
        if candidate is None:
            raise self._error(ProviderInternalError, f"the reply has no candidates: {wire.excerpt(data, 300)}")
        text, calls, thoughts = self._read_parts((candidate.get("content") or {}).get("parts") or [], 0)
        completion = Completion(text=text, tool_calls=calls, usage=self._usage(data.get("usageMetadata")),
                                finish_reason=self._finish(candidate.get("finishReason"), bool(calls)),
                                request_id=wire.text(data.get("responseId"), "responseId") or None)
        if thoughts:
            completion.reasoning = thoughts   # the thought summaries (includeThoughts)
        return completion

    def _stream_event(self, text: str, calls: int) -> tuple[StreamChunk | None, str | None, Usage | None, int]:
        """One event's chunk (or None), finish reason, usage, and the tool calls seen so far."""
        try:
            data = wire.loads(text)
        except wire.WireValueError as error:
            problem = f"a stream event is not JSON it can use ({error})"
        else:
            problem = None
            try:
                return self._read_stream_event(data, calls)
            except LMError:
                raise
            except wire.SHAPE_ERRORS as error:  # the events are untrusted data
                problem = ("a stream event does not have the generateContent shape "
                           f"({str(error) or type(error).__name__})")
        raise self._error(ProviderInternalError, f"{problem}: {wire.excerpt(text)}")

    def _read_stream_event(self, data: Any, calls: int) -> tuple[StreamChunk | None, str | None, Usage | None, int]:
        if not isinstance(data, dict):
            raise wire.WireValueError(f"it is a {type(data).__name__}, not an object")
        # read by stream() right after this call, with no await between: safe with concurrent streams
        self._last_response_id = wire.text(data.get("responseId"), "responseId") or None
        usage = self._usage(data["usageMetadata"]) if data.get("usageMetadata") else None
        candidate = self._check_blocked(data)
        if candidate is None:
            return None, None, usage, calls
        parts = (candidate.get("content") or {}).get("parts") or []
        text, tool_calls, _thoughts = self._read_parts(parts, calls)
        reason = candidate.get("finishReason") or None
        self._finish(reason, False)  # a reason that is not text is refused here
        deltas = [{"index": calls + i, "id": call["id"], "name": call["name"],
                   "arguments_delta": call.get("arguments_raw", json.dumps(call["arguments"]))}
                  for i, call in enumerate(tool_calls)]
        chunk = StreamChunk(text=text, tool_call_deltas=deltas) if text or deltas else None
        return chunk, reason, usage, calls + len(tool_calls)

    # --- calls --------------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> Completion:
        data = await self._call(self.http.post_json(self._path("generateContent"), self.body(request),
                                                    timeout=request.params.get("timeout")))
        return self._completion(data)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        body = self.body(request)
        usage: Usage | None = None
        reason: str | None = None
        request_id: str | None = None
        calls = 0
        events = self.http.stream_events(self._path("streamGenerateContent"), body, params={"alt": "sse"},
                                         timeout=request.params.get("timeout"))
        try:
            async for event in events:
                chunk, event_reason, event_usage, calls = self._stream_event(event.data, calls)
                request_id = self._last_response_id or request_id
                usage = event_usage or usage   # cumulative: the last one is the total
                reason = event_reason or reason
                if chunk is not None:
                    yield chunk
        except InvalidRequestError as error:
            raise self._retyped(error) from None
        if reason is None:
            raise self._error(ProviderInternalError, "the stream was cut off: it ended without a finishReason, so "
                                                     "the reply may be incomplete (retrying may help).")
        yield StreamChunk(usage=usage or Usage(calls=1, cost=None), finish_reason=self._finish(reason, calls > 0),
                          request_id=request_id)

    async def list_models(self) -> list[dict]:
        models: list[dict] = []
        params: dict[str, Any] = {"pageSize": 1000}
        seen: set[str] = set()
        while True:
            data = await self._call(self.http.get_json("/models", params=params))
            if not isinstance(data, dict) or not isinstance(data.get("models") or [], list):
                raise self._error(ProviderInternalError, f"the model list is not a JSON object with a list of "
                                                         f"models: {wire.excerpt(data, 300)}")
            for item in data.get("models") or []:
                if not isinstance(item, dict):
                    continue
                name = str(item.get("name") or "")
                models.append({
                    "id": name.removeprefix("models/"),
                    "display_name": item.get("displayName"),
                    "input_token_limit": item.get("inputTokenLimit"),
                    "output_token_limit": item.get("outputTokenLimit"),
                    "provider": self.provider,
                })
            token = data.get("nextPageToken")
            if not token:
                return models
            if not isinstance(token, str) or token in seen or len(seen) >= MAX_MODEL_PAGES:
                raise self._error(ProviderInternalError, "the model list does not end (page token "
                                                         f"{wire.excerpt(token)} after {len(seen) + 1} pages).")
            seen.add(token)
            params = {"pageSize": 1000, "pageToken": token}

    def get_config(self) -> dict:
        config: dict[str, Any] = {"timeout": self.timeout} if self.timeout != 120.0 else {}
        if self.max_response_bytes != DEFAULT_MAX_RESPONSE_BYTES:
            config["max_response_bytes"] = self.max_response_bytes
        return config

    async def aclose(self) -> None:
        await self.http.aclose()


class GeminiEmbeddingAdapter:
    """``batchEmbedContents``: up to 100 texts a request, as many requests as needed.

    ``task_type`` (e.g. ``"RETRIEVAL_DOCUMENT"``) and ``output_dimensionality`` are sent with
    every text when given.
    """

    batch_size = 100

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None, api_base: str | None,
                 transport: Any = None, timeout: float = 120.0, task_type: str | None = None,
                 output_dimensionality: int | None = None, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.profile = profile
        self.provider = profile.name
        self.model_name = model_name
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.task_type = task_type
        self.output_dimensionality = output_dimensionality
        self.http = HttpClient.for_profile(profile, model_name, api_key, api_base, timeout=timeout,
                                           transport=transport, max_response_bytes=max_response_bytes)

    def _request(self, text: str) -> dict:
        out: dict[str, Any] = {"model": _model_path(self.model_name), "content": {"parts": [{"text": text}]}}
        if self.task_type:
            out["taskType"] = self.task_type
        if self.output_dimensionality:
            out["outputDimensionality"] = self.output_dimensionality
        return out

    async def embed(self, texts: list[str], params: dict | None = None) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend((await self.embed_batch(texts[start:start + self.batch_size], params))[0])
        return vectors

    async def embed_batch(self, texts: list[str], params: dict | None = None) -> tuple[list[list[float]], None]:
        """The vectors of ``texts`` (one request; Gemini reports no usage for embeddings).
        ``params``: ``dimensions`` (outputDimensionality), ``timeout``, ``extra_body`` (merged
        into each text's request)."""
        params = params or {}
        path = f"/{_model_path(self.model_name)}{self.profile.embeddings_path or ':batchEmbedContents'}"
        vectors: list[list[float]] = []
        for batch in (texts,):
            requests = [self._request(t) for t in batch]
            for request in requests:
                if params.get("dimensions"):
                    request["outputDimensionality"] = params["dimensions"]
                merge_extra_body(request, params.get("extra_body"))
            data = await _call(self.http.post_json(path, {"requests": requests}, timeout=params.get("timeout")),
                               self.http)
            items = data.get("embeddings") if isinstance(data, dict) else None
            if (not isinstance(items, list) or len(items) != len(batch)
                    or not all(isinstance(i, dict) and isinstance(i.get("values"), list)
                               and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in i["values"])
                               for i in items)):
                raise ProviderInternalError(
                    f"{self.provider}/{self.model_name}: expected {len(batch)} embeddings, got {wire.excerpt(data)}",
                    provider=self.provider, model=self.model_name, secrets=self.http.secrets)
            vectors.extend(item["values"] for item in items)
        return vectors, None

    def get_config(self) -> dict:
        config: dict[str, Any] = {}
        if self.timeout != 120.0:
            config["timeout"] = self.timeout
        if self.task_type:
            config["task_type"] = self.task_type
        if self.output_dimensionality:
            config["output_dimensionality"] = self.output_dimensionality
        if self.max_response_bytes != DEFAULT_MAX_RESPONSE_BYTES:
            config["max_response_bytes"] = self.max_response_bytes
        return config

    async def aclose(self) -> None:
        await self.http.aclose()
