"""Optimizer: the base of the in-context optimizers that ``Program.fit`` drives.

An optimizer rewrites a program's trainable Variables (a Generator's ``instructions`` and
few-shot ``examples``) between training batches, and keeps the best value it has seen for
each variable. The trainer calls, in this order::

    await optimizer.build(program)                 # once, at the start of fit
    for each epoch:
        for each batch:
            await optimizer.propose(epoch, step)   # assign a candidate to each variable
            ...run the batch with training=True, collecting traces, compute rewards...
            await optimizer.update(rewards, traces)
        await optimizer.on_epoch_end(epoch)        # assign each variable its best candidate

Each variable is optimized on its own (its own pool, population and best candidate), so the
branches of a Branch specialize. A variable's candidate is scored with the mean reward of
the traces that variable produced in the batch (the examples it took part in); a variable
that produced no trace in the batch gets the mean reward of the whole batch.

**The selection set.** Training batches differ, so their rewards do not compare candidates:
an empty candidate that met an easy batch would beat a good one that met a hard batch.
``Program.fit`` therefore compares candidates on one shared *selection set*::

    optimizer.begin_selection(start)               # the variables' values before training
    ...the trainer scores `start` on the selection set, record_selection(start, score, rewards, keys)...
    after each batch's update():
        for candidate in await optimizer.selection_candidates(epoch, step):
            ...scored (cached) on the examples it is judged on, record_selection(candidate, ...)...

A candidate replaces the best only when it is better on the examples both were judged on by a
one-sided sign test at the selection's ``alpha`` (see :func:`selection_beats`).

A selection candidate is *joint*: ``{path: value}`` for every variable the optimizer
rewrites, since the selection set scores the whole program. While a selection is active,
:meth:`on_epoch_end` assigns its best candidate (the starting point included, ties going
to the simpler candidate: fewer examples, then shorter instructions), never one picked by
training-batch rewards. Driven without a selection (``propose``/``update``/``on_epoch_end``
alone, or ``train_on_batch`` without validation data), each variable keeps the candidate
with its best training-batch score, as before.

All randomness goes through ``optimizer.rng`` (``random.Random(seed)``), and
:meth:`get_state` / :meth:`set_state` carry everything (pools, populations, best
candidates, the random generator), so a restored optimizer proposes exactly what the
original would have.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import random
import re
from typing import Any

from synaplex.backend.errors import InvalidInputError

_log = logging.getLogger("synaplex.optimizers")

STATE_FORMAT = 1


def snake_case(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (also checks that it is JSON)."""
    return json.loads(json.dumps(value))


