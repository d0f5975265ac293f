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
from synaplex.training.optimizers.optimizer import complexity, paired_margin, selection_beats, sign_test_p
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
    # hard one (0.5). Compared on the same examples (every training example but its demonstrations,
    # the 4 held out included): the start gets the "e" queries right, the candidate all but h1 and h3:
    # 6 wins, no loss (sign test p = 1/64).
    assert history.history["reward"] == [0.75]
    assert batch_best(program) == []  # the old rule would have kept no examples
    examples = generator.state["examples"]
    assert examples and all(e["inputs"]["query"].startswith("e") for e in examples)
    judged = 12 - len(examples)
    assert history.selection == {"start": pytest.approx(4 / 12), "best": pytest.approx((judged - 2) / judged),
                                 "gain": pytest.approx(6 / judged), "measured": 2, "size": 12, "held_out": 4,
                                 "margin": 0, "alpha": 0.05, "judged": judged, "source": "training",
                                 "examples": len(examples),
                                 "winner": "epoch 1, step 2, the candidate tried on the batch"}
    assert history.history["selection_reward"] == [pytest.approx((judged - 2) / judged)]
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
    x, y = queries("t0", "t1", "t2", "t3", "t4", "t5", *[f"s{i}" for i in range(8)])
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=8)
    assert history.history["reward"] == [pytest.approx(2 / 6)]  # 0, 1 and 0 on the three batches
    assert batch_best(program) == ["b"]  # the old rule: the best batch
    # judged on all 14 ("a" and "b" are no training example): "a" wins s1..s7 against the start
    # (p = 1/128); "b" wins t0..t5 and loses s0..s7 against "a"
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["a"]
    assert (history.selection["start"], history.selection["best"]) == (pytest.approx(1 / 14), pytest.approx(8 / 14))
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
    assert (history.selection["start"], history.selection["best"], history.selection["gain"]) == (
        pytest.approx(2 / 12), pytest.approx(2 / 12), 0.0)
    assert history.selection["measured"] > 1  # other candidates were measured, none kept
    assert "'selected': the starting point won on the selection set (12 training example(s), each candidate judged " \
           "on those not among its demonstrations; 3 held out of the training batches): reward 0.1667, +0.0000 over " \
           "the starting point (0.1667)" in caplog.text


async def test_the_starting_point_wins_over_worse_candidates():
    # Examples make every answer wrong: the start (right on q9 and q11) is kept.
    program, generator = await build(rule_lm(lambda query, examples: not examples and query in ("q9", "q11")))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=1))
    x, y = queries(*[f"q{i}" for i in range(12)])
    history = await program.fit(x, y, batch_size=3, epochs=2, verbose=0, seed=1)
    assert generator.state.get_json()["examples"] == []
    assert (history.selection["start"], history.selection["best"]) == (pytest.approx(2 / 12), pytest.approx(2 / 12))
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


def test_the_sign_test_and_the_examples_both_candidates_were_judged_on():
    assert sign_test_p(5, 0) == 1 / 32 and sign_test_p(4, 0) == 1 / 16 and sign_test_p(1, 0) == 0.5
    assert sign_test_p(6, 1) == 8 / 128 and sign_test_p(7, 1) == 9 / 256 and sign_test_p(0, 0) == 1.0
    start = {"value": {"g": {"examples": []}}, "score": 0.0, "rewards": [0.0] * 6, "keys": list("abcdef")}
    clear = {"g": {"examples": [1]}}
    assert selection_beats(5 / 5, clear, start, [1.0] * 5, alpha=0.05, keys=list("bcdef"))  # 5 wins: p = 1/32
    assert not selection_beats(1.0, clear, start, [1.0] * 4, alpha=0.05, keys=list("cdef"))  # 4 wins: p = 1/16
    # compared only where both were judged: its losses on "x", "y" (not judged for the start) do not count
    assert selection_beats(5 / 7, clear, start, [1.0] * 5 + [0.0, 0.0], alpha=0.05, keys=list("bcdefxy"))
    assert not selection_beats(1.0, clear, start, [1.0, 1.0], alpha=0.05, keys=["x", "y"])  # nothing in common
    # never below the start where both were judged, though better than the best
    best = {"value": clear, "score": 0.0, "rewards": [0.0] * 6, "keys": list("abcdef")}
    start_high = {"rewards": [1.0] * 6, "keys": list("abcdef")}
    assert not selection_beats(0.5, {"g": {"examples": [2]}}, best, [0.5] * 6, keys=list("abcdef"), start=start_high)
    assert selection_beats(0.5, {"g": {"examples": [2]}}, best, [0.5] * 6, keys=list("abcdef"))


