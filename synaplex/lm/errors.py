"""Typed errors of the provider layer.

Every error carries ``is_retryable`` and the provider/model involved; messages never
contain a key, an auth header or a URL's userinfo (see :func:`redact`).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from email.utils import parsedate_to_datetime

from synaplex.backend.errors import InvalidInputError, SynaplexError
from synaplex.backend.redaction import redact_url

# Each pattern keeps group "keep" (the label) and replaces the secret that follows it.
_SECRET_PATTERNS = [
    re.compile(r"(?P<keep>(?i:bearer)\s+)[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"(?P<keep>(?i:api[_-]?key|x-api-key|authorization|x-goog-api-key|key)[\"']?\s*[:=]\s*[\"']?)"
               r"(?!\[REDACTED\])[^\s\"',}&]{6,}"),
    re.compile(r"(?P<keep>)\b(?:sk|rk|pk|gsk|xai|AIza)[-_A-Za-z0-9]{16,}"),
]


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove API keys, auth headers, URL userinfo and secret query values from ``text``.

    ``secrets`` are removed by value (the key, the credential headers' values); the rest by
    pattern (``Bearer …``, ``api_key=…``, ``sk-…``, ``https://user:pass@…``, ``?key=…``).
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group("keep") + "[REDACTED]", text)
    return redact_url(text)


class LMError(SynaplexError):
    """Base class of the errors raised by LanguageModel and EmbeddingModel calls.

    Attributes:
        provider, model: who failed.
        status_code: the HTTP status, when there was one.
        is_retryable: whether trying the same call again may succeed.
    """

    is_retryable = False

    def __init__(self, message: str, *, provider: str | None = None, model: str | None = None,
                 status_code: int | None = None, secrets: tuple[str, ...] = ()):
        super().__init__(redact(message, secrets))
        self.provider = provider
        self.model = model
        self.status_code = status_code


class AuthenticationError(LMError):
    """The API key is missing, invalid, or not allowed to use this model (401, 403)."""


class MissingAPIKeyError(AuthenticationError, ValueError):
    """No API key was given nor found in the environment."""


class PaymentRequiredError(LMError):
    """The account has no credits left or needs billing set up (402)."""


class RateLimitError(LMError):
    """Too many requests (429). ``retry_after`` is the wait the provider asked for, if any."""

    is_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ModelNotFoundError(LMError):
    """The model does not exist or is not available to this key (404)."""


class InvalidRequestError(LMError, ValueError):
    """The provider rejected the request as malformed (400, 422)."""


class ContextWindowExceededError(InvalidRequestError):
    """The prompt (plus the requested output) does not fit in the model's context window."""


class ContentFilterError(LMError):
    """The provider's safety filter blocked the prompt or the reply."""


class ProviderTimeoutError(LMError):
    """The provider did not answer in time."""

    is_retryable = True


class ProviderConnectionError(LMError):
    """The provider could not be reached (refused, DNS, TLS, reset)."""

    is_retryable = True


class ProviderInternalError(LMError):
    """The provider failed on its side (500, 502, 503, 504, 529) or sent an unreadable reply."""

    is_retryable = True


class ResponseTooLargeError(LMError):
    """The reply is larger than ``max_response_bytes``; it was not read further.

    Not retryable (the same request would get the same reply), but a fallback model is tried.
    ``limit`` is the cap in bytes.
    """

    def __init__(self, message: str, *, limit: int, **kwargs):
        super().__init__(message, **kwargs)
        self.limit = limit


class RetriesExhaustedError(LMError):
    """Every retry of a retryable error failed. ``original_error`` is the last one."""

    def __init__(self, message: str, *, original_error: LMError, attempts: int, **kwargs):
        super().__init__(message, **kwargs)
        self.original_error = original_error
        self.attempts = attempts


