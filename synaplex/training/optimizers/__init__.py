"""``synaplex.optimizers``: what rewrites a program's trainable variables during ``fit``.

* :class:`RandomFewShot`: few-shot examples sampled from well-rewarded calls (no LM calls).
* :class:`OMEGA`: LM-written mutations and crossovers of the instructions, with Dominated
  Novelty Search to keep the population diverse (needs a language and an embedding model).

``get("random_few_shot")`` builds an optimizer from its name (``compile(optimizer="...")``).
"""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.optimizers.omega import OMEGA, dominated_novelty_scores, dominated_novelty_selection
from synaplex.training.optimizers.optimizer import Optimizer
from synaplex.training.optimizers.random_few_shot import RandomFewShot

__all__ = ["OMEGA", "Optimizer", "RandomFewShot", "deserialize", "dominated_novelty_scores",
           "dominated_novelty_selection", "get", "serialize"]

# Names accepted by get(), lower-cased without "_" or "-".
_BY_NAME = {"randomfewshot": RandomFewShot}
_VALID_NAMES = ("'random_few_shot'", "'RandomFewShot'")


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

    Example:
        >>> synaplex.optimizers.get("random_few_shot")
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.replace("_", "").replace("-", "").replace(" ", "").lower()
        if key == "omega":
            raise InvalidInputError(
                f"OMEGA cannot be built from the string {identifier!r}: it needs language_model= (which "
                "writes the new instructions) and embedding_model= (for Dominated Novelty Search). Pass "
                "optimizer=synaplex.optimizers.OMEGA(language_model=lm, embedding_model=em).")
        if key in _BY_NAME:
            return _BY_NAME[key]()
    raise InvalidInputError(
        f"Unknown optimizer {identifier!r:.100}. Valid names: {', '.join(_VALID_NAMES)}; or pass an optimizer "
        "instance, e.g. synaplex.optimizers.RandomFewShot() or synaplex.optimizers.OMEGA(language_model=..., "
        "embedding_model=...).")
