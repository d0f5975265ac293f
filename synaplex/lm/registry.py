"""ProviderRegistry: named provider drivers built from config (SynthOrg's registry).

A provider's config names its ``driver`` (the factory that builds it; ``"synaplex"`` by
default, ``"litellm"`` accepted as the same since synaplex's own adapters replace LiteLLM), the
synaplex provider it speaks (``provider``, or SynthOrg's ``litellm_provider``; the config's
key by default), ``api_key``, ``base_url``/``api_base``, its ``models`` (``id``, ``alias``,
``cost_per_1k_input``, ``cost_per_1k_output``, ``max_context``, ``estimated_latency_ms``) and
any LanguageModel option (``max_retries``, ``timeout``, ``transport``...).

Example:
    >>> registry = ProviderRegistry.from_config({
    ...     "example-provider": {"provider": "openai", "api_key": "...", "models": [
    ...         {"id": "gpt-4o-mini", "alias": "medium", "cost_per_1k_input": 0.00015,
    ...          "cost_per_1k_output": 0.0006}]}})
    >>> driver = registry.get("example-provider")
    >>> response = await driver.complete([ChatMessage(role="user", content="Hi")], "medium")
    >>> router = registry.router({"strategy": "smart", "rules": [...], "fallback_chain": ["medium"]})

``register_provider("mydriver", factory)`` adds a driver factory (``factory(provider_name,
config) -> driver``) that configs then name with ``"driver": "mydriver"``.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pydantic

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import provider_models as pm
from synaplex.lm import routing as routing_lib
from synaplex.lm.errors import (
    DriverAlreadyRegisteredError,
    DriverFactoryNotFoundError,
    DriverNotRegisteredError,
    InvalidRequestError,
    ModelResolutionError,
)
from synaplex.lm.language_model import LanguageModel
from synaplex.lm.profiles import PROFILES
from synaplex.lm.router import Router

_FROZEN = pydantic.ConfigDict(frozen=True, allow_inf_nan=False, extra="forbid")


class ProviderModelConfig(pydantic.BaseModel):
    """One model of a provider's config."""

    model_config = _FROZEN
    id: pm.NotBlankStr
    alias: pm.NotBlankStr | None = None
    cost_per_1k_input: float | None = pydantic.Field(default=None, ge=0.0)
    cost_per_1k_output: float | None = pydantic.Field(default=None, ge=0.0)
    max_context: int | None = pydantic.Field(default=None, gt=0)
    estimated_latency_ms: int | None = pydantic.Field(default=None, ge=0)


class ModelCapabilities(pydantic.BaseModel):
    """A model's capabilities and prices (per 1,000 tokens), as SynthOrg's drivers report them.
    ``None``: unknown (synaplex never takes an unknown capability for a no)."""

    model_config = _FROZEN
    model_id: pm.NotBlankStr
    provider: pm.NotBlankStr
    max_context_tokens: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_streaming: bool | None = None
    supports_streaming_tool_calls: bool | None = None
    supports_system_messages: bool | None = None
    cost_per_1k_input: float | None = None
    cost_per_1k_output: float | None = None


_DRIVER_KEYS = {"driver", "provider", "litellm_provider", "api_key", "base_url", "api_base", "models"}


