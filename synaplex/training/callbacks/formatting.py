"""How callbacks write numbers and costs in what they print and log."""

from __future__ import annotations

from typing import Any


def format_number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    if 0 < abs(cost) < 0.0001:
        return f"${cost:.2e}"
    return f"${cost:.4f}"
