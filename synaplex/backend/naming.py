"""Automatic, reproducible names for modules and programs (reset by ``clear_session``)."""

from __future__ import annotations

import re
import threading

_lock = threading.Lock()
_counters: dict[str, int] = {}


def to_snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def auto_name(prefix: str) -> str:
    """Return ``prefix`` the first time, then ``prefix_1``, ``prefix_2``… within a session."""
    with _lock:
        count = _counters.get(prefix, 0)
        _counters[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session() -> None:
    """Reset automatic naming so that a rebuilt program gets the same module names.

    Example:
        >>> import synaplex
        >>> synaplex.clear_session()
    """
    with _lock:
        _counters.clear()