class LanguageModelDriver:
    """A provider driver over synaplex LanguageModels: ``complete``, ``stream``,
    ``get_model_capabilities`` (SynthOrg's CompletionProvider), one LanguageModel per model."""

    def __init__(self, provider_name: str, config: Mapping[str, Any]):
        config = dict(config)
        self.name = provider_name
        provider = config.get("provider") or config.get("litellm_provider") or provider_name
        if provider not in PROFILES:
            raise InvalidInputError(
                f"Provider config {provider_name!r}: {provider!r} is not a synaplex provider; set 'provider' to one "
                f"of {', '.join(sorted(PROFILES))} (an OpenAI-compatible server: 'openai' with 'base_url').")
        self.provider = provider
        if config.get("base_url") is not None and config.get("api_base") is not None:
            raise InvalidInputError(f"Provider config {provider_name!r}: base_url and api_base are the same; give one.")
        self._api_key = config.get("api_key")
        self.api_base = config.get("base_url") or config.get("api_base")
        try:
            self.models = tuple(m if isinstance(m, ProviderModelConfig) else ProviderModelConfig(**m)
                                for m in config.get("models") or ())
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"Provider config {provider_name!r}: invalid models: {error}") from None
        refs = [r for m in self.models for r in (m.id, m.alias) if r]
        if len(set(refs)) != len(refs):
            raise InvalidInputError(f"Provider config {provider_name!r}: a model id or alias is listed twice: {refs}.")
        self.options = {k: v for k, v in config.items() if k not in _DRIVER_KEYS}
        self._lms: dict[str, LanguageModel] = {}

    def __repr__(self):  # never the key
        return f"<LanguageModelDriver {self.name!r} provider={self.provider!r} models={[m.id for m in self.models]}>"

    def model_config(self, model: str) -> ProviderModelConfig:
        if not isinstance(model, str) or not model.strip():
            raise InvalidRequestError(f"Provider {self.name!r}: the model must be a non-blank string, got {model!r}.",
                                      provider=self.name)
        for entry in self.models:
            if model in (entry.id, entry.alias):
                return entry
        if self.models:
            raise ModelResolutionError(
                f"Provider {self.name!r} has no model {model!r}; its models: "
                f"{', '.join(m.id + (f' ({m.alias})' if m.alias else '') for m in self.models)}.", provider=self.name)
        return ProviderModelConfig(id=model)

    def language_model(self, model: str) -> LanguageModel:
        """The LanguageModel for a model id or alias (made once)."""
        entry = self.model_config(model)
        lm = self._lms.get(entry.id)
        if lm is None:
            capabilities = {}
            if entry.cost_per_1k_input is not None:
                capabilities["input_price_per_token"] = entry.cost_per_1k_input / 1000
            if entry.cost_per_1k_output is not None:
                capabilities["output_price_per_token"] = entry.cost_per_1k_output / 1000
            if entry.max_context is not None:
                capabilities["context_window"] = entry.max_context
            options = dict(self.options)
            if capabilities:
                options["capabilities"] = {**capabilities, **(options.get("capabilities") or {})}
            lm = self._lms[entry.id] = LanguageModel(model=f"{self.provider}/{entry.id}", api_key=self._api_key,
                                                     api_base=self.api_base, **options)
        return lm

    @staticmethod
    def _request(messages, tools, config) -> tuple[list[dict], list[dict] | None, dict]:
        if not messages:
            raise InvalidRequestError("complete/stream need at least one message.")
        wire = [m.to_wire() if isinstance(m, pm.ChatMessage) else m for m in messages]
        tool_dicts = None if tools is None else [t.to_wire() if isinstance(t, pm.ToolDefinition) else t
                                                  for t in tools]
        if config is not None and not isinstance(config, pm.CompletionConfig):
            raise InvalidRequestError(f"config must be a CompletionConfig, got {type(config).__name__}.")
        return wire, tool_dicts, config.to_params() if config is not None else {}

    async def complete(self, messages: list, model: str, tools: list | None = None,
                       config: pm.CompletionConfig | None = None) -> pm.CompletionResponse:
        lm = self.language_model(model)
        wire, tool_dicts, params = self._request(messages, tools, config)
        value = await lm(wire, tools=tool_dicts, **params)
        return pm.response_from_completion(value, lm.model, *lm._last_call())

    async def stream(self, messages: list, model: str, tools: list | None = None,
                     config: pm.CompletionConfig | None = None) -> AsyncIterator[pm.StreamChunk]:
        lm = self.language_model(model)
        wire, tool_dicts, params = self._request(messages, tools, config)
        pending: dict[int, dict] = {}
        async for chunk in lm.stream(wire, tools=tool_dicts, **params):
            for event in pm.chunk_events(chunk, pending):
                yield event

    async def get_model_capabilities(self, model: str) -> ModelCapabilities:
        entry = self.model_config(model)
        caps = self.language_model(model).capabilities
        per_1k = routing_lib.per_1k
        return ModelCapabilities(
            model_id=entry.id, provider=self.name, max_context_tokens=caps.context_window,
            max_output_tokens=caps.max_output_tokens, supports_tools=caps.tools, supports_vision=caps.vision,
            supports_streaming=caps.streaming, supports_streaming_tool_calls=caps.streaming_tool_calls,
            supports_system_messages=caps.system_messages, cost_per_1k_input=per_1k(caps.input_price_per_token),
            cost_per_1k_output=per_1k(caps.output_price_per_token))


_FACTORIES: dict[str, Callable[[str, Mapping[str, Any]], Any]] = {
    "synaplex": LanguageModelDriver, "litellm": LanguageModelDriver}
DEFAULT_DRIVER = "synaplex"


