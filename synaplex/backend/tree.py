"""Nested structures of lists, tuples and dicts, with everything else a leaf."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def flatten(structure: Any) -> list:
    if isinstance(structure, (list, tuple)):
        out = []
        for item in structure:
            out.extend(flatten(item))
        return out
    if isinstance(structure, dict):
        out = []
        for key in structure:
            out.extend(flatten(structure[key]))
        return out
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def pack_sequence_as(structure: Any, flat: list) -> Any:
    it = iter(flat)
    return map_structure(lambda _: next(it), structure)


def flatten_up_to(structure: Any, given: Any) -> list:
    """The parts of ``given`` found where ``structure`` has its leaves: ``given`` is cut to the
    shape of ``structure`` only, so a part that is itself a dict or a list stays whole, and a
    dict is read by the structure's keys, whatever its own order. ``ValueError`` says where the
    two shapes differ."""
    if isinstance(structure, (list, tuple)):
        if not isinstance(given, (list, tuple)) or len(given) != len(structure):
            raise ValueError(f"expected a list of {len(structure)}, got {_shape(given)}")
        return [leaf for part, value in zip(structure, given) for leaf in flatten_up_to(part, value)]
    if isinstance(structure, dict):
        if not isinstance(given, dict) or set(given) != set(structure):
            raise ValueError(f"expected an object with the keys {sorted(map(str, structure))}, got {_shape(given)}")
        return [leaf for key in structure for leaf in flatten_up_to(structure[key], given[key])]
    return [given]


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with the keys {sorted(map(str, value))}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    return type(value).__name__
