"""fit compares candidates on the same examples (the selection set) and never ends below its
start: scripted models where the training batches and the selection set disagree."""

import json
import logging
import math
import re

import pytest

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.modules.trace import Trace
from synaplex.training.callbacks import BudgetStopping, Callback
from synaplex.training.optimizers import OMEGA, RandomFewShot
from synaplex.training.optimizers.optimizer import complexity, paired_margin, selection_beats
from synaplex.training.selection import MAX_DEFAULT_SIZE, default_size
from tests.conftest import Answer, AnswerWithRationale, Query


def shown(messages) -> list[str]:
    """The queries of the few-shot examples in a prompt (every user message but the last)."""
    return [json.loads(m["content"])["query"] for m in messages[:-1] if m["role"] == "user"]


def query_of(messages) -> str:
    return json.loads(messages[-1]["content"])["query"]


def rule_lm(right, calls=None):
    """A scripted model that answers ``query.upper()`` when ``right(query, examples_shown)``,
    else the query itself; ``calls`` records ``(tuple(examples), query)`` per call."""

    def reply(messages, schema):
        query, examples = query_of(messages), shown(messages)
        if calls is not None:
            calls.append((tuple(examples), query))
        return {"answer": query.upper() if right(query, examples) else query}

    return synaplex.LanguageModel(model="scripted", responses=reply)


def queries(*names):
    return [Query(query=n) for n in names], [Answer(answer=n.upper()) for n in names]


async def build(lm, examples=None):
    inputs = synaplex.Input(data_model=Query)
    generator = synaplex.Generator(data_model=Answer, language_model=lm, name="gen", examples=examples)
    return synaplex.Program(inputs=inputs, outputs=await generator(inputs), name="selected"), generator


class Scripted(RandomFewShot):
    """Proposes the example sets it is given, one per step, in order: the candidates are known."""

    def __init__(self, plan, **kwargs):
        super().__init__(nb_candidates=1, **kwargs)
        self.plan = plan

    async def propose_candidates(self, epoch, step):
        path, variable = next(iter(self.variables.items()))
        candidate = dict(variable.get_json())
        candidate["examples"] = [{"inputs": {"query": q}, "outputs": {"answer": q.upper()}} for q in self.plan[step]]
        return {path: candidate}


def batch_best(program):
    """What the old rule (each candidate scored on its own training batch) would have kept."""
    slots = program.optimizer.get_state()["variables"]
    return [e["inputs"]["query"] for e in next(iter(slots.values()))["best"]["value"]["examples"]]


# --- the case: examples that help, met with a harder batch ------------------------------


async def test_examples_that_help_are_kept_though_their_batch_was_harder():
    # Without examples the model gets the "e" queries right (easy) and nothing else; with examples
    # it gets every "s" query right but only half of the hard "h" ones.
    def right(query, examples):
        if query.startswith("e"):
            return True
        if query.startswith("h"):
            return bool(examples) and int(query[1:]) % 2 == 0
        return bool(examples)

    program, generator = await build(rule_lm(right))
    program.compile(reward="exact_match", optimizer=RandomFewShot(nb_candidates=1, seed=0))
    x, y = queries("e0", "e1", "e2", "e3", "h0", "h1", "h2", "h3", "s0", "s1", "s2", "s3")
    history = await program.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, selection_size=4)
    # step 1: the empty start met the easy batch (1.0); step 2: a candidate with examples met the
    # hard one (0.5). Compared on the same 4 held-out examples: 0.0 against 1.0.
    assert history.history["reward"] == [0.75]
    assert batch_best(program) == []  # the old rule would have kept no examples
    examples = generator.state["examples"]
    assert examples and all(e["inputs"]["query"].startswith("e") for e in examples)
    assert history.selection == {"start": 0.0, "best": 1.0, "gain": 1.0, "measured": 2, "size": 4, "margin": 0,
                                 "source": "held_out", "examples": len(examples),
                                 "winner": "epoch 1, step 2, the candidate tried on the batch"}
    assert history.history["selection_reward"] == [1.0]
    assert (await program.evaluate(*queries("s0", "s1", "s2", "s3"), verbose=0))["reward"] == 1.0