def register_provider(name: str, factory: Callable[[str, Mapping[str, Any]], Any], *, replace: bool = False) -> None:
    """Register a driver factory under ``name`` (configs select it with ``"driver": name``).

    ``factory(provider_name, config)`` returns the driver. A taken name raises
    DriverAlreadyRegisteredError unless ``replace=True``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"register_provider: the driver name must be a non-blank string, got {name!r}.")
    if not callable(factory):
        raise InvalidInputError(f"register_provider({name!r}, factory): factory must be callable "
                                f"(provider_name, config) -> driver, got {type(factory).__name__}.")
    if name in _FACTORIES and not replace:
        raise DriverAlreadyRegisteredError(f"A driver named {name!r} is already registered; pick another name or "
                                           "pass replace=True.")
    _FACTORIES[name] = factory


def registered_drivers() -> list[str]:
    return sorted(_FACTORIES)


class ProviderRegistry:
    """An immutable mapping of provider names to drivers: ``get``, ``list_providers``, ``in``, ``len``."""

    def __init__(self, drivers: Mapping[str, Any]):
        if not isinstance(drivers, Mapping):
            raise InvalidInputError(f"ProviderRegistry takes a mapping of name -> driver, got "
                                    f"{type(drivers).__name__}.")
        self._drivers = types.MappingProxyType(dict(drivers))

    @classmethod
    def from_config(cls, providers: Mapping[str, Mapping[str, Any]],
                    factory_overrides: Mapping[str, Callable] | None = None) -> ProviderRegistry:
        """Build each provider's driver with the factory its ``driver`` names (``factory_overrides``
        first, then the registered ones). Raises DriverFactoryNotFoundError for an unknown driver."""
        if not isinstance(providers, Mapping):
            raise InvalidInputError(f"ProviderRegistry.from_config takes a dict of provider configs, got "
                                    f"{type(providers).__name__}.")
        factories = {**_FACTORIES, **(factory_overrides or {})}
        drivers = {}
        for name, config in providers.items():
            if not isinstance(config, Mapping):
                raise InvalidInputError(f"Provider config {name!r} must be a dict, got {type(config).__name__}.")
            driver = config.get("driver", DEFAULT_DRIVER)
            factory = factories.get(driver)
            if factory is None:
                raise DriverFactoryNotFoundError(
                    f"Provider {name!r} names driver {driver!r}, which has no factory. Registered drivers: "
                    f"{', '.join(sorted(factories))}; add one with synaplex.lm.registry.register_provider"
                    f"({driver!r}, factory) or factory_overrides={{{driver!r}: factory}}.", provider=name)
            drivers[name] = factory(name, config)
        return cls(drivers)

    def get(self, name: str):
        driver = self._drivers.get(name)
        if driver is None:
            raise DriverNotRegisteredError(
                f"No provider {name!r} in this registry; it has: {', '.join(self.list_providers()) or 'none'}.",
                provider=name if isinstance(name, str) else None)
        return driver

    def list_providers(self) -> tuple[str, ...]:
        return tuple(sorted(self._drivers))

    def __contains__(self, name: object) -> bool:
        return name in self._drivers

    def __len__(self) -> int:
        return len(self._drivers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.list_providers())

    def __repr__(self):
        return f"<ProviderRegistry {list(self.list_providers())}>"

    def router(self, routing: Mapping[str, Any] | None = None, **kwargs: Any) -> Router:
        """A Router over every configured model of every LanguageModelDriver, with their aliases
        and latencies; ``routing`` holds ``strategy``, ``rules``, ``fallback_chain`` (and Router options)."""
        models, aliases, latencies = [], {}, {}
        for name in self.list_providers():
            driver = self._drivers[name]
            if not isinstance(driver, LanguageModelDriver):
                continue
            for entry in driver.models:
                lm = driver.language_model(entry.id)
                models.append(lm)
                if entry.alias:
                    if entry.alias in aliases:
                        raise InvalidInputError(f"Alias {entry.alias!r} is given to two models "
                                                f"({aliases[entry.alias]} and {lm.model}); aliases must be unique.")
                    aliases[entry.alias] = lm.model
                if entry.estimated_latency_ms is not None:
                    latencies[lm.model] = entry.estimated_latency_ms
        if not models:
            raise InvalidInputError("ProviderRegistry.router: no provider lists models; give each provider "
                                    "'models': [{'id': ..., 'alias': ...}].")
        options = {**dict(routing or {}), **kwargs}
        return Router(models=models, aliases={**aliases, **options.pop("aliases", {})},
                      estimated_latency_ms={**latencies, **options.pop("estimated_latency_ms", {})}, **options)
