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

import asyncio
import inspect
import json
import math
import numbers
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.naming import to_snake_case
from synaplex.data import schema as schema_lib
from synaplex.data.json_data_model import JsonDataModel
from synaplex.lm.embedding_model import EmbeddingModel
from synaplex.modules.generator import resolve_language_model
from synaplex.modules.input import convert_input
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.trainable import Trainable

__all__ = [
    "JUDGE_SCHEMA",
    "CosineSimilarity",
    "ExactMatch",
    "LMAsJudge",
    "MeanRewardWrapper",
    "ProgramAsJudge",
    "Reward",
    "RewardError",
    "RewardFunctionWrapper",
    "deserialize",
    "get",
    "serialize",
]


class RewardError(InvalidInputError):
    """A reward produced something that is not a number in [0, 1], or could not score."""


# --- values and masks (shared with metrics) ----------------------------------------------


def to_json_value(value: Any, what: str) -> dict | None:
    """A DataModel, JsonDataModel or dict as a plain dict; ``None`` stays ``None``."""
    if value is None or isinstance(value, dict):
        return value
    if hasattr(value, "get_json"):
        return value.get_json()
    raise InvalidInputError(
        f"{what} must be a DataModel, a JsonDataModel, a dict or None, got {type(value).__name__}: {value!r:.80}."
    )


def check_mask(mask: Any, argument: str, owner: str) -> list[str] | None:
    if mask is None:
        return None
    if isinstance(mask, str) or not isinstance(mask, (list, tuple)) or not mask \
            or not all(isinstance(m, str) for m in mask):
        raise InvalidInputError(
            f"{owner}: {argument} must be a non-empty list of field names (e.g. {argument}=['answer']), got {mask!r}."
        )
    return list(mask)


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (type(None), "null"))


def value_schema(value: Any) -> dict:
    """A JSON schema read off a value itself (plain dicts then mask exactly like JsonDataModels)."""
    if isinstance(value, dict):
        props = {k: value_schema(v) for k, v in value.items()}
        return {"type": "object", "properties": props, "required": list(props)}
    for python_type, json_type in _JSON_TYPES:
        if isinstance(value, python_type):
            return {"type": json_type}
    return {}


def apply_masks(value: dict | None, in_mask: list[str] | None, out_mask: list[str] | None) -> dict | None:
    """Keep the ``in_mask`` fields, then drop the ``out_mask`` fields (recursively)."""
    if value is None or (in_mask is None and out_mask is None):
        return value
    for mask, keep in ((in_mask, True), (out_mask, False)):
        if mask is not None:
            _, plan = schema_lib.mask_plan(value_schema(value), mask, keep=keep)
            value = schema_lib.mask_values(value, plan)
    return value


def json_text(value: Any) -> str:
    """The JSON text of a value, keys sorted (field order never matters)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def check_score(value: Any, owner: str) -> float:
    """A reward's raw result as a float in [0, 1], or a :class:`RewardError`."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isnan(number) and 0.0 <= number <= 1.0:
            return number
    raise RewardError(
        f"Reward {owner!r} returned {value!r:.80} ({type(value).__name__}); rewards must be numbers "
        "in [0, 1] (a float, an int or a bool). Scale or clip the score in the reward function."
    )


# --- the base class ----------------------------------------------------------------------