async def test_a_candidate_worse_on_the_selection_set_is_never_kept():
    # Example "a" helps on the selection set; example "b" makes training queries right and
    # selection queries wrong: on its own batch it looks best.
    def right(query, examples):
        if query.startswith("t"):
            return examples == ["b"]
        return examples == ["a"] or (not examples and query == "s0")

    program, generator = await build(rule_lm(right))
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["b"], ["a", "b"]]))
    x, y = queries("t0", "t1", "t2", "t3", "t4", "t5", "s0", "s1", "s2", "s3")
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4)
    assert history.history["reward"] == [pytest.approx(2 / 6)]  # 0, 1 and 0 on the three batches
    assert batch_best(program) == ["b"]  # the old rule: the best batch
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["a"]
    assert (history.selection["start"], history.selection["best"]) == (0.25, 1.0)
    assert history.selection["winner"] == "epoch 1, step 1, the candidate tried on the batch"


async def test_the_starting_point_wins_when_nothing_beats_it(caplog):
    # Examples change nothing: every candidate ties with the start, the simplest candidate.
    program, generator = await build(rule_lm(lambda query, examples: query in ("q1", "q4")))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    x, y = queries(*[f"q{i}" for i in range(12)])
    with caplog.at_level(logging.INFO, logger="synaplex.training"):
        history = await program.fit(x, y, batch_size=3, epochs=2, verbose=0, seed=0)
    assert generator.state.get_json()["examples"] == []
    assert history.selection["winner"] == "the starting point"
    assert (history.selection["start"], history.selection["best"], history.selection["gain"]) == (0.0, 0.0, 0.0)
    assert history.selection["measured"] > 1  # other candidates were measured, none kept
    assert "'selected': the starting point won on the selection set (3 example(s) held out of the training " \
           "data): reward 0.0000, +0.0000 over the starting point (0.0000)" in caplog.text


