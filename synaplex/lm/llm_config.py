"""SynapseKit's ``LLMConfig``: a LanguageModel's settings in one object.

``LanguageModel(config=LLMConfig(...))`` builds the model from it (``LanguageModel.from_config``
stays the saving API, which takes a dict). The fields and their defaults are SynapseKit's; each
maps to a LanguageModel option:

=====================  ==========================================================
``model``              ``model`` (a bare name is placed by ``provider``, else auto-detected)
``api_key``            ``api_key`` (never shown in the repr)
``provider``           the provider's name (``"openai"``, ``"ollama"``, ``"anthropic"``...)
``system_prompt``      ``system_prompt``
``temperature``        ``temperature`` (0.2)
``max_tokens``         ``max_tokens`` (1024)
``cache``              ``caching`` (False); ``cache_backend`` ``"memory"`` or ``"sqlite"``
``cache_maxsize``      ``cache_maxsize`` (128)
``max_retries``        ``max_retries`` (0: SynapseKit retries nothing by default)
``retry_delay``        ``retry_delay`` (1.0 s, the first backoff)
``requests_per_minute````requests_per_minute`` (None)
=====================  ==========================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any

from synaplex.backend.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    model: str
    api_key: str | None = dataclasses.field(default=None, repr=False)
    provider: str | None = None
    system_prompt: str | None = None
    temperature: float = 0.2
    max_tokens: int = 1024
    cache: bool = False
    cache_maxsize: int = 128
    cache_backend: str = "memory"
    max_retries: int = 0
    retry_delay: float = 1.0
    requests_per_minute: float | None = None

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidInputError(f"LLMConfig(model=...) must be a non-empty model name, got {self.model!r}.")
        if self.provider is not None and (not isinstance(self.provider, str) or not self.provider):
            raise InvalidInputError(f"LLMConfig(provider=...) must be a provider's name such as 'openai' or "
                                    f"'ollama', got {self.provider!r}.")
        if not isinstance(self.cache, bool):
            raise InvalidInputError(f"LLMConfig(cache=...) must be True or False, got {self.cache!r}.")

    def to_options(self) -> dict[str, Any]:
        """The LanguageModel keywords this config sets."""
        options: dict[str, Any] = {
            "model": self.model, "api_key": self.api_key, "temperature": self.temperature,
            "max_tokens": self.max_tokens, "max_retries": self.max_retries, "retry_delay": self.retry_delay,
            "requests_per_minute": self.requests_per_minute, "system_prompt": self.system_prompt,
        }
        if self.provider is not None:
            options["provider"] = self.provider
        if self.cache:
            options["cache"] = True
            options["cache_backend"] = self.cache_backend
            options["cache_maxsize"] = self.cache_maxsize
        return options
