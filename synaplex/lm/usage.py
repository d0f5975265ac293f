"""Reading the usage of a block of code: ``with synaplex.track_usage() as usage: ...``.

Every LM call adds its usage to every tracker active in its context; contextvars follow
asyncio tasks, so the concurrent calls of a program run are all counted.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from synaplex.lm.base import Usage

_ACTIVE: contextvars.ContextVar[tuple[UsageTracker, ...]] = contextvars.ContextVar("synaplex_usage", default=())


class UsageTracker:
    """Totals of the LM calls made while it is active: ``total`` and ``by_model``."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.total = Usage()
        self.by_model: dict[str, Usage] = {}

    def record(self, model: str, usage: Usage) -> None:
        self.total.add(usage)
        self.by_model.setdefault(model, Usage()).add(usage)

    def __repr__(self):
        t = self.total
        return (f"UsageTracker(calls={t.calls}, tokens={t.total_tokens}, cost={t.cost}, "
                f"cache_hits={t.cache_hits})")


@contextlib.contextmanager
def track_usage(name: str | None = None) -> Iterator[UsageTracker]:
    """Count every LM call made inside the block (including in tasks it starts).

    Example:
        >>> with synaplex.track_usage() as usage:
        ...     await program(Query(query="..."))
        >>> usage.total.calls, usage.total.cost
    """
    tracker = UsageTracker(name)
    token = _ACTIVE.set(_ACTIVE.get() + (tracker,))
    try:
        yield tracker
    finally:
        _ACTIVE.reset(token)


def record(model: str, usage: Usage) -> None:
    for tracker in _ACTIVE.get():
        tracker.record(model, usage)
