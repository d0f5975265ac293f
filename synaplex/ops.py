"""``synaplex.ops``: the JSON operators as functions (see :mod:`synaplex.modules.ops`).

Each works two ways, so that Synalinks code runs as it is:

* synchronously, ``out = synaplex.ops.concat(x, y)``, like the operators ``x + y``;
* awaited, as in Synalinks, ``out = await synaplex.ops.concat(x, y)``: a JsonDataModel or
  SymbolicDataModel awaited is itself, and a result that is ``None`` (``logical_and`` with a
  missing operand, ``logical_not``…) or a bool (``contains``) is handed back awaitable when the
  call is awaited directly, as in ``await synaplex.ops.logical_and(x, None)``.

Only the direct ``await ops.f(...)`` is recognised for a ``None`` or bool result: a result stored
first (``r = ops.logical_and(x, None)``) is the plain ``None``, which cannot be awaited.
"""

from __future__ import annotations

import dis
import sys
import weakref
from typing import Any

from synaplex.modules import ops as _ops

__all__ = ["concat", "contains", "in_mask", "logical_and", "logical_not", "logical_or", "logical_xor", "out_mask"]

# code object -> offsets of its call instructions whose result is awaited at once
_AWAITED_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Ready:
    """An awaitable that gives ``value`` at once (for a ``None`` or bool result being awaited)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __await__(self):
        return self.value
        yield  # noqa: B901 - a generator that returns at once


def _awaited_call_offsets(code) -> frozenset:
    offsets = _AWAITED_CALLS.get(code)
    if offsets is None:
        instructions = list(dis.get_instructions(code))
        # A frame's f_lasti is its call instruction or, on CPython 3.11, that instruction's
        # last inline cache entry: every offset up to the GET_AWAITABLE that follows counts.
        offsets = frozenset(
            offset for instruction, following in zip(instructions, instructions[1:])
            if instruction.opname.startswith("CALL") and following.opname == "GET_AWAITABLE"
            for offset in range(instruction.offset, following.offset)
        )
        _AWAITED_CALLS[code] = offsets
    return offsets


def _awaited_by_caller() -> bool:
    """Whether the code that called the public op awaits its result directly (``await ops.f(...)``)."""
    try:
        frame = sys._getframe(3)  # _awaited_by_caller <- _result <- the op <- its caller
    except ValueError:
        return False
    return frame.f_lasti in _awaited_call_offsets(frame.f_code)


def _result(value: Any) -> Any:
    if (value is None or isinstance(value, bool)) and _awaited_by_caller():
        return _Ready(value)
    return value


def concat(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 + x2``: all fields of both (a colliding field gets a suffix); raises when either is None."""
    return _result(_ops.concat(x1, x2, name=name, description=description))


def logical_and(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 & x2``: the concatenation, or None when either is None."""
    return _result(_ops.logical_and(x1, x2, name=name, description=description))


def logical_or(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 | x2``: the one that is not None; the concatenation when both are there."""
    return _result(_ops.logical_or(x1, x2, name=name, description=description))


def logical_xor(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 ^ x2``: the one that is not None; None when both or neither are there."""
    return _result(_ops.logical_xor(x1, x2, name=name, description=description))


def logical_not(x: Any, name: str | None = None, description: str | None = None):
    """``~x``: always None at run time (a stop condition); the same schema while a program is built."""
    return _result(_ops.logical_not(x, name=name, description=description))


def contains(outer: Any, inner: Any) -> bool:
    """``inner in outer``: every field of ``inner`` is in ``outer`` with the same type."""
    return _result(_ops.contains(outer, inner))


def in_mask(x: Any, mask=None, recursive: bool = True, name: str | None = None, description: str | None = None):
    """Keep only the fields named in ``mask`` (and, with ``recursive``, named nested fields)."""
    return _result(_ops.in_mask(x, mask=mask, recursive=recursive, name=name, description=description))


def out_mask(x: Any, mask=None, recursive: bool = True, name: str | None = None, description: str | None = None):
    """Remove the fields named in ``mask`` (at every depth with ``recursive``)."""
    return _result(_ops.out_mask(x, mask=mask, recursive=recursive, name=name, description=description))