def lucky_and_clear_lm():
    """Held-out s0..s3: the start gets none right; example "a" gets s0 right (one lucky example);
    "b" gets s0..s2 right (three); "c" gets all four (one more than "b"); "z" gets every query right."""
    right_on = {(): set(), ("a",): {"s0"}, ("b",): {"s0", "s1", "s2"}, ("c",): {"s0", "s1", "s2", "s3"}}
    return rule_lm(lambda query, examples: tuple(examples) == ("z",) or query in right_on[tuple(examples)])


async def test_a_candidate_better_by_one_lucky_example_is_not_kept():
    x, y = queries("t0", "t1", "t2", "t3", "s0", "s1", "s2", "s3")
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4)
    assert generator.state["examples"] == []  # 1 win, 0 losses: p = 0.5, the start stays
    assert (history.selection["start"], history.selection["best"], history.selection["alpha"]) == (0.0, 0.0, 0.05)
    assert history.selection["winner"] == "the starting point" and history.selection["measured"] == 2
    # a margin refuses it too, without the test
    synaplex.clear_session()
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_margin=2, selection_alpha=1)
    assert generator.state["examples"] == [] and history.selection["margin"] == 2
    # means only (selection_alpha=1, no margin) keep it: the test is what refused it
    synaplex.clear_session()
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_alpha=1)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["a"]
    assert (history.selection["best"], history.selection["margin"]) == (1 / 8, 0)


async def test_the_start_wins_when_nothing_is_significantly_better():
    # "c" gets the 4 held-out queries right and the start none: a higher mean, but 4 wins are p = 1/16
    x, y = queries("t0", "t1", "t2", "t3", "s0", "s1", "s2", "s3")
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["c"], ["b"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4)
    assert generator.state["examples"] == []
    assert history.selection["winner"] == "the starting point" and history.selection["gain"] == 0.0


async def test_a_clearly_better_candidate_is_kept():
    # "z" gets all 10 queries right, the start none: 10 wins (p < 0.001); "a" after it loses to it
    x, y = queries("t0", "t1", "t2", "t3", "t4", "t5", "s0", "s1", "s2", "s3")
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["z"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["z"]
    assert (history.selection["start"], history.selection["best"], history.selection["gain"]) == (0.0, 1.0, 1.0)
    assert history.selection["winner"] == "epoch 1, step 2, the candidate tried on the batch"


async def test_a_candidate_is_never_judged_on_its_own_demonstrations():
    calls = []
    program, generator = await build(rule_lm(lambda query, examples: bool(examples), calls))
    # training examples as demonstrations; no batch (of 2, in order) meets its own demonstrations
    program.compile(reward="exact_match", optimizer=Scripted([["t4", "t5"], ["t4", "t5"], ["t0", "t1"]]))
    x, y = queries("t0", "t1", "t2", "t3", "t4", "t5", "s0", "s1", "s2", "s3")
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4)
    assert all(query not in examples for examples, query in calls)
    assert {query for examples, query in calls if examples == ("t4", "t5")} == {"t0", "t1", "t2", "t3", "s0", "s1",
                                                                               "s2", "s3"}
    assert {query for examples, query in calls if examples == ("t0", "t1")} >= {"t2", "t3", "t4", "t5", "s0"}
    # [t4, t5] beat the start on the 8 examples it was judged on; [t0, t1] only tied it where both were
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["t4", "t5"]
    assert (history.selection["judged"], history.selection["best"], history.selection["size"]) == (8, 1.0, 10)
    assert history.history["selection_calls"] == [10 + 8 + 8]  # the start on all 10, each candidate on 8


