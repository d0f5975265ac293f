"""EmbeddingModel: text to vectors, on every provider that has embeddings."""

from __future__ import annotations

import time
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import usage as usage_lib
from synaplex.lm.base import Usage
from synaplex.lm.facade import ModelFacade


class EmbeddingModel(ModelFacade):
    """``await em(texts)`` returns ``{"embeddings": [[...], ...]}``, one vector per text.

    Non-string inputs are converted with ``str`` (optimizers embed variable values).

    Example:
        >>> em = synaplex.EmbeddingModel(model="scripted")
        >>> (await em(["hello"]))["embeddings"][0][:3]
    """

    _kind = "embedding model"
    _embedding = True

    async def __call__(self, texts: Any) -> dict:
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InvalidInputError(f"EmbeddingModel takes a non-empty list of texts, got {texts!r:.100}.")
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        started = time.perf_counter()
        vectors = await self._adapter.embed(texts)
        used = Usage(calls=1, input_tokens=sum(len(t) // 4 + 1 for t in texts), cost=0.0,
                     latency=time.perf_counter() - started)
        self.usage.add(used)
        usage_lib.record(self.model, used)  # counted by track_usage(), e.g. a trainer's reward phase
        return {"embeddings": vectors}
