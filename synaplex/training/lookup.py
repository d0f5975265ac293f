"""One lookup of string ids for rewards, metrics, optimizers and callbacks.

``compile(reward="exact_match", optimizer="random_few_shot", metrics=["f1_score"])`` and
``fit(callbacks=["early_stopping"])`` resolve their strings here. An id is matched against
each class's snake_case name (``"exact_match"``), its class name (``"ExactMatch"``) and both
lower-cased without underscores (``"exactmatch"``, Synalinks' case-insensitive lookup), plus
any alias given. An unknown id raises :class:`UnknownIdentifierError`, which lists the valid
ones; a class that cannot be built without arguments (``ProgramCheckpoint`` needs a file
path) raises an ``InvalidInputError`` that says which.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case


class UnknownIdentifierError(InvalidInputError, LookupError):
    """A string id names no built-in reward, metric, optimizer or callback."""


def _key(identifier: str) -> str:
    return identifier.replace("_", "").replace("-", "").replace(" ", "").lower()


class Lookup:
    """The string ids of one kind of object (``"reward"``, ``"metric"``…).

    Args:
        kind: what the ids name, for messages (``"reward"``).
        classes: the classes that a bare id builds (with no arguments).
        aliases: extra ids, ``{"alias": class}``.
        needs_arguments: ``{class: "why and how to build it"}`` for classes that cannot be
            built from a bare id: the id is known, and the error says what to pass.
        hint: the end of the unknown-id message (what else can be passed).
    """

    def __init__(self, kind: str, classes: list[type], aliases: dict[str, type] | None = None,
                 needs_arguments: dict[type, str] | None = None, hint: str = ""):
        self.kind = kind
        self.hint = hint
        self.needs_arguments = dict(needs_arguments or {})
        self._by_key: dict[str, type] = {}
        self._names: list[str] = []
        for cls in classes:
            self.add(cls)
        for alias, cls in (aliases or {}).items():
            self.add(cls, alias)
        for cls in self.needs_arguments:  # known, but not listed: a bare id cannot build them
            self.add(cls, listed=False)

    def add(self, cls: type, name: str | None = None, listed: bool = True) -> None:
        """Register ``cls`` under its snake_case and class names (or under ``name``)."""
        names = [name] if name else [to_snake_case(cls.__name__), cls.__name__]
        for each in names:
            self._by_key.setdefault(_key(each), cls)
            if listed and each not in self._names:
                self._names.append(each)

    @property
    def names(self) -> list[str]:
        """The ids that build an object (snake_case names first, then class names), sorted."""
        snake = sorted(n for n in self._names if n == n.lower())
        return snake + sorted(n for n in self._names if n != n.lower())

    def find(self, identifier: str) -> type | None:
        return self._by_key.get(_key(identifier))

    def resolve(self, identifier: str, build: Callable[[type], Any] | None = None) -> Any:
        """The object an id names, built with no arguments (or with ``build(cls)``)."""
        if not isinstance(identifier, str):
            raise InvalidInputError(f"A {self.kind} id must be a string, got {identifier!r:.80}.")
        cls = self.find(identifier)
        if cls is None:
            raise UnknownIdentifierError(
                f"Unknown {self.kind} {identifier!r}. Valid names: {', '.join(map(repr, self.names))}"
                + (f"; {self.hint}" if self.hint else "") + ".")
        if cls in self.needs_arguments:
            raise InvalidInputError(
                f"The {self.kind} {identifier!r} ({cls.__name__}) cannot be built from its name alone: "
                f"{self.needs_arguments[cls]}")
        return build(cls) if build is not None else cls()


def is_class_of(identifier: Any, base: type) -> bool:
    return inspect.isclass(identifier) and issubclass(identifier, base)
