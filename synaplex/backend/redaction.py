"""Which headers, URL parts and config fields carry credentials, by rule, and how to hide them.

One rule serves every place a credential could leak: saved programs and checkpoints
(:func:`redact_config`, which the savers call), error messages and tracing spans
(:func:`redact_url`, :func:`redact_headers`, and :func:`synaplex.lm.errors.redact`).

* **A header carries a credential** when its name contains ``auth``, ``key``, ``token``,
  ``secret``, ``cookie``, ``password``, ``passwd``, ``credential``, ``session`` or
  ``signature`` (``Authorization``, ``Proxy-Authorization``, ``x-api-key``, ``api-key``,
  ``x-goog-api-key``, ``Ocp-Apim-Subscription-Key``, ``cf-aig-authorization``,
  ``Helicone-Auth``, ``x-portkey-api-key``, ``Cookie``…), or when its value starts with an
  auth scheme (``Bearer …``, ``Basic …``).
* **A URL carries a credential** in its userinfo (``https://user:password@host``) and in any
  query parameter whose name follows the header rule (``?key=…``, ``?access_token=…``) or is
  ``sig`` (Azure SAS).
* **A config field carries a credential** when its name is one of :data:`SECRET_FIELDS`
  (``api_key``, ``token``, ``password``…); its headers and URLs follow the rules above.

Over-redaction is the safe side: a non-secret header whose name matches (say
``x-idempotency-key``) is not saved either.

>>> redact_url("https://me:hunter2@gateway.example/v1?key=abc&x=1")
'https://[REDACTED]@gateway.example/v1?key=[REDACTED]&x=1'
>>> strip_url_credentials("https://me:hunter2@gateway.example/v1?key=abc&x=1")
'https://gateway.example/v1?x=1'
>>> safe_headers({"Proxy-Authorization": "Basic eHk=", "anthropic-beta": "tools"})
{'anthropic-beta': 'tools'}
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

MASK = "[REDACTED]"

#: Parts of a header or query-parameter name that mark it as a credential.
SECRET_NAME_PARTS: tuple[str, ...] = ("auth", "key", "token", "secret", "cookie", "password", "passwd",
                                      "credential", "session", "signature")
#: Config fields whose value is a credential (exact names, case-insensitive).
SECRET_FIELDS: frozenset[str] = frozenset({
    "api_key", "apikey", "access_token", "auth_token", "bearer_token", "refresh_token", "id_token",
    "token", "password", "passwd", "secret", "client_secret", "private_key", "authorization",
    "proxy_authorization", "credentials", "cookie", "cookies",
})
_SECRET_QUERY_NAMES = frozenset({"sig"})
_AUTH_VALUE = re.compile(r"^\s*(?:bearer|basic|digest|token|apikey|api-key)\s+\S", re.IGNORECASE)

# scheme://userinfo@ anywhere in a text (userinfo: no slash, space, quote or @).
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/?#@\s'\"<>]+)@")
# ?name=value or &name=value anywhere in a text.
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&#\s'\"<>?]+)=(?P<value>[^&#\s'\"<>]*)")
# A string that is one URL and nothing else.
_WHOLE_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter named ``name`` carries a credential."""
    lowered = str(name).lower()
    return any(part in lowered for part in SECRET_NAME_PARTS) or lowered in _SECRET_QUERY_NAMES


def is_secret_header(name: str, value: Any = None) -> bool:
    """Whether the header ``name: value`` carries a credential (by its name or its value)."""
    return is_secret_name(name) or (isinstance(value, str) and bool(_AUTH_VALUE.match(value)))


def safe_headers(headers: Mapping[str, Any] | None) -> dict:
    """``headers`` without those that carry credentials: what may be saved."""
    return {k: v for k, v in (headers or {}).items() if not is_secret_header(k, v)}


def redact_headers(headers: Mapping[str, Any] | None) -> dict:
    """``headers`` with the values of those that carry credentials masked: what may be shown."""
    return {k: (MASK if is_secret_header(k, v) else v) for k, v in (headers or {}).items()}


def secret_header_values(headers: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The credential values among ``headers`` (and the token after a ``Bearer``/``Basic``)."""
    values: list[str] = []
    for name, value in (headers or {}).items():
        if isinstance(value, str) and value.strip() and is_secret_header(name, value):
            values.append(value.strip())
            scheme, _, token = value.strip().partition(" ")
            if token.strip() and _AUTH_VALUE.match(value):
                values.append(token.strip())
    return tuple(values)


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The credentials inside ``url``: its userinfo (whole, user, password) and secret query values."""
    if not url:
        return ()
    values: list[str] = []
    match = _USERINFO.search(url)
    if match:
        userinfo = match.group("userinfo")
        values.append(userinfo)
        values.extend(urllib.parse.unquote(part) for part in userinfo.split(":", 1) if part)
    for param in _QUERY_PARAM.finditer(url):
        if is_secret_name(urllib.parse.unquote(param.group("name"))) and param.group("value"):
            values.append(param.group("value"))
            values.append(urllib.parse.unquote(param.group("value")))
    return tuple(v for v in values if v)


def redact_url(url: Any) -> Any:
    """``url`` (or any text holding URLs) with userinfo and secret query values masked."""
    if not isinstance(url, str) or ("@" not in url and "=" not in url):
        return url
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)

    def query(match: re.Match) -> str:
        if is_secret_name(urllib.parse.unquote(match.group("name"))) and match.group("value") != MASK:
            return f"{match.group('sep')}{match.group('name')}={MASK}"
        return match.group(0)

    return _QUERY_PARAM.sub(query, text)


def strip_url_credentials(url: Any) -> Any:
    """``url`` without its userinfo and without its secret query parameters: what may be saved."""
    if not isinstance(url, str) or "://" not in url:
        return url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return redact_url(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not is_secret_name(k)]
        if len(kept) != len(pairs):
            query = urllib.parse.urlencode(kept)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_config(config: Any) -> Any:
    """A copy of a saved configuration without credentials; savers call it before writing.

    Walks dicts and lists: a field named in :data:`SECRET_FIELDS` is dropped, a dict under
    a ``headers`` key (or ``*_headers``) loses the headers that carry credentials, and every
    string that is a URL loses its userinfo and secret query parameters. Everything else is
    kept as it is.

    >>> redact_config({"model": "openai/x", "api_base": "http://u:p@h/v1", "api_key": "sk-1",
    ...                "headers": {"x-api-key": "k", "x-title": "demo"}, "max_tokens": 5})
    {'model': 'openai/x', 'api_base': 'http://h/v1', 'headers': {'x-title': 'demo'}, 'max_tokens': 5}
    """
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            name = str(key).lower()
            if name in SECRET_FIELDS:
                continue
            if (name == "headers" or name.endswith("_headers")) and isinstance(value, Mapping):
                out[key] = safe_headers(value)
            else:
                out[key] = redact_config(value)
        return out
    if isinstance(config, list):
        return [redact_config(item) for item in config]
    if isinstance(config, tuple):
        return tuple(redact_config(item) for item in config)
    if isinstance(config, str) and "://" in config and _WHOLE_URL.fullmatch(config):
        return strip_url_credentials(config)
    return config


__all__ = ["MASK", "SECRET_FIELDS", "SECRET_NAME_PARTS", "is_secret_header", "is_secret_name", "redact_config",
           "redact_headers", "redact_url", "safe_headers", "secret_header_values", "strip_url_credentials",
           "url_secrets"]
