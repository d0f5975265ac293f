"""Typed errors of the provider layer.

Every error carries ``is_retryable`` and the provider/model involved; messages never
contain a key or an auth header (see :func:`redact`).
"""

from __future__ import annotations

import re

from synaplex.backend.errors import InvalidInputError, SynaplexError

# Each pattern keeps group "keep" (the label) and replaces the secret that follows it.
_SECRET_PATTERNS = [
    re.compile(r"(?P<keep>(?i:bearer)\s+)[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"(?P<keep>(?i:api[_-]?key|x-api-key|authorization|x-goog-api-key|key)[\"']?\s*[:=]\s*[\"']?)"
               r"(?!\[REDACTED\])[^\s\"',}&]{6,}"),
    re.compile(r"(?P<keep>)\b(?:sk|rk|pk|gsk|xai|AIza)[-_A-Za-z0-9]{16,}"),
]


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove API keys and auth headers from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group("keep") + "[REDACTED]", text)
    return text


class LMError(SynaplexError):
    """Base class of the errors raised by LanguageModel and EmbeddingModel calls."""

    is_retryable = False

    def __init__(self, message: str, *, provider: str | None = None, model: str | None = None):
        super().__init__(redact(message))
        self.provider = provider
        self.model = model


class StructuredOutputError(LMError):
    """The model's reply is not valid JSON for the requested schema (after any repair).

    Attributes:
        raw_text: the reply as the model sent it.
        validation_errors: what was wrong, one line per problem.
    """

    def __init__(self, message: str, *, raw_text: str = "", validation_errors: list[str] | None = None,
                 provider: str | None = None, model: str | None = None):
        super().__init__(message, provider=provider, model=model)
        self.raw_text = raw_text
        self.validation_errors = validation_errors or []


class ScriptExhaustedError(LMError):
    """A scripted LanguageModel was called more times than it has responses."""


class MissingResponsesError(LMError):
    """A scripted LanguageModel has no responses (e.g. loaded from a file, callable not restored)."""


class UnknownProviderError(SynaplexError, ValueError):
    """The provider prefix of a model string is not one synaplex knows."""


__all__ = [
    "InvalidInputError",
    "LMError",
    "MissingResponsesError",
    "ScriptExhaustedError",
    "StructuredOutputError",
    "UnknownProviderError",
    "redact",
]
