"""Rewards: score a program's prediction against its ground truth, as a number in [0, 1].

A reward is the in-context twin of a Keras loss, turned around: higher is better. The
trainer calls ``await reward(y_true, y_pred)`` once per example and averages the results.

Every reward:

* turns both sides into plain dicts (a DataModel, a JsonDataModel or a dict; ``None`` stays
  ``None``);
* keeps only the fields named in ``in_mask`` and then drops those named in ``out_mask``
  (the same rules as ``x.in_mask(...)`` / ``x.out_mask(...)``: recursive into nested objects);
* returns ``0.0`` without scoring when the prediction is ``None`` (a branch that did not
  produce an output earns nothing);
* checks that the score is a real number in [0, 1] and raises :class:`RewardError`
  otherwise (never a silent clip).

Rewards that compare with a ground truth (``ExactMatch``, ``CosineSimilarity``) raise an
``InvalidInputError`` when ``y_true`` is ``None``; judges (``LMAsJudge``, ``ProgramAsJudge``)
and custom functions accept it (a judge then scores the prediction alone).

Example:
    >>> reward = synaplex.rewards.ExactMatch(in_mask=["answer"])
    >>> await reward({"answer": "Paris", "rationale": "..."}, {"answer": "Paris"})
    1.0
"""

from __future__ import annotations

import inspect
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.function_wrapping import FunctionWrapping  # noqa: F401 - importable here before the split
from synaplex.training.lookup import Lookup, UnknownIdentifierError  # noqa: F401 - the error of get()
from synaplex.training.rewards.batch_reward import BatchReward, BatchRewardFunctionWrapper, reduce_rewards
from synaplex.training.rewards.cosine_similarity import CosineSimilarity
from synaplex.training.rewards.exact_match import ExactMatch, exact_match
from synaplex.training.rewards.lm_as_judge import DEFAULT_JUDGE_INSTRUCTIONS, JUDGE_SCHEMA, LMAsJudge  # noqa: F401
from synaplex.training.rewards.program_as_judge import ProgramAsJudge
from synaplex.training.rewards.reward import Reward, RewardError, check_score  # noqa: F401
from synaplex.training.rewards.reward_function_wrapper import MeanRewardWrapper, RewardFunctionWrapper
from synaplex.training.values import apply_masks, check_mask, json_text, to_json_value, value_schema  # noqa: F401

__all__ = [
    "JUDGE_SCHEMA",
    "BatchReward",
    "BatchRewardFunctionWrapper",
    "CosineSimilarity",
    "ExactMatch",
    "LMAsJudge",
    "MeanRewardWrapper",
    "ProgramAsJudge",
    "Reward",
    "RewardError",
    "RewardFunctionWrapper",
    "deserialize",
    "exact_match",
    "get",
    "reduce_rewards",
    "serialize",
]

# A saved config names a class by its module (see synaplex.serialization.registry). The built-in
# rewards keep this package's name, as when they shared one file, so that saved files stay the same
# (and stay readable by earlier versions).
for _cls in (BatchReward, BatchRewardFunctionWrapper, CosineSimilarity, ExactMatch, LMAsJudge, MeanRewardWrapper,
             ProgramAsJudge, Reward, RewardError, RewardFunctionWrapper):
    _cls.__module__ = __name__


# --- lookup and serialization ------------------------------------------------------------

# compile(reward="...") ids: the snake_case and class names (and Synalinks' lower-case ones)
LOOKUP = Lookup(
    "reward",
    [ExactMatch, CosineSimilarity, LMAsJudge],
    needs_arguments={
        RewardFunctionWrapper: "pass the function itself (compile(reward=my_reward)) or "
                               "synaplex.rewards.RewardFunctionWrapper(fn=my_reward).",
        BatchRewardFunctionWrapper: "pass synaplex.rewards.BatchRewardFunctionWrapper(fn=my_batch_reward).",
        ProgramAsJudge: "pass synaplex.rewards.ProgramAsJudge(program=judge_program).",
        Reward: "it is the base class: subclass it, or use a built-in reward such as 'exact_match'.",
        BatchReward: "it is the base class: subclass it, or wrap a function in BatchRewardFunctionWrapper.",
    },
    hint="or pass a Reward instance (e.g. synaplex.rewards.ExactMatch(in_mask=['answer'])) or a reward function")


def serialize(reward: Reward) -> dict:
    """A reward's JSON config (through the serialization registry)."""
    return serialize_synaplex_object(reward)


def deserialize(config: dict, custom_objects: dict | None = None) -> Reward:
    """The reward that :func:`serialize` described."""
    return deserialize_synaplex_object(config, custom_objects)


def get(identifier: Any) -> Reward:
    """Resolve a reward from an instance, a string id, a config dict or a function.

    Strings: ``"exact_match"``, ``"cosine_similarity"``, ``"lm_as_judge"`` (or the class
    names ``"ExactMatch"``…, case-insensitive as in Synalinks), built with their defaults
    (the default embedding and language models). An unknown id raises
    :class:`~synaplex.training.lookup.UnknownIdentifierError` listing the valid ones. A
    function becomes a :class:`RewardFunctionWrapper`.

    Example:
        >>> synaplex.rewards.get("exact_match")
        <ExactMatch name='exact_match'>
    """
    if isinstance(identifier, Reward):
        return identifier
    if isinstance(identifier, str):
        return LOOKUP.resolve(identifier)
    if isinstance(identifier, dict):
        reward = deserialize(identifier)
        if not isinstance(reward, Reward):
            raise InvalidInputError(f"The config {identifier!r:.80} does not describe a Reward.")
        return reward
    if inspect.isclass(identifier) and issubclass(identifier, Reward):
        return identifier()
    if callable(identifier):
        return RewardFunctionWrapper(identifier)
    raise InvalidInputError(
        f"Cannot use {identifier!r:.80} as a reward: pass a Reward, one of "
        f"{', '.join(map(repr, LOOKUP.names))}, a config dict or a function fn(y_true, y_pred)."
    )