def canonical(value: Any) -> str:
    """A canonical JSON text of ``value``: equal values give equal texts."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def rng_state_to_json(rng: random.Random) -> list:
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def rng_state_from_json(data: Any) -> tuple:
    if not (isinstance(data, (list, tuple)) and len(data) == 3 and isinstance(data[1], (list, tuple))):
        raise InvalidInputError(f"The optimizer state's 'rng' is not a saved random state: {data!r:.100}")
    return (data[0], tuple(data[1]), data[2])


def check_int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_number(name: str, value: Any, low: float, high: float | None = None, low_inclusive: bool = True,
                 why: str = "") -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = f"{'>=' if low_inclusive else '>'} {low}" + (f" and <= {high}" if high is not None else "")
        raise InvalidInputError(f"{name} must be a number {bound}, got {value!r}.{(' ' + why) if why else ''}")
    return float(value)


def candidate_key(candidate: dict) -> str:
    """A short key of a (joint) candidate: equal values, equal keys (the selection cache's key)."""
    return hashlib.sha1(canonical(candidate).encode()).hexdigest()


def complexity(candidate: dict) -> tuple[int, int]:
    """How complex a joint candidate is: (examples in all, characters of instructions in all).
    Of two candidates that score the same on the selection set, the less complex is kept."""
    examples = instructions = 0
    for value in candidate.values():
        if isinstance(value, dict):
            if isinstance(value.get("examples"), list):
                examples += len(value["examples"])
            if isinstance(value.get("instructions"), str):
                instructions += len(value["instructions"])
    return examples, instructions


SCORE_TOLERANCE = 1e-9  # selection scores closer than this are a tie
# fit's selection_alpha by default: the one-sided sign test's level. Measured on bench/training.py (person task,
# 16 examples, 5 seeds): a plain higher mean kept a demonstration lucky on 4 held-out examples and ended a run
# below zero-shot; the paired test at 5% on the training examples that are not demonstrations did not.
DEFAULT_ALPHA = 0.05


def paired_margin(rewards: list[float], best_rewards: list[float]) -> int:
    """Wins minus losses of one candidate over another, example by example: how many selection
    examples it scores higher on, less how many it scores lower on (ties count for neither)."""
    wins, losses = wins_losses(rewards, best_rewards)
    return wins - losses


def wins_losses(rewards: list[float], best_rewards: list[float]) -> tuple[int, int]:
    """How many examples one candidate scores higher on than another, and how many lower."""
    wins = sum(a > b + SCORE_TOLERANCE for a, b in zip(rewards, best_rewards))
    losses = sum(a < b - SCORE_TOLERANCE for a, b in zip(rewards, best_rewards))
    return wins, losses


def sign_test_p(wins: int, losses: int) -> float:
    """The one-sided exact sign test's p-value: the chance of ``wins`` or more wins in
    ``wins + losses`` untied examples if neither candidate were better (each a fair coin).
    Ties carry no information on which is better and are left out; no example: 1.0.

    Example:
        >>> sign_test_p(5, 0), sign_test_p(1, 0), sign_test_p(6, 1)
        (0.03125, 0.5, 0.0625)
    """
    n = wins + losses
    if n == 0 or wins <= 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n


def _keyed(rewards: list[float], keys: list[str] | None) -> dict[str, float]:
    return dict(zip(keys if keys is not None else [str(i) for i in range(len(rewards))], rewards))


def paired(rewards: list[float], keys: list[str] | None, other: dict) -> tuple[list[float], list[float]] | None:
    """The rewards of a candidate and of ``other`` (``{"rewards", "keys"}``) on the examples both
    were judged on, in the same order; ``None`` when ``other`` has no per-example rewards."""
    if other.get("rewards") is None:
        return None
    mine, theirs = _keyed(rewards, keys), _keyed(other["rewards"], other.get("keys"))
    common = [key for key in mine if key in theirs]
    return [mine[key] for key in common], [theirs[key] for key in common]


def selection_beats(score: float, candidate: dict, best: dict | None, rewards: list[float] | None = None,
                    margin: int = 0, alpha: float = 1.0, keys: list[str] | None = None,
                    start: dict | None = None) -> bool:
    """Whether a candidate scoring ``score`` replaces ``best`` (``{"value", "score"}``, and its
    per-example ``"rewards"`` and their example ``"keys"`` when known).

    With the per-example rewards of both, they are compared on the examples **both** were
    judged on (``keys``; without keys, position by position), and a candidate replaces the
    best only when all of these hold there:

    * its mean is higher (a lower or equal mean never wins, but for ties below);
    * the one-sided sign test on its wins and losses gives ``p <= alpha``
      (:func:`sign_test_p`; ``alpha=1``: no test, any higher mean);
    * it wins at least ``margin`` more examples than it loses;
    * against ``start`` (the starting point's record, when given and not ``best``): its mean
      on the examples both were judged on is not lower. So no kept candidate is below the
      start where both were judged.

    The same mean and a simpler candidate (fewer examples, then shorter instructions) wins:
    ties keep the simpler candidate. Candidates with no example in common cannot be compared:
    the best stays. Without per-example rewards, the means ``score`` and ``best["score"]`` decide.
    """
    if best is None:
        return True
    pairs = paired(rewards, keys, best) if rewards is not None else None
    if pairs is not None:
        mine, theirs = pairs
        if not mine:
            return False
        difference = sum(mine) / len(mine) - sum(theirs) / len(theirs)
    else:
        difference = score - best["score"]
    if difference > SCORE_TOLERANCE:
        if pairs is not None:
            wins, losses = wins_losses(*pairs)
            if (margin > 0 and wins - losses < margin) or (alpha < 1 and sign_test_p(wins, losses) > alpha):
                return False
        if start is not None and rewards is not None:
            against = paired(rewards, keys, start)
            if against is not None and against[0] and \
                    sum(against[0]) / len(against[0]) < sum(against[1]) / len(against[1]) - SCORE_TOLERANCE:
                return False
        return True
    if difference < -SCORE_TOLERANCE:
        return False
    return complexity(candidate) < complexity(best["value"])


def check_alpha(alpha: Any) -> float:
    """``fit``'s ``selection_alpha``: a number in (0, 1]."""
    return check_number("selection_alpha", alpha, 0.0, 1.0, low_inclusive=False,
                        why="It is the one-sided sign test's level a candidate must reach to replace the best "
                            "(0.05 by default; 1: any higher mean).")


def trace_record(trace: Any) -> dict:
    """What the optimizers keep of a trace: its inputs, outputs and reward (JSON)."""
    return {"inputs": copy_json(trace.inputs), "outputs": copy_json(trace.outputs),
            "reward": None if trace.reward is None else float(trace.reward)}


class Optimizer:
    """The base class of optimizers: per-variable bookkeeping, best candidates, state.

    Subclasses say which variables they handle (:meth:`handles`), what they keep per
    variable (:meth:`init_slot`), how they propose a candidate (:meth:`propose_candidates`)
    and what they learn from a scored batch (:meth:`learn`).

    Args:
        name: the optimizer's name (default: its class name in snake case).
        seed: the seed of the optimizer's random generator, for reproducible training.
        description: a description of the optimizer (Synalinks' argument; kept in its config).

    Attributes:
        iterations: how many batches (``update`` calls) the optimizer has learned from.
        rng: the optimizer's ``random.Random``; all its randomness goes through it.
    """

    # Synalinks arguments this optimizer does not take, and why (said when one is passed)
    UNSUPPORTED_ARGUMENTS: dict[str, str] = {}

    def __init__(self, name: str | None = None, seed: int | None = None, description: str | None = None,
                 **kwargs: Any):
        if kwargs:
            self._refuse(kwargs)
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"An optimizer's name must be a string, got {name!r:.100}.")
        if description is not None and not isinstance(description, str):
            raise InvalidInputError(f"An optimizer's description must be a string, got {description!r:.100}.")
        self.description = description
        self.name = name or snake_case(type(self).__name__)
        self.seed = seed  # also creates self.rng
        self.iterations = 0
        self.built = False
        self._variables: dict[str, Any] = {}
        self._slots: dict[str, dict] = {}
        self._pending: dict[str, dict] = {}
        self._tried: dict[str, dict] = {}
        self._selection: dict | None = None

    @property
    def seed(self) -> int | None:
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        """Setting the seed (``fit(seed=...)`` does, for an optimizer built without one)
        restarts the optimizer's random generator from it."""
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidInputError(f"seed must be an integer or None, got {value!r:.100}.")
        self._seed = value
        self.rng = random.Random(value)

    def _refuse(self, kwargs: dict) -> None:
        cls = type(self).__name__
        for key in kwargs:
            if key in self.UNSUPPORTED_ARGUMENTS:
                raise InvalidInputError(f"{cls}({key}=...) is not supported: {self.UNSUPPORTED_ARGUMENTS[key]}")
        accepted = [p for p in inspect.signature(type(self).__init__).parameters
                    if p not in ("self", "kwargs")]
        raise InvalidInputError(
            f"{cls} got unknown argument(s) {', '.join(map(repr, kwargs))}. It takes: {', '.join(accepted)}.")

    # --- what a subclass defines ------------------------------------------------------------

    def handles(self, variable: Any) -> bool:
        """Whether this optimizer rewrites ``variable`` (it has the fields it optimizes)."""
        return False

    def init_slot(self, path: str, variable: Any) -> dict:
        """The JSON state kept for one variable (its pool, its population...)."""
        return {}

    async def propose_candidates(self, epoch: int, step: int) -> dict[str, dict | None]:
        """A candidate value per variable path; ``None`` keeps the variable's current value."""
        return {}

    async def learn(self, path: str, variable: Any, candidate: dict, score: float, traces: list) -> None:
        """Learn from a scored candidate: ``traces`` are this variable's traces of the batch."""

    # --- the trainer's calls ----------------------------------------------------------------

    @property
    def variables(self) -> dict[str, Any]:
        """The variables this optimizer rewrites, by path (after :meth:`build`)."""
        return dict(self._variables)

    async def build(self, program: Any) -> None:
        """Find the program's trainable variables that this optimizer handles.

        Called at the start of ``fit``. State already held for a path (a previous fit, or
        :meth:`set_state`) is kept.
        """
        if not hasattr(program, "trainable_variable_items"):
            raise InvalidInputError(
                f"{type(self).__name__}.build() takes the Program to train, got {type(program).__name__}.")
        self._variables = {path: variable for path, variable in program.trainable_variable_items()
                           if self.handles(variable)}
        for path, variable in self._variables.items():
            slot = self.init_slot(path, variable)
            slot.update(self._slots.get(path, {}))
            slot.setdefault("best", None)
            self._slots[path] = slot
        self._pending = {}
        self.built = True
        if not self._variables:
            _log.info("%s: the program has no trainable variable it can optimize.", self.name)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise InvalidInputError(
                f"{type(self).__name__}.{what}() was called before build(program): build the optimizer "
                "on the program first (Program.fit does it).")

    async def propose(self, epoch: int, step: int) -> None:
        """Assign a candidate value to each variable, to be tried on the next batch."""
        self._require_built("propose")
        candidates = await self.propose_candidates(epoch, step)
        self._pending = {}
        for path, variable in self._variables.items():
            candidate = candidates.get(path)
            if candidate is not None:
                variable.assign(candidate)
            self._pending[path] = copy_json(variable.get_json())

    def variable_scores(self, rewards: list[float], traces: list) -> dict[str, float]:
        """Each variable's score for the batch: the mean reward of its traces, else of the batch."""
        batch = [float(r) for r in rewards]
        traced = [float(t.reward) for t in traces if t.reward is not None]
        overall = mean(batch) if batch else (mean(traced) if traced else 0.0)
        scores = {}
        for path, variable in self._variables.items():
            own = [float(t.reward) for t in traces if t.variable is variable and t.reward is not None]
            scores[path] = mean(own) if own else overall
        return scores

    async def update(self, rewards: list[float], traces: list) -> None:
        """Score the candidates just tried, learn from the batch's traces, track the best."""
        self._require_built("update")
        if not isinstance(rewards, (list, tuple)) or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) for r in rewards):
            raise InvalidInputError(f"update() takes the batch's rewards as a list of numbers, got {rewards!r:.200}.")
        traces = list(traces or [])
        self.iterations += 1
        scores = self.variable_scores(rewards, traces)
        tried = {}
        for path, variable in self._variables.items():
            candidate = self._pending.get(path)
            if candidate is None:
                candidate = copy_json(variable.get_json())
            own = [t for t in traces if t.variable is variable]
            await self.learn(path, variable, candidate, scores[path], own)
            self._track_best(path, candidate, scores[path])
            tried[path] = candidate
        self._tried = tried
        self._pending = {}

    def _track_best(self, path: str, candidate: dict, score: float) -> None:
        slot = self._slots[path]
        best = slot.get("best")
        if best is not None and canonical(best["value"]) == canonical(candidate):
            # The same value tried again: its score is the mean over its trials.
            best["count"] += 1
            best["score"] += (score - best["score"]) / best["count"]
        elif best is None or score > best["score"]:
            slot["best"] = {"value": copy_json(candidate), "score": score, "count": 1}

    async def on_epoch_end(self, epoch: int) -> None:
        """Assign each variable the best candidate found so far: the selection's best while a
        selection is active, else each variable's best training-batch score."""
        self._require_built("on_epoch_end")
        best = self.selection_best()
        if best is not None:
            self.assign(best["value"])
        else:
            for path, variable in self._variables.items():
                slot_best = self._slots[path].get("best")
                if slot_best is not None:
                    variable.assign(slot_best["value"])
        self._pending = {}

    def best_candidates(self) -> dict[str, dict]:
        """``{path: {"value": ..., "score": ...}}``: the best candidate of each variable so far
        (with a selection, the selection's best and its score on the selection set)."""
        best = self.selection_best()
        if best is not None:
            return {path: {"value": copy_json(value), "score": best["score"]} for path, value in best["value"].items()}
        return {path: {"value": copy_json(slot["best"]["value"]), "score": slot["best"]["score"]}
                for path, slot in self._slots.items() if slot.get("best") is not None}

    # --- the selection set ------------------------------------------------------------------

    def current(self) -> dict[str, dict]:
        """The joint value of the variables this optimizer rewrites, now: ``{path: value}``."""
        return {path: copy_json(variable.get_json()) for path, variable in self._variables.items()}

    def assign(self, candidate: dict[str, dict]) -> None:
        """Give each variable its value in the joint ``candidate`` (paths it lacks keep theirs)."""
        for path, variable in self._variables.items():
            if path in candidate:
                variable.assign(copy_json(candidate[path]))

    def begin_selection(self, start: dict[str, dict], keep_cache: bool = False, margin: int = 0,
                        alpha: float = DEFAULT_ALPHA) -> None:
        """Start comparing candidates on a selection set, ``start`` (the variables' values
        before training) the first of them. ``keep_cache`` keeps the scores already measured
        (``train_on_batch`` on the same validation data); ``fit`` starts afresh. ``margin``:
        how many more selection examples a candidate must win than lose against the best to
        replace it; ``alpha``: the level of the one-sided sign test it must pass (see
        :func:`selection_beats`; ``fit`` passes its ``selection_margin`` and ``selection_alpha``)."""
        self._require_built("begin_selection")
        check_int("margin", margin, 0)
        alpha = check_alpha(alpha)
        cache = self._selection["cache"] if keep_cache and self._selection else {}
        self._selection = {"start": {"value": copy_json(start), "score": None}, "best": None, "measured": 0,
                           "cache": cache, "seen": [], "margin": margin, "alpha": alpha}

    def end_selection(self) -> None:
        """Stop comparing on the selection set: drop the cached scores (the record of the
        start and the best stays, for :meth:`selection_summary`)."""
        if self._selection is not None:
            self._selection["cache"], self._selection["seen"] = {}, []
            self._selection["active"] = False

    def clear_selection(self) -> None:
        """Forget the selection: the next epoch ends pick by training-batch scores."""
        self._selection = None

    @property
    def selection_active(self) -> bool:
        return self._selection is not None and self._selection.get("active", True)

    @property
    def selection_cache(self) -> dict[str, dict[str, float]]:
        """``{candidate_key: {example_key: reward}}``: the rewards measured on the selection set."""
        if self._selection is None:
            raise InvalidInputError(
                f"{type(self).__name__} has no selection set: call begin_selection(start) first (Program.fit does).")
        return self._selection["cache"]

    async def selection_candidates(self, epoch: int, step: int) -> list[dict[str, dict]]:
        """The joint candidates to score on the selection set after this step: the one just
        tried on the training batch (subclasses add more)."""
        return [copy_json(self._tried)] if self._tried else []

    def record_selection(self, candidate: dict[str, dict], score: float, label: str,
                         rewards: list[float] | None = None, keys: list[str] | None = None) -> bool:
        """Record a candidate's score on the selection set; return whether it is now the best.

        ``rewards``: its reward on each example it was judged on (``score`` is their mean),
        for the paired comparison; ``keys``: those examples' keys (default: the selection
        set's examples in order). The first record is the starting point's. A later candidate
        replaces the best only when :func:`selection_beats` says so (with the selection's
        margin and alpha): a worse one is never kept, nor one not significantly better."""
        if self._selection is None:
            raise InvalidInputError(
                f"{type(self).__name__}.record_selection() was called before begin_selection(start).")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InvalidInputError(f"A selection score must be a finite number, got {score!r:.100}.")
        if rewards is not None:
            if not isinstance(rewards, (list, tuple)) or not rewards or not all(
                    isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) for r in rewards):
                raise InvalidInputError(f"A selection's per-example rewards must be a non-empty list of finite "
                                        f"numbers, got {rewards!r:.100}.")
            rewards = [float(r) for r in rewards]
            if keys is not None and (not isinstance(keys, (list, tuple)) or len(keys) != len(rewards)
                                     or not all(isinstance(k, str) for k in keys)):
                raise InvalidInputError(f"A selection's example keys must be a list of strings, one per reward, got "
                                        f"{keys!r:.100}.")
        if keys is not None:
            keys = list(keys)
        selection = self._selection
        key = candidate_key(candidate)
        seen = selection.setdefault("seen", [])
        if key not in seen:  # how many different candidates were measured
            seen.append(key)
            selection["measured"] += 1
        if selection["start"]["score"] is None and canonical(candidate) == canonical(selection["start"]["value"]):
            selection["start"].update(score=float(score), rewards=rewards, keys=keys)
        self.observe_selection(candidate, float(score))
        start = selection["start"] if selection["start"].get("rewards") is not None else None
        if not selection_beats(float(score), candidate, selection["best"], rewards, selection.get("margin", 0),
                               selection.get("alpha", 1.0), keys, start):
            return False
        examples, characters = complexity(candidate)
        selection["best"] = {"value": copy_json(candidate), "score": float(score), "label": label,
                             "examples": examples, "instruction_characters": characters, "rewards": rewards,
                             "keys": keys}
        return True

    def observe_selection(self, candidate: dict[str, dict], score: float) -> None:
        """A hook: a candidate scored ``score`` on the selection set (OMEGA scores its population so)."""

    def selection_best(self) -> dict | None:
        """``{"value": {path: value}, "score", "label", ...}``: the best candidate measured on the
        selection set, while a selection is active; else ``None``."""
        if not self.selection_active or self._selection["best"] is None:
            return None
        return copy_json(self._selection["best"])

    def selection_summary(self) -> dict | None:
        """What the last selection found: the start's and the best's scores, the winner's
        label, the gain and how many candidates were measured (``None`` without one)."""
        selection = self._selection
        if selection is None or selection["best"] is None:
            return None
        start, best = selection["start"]["score"], selection["best"]
        gain = None if start is None else best["score"] - start
        pairs = paired(best["rewards"], best.get("keys"), selection["start"]) if best.get("rewards") else None
        if start is not None and pairs is not None and pairs[0]:  # on the examples both were judged on
            gain = (sum(pairs[0]) - sum(pairs[1])) / len(pairs[0])
        return {"start": start, "best": best["score"], "gain": gain, "winner": best["label"],
                "examples": best["examples"], "measured": selection["measured"], "margin": selection.get("margin", 0),
                "alpha": selection.get("alpha", 1.0),
                "judged": len(best["rewards"]) if best.get("rewards") is not None else None}

    # --- state ------------------------------------------------------------------------------

    def get_state(self) -> dict:
        """Everything the optimizer has learned, as JSON: restore it with :meth:`set_state`."""
        return {
            "optimizer": type(self).__name__,
            "format": STATE_FORMAT,
            "iterations": self.iterations,
            "rng": rng_state_to_json(self.rng),
            "variables": copy_json(self._slots),
            "selection": copy_json(self._selection),
        }

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s output (before or after :meth:`build`)."""
        if not isinstance(state, dict) or not {"iterations", "rng", "variables"} <= set(state):
            raise InvalidInputError(
                f"{type(self).__name__}.set_state() takes the dict of get_state() (with 'iterations', 'rng' "
                f"and 'variables'), got {state!r:.200}")
        saved = state.get("optimizer")
        if saved is not None and saved != type(self).__name__:
            raise InvalidInputError(
                f"This optimizer state was saved by {saved}, not {type(self).__name__}: compile the program "
                f"with the same optimizer to restore it.")
        if not isinstance(state["variables"], dict):
            raise InvalidInputError(
                f"The optimizer state's 'variables' must be a dict, got {state['variables']!r:.100}")
        self.rng.setstate(rng_state_from_json(state["rng"]))
        self.iterations = int(state["iterations"])
        slots = copy_json(state["variables"])
        for path, variable in self._variables.items():
            slot = self.init_slot(path, variable)
            slot.update(slots.get(path, {}))
            slot.setdefault("best", None)
            slots[path] = slot
        self._slots = slots
        self._pending = {}
        self._tried = {}
        selection = state.get("selection")  # absent from states saved before the selection set
        if selection is not None and not (isinstance(selection, dict)
                                          and {"start", "best", "measured", "cache"} <= set(selection)):
            raise InvalidInputError(f"The optimizer state's 'selection' is not a saved selection: {selection!r:.200}")
        self._selection = copy_json(selection)

    # --- config -----------------------------------------------------------------------------

    def get_config(self) -> dict:
        config = {"name": self.name, "seed": self.seed}
        if self.description is not None:
            config["description"] = self.description
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} iterations={self.iterations}>"