class StructuredOutputError(LMError):
    """The model's reply is not valid JSON for the requested schema (after any repair).

    Attributes:
        raw_text: the reply as the model sent it.
        validation_errors: what was wrong, one line per problem.
        finish_reason: why that reply ended (``"length"``: cut at max_tokens), when known.
        request_id: the provider's id of that reply, when known.
    """

    def __init__(self, message: str, *, raw_text: str = "", validation_errors: list[str] | None = None,
                 finish_reason: str | None = None, request_id: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.raw_text = raw_text
        self.validation_errors = validation_errors or []
        self.finish_reason = finish_reason
        self.request_id = request_id


class ScriptExhaustedError(LMError):
    """A scripted LanguageModel was called more times than it has responses."""


class MissingResponsesError(LMError):
    """A scripted LanguageModel has no responses (e.g. loaded from a file, callable not restored)."""


class UnknownProviderError(SynaplexError, ValueError):
    """The provider prefix of a model string is not one synaplex knows."""


class UnknownOptionError(InvalidInputError, TypeError):
    """A keyword of LanguageModel/EmbeddingModel (or of a call) is none of its options.

    ``options`` lists the unknown keywords; the message lists the valid ones and the close
    matches. Provider fields synaplex does not list go in ``extra_body={...}``.
    """

    def __init__(self, message: str, *, options: list[str] = ()):
        super().__init__(message)
        self.options = list(options)


class UnsupportedInputError(InvalidRequestError):
    """The model cannot take this input (an image sent to a model without vision); raised
    before any request. Unlike other invalid requests, a fallback model, if any, is tried."""


class UnknownPriceError(LMError):
    """A budget's ``max_cost`` cannot be checked: the model's price is unknown (the message
    says how to give it)."""


class BudgetExceededError(LMError):
    """A call would take a budget (``synaplex.budget`` or a model's ``budget=``) past one of
    its limits; it was refused before any request.

    Attributes:
        limit: which limit (``"max_cost"``, ``"max_tokens"``, ``"max_calls"``, ``"max_seconds"``).
        maximum: the limit's value. spent: what the budget had spent (cost, tokens, calls,
        seconds, as a dict). estimate: what the refused call was estimated to take.
    """

    def __init__(self, message: str, *, limit: str, maximum: float, spent: dict, estimate: dict | None = None,
                 **kwargs):
        super().__init__(message, **kwargs)
        self.limit = limit
        self.maximum = maximum
        self.spent = dict(spent)
        self.estimate = dict(estimate or {})


# --- from an HTTP error response to a typed error (data, not branches) -------------------

_STATUS_ERRORS: dict[int, type[LMError]] = {
    400: InvalidRequestError, 401: AuthenticationError, 402: PaymentRequiredError,
    403: AuthenticationError, 404: ModelNotFoundError, 408: ProviderTimeoutError,
    409: ProviderInternalError, 413: InvalidRequestError, 422: InvalidRequestError,
    429: RateLimitError, 500: ProviderInternalError, 502: ProviderInternalError,
    503: ProviderInternalError, 504: ProviderTimeoutError, 529: ProviderInternalError,
}

# Phrases providers use in 400 bodies for errors that deserve their own type.
_MESSAGE_ERRORS: list[tuple[re.Pattern, type[LMError]]] = [
    (re.compile(r"API key not valid|API_KEY_INVALID|invalid api key|incorrect api key", re.I), AuthenticationError),
    # servers that report their own request validation as a 500 (llama_cpp.server does)
    (re.compile(r"validation error|literal_error|Input should be", re.I), InvalidRequestError),
    (re.compile(r"context[_ ]length|context window|maximum context|too many tokens|prompt is too long|"
                r"exceeds the (?:model'?s )?(?:maximum|context)|requested \d+ tokens|n_ctx", re.I),
     ContextWindowExceededError),
    (re.compile(r"content[_ ]filter|content management policy|safety|blocked by|moderation", re.I),
     ContentFilterError),
    (re.compile(r"insufficient[_ ](?:credits|quota|balance)|credit balance|billing", re.I), PaymentRequiredError),
    (re.compile(r"model[_ ]not[_ ]found|does not exist|no such model|unknown model|not a valid model", re.I),
     ModelNotFoundError),
]


# Error "type" words of error events and bodies (Anthropic's, OpenAI's) as HTTP statuses.
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "overloaded_error": 529, "insufficient_quota": 429, "server_error": 500,
}


def _seconds(text: str) -> float | None:
    """A finite, non-negative number of seconds, or None."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def read_retry_after(headers) -> tuple[float | None, str | None]:
    """The wait a 429/503 asks for, from ``retry-after-ms`` or ``Retry-After`` (seconds or an
    HTTP date), and a note when a header was present but unusable.

    Returns ``(seconds, None)``, ``(None, None)`` when there is no header, or
    ``(None, note)`` for a value that is not a finite, non-negative number of seconds nor an
    HTTP date (``inf``, ``nan``, ``-5``, garbage): such a header is ignored, the retry uses
    the backoff. A date in the past is 0; a date far in the future is a long wait (which the
    retry policy refuses to sleep, see ``max_retry_wait``).
    """
    notes: list[str] = []
    value = headers.get("retry-after-ms")
    if value:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds / 1000.0, None
        notes.append(f"retry-after-ms {str(value)[:40]!r}")
    value = headers.get("retry-after")
    if value:
        seconds = _seconds(value) if not re.search(r"[a-zA-Z]{3}", value) else None
        if seconds is not None:
            return seconds, None
        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.UTC)
            wait = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
        except (TypeError, ValueError, OverflowError, IndexError, AttributeError):
            wait = None
        if wait is not None and math.isfinite(wait):
            return max(wait, 0.0), None
        notes.append(f"Retry-After {str(value)[:40]!r}")
    if not notes:
        return None, None
    return None, (f"ignored the invalid {' and '.join(notes)}: not a number of seconds >= 0 nor an HTTP date")


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date);
    None when absent or invalid (see :func:`read_retry_after`)."""
    return read_retry_after(headers)[0]


