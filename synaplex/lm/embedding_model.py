"""EmbeddingModel: text to vectors, on every provider that has embeddings."""

from __future__ import annotations

import time
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.lm.providers import parse_model


class EmbeddingModel:
    """``await em(texts)`` returns ``{"embeddings": [[...], ...]}``, one vector per text.

    Non-string inputs are converted with ``str`` (optimizers embed variable values).

    Example:
        >>> em = synaplex.EmbeddingModel(model="scripted")
        >>> (await em(["hello"]))["embeddings"][0][:3]
    """

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 **kwargs: Any):
        if model is None:
            from synaplex.backend import config

            default = config.get_default_embedding_model()
            if default is None:
                raise InvalidInputError(
                    "No embedding model given and none configured. Pass model='provider/model-name' "
                    "or call synaplex.config.set_default_embedding_model(...)."
                )
            model = default if isinstance(default, str) else default.model
        spec, model_name = parse_model(model)
        self.model = model
        self.provider = spec.name
        self.api_base = api_base
        self._adapter = spec.load(embedding=True)(model_name=model_name, api_key=api_key,
                                                  api_base=api_base, **kwargs)
        self.defaults = {k: v for k, v in kwargs.items() if k != "responses"}
        self.usage = Usage()

    @property
    def requests(self) -> list:
        return getattr(self._adapter, "requests", [])

    async def __call__(self, texts: Any) -> dict:
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InvalidInputError(f"EmbeddingModel takes a non-empty list of texts, got {texts!r:.100}.")
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        started = time.perf_counter()
        vectors = await self._adapter.embed(texts)
        self.usage.add(Usage(calls=1, input_tokens=sum(len(t) // 4 + 1 for t in texts), cost=0.0,
                             latency=time.perf_counter() - started))
        return {"embeddings": vectors}

    def get_config(self) -> dict:
        config = {"model": self.model, "api_base": self.api_base}
        config.update(self.defaults)
        config.update(self._adapter.get_config())
        return config

    @classmethod
    def from_config(cls, config: dict) -> "EmbeddingModel":
        config = dict(config)
        callable_path = config.pop("responses_callable", None)
        em = cls(**config)
        if callable_path is not None and hasattr(em._adapter, "restore_from_config"):
            em._adapter.restore_from_config({"responses_callable": callable_path})
        return em

    def __repr__(self):
        return f"<EmbeddingModel model={self.model!r}>"
