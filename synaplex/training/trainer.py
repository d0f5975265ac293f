"""compile / fit / evaluate: in-context training, the Keras way.

A training step (one batch): the optimizer proposes candidate values for the trainable
Variables; the batch's examples run concurrently with ``training=True`` (each module records
a trace of what it saw and produced); the reward scores each prediction against its
``y``; the optimizer reads the rewards and traces. Then the candidate tried on the batch
and the others the optimizer offers are scored on the *selection set*, the same examples
for every candidate (see :mod:`synaplex.training.selection`). At each epoch's end the
program takes the best candidate measured there (its starting point is one), and the
validation data (if any) is evaluated.

Usage is counted per phase: ``inference`` (the program), ``reward`` (judges),
``optimizer`` (mutations, embeddings) and ``selection`` (the program and the reward on the
selection set), and in all (``total_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from typing import Any

from synaplex.backend.asyncio_utils import run_sync
from synaplex.backend.errors import InvalidInputError, SavingError, SynaplexError
from synaplex.lm.base import Usage
from synaplex.lm.usage import track_usage
from synaplex.modules import trace as trace_lib
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training import metrics as metrics_lib
from synaplex.training import optimizers as optimizers_lib
from synaplex.training import rewards as rewards_lib
from synaplex.training import selection as selection_lib
from synaplex.training.callbacks import CallbackList, History
from synaplex.training.trainable import Trainable

_log = logging.getLogger("synaplex.training")

PHASES = ("inference", "reward", "optimizer", "selection")
EVALUATION_PHASES = ("inference", "reward", "optimizer")  # evaluate() compares no candidates


class NotCompiledError(SynaplexError):
    """fit/evaluate called before compile."""


def _as_list(data: Any, name: str) -> list | None:
    if data is None:
        return None
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__") or hasattr(data, "get_json"):
        raise InvalidInputError(f"{name} must be a list (or array) of examples, got {type(data).__name__}.")
    return list(data)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    if hasattr(value, "get_json"):
        return value.get_json()
    raise InvalidInputError(f"Expected a DataModel, JsonDataModel or dict, got {type(value).__name__}: {value!r:.80}.")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _usage_logs(prefix: str, usage: Usage) -> dict:
    return {f"{prefix}_calls": usage.calls, f"{prefix}_tokens": usage.total_tokens, f"{prefix}_cost": usage.cost}


class _Run:
    """The usage of one fit/evaluate run, per phase and in all, and the wall-clock time spent
    in each phase (the union of its intervals: concurrent calls are not counted twice)."""

    def __init__(self):
        self.phases = {phase: Usage() for phase in PHASES}
        self.total = Usage()
        self.intervals: dict[str, list[tuple[float, float]]] = {phase: [] for phase in PHASES}

    def add(self, phase: str, usage: Usage) -> None:
        self.phases[phase].add(usage)
        self.total.add(usage)

    @contextlib.contextmanager
    def timing(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.intervals[phase].append((start, time.perf_counter()))

    def seconds(self, phase: str) -> float:
        total, end = 0.0, -math.inf
        for start, stop in sorted(self.intervals[phase]):
            if stop <= end:
                continue
            total += stop - max(start, end)
            end = stop
        return total

    def snapshot(self) -> Usage:
        copy = Usage()
        copy.add(self.total)
        return copy


class Trainer(Trainable):
    """The training API of a Program: ``compile``, ``fit``, ``evaluate`` (and their ``_sync``
    twins for scripts)."""

    _compiled = False
    reward = None
    optimizer = None
    metrics: list = []

    # --- compile ------------------------------------------------------------------------

    def compile(self, reward: Any = None, optimizer: Any = None, metrics: list | None = None) -> None:
        """Configure training.

        Args:
            reward: a ``Reward`` (or ``BatchReward``), its string id (``"exact_match"``,
                ``"ExactMatch"``), or a function ``(y_true, y_pred) -> float`` in [0, 1],
                async or not (wrapped in ``RewardFunctionWrapper``).
            optimizer: an ``Optimizer`` or its string id (``"random_few_shot"``,
                ``"RandomFewShot"``, ``"omega"`` with default models configured).
            metrics: ``Metric`` objects, metric classes or string ids (``"f1_score"``,
                ``"accuracy"``, ``"RewardCost"``…).

        An unknown id raises ``UnknownIdentifierError`` (an ``InvalidInputError``) listing
        the valid ones.
        """

        if reward is None:
            raise InvalidInputError(
                "compile() needs a reward: e.g. reward=synaplex.rewards.ExactMatch(in_mask=['answer']).")
        if not isinstance(reward, rewards_lib.Reward) and not isinstance(reward, (str, dict)) \
                and not callable(reward):
            raise InvalidInputError(f"reward must be a Reward, a string id or a function, got {reward!r:.80}.")
        reward = rewards_lib.get(reward)
        if optimizer is not None:
            if not isinstance(optimizer, (optimizers_lib.Optimizer, str, dict)):
                raise InvalidInputError(f"optimizer must be an Optimizer or a string id, got {optimizer!r:.80}.")
            optimizer = optimizers_lib.get(optimizer)
        if metrics is not None and (isinstance(metrics, (str, dict)) or not hasattr(metrics, "__iter__")):
            raise InvalidInputError(
                f"metrics must be a list (e.g. metrics=['f1_score']), got {type(metrics).__name__}: {metrics!r:.80}.")
        resolved = [metrics_lib.get(metric) for metric in metrics or []]
        _check_metric_names(resolved)
        self.reward, self.optimizer, self.metrics = reward, optimizer, resolved
        self._compiled = True
        self._optimizer_built = False
        self._pending_optimizer_state = None
        self._batch_state = None

    def _check_compiled(self, what: str) -> None:
        if not self._compiled:
            raise NotCompiledError(
                f"Program {self.name!r} is not compiled: call program.compile(reward=..., optimizer=...) "
                f"before {what}().")

    # --- data ---------------------------------------------------------------------------

    def _examples(self, x: Any, y: Any, what: str) -> tuple[list, list | None]:
        xs = _as_list(x, "x")
        if not xs:
            raise InvalidInputError(f"{what}() needs examples: x is empty.")
        ys = _as_list(y, "y")
        if ys is None and getattr(self.reward, "needs_ground_truth", True):
            raise InvalidInputError(
                f"{what}() needs y: the reward {type(self.reward).__name__} compares each prediction with its "
                "expected output. Pass y=..., or use a reward that judges predictions alone (LMAsJudge).")
        if ys is not None:
            if len(ys) != len(xs):
                raise InvalidInputError(f"x has {len(xs)} examples and y has {len(ys)}; they must be the same length.")
            ys = [_json(v) for v in ys]
            required = self._required_fields()
            for index, value in enumerate(ys):
                missing = [f for f in required if value is None or f not in value]
                if missing:
                    raise InvalidInputError(
                        f"y[{index}] has no field {missing[0]!r}, which the reward's in_mask={required} compares. "
                        "Give every y the fields the reward reads, or change in_mask.")
        return xs, ys

    def _required_fields(self) -> list[str]:
        mask = getattr(self.reward, "in_mask", None)
        return list(mask) if mask else []

    # --- one example ----------------------------------------------------------------------

    async def _score(self, x: Any, y_true: dict | None, run: _Run, training: bool,
                     phase: str | None = None) -> dict:
        """Run one example; return its prediction, reward, traces and error (never raises for
        a failed example: it scores 0 and is logged). A BatchReward scores later, the whole
        batch at once (``reward`` is then ``None`` here). ``phase`` counts the program's and
        the reward's usage under one phase (``"selection"``) instead of theirs."""
        error = None
        with trace_lib.collecting() as traces:
            try:
                with track_usage() as used, run.timing(phase or "inference"):
                    y_pred = await self(x, training=training)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one flaky example must not end a long run: scored 0, logged
                y_pred, error = None, exc
        run.add(phase or "inference", used.total)
        y_pred_json = _json(y_pred) if error is None else None
        if error is not None:
            _log.warning("Program %r failed on an example (scored 0): %s: %s", self.name, type(error).__name__, error)
        record = {"y_pred": y_pred_json, "reward": None, "traces": traces, "error": error, "y_true": y_true}
        if not isinstance(self.reward, rewards_lib.BatchReward):
            with track_usage() as used, run.timing(phase or "reward"):
                reward = 0.0 if error is not None else await self.reward(y_true, y_pred_json)
            run.add(phase or "reward", used.total)
            _set_reward(record, reward)
        return record

    async def _run_batch(self, xs: list, ys: list | None, indices: list[int], run: _Run, training: bool,
                         concurrency: int, phase: str | None = None) -> list[dict]:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(i: int) -> dict:
            async with semaphore:
                return await self._score(xs[i], ys[i] if ys is not None else None, run, training, phase)

        records = await asyncio.gather(*(one(i) for i in indices))
        if isinstance(self.reward, rewards_lib.BatchReward):
            with track_usage() as used, run.timing(phase or "reward"):
                rewards = await self.reward.compute_batch([r["y_true"] for r in records],
                                                          [r["y_pred"] if r["error"] is None else None
                                                           for r in records])
            run.add(phase or "reward", used.total)
            for record, reward in zip(records, rewards):
                _set_reward(record, 0.0 if record["error"] is not None else reward)
        return records

    async def _update_metrics(self, records: list[dict], ys: list | None, indices: list[int]) -> None:
        for metric in self.metrics:
            if hasattr(metric, "update_from_usage"):
                continue
            if isinstance(metric, metrics_lib.BatchMetric):  # the whole batch at once
                if records:
                    await metric.update_state([ys[i] if ys is not None else None for i in indices],
                                              [record["y_pred"] for record in records])
                continue
            for i, record in zip(indices, records):
                await metric.update_state(ys[i] if ys is not None else None, record["y_pred"])

    def _metric_logs(self, run: _Run | None) -> dict:
        logs = {}
        for metric in self.metrics:
            if hasattr(metric, "update_from_usage") and run is not None:
                metric.reset_state()
                metric.update_from_usage(run.phases[metric.phase], run.seconds(metric.phase))
            result = metric.result()
            if isinstance(result, dict):  # per-label results: one log each, as in Synalinks
                logs.update(result)
            else:
                logs[metric.name] = result
        return logs

    def _reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    # --- evaluate -----------------------------------------------------------------------

    async def evaluate(self, x: Any = None, y: Any = None, batch_size: int = 32, verbose: Any = "auto",
                       callbacks: list | None = None, return_dict: bool = True):
        """The mean reward and the metrics on ``(x, y)``: ``{"reward": ..., "<metric>": ..., usage}``."""
        self._check_compiled("evaluate")
        _check_batch_size(batch_size)
        self._batch_state = None
        xs, ys = self._examples(x, y, "evaluate")
        callback_list = CallbackList(callbacks, add_progbar=_verbose(verbose) > 0, program=self,
                                     epochs=1, steps=math.ceil(len(xs) / batch_size), verbose=_verbose(verbose))
        logs = await self._evaluate(xs, ys, batch_size, callback_list)
        return logs if return_dict else [logs["reward"]] + [logs[key] for key in self._metric_keys()]

    async def _evaluate(self, xs: list, ys: list | None, batch_size: int, callback_list,
                        run: _Run | None = None) -> dict:
        run = run or _Run()
        self._reset_metrics()
        rewards: list[float] = []
        errors = 0
        callback_list.on_test_begin({})
        for step, start in enumerate(range(0, len(xs), batch_size)):
            indices = list(range(start, min(start + batch_size, len(xs))))
            callback_list.on_test_batch_begin(step, {})
            records = await self._run_batch(xs, ys, indices, run, training=False, concurrency=batch_size)
            await self._update_metrics(records, ys, indices)
            rewards.extend(r["reward"] for r in records)
            errors += sum(r["error"] is not None for r in records)
            callback_list.on_test_batch_end(step, {"reward": _mean(rewards), **self._metric_logs(run)})
        logs = {"reward": _mean(rewards), **self._metric_logs(run), "errors": errors}
        for phase in EVALUATION_PHASES:
            logs.update(_usage_logs(phase, run.phases[phase]))
        callback_list.on_test_end(logs)
        return logs

    # --- fit ------------------------------------------------------------------------------

    async def fit(self, x: Any = None, y: Any = None, batch_size: int = 32, epochs: int = 1, verbose: Any = "auto",
                  callbacks: list | None = None, validation_split: float = 0.0, validation_data: Any = None,
                  shuffle: bool = True, initial_epoch: int = 0, seed: int | None = None,
                  selection_size: int | None = None, selection_margin: int | None = None,
                  selection_alpha: float | None = None):
        """Train the program's trainable Variables; returns a ``History``.

        Every candidate the optimizer tries, and the program's starting point, is scored on
        one *selection set*: the validation data when given, else the training examples, each
        candidate judged on those that are not its own demonstrations (see
        :mod:`synaplex.training.selection`). Each epoch ends with the best candidate measured
        there. A candidate replaces the best only when, on the examples both were judged on,
        its mean is higher, a one-sided sign test on its wins and losses gives
        ``p <= selection_alpha``, it wins at least ``selection_margin`` more examples than it
        loses, and it is not below the starting point; so ``fit`` never leaves the program
        below where it started on the examples both were judged on. Ties keep the simpler
        candidate (fewer examples, then shorter instructions). ``history.selection`` and the
        ``synaplex.training`` log say which candidate won and by how much (``gain``: on the
        examples both were judged on); the ``selection_reward`` log is its score.

        Args:
            x, y: the training examples and their expected outputs (lists of DataModels or
                dicts, or the numpy object arrays the datasets return).
            batch_size: examples per optimizer step; they run concurrently (within each
                language model's own rate limits).
            epochs: passes over the data. Each ends with the best candidate kept.
            validation_split: the fraction (in (0, 1)) of the examples, taken from the end
                before shuffling as in Keras, held out for validation.
            validation_data: ``(x_val, y_val)``, evaluated at each epoch's end (``val_*`` logs).
            callbacks: ``History`` (always added), a progress bar (``verbose``),
                ``EarlyStopping``, ``ProgramCheckpoint``, ``CSVLogger``, ``BudgetStopping``,
                ``BackupAndRestore``…
            seed: makes shuffling and the optimizer's choices repeatable.
            selection_size: with validation data, how many of its examples (the first)
                the candidates are compared on (default: all of it). Without, how many of
                the training examples (the last) are held out of the training batches, so
                that they are never demonstrations and every candidate is judged on them
                (default: a quarter, at least 1 and at most 32); the candidates are also
                judged on the other training examples that are not their demonstrations.
                Each candidate costs one program call (and reward) per example it is judged
                on, counted in the ``selection_*`` usage logs; a candidate is never run twice
                on the same example.
            selection_margin: how many more examples a candidate must score higher than
                lower on, against the best so far, to replace it (on top of the sign test;
                at most the selection set's size). Default 0: the test alone.
            selection_alpha: the level of the one-sided sign test (in (0, 1]) a candidate
                must pass against the best so far to replace it. Default 0.05; 1 turns the
                test off (any higher mean on the common examples wins).
        """
        self._check_compiled("fit")
        self._batch_state = None
        if self.optimizer is None:
            raise NotCompiledError(f"Program {self.name!r} was compiled without an optimizer: "
                                   "compile(reward=..., optimizer='random_few_shot') to fit it.")
        _check_batch_size(batch_size)
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise InvalidInputError(f"epochs must be a positive integer, got {epochs!r}.")
        if not isinstance(validation_split, (int, float)) or not (validation_split == 0 or 0 < validation_split < 1):
            raise InvalidInputError(f"validation_split must be in (0, 1) (or 0 for none), got {validation_split!r}.")
        xs, ys = self._examples(x, y, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise InvalidInputError("validation_data must be a tuple (x_val, y_val).")
            val = self._examples(validation_data[0], validation_data[1], "fit")
        elif validation_split:
            held = int(len(xs) * validation_split)
            if held < 1 or held >= len(xs):
                raise InvalidInputError(f"validation_split={validation_split} of {len(xs)} examples leaves "
                                        f"{held} for validation and {len(xs) - held} for training; both need one.")
            val = (xs[-held:], ys[-held:] if ys is not None else None)
            xs, ys = xs[:-held], ys[:-held] if ys is not None else None
        xs, ys, selection = selection_lib.split(xs, ys, val, selection_size)
        margin = selection_lib.check_margin(selection_margin, len(selection))
        alpha = selection_lib.usable_alpha(selection_lib.check_selection_alpha(selection_alpha), selection)

        if seed is not None and getattr(self.optimizer, "seed", None) is None and hasattr(self.optimizer, "seed"):
            self.optimizer.seed = seed
        await self._build_optimizer()

        steps = math.ceil(len(xs) / batch_size)
        callback_list = CallbackList(callbacks, add_history=True, add_progbar=_verbose(verbose) > 0, program=self,
                                     epochs=epochs, steps=steps, verbose=_verbose(verbose))
        history = next(c for c in callback_list.callbacks if isinstance(c, History))
        self.stop_training, self.stop_reason, self._training_finished = False, None, False
        self._history = history
        rng = random.Random(seed)
        self._fit_state = {"epoch": initial_epoch, "batch": 0, "order": None, "records": [], "seed": seed,
                           "rng": rng.getstate()}
        self._resume = None
        run = _Run()
        callback_list.on_train_begin({})
        resume = self._resume
        epoch = resume["epoch"] if resume else initial_epoch
        try:
            if resume is None or not self.optimizer.selection_active:  # a resumed run keeps its selection
                self.optimizer.begin_selection(self.optimizer.current(), margin=margin, alpha=alpha)
                await self._select([(self.optimizer.current(), "the starting point")], selection, run, batch_size)
            while epoch < epochs and not self.stop_training:
                if resume is not None:
                    rng.setstate(_rng_state(resume["rng"]))
                if resume is not None and resume["order"] is not None:  # mid-epoch: go on where it stopped
                    order, start_batch, records = resume["order"], resume["batch"], list(resume["records"])
                else:
                    order = list(range(len(xs)))
                    if shuffle:
                        rng.shuffle(order)
                    start_batch, records = 0, []
                resume = None
                self._reset_metrics()
                # after a restore, the epoch's metrics resume from its saved predictions
                await self._update_metrics(records, ys, [r["index"] for r in records])
                callback_list.on_epoch_begin(epoch, {})
                for step in range(start_batch, steps):
                    indices = order[step * batch_size:(step + 1) * batch_size]
                    callback_list.on_train_batch_begin(step, {})
                    before = run.snapshot()
                    batch = await self._optimizer_step(xs, ys, indices, run, epoch, step, batch_size, selection)
                    await self._update_metrics(batch, ys, indices)
                    records.extend({"index": i, "y_pred": r["y_pred"], "reward": r["reward"],
                                    "error": None if r["error"] is None
                                    else f"{type(r['error']).__name__}: {r['error']}"}
                                   for i, r in zip(indices, batch))
                    self._fit_state.update(epoch=epoch, batch=step + 1, order=order, records=records,
                                           rng=rng.getstate())
                    logs = {"reward": _mean([r["reward"] for r in records]), **_usage_logs("total", run.total),
                            **_batch_usage(before, run.total), **self._metric_logs(run)}
                    callback_list.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                with track_usage() as used, run.timing("optimizer"):
                    await self.optimizer.on_epoch_end(epoch)
                run.add("optimizer", used.total)
                logs = {"reward": _mean([r["reward"] for r in records]), **self._metric_logs(run),
                        "errors": sum(r["error"] is not None for r in records)}
                best = self.optimizer.selection_best()
                if best is not None:
                    logs["selection_reward"] = best["score"]
                if val is not None:
                    val_logs = await self._evaluate(val[0], val[1], batch_size, CallbackList([], program=self), run)
                    kept = {"reward", "errors", *self._metric_keys()}
                    logs.update({f"val_{k}": v for k, v in val_logs.items() if k in kept})
                for phase in PHASES:
                    logs.update(_usage_logs(phase, run.phases[phase]))
                logs.update(_usage_logs("total", run.total))
                self._fit_state.update(epoch=epoch + 1, batch=0, order=None, records=[], rng=rng.getstate())
                callback_list.on_epoch_end(epoch, logs)
                epoch += 1
            self._training_finished = True
        finally:  # callbacks close what they opened; _training_finished tells a failure apart
            history.selection = self._end_selection(selection)
            callback_list.on_train_end({})
        if self.stop_reason:
            history.stop_reason = self.stop_reason
        return history

    async def _build_optimizer(self) -> None:
        if not getattr(self, "_optimizer_built", False):
            await self.optimizer.build(self)
            if getattr(self, "_pending_optimizer_state", None):  # a loaded program goes on training
                self.optimizer.set_state(self._pending_optimizer_state)
            self._pending_optimizer_state = None
            self._optimizer_built = True

    async def _optimizer_step(self, xs: list, ys: list | None, indices: list[int], run: _Run, epoch: int,
                              step: int, concurrency: int,
                              selection: selection_lib.SelectionSet | None = None) -> list[dict]:
        """One training step: the optimizer proposes, the batch runs and is scored, the
        optimizer learns from its rewards and traces; then the step's candidates are scored
        on the selection set (when there is one)."""
        with track_usage() as used, run.timing("optimizer"):
            await self.optimizer.propose(epoch, step)
        run.add("optimizer", used.total)
        batch = await self._run_batch(xs, ys, indices, run, training=True, concurrency=concurrency)
        with track_usage() as used, run.timing("optimizer"):
            await self.optimizer.update([r["reward"] for r in batch], [t for r in batch for t in r["traces"]])
            candidates = await self.optimizer.selection_candidates(epoch, step) if selection is not None else []
        run.add("optimizer", used.total)
        where = f"epoch {epoch + 1}, step {step + 1}"
        await self._select([(candidate, f"{where}, " + ("the candidate tried on the batch" if number == 0
                                                        else f"example set {number + 1}"))
                            for number, candidate in enumerate(candidates)], selection, run, concurrency)
        return batch

    async def _select(self, candidates: list[tuple[dict, str]], selection: selection_lib.SelectionSet | None,
                      run: _Run, concurrency: int) -> None:
        """Score each ``(candidate, label)`` on the selection set and record it with the optimizer."""
        if selection is None:
            return

        async def run_examples(indices: list[int]) -> list[dict]:
            return await self._run_batch(selection.xs, selection.ys, indices, run, training=False,
                                         concurrency=concurrency, phase="selection")

        for candidate, label in candidates:
            judged = selection.judged(candidate)
            if not judged:  # every selection example is one of its demonstrations: it cannot be judged
                _log.debug("Selection: %s cannot be judged (every example is one of its demonstrations).", label)
                continue
            rewards = await selection_lib.measure_judged(candidate, self.optimizer, selection, run_examples, judged)
            score = sum(rewards) / len(rewards)
            keys = [selection.keys[i] for i in judged]
            if self.optimizer.record_selection(candidate, score, label, rewards=rewards, keys=keys):
                _log.debug("Selection: %s scored %.4f on the selection set, the best so far.", label, score)

    def _end_selection(self, selection: selection_lib.SelectionSet | None) -> dict | None:
        """Log which candidate won on the selection set and by how much; drop the cache."""
        summary = self.optimizer.selection_summary() if selection is not None else None
        if selection is not None:
            self.optimizer.end_selection()
        if summary is None:
            return None
        summary = {**summary, "size": len(selection), "source": selection.source, "held_out": selection.held_out}
        if summary["start"] is not None:
            _log.info("Program %r: %s won on the selection set (%s): reward %.4f, %+.4f over the starting point "
                      "(%.4f); %d candidate(s) measured.", self.name, summary["winner"], selection.describe(),
                      summary["best"], summary["gain"], summary["start"], summary["measured"])
        return summary

    def _metric_keys(self) -> list[str]:
        """The log names of the metrics, in order (a per-label metric has one per label)."""
        keys = []
        for metric in self.metrics:
            result = metric.result()
            keys.extend(result if isinstance(result, dict) else [metric.name])
        return keys

    # --- one batch (Synalinks' predict_on_batch, test_on_batch, train_on_batch) -----------------

    def reset_metrics(self) -> None:
        """Start the reward and metrics that ``test_on_batch``/``train_on_batch`` accumulate
        afresh (as Keras' ``reset_metrics``)."""
        self._reset_metrics()
        self._batch_state = None

    def _on_batch_state(self) -> dict:
        if getattr(self, "_batch_state", None) is None:
            self._reset_metrics()
            self._batch_state = {"run": _Run(), "rewards": []}
        return self._batch_state

    def _on_batch_result(self, state: dict, return_dict: bool):
        logs = {"reward": _mean(state["rewards"]), **self._metric_logs(state["run"])}
        if return_dict:
            return logs
        ordered = [logs["reward"]] + [logs[key] for key in self._metric_keys()]
        return ordered[0] if len(ordered) == 1 else ordered

    async def predict_on_batch(self, x: Any, training: bool = False) -> list:
        """The program's outputs for one batch of inputs, all run concurrently, in order
        (Synalinks' signature). An example that fails raises its error.

        Example:
            >>> outputs = await program.predict_on_batch([Query(query="a"), Query(query="b")])
        """
        xs = _as_list(x, "x")
        if not isinstance(training, bool):
            raise InvalidInputError(f"training must be True or False, got {training!r}.")
        return list(await asyncio.gather(*(self(item, training=training) for item in xs)))

    async def test_on_batch(self, x: Any, y: Any = None, return_dict: bool = False, y_pred: Any = None):
        """Score one batch: its mean reward and the metrics (Synalinks' signature).

        The reward and the metrics accumulate over the ``test_on_batch``/``train_on_batch``
        calls until :meth:`reset_metrics` (or a ``fit``/``evaluate``), as in Keras 3.

        Args:
            x, y: the batch's inputs and expected outputs.
            return_dict: a dict ``{"reward": ..., "<metric>": ...}``; otherwise a list in
                that order (the reward alone, as a float, when there are no metrics).
            y_pred: the predictions for ``x`` when already computed (the program is then not
                called again).
        """
        self._check_compiled("test_on_batch")
        xs, ys = self._examples(x, y, "test_on_batch")
        state = self._on_batch_state()
        indices = list(range(len(xs)))
        if y_pred is None:
            records = await self._run_batch(xs, ys, indices, state["run"], training=False, concurrency=len(xs))
        else:
            records = await self._score_predictions(_as_list(y_pred, "y_pred"), ys, len(xs), state["run"])
        await self._update_metrics(records, ys, indices)
        state["rewards"].extend(r["reward"] for r in records)
        return self._on_batch_result(state, return_dict)

    async def _score_predictions(self, preds: list, ys: list | None, size: int, run: _Run) -> list[dict]:
        if len(preds) != size:
            raise InvalidInputError(f"y_pred has {len(preds)} predictions for {size} examples; give one per example.")
        preds = [_json(p) for p in preds]
        truths = ys if ys is not None else [None] * size
        with track_usage() as used, run.timing("reward"):
            if isinstance(self.reward, rewards_lib.BatchReward):
                rewards = await self.reward.compute_batch(truths, preds)
            else:
                rewards = [await self.reward(t, p) for t, p in zip(truths, preds)]
        run.add("reward", used.total)
        return [{"y_pred": p, "reward": r, "traces": [], "error": None, "y_true": t}
                for p, r, t in zip(preds, rewards, truths)]

    async def train_on_batch(self, step: int, x: Any, y: Any = None, val_x: Any = None, val_y: Any = None,
                             return_dict: bool = False):
        """One optimization step on one batch (Synalinks' signature).

        The optimizer proposes candidate values for the trainable variables, the batch runs
        with ``training=True`` and is scored, the optimizer learns from it. With
        ``val_x``/``val_y`` the variables' values before the step and the step's candidates
        are compared on the validation data (as ``fit`` compares them on its selection set;
        the scores are cached across calls), and the variables take the best: never worse
        there than before the step. Without, each variable holds the candidate with its best
        training-batch score so far. The returned reward and metrics are the batch's, or,
        with ``val_x``/``val_y``, those of the validation data run after the step; they
        accumulate as :meth:`test_on_batch`'s do.

        Args:
            step: the training step (passed to the optimizer).
            x, y: the batch's inputs and expected outputs.
            val_x, val_y: validation data to score the program on after the step.
            return_dict: as :meth:`test_on_batch`.
        """
        self._check_compiled("train_on_batch")
        if self.optimizer is None:
            raise NotCompiledError(f"Program {self.name!r} was compiled without an optimizer: "
                                   "compile(reward=..., optimizer='random_few_shot') to train it.")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise InvalidInputError(f"step must be an integer >= 0, got {step!r}.")
        xs, ys = self._examples(x, y, "train_on_batch")
        val = None
        if val_x is not None or val_y is not None:
            if val_x is None:
                raise InvalidInputError("train_on_batch got val_y without val_x: give both, or neither.")
            val = self._examples(val_x, val_y, "train_on_batch")
        await self._build_optimizer()
        state = self._on_batch_state()
        run = state["run"]
        indices = list(range(len(xs)))
        selection = None
        if val is not None:  # the candidates are compared on the validation data
            selection = selection_lib.SelectionSet(val[0], val[1], "validation")
            self.optimizer.begin_selection(self.optimizer.current(), keep_cache=True,
                                           margin=selection_lib.DEFAULT_MARGIN,
                                           alpha=selection_lib.usable_alpha(selection_lib.DEFAULT_ALPHA, selection))
            await self._select([(self.optimizer.current(), "the starting point")], selection, run, len(val[0]))
        else:
            self.optimizer.clear_selection()
        records = await self._optimizer_step(xs, ys, indices, run, 0, step, len(xs), selection)
        with track_usage() as used, run.timing("optimizer"):
            await self.optimizer.on_epoch_end(0)  # each variable takes its best candidate so far
        run.add("optimizer", used.total)
        if val is not None:
            xs, ys, indices = val[0], val[1], list(range(len(val[0])))
            records = await self._run_batch(xs, ys, indices, run, training=False, concurrency=len(xs))
        await self._update_metrics(records, ys, indices)
        state["rewards"].extend(r["reward"] for r in records)
        return self._on_batch_result(state, return_dict)

    def predict_on_batch_sync(self, *args, **kwargs):
        """``predict_on_batch`` without ``await``."""
        return run_sync(self.predict_on_batch(*args, **kwargs))

    def test_on_batch_sync(self, *args, **kwargs):
        """``test_on_batch`` without ``await``."""
        return run_sync(self.test_on_batch(*args, **kwargs))

    def train_on_batch_sync(self, *args, **kwargs):
        """``train_on_batch`` without ``await``."""
        return run_sync(self.train_on_batch(*args, **kwargs))

    # --- backup and restore ---------------------------------------------------------------

    def _training_state(self) -> dict:
        """What BackupAndRestore writes: enough to resume a run with nothing lost."""
        state = dict(self._fit_state)
        state["rng"] = _rng_json(state["rng"])
        state["variables"] = {path: v.get_json() for path, v in self.trainable_variable_items()}
        state["optimizer"] = self.optimizer.get_state()
        state["history"] = {"epoch": list(self._history.epoch),
                            "history": {k: list(v) for k, v in self._history.history.items()}}
        return state

    def _restore_training_state(self, state: dict) -> None:
        variables = dict(self.trainable_variable_items())
        saved = state.get("variables", {})
        if set(saved) != set(variables):
            raise SavingError(
                f"This backup is of another program: it holds the variables {sorted(saved)}, program "
                f"{self.name!r} has {sorted(variables)}. Build the same program (same module names) to resume, "
                "or delete the backup to start afresh.")
        for path, value in saved.items():
            variables[path].assign(value)
        self.optimizer.set_state(state["optimizer"])
        self._history.epoch = list(state["history"]["epoch"])
        self._history.history = {k: list(v) for k, v in state["history"]["history"].items()}
        self._resume = {key: state.get(key) for key in ("epoch", "order", "batch", "records", "rng")}
        self._resume["records"] = self._resume["records"] or []

    # --- saving --------------------------------------------------------------------------

    def _compile_config(self) -> dict:
        """The reward, optimizer (with its state) and metrics, for the saved program file."""
        optimizer_state = None
        if self.optimizer is not None:
            optimizer_state = (self.optimizer.get_state() if getattr(self, "_optimizer_built", False)
                               else getattr(self, "_pending_optimizer_state", None))
        return {"reward": serialize_synaplex_object(self.reward),
                "optimizer": serialize_synaplex_object(self.optimizer),
                "optimizer_state": optimizer_state,
                "metrics": [serialize_synaplex_object(m) for m in self.metrics]}

    def _compile_from_config(self, config: dict, custom_objects: dict | None = None) -> None:
        self.compile(reward=deserialize_synaplex_object(config["reward"], custom_objects),
                     optimizer=deserialize_synaplex_object(config.get("optimizer"), custom_objects),
                     metrics=[deserialize_synaplex_object(m, custom_objects) for m in config.get("metrics") or []])
        self._pending_optimizer_state = config.get("optimizer_state")

    # --- blocking twins -----------------------------------------------------------------

    def fit_sync(self, *args, **kwargs):
        """``fit`` for scripts and notebooks without ``await`` (runs its own event loop)."""
        return run_sync(self.fit(*args, **kwargs))

    def evaluate_sync(self, *args, **kwargs):
        """``evaluate`` without ``await``."""
        return run_sync(self.evaluate(*args, **kwargs))

    def predict_sync(self, *args, **kwargs):
        """``predict`` without ``await``."""
        return run_sync(self.predict(*args, **kwargs))


def _set_reward(record: dict, reward: float) -> None:
    record["reward"] = reward
    for item in record["traces"]:
        item.reward, item.target = reward, record["y_true"]


# The logs the trainer writes itself: a metric may not take one of these names, unless it is the
# LMUsage that computes the same value (LMUsage(kind="cost", phase="reward") is "reward_cost").
_USAGE_LOG_KINDS = {"calls": "calls", "tokens": "tokens", "cost": "cost"}


def _check_metric_names(metrics: list) -> None:
    seen: dict[str, Any] = {}
    for metric in metrics:
        name = metric.name
        if name in seen:
            raise InvalidInputError(
                f"Two metrics are named {name!r} ({type(seen[name]).__name__} and {type(metric).__name__}): their "
                "logs would overwrite each other. Give one another name (name=...).")
        seen[name] = metric
        prefix, _, kind = name.partition("_")
        reserved = name in ("reward", "errors", "selection_reward") or (
            prefix in (*PHASES, "total", "batch") and kind in _USAGE_LOG_KINDS)
        same = (isinstance(metric, metrics_lib.LMUsage) and metric.phase == prefix
                and metric.kind == _USAGE_LOG_KINDS.get(kind))
        if reserved and not same:
            meaning = {"reward": "the mean reward", "errors": "the number of failed examples",
                       "selection_reward": "the best candidate's reward on the selection set",
                       "total": "the usage of all phases together", "batch": "the usage of the last batch"}
            raise InvalidInputError(
                f"The metric {type(metric).__name__} is named {name!r}, a name the trainer's own logs use "
                f"({meaning.get(name, meaning.get(prefix, f'the {prefix} phase usage'))}). Give it another name, "
                f"e.g. {type(metric).__name__}(name='metric_{name}').")


def _check_batch_size(batch_size: Any) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")


def _verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise InvalidInputError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}.")
    return int(verbose)


def _batch_usage(before: Usage, after: Usage) -> dict:
    cost = None if before.cost is None or after.cost is None else after.cost - before.cost
    return {"batch_calls": after.calls - before.calls, "batch_tokens": after.total_tokens - before.total_tokens,
            "batch_cost": cost}


def _rng_json(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


def _rng_state(state: Any) -> tuple:
    if isinstance(state, tuple):
        return state
    return (state[0], tuple(state[1]), state[2])
