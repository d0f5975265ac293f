"""RandomFewShot: few-shot examples sampled from the program's own well-rewarded calls."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.optimizers.optimizer import (
    Optimizer,
    candidate_key,
    canonical,
    check_int,
    check_number,
    copy_json,
    trace_record,
)

LABEL_REWARD = 1.0  # a labeled example is the expected output itself: it ranks with the best calls
DRAWS_PER_CANDIDATE = 4  # draws tried for each extra example set before the pool counts as exhausted


def _labels_output(trace) -> bool:
    target = getattr(trace, "target", None)
    return isinstance(target, dict) and isinstance(trace.outputs, dict) and bool(target) \
        and set(target) == set(trace.outputs)


def _covers_target(trace) -> bool:
    """The module's outputs have every field of the example's ``y`` (and maybe more)."""
    target = getattr(trace, "target", None)
    return isinstance(target, dict) and isinstance(trace.outputs, dict) and bool(target) \
        and set(target) <= set(trace.outputs)


_SAMPLING_WHY = ("examples are drawn uniformly at random from the pool of well-rewarded calls; raise min_reward "
                 "to keep only the best calls in it.")


class RandomFewShot(Optimizer):
    """The baseline optimizer: no LM calls of its own, it only rewrites the ``examples``.

    Each trainable variable with an ``examples`` list (a Generator's state) keeps a pool of
    ``(inputs, outputs)`` pairs from the traces *that variable* produced:

    * **labeled examples**: a trace whose output fields are exactly the example's ``y`` (the
      module that produced the program's answer) enters with ``y`` as its output, right or
      wrong, so a program that starts with every answer wrong still learns, and a partly
      right answer is never shown as an example;
    * **correct predictions**: any other trace rewarded at least ``min_reward`` enters with
      its outputs (the fields of ``y`` it has taken from ``y``).

    For each batch it tries a random number of examples (between ``nb_min_examples`` and
    ``nb_max_examples``, fewer when the pool is smaller) drawn from the pool; while the pool
    is empty the variable keeps its value. Instructions are never touched.

    In ``fit``, after each batch the candidate tried on it and up to ``nb_candidates - 1``
    other example sets drawn from the pool (which the batch has just grown; fewer when the
    pool does not hold that many distinct sets) are scored on the selection set, and at each
    epoch end the program takes the best candidate measured there, its starting point
    included (see :class:`~synaplex.training.optimizers.Optimizer`).

    Args:
        few_shot_learning: whether to optimize the examples (the only thing this optimizer
            does; ``False`` makes it a no-op that keeps the variables as they are).
        nb_min_examples: the fewest examples per candidate (>= 0).
        nb_max_examples: the most examples per candidate (>= nb_min_examples).
        min_reward: the reward a trace needs to enter the pool (0 to 1, default 0.5: with
            exact-match rewards, only correct answers become examples).
        max_pool_size: the most pairs kept per variable; the lowest-rewarded (oldest first)
            go when the pool is full.
        nb_candidates: how many example sets are compared on the selection set after each
            batch (>= 1): the one tried on the batch and ``nb_candidates - 1`` more.
        name: the optimizer's name.
        seed: the seed of its random generator.
        description: a description (Synalinks' argument).
        sampling: Synalinks' argument; only ``"random"`` (uniform sampling from the pool,
            what this optimizer does) is accepted.

    Example:
        >>> program.compile(reward=..., optimizer=synaplex.optimizers.RandomFewShot(seed=0))
    """

    UNSUPPORTED_ARGUMENTS = {
        "sampling_temperature": _SAMPLING_WHY,
        "population_size": "this optimizer keeps one best candidate per variable (its pool of examples holds up to "
                           "max_pool_size calls).",
    }

    def __init__(self, few_shot_learning: bool = True, nb_min_examples: int = 1, nb_max_examples: int = 3,
                 min_reward: float = 0.5, max_pool_size: int = 100, name: str | None = None,
                 seed: int | None = None, description: str | None = None, sampling: str = "random",
                 nb_candidates: int = 3, **kwargs: Any):
        super().__init__(name=name, seed=seed, description=description, **kwargs)
        if sampling != "random":
            raise InvalidInputError(
                f"{type(self).__name__}(sampling={sampling!r}) is not supported: examples are drawn uniformly at "
                "random from the pool of well-rewarded calls (sampling='random'); the pool itself keeps only calls "
                "rewarded at least min_reward.")
        if not isinstance(few_shot_learning, bool):
            raise InvalidInputError(f"few_shot_learning must be True or False, got {few_shot_learning!r:.100}.")
        check_int("nb_min_examples", nb_min_examples, 0)
        check_int("nb_max_examples", nb_max_examples, 0)
        if nb_min_examples > nb_max_examples:
            raise InvalidInputError(
                f"nb_min_examples ({nb_min_examples}) must be <= nb_max_examples ({nb_max_examples}).")
        self.few_shot_learning = few_shot_learning
        self.nb_min_examples = nb_min_examples
        self.nb_max_examples = nb_max_examples
        self.min_reward = check_number("min_reward", min_reward, 0.0, 1.0)
        self.max_pool_size = check_int("max_pool_size", max_pool_size, 1)
        self.nb_candidates = check_int("nb_candidates", nb_candidates, 1)

    # --- per variable -------------------------------------------------------------------------

    def handles(self, variable: Any) -> bool:
        return self.handles_examples(variable)

    def handles_examples(self, variable: Any) -> bool:
        return self.few_shot_learning and isinstance(variable.get_json().get("examples"), list)

    def init_slot(self, path: str, variable: Any) -> dict:
        return {"pool": []}

    def add_to_pool(self, path: str, traces: list) -> None:
        """Add this variable's labeled examples and correct predictions to its pool."""
        pool = self._slots[path].setdefault("pool", [])
        index = {canonical([e["inputs"], e["outputs"]]): e for e in pool}
        for trace in traces:
            if trace.reward is None or trace.outputs is None:
                continue
            if _labels_output(trace):  # y is this module's whole output: a labeled example, right or wrong
                record = {"inputs": copy_json(trace.inputs), "outputs": copy_json(trace.target),
                          "reward": LABEL_REWARD}
            elif float(trace.reward) >= self.min_reward:
                record = trace_record(trace)
                if _covers_target(trace):  # the fields y holds are taken from y
                    record["outputs"].update(copy_json(trace.target))
            else:
                continue
            key = canonical([record["inputs"], record["outputs"]])
            if key in index:
                index[key]["reward"] = max(index[key]["reward"], record["reward"])
                continue
            pool.append(record)
            index[key] = record
        while len(pool) > self.max_pool_size:
            lowest = min(range(len(pool)), key=lambda i: (pool[i]["reward"], i))
            pool.pop(lowest)

    def sample_examples(self, path: str) -> list[dict] | None:
        """Between nb_min and nb_max examples from the pool; ``None`` when the pool is empty."""
        pool = self._slots[path].get("pool") or []
        if not pool:
            return None
        count = min(self.rng.randint(self.nb_min_examples, self.nb_max_examples), len(pool))
        # in pool order, so that the same examples make the same candidate
        chosen = sorted(self.rng.sample(range(len(pool)), count))
        return [{"inputs": copy_json(pool[i]["inputs"]), "outputs": copy_json(pool[i]["outputs"])} for i in chosen]

    async def propose_candidates(self, epoch: int, step: int) -> dict[str, dict | None]:
        candidates: dict[str, dict | None] = {}
        for path, variable in self._variables.items():
            examples = self.sample_examples(path)
            if examples is None:
                candidates[path] = None
                continue
            candidate = copy_json(variable.get_json())
            candidate["examples"] = examples
            candidates[path] = candidate
        return candidates

    async def learn(self, path: str, variable: Any, candidate: dict, score: float, traces: list) -> None:
        if self.handles_examples(variable):
            self.add_to_pool(path, traces)

    async def selection_candidates(self, epoch: int, step: int) -> list[dict[str, dict]]:
        """The candidate tried on the batch, then up to ``nb_candidates - 1`` others: the same
        value with other example sets drawn from the pools, each one not measured yet."""
        candidates = await super().selection_candidates(epoch, step)
        if not candidates:
            return candidates
        tried = candidates[0]
        paths = [path for path, variable in self._variables.items()
                 if self.handles_examples(variable) and self._slots[path].get("pool") and path in tried]
        if not paths:
            return candidates
        measured = self.selection_cache if self._selection is not None else {}
        seen = {candidate_key(tried)}
        draws = DRAWS_PER_CANDIDATE * (self.nb_candidates - 1)
        while len(candidates) < self.nb_candidates and draws > 0:
            draws -= 1
            variant = copy_json(tried)
            for path in paths:
                variant[path]["examples"] = self.sample_examples(path)
            key = candidate_key(variant)
            if key in seen or key in measured:
                continue
            seen.add(key)
            candidates.append(variant)
        return candidates

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(few_shot_learning=self.few_shot_learning, nb_min_examples=self.nb_min_examples,
                      nb_max_examples=self.nb_max_examples, min_reward=self.min_reward,
                      max_pool_size=self.max_pool_size, nb_candidates=self.nb_candidates)
        return config