def _as_text(value, limit: int = 2000) -> str:
    """``value`` as text for a message (at most ``limit`` characters): strings as they are,
    anything else as JSON."""
    if isinstance(value, str):
        return value[:limit]
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:limit]
    except (TypeError, ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def error_message_from_body(body) -> str:
    """The human message inside a provider's error body, whatever its shape (always text)."""
    while isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = _as_text(error.get("message") or error.get("msg") or error.get("detail") or "")
            metadata = error.get("metadata")
            if isinstance(metadata, dict) and metadata.get("raw"):
                message = f"{message} ({_as_text(metadata['raw'])})"
            code = error.get("code") or error.get("type") or error.get("status")
            code = _as_text(code, 80) if code else ""
            return f"{message} [{code}]" if code and code not in message else message
        if isinstance(error, str):
            return error[:2000]
        if isinstance(body.get("message"), str):
            return body["message"][:2000]
    return _as_text(body, 500)


def error_from_status(status: int, body, headers, *, provider: str, model: str,
                      secrets: tuple[str, ...] = ()) -> LMError:
    """The typed error for an HTTP error response."""
    message = error_message_from_body(body)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = ProviderInternalError if status >= 500 else InvalidRequestError
    if cls in (InvalidRequestError, AuthenticationError, ProviderInternalError, ModelNotFoundError):
        for pattern, candidate in _MESSAGE_ERRORS:
            if pattern.search(message):
                cls = candidate
                break
    text = f"{provider}/{model}: HTTP {status} {cls.__name__}: {message}"
    hint = _HINTS.get(cls)
    if hint:
        text += f" {hint}"
    kwargs = dict(provider=provider, model=model, status_code=status, secrets=secrets)
    if cls is RateLimitError:
        retry_after, note = read_retry_after(headers)
        if retry_after is None:
            retry_after = _retry_delay_in_body(body)
        if note:
            text += f" ({note}; retrying with backoff)"
        return RateLimitError(text, retry_after=retry_after, **kwargs)
    return cls(text, **kwargs)


def _retry_delay_in_body(body) -> float | None:
    """Google's 429 bodies carry the wait as ``details[].retryDelay`` ("37s")."""
    error = body.get("error") if isinstance(body, dict) else None
    for detail in (error or {}).get("details", []) if isinstance(error, dict) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            return _seconds(delay[:-1])
    return None


_HINTS: dict[type, str] = {
    AuthenticationError: "Check the API key (and that it may use this model).",
    PaymentRequiredError: "Add credits or set up billing with the provider.",
    ModelNotFoundError: "Check the model name; lm.list_models() shows what the provider serves.",
    ContextWindowExceededError: "Shorten the prompt or the inputs, or use a model with a larger context.",
}


__all__ = [
    "AuthenticationError", "ContentFilterError", "ContextWindowExceededError", "InvalidInputError",
    "InvalidRequestError", "LMError", "MissingAPIKeyError", "MissingResponsesError", "ModelNotFoundError",
    "PaymentRequiredError", "ProviderConnectionError", "ProviderInternalError", "ProviderTimeoutError",
    "RateLimitError", "ResponseTooLargeError", "RetriesExhaustedError", "ScriptExhaustedError", "StructuredOutputError",
    "UnknownProviderError", "UnknownOptionError", "UnsupportedInputError", "BudgetExceededError",
    "UnknownPriceError", "error_from_status", "parse_retry_after", "read_retry_after", "redact",
]


# --- the provider registry and routing decisions (SynthOrg's names) -----------------------------

class DriverNotRegisteredError(LMError, KeyError):
    """A ProviderRegistry has no driver under the name asked for (the message lists those it has)."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0] if self.args else ""


class DriverAlreadyRegisteredError(LMError, ValueError):
    """``register_provider`` got a driver name already taken (pass ``replace=True`` to replace it)."""


class DriverFactoryNotFoundError(LMError, ValueError):
    """A provider's config names a ``driver`` no factory is registered for."""


class UnknownStrategyError(InvalidInputError):
    """A Router's strategy is neither a known name nor an object with ``select``."""


class ModelResolutionError(LMError, ValueError):
    """A routing request names a model (an override, a rule's model, an alias) the Router does not have,
    or a strategy needs a field the request lacks (``manual`` without ``model_override``)."""


class NoAvailableModelError(LMError, ValueError):
    """No model of the Router can serve the request (capabilities, context window, budget, all tried)."""
