"""What LanguageModel and EmbeddingModel share: model resolution, the adapter, config."""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import urllib.parse
from typing import Any

from synaplex.backend import config
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.lm.errors import MissingAPIKeyError
from synaplex.lm.profiles import ProviderProfile
from synaplex.lm.providers import load_adapter, parse_model
from synaplex.lm.redaction import redact_config
from synaplex.serialization import safe_mode

_log = logging.getLogger("synaplex.saving")


# With no model configured: the first provider whose key is set, else the embedded model.
DEFAULT_MODELS: tuple[tuple[str, str, str | None], ...] = (
    ("OPENAI_API_KEY", "openai/gpt-4o-mini", "openai/text-embedding-3-small"),
    ("ANTHROPIC_API_KEY", "anthropic/claude-3-5-haiku-latest", None),
    ("GEMINI_API_KEY", "gemini/gemini-2.0-flash", "gemini/text-embedding-004"),
    ("GOOGLE_API_KEY", "gemini/gemini-2.0-flash", "gemini/text-embedding-004"),
    ("OPENROUTER_API_KEY", "openrouter/openai/gpt-4o-mini", "openrouter/openai/text-embedding-3-small"),
    ("MISTRAL_API_KEY", "mistral/mistral-small-latest", "mistral/mistral-embed"),
    ("GROQ_API_KEY", "groq/llama-3.1-8b-instant", None),
    ("DEEPSEEK_API_KEY", "deepseek/deepseek-chat", None),
)


def default_model(embedding: bool = False) -> str:
    """The model used when none is given: ``synaplex.config``'s default, then
    ``SYNAPLEX_DEFAULT_MODEL`` (``SYNAPLEX_DEFAULT_EMBEDDING_MODEL``), then a cheap model of the
    first provider whose key is set, else ``"local"``: the embedded model, no key, no network."""
    configured = config.get_default_embedding_model() if embedding else config.get_default_language_model()
    if configured is not None:
        return configured if isinstance(configured, str) else configured.model
    variable = "SYNAPLEX_DEFAULT_EMBEDDING_MODEL" if embedding else "SYNAPLEX_DEFAULT_MODEL"
    if os.environ.get(variable):
        return os.environ[variable]
    for key, chat, embed in DEFAULT_MODELS:
        choice = embed if embedding else chat
        if choice and os.environ.get(key):
            return choice
    return "local"


def resolve_endpoint(profile: ProviderProfile, api_key: str | None, api_base: str | None,
                     environment_key: bool = True) -> tuple[str | None, str | None]:
    """The API key and base URL to use: arguments first, then the environment, then defaults.

    A key is required for hosted providers; ``openai/...`` pointed at another ``api_base``
    (a local server) needs none. ``environment_key=False`` never reads the key from the
    environment (a model loaded from a file that names its own endpoint).
    """
    if api_base is None:
        api_base = next((os.environ[v] for v in profile.base_url_env if os.environ.get(v)), None)
    if api_key is None and environment_key:
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


# Set while a model is rebuilt, in a safe load, from a file that names its own endpoint.
_WITHOUT_ENVIRONMENT_CREDENTIALS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "synaplex_without_environment_credentials", default=False)


def _shown_endpoint(url: str) -> str:
    """``url`` without userinfo, query or fragment (for messages)."""
    try:
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    except ValueError:
        return "<invalid URL>"


def _withholds_environment_credentials(cls, config_: dict) -> bool:
    """Safe loading: the environment's credentials go only to the provider's own endpoint.

    A model rebuilt in a safe load, from a config that names an ``api_base`` other than its
    provider's default (or the one the environment sets, such as ``OPENAI_BASE_URL``) and no
    ``api_key``, is built without the environment's key and
    headers (a warning names the field), unless the load allows ``"credentials"``. Where the
    provider needs a key on any endpoint (no default endpoint, e.g. Azure), the load is
    refused instead.
    """
    api_base = config_.get("api_base")
    if not isinstance(api_base, str) or config_.get("api_key") is not None or safe_mode.permits("credentials"):
        return False
    model = config_.get("model") or default_model(cls._embedding)
    if not isinstance(model, str):
        return False  # the constructor says what is wrong with it
    profile, _ = parse_model(model)
    # The provider's own endpoints: its default, and the one the user's environment configures.
    own = [profile.base_url, *(os.environ.get(v) for v in profile.base_url_env)]
    if api_base.rstrip("/") in {url.rstrip("/") for url in own if url}:
        return False
    variables = [v for v in profile.api_key_env if os.environ.get(v)]
    variables += [v for _, v in profile.env_headers if os.environ.get(v)]
    if not variables:
        return False
    endpoint = _shown_endpoint(api_base)
    names = ", ".join(variables)
    if profile.key_required and profile.base_url is None:
        safe_mode.require("credentials", "api_base",
                          f"send {names} from the environment to {endpoint!r}, an endpoint named by the file")
    _log.warning(
        "%s names the endpoint %r, not %s's own: the model is loaded without %s from the environment "
        "(safe loading sends the environment's credentials only to a provider's own endpoint). If you trust "
        "this file, load it with allow=('credentials',) or safe_mode=False.",
        safe_mode.field_path("api_base"), endpoint, profile.name, names)
    return True


class _Everything(frozenset):
    def __contains__(self, item) -> bool:
        return True


def _adapter_options(adapter_cls) -> frozenset:
    """The keyword arguments an adapter takes (all of them when it has ``**kwargs``)."""
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
            model = default_model(self._embedding)
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
        environment_credentials = not _WITHOUT_ENVIRONMENT_CREDENTIALS.get()
        if profile.env_headers and environment_credentials:
            headers = {h: os.environ[v] for h, v in profile.env_headers if os.environ.get(v)}
            if headers:
                kwargs["headers"] = {**headers, **kwargs.get("headers", {})}
        self.model = model
        self.provider = profile.name
        self.profile = profile   # this model's facts (after its per-model overrides)
        self.api_base = api_base   # as given: the resolved one may come from the environment
        adapter_cls = load_adapter(profile, embedding=self._embedding)
        resolved_key, resolved_base = resolve_endpoint(profile, api_key, api_base, environment_credentials)
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
        # Credentials by rule: no credential header, no URL userinfo nor secret query value.
        return redact_config(config_)

    @classmethod
    def from_config(cls, config_: dict):
        config_ = dict(config_)
        callable_path = config_.pop("responses_callable", None)
        token = _WITHOUT_ENVIRONMENT_CREDENTIALS.set(_withholds_environment_credentials(cls, config_))
        try:
            model = cls(**config_)
        finally:
            _WITHOUT_ENVIRONMENT_CREDENTIALS.reset(token)
        if callable_path is not None and hasattr(model._adapter, "restore_from_config"):
            model._adapter.restore_from_config({"responses_callable": callable_path})
        return model

    def __repr__(self):
        return f"<{type(self).__name__} model={self.model!r}>"