async def test_a_clearly_better_candidate_is_kept_and_replaced_only_by_a_clearly_better_one():
    # the margin alone (selection_alpha=1 turns the sign test off): the proof of selection_margin
    x, y = queries("t0", "t1", "t2", "t3", "t4", "t5", "s0", "s1", "s2", "s3")
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["b"], ["c"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_margin=2, selection_alpha=1)
    # "b" wins 3 against the start: kept; "c" then wins 1 more than "b" does: not enough
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["b"]
    assert (history.selection["start"], history.selection["best"]) == (0.0, 0.3)
    assert history.selection["winner"] == "epoch 1, step 1, the candidate tried on the batch"
    assert (await program.evaluate(x[-4:], y[-4:], verbose=0))["reward"] == 0.75
    # with margin 1, "c" (one more example won than lost against "b") replaces it
    synaplex.clear_session()
    program, generator = await build(lucky_and_clear_lm())
    program.compile(reward="exact_match", optimizer=Scripted([["b"], ["c"], ["a"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, selection_size=4,
                                selection_margin=1, selection_alpha=1)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["c"]
    assert history.selection["best"] == 0.4


async def test_validation_data_is_compared_with_the_same_test():
    x, y = queries("t0", "t1", "t2", "t3")
    val = queries(*[f"v{i}" for i in range(6)])
    program, generator = await build(rule_lm(lambda query, examples: examples == ["z"] or
                                             (examples == ["a"] and query == "v0")))
    program.compile(reward="exact_match", optimizer=Scripted([["a"], ["z"]]))
    history = await program.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, validation_data=val)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["z"]  # "a": 1 win; "z": 6
    assert (history.selection["source"], history.selection["judged"], history.selection["best"]) == (
        "validation", 6, 1.0)


async def test_a_selection_set_too_small_for_the_sign_test_compares_means_and_says_so(caplog):
    x, y = queries("t0", "t1", "t2", "t3")
    val = queries("v0", "v1", "v2", "v3")  # 4 examples: a clean sweep has p = 1/16 > 0.05
    program, generator = await build(rule_lm(lambda query, examples: examples == ["z"] and query == "v0"))
    program.compile(reward="exact_match", optimizer=Scripted([["z"]]))
    with caplog.at_level(logging.WARNING, logger="synaplex.training"):
        history = await program.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, validation_data=val)
    assert [e["inputs"]["query"] for e in generator.state["examples"]] == ["z"]  # a higher mean: kept
    assert history.selection["best"] == 0.25
    assert any("too few for the sign test at selection_alpha=0.05 (a candidate needs at least 5 examples, all won)"
               in record.getMessage() for record in caplog.records)


async def test_bad_selection_margins_are_errors():
    program, _ = await build(rule_lm(lambda query, examples: True))
    program.compile(reward="exact_match", optimizer=RandomFewShot())
    x, y = queries(*[f"q{i}" for i in range(6)])
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(InvalidInputError, match=rf"selection_margin must be an integer >= 0 \(how many more "
                                                    rf"selection examples a candidate must win than lose.*got "
                                                    rf"{re.escape(repr(bad))}"):
            await program.fit(x, y, verbose=0, selection_margin=bad)
    with pytest.raises(InvalidInputError, match=r"selection_margin=13 is larger than the selection set \(12 "
                                                r"examples\): no candidate could replace the starting point"):
        await program.fit(*queries(*[f"q{i}" for i in range(12)]), verbose=0, selection_margin=13)
    for bad in (0, -0.1, 1.5, True, "0.05", math.nan):
        with pytest.raises(InvalidInputError, match=r"selection_alpha must be a number > 0.0 and <= 1.0, got .*"
                                                    r"one-sided sign test's level"):
            await program.fit(x, y, verbose=0, selection_alpha=bad)
    assert program.optimizer.iterations == 0  # refused before anything ran
    await program.optimizer.build(program)
    with pytest.raises(InvalidInputError, match=r"margin must be an integer >= 0, got -1"):
        program.optimizer.begin_selection(program.optimizer.current(), margin=-1)
    with pytest.raises(InvalidInputError, match=r"selection_alpha must be a number > 0.0 and <= 1.0, got 2"):
        program.optimizer.begin_selection(program.optimizer.current(), alpha=2)
    program.optimizer.begin_selection(program.optimizer.current())
    for bad in ([], [0.5, math.nan], "0.5", [True]):
        with pytest.raises(InvalidInputError, match=r"A selection's per-example rewards must be a non-empty list of "
                                                    r"finite numbers"):
            program.optimizer.record_selection(program.optimizer.current(), 0.5, "start", rewards=bad)
    with pytest.raises(InvalidInputError, match=r"A selection's example keys must be a list of strings, one per reward"):
        program.optimizer.record_selection(program.optimizer.current(), 0.5, "start", rewards=[0.5], keys=["a", "b"])

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
        assert (summary["size"], summary["held_out"]) == (20, 5) and summary["gain"] >= 0
        shown = {e["inputs"]["query"] for e in program.trainable_variables[0]["examples"]}
        judged = [i for i in range(20) if x[i].query not in shown]  # every example but its demonstrations
        assert summary["judged"] == len(judged)
        again = await program.evaluate([x[i] for i in judged], [y[i] for i in judged], verbose=0)
        assert again["reward"] == pytest.approx(summary["best"])


# --- the selection set ---------------------------------------------------------------------------


async def test_the_selection_set_is_held_out_of_the_training_batches():
    calls = []
    program, _ = await build(rule_lm(lambda query, examples: bool(examples), calls))
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0))
    x, y = queries(*[f"q{i}" for i in range(12)])
    history = await program.fit(x, y, batch_size=4, epochs=2, verbose=0, seed=0)
    assert default_size(12) == 3 and (history.selection["size"], history.selection["held_out"]) == (12, 3)
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
    # selection_alpha=1: any higher mean (two examples can never pass the sign test at 5%)
    history = await program.fit(x, y, batch_size=4, verbose=0, seed=0, validation_data=val, selection_size=2,
                                selection_alpha=1)
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
        def record_selection(self, candidate, score, label, rewards=None, keys=None):
            records.append(label)
            judged[json.dumps(candidate, sort_keys=True)] = len(keys)
            return super().record_selection(candidate, score, label, rewards, keys)

    judged = {}

    calls = []
    program, _ = await build(rule_lm(lambda query, examples: len(examples) == 1, calls))
    program.compile(reward="exact_match", optimizer=Counting(seed=0, nb_max_examples=2))
    x, y = queries(*[f"q{i}" for i in range(8)])
    history = await program.fit(x, y, batch_size=3, epochs=3, verbose=0, seed=0)
    held = {"q6", "q7"}
    selection_calls = [call for call in calls if call[1] in held]
    assert len(selection_calls) == len(set(selection_calls))  # each (examples, example) once
    assert len(selection_calls) == 2 * history.selection["measured"]  # every candidate on both held-out examples
    # and on the training examples that are not its demonstrations, once
    assert history.history["selection_calls"][-1] == sum(judged.values())
    assert len(judged) == history.selection["measured"]
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
    assert batches[0][0] > 3 and batches[0][1] == 12 + batches[0][0]  # the start's 12 calls came before


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
