"""What the keywords of ``LanguageModel(...)`` and ``EmbeddingModel(...)`` mean.

Every keyword is exactly one of:

* a **model option** of the facade: resilience, cache, budget, fallback... (the constructor's
  named arguments, see :data:`LANGUAGE_MODEL_OPTIONS` and :data:`EMBEDDING_MODEL_OPTIONS`);
* an **adapter option**: a keyword of the provider adapter's constructor (``transport``,
  ``timeout``, ``headers``, the scripted model's ``responses``, the local model's ``n_ctx``...);
* a **request parameter** sent with every call: a neutral one (:data:`REQUEST_PARAMS`,
  :data:`EMBEDDING_PARAMS`), which each adapter says its provider's way, or one of the
  provider's own body fields, listed as data in its profile (``ProviderProfile.body_fields``:
  OpenRouter's ``provider`` routing and ``models``, Anthropic's ``thinking``...);
* ``extra_body={...}``: the escape hatch, a dict merged as is into every request body, for a
  provider field synaplex does not list.

The seeds' spellings are recognised (:func:`translate`): Synalinks' ``retry`` (attempts),
SynapseKit's ``cache``, ``cache_backend``, ``cache_maxsize``, ``retry_delay``,
``system_prompt``, ``provider="openai"``, Esperanto's ``streaming`` and ``base_url``.
Anything else raises :class:`~synaplex.lm.errors.UnknownOptionError`, which lists the valid
options and the close matches: an unknown keyword is never sent to the provider.
"""

from __future__ import annotations

import difflib
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.errors import UnknownOptionError

#: Neutral request parameters of a chat call (each adapter translates them).
REQUEST_PARAMS = frozenset({
    "temperature", "max_tokens", "top_p", "top_k", "stop", "seed", "timeout", "tool_choice",
    "parallel_tool_calls", "reasoning_effort", "frequency_penalty", "presence_penalty", "logprobs",
    "top_logprobs", "logit_bias", "user", "extra_body",
})
#: Neutral request parameters of an embedding call.
EMBEDDING_PARAMS = frozenset({"dimensions", "user", "timeout", "extra_body"})

#: Options of the facade shared by both models.
_COMMON_OPTIONS = ("model", "api_key", "api_base", "caching", "cache_maxsize", "max_retries", "retry_delay",
                   "max_retry_wait", "retry_wait_budget", "requests_per_minute", "max_concurrency",
                   "capabilities", "budget")
LANGUAGE_MODEL_OPTIONS = frozenset(_COMMON_OPTIONS + ("fallback", "system_prompt", "streaming"))
EMBEDDING_MODEL_OPTIONS = frozenset(_COMMON_OPTIONS)

#: Other libraries' names for synaplex's options (Synalinks' ``retry`` is handled apart: it
#: counts attempts, not retries).
ALIASES = {"retries": "max_retries", "cache": "caching", "fallbacks": "fallback", "base_url": "api_base",
           "initial_retry_delay": "retry_delay"}
CACHE_BACKENDS = {"memory": "memory", "sqlite": "sqlite", "disk": "sqlite"}

_MISSING = object()


def _move(options: dict, alias: str, name: str, value: Any, given: dict) -> None:
    if name in options or given.get(name, _MISSING) is not _MISSING:
        raise InvalidInputError(f"{alias}= and {name}= are the same option (synaplex calls it {name}); give one "
                                "of them.")
    options[name] = value


def translate(kwargs: dict, given: dict | None = None) -> dict:
    """``kwargs`` with the seeds' spellings said synaplex's way (a new dict).

    ``given`` holds the named options the caller already received (to refuse ``retry=`` with
    an explicit ``max_retries=``). ``retry=n`` (Synalinks: ``n`` attempts) is
    ``max_retries=n - 1``; ``cache_backend`` picks the cache when caching is on or not given
    (SynapseKit's ``cache=False`` keeps it off); ``provider="openai"`` (a name) picks the
    provider of a model given without prefix and is kept under ``"provider_name"``.
    """
    given = given or {}
    options = dict(kwargs)
    if "retry" in options:
        attempts = options.pop("retry")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise InvalidInputError(f"retry is the number of attempts (Synalinks' spelling; synaplex's is "
                                    f"max_retries = retry - 1): it must be an int >= 1, got {attempts!r}.")
        _move(options, "retry", "max_retries", attempts - 1, given)
    for alias, name in ALIASES.items():
        if alias in options:
            _move(options, alias, name, options.pop(alias), given)
    if "cache_backend" in options:
        backend = options.pop("cache_backend")
        if backend not in CACHE_BACKENDS:
            raise InvalidInputError(f"cache_backend must be one of {sorted(CACHE_BACKENDS)}, got {backend!r:.80}.")
        caching = options.get("caching", given.get("caching", _MISSING))
        if caching is _MISSING or caching is True:
            options["caching"] = CACHE_BACKENDS[backend]
        elif caching not in (None, False, CACHE_BACKENDS[backend]):
            raise InvalidInputError(f"cache_backend={backend!r} and caching={caching!r:.80} name different caches; "
                                    "give one of them.")
    provider = options.get("provider")
    if isinstance(provider, str):
        options["provider_name"] = options.pop("provider")
    return options


def check_provider_name(name: str, model: str | None, provider_names) -> str | None:
    """``model`` with the provider named by SynapseKit's ``provider=`` (a string).

    A model without a provider prefix gets it (``provider="ollama", model="llama3"`` is
    ``"ollama/llama3"``); a model that names the same provider is kept; another one is an error.
    """
    if name not in provider_names:
        close = difflib.get_close_matches(name, list(provider_names), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InvalidInputError(f"provider={name!r} is not a provider synaplex knows.{hint} Providers: "
                                f"{', '.join(sorted(provider_names))}.")
    if model is None:
        return name
    prefix = model.split("/", 1)[0]
    if prefix == name:
        return model
    if prefix in provider_names:
        raise InvalidInputError(f"provider={name!r} and model={model!r} name different providers; write the "
                                f"model as {name + '/' + model.split('/', 1)[1]!r} or drop provider=.")
    return f"{name}/{model}"


def unknown_options(unknown: list[str], valid: set, owner: str, model: str) -> UnknownOptionError:
    """The error for keywords that are none of the valid options (close matches named)."""
    lines = []
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, sorted(valid), n=3, cutoff=0.6)
        lines.append(f"{key!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
    return UnknownOptionError(
        f"{owner}(model={model!r}) got unknown option{'s' if len(unknown) > 1 else ''} {', '.join(lines)}. "
        f"Valid options: {', '.join(sorted(valid))}. A provider field synaplex does not list can be sent with "
        "extra_body={...} (merged into every request body as is).", options=sorted(unknown))


def check_extra_body(value: Any) -> None:
    if value is not None and not isinstance(value, dict):
        raise InvalidInputError(f"extra_body must be a dict of fields merged into every request body, got "
                                f"{type(value).__name__}: {value!r:.80}.")


def merge_extra_body(body: dict, extra: dict | None) -> dict:
    """``body`` with ``extra`` merged in (nested dicts merged, ``extra``'s values win)."""
    if not extra:
        return body
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = merge_extra_body(dict(body[key]), value)
        else:
            body[key] = value
    return body
