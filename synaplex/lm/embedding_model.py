"""EmbeddingModel: text to vectors, on every provider that has embeddings.

An embedding call takes the path of a chat call: the budgets are checked, each request is
rate limited and retried on retryable errors (a 429, a 503), vectors are cached per text, the
usage is what the provider reported (an estimate where it reports none) priced from the
catalogue, and a span records it. Texts are sent in batches of at most the provider's limit
(``ProviderProfile.embedding_batch_size``). There is no fallback model: another model's
vectors live in another space.
"""

from __future__ import annotations

import time
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import budget as budget_lib
from synaplex.lm import options as options_lib
from synaplex.lm.base import CompletionRequest, Usage
from synaplex.lm.cache import cache_key
from synaplex.lm.facade import ModelFacade
from synaplex.observability import tracing


class EmbeddingModel(ModelFacade):
    """``await em(texts)`` returns ``{"embeddings": [[...], ...]}``, one vector per text.

    Non-string inputs are converted with ``str`` (optimizers embed variable values).

    Args:
        model: ``"provider/model-name"`` (``"openrouter"`` alone: OpenRouter's default).
        caching, cache_maxsize, max_retries, retry_delay, max_retry_wait, retry_wait_budget,
        requests_per_minute, max_concurrency, capabilities, budget: as for LanguageModel.
        **kwargs: adapter options (``transport``, ``timeout``, Gemini's ``task_type``...) and
            request parameters: ``dimensions``, ``user``, the provider's own fields (OpenRouter's
            ``provider`` routing) and ``extra_body={...}``; anything else is an error.

    Example:
        >>> em = synaplex.EmbeddingModel(model="scripted")
        >>> (await em(["hello"]))["embeddings"][0][:3]
    """

    _kind = "embedding model"
    _embedding = True
    _options = options_lib.EMBEDDING_MODEL_OPTIONS
    _request_params = options_lib.EMBEDDING_PARAMS

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 *, caching: Any = False, max_retries: int = 2, max_retry_wait: float = 60.0,
                 retry_wait_budget: float = 120.0, requests_per_minute: float | None = None,
                 max_concurrency: int | None = None, capabilities: dict | None = None, budget: Any = None,
                 retry_delay: float = 0.5, cache_maxsize: int | None = None, **kwargs: Any):
        super().__init__(model=model, api_key=api_key, api_base=api_base, caching=caching, max_retries=max_retries,
                         max_retry_wait=max_retry_wait, retry_wait_budget=retry_wait_budget,
                         requests_per_minute=requests_per_minute, max_concurrency=max_concurrency,
                         capabilities=capabilities, budget=budget, retry_delay=retry_delay,
                         cache_maxsize=cache_maxsize, **kwargs)

    @property
    def batch_size(self) -> int | None:
        """The most texts sent in one request (None: all at once)."""
        return self.profile.embedding_batch_size or getattr(self._adapter, "batch_size", None)

    async def __call__(self, texts: Any) -> dict:
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InvalidInputError(f"EmbeddingModel takes a non-empty list of texts, got {texts!r:.100}.")
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        estimate = budget_lib.current_estimate()
        if estimate is not None:
            estimate.add(self._estimate(sum(budget_lib.text_tokens(t) for t in texts), 0))
            size = self.defaults.get("dimensions") or 8
            return {"embeddings": [[0.0] * size for _ in texts]}
        if tracing.TRACER is None:
            return await self._embed(texts)
        with tracing.embedding_span(self, texts) as record:
            result = await self._embed(texts)
            record(self.last_usage)
            return result

    def _key(self, text: str) -> str:
        return cache_key(self.model, CompletionRequest(messages=[{"role": "user", "content": text}],
                                                       params={**self.defaults, "embedding": True}), self.endpoint)

    async def _embed(self, texts: list[str]) -> dict:
        started = time.perf_counter()
        usage = Usage(cost=0.0)
        vectors: list[Any] = [None] * len(texts)
        keys: list[str | None] = [None] * len(texts)
        if self._cache is not None:
            for i, text in enumerate(texts):
                keys[i] = self._key(text)
                hit = await self._cache.get(keys[i])
                if hit is not None:
                    vectors[i] = hit["embedding"]
                    usage.cache_hits += 1
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        size = self.batch_size or len(missing) or 1
        for start in range(0, len(missing), size):
            batch = missing[start:start + size]
            batch_texts = [texts[i] for i in batch]
            guess = self._estimate(sum(budget_lib.text_tokens(t) for t in batch_texts), 0)
            found, used = await self._resilient(lambda b=batch_texts: self._embed_batch(b), usage, lambda g=guess: g)
            usage.add(used)
            for i, vector in zip(batch, found):
                vectors[i] = vector
                if keys[i] is not None:
                    await self._cache.set(keys[i], {"embedding": vector})
        usage.latency = time.perf_counter() - started
        self._account(usage)  # counted by track_usage(), e.g. a trainer's reward phase
        return {"embeddings": vectors}

    async def _embed_batch(self, texts: list[str]) -> tuple[list, Usage]:
        """One request: the vectors, and the usage the provider reported (else an estimate)."""
        reported = None
        if hasattr(self._adapter, "embed_batch"):
            found, reported = await self._adapter.embed_batch(texts, self.defaults)
        else:
            found = await self._adapter.embed(texts)
        if reported is None:
            reported = Usage(calls=1, input_tokens=sum(budget_lib.text_tokens(t) for t in texts), cost=None)
        self._price(reported)
        return found, reported