async def test_the_starting_point_wins_over_worse_candidates():
    # Examples make every answer wrong: the start (right on q9 and q11) is kept.
    program, generator = await build(rule_lm(lambda query, examples: not examples and query in ("q9", "q11")))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=1))
    x, y = queries(*[f"q{i}" for i in range(12)])
    history = await program.fit(x, y, batch_size=3, epochs=2, verbose=0, seed=1)
    assert generator.state.get_json()["examples"] == []
    assert (history.selection["start"], history.selection["best"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert history.selection["winner"] == "the starting point"


async def test_ties_keep_the_simpler_candidate():
    assert complexity({"a": {"instructions": "abc", "examples": [1, 2]}, "b": {"instructions": "d"}}) == (2, 4)
    start = {"value": {"g": {"instructions": "Solve it.", "examples": [1, 2]}}, "score": 0.5}
    assert selection_beats(0.5, {"g": {"instructions": "Solve it.", "examples": [1]}}, start)  # fewer examples
    assert selection_beats(0.5, {"g": {"instructions": "Solve.", "examples": [1, 2]}}, start)  # shorter
    assert not selection_beats(0.5, {"g": {"instructions": "Solve it now.", "examples": [1, 2]}}, start)
    assert not selection_beats(0.5, start["value"], start)  # the same: the first measured stays
    assert not selection_beats(0.49, {"g": {"instructions": "", "examples": []}}, start)
    assert selection_beats(0.51, {"g": {"instructions": "Solve it, longer.", "examples": [1, 2, 3]}}, start)

    # in fit: a start with 3 examples, and candidates that do as well with 1
    start_examples = [{"inputs": {"query": q}, "outputs": {"answer": q.upper()}} for q in ("x1", "x2", "x3")]
    program, generator = await build(rule_lm(lambda query, examples: bool(examples)), examples=start_examples)
    program.compile(reward="exact_match", optimizer=Scripted([["q0"], ["q1", "q2"]]))
    history = await program.fit(*queries(*[f"q{i}" for i in range(6)]), batch_size=2, epochs=1, shuffle=False,
                                verbose=0, selection_size=2)
    assert history.selection["start"] == history.selection["best"] == 1.0
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["q0"]



# --- a candidate replaces the best only by more than the noise -----------------------------------


def test_a_higher_mean_wins_only_by_the_paired_margin():
    start = {"value": {"g": {"examples": []}}, "score": 0.25, "rewards": [1.0, 0.0, 0.0, 0.0]}
    lucky = {"g": {"examples": [1]}}
    assert paired_margin([1.0, 1.0, 0.0, 0.0], start["rewards"]) == 1
    assert not selection_beats(0.5, lucky, start, [1.0, 1.0, 0.0, 0.0], margin=2)  # one example more: noise
    assert selection_beats(0.5, lucky, start, [1.0, 1.0, 0.0, 0.0], margin=1)
    assert selection_beats(0.5, lucky, start, [1.0, 1.0, 0.0, 0.0], margin=0)  # means only
    assert selection_beats(0.75, lucky, start, [1.0, 1.0, 1.0, 0.0], margin=2)  # two more: kept
    # the margin counts examples, not the mean: a large gain on one example and small losses on two
    # (mean +0.125) lose the paired comparison
    best = {"value": {"g": {"examples": []}}, "score": 0.5, "rewards": [0.0, 0.75, 0.75, 0.5]}
    assert paired_margin([1.0, 0.5, 0.5, 0.5], best["rewards"]) == -1
    assert not selection_beats(0.625, lucky, best, [1.0, 0.5, 0.5, 0.5], margin=1)
    assert selection_beats(0.625, lucky, best, [1.0, 0.5, 0.5, 0.5], margin=0)
    # a lower mean never wins, and ties still keep the simpler candidate, whatever the margin
    assert not selection_beats(0.2, {"g": {"examples": []}}, start, [0.8, 0.0, 0.0, 0.0], margin=0)
    tie = {"value": {"g": {"examples": [1, 2]}}, "score": 0.5, "rewards": [1.0, 1.0, 0.0, 0.0]}
    assert selection_beats(0.5, {"g": {"examples": [1]}}, tie, [0.0, 0.0, 1.0, 1.0], margin=2)


def lucky_and_clear_lm():
    """Held-out s0..s3: the start gets none right; example "a" gets s0 right (one lucky example);
    "b" gets s0..s2 right (three); "c" gets all four (one more than "b")."""
    right_on = {(): set(), ("a",): {"s0"}, ("b",): {"s0", "s1", "s2"}, ("c",): {"s0", "s1", "s2", "s3"}}
    return rule_lm(lambda query, examples: query in right_on[tuple(examples)])


async def test_a_candidate_better_by_one_lucky_example_is_not_kept_with_a_margin():
    x, y = queries("t0", "t1", "t2", "t3", "s0", "s1", "s2", "s3")
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_margin=2)
    assert generator.state["examples"] == []  # +1 example of 4: within the noise, the start stays
    assert (history.selection["start"], history.selection["best"], history.selection["margin"]) == (0.0, 0.0, 2)
    assert history.selection["winner"] == "the starting point" and history.selection["measured"] == 2
    # the same fit by default (means only) keeps it: the margin is what refused it
    synaplex.clear_session()
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["a"]
    assert (history.selection["best"], history.selection["margin"]) == (0.25, 0)


async def test_a_clearly_better_candidate_is_kept_and_replaced_only_by_a_clearly_better_one():
    x, y = queries("t0", "t1", "t2", "t3", "t4", "t5", "s0", "s1", "s2", "s3")
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["b"], ["c"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_margin=2)
    # "b" wins 3 of 4 against the start: kept; "c" then wins 1 more than "b" does: not enough
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["b"]
    assert (history.selection["start"], history.selection["best"]) == (0.0, 0.75)
    assert history.selection["winner"] == "epoch 1, step 1, the candidate tried on the batch"
    assert (await program.evaluate(x[-4:], y[-4:], verbose=0))["reward"] == 0.75
    # with margin 1, "c" (one more example won than lost against "b") replaces it
    synaplex.clear_session()
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["b"], ["c"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_margin=1)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["c"]
    assert history.selection["best"] == 1.0


async def test_bad_selection_margins_are_errors():
    program, _ = await build(rule_lm(lambda query, examples: True))
    program.compile(reward="exact_match", optimizer=RandomFewShot())
    x, y = queries(*[f"q{i}" for i in range(6)])
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(InvalidInputError, match=rf"selection_margin must be an integer >= 0 \(how many more "
                                                    rf"selection examples a candidate must win than lose.*got "
                                                    rf"{re.escape(repr(bad))}"):
            await program.fit(x, y, verbose=0, selection_margin=bad)
    with pytest.raises(InvalidInputError, match=r"selection_margin=4 is larger than the selection set \(3 examples\):"
                                                r" no candidate could replace the starting point"):
        await program.fit(*queries(*[f"q{i}" for i in range(12)]), verbose=0, selection_margin=4)  # 3 held out
    assert program.optimizer.iterations == 0  # refused before anything ran
    await program.optimizer.build(program)
    with pytest.raises(InvalidInputError, match=r"margin must be an integer >= 0, got -1"):
        program.optimizer.begin_selection(program.optimizer.current(), margin=-1)
    program.optimizer.begin_selection(program.optimizer.current())
    for bad in ([], [0.5, math.nan], "0.5", [True]):
        with pytest.raises(InvalidInputError, match=r"A selection's per-example rewards must be a non-empty list of "
                                                    r"finite numbers"):
            program.optimizer.record_selection(program.optimizer.current(), 0.5, "start", rewards=bad)

async def test_the_final_program_scores_the_best_on_the_selection_set_and_never_below_the_start():
    # A noisy model: whether an answer is right depends on the examples shown, pseudo-randomly.
    def right(query, examples):
        return (sum(map(ord, query + "".join(examples))) * 7) % 10 < 4

    x, y = queries(*[f"w{i}" for i in range(20)])
    for seed in range(6):
        synaplex.clear_session()
        program, _ = await build(rule_lm(right))
        program.compile(reward="exact_match", optimizer=RandomFewShot(seed=seed))
        history = await program.fit(x, y, batch_size=5, epochs=2, verbose=0, seed=seed)
        summary = history.selection
        assert summary["size"] == 5 and summary["best"] >= summary["start"]
        again = await program.evaluate(x[-5:], y[-5:], verbose=0)  # the held-out slice: the last 5
        assert again["reward"] == pytest.approx(summary["best"])


# --- the selection set ---------------------------------------------------------------------------


async def test_the_selection_set_is_held_out_of_the_training_batches():
    calls = []
    program, _ = await build(rule_lm(lambda query, examples: bool(examples), calls))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    x, y = queries(*[f"q{i}" for i in range(12)])
    history = await program.fit(x, y, batch_size=4, epochs=2, verbose=0, seed=0)
    assert default_size(12) == 3 and history.selection["size"] == 3
    held = {"q9", "q10", "q11"}  # the last three, as validation_split takes them
    pool = program.optimizer.get_state()["variables"]["gen/state"]["pool"]
    assert {e["inputs"]["query"] for e in pool} == {f"q{i}" for i in range(9)}
    assert all(not held & set(examples) for examples, _ in calls)  # never shown as an example
    assert history.history["inference_calls"] == [9, 18]  # the training batches: 9 examples an epoch
    assert {query for _, query in calls} == {f"q{i}" for i in range(12)}
    assert default_size(1000) == MAX_DEFAULT_SIZE and default_size(2) == 1


async def test_validation_data_is_the_selection_set():
    calls = []
    program, _ = await build(rule_lm(lambda query, examples: bool(examples), calls))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    x, y = queries(*[f"q{i}" for i in range(8)])
    val = queries("v0", "v1", "v2", "v3")
    history = await program.fit(x, y, batch_size=4, verbose=0, seed=0, validation_data=val, selection_size=2)
    assert (history.selection["size"], history.selection["source"]) == (2, "validation")
    assert history.history["inference_calls"] == [8 + 4]  # every training example, and validation at epoch end
    selection_queries = {query for _, query in calls if query.startswith("v")}
    assert selection_queries == {"v0", "v1", "v2", "v3"}  # v2, v3 only in the epoch-end validation
    assert sum(1 for examples, query in calls if query in ("v2", "v3")) == 2
    assert history.history["val_reward"] == [1.0] and history.history["selection_reward"] == [1.0]


async def test_a_single_training_example_is_its_own_selection_set(caplog):
    program, _ = await build(rule_lm(lambda query, examples: True))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    with caplog.at_level(logging.WARNING, logger="synaplex.training"):
        history = await program.fit(*queries("q0"), verbose=0)
    assert (history.selection["size"], history.selection["source"]) == (1, "training")
    assert "a single training example and no validation data: nothing can be held out" in caplog.text


async def test_bad_selection_sizes_are_errors():
    program, _ = await build(rule_lm(lambda query, examples: True))
    program.compile(reward="exact_match", optimizer=RandomFewShot())
    x, y = queries(*[f"q{i}" for i in range(6)])
    for bad in (0, -2, 2.5, True, "3"):
        with pytest.raises(InvalidInputError, match=rf"selection_size must be a positive integer \(the number of "
                                                    rf"examples every candidate is compared on\) or None for the "
                                                    rf"default, got {bad!r:.100}"):
            await program.fit(x, y, verbose=0, selection_size=bad)
    with pytest.raises(InvalidInputError, match=r"selection_size=6 would hold out 6 of the 6 training examples and "
                                                r"leave none to train on: give selection_size <= 5"):
        await program.fit(x, y, verbose=0, selection_size=6)
    with pytest.raises(InvalidInputError, match=r"selection_size=4 is larger than the validation data \(3 examples\)"
                                                r".*selection_size <= 3, or None for all of it"):
        await program.fit(x, y, verbose=0, selection_size=4, validation_data=queries("v0", "v1", "v2"))
    with pytest.raises(InvalidInputError, match=r"selection_size=3 is larger than the validation data \(2 examples\)"):
        await program.fit(x, y, verbose=0, selection_size=3, validation_split=0.34)
    assert program.optimizer.iterations == 0  # refused before anything ran


def test_bad_optimizer_selection_arguments_and_calls_are_errors():
    for bad in (0, -1, 1.5, None):
        with pytest.raises(InvalidInputError, match=rf"nb_candidates must be an integer >= 1, got {bad!r}"):
            RandomFewShot(nb_candidates=bad)
    optimizer = RandomFewShot()
    with pytest.raises(InvalidInputError, match=r"begin_selection\(\) was called before build\(program\)"):
        optimizer.begin_selection({})
    with pytest.raises(InvalidInputError, match=r"record_selection\(\) was called before begin_selection\(start\)"):
        optimizer.record_selection({}, 0.5, "x")
    with pytest.raises(InvalidInputError, match=r"RandomFewShot has no selection set: call begin_selection\(start\)"):
        optimizer.selection_cache  # noqa: B018 - the property raises
    state = optimizer.get_state()
    state["selection"] = {"best": None}
    with pytest.raises(InvalidInputError, match="The optimizer state's 'selection' is not a saved selection"):
        optimizer.set_state(state)


async def test_a_selection_score_must_be_a_finite_number():
    program, _ = await build(rule_lm(lambda query, examples: True))
    optimizer = RandomFewShot()
    await optimizer.build(program)
    optimizer.begin_selection(optimizer.current())
    for bad in (math.nan, math.inf, "0.5", True):
        with pytest.raises(InvalidInputError, match=r"A selection score must be a finite number, got"):
            optimizer.record_selection(optimizer.current(), bad, "start")


# --- cost: cached, counted, budgeted -----------------------------------------------------------


async def test_a_candidate_never_runs_twice_on_the_same_selection_example():
    records = []

    class Counting(RandomFewShot):
        def record_selection(self, candidate, score, label, rewards=None):
            records.append(label)
            return super().record_selection(candidate, score, label, rewards)

    calls = []
    program, _ = await build(rule_lm(lambda query, examples: len(examples) == 1, calls))
    program.compile(reward="exact_match", optimizer=Counting(seed=0, nb_max_examples=2))
    x, y = queries(*[f"q{i}" for i in range(8)])
    history = await program.fit(x, y, batch_size=3, epochs=3, verbose=0, seed=0)
    held = {"q6", "q7"}
    selection_calls = [call for call in calls if call[1] in held]
    assert len(selection_calls) == len(set(selection_calls))  # each (examples, example) once
    assert history.history["selection_calls"][-1] == len(selection_calls) == 2 * history.selection["measured"]
    # candidates met again (the start tried on the first batch, sets drawn twice) ran no call
    assert len(records) > history.selection["measured"]
    assert records[:2] == ["the starting point", "epoch 1, step 1, the candidate tried on the batch"]


async def test_selection_calls_are_their_own_usage_phase_and_budget_stopping_counts_them():
    program, _ = await build(rule_lm(lambda query, examples: bool(examples)))
    lm = program.get_module("gen").language_model
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0),
                    metrics=["selection_calls", synaplex.metrics.LMUsage(kind="tokens", phase="selection")])
    x, y = queries(*[f"q{i}" for i in range(12)])
    batches = []

    class Batches(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append((logs["batch_calls"], logs["total_calls"]))

    # the training batches alone take 9 calls an epoch: 18 < 25 in two epochs
    with synaplex.track_usage() as usage:
        history = await program.fit(x, y, batch_size=3, epochs=2, verbose=0, seed=0,
                                    callbacks=[BudgetStopping(max_calls=25), Batches()])
    assert history.stop_reason.startswith("BudgetStopping: max_calls=25 calls reached")
    spent = history.history["total_calls"][-1]
    assert spent <= 25 and spent == lm.usage.calls == usage.total.calls  # the ordinary LM path
    assert spent == history.history["inference_calls"][-1] + history.history["selection_calls"][-1]
    assert history.history["selection_calls"][-1] > 0 and history.history["selection_tokens"][-1] > 0
    assert history.history["selection_reward"] == [1.0]
    # each batch's usage (what BudgetStopping estimates the next batch by) includes its selection calls
    assert batches[0][0] > 3 and batches[0][1] == 3 + batches[0][0]  # the start's 3 calls came before


async def test_evaluate_has_no_selection_phase():
    program, _ = await build(rule_lm(lambda query, examples: True))
    program.compile(reward="exact_match")
    logs = await program.evaluate(*queries("a", "b"), verbose=0)
    assert "selection_calls" not in logs and logs["inference_calls"] == 2


# --- few-shot selection that uses what it learned ------------------------------------------------


async def test_the_pool_holds_labels_and_correct_predictions():
    program, generator = await build(rule_lm(lambda query, examples: True))
    optimizer = RandomFewShot(min_reward=0.5, seed=0)
    await optimizer.build(program)
    await optimizer.propose(0, 0)
    state = generator.state
    traces = [
        # half right (0.5 >= min_reward): the label enters, never the half-wrong prediction
        Trace(state, "gen", {"query": "a"}, {"answer": "A?"}, 0.5, {"answer": "A"}),
        # wrong: its label enters all the same
        Trace(state, "gen", {"query": "b"}, {"answer": "?"}, 0.0, {"answer": "B"}),
        # no y (a judge's reward): a correct prediction enters as it is
        Trace(state, "gen", {"query": "c"}, {"answer": "C"}, 0.9, None),
        # a wrong prediction without a label: nothing
        Trace(state, "gen", {"query": "d"}, {"answer": "?"}, 0.1, None),
    ]
    await optimizer.update([0.5, 0.0, 0.9, 0.1], traces)
    pool = optimizer.get_state()["variables"]["gen/state"]["pool"]
    assert [(e["inputs"]["query"], e["outputs"], e["reward"]) for e in pool] == [
        ("a", {"answer": "A"}, 1.0), ("b", {"answer": "B"}, 1.0), ("c", {"answer": "C"}, 0.9)]


async def test_a_correct_prediction_with_more_fields_than_y_takes_y_s_values():
    lm = synaplex.LanguageModel(model="scripted", responses=lambda m, s: {"rationale": "r", "answer": "x"})
    inputs = synaplex.Input(data_model=Query)
    generator = synaplex.Generator(data_model=AnswerWithRationale, language_model=lm, name="cot")
    program = synaplex.Program(inputs=inputs, outputs=await generator(inputs))
    optimizer = RandomFewShot(seed=0)
    await optimizer.build(program)
    await optimizer.propose(0, 0)
    traces = [Trace(generator.state, "cot", {"query": "q"}, {"rationale": "because", "answer": "4.0"}, 1.0,
                    {"answer": "4"}),
              Trace(generator.state, "cot", {"query": "w"}, {"rationale": "hm", "answer": "5"}, 0.0, {"answer": "4"})]
    await optimizer.update([1.0, 0.0], traces)
    pool = optimizer.get_state()["variables"]["cot/state"]["pool"]
    assert [e["outputs"] for e in pool] == [{"rationale": "because", "answer": "4"}]


async def test_several_example_sets_are_compared_per_step_when_the_pool_allows():
    program, _ = await build(rule_lm(lambda query, examples: bool(examples)))
    optimizer = RandomFewShot(nb_min_examples=1, nb_max_examples=1, nb_candidates=3, seed=0)
    await optimizer.build(program)
    optimizer.begin_selection(optimizer.current())
    await optimizer.propose(0, 0)
    trace = Trace(program.get_module("gen").state, "gen", {"query": "a"}, {"answer": "A"}, 1.0, {"answer": "A"})
    await optimizer.update([1.0], [trace])
    # a pool of one example: the candidate tried (the start) and the one set it allows
    candidates = await optimizer.selection_candidates(0, 0)
    assert [[e["inputs"]["query"] for e in c["gen/state"]["examples"]] for c in candidates] == [[], ["a"]]
    await optimizer.propose(0, 1)
    traces = [Trace(program.get_module("gen").state, "gen", {"query": q}, {"answer": q.upper()}, 1.0,
                    {"answer": q.upper()}) for q in ("b", "c", "d")]
    await optimizer.update([1.0] * 3, traces)
    candidates = await optimizer.selection_candidates(0, 1)
    assert len(candidates) == 3
    assert len({json.dumps(c, sort_keys=True) for c in candidates}) == 3


async def test_omega_scores_its_population_on_the_selection_set():
    def reply(messages, schema):
        if "instructions" in schema.get("properties", {}):
            return {"thinking": "t", "instructions": f"Answer in upper case ({len(messages[-1]['content'])})."}
        query, examples = query_of(messages), shown(messages)
        return {"answer": query.upper() if examples else query}

    lm = synaplex.LanguageModel(model="scripted", responses=reply)
    program, generator = await build(lm)
    optimizer = OMEGA(language_model=lm, embedding_model=synaplex.EmbeddingModel(model="scripted"),
                      few_shot_learning=True, nb_candidates=3, seed=0)
    program.compile(reward="exact_match", optimizer=optimizer)
    x, y = queries(*[f"q{i}" for i in range(12)])
    history = await program.fit(x, y, batch_size=3, epochs=1, verbose=0, seed=0)
    population = optimizer.populations()["gen/state"]
    measured = [entry for entry in population if entry.get("selection")]
    assert measured and all(entry["score"] in (0.0, 1.0) for entry in measured)
    assert history.selection["best"] == 1.0 and generator.state["examples"]
    assert history.selection["measured"] > 1 + 3  # the start, and more than one candidate per step
    assert history.history["optimizer_calls"][-1] >= 2  # its mutations are the optimizer's


# --- train_on_batch, saving ----------------------------------------------------------------------


async def test_train_on_batch_with_validation_never_ends_below_the_variables_before_it():
    # examples make the training queries right and the validation queries wrong
    def right(query, examples):
        return bool(examples) if query.startswith("t") else not examples

    program, generator = await build(rule_lm(right))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    x, y = queries("t0", "t1", "t2")
    val_x, val_y = queries("v0", "v1")
    for step in range(3):
        await program.train_on_batch(step, x, y, val_x=val_x, val_y=val_y)
        assert generator.state["examples"] == []
    # without validation data the variables take the best training-batch score: examples
    await program.train_on_batch(3, x, y)
    await program.train_on_batch(4, x, y)
    assert generator.state["examples"]


async def test_a_saved_optimizer_state_from_before_the_selection_set_still_loads_and_trains(tmp_path):
    program, generator = await build(rule_lm(lambda query, examples: bool(examples)))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    x, y = queries(*[f"q{i}" for i in range(8)])
    await program.fit(x, y, batch_size=3, verbose=0, seed=0)
    program.save(tmp_path / "trained.json")
    saved = json.loads((tmp_path / "trained.json").read_text())
    assert saved["compile"]["optimizer_state"]["selection"]["cache"] == {}  # the cache is not kept
    del saved["compile"]["optimizer_state"]["selection"]  # as written before the selection set
    del saved["compile"]["optimizer"]["config"]["nb_candidates"]
    (tmp_path / "old.json").write_text(json.dumps(saved))
    with pytest.warns(UserWarning, match="could not be imported"):
        loaded = synaplex.Program.load(tmp_path / "old.json")
    loaded.get_module("gen").language_model.set_responses(program.get_module("gen").language_model._adapter
                                                          ._responses.fn)
    assert loaded.optimizer.nb_candidates == 3
    assert loaded.get_module("gen").state.get_json() == generator.state.get_json()
    history = await loaded.fit(x, y, batch_size=3, verbose=0, seed=1)
    assert history.selection["start"] == 1.0 and history.selection["best"] == 1.0
