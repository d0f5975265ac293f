"""What LanguageModel and EmbeddingModel share: model resolution, the adapter, config."""

from __future__ import annotations

import os
from typing import Any

from synaplex.backend import config
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.lm.errors import MissingAPIKeyError
from synaplex.lm.profiles import ProviderProfile
from synaplex.lm.providers import load_adapter, parse_model


def resolve_endpoint(profile: ProviderProfile, api_key: str | None, api_base: str | None) -> tuple[str | None, str | None]:
    """The API key and base URL to use: arguments first, then the environment, then defaults.

    A key is required for hosted providers; ``openai/...`` pointed at another ``api_base``
    (a local server) needs none.
    """
    if api_base is None:
        api_base = next((os.environ[v] for v in profile.base_url_env if os.environ.get(v)), None)
    if api_key is None:
        api_key = next((os.environ[v] for v in profile.api_key_env if os.environ.get(v)), None)
    custom_server = api_base is not None and profile.base_url is not None and api_base.rstrip("/") != profile.base_url
    if api_key is None and profile.key_required and not custom_server:
        names = " or ".join(profile.api_key_env) or "an API key"
        raise MissingAPIKeyError(
            f"No API key for provider {profile.name!r}: set the environment variable {names}, or pass "
            "api_key=... to the model.", provider=profile.name)
    if api_base is None:
        api_base = profile.base_url
    if api_base is None and profile.adapter == "openai":
        names = " or ".join(profile.base_url_env)
        raise MissingAPIKeyError(
            f"Provider {profile.name!r} needs an endpoint: pass api_base=... or set {names}.",
            provider=profile.name)
    return api_key, api_base


def _env_value(text: str, variable: str):
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"The environment variable {variable} must be an integer, got {text!r}.") from None


class _Everything(frozenset):
    def __contains__(self, item) -> bool:
        return True


def _adapter_options(adapter_cls) -> frozenset:
    """The keyword arguments an adapter takes (all of them when it has ``**kwargs``)."""
    import inspect

    parameters = inspect.signature(adapter_cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return _Everything()
    return frozenset(parameters) - {"profile", "model_name", "api_key", "api_base"}


class ModelFacade:
    """Resolves ``model`` (or the configured default) to a provider adapter."""

    _kind = "language model"
    _embedding = False

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 **kwargs: Any):
        if model is None:
            default = (config.get_default_embedding_model() if self._embedding
                       else config.get_default_language_model())
            if default is None:
                setter = "set_default_embedding_model" if self._embedding else "set_default_language_model"
                raise InvalidInputError(
                    f"No {self._kind} given and none configured. Pass model='provider/model-name' "
                    f"(e.g. 'scripted' in tests) or call synaplex.config.{setter}(...)."
                )
            model = default if isinstance(default, str) else default.model
        profile, model_name = parse_model(model)
        if not model_name and profile.model_env and os.environ.get(profile.model_env):
            model_name = os.environ[profile.model_env]
            profile = profile.for_model(model_name)
            model = f"{profile.name}/{model_name}"
        if "/" not in model or model.split("/", 1)[0] not in (profile.name, *profile.aliases):
            model = f"{profile.name}/{model_name}" if model_name else profile.name
        for param, variable in profile.env_params:
            if param not in kwargs and os.environ.get(variable):
                kwargs[param] = _env_value(os.environ[variable], variable)
        if profile.env_headers:
            headers = {h: os.environ[v] for h, v in profile.env_headers if os.environ.get(v)}
            if headers:
                kwargs["headers"] = {**headers, **kwargs.get("headers", {})}
        self.model = model
        self.provider = profile.name
        self.api_base = api_base   # as given: the resolved one may come from the environment
        adapter_cls = load_adapter(profile, embedding=self._embedding)
        resolved_key, resolved_base = resolve_endpoint(profile, api_key, api_base)
        # Keyword arguments the adapter takes are its options (responses, transport, n_ctx…);
        # the others are defaults for every request (temperature, max_tokens…).
        accepted = _adapter_options(adapter_cls)
        options = {k: v for k, v in kwargs.items() if k in accepted}
        self._adapter = adapter_cls(profile=profile, model_name=model_name, api_key=resolved_key,
                                    api_base=resolved_base, **options)
        self.defaults = {k: v for k, v in kwargs.items() if k not in accepted}
        self.usage = Usage()

    @property
    def requests(self) -> list:
        """Every request this model received (scripted models only)."""
        return getattr(self._adapter, "requests", [])

    def set_responses(self, responses: Any) -> None:
        """Replace the replies of a scripted model."""
        if not hasattr(self._adapter, "set_responses"):
            raise InvalidInputError(f"set_responses is for scripted models; this one is {self.model!r}.")
        self._adapter.set_responses(responses)

    def get_config(self) -> dict:
        """The model's configuration; never its API key."""
        config_ = {"model": self.model, "api_base": self.api_base}
        config_.update(self.defaults)
        config_.pop("transport", None)
        config_.update(self._adapter.get_config())
        return config_

    @classmethod
    def from_config(cls, config_: dict):
        config_ = dict(config_)
        callable_path = config_.pop("responses_callable", None)
        model = cls(**config_)
        if callable_path is not None and hasattr(model._adapter, "restore_from_config"):
            model._adapter.restore_from_config({"responses_callable": callable_path})
        return model

    def __repr__(self):
        return f"<{type(self).__name__} model={self.model!r}>"
