"""LanguageModel: one facade over every provider, the embedded model and the scripted LM."""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterator

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import CompletionRequest, Usage
from synaplex.lm.errors import StructuredOutputError
from synaplex.lm.messages import normalize_messages
from synaplex.lm.providers import parse_model
from synaplex.lm.validation import validation_errors


class LanguageModel:
    """A language model, addressed as ``"provider/model-name"``.

    ``await lm(messages, schema=...)`` returns a dict valid against ``schema``; without a
    schema it returns the assistant message ``{"role", "content", "tool_calls"}``. Every
    call is accounted in ``lm.usage`` (tokens, cost, latency).

    Example:
        >>> lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}])
        >>> await lm([{"role": "user", "content": "Capital of France?"}], schema=Answer.get_schema())
        {'answer': 'Paris'}
    """

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 **kwargs: Any):
        if model is None:
            from synaplex.backend import config

            default = config.get_default_language_model()
            if default is None:
                raise InvalidInputError(
                    "No language model given and none configured. Pass model='provider/model-name' "
                    "(e.g. 'scripted' in tests) or call synaplex.config.set_default_language_model(...)."
                )
            model = default if isinstance(default, str) else default.model
        spec, model_name = parse_model(model)
        self.model = model
        self.provider = spec.name
        self.api_base = api_base
        self._api_key = api_key
        adapter_cls = spec.load()
        self._adapter = adapter_cls(model_name=model_name, api_key=api_key, api_base=api_base, **kwargs)
        self.defaults = {k: v for k, v in kwargs.items() if k not in ("responses",)}
        self.usage = Usage()
        self.last_usage: Usage | None = None

    # --- scripted conveniences ---------------------------------------------------------

    @property
    def requests(self) -> list[dict]:
        """Every request this model received (scripted models only)."""
        return getattr(self._adapter, "requests", [])

    def set_responses(self, responses: Any) -> None:
        """Replace the replies of a scripted model."""
        if not hasattr(self._adapter, "set_responses"):
            raise InvalidInputError(f"set_responses is for scripted models; this one is {self.model!r}.")
        self._adapter.set_responses(responses)

    # --- calling ------------------------------------------------------------------------

    @property
    def capabilities(self):
        return self._adapter.capabilities

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
        started = time.perf_counter()
        completion = await self._adapter.complete(request)
        usage = completion.usage
        if schema is not None:
            value = self._structured(completion, schema)
        else:
            value = {"role": "assistant", "content": completion.text, "tool_calls": completion.tool_calls}
        usage.latency = time.perf_counter() - started
        self.last_usage = usage
        self.usage.add(usage)
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

    async def stream(self, messages: Any, tools: list[dict] | None = None, **kwargs: Any) -> AsyncIterator[str]:
        """Yield the reply's text as it is produced."""
        request = self._request(messages, None, tools, kwargs)
        async for piece in self._adapter.stream(request):
            yield piece

    # --- serialization ------------------------------------------------------------------

    def get_config(self) -> dict:
        """The model's configuration; never its API key."""
        config = {"model": self.model, "api_base": self.api_base}
        config.update({k: v for k, v in self.defaults.items() if k not in ("api_key",)})
        config.update(self._adapter.get_config())
        return config

    @classmethod
    def from_config(cls, config: dict) -> "LanguageModel":
        config = dict(config)
        callable_path = config.pop("responses_callable", None)
        lm = cls(**config)
        if callable_path is not None and hasattr(lm._adapter, "restore_from_config"):
            lm._adapter.restore_from_config({"responses_callable": callable_path})
        return lm

    def __repr__(self):
        return f"<LanguageModel model={self.model!r}>"