class Reward:
    """Base class of rewards: subclass it and implement ``async def call(self, y_true, y_pred)``.

    ``call`` receives plain dicts, already masked; ``y_pred`` is never ``None`` there, and
    ``y_true`` may be ``None`` unless the class sets ``needs_ground_truth = True``. It returns
    a number in [0, 1].

    Args:
        name: the reward's name (default: the class name in snake case).
        in_mask: the fields to compare (all others are ignored), e.g. ``["answer"]``.
        out_mask: the fields to ignore.

    Example:
        >>> class Shorter(synaplex.rewards.Reward):
        ...     async def call(self, y_true, y_pred):
        ...         return 1.0 if len(y_pred["answer"]) <= len(y_true["answer"]) else 0.0
    """

    needs_ground_truth = False

    def __init__(self, name: str | None = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"{type(self).__name__}: name must be a string, got {name!r}.")
        self.name = name or to_snake_case(type(self).__name__)
        self.in_mask = check_mask(in_mask, "in_mask", type(self).__name__)
        self.out_mask = check_mask(out_mask, "out_mask", type(self).__name__)

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `async def call(self, y_true, y_pred)`.")

    async def __call__(self, y_true: Any, y_pred: Any) -> float:
        """Score one prediction: a float in [0, 1] (``0.0`` when ``y_pred`` is ``None``)."""
        y_true = to_json_value(y_true, f"Reward {self.name!r}: y_true")
        y_pred = to_json_value(y_pred, f"Reward {self.name!r}: y_pred")
        if y_true is None and self.needs_ground_truth:
            raise InvalidInputError(
                f"Reward {self.name!r} ({type(self).__name__}) compares the prediction with a ground truth, "
                "but y_true is None. Pass y=... to fit()/evaluate(), or use a reward that can score a "
                "prediction alone (LMAsJudge, ProgramAsJudge, a custom function)."
            )
        if y_pred is None:
            return 0.0
        masked_true = apply_masks(y_true, self.in_mask, self.out_mask)
        if self.in_mask and y_true and not masked_true:
            raise InvalidInputError(
                f"Reward {self.name!r}: in_mask={self.in_mask} keeps no field of y_true (its fields: "
                f"{', '.join(map(repr, y_true))}). Name fields that the ground truth has."
            )
        masked_pred = apply_masks(y_pred, self.in_mask, self.out_mask)
        return check_score(await self.call(masked_true, masked_pred), self.name)

    async def batch(self, y_true: list, y_pred: list) -> list[float]:
        """Score many predictions concurrently; one float per pair, in order."""
        y_true, y_pred = list(y_true), list(y_pred)
        if len(y_true) != len(y_pred):
            raise InvalidInputError(
                f"Reward {self.name!r}: batch() got {len(y_true)} ground truths and {len(y_pred)} "
                "predictions; they must be the same length."
            )
        return list(await asyncio.gather(*(self(t, p) for t, p in zip(y_true, y_pred))))

    def get_config(self) -> dict:
        return {"name": self.name, "in_mask": self.in_mask, "out_mask": self.out_mask}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


# --- built-in rewards --------------------------------------------------------------------


class ExactMatch(Reward):
    """``1.0`` when the (masked) ground truth and prediction are equal JSON values, else ``0.0``.

    Example:
        >>> synaplex.rewards.ExactMatch(in_mask=["answer"])
    """

    needs_ground_truth = True

    def __init__(self, in_mask: list[str] | None = None, out_mask: list[str] | None = None,
                 name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)

    async def call(self, y_true: dict, y_pred: dict) -> float:
        return 1.0 if y_true == y_pred else 0.0


class CosineSimilarity(Reward):
    """Semantic similarity of the (masked) ground truth and prediction.

    Both sides are written as JSON text (keys sorted) and embedded in one batched call; the
    cosine similarity ``c`` in [-1, 1] is mapped to ``(c + 1) / 2`` in [0, 1] (as Synalinks
    does), so identical texts score 1.0, orthogonal ones 0.5 and opposite ones 0.0. Should
    the embedding model return a zero vector, the score is 1.0 for equal texts and 0.0 otherwise.

    Args:
        embedding_model: a ``synaplex.EmbeddingModel`` or a model string (default: the
            configured default embedding model).

    Example:
        >>> em = synaplex.EmbeddingModel(model="scripted")
        >>> synaplex.rewards.CosineSimilarity(embedding_model=em, in_mask=["answer"])
    """

    needs_ground_truth = True

    def __init__(self, embedding_model: Any = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None, name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if embedding_model is None or isinstance(embedding_model, str):
            embedding_model = EmbeddingModel(model=embedding_model)
        elif not callable(embedding_model) or not hasattr(embedding_model, "get_config"):
            raise InvalidInputError(
                f"CosineSimilarity: embedding_model must be a synaplex.EmbeddingModel or a model string, "
                f"got {embedding_model!r:.80}."
            )
        self.embedding_model = embedding_model

    async def call(self, y_true: dict, y_pred: dict) -> float:
        texts = [json_text(y_true), json_text(y_pred)]
        vectors = (await self.embedding_model(texts))["embeddings"]
        if len(vectors) != 2:
            raise RewardError(
                f"Reward {self.name!r}: the embedding model returned {len(vectors)} vectors for 2 texts."
            )
        a, b = vectors
        norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(x * x for x in b))
        if norm == 0.0:
            return 1.0 if texts[0] == texts[1] else 0.0
        cosine = sum(x * y for x, y in zip(a, b)) / norm
        return min(1.0, max(0.0, (cosine + 1.0) / 2.0))

    def get_config(self) -> dict:
        config = super().get_config()
        config["embedding_model"] = serialize_synaplex_object(self.embedding_model)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        config["embedding_model"] = deserialize_synaplex_object(config.get("embedding_model"), custom_objects)
        return cls(**config)


