"""LanguageModel: one facade over every provider, the embedded model and the scripted LM.

A call goes: validate → cache → (rate limit → adapter, retried on retryable errors) →
validate the structured reply (one bounded repair) → price → account; on failure, the
fallback models are tried in order.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import budget as budget_lib
from synaplex.lm import catalogue, chat, reasoning, wire
from synaplex.lm import options as options_lib
from synaplex.lm.base import Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.cache import cache_key
from synaplex.lm.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    LMError,
    ProviderInternalError,
    StructuredOutputError,
    UnsupportedInputError,
)
from synaplex.lm.facade import ModelFacade
from synaplex.lm.llm_config import LLMConfig
from synaplex.lm.messages import has_images, normalize_messages
from synaplex.lm.tools import assemble_tool_calls, to_tool_definitions
from synaplex.lm.validation import validation_errors, validator_for
from synaplex.observability import tracing
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object

_log = logging.getLogger("synaplex.lm")

REPAIR_PROMPT = ("Your previous reply is not valid JSON for the required schema: {errors}. "
                 "Reply again with only the corrected JSON object.")

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
            "request_id": completion.request_id, "usage": dataclasses.asdict(completion.usage)}


def _completion_from_json(data: dict) -> Completion:
    return Completion(text=data["text"], parsed=data.get("parsed"), tool_calls=data.get("tool_calls") or [],
                      finish_reason=data.get("finish_reason"), reasoning=data.get("reasoning"),
                      request_id=data.get("request_id"))


def _falls_back(error: LMError) -> bool:
    """Errors a different model may not have: anything but a request that is invalid as such."""
    return not isinstance(error, InvalidRequestError) or isinstance(error, (ContextWindowExceededError,
                                                                             UnsupportedInputError))


# (model, usage, finish reason, request id) of the current task's last LM call (see _last_call)
_LAST_CALL: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("synaplex_last_call", default=None)


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

    # The last call's outcome, whoever made it. A reader right after its own call (a chat
    # response, a span, a router) takes _last_call(), which no other thread's call can replace.
    last_usage: Usage | None = None
    last_finish_reason: str | None = None
    last_request_id: str | None = None

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 *, fallback: Any = None, caching: Any = False, max_retries: int = 2,
                 max_retry_wait: float = 60.0, retry_wait_budget: float = 120.0,
                 requests_per_minute: float | None = None, max_concurrency: int | None = None,
                 capabilities: dict | None = None, budget: Any = None, system_prompt: str | None = None,
                 streaming: bool = False, retry_delay: float = 0.5, cache_maxsize: int | None = None,
                 config: Any = None, **kwargs: Any):
        if config is not None:
            named = {"max_retries": max_retries != 2, "retry_delay": retry_delay != 0.5,
                     "requests_per_minute": requests_per_minute is not None, "system_prompt": system_prompt is not None,
                     "caching": caching is not False, "cache_maxsize": cache_maxsize is not None}
            model, api_key, kwargs = _from_llm_config(config, model, api_key, kwargs,
                                                      [k for k, given in named.items() if given])
            max_retries, retry_delay = kwargs.pop("max_retries"), kwargs.pop("retry_delay")
            requests_per_minute, system_prompt = kwargs.pop("requests_per_minute"), kwargs.pop("system_prompt")
            cache_maxsize = kwargs.pop("cache_maxsize", None)
        super().__init__(model=model, api_key=api_key, api_base=api_base, fallback=fallback, caching=caching,
                         max_retries=max_retries, max_retry_wait=max_retry_wait, retry_wait_budget=retry_wait_budget,
                         requests_per_minute=requests_per_minute, max_concurrency=max_concurrency,
                         capabilities=capabilities, budget=budget, system_prompt=system_prompt, streaming=streaming,
                         retry_delay=retry_delay, cache_maxsize=cache_maxsize, **kwargs)

    def _setup(self, fallback: Any = None, system_prompt: str | None = None, streaming: bool = False, **options):
        super()._setup(**options)
        _check_params(self.defaults)
        fallbacks = [] if fallback is None else list(fallback) if isinstance(fallback, (list, tuple)) else [fallback]
        for item in fallbacks:
            if not isinstance(item, LanguageModel):
                raise InvalidInputError(f"fallback must be a LanguageModel or a list of them, got {item!r:.80}.")
        self.fallbacks = fallbacks
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise InvalidInputError(f"system_prompt must be a str, got {type(system_prompt).__name__}.")
        self.system_prompt = system_prompt or None
        if not isinstance(streaming, bool):
            raise InvalidInputError(f"streaming must be True or False, got {streaming!r}.")
        self.streaming = streaming
        self._requestable = options_lib.REQUEST_PARAMS | self.profile.body_fields
        self._reasoning_warned: set = set()
        self._schema_tokens: dict[int, tuple[dict, tuple[int, int | None]]] = {}

    @property
    def cumulated_cost(self) -> float | None:
        return self.usage.cost

    @property
    def last_call_cost(self) -> float | None:
        return None if self.last_usage is None else self.last_usage.cost

    default_schema: dict | None = None

    def chat_complete(self, messages: Any, stream: bool | None = None, schema: dict | None = None, **kwargs):
        """Blocking chat for scripts: a ChatResponse, or an iterator of StreamChunks
        (``stream=None``: the model's ``streaming`` option)."""
        return chat.chat_complete(self, messages, stream=stream, schema=schema, **kwargs)

    def achat_complete(self, messages: Any, stream: bool | None = None, schema: dict | None = None,
                       **kwargs) -> chat.ChatCall:
        """Async chat: ``await`` it for a ChatResponse (or, streaming, an async iterator of
        StreamChunks); with ``stream=True``, ``async for chunk in lm.achat_complete(...)`` too."""
        return chat.achat_complete(self, messages, stream=stream, schema=schema, **kwargs)

    def to_langchain(self):
        """A LangChain chat model (``BaseChatModel``) whose calls go through this model: ``invoke``,
        ``stream``, ``bind_tools``, ``with_structured_output`` (synaplex's native structured output).
        Needs the ``langchain`` extra: ``pip install "synaplex[langchain]"``."""
        from synaplex.lm import langchain_adapter  # noqa: PLC0415 - the langchain extra (langchain-core)

        return langchain_adapter.chat_model(self)

    # --- SynapseKit's interface --------------------------------------------------------------

    @property
    def tokens_used(self) -> dict[str, int]:
        """``{"input": ..., "output": ...}``: the tokens of every call so far (SynapseKit)."""
        return {"input": self.usage.input_tokens, "output": self.usage.output_tokens}

    async def generate(self, prompt: str, **kwargs: Any) -> str:
        """The reply's text to one user prompt (SynapseKit's ``generate``)."""
        return await self.generate_with_messages([{"role": "user", "content": _prompt(prompt)}], **kwargs)

    async def generate_with_messages(self, messages: list, **kwargs: Any) -> str:
        """The reply's text to a list of messages."""
        if "schema" in kwargs:
            raise InvalidInputError("generate returns text; for a structured reply call the model itself: "
                                    "await lm(messages, schema=...).")
        value = await self(messages, **kwargs)
        return value["content"]

    async def stream_with_messages(self, messages: list, **kwargs: Any) -> AsyncIterator[str]:
        """The reply's text pieces (str) to a list of messages, as they come."""
        async for chunk in self.stream(messages, **kwargs):
            if chunk.text:
                yield chunk.text

    async def list_models(self) -> list[dict]:
        """The models the provider serves (its models endpoint), as dicts with an ``id``."""
        return await self._adapter.list_models()

    # --- calling -------------------------------------------------------------------------

    def _request(self, messages, schema, tools, kwargs) -> CompletionRequest:
        for key in kwargs:
            if key not in self._requestable:
                raise options_lib.unknown_options([k for k in kwargs if k not in self._requestable],
                                                  set(self._requestable), f"{type(self).__name__} call", self.model)
        params = dict(self.defaults)
        params.update(kwargs)
        if "extra_body" in kwargs and isinstance(self.defaults.get("extra_body"), dict):
            options_lib.check_extra_body(kwargs["extra_body"])
            params["extra_body"] = options_lib.merge_extra_body(dict(self.defaults["extra_body"]),
                                                                kwargs["extra_body"])
        _check_params(params)
        if "reasoning_effort" in params:  # neutral: said the provider's way (its profile's data)
            reasoning.apply_effort(params, self.profile, self.model, self._reasoning_warned)
        if schema is not None:
            validator_for(schema)  # a schema that is not a JSON schema fails here, before any call
        if tools is not None:
            if not isinstance(tools, (list, tuple)):
                raise InvalidInputError(f"tools must be a list of tools, got {type(tools).__name__}.")
            tools = to_tool_definitions(list(tools)) or None
        messages = normalize_messages(messages)
        if self.system_prompt is not None:
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        return CompletionRequest(messages=messages, schema=schema, tools=tools, params=params)

    def _check_vision(self) -> None:
        """Images go only to models that read them; an unknown model is tried."""
        if self.capabilities.vision is not False or not self._knows("vision"):   # None: unknown, tried
            return
        raise UnsupportedInputError(
            f"{self.model} does not take images (the catalogue says it has no vision), so nothing was sent. Use a "
            "model with vision (e.g. openai/gpt-4o-mini, anthropic/claude-3-5-sonnet-latest, gemini/gemini-2.0-flash), "
            "or, if this model does read images, say so: LanguageModel(..., capabilities={'vision': True}).",
            provider=self.provider, model=self.model)

    def _knows(self, capability: str) -> bool:
        """Whether this model's ``capability`` is a known fact (catalogue, adapter, override)."""
        if capability in self._capability_overrides or self.provider in catalogue.LOCAL_PROVIDERS:
            return True
        return catalogue.lookup(self.provider, self.model.partition("/")[2]) is not None \
            or getattr(self._adapter, "capabilities", None) is not None

    async def __call__(self, messages: Any, schema: dict | None = None, streaming: bool = False,
                       tools: list[dict] | None = None, **kwargs: Any):
        if streaming and schema is None:
            return self.stream(messages, tools=tools, **kwargs)
        request = self._request(messages, schema, tools, kwargs)
        estimate = budget_lib.current_estimate()
        if estimate is not None:
            return self._estimated(request, estimate)
        if tracing.TRACER is not None:
            with tracing.lm_span(self, request) as record:
                value = await self._call_with_fallback(request)
                record(*self._last_call(), value)
                return value
        return await self._call_with_fallback(request)

    # --- budgets and estimates --------------------------------------------------------------

    def _output_estimate(self, request: CompletionRequest, pessimistic: bool) -> int:
        """The output tokens a call is expected to take: for a budget (``pessimistic``), its
        max_tokens (or the schema's bound), else the average so far; for an estimate, the
        schema's bound, else the average so far, else max_tokens."""
        max_tokens = request.params.get("max_tokens")
        bound = self._schema_facts(request.schema)[1] if request.schema is not None else None
        if bound is not None:
            return min(bound, max_tokens) if max_tokens else bound
        calls = self.usage.calls
        average = round(self.usage.output_tokens / calls) if calls else None
        if pessimistic:
            return max_tokens or average or budget_lib.DEFAULT_OUTPUT_TOKENS
        return average or max_tokens or budget_lib.DEFAULT_OUTPUT_TOKENS

    def _schema_facts(self, schema: dict) -> tuple[int, int | None]:
        """A schema's tokens in the prompt and the most tokens of a reply valid against it
        (None: unbounded), computed once per schema object."""
        entry = self._schema_tokens.get(id(schema))
        if entry is None or entry[0] is not schema:
            if len(self._schema_tokens) > 128:
                self._schema_tokens.clear()
            chars = budget_lib.schema_output_bound(schema)
            bound = None if chars is None else chars // budget_lib.CHARS_PER_TOKEN + 1
            entry = self._schema_tokens[id(schema)] = (schema, (budget_lib.text_tokens(schema), bound))
        return entry[1]

    def _call_estimate(self, request: CompletionRequest, pessimistic: bool = True) -> budget_lib.CallEstimate:
        schema_tokens = self._schema_facts(request.schema)[0] if request.schema is not None else 0
        input_tokens = budget_lib.prompt_tokens(request.messages, None, request.tools) + schema_tokens
        return self._estimate(input_tokens, self._output_estimate(request, pessimistic))

    def _estimated(self, request: CompletionRequest, estimate) -> Any:
        """Inside ``estimating()``: record the call's estimate, answer a placeholder, send nothing."""
        estimate.add(self._call_estimate(request, pessimistic=False))
        if request.schema is not None:
            return budget_lib.placeholder(request.schema)
        return {"role": "assistant", "content": "", "tool_calls": []}

    # --- calling ------------------------------------------------------------------------------

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
            self._took_over(model, index)
            return value
        raise last

    def _took_over(self, model: LanguageModel, index: int) -> None:
        """Account a fallback model's answer to this model too."""
        usage, finish_reason, request_id = model._last_call()
        used = dataclasses.replace(usage, fallbacks=usage.fallbacks + index + 1)
        self.last_usage = used
        self.usage.add(used)
        self.last_finish_reason, self.last_request_id = finish_reason, request_id
        _LAST_CALL.set((self, used, finish_reason, request_id))

    async def _complete(self, request: CompletionRequest):
        if has_images(request.messages):
            self._check_vision()  # before the cache and any request; a fallback may see
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
                self._finished(usage, completion.finish_reason, completion.request_id)
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
        self._finished(usage, completion.finish_reason, completion.request_id)
        return value

    def _finished(self, usage: Usage, finish_reason: str | None, request_id: str | None) -> None:
        """The end of a call: its usage accounted, the shared ``last_*`` attributes, and its
        outcome for this caller (a context variable: the caller's task, in the caller's thread)."""
        self.last_finish_reason, self.last_request_id = finish_reason, request_id
        self._account(usage)
        _LAST_CALL.set((self, usage, finish_reason, request_id))

    def _last_call(self) -> tuple[Usage | None, str | None, str | None]:
        """(usage, finish reason, request id) of this caller's last call of this model; the shared
        ``last_*`` attributes when this caller made none (its call ran in another context)."""
        outcome = _LAST_CALL.get()
        if outcome is not None and outcome[0] is self:
            return outcome[1], outcome[2], outcome[3]
        return self.last_usage, self.last_finish_reason, self.last_request_id

    async def _attempt(self, request: CompletionRequest, usage: Usage) -> Completion:
        """One adapter call, rate limited, retried and checked against the budgets; its usage
        is added to ``usage``."""
        completion = await self._resilient(lambda: self._adapter.complete(request), usage,
                                           lambda: self._call_estimate(request))
        self._price(completion.usage)
        usage.add(completion.usage)
        return completion

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
            raw_text=completion.text, validation_errors=errors, provider=self.provider, model=self.model,
            finish_reason=completion.finish_reason, request_id=completion.request_id)

    def _account(self, usage: Usage) -> None:
        super()._account(usage)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s: %d input + %d output tokens, cost %s, %.3f s%s", self.model, usage.input_tokens,
                       usage.output_tokens, usage.cost, usage.latency, " (cache hit)" if usage.cache_hits else "")

    # --- streaming ----------------------------------------------------------------------------

    async def stream(self, messages: Any, tools: list[dict] | None = None, **kwargs: Any) -> AsyncIterator[StreamChunk]:
        """Yield the reply as it is produced: text pieces, tool-call deltas, and a last chunk
        with the usage, the finish reason and the provider's request id.

        A stream takes the path of a call: the budgets are checked, the rate limiter holds a
        slot until the stream ends, retryable errors are retried and the fallback models tried
        until the first chunk arrives (after it, an error is raised to the reader), the usage is
        priced and accounted, a span records it, and a cached reply is replayed as a stream.
        """
        request = self._request(messages, None, tools, kwargs)
        estimate = budget_lib.current_estimate()
        if estimate is not None:
            self._estimated(request, estimate)
            yield StreamChunk(usage=Usage(cost=0.0), finish_reason="stop")
            return
        if tracing.TRACER is not None:
            with tracing.lm_span(self, request) as record:
                reply = {"role": "assistant", "content": ""}
                usage = finish_reason = request_id = None
                async for chunk in self._stream_with_fallback(request):
                    reply["content"] += chunk.text
                    if chunk.usage is not None:  # the last chunk: this stream's own outcome
                        usage, finish_reason, request_id = chunk.usage, chunk.finish_reason, chunk.request_id
                    yield chunk
                record(usage or self.last_usage, finish_reason, request_id, reply)
            return
        async for chunk in self._stream_with_fallback(request):
            yield chunk

    async def _stream_with_fallback(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        try:
            opened = await self._open_stream(request)
            owner, index = self, -1
        except LMError as error:
            if not self.fallbacks or not _falls_back(error):
                raise
            last = error
            opened = None
            for index, model in enumerate(self.fallbacks):  # noqa: B007 - index is used after the loop
                _log.info("%s failed (%s); streaming from %s", self.model, type(last).__name__, model.model)
                try:
                    opened = await model._open_stream(request)
                except LMError as fallback_error:
                    if not _falls_back(fallback_error):
                        raise
                    last = fallback_error
                    continue
                owner = model
                break
            if opened is None:
                raise last from None
        async for chunk in opened:
            yield chunk
        if owner is not self:
            self._took_over(owner, index)

    async def _open_stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        """The stream once its first chunk has arrived (retried, rate limited, budgeted), as an
        iterator that yields that chunk, then the rest, and accounts the stream at its end."""
        if has_images(request.messages):
            self._check_vision()
        started = time.perf_counter()
        key = None
        if self._cache is not None:
            key = cache_key(self.model, request, self.endpoint)
            hit = await self._cache.get(key)
            if hit is not None:
                return self._replay(_completion_from_json(hit), started)
        usage = Usage(cost=0.0)
        budgets = self._budgets()
        state: dict = {}

        async def send():
            guess = None
            if budgets:
                guess = self._call_estimate(request)
                budget_lib.admit(budgets, guess)
            if self._limiter is not None:
                await self._limiter.acquire()
            iterator = self._adapter.stream(request)
            try:
                first = await anext(iterator)
            except BaseException as error:
                await iterator.aclose()
                if self._limiter is not None:
                    await self._limiter.release()
                if guess is not None:
                    budget_lib.settle(budgets, guess, None)
                if isinstance(error, StopAsyncIteration):
                    raise ProviderInternalError(f"{self.model}: the stream ended without a chunk.",
                                                provider=self.provider, model=self.model) from None
                raise
            state.update(iterator=iterator, first=first, guess=guess)

        await self._resilient(send, usage, limited=False)
        return self._rest(request, state, usage, started, key, budgets)

    async def _rest(self, request, state, usage, started, key, budgets) -> AsyncIterator[StreamChunk]:
        iterator, chunk, guess = state["iterator"], state["first"], state["guess"]
        texts: list[str] = []
        deltas: list[StreamChunk] = []
        done = False
        try:
            while True:
                if chunk.usage is not None:
                    self._price(chunk.usage)
                    chunk.usage.retries += usage.retries
                    chunk.usage.latency = time.perf_counter() - started
                    final = chunk
                    done = True
                texts.append(chunk.text)
                if chunk.tool_call_deltas:
                    deltas.append(chunk)
                if chunk.finish_reason is not None or chunk.request_id is not None:
                    final = chunk
                if done:
                    self._finished(chunk.usage, final.finish_reason, final.request_id)
                    if budgets:
                        budget_lib.settle(budgets, guess, chunk.usage)
                        guess = None
                    if key is not None:
                        completion = Completion(text="".join(texts), tool_calls=assemble_tool_calls(deltas),
                                                finish_reason=final.finish_reason, request_id=final.request_id)
                        await self._cache.set(key, _completion_to_json(completion))
                yield chunk
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    break
        finally:
            await iterator.aclose()
            if self._limiter is not None:
                await self._limiter.release()
            if guess is not None:  # left before its end: the estimate counts as spent
                budget_lib.settle(budgets, guess, Usage(calls=1, input_tokens=guess.input_tokens,
                                                        output_tokens=guess.output_tokens, cost=guess.cost))

    async def _replay(self, completion: Completion, started: float) -> AsyncIterator[StreamChunk]:
        """A cached reply, streamed: its text, its tool calls, and a last chunk (a cache hit)."""
        if completion.text:
            yield StreamChunk(text=completion.text)
        for index, call in enumerate(completion.tool_calls):
            yield StreamChunk(tool_call_deltas=[{"index": index, "id": call.get("id"), "name": call.get("name"),
                                                 "arguments_delta": json.dumps(call.get("arguments", {}))}])
        usage = Usage(cache_hits=1, cost=0.0, latency=time.perf_counter() - started)
        self._finished(usage, completion.finish_reason, completion.request_id)
        yield StreamChunk(usage=usage, finish_reason=completion.finish_reason, request_id=completion.request_id)

    # --- serialization -----------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        if self.fallbacks:
            config["fallback"] = [serialize_synaplex_object(f) for f in self.fallbacks]
        if self.system_prompt is not None:
            config["system_prompt"] = self.system_prompt
        if self.streaming:
            config["streaming"] = True
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if config.get("fallback"):
            config["fallback"] = [deserialize_synaplex_object(f) for f in config["fallback"]]
        return super().from_config(config)


def _prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt:
        raise InvalidInputError(f"generate(prompt) takes a non-empty str, got {type(prompt).__name__}: {prompt!r:.80}; "
                                "for a conversation use generate_with_messages(messages).")
    return prompt


def _from_llm_config(config: Any, model: Any, api_key: Any, kwargs: dict,
                     named: list[str]) -> tuple[Any, Any, dict]:
    """The LanguageModel keywords of ``LanguageModel(config=LLMConfig(...), **kwargs)``."""
    if not isinstance(config, LLMConfig):
        hint = (" To load a saved configuration (a dict), use LanguageModel.from_config(config)."
                if isinstance(config, dict) else "")
        raise InvalidInputError(f"LanguageModel(config=...) takes a synaplex.LLMConfig, got "
                                f"{type(config).__name__}.{hint}")
    options = config.to_options()
    clashes = sorted({k for k in options if k in kwargs} | set(named)) + [
        k for k, v in (("model", model), ("api_key", api_key)) if v is not None]
    if clashes:
        raise InvalidInputError(f"LanguageModel(config=LLMConfig(...)) already sets {', '.join(clashes)}; set "
                                "them in the LLMConfig or drop config=.")
    model, api_key = options.pop("model"), options.pop("api_key")
    return model, api_key, {**options, **kwargs}


# --- the Esperanto-style constructor ---------------------------------------------------------

def create_language_model(provider: str, model: str, config: dict | None = None):
    """Make a LanguageModel from a provider name, a model name and a config dict.

    ``config`` takes every option of LanguageModel (``temperature``, ``max_tokens``, ``top_p``,
    ``timeout``, ``streaming``...) plus Esperanto's ``structured`` (``{"type": "json"}``, with a
    ``schema`` or not); an unknown key raises UnknownOptionError.

    Example:
        >>> lm = synaplex.create_language_model("openrouter", "anthropic/claude-3.5-sonnet",
        ...                                     config={"temperature": 0.2, "max_tokens": 500})
        >>> lm.chat_complete([{"role": "user", "content": "Hi"}]).content
    """
    if not isinstance(provider, str) or not isinstance(model, str) or not provider or not model:
        raise InvalidInputError("create_language_model(provider, model, config) takes two non-empty strings.")
    if config is not None and not isinstance(config, dict):
        raise InvalidInputError(f"config must be a dict of options, got {type(config).__name__}.")
    config = dict(config or {})
    structured = config.pop("structured", None)
    schema = chat.structured_schema(structured)
    lm = LanguageModel(model=f"{provider}/{model}", **config)
    lm.default_schema = schema
    return lm
