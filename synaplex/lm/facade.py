"""What LanguageModel and EmbeddingModel share: model resolution, the adapter, config."""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import logging
import math
import os
import urllib.parse
from typing import Any

from synaplex.backend import config
from synaplex.backend.errors import InvalidInputError
from synaplex.backend.redaction import redact_config, strip_url_credentials
from synaplex.lm import budget as budget_lib
from synaplex.lm import catalogue
from synaplex.lm import options as options_lib
from synaplex.lm import usage as usage_lib
from synaplex.lm.base import Capabilities, Usage
from synaplex.lm.cache import make_cache
from synaplex.lm.errors import LMError, MissingAPIKeyError, RateLimitError, UnknownProviderError
from synaplex.lm.profiles import PROFILES, ProviderProfile
from synaplex.lm.providers import load_adapter, parse_model
from synaplex.lm.resilience import RateLimiter, RetryPolicy
from synaplex.serialization import safe_mode

_log = logging.getLogger("synaplex.saving")
_lm_log = logging.getLogger("synaplex.lm")

# Examples of model strings, for the message of a blank model name.
_EXAMPLES = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-3-5-haiku-latest",
             "gemini": "gemini/gemini-2.0-flash", "mistral": "mistral/mistral-small-latest",
             "groq": "groq/llama-3.1-8b-instant", "ollama": "ollama/llama3.2"}


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
            profile, _ = parse_model(choice)
            if not embedding and profile.model_env and os.environ.get(profile.model_env):
                return f"{profile.name}/{os.environ[profile.model_env]}"  # OPENROUTER_MODEL (Parlant)
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


def _adapter_options(adapter_cls) -> frozenset:
    """The keyword arguments an adapter's constructor takes."""
    parameters = inspect.signature(adapter_cls).parameters
    return frozenset(name for name, p in parameters.items() if p.kind is not p.VAR_KEYWORD) \
        - {"profile", "model_name", "api_key", "api_base"}


#: The facade options' defaults (see LanguageModel's docstring).
OPTION_DEFAULTS: dict[str, Any] = {
    "caching": False, "cache_maxsize": None, "max_retries": 2, "retry_delay": 0.5, "max_retry_wait": 60.0,
    "retry_wait_budget": 120.0, "requests_per_minute": None, "max_concurrency": None, "capabilities": None,
    "budget": None, "fallback": None, "system_prompt": None, "streaming": False,
}

# Rate limiters are shared by every model pointing at the same model and endpoint.
_LIMITERS: dict[tuple, Any] = {}


def _is_default(name: str, value: Any) -> bool:
    default = OPTION_DEFAULTS[name]
    return value is default or (type(value) in (int, float) and type(default) in (int, float) and value == default)


