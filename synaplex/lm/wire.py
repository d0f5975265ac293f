"""Reading what a provider sends, which is untrusted: JSON with bounded nesting, token counts.

Providers (and anything posing as one at ``api_base``) may send JSON nested thousands of
levels deep, ``NaN``, numbers that overflow, or counts that are not numbers. These helpers
turn all of it into one ``ValueError`` subclass, :class:`WireValueError`, whose message says
what was wrong, and which each adapter re-raises as a typed ``LMError``; nothing here lets a
``RecursionError``, ``OverflowError`` or ``TypeError`` through.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: The deepest nesting of arrays and objects accepted in a reply (serde_json's default is 128).
#: Deeper data would overflow Python's stack in the parser, the schema validator or ``repr``.
MAX_JSON_DEPTH = 128


#: The largest token count believed (a quadrillion tokens).
MAX_COUNT = 10 ** 15


class WireValueError(ValueError):
    """A value from the wire is not acceptable; the message says why (no data beyond a short excerpt)."""


#: What reading a malformed reply of the wrong shape can raise (a list where an object was
#: expected, a number where text was...). Adapters turn these into ProviderInternalError; they
#: re-raise LMError first (InvalidRequestError is a ValueError too).
SHAPE_ERRORS = (WireValueError, AttributeError, TypeError, KeyError, IndexError, ValueError)


def _constant(name: str):
    raise WireValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_constant)


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def check_value(value: Any, max_depth: int = MAX_JSON_DEPTH, finite: bool = False) -> Any:
    """``value`` itself, or :class:`WireValueError` if it nests deeper than ``max_depth``
    (or, with ``finite=True``, holds a number that is infinite or NaN)."""
    if isinstance(value, (dict, list)):
        if _too_deep(value, max_depth):
            raise WireValueError(f"it is nested deeper than {max_depth} levels")
        if finite and _non_finite(value):
            raise WireValueError("it holds a number that is infinite or NaN (out of range)")
    elif finite and isinstance(value, float) and not math.isfinite(value):
        raise WireValueError("it is a number that is infinite or NaN (out of range)")
    return value


def loads(data: str | bytes | bytearray, max_depth: int = MAX_JSON_DEPTH, finite: bool = False) -> Any:
    """Parse JSON text (or UTF-8/16/32 bytes) from a provider.

    Raises:
        WireValueError: the text is not JSON (the reason, with the parser's position), it
            nests deeper than ``max_depth``, it holds ``NaN``/``Infinity`` (or, with
            ``finite=True``, a number that overflows to infinity).
    """
    problem: str | None = None
    try:
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode(json.detect_encoding(data), "surrogatepass")
        value = _DECODER.decode(data)
    except RecursionError:
        problem = f"it is nested deeper than {max_depth} levels"
    except WireValueError as error:
        problem = str(error)
    except (ValueError, TypeError) as error:  # JSONDecodeError, UnicodeDecodeError
        problem = str(error)
    if problem is not None:
        # Raised outside the handler: the parser's error (which holds the whole text) is not kept.
        raise WireValueError(problem)
    # Cheap test first: deep nesting needs at least max_depth brackets.
    if data.count("[") + data.count("{") > max_depth or finite:
        check_value(value, max_depth, finite)
    return value


def count(value: Any, what: str) -> int:
    """A token count from a reply: a non-negative integer (``None`` is 0; ``12.0`` and ``"12"`` pass).

    Raises:
        WireValueError: anything else (a negative, fractional, infinite or non-numeric value).
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        raise WireValueError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value) < 20:
        number = int(value)
    else:
        raise WireValueError(f"{what} must be a whole number, got {str(value)[:40]!r}")
    if number < 0:
        raise WireValueError(f"{what} must not be negative, got {number}")
    if number > MAX_COUNT:
        raise WireValueError(f"{what} is out of range, got {str(value)[:40]}")
    return number


def cost(value: Any) -> float | None:
    """A reported cost in USD: a finite number >= 0, else ``None`` (unknown; never a crash)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def text(value: Any, what: str) -> str:
    """``value`` when it is text (``None`` is ``""``), else WireValueError."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WireValueError(f"{what} is a {type(value).__name__}, not text")
    return value


def excerpt(value: Any, limit: int = 200) -> str:
    """At most ``limit`` characters of ``value`` for an error message (never a ``RecursionError``)."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[:limit * 4]).decode("utf-8", "replace")
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, TypeError, RecursionError):
            value = f"<{type(value).__name__}>"
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


__all__ = ["MAX_JSON_DEPTH", "SHAPE_ERRORS", "WireValueError", "check_value", "cost", "count", "excerpt", "loads",
           "text"]
