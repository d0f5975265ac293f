"""LanguageModel: one facade over every provider, the embedded model and the scripted LM.

A call goes: validate → cache → (rate limit → adapter, retried on retryable errors) →
validate the structured reply (one bounded repair) → price → account; on failure, the
fallback models are tried in order.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import catalogue, chat, reasoning, wire
from synaplex.lm import usage as usage_lib
from synaplex.lm.base import Capabilities, Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.cache import cache_key, make_cache
from synaplex.lm.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    LMError,
    RateLimitError,
    StructuredOutputError,
)
from synaplex.lm.facade import ModelFacade
from synaplex.lm.messages import normalize_messages
from synaplex.lm.redaction import strip_url_credentials
from synaplex.lm.resilience import RateLimiter, RetryPolicy
from synaplex.lm.tools import to_tool_definitions
from synaplex.lm.validation import validation_errors, validator_for
from synaplex.observability import tracing
from synaplex.serialization import deserialize_synaplex_object, safe_mode, serialize_synaplex_object

_log = logging.getLogger("synaplex.lm")

REPAIR_PROMPT = ("Your previous reply is not valid JSON for the required schema: {errors}. "
                 "Reply again with only the corrected JSON object.")

# Rate limiters are shared by every LanguageModel pointing at the same model and endpoint.
_LIMITERS: dict[tuple, Any] = {}


def _check_params(params: dict) -> None:
    max_tokens = params.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise InvalidInputError(f"max_tokens must be a positive integer, got {max_tokens!r}.")
    temperature = params.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or temperature < 0):
        raise InvalidInputError(f"temperature must be a number >= 0, got {temperature!r}.")
    reasoning.check_effort(params.get("reasoning_effort"))
    top_p = params.get("top_p")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise InvalidInputError(f"top_p must be in (0, 1], got {top_p!r}.")
    timeout = params.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise InvalidInputError(f"timeout must be a positive, finite number of seconds, got {timeout!r}.")


def _completion_to_json(completion: Completion) -> dict:
    return {"text": completion.text, "parsed": completion.parsed, "tool_calls": completion.tool_calls,
            "finish_reason": completion.finish_reason, "reasoning": completion.reasoning,
            "usage": dataclasses.asdict(completion.usage)}


def _completion_from_json(data: dict) -> Completion:
    return Completion(text=data["text"], parsed=data.get("parsed"), tool_calls=data.get("tool_calls") or [],
                      finish_reason=data.get("finish_reason"), reasoning=data.get("reasoning"))


def _falls_back(error: LMError) -> bool:
    """Errors a different model may not have: anything but a request that is invalid as such."""
    return not isinstance(error, InvalidRequestError) or isinstance(error, ContextWindowExceededError)


class LanguageModel(ModelFacade):
    """A language model, addressed as ``"provider/model-name"``.

    ``await lm(messages, schema=...)`` returns a dict valid against ``schema``; without a
    schema it returns the assistant message ``{"role", "content", "tool_calls"}``. Every
    call is accounted in ``lm.usage`` (tokens, cost, latency, retries, repairs, fallbacks,
    cache hits).

    Args:
        model: ``"provider/model-name"`` (see the README's provider table), ``"scripted"``.
        api_key, api_base: override the provider's environment variables and default URL.
        fallback: a LanguageModel (or a list) tried in order when this one fails.
        caching: ``True``/``"memory"``, ``"disk"`` (SQLite), a path, or a cache object.
        max_retries: retries of retryable errors (rate limits, timeouts, 5xx), with
            exponential backoff, jitter and the provider's ``Retry-After``.
        max_retry_wait: the longest single wait before a retry, in seconds (backoff,
            ``Retry-After`` and the rate limiter's pause alike). A ``Retry-After`` above it is
            not waited for: the call fails at once with a retryable ``RateLimitError`` (or the
            fallback answers).
        retry_wait_budget: the most seconds one call spends waiting between attempts, all
            retries together; past it, ``RetriesExhaustedError``.
        requests_per_minute, max_concurrency: client-side rate limits, shared by every
            LanguageModel of the same model and endpoint; a 429 pauses them.
        capabilities: a dict overriding the catalogue's facts (context window, prices…).
        **kwargs: adapter options (``transport``, ``timeout``, ``responses``…) and default
            request parameters (``temperature``, ``max_tokens``, ``top_p``,
            ``reasoning_effort``, provider fields such as OpenRouter's ``provider`` routing
            object, ``models``, ``reasoning``). ``reasoning_effort`` (``"minimal"``,
            ``"low"``, ``"medium"``, ``"high"``, ``"disable"``, ``"none"``) is sent the way the
            provider takes it (OpenAI's ``reasoning_effort``, Anthropic's ``thinking`` budget,
            Gemini's ``thinkingConfig``...); a model without such a setting ignores it with a
            warning (see :mod:`synaplex.lm.reasoning`).

    Example:
        >>> lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}])
        >>> await lm([{"role": "user", "content": "Capital of France?"}], schema=Answer.get_schema())
        {'answer': 'Paris'}
    """

    last_usage: Usage | None = None

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 *, fallback: Any = None, caching: Any = False, max_retries: int = 2,
                 max_retry_wait: float = 60.0, retry_wait_budget: float = 120.0,
                 requests_per_minute: float | None = None, max_concurrency: int | None = None,
                 capabilities: dict | None = None, **kwargs: Any):
        super().__init__(model=model, api_key=api_key, api_base=api_base, **kwargs)
        _check_params(self.defaults)
        fallbacks = [] if fallback is None else list(fallback) if isinstance(fallback, (list, tuple)) else [fallback]
        for item in fallbacks:
            if not isinstance(item, LanguageModel):
                raise InvalidInputError(f"fallback must be a LanguageModel or a list of them, got {item!r:.80}.")
        self.fallbacks = fallbacks
        self.caching = caching
        self._cache = None
        if caching is not None and caching is not False:  # an empty cache object is falsy (len 0)
            self._cache = make_cache(caching)
        self.max_retries = max_retries
        for name, value in (("max_retry_wait", max_retry_wait), ("retry_wait_budget", retry_wait_budget)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise InvalidInputError(f"LanguageModel: {name} must be a finite number >= 0, got {value!r}.")
        self.max_retry_wait = max_retry_wait
        self.retry_wait_budget = retry_wait_budget
        self._retry = None
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._limiter = None
        if requests_per_minute or max_concurrency:
            key = (self.model, self.api_base, requests_per_minute, max_concurrency)
            self._limiter = _LIMITERS.get(key) or _LIMITERS.setdefault(
                key, RateLimiter(requests_per_minute=requests_per_minute, max_concurrency=max_concurrency))
        self._reasoning_warned: set = set()
        self._capability_overrides = dict(capabilities or {})
        self._capabilities = None
        self._endpoint: str | None | bool = False  # computed on first use

    # --- facts ---------------------------------------------------------------------------

    @property
    def capabilities(self):
        """What the model can do and costs (the catalogue, with this model's overrides)."""
        if self._capabilities is None:
            name = self.model.partition("/")[2]
            own = getattr(self._adapter, "capabilities", None)
            if self.provider in catalogue.LOCAL_PROVIDERS and own is not None:
                found = own  # the in-process/scripted adapter knows itself best
            else:
                found = catalogue.lookup(self.provider, name) or own or Capabilities(
                    structured_output=True, input_price_per_token=None, output_price_per_token=None)
            if self._capability_overrides:
                try:
                    found = dataclasses.replace(found, **self._capability_overrides)
                except TypeError as error:
                    raise InvalidInputError(f"capabilities: {error}") from None
            self._capabilities = found
        return self._capabilities

    @property
    def endpoint(self) -> str | None:
        """The server this model calls: its base URL without credentials, plus the query
        parameters that select a deployment (Azure's ``api-version``); None in-process."""
        if self._endpoint is False:
            http = getattr(self._adapter, "http", None) or getattr(self._adapter, "_http", None)
            base = getattr(http, "base_url", None)
            endpoint = strip_url_credentials(base) if isinstance(base, str) else None
            query = getattr(self._adapter, "query", None)
            if endpoint and isinstance(query, dict) and query:
                endpoint += ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(sorted(query.items()))
            self._endpoint = endpoint
        return self._endpoint

    @property
    def cumulated_cost(self) -> float | None:
        return self.usage.cost

    @property
    def last_call_cost(self) -> float | None:
        return None if self.last_usage is None else self.last_usage.cost

    default_schema: dict | None = None

    def chat_complete(self, messages: Any, stream: bool = False, schema: dict | None = None, **kwargs):
        """Blocking chat for scripts: a ChatResponse, or an iterator of StreamChunks."""
        return chat.chat_complete(self, messages, stream=stream, schema=schema, **kwargs)

    async def achat_complete(self, messages: Any, stream: bool = False, schema: dict | None = None, **kwargs):
        """Async chat: a ChatResponse, or an async iterator of StreamChunks."""
        return await chat.achat_complete(self, messages, stream=stream, schema=schema, **kwargs)

    async def list_models(self) -> list[dict]:
        """The models the provider serves (its models endpoint), as dicts with an ``id``."""
        return await self._adapter.list_models()

    # --- calling -------------------------------------------------------------------------

    def _request(self, messages, schema, tools, kwargs) -> CompletionRequest:
        params = dict(self.defaults)
        params.update(kwargs)
        _check_params(params)
        if "reasoning_effort" in params:  # neutral: said the provider's way (its profile's data)
            reasoning.apply_effort(params, self.profile, self.model, self._reasoning_warned)
        if schema is not None:
            validator_for(schema)  # a schema that is not a JSON schema fails here, before any call
        if tools is not None:
            if not isinstance(tools, (list, tuple)):
                raise InvalidInputError(f"tools must be a list of tools, got {type(tools).__name__}.")
            tools = to_tool_definitions(list(tools)) or None
        return CompletionRequest(messages=normalize_messages(messages), schema=schema, tools=tools,
                                 params=params)

    async def __call__(self, messages: Any, schema: dict | None = None, streaming: bool = False,
                       tools: list[dict] | None = None, **kwargs: Any):
        if streaming and schema is None:
            return self.stream(messages, tools=tools, **kwargs)
        request = self._request(messages, schema, tools, kwargs)
        if tracing.TRACER is not None:
            with tracing.lm_span(self, request) as record:
                value = await self._call_with_fallback(request)
                record(self.last_usage, value)
                return value
        return await self._call_with_fallback(request)

    async def _call_with_fallback(self, request: CompletionRequest):
        try:
            return await self._complete(request)
        except LMError as error:
            if not self.fallbacks or not _falls_back(error):
                raise
            last = error
        for index, model in enumerate(self.fallbacks):
            _log.info("%s failed (%s); falling back to %s", self.model, type(last).__name__, model.model)
            try:
                value = await model._call_with_fallback(request)
            except LMError as error:
                if not _falls_back(error):
                    raise
                last = error
                continue
            used = dataclasses.replace(model.last_usage, fallbacks=model.last_usage.fallbacks + index + 1)
            self.last_usage = used
            self.usage.add(used)
            return value
        raise last

    async def _complete(self, request: CompletionRequest):
        started = time.perf_counter()
        usage = Usage(cost=0.0)
        key = None
        if self._cache is not None:
            key = cache_key(self.model, request, self.endpoint)
            hit = await self._cache.get(key)
            if hit is not None:
                completion = _completion_from_json(hit)
                value = self._value(completion, request)
                usage = Usage(cache_hits=1, cost=0.0, latency=time.perf_counter() - started)
                self._account(usage)
                return value
        try:
            completion = await self._attempt(request, usage)
            if request.schema is not None:
                value, completion = await self._validated(completion, request, usage)
            else:
                value = self._value(completion, request)
        except LMError:
            if usage.calls:  # tokens already billed (a failed repair) are still counted
                usage.latency = time.perf_counter() - started
                self._account(usage)
            raise
        if key is not None:
            stored = _completion_to_json(completion)
            if request.schema is not None:
                stored["parsed"], stored["text"] = value, json.dumps(value)
            await self._cache.set(key, stored)
        usage.latency = time.perf_counter() - started
        self._account(usage)
        return value

    async def _attempt(self, request: CompletionRequest, usage: Usage) -> Completion:
        """One adapter call, rate limited and retried; its usage is added to ``usage``."""

        async def once():
            if self._limiter is None:
                return await self._adapter.complete(request)
            async with self._limiter:
                return await self._adapter.complete(request)

        def on_retry(error, attempt, delay):
            usage.retries += 1
            self._pause_limiter(error)
            _log.info("%s: %s, retry %d in %.2f s", self.model, type(error).__name__, attempt, delay)

        try:
            # The common case pays no retry machinery: the policy only steps in after a
            # retryable failure, which it replays as its first attempt.
            completion = await once()
        except LMError as error:
            self._pause_limiter(error)
            if not (error.is_retryable and self.max_retries):
                raise
            if self._retry is None:
                self._retry = RetryPolicy(max_retries=self.max_retries, max_wait=self.max_retry_wait,
                                          wait_budget=self.retry_wait_budget)
            failures = [error]

            async def replay():
                if failures:
                    raise failures.pop()
                return await once()

            completion = await self._retry.run(replay, on_retry=on_retry)
        self._price(completion.usage)
        usage.add(completion.usage)
        return completion

    def _pause_limiter(self, error: LMError) -> None:
        """A 429's Retry-After pauses every caller of the shared limiter, if it is within the
        cap (``max_retry_wait``); a longer one is not waited for by anyone."""
        wait = getattr(error, "retry_after", None) if isinstance(error, RateLimitError) else None
        if self._limiter is not None and isinstance(wait, (int, float)) and not isinstance(wait, bool) \
                and 0 < wait <= self.max_retry_wait:
            self._limiter.pause(wait)

    def _price(self, usage: Usage) -> None:
        if usage.cost is not None:
            return
        usage.cost = catalogue.price(self.capabilities, usage.input_tokens, usage.output_tokens,
                                     usage.cached_tokens)

    def _value(self, completion: Completion, request: CompletionRequest):
        if request.schema is not None:
            value, errors = self._parse(completion, request.schema)
            if errors:
                raise self._structured_error(completion, request.schema, errors)
            return value
        return {"role": "assistant", "content": completion.text, "tool_calls": completion.tool_calls}

    def _parse(self, completion: Completion, schema: dict) -> tuple[Any, list[str]]:
        value = completion.parsed
        try:
            # The reply is untrusted: bounded nesting, no NaN or infinite numbers.
            if value is None:
                value = wire.loads(completion.text if isinstance(completion.text, str) else "", finite=True)
            else:
                wire.check_value(value, finite=True)
        except wire.WireValueError as error:
            reason = "the reply was cut at max_tokens" if completion.finish_reason == "length" else str(error)
            return None, [f"not valid JSON ({reason})"]
        try:
            return value, validation_errors(value, schema)
        except RecursionError:  # a recursive schema over data within the nesting limit
            return None, ["nested too deeply to validate against the schema"]

    async def _validated(self, completion: Completion, request: CompletionRequest, usage: Usage):
        value, errors = self._parse(completion, request.schema)
        attempts = getattr(self._adapter, "repair_attempts", 0)
        while errors and attempts > 0:
            attempts -= 1
            usage.repairs += 1
            repair = CompletionRequest(
                messages=request.messages + [
                    {"role": "assistant", "content": completion.text},
                    {"role": "user", "content": REPAIR_PROMPT.format(errors="; ".join(errors[:5]))}],
                schema=request.schema, tools=request.tools, params=request.params)
            completion = await self._attempt(repair, usage)
            value, errors = self._parse(completion, request.schema)
        if errors:
            raise self._structured_error(completion, request.schema, errors, usage.repairs)
        return value, completion

    def _structured_error(self, completion, schema, errors, repairs: int = 0) -> StructuredOutputError:
        after = f" after {repairs} repair attempt{'s' if repairs != 1 else ''}" if repairs else ""
        title = schema.get("title", "")
        return StructuredOutputError(
            f"{self.model}: the reply does not match the schema {title}{after}: {'; '.join(errors[:5])}. "
            f"Raw reply: {completion.text!r:.300}",
            raw_text=completion.text, validation_errors=errors, provider=self.provider, model=self.model)

    def _account(self, usage: Usage) -> None:
        self.last_usage = usage
        self.usage.add(usage)
        usage_lib.record(self.model, usage)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s: %d input + %d output tokens, cost %s, %.3f s%s", self.model, usage.input_tokens,
                       usage.output_tokens, usage.cost, usage.latency, " (cache hit)" if usage.cache_hits else "")

    async def stream(self, messages: Any, tools: list[dict] | None = None, **kwargs: Any) -> AsyncIterator[StreamChunk]:
        """Yield the reply as it is produced: text pieces, tool-call deltas, and a last chunk
        with the usage and the finish reason."""
        request = self._request(messages, None, tools, kwargs)
        started = time.perf_counter()
        async for chunk in self._adapter.stream(request):
            if chunk.usage is not None:
                self._price(chunk.usage)
                chunk.usage.latency = time.perf_counter() - started
                self._account(chunk.usage)
            yield chunk

    # --- serialization -----------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        if self.fallbacks:
            config["fallback"] = [serialize_synaplex_object(f) for f in self.fallbacks]
        for key, default in (("caching", False), ("max_retries", 2), ("max_retry_wait", 60.0),
                             ("retry_wait_budget", 120.0), ("requests_per_minute", None),
                             ("max_concurrency", None)):
            value = getattr(self, key)
            if value != default and isinstance(value, (bool, int, float, str)):
                config[key] = value
        if self._capability_overrides:
            config["capabilities"] = self._capability_overrides
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        caching = config.get("caching")
        if isinstance(caching, str) and caching.strip() and caching != "memory":
            where = "in the default cache folder" if caching in ("disk", "sqlite") else f"at {caching!r:.200}"
            safe_mode.require("files", "caching", f"create a SQLite response cache {where}")
        if config.get("fallback"):
            config["fallback"] = [deserialize_synaplex_object(f) for f in config["fallback"]]
        return super().from_config(config)


# --- the Esperanto-style constructor ---------------------------------------------------------

_CONFIG_KEYS = {"temperature", "max_tokens", "top_p", "timeout", "structured", "api_key", "api_base",
                "max_retries", "caching", "fallback", "stop", "seed"}


def create_language_model(provider: str, model: str, config: dict | None = None):
    """Make a LanguageModel from a provider name, a model name and a config dict.

    Example:
        >>> lm = synaplex.create_language_model("openrouter", "anthropic/claude-3.5-sonnet",
        ...                                     config={"temperature": 0.2, "max_tokens": 500})
        >>> lm.chat_complete([{"role": "user", "content": "Hi"}]).content
    """
    config = dict(config or {})
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise InvalidInputError(f"Unknown config keys {unknown}; accepted: {sorted(_CONFIG_KEYS)}.")
    if not isinstance(provider, str) or not isinstance(model, str) or not model:
        raise InvalidInputError("create_language_model(provider, model, config) takes two non-empty strings.")
    structured = config.pop("structured", None)
    lm = LanguageModel(model=f"{provider}/{model}", **config)
    lm.default_schema = chat.structured_schema(structured)
    return lm