JUDGE_SCHEMA: dict = {
    "title": "Judgement",
    "type": "object",
    "properties": {
        "critique": {
            "title": "Critique",
            "type": "string",
            "description": "A short critique of the prediction: what is right, what is wrong or missing.",
        },
        "reward": {
            "title": "Reward",
            "type": "number",
            "minimum": 0.0,
            "maximum": 1.0,
            "description": "The score of the prediction, from 0.0 (wrong or useless) to 1.0 (fully correct).",
        },
    },
    "required": ["critique", "reward"],
}
"""The structured output that :class:`LMAsJudge` asks for (shared: do not mutate)."""

DEFAULT_JUDGE_INSTRUCTIONS = (
    "You are a strict, fair judge of a program's outputs. Critique the prediction, then give it "
    "a reward between 0.0 and 1.0: 1.0 when it is fully correct, 0.0 when it is wrong or useless, "
    "in between for partly correct answers."
)
_WITH_GROUND_TRUTH = "Compare the prediction with the ground truth: what matters is whether they agree."
_WITHOUT_GROUND_TRUTH = "There is no ground truth: judge the prediction on its own merits (correctness, coherence)."


class LMAsJudge(Reward):
    """A language model critiques the prediction and scores it in [0, 1].

    The model is asked for :data:`JUDGE_SCHEMA` (``{"critique": str, "reward": number}``)
    with a system message (the judge's instructions) and a user message that shows the
    ground truth and the prediction as JSON. With ``y_true=None`` it judges the prediction
    alone. The critique is asked for first so that the model reasons before it scores.

    Args:
        language_model: a ``synaplex.LanguageModel`` or a model string (default: the
            configured default language model).
        instructions: extra criteria for the judge, added to the default instructions
            (e.g. ``"Penalize answers longer than one sentence."``).

    Example:
        >>> synaplex.rewards.LMAsJudge(language_model=lm, in_mask=["answer"])
    """

    def __init__(self, language_model: Any = None, instructions: str | None = None,
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None, name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInputError(f"LMAsJudge: instructions must be a string, got {instructions!r:.80}.")
        self.language_model = resolve_language_model(language_model)
        self.instructions = instructions

    def messages(self, y_true: dict | None, y_pred: dict) -> list[dict]:
        """The chat messages sent to the judge for one example."""
        system = DEFAULT_JUDGE_INSTRUCTIONS + " " + (_WITHOUT_GROUND_TRUTH if y_true is None else _WITH_GROUND_TRUTH)
        if self.instructions:
            system += "\n\nAdditional instructions:\n" + self.instructions
        parts = []
        if y_true is not None:
            parts.append("Ground truth:\n```json\n" + json.dumps(y_true, ensure_ascii=False, indent=2) + "\n```")
        parts.append("Prediction:\n```json\n" + json.dumps(y_pred, ensure_ascii=False, indent=2) + "\n```")
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        judgement = await self.language_model(self.messages(y_true, y_pred), schema=JUDGE_SCHEMA)
        return judgement["reward"]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(language_model=serialize_synaplex_object(self.language_model), instructions=self.instructions)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        config["language_model"] = deserialize_synaplex_object(config.get("language_model"), custom_objects)
        return cls(**config)


class ProgramAsJudge(Reward):
    """A synaplex ``Program`` scores the prediction; its output's ``reward`` field is the score.

    How the program is called:

    * a program with **two inputs** (ground truth, prediction) receives ``[y_true, y_pred]``
      (as in Synalinks; ``y_true`` may be ``None``, which the program's ``|``/``&`` handle);
    * a program with **one input** receives the prediction alone (a judge of the prediction
      on its own).

    Both are the masked plain dicts, validated against the program's input schemas. The
    output (a DataModel, a JsonDataModel or a dict; with several outputs, the first that has
    a ``reward`` field) must have a ``reward`` field in [0, 1]; a missing field or a ``None``
    output raises :class:`RewardError`.

    Example:
        >>> gold = synaplex.Input(data_model=Answer)
        >>> pred = synaplex.Input(data_model=Answer)
        >>> score = await synaplex.Generator(data_model=Score, language_model=lm)(gold + pred)
        >>> judge = synaplex.Program(inputs=[gold, pred], outputs=score)
        >>> synaplex.rewards.ProgramAsJudge(program=judge)
    """

    def __init__(self, program: Any = None, in_mask: list[str] | None = None, out_mask: list[str] | None = None,
                 name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if not isinstance(program, Trainable):  # every Program is Trainable (programs sit above training)
            raise InvalidInputError(f"ProgramAsJudge: program must be a synaplex.Program, got {program!r:.80}.")
        self.program = program

    def _inputs(self, y_true: dict | None, y_pred: dict) -> Any:
        graph = getattr(self.program, "_graph", None)
        if graph is None:  # a subclassed program: its call() gets the values, typed by themselves
            return [None if v is None else JsonDataModel(json=v, schema=value_schema(v)) for v in (y_true, y_pred)]
        if len(graph.inputs) == 1:
            return convert_input(y_pred, graph.inputs[0], self.program.name)
        if len(graph.inputs) != 2:
            raise InvalidInputError(
                f"ProgramAsJudge: the judge program {self.program.name!r} has {len(graph.inputs)} inputs; it "
                "must have two (ground truth, prediction) or one (prediction)."
            )
        # Validated against the program's own input schemas (a bad field fails here, by name).
        return [convert_input(v, spec, self.program.name) for v, spec in zip((y_true, y_pred), graph.inputs)]

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        outputs = await self.program(self._inputs(y_true, y_pred))
        candidates = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        fields: list[str] = []
        for output in candidates:
            value = to_json_value(output, f"ProgramAsJudge {self.name!r}: the program's output")
            if value is not None and "reward" in value:
                return value["reward"]
            fields.extend(value or [])
        if all(output is None for output in candidates):
            raise RewardError(
                f"Reward {self.name!r}: the judge program {self.program.name!r} returned None (no branch "
                "produced an output), so there is no reward. Make its output always present."
            )
        raise RewardError(
            f"Reward {self.name!r}: the judge program {self.program.name!r} returned no 'reward' field "
            f"(its fields: {', '.join(map(repr, fields)) or 'none'}). Give its output DataModel a field "
            "`reward: float` in [0, 1]."
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config["program"] = serialize_synaplex_object(self.program)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        config["program"] = deserialize_synaplex_object(config.get("program"), custom_objects)
        return cls(**config)


class FunctionWrapping:
    """What function wrappers share (rewards and metrics): calling ``fn`` (sync or async) with
    its saved keyword arguments, and saving ``fn`` through the registry."""

    fn: Any
    fn_kwargs: dict

    async def call_fn(self, y_true: dict | None, y_pred: dict | None) -> Any:
        result = self.fn(y_true, y_pred, **self.fn_kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def get_config(self) -> dict:
        config = super().get_config()
        config["fn"] = serialize_synaplex_object(self.fn)
        config["fn_kwargs"] = serialize_synaplex_object(self.fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        fn = deserialize_synaplex_object(config.pop("fn", None), custom_objects)
        fn_kwargs = deserialize_synaplex_object(config.pop("fn_kwargs", None) or {}, custom_objects)
        return cls(fn, **config, **fn_kwargs)


class RewardFunctionWrapper(FunctionWrapping, Reward):
    """A reward from a function ``fn(y_true, y_pred, **kwargs)``, async or not.

    ``fn`` receives the masked plain dicts (``y_true`` may be ``None`` when there is no
    ground truth; ``y_pred`` never is) and returns a number in [0, 1]. To save a program
    compiled with it, register the function with
    ``@synaplex.saving.register_synaplex_serializable()``; saving with an unregistered
    function (a lambda, a local function) raises a ``SavingError`` that says so.

    Args:
        fn: the reward function.
        name: the reward's name (default: the function's name).
        in_mask, out_mask: see :class:`Reward`.
        **kwargs: extra keyword arguments passed to ``fn`` on every call (saved with it, so
            they must be JSON values or serializable synaplex objects).

    Example:
        >>> @synaplex.saving.register_synaplex_serializable()
        ... async def my_reward(y_true, y_pred):
        ...     return 1.0 if y_true.get("answer") == y_pred.get("answer") else 0.0
        >>> synaplex.rewards.RewardFunctionWrapper(my_reward)
    """

    def __init__(self, fn: Any = None, name: str | None = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None, **kwargs: Any):
        if not callable(fn):
            raise InvalidInputError(
                f"{type(self).__name__}: fn must be a function fn(y_true, y_pred) returning a number in [0, 1], "
                f"got {fn!r:.80}."
            )
        super().__init__(name=name or getattr(fn, "__name__", None) or None, in_mask=in_mask, out_mask=out_mask)
        self.fn = fn
        self.fn_kwargs = kwargs

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        return await self.call_fn(y_true, y_pred)

    def __repr__(self):
        return f"<{type(self).__name__} fn={getattr(self.fn, '__qualname__', self.fn)!r} name={self.name!r}>"


class MeanRewardWrapper(RewardFunctionWrapper):
    """The seed's name for :class:`RewardFunctionWrapper` (identical behaviour).

    In Synalinks it is the function wrapper with a ``"mean"`` reduction. Here a reward
    call scores one example and returns one number; the trainer averages the rewards of a
    batch and of an epoch, so the mean reduction is what always happens.

    Example:
        >>> program.compile(reward=synaplex.rewards.MeanRewardWrapper(fn=my_reward), ...)
    """


# --- lookup and serialization ------------------------------------------------------------

_BUILT_INS: dict[str, type] = {
    "exact_match": ExactMatch,
    "cosine_similarity": CosineSimilarity,
    "lm_as_judge": LMAsJudge,
}


def serialize(reward: Reward) -> dict:
    """A reward's JSON config (through the serialization registry)."""
    return serialize_synaplex_object(reward)


def deserialize(config: dict, custom_objects: dict | None = None) -> Reward:
    """The reward that :func:`serialize` described."""
    return deserialize_synaplex_object(config, custom_objects)


def get(identifier: Any) -> Reward:
    """Resolve a reward from an instance, a string id, a config dict or a function.

    Strings: ``"exact_match"``, ``"cosine_similarity"``, ``"lm_as_judge"`` (or the class
    names ``"ExactMatch"``…), built with their defaults (the default embedding and language
    models). A function becomes a :class:`RewardFunctionWrapper`.

    Example:
        >>> synaplex.rewards.get("exact_match")
        <ExactMatch name='exact_match'>
    """
    if isinstance(identifier, Reward):
        return identifier
    if isinstance(identifier, str):
        cls = _BUILT_INS.get(identifier) or _BUILT_INS.get(to_snake_case(identifier))
        if cls is None:
            valid = sorted(_BUILT_INS) + sorted(c.__name__ for c in _BUILT_INS.values())
            raise InvalidInputError(
                f"Unknown reward {identifier!r}. Valid names: {', '.join(map(repr, valid))}; or pass a "
                "Reward instance (e.g. synaplex.rewards.ExactMatch(in_mask=['answer'])) or a reward function."
            )
        return cls()
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
        f"{', '.join(map(repr, sorted(_BUILT_INS)))}, a config dict or a function fn(y_true, y_pred)."
    )
