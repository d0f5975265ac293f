"""The selection set: the examples on which ``fit`` compares every candidate.

Training batches differ: a candidate that met an easy batch scores higher than a better one
that met a hard batch. So ``fit`` scores every candidate the optimizer tries (and the
program's starting point) on one shared set of examples, and keeps the best measured there:

* ``validation_data`` (or the ``validation_split`` slice) when given: its first
  ``selection_size`` examples (all of it by default); every candidate is judged on all of them;
* otherwise **the training examples themselves**: each candidate is judged on every training
  example that is not one of its own demonstrations (a few-shot example with the same
  inputs), so no candidate is judged on an answer it was shown. The **last**
  ``selection_size`` training examples, taken before shuffling (as Keras takes
  ``validation_split``), are also held out of the training batches: they never become
  demonstrations, so every candidate is judged on them. By default a quarter of the
  training examples, at least 1 and at most :data:`MAX_DEFAULT_SIZE`; with a single training
  example nothing is held out.

A candidate replaces the best so far only when, on the examples **both** were judged on, its
mean is higher **and** a one-sided sign test on its wins and losses there (examples it scores
higher and lower on; ties left out) gives ``p <= selection_alpha`` (0.05 by default;
``selection_alpha=1``: any higher mean), **and** it wins at least ``selection_margin`` more
examples than it loses (0 by default), **and** its mean is not below the starting point's on
the examples both were judged on. Ties keep the simpler candidate. See
:func:`~synaplex.training.optimizers.optimizer.selection_beats`. Why a sign test: the rewards
are bounded and often take a few values (0/1, quarters), so differences are mostly ties and
a few steps; the exact sign test needs no normality and no variance estimate (a paired
t-test is undefined when every difference is equal), and 5 wins without a loss are the
fewest that pass at 5%. One lucky example never does.

The rewards measured there are cached per ``(candidate, example)``: a candidate that meets
an example again (the starting point proposed again, an example set drawn twice, a resumed
run) costs no call. An example whose run failed scores 0 and is not cached, so it is tried
again. The calls go through the program as any call does (usage phase ``"selection"``), so
budgets and ``BudgetStopping`` see them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.training.optimizers.optimizer import DEFAULT_ALPHA, candidate_key, canonical, check_alpha

_log = logging.getLogger("synaplex.training")

DEFAULT_FRACTION = 0.25  # of the training examples held out when no validation data is given
MAX_DEFAULT_SIZE = 32  # the default never holds out more: each candidate costs one call per example
# fit's selection_margin by default: a higher mean replaces the best. Measured in bench/training.py (person task,
# 16 examples), a margin of 2 kept as many runs below zero-shot and lost most of the gain.
DEFAULT_MARGIN = 0


def _example_json(value: Any) -> Any:
    if hasattr(value, "get_json"):
        return value.get_json()
    return value


def example_key(x: Any, y: Any) -> str:
    """A short key of one selection example, from its content (``x`` and ``y``)."""
    text = json.dumps([_example_json(x), _example_json(y)], sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha1(text.encode()).hexdigest()


def check_selection_size(selection_size: Any) -> int | None:
    if selection_size is None:
        return None
    if isinstance(selection_size, bool) or not isinstance(selection_size, int) or selection_size < 1:
        raise InvalidInputError(
            f"selection_size must be a positive integer (the number of examples every candidate is compared on) "
            f"or None for the default, got {selection_size!r:.100}.")
    return selection_size


def default_size(count: int) -> int:
    """How many of ``count`` training examples are held out by default."""
    return max(1, min(MAX_DEFAULT_SIZE, int(count * DEFAULT_FRACTION)))


def check_margin(selection_margin: Any, size: int) -> int:
    """``fit``'s ``selection_margin`` (``None``: :data:`DEFAULT_MARGIN`) on a selection set of ``size``.

    Raises:
        InvalidInputError: not an integer >= 0, or larger than the selection set (no
            candidate could ever replace the start).
    """
    if selection_margin is None:
        return DEFAULT_MARGIN
    if isinstance(selection_margin, bool) or not isinstance(selection_margin, int) or selection_margin < 0:
        raise InvalidInputError(
            f"selection_margin must be an integer >= 0 (how many more selection examples a candidate must win "
            f"than lose against the best to replace it; 0: any higher mean) or None for the default, got "
            f"{selection_margin!r:.100}.")
    if selection_margin > size:
        raise InvalidInputError(
            f"selection_margin={selection_margin} is larger than the selection set ({size} examples): no candidate "
            f"could replace the starting point. Give selection_margin <= {size}, or more selection examples.")
    return selection_margin


def usable_alpha(alpha: float, selection: SelectionSet) -> float:
    """``alpha``, or 1.0 (compare means) when the selection set is too small for the sign test
    ever to reach ``alpha``: a clean sweep of ``n`` examples has ``p = 0.5 ** n``, so fewer than
    5 examples can never pass at 0.05 and nothing could ever replace the start. Says so."""
    if alpha < 1.0 and 0.5 ** len(selection) > alpha:
        needed = math.ceil(math.log2(1.0 / alpha))
        _log.warning("The selection set has %d example(s) (%s): too few for the sign test at selection_alpha=%g "
                     "(a candidate needs at least %d examples, all won), so candidates are compared by their mean "
                     "reward instead. Give at least %d validation examples (or more training data) for the test.",
                     len(selection), selection.describe(), alpha, needed, needed)
        return 1.0
    return alpha


def check_selection_alpha(selection_alpha: Any) -> float:
    """``fit``'s ``selection_alpha`` (``None``: :data:`DEFAULT_ALPHA`).

    Raises:
        InvalidInputError: not a number in (0, 1].
    """
    return DEFAULT_ALPHA if selection_alpha is None else check_alpha(selection_alpha)


class SelectionSet:
    """The examples every candidate is scored on, and where they come from.

    Attributes:
        xs, ys: the examples and their expected outputs (``ys`` is ``None`` for a reward
            that needs no ground truth).
        keys: one content key per example (the cache's second key).
        source: ``"validation"`` (every candidate judged on every example) or ``"training"``
            (the training examples: each candidate judged on those that are not its own
            demonstrations).
        held_out: how many of the examples (the last ones) were held out of the training
            batches (``"training"`` only).
    """

    def __init__(self, xs: list, ys: list | None, source: str, held_out: int = 0):
        self.xs, self.ys, self.source, self.held_out = xs, ys, source, held_out
        self.keys = [example_key(x, ys[i] if ys is not None else None) for i, x in enumerate(xs)]
        self._inputs = [canonical(_example_json(x)) for x in xs]

    def __len__(self) -> int:
        return len(self.xs)

    def judged(self, candidate: dict) -> list[int]:
        """The indices of the examples ``candidate`` is judged on: all of the validation data;
        of the training examples, those whose inputs are not those of one of its few-shot
        examples (in any variable)."""
        if self.source == "validation":
            return list(range(len(self)))
        shown = set()
        for value in candidate.values():
            examples = value.get("examples") if isinstance(value, dict) else None
            for example in examples if isinstance(examples, list) else []:
                if isinstance(example, dict) and "inputs" in example:
                    shown.add(canonical(example["inputs"]))
        return [i for i, inputs in enumerate(self._inputs) if inputs not in shown]

    def describe(self) -> str:
        if self.source == "validation":
            return f"{len(self)} example(s) of the validation data"
        return (f"{len(self)} training example(s), each candidate judged on those not among its demonstrations; "
                f"{self.held_out} held out of the training batches")


def split(xs: list, ys: list | None, validation: tuple | None, selection_size: Any) -> tuple[list, list | None,
                                                                                            SelectionSet]:
    """The training examples left and the selection set, for ``fit``'s arguments.

    Raises:
        InvalidInputError: ``selection_size`` is not a positive integer, is larger than the
            validation data, or leaves no training example.
    """
    size = check_selection_size(selection_size)
    if validation is not None:
        val_xs, val_ys = validation
        if size is not None and size > len(val_xs):
            raise InvalidInputError(
                f"selection_size={size} is larger than the validation data ({len(val_xs)} examples): candidates "
                f"are compared on the validation data; give selection_size <= {len(val_xs)}, or None for all of it.")
        size = len(val_xs) if size is None else size
        return xs, ys, SelectionSet(val_xs[:size], val_ys[:size] if val_ys is not None else None, "validation")
    if size is not None and size >= len(xs):
        raise InvalidInputError(
            f"selection_size={size} would hold out {size} of the {len(xs)} training examples and leave none to "
            f"train on: give selection_size <= {len(xs) - 1}, or validation_data=(x_val, y_val) to compare the "
            "candidates on.")
    if size is None and len(xs) < 2:
        _log.warning("fit() has a single training example and no validation data: nothing can be held out, so the "
                     "candidates are compared on that example. Give validation_data to compare them on others.")
        return xs, ys, SelectionSet(xs, ys, "training")
    size = default_size(len(xs)) if size is None else size
    judged = SelectionSet(xs, ys, "training", held_out=size)
    return xs[:-size], ys[:-size] if ys is not None else None, judged


async def measure(candidate: dict, optimizer: Any, selection: SelectionSet,
                  run_examples: Callable[[list[int]], Awaitable[list[dict]]]) -> float:
    """The mean reward of the joint ``candidate`` on the selection set (see :func:`measure_each`)."""
    scores = await measure_each(candidate, optimizer, selection, run_examples)
    return sum(scores) / len(scores)


async def measure_each(candidate: dict, optimizer: Any, selection: SelectionSet,
                       run_examples: Callable[[list[int]], Awaitable[list[dict]]]) -> list[float]:
    """The reward of the joint ``candidate`` on each example of the selection set, in order."""
    return await measure_judged(candidate, optimizer, selection, run_examples, list(range(len(selection))))


async def measure_judged(candidate: dict, optimizer: Any, selection: SelectionSet,
                         run_examples: Callable[[list[int]], Awaitable[list[dict]]],
                         indices: list[int] | None = None) -> list[float]:
    """The reward of the joint ``candidate`` on each example it is judged on (``indices``;
    default :meth:`SelectionSet.judged`), in order.

    The examples not cached for this candidate run with the candidate assigned to the
    variables (``run_examples(indices)`` returns one record ``{"reward", "error"}`` per
    index); the variables get their values back afterwards.
    """
    indices = selection.judged(candidate) if indices is None else indices
    cache = optimizer.selection_cache.setdefault(candidate_key(candidate), {})
    missing = [i for i in indices if selection.keys[i] not in cache]
    failed: dict[str, float] = {}
    if missing:
        before = optimizer.current()
        optimizer.assign(candidate)
        try:
            records = await run_examples(missing)
        finally:
            optimizer.assign(before)
        for i, record in zip(missing, records):
            if record["error"] is None:
                cache[selection.keys[i]] = float(record["reward"])
            else:
                failed[selection.keys[i]] = 0.0
    keys = [selection.keys[i] for i in indices]
    return [cache[key] if key in cache else failed[key] for key in keys]
