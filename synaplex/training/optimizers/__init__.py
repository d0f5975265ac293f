"""``synaplex.optimizers``: what rewrites a program's trainable variables during ``fit``.

* :class:`RandomFewShot`: few-shot examples sampled from well-rewarded calls (no LM calls).
* :class:`OMEGA`: LM-written mutations and crossovers of the instructions, with Dominated
  Novelty Search to keep the population diverse (needs a language and an embedding model).

``get("random_few_shot")`` builds an optimizer from its name (``compile(optimizer="...")``);
``get("omega")`` builds OMEGA with the default language and embedding models (see
``synaplex.config``), or raises :class:`MissingModelError` when none is set.

Synalinks' abstract bases ``GreedyOptimizer`` and ``EvolutionaryOptimizer`` have no
counterpart: a custom optimizer subclasses :class:`Optimizer` (``propose_candidates``,
``learn``), whose hooks differ from theirs.
"""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.lookup import Lookup, UnknownIdentifierError  # noqa: F401 - the error of get()
from synaplex.training.optimizers.omega import (
    OMEGA,
    MissingModelError,
    dominated_novelty_scores,
    dominated_novelty_selection,
)
from synaplex.training.optimizers.optimizer import Optimizer
from synaplex.training.optimizers.random_few_shot import RandomFewShot

__all__ = ["OMEGA", "MissingModelError", "Optimizer", "RandomFewShot", "deserialize", "dominated_novelty_scores",
           "dominated_novelty_selection", "get", "serialize"]

# compile(optimizer="...") ids: the snake_case and class names (and Synalinks' lower-case ones)
LOOKUP = Lookup(
    "optimizer", [RandomFewShot, OMEGA], aliases={"omega": OMEGA},
    needs_arguments={Optimizer: "it is the base class: subclass it, or use 'random_few_shot' or 'omega'."},
    hint="or pass an optimizer instance, e.g. synaplex.optimizers.RandomFewShot() or "
         "synaplex.optimizers.OMEGA(language_model=..., embedding_model=...)")


def serialize(optimizer: Optimizer) -> dict:
    """The optimizer's JSON config (its class and arguments), for saving."""
    return serialize_synaplex_object(optimizer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Rebuild an optimizer from :func:`serialize`'s output."""
    optimizer = deserialize_synaplex_object(config, custom_objects)
    if not isinstance(optimizer, Optimizer):
        raise InvalidInputError(f"The config does not describe an optimizer: {config!r:.200}")
    return optimizer


def get(identifier: Any) -> Optimizer:
    """An optimizer from an instance (returned as is), a name, or a serialized config.

    Names: ``"random_few_shot"``/``"RandomFewShot"`` and ``"omega"``/``"OMEGA"``
    (case-insensitive, as in Synalinks), built with their defaults; an unknown name raises
    :class:`~synaplex.training.lookup.UnknownIdentifierError` listing the valid ones.

    Example:
        >>> synaplex.optimizers.get("random_few_shot")
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    if isinstance(identifier, str):
        return LOOKUP.resolve(identifier)
    raise InvalidInputError(
        f"Cannot use {identifier!r:.100} as an optimizer: pass an Optimizer instance, one of "
        f"{', '.join(map(repr, LOOKUP.names))}, or a serialized config.")