def _number(owner: str, name: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise InvalidInputError(f"{owner}: {name} must be a finite number >= {minimum:g}, got {value!r}.")
    return value


class ModelFacade:
    """Resolves ``model`` (or the configured default) to a provider adapter; sorts the keywords
    into model options, adapter options and request defaults (:mod:`synaplex.lm.options`); and
    holds what both models share: retries, rate limits, the cache, the budget, capabilities."""

    _kind = "language model"
    _embedding = False
    _options = options_lib.LANGUAGE_MODEL_OPTIONS
    _request_params = options_lib.REQUEST_PARAMS

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 **kwargs: Any):
        named = {k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_DEFAULTS and k in self._options}
        given = {k: v for k, v in named.items() if not _is_default(k, v)}
        kwargs = options_lib.translate(kwargs, given)
        for key in list(kwargs):
            if key in OPTION_DEFAULTS and key in self._options:
                named[key] = kwargs.pop(key)
        if "api_base" in kwargs:  # base_url=
            if api_base is not None:
                raise InvalidInputError("base_url= and api_base= are the same option; give one of them.")
            api_base = kwargs.pop("api_base")
        provider_name = kwargs.pop("provider_name", None)
        if provider_name is not None:
            model = options_lib.check_provider_name(provider_name, model, PROFILES)
        if model is None:
            model = default_model(self._embedding)
        profile, model_name = parse_model(model)
        if not model_name and profile.model_env and os.environ.get(profile.model_env):
            model_name = os.environ[profile.model_env]
            profile = profile.for_model(model_name)
        fallback_name = profile.default_embedding_model if self._embedding else profile.default_model
        if not model_name and fallback_name:
            model_name = fallback_name
            profile = profile.for_model(model_name)
        if not model_name and profile.model_required:
            raise UnknownProviderError(
                f"model={model!r} names no model of provider {profile.name!r}: write it as "
                f"'{profile.name}/<model-name>' (e.g. {_EXAMPLES.get(profile.name, profile.name + '/<model>')!r}).")
        if "/" not in model or model.split("/", 1)[0] not in (profile.name, *profile.aliases) \
                or model.partition("/")[2] != model_name:
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
        # Keyword arguments the adapter takes are its options (responses, transport, n_ctx…);
        # neutral request parameters and the provider's own fields are defaults for every
        # request (temperature, max_tokens…); anything else is an error, never sent.
        accepted = _adapter_options(adapter_cls)
        requestable = self._request_params | profile.body_fields
        unknown = [k for k in kwargs if k not in accepted and k not in requestable]
        if unknown:
            valid = set(self._options) | accepted | requestable | set(options_lib.ALIASES) | {"retry", "cache_backend",
                                                                                           "provider"}
            raise options_lib.unknown_options(unknown, valid, type(self).__name__, model)
        options_lib.check_extra_body(kwargs.get("extra_body"))
        resolved_key, resolved_base = resolve_endpoint(profile, api_key, api_base, environment_credentials)
        adapter_kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        self._adapter = adapter_cls(profile=profile, model_name=model_name, api_key=resolved_key,
                                    api_base=resolved_base, **adapter_kwargs)
        self.defaults = {k: v for k, v in kwargs.items() if k not in accepted}
        self.usage = Usage()
        self.last_usage: Usage | None = None
        self._setup(**{k: named.get(k, OPTION_DEFAULTS[k]) for k in OPTION_DEFAULTS if k in self._options})

    def _setup(self, caching=False, cache_maxsize=None, max_retries=2, retry_delay=0.5, max_retry_wait=60.0,
               retry_wait_budget=120.0, requests_per_minute=None, max_concurrency=None, capabilities=None,
               budget=None, **_):
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"{type(self).__name__}: max_retries must be an int >= 0, got {max_retries!r}.")
        self.max_retries = max_retries
        owner = type(self).__name__
        self.retry_delay = _number(owner, "retry_delay", retry_delay)
        self.max_retry_wait = _number(owner, "max_retry_wait", max_retry_wait)
        self.retry_wait_budget = _number(owner, "retry_wait_budget", retry_wait_budget)
        self._retry = None
        self.caching = caching
        self.cache_maxsize = cache_maxsize
        self._cache = None
        if caching is not None and caching is not False:  # an empty cache object is falsy (len 0)
            self._cache = make_cache(caching, maxsize=cache_maxsize)
        elif cache_maxsize is not None:
            raise InvalidInputError(f"cache_maxsize={cache_maxsize!r} needs a cache: add caching=True (or "
                                    "cache=True, cache_backend='memory').")
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._limiter = None
        if requests_per_minute or max_concurrency:
            key = (self.model, self.api_base, requests_per_minute, max_concurrency, self._embedding)
            self._limiter = _LIMITERS.get(key) or _LIMITERS.setdefault(
                key, RateLimiter(requests_per_minute=requests_per_minute, max_concurrency=max_concurrency))
        self.budget = budget_lib.as_budget(budget)
        self._capability_overrides = dict(capabilities or {})
        self._capabilities = None
        self._endpoint: str | None | bool = False  # computed on first use

    # --- facts ---------------------------------------------------------------------------

    @property
    def capabilities(self):
        """What the model can do and costs (the catalogue, with this model's overrides)."""
        if self._capabilities is None:
            name = self.model.partition("/")[2]
            own = getattr(self._adapter, "capabilities", None)
            if self.provider in catalogue.LOCAL_PROVIDERS and own is not None:
                found = own  # the in-process/scripted adapter knows itself best
            else:
                found = catalogue.lookup(self.provider, name) or own or Capabilities(
                    structured_output=True, input_price_per_token=None, output_price_per_token=None)
            if self._capability_overrides:
                try:
                    found = dataclasses.replace(found, **self._capability_overrides)
                except TypeError as error:
                    raise InvalidInputError(f"capabilities: {error}") from None
            self._capabilities = found
        return self._capabilities

    @property
    def endpoint(self) -> str | None:
        """The server this model calls: its base URL without credentials, plus the query
        parameters that select a deployment (Azure's ``api-version``); None in-process."""
        if self._endpoint is False:
            http = getattr(self._adapter, "http", None) or getattr(self._adapter, "_http", None)
            base = getattr(http, "base_url", None)
            endpoint = strip_url_credentials(base) if isinstance(base, str) else None
            query = getattr(self._adapter, "query", None)
            if endpoint and isinstance(query, dict) and query:
                endpoint += ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(sorted(query.items()))
            self._endpoint = endpoint
        return self._endpoint

    def _price(self, usage: Usage) -> None:
        if usage.cost is not None:
            return
        usage.cost = catalogue.price(self.capabilities, usage.input_tokens, usage.output_tokens,
                                     usage.cached_tokens)

    # --- resilience ------------------------------------------------------------------------

    def _budgets(self) -> tuple:
        return budget_lib.active(self.budget)

    def _estimate(self, input_tokens: int, output_tokens: int) -> budget_lib.CallEstimate:
        caps = self.capabilities
        cost = catalogue.price(caps, input_tokens, output_tokens, 0) if caps is not None else None
        return budget_lib.CallEstimate(self.model, input_tokens, output_tokens, cost)

    async def _resilient(self, send, usage: Usage, estimate=None, limited: bool = True):
        """``await send()`` within the rate limit, retried on retryable errors (each attempt
        checked against the active budgets with ``estimate()``, a CallEstimate, when any).
        ``limited=False``: ``send`` takes the rate limiter itself (a stream holds it to its end)."""
        budgets = self._budgets() if estimate is not None else ()
        limiter = self._limiter if limited else None

        async def once():
            if budgets:
                guess = estimate()
                budget_lib.admit(budgets, guess)
                try:
                    result = await (send() if limiter is None else self._limited(send))
                except BaseException:
                    budget_lib.settle(budgets, guess, None)
                    raise
                used = self._result_usage(result)
                if used is not None:
                    self._price(used)
                budget_lib.settle(budgets, guess, used)
                return result
            if limiter is None:
                return await send()
            return await self._limited(send)

        def on_retry(error, attempt, delay):
            usage.retries += 1
            self._pause_limiter(error)
            _lm_log.info("%s: %s, retry %d in %.2f s", self.model, type(error).__name__, attempt, delay)

        try:
            # The common case pays no retry machinery: the policy only steps in after a
            # retryable failure, which it replays as its first attempt.
            return await once()
        except LMError as error:
            self._pause_limiter(error)
            if not (error.is_retryable and self.max_retries):
                raise
            if self._retry is None:
                self._retry = RetryPolicy(max_retries=self.max_retries, initial_delay=self.retry_delay,
                                          max_wait=self.max_retry_wait, wait_budget=self.retry_wait_budget)
            failures = [error]

        async def replay():
            if failures:
                raise failures.pop()
            return await once()

        return await self._retry.run(replay, on_retry=on_retry)

    async def _limited(self, send):
        async with self._limiter:
            return await send()

    @staticmethod
    def _result_usage(result) -> Usage | None:
        """The usage a result reports, priced (for the budgets)."""
        return getattr(result, "usage", None) if not isinstance(result, tuple) else result[1]

    def _pause_limiter(self, error: LMError) -> None:
        """A 429's Retry-After pauses every caller of the shared limiter, if it is within the
        cap (``max_retry_wait``); a longer one is not waited for by anyone."""
        wait = getattr(error, "retry_after", None) if isinstance(error, RateLimitError) else None
        if self._limiter is not None and isinstance(wait, (int, float)) and not isinstance(wait, bool) \
                and 0 < wait <= self.max_retry_wait:
            self._limiter.pause(wait)

    def _account(self, usage: Usage) -> None:
        self.last_usage = usage
        self.usage.add(usage)
        usage_lib.record(self.model, usage)

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
        for key in ("caching", "cache_maxsize", "max_retries", "retry_delay", "max_retry_wait", "retry_wait_budget",
                    "requests_per_minute", "max_concurrency"):
            value = getattr(self, key)
            if not _is_default(key, value) and isinstance(value, (bool, int, float, str)):
                config_[key] = value
        if self._capability_overrides:
            config_["capabilities"] = self._capability_overrides
        if self.budget is not None:
            config_["budget"] = self.budget.get_config()
        # Credentials by rule: no credential header, no URL userinfo nor secret query value.
        return redact_config(config_)

    @classmethod
    def from_config(cls, config_: dict):
        config_ = dict(config_)
        caching = config_.get("caching")
        if isinstance(caching, str) and caching.strip() and caching != "memory":
            where = "in the default cache folder" if caching in ("disk", "sqlite") else f"at {caching!r:.200}"
            safe_mode.require("files", "caching", f"create a SQLite response cache {where}")
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
