"""LanguageModel: one facade over every provider, the embedded model and the scripted LM."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, AsyncIterator

from synaplex.lm.base import CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import StructuredOutputError
from synaplex.lm.messages import normalize_messages
from synaplex.lm.facade import ModelFacade
from synaplex.lm.validation import validation_errors
from synaplex.observability import tracing

_log = logging.getLogger("synaplex.lm")


class LanguageModel(ModelFacade):
    """A language model, addressed as ``"provider/model-name"``.

    ``await lm(messages, schema=...)`` returns a dict valid against ``schema``; without a
    schema it returns the assistant message ``{"role", "content", "tool_calls"}``. Every
    call is accounted in ``lm.usage`` (tokens, cost, latency).

    Example:
        >>> lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}])
        >>> await lm([{"role": "user", "content": "Capital of France?"}], schema=Answer.get_schema())
        {'answer': 'Paris'}
    """

    @property
    def capabilities(self):
        return self._adapter.capabilities

    last_usage: Usage | None = None

    @property
    def cumulated_cost(self) -> float | None:
        return self.usage.cost

    @property
    def last_call_cost(self) -> float | None:
        return None if self.last_usage is None else self.last_usage.cost

    def _request(self, messages, schema, tools, kwargs) -> CompletionRequest:
        params = dict(self.defaults)
        params.update(kwargs)
        return CompletionRequest(messages=normalize_messages(messages), schema=schema, tools=tools,
                                 params=params)

    async def __call__(self, messages: Any, schema: dict | None = None, streaming: bool = False,
                       tools: list[dict] | None = None, **kwargs: Any):
        if streaming and schema is None:
            return self.stream(messages, tools=tools, **kwargs)
        request = self._request(messages, schema, tools, kwargs)
        if tracing.TRACER is not None:
            with tracing.lm_span(self, request) as record:
                value = await self._complete(request)
                record(self.last_usage, value)
                return value
        return await self._complete(request)

    async def _complete(self, request: CompletionRequest):
        started = time.perf_counter()
        completion = await self._adapter.complete(request)
        usage = completion.usage
        if request.schema is not None:
            value = self._structured(completion, request.schema)
        else:
            value = {"role": "assistant", "content": completion.text, "tool_calls": completion.tool_calls}
        usage.latency = time.perf_counter() - started
        self.last_usage = usage
        self.usage.add(usage)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s: %d input + %d output tokens, cost %s, %.3f s", self.model, usage.input_tokens,
                       usage.output_tokens, usage.cost, usage.latency)
        return value

    def _structured(self, completion, schema: dict) -> dict:
        value = completion.parsed
        if value is None:
            try:
                value = json.loads(completion.text)
            except (json.JSONDecodeError, TypeError) as error:
                raise StructuredOutputError(
                    f"{self.model}: the reply is not valid JSON ({error}). Raw reply: {completion.text!r:.300}",
                    raw_text=completion.text, validation_errors=[str(error)],
                    provider=self.provider, model=self.model,
                ) from None
        errors = validation_errors(value, schema)
        if errors:
            raise StructuredOutputError(
                f"{self.model}: the reply does not match the schema "
                f"{schema.get('title', '')!s}: {'; '.join(errors[:5])}. Raw reply: {completion.text!r:.300}",
                raw_text=completion.text, validation_errors=errors,
                provider=self.provider, model=self.model,
            )
        return value

    async def stream(self, messages: Any, tools: list[dict] | None = None, **kwargs: Any) -> AsyncIterator[StreamChunk]:
        """Yield the reply as it is produced: text pieces, tool-call deltas, and a last chunk
        with the usage and the finish reason."""
        request = self._request(messages, None, tools, kwargs)
        async for piece in self._adapter.stream(request):
            yield piece
