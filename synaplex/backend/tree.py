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
