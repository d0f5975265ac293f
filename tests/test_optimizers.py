"""The optimizers (RandomFewShot, OMEGA), driven the way Program.fit drives them:
build(program), then per batch propose(epoch, step) / run with traces / update(rewards,
traces), and on_epoch_end(epoch)."""

import hashlib
import json

import pytest

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.modules.trace import Trace, collecting
from synaplex.training import optimizers
from synaplex.training.optimizers import (
    OMEGA,
    RandomFewShot,
    dominated_novelty_selection,
)
from tests.conftest import Answer, Query


class Settings(synaplex.Module):
    """A trainable module whose variable has neither instructions nor examples."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.config = self.add_variable(initializer={"threshold": 0.5}, name="config")
        self.built = True

    def compute_output_spec(self, inputs, training=False):
        return inputs.clone()

    async def call(self, inputs, training=False):
        return inputs


def answer_reply(messages, schema):
    return {"answer": "ans:" + messages[-1]["content"]}


@synaplex.saving.register_synaplex_serializable()  # a rebuilt optimizer finds it again (safe loading imports nothing)
def optimizer_reply(messages, schema):
    """A deterministic optimizer model: new instructions named after a hash of the prompt."""
    kind = "merged" if "Candidate B" in messages[-1]["content"] else "mutated"
    digest = hashlib.sha1(messages[-1]["content"].encode()).hexdigest()[:8]
    return {"thinking": "Look at the calls.", "instructions": f"{kind} {digest}"}


def answer_lm():
    return synaplex.LanguageModel(model="scripted", responses=answer_reply)


def optimizer_lm(responses=optimizer_reply):
    return synaplex.LanguageModel(model="scripted", responses=responses)


def embedding_model(vectors=None):
    if vectors is None:
        return synaplex.EmbeddingModel(model="scripted")
    return synaplex.EmbeddingModel(model="scripted", responses=lambda texts: [vectors[t] for t in texts])


async def build_program():
    """input -> settings (trainable, no instructions/examples) -> solver (trainable)
    -> polisher (frozen)."""
    lm = answer_lm()
    inputs = synaplex.Input(data_model=Query)
    settings = Settings(name="settings")
    solver = synaplex.Generator(data_model=Answer, language_model=lm, name="solver", instructions="Solve.")
    polisher = synaplex.Generator(data_model=Answer, language_model=lm, name="polisher", trainable=False)
    outputs = await polisher(await solver(await settings(inputs)))
    return synaplex.Program(inputs=inputs, outputs=outputs), solver, polisher, settings


async def build_two():
    """Two trainable generators side by side: each must be optimized on its own."""
    lm = answer_lm()
    inputs = synaplex.Input(data_model=Query)
    a = synaplex.Generator(data_model=Answer, language_model=lm, name="a", instructions="A.")
    b = synaplex.Generator(data_model=Answer, language_model=lm, name="b", instructions="B.")
    return synaplex.Program(inputs=inputs, outputs=[await a(inputs), await b(inputs)]), a, b


def traces_for(variable, module, rewards, tag="q"):
    return [Trace(variable=variable, module=module, inputs={"query": f"{tag}{i}"},
                  outputs={"answer": f"{tag}{i}-answer"}, reward=float(r)) for i, r in enumerate(rewards)]


async def run_batch(program, queries, rewards):
    """What the trainer does for one batch: run with training=True, give each example's
    traces its reward."""
    traces = []
    for query, reward in zip(queries, rewards):
        with collecting() as example_traces:
            await program(Query(query=query), training=True)
        for trace in example_traces:
            trace.reward = reward
        traces.extend(example_traces)
    return traces


def snapshot(*variables):
    return [json.loads(json.dumps(v.get_json())) for v in variables]


# --- optimizers.get --------------------------------------------------------------------------


def test_get_by_name_instance_and_errors():
    assert type(optimizers.get("random_few_shot")) is RandomFewShot
    assert type(optimizers.get("RandomFewShot")) is RandomFewShot
    optimizer = RandomFewShot(seed=3)
    assert optimizers.get(optimizer) is optimizer
    with pytest.raises(InvalidInputError, match=r"OMEGA needs language_model= .*set_default_language_model"):
        optimizers.get("omega")  # no default model configured (see test_synalinks_training_compat.py)
    with pytest.raises(InvalidInputError, match=r"Unknown optimizer 'adam'\. Valid names: 'omega', "
                                                r"'random_few_shot'"):
        optimizers.get("adam")
    with pytest.raises(InvalidInputError, match="Cannot use 42 as an optimizer"):
        optimizers.get(42)


# --- RandomFewShot -----------------------------------------------------------------------------


def test_random_few_shot_argument_errors():
    with pytest.raises(InvalidInputError, match=r"nb_min_examples \(4\) must be <= nb_max_examples \(2\)"):
        RandomFewShot(nb_min_examples=4, nb_max_examples=2)
    with pytest.raises(InvalidInputError, match="nb_min_examples must be an integer >= 0, got -1"):
        RandomFewShot(nb_min_examples=-1)
    with pytest.raises(InvalidInputError, match="nb_max_examples must be an integer >= 0, got 2.5"):
        RandomFewShot(nb_max_examples=2.5)
    with pytest.raises(InvalidInputError, match="min_reward must be a number >= 0.0 and <= 1.0, got 2"):
        RandomFewShot(min_reward=2)
    with pytest.raises(InvalidInputError, match="seed must be an integer or None"):
        RandomFewShot(seed="x")
    assert RandomFewShot().name == "random_few_shot"


async def test_random_few_shot_rewrites_only_the_examples_of_trainable_generators():
    program, solver, polisher, settings = await build_program()
    frozen = snapshot(polisher.state, settings.config)
    optimizer = RandomFewShot(seed=0)
    await optimizer.build(program)
    assert list(optimizer.variables) == ["solver/state"]

    await optimizer.propose(0, 0)  # empty pool: the current value is tried (the baseline)
    assert solver.state.get_json() == {"instructions": "Solve.", "examples": []}
    traces = await run_batch(program, ["q1", "q2", "q3"], [1.0, 1.0, 0.0])
    assert {t.module for t in traces} == {"solver", "polisher"}
    await optimizer.update([1.0, 1.0, 0.0], traces)
    assert optimizer.iterations == 1

    good = [{"inputs": {"query": q}, "outputs": {"answer": f'ans:{{"query": "{q}"}}'}} for q in ("q1", "q2")]
    counts = set()
    for step in range(1, 30):
        await optimizer.propose(0, step)
        examples = solver.state["examples"]
        assert 1 <= len(examples) <= 2 and all(e in good for e in examples)  # pool of 2 < nb_max 3
        assert len({json.dumps(e) for e in examples}) == len(examples)
        counts.add(len(examples))
        assert solver.state["instructions"] == "Solve."
        assert snapshot(polisher.state, settings.config) == frozen
    assert counts == {1, 2}
    # the polisher (frozen) recorded traces too, but nothing of it was pooled
    pool = optimizer.get_state()["variables"]["solver/state"]["pool"]
    assert [e["inputs"] for e in pool] == [{"query": "q1"}, {"query": "q2"}]


async def test_examples_come_only_from_well_rewarded_traces_of_the_same_variable():
    program, a, b = await build_two()
    optimizer = RandomFewShot(nb_min_examples=2, nb_max_examples=2, seed=3)
    await optimizer.build(program)
    assert list(optimizer.variables) == ["a/state", "b/state"]
    await optimizer.propose(0, 0)
    traces = [
        Trace(a.state, "a", {"query": "a-good"}, {"answer": "A1"}, 1.0),
        Trace(a.state, "a", {"query": "a-bad"}, {"answer": "A0"}, 0.0),
        Trace(a.state, "a", {"query": "a-ok"}, {"answer": "A6"}, 0.6),
        Trace(b.state, "b", {"query": "b-good"}, {"answer": "B1"}, 0.9),
        Trace(b.state, "b", {"query": "b-failed"}, None, 1.0),  # no outputs: never an example
        Trace(b.state, "b", {"query": "b-bad"}, {"answer": "B0"}, 0.4),
    ]
    await optimizer.update([1.0, 0.0, 0.6], traces)
    for step in range(1, 6):
        await optimizer.propose(0, step)
        assert sorted(e["inputs"]["query"] for e in a.state["examples"]) == ["a-good", "a-ok"]
        assert b.state["examples"] == [{"inputs": {"query": "b-good"}, "outputs": {"answer": "B1"}}]
        assert (a.state["instructions"], b.state["instructions"]) == ("A.", "B.")

    strict = RandomFewShot(min_reward=0.8, seed=0)
    await strict.build(program)
    await strict.propose(0, 0)
    await strict.update([1.0], traces)
    pools = {p: [e["inputs"]["query"] for e in s["pool"]] for p, s in strict.get_state()["variables"].items()}
    assert pools == {"a/state": ["a-good"], "b/state": ["b-good"]}


async def test_random_few_shot_keeps_the_best_candidate_at_epoch_end():
    program, solver, _, _ = await build_program()
    optimizer = RandomFewShot(nb_min_examples=1, nb_max_examples=3, seed=0)
    await optimizer.build(program)
    await optimizer.propose(0, 0)
    await optimizer.update([0.5], traces_for(solver.state, "solver", [1, 1, 0, 0]))  # baseline scores 0.5
    await optimizer.propose(0, 1)
    best = snapshot(solver.state)[0]
    assert best["examples"]
    await optimizer.update([1.0], traces_for(solver.state, "solver", [1, 1, 1], tag="r"))
    await optimizer.propose(0, 2)
    worse = snapshot(solver.state)[0]
    assert worse != best
    await optimizer.update([0.0], traces_for(solver.state, "solver", [0, 0], tag="s"))
    assert solver.state.get_json() == worse
    await optimizer.on_epoch_end(0)
    assert solver.state.get_json() == best
    assert optimizer.best_candidates() == {"solver/state": {"value": best, "score": 1.0}}
    assert optimizer.iterations == 3


async def test_a_variable_without_traces_is_scored_with_the_batch_mean():
    program, a, _ = await build_two()
    optimizer = RandomFewShot(seed=0)
    await optimizer.build(program)
    await optimizer.propose(0, 0)
    await optimizer.update([1.0, 0.0], traces_for(a.state, "a", [1.0]))
    scores = {path: best["score"] for path, best in optimizer.best_candidates().items()}
    assert scores == {"a/state": 1.0, "b/state": 0.5}


async def test_random_few_shot_without_few_shot_learning_changes_nothing():
    program, solver, _, _ = await build_program()
    optimizer = RandomFewShot(few_shot_learning=False)
    await optimizer.build(program)
    assert optimizer.variables == {}
    await optimizer.propose(0, 0)
    await optimizer.update([1.0], traces_for(solver.state, "solver", [1.0]))
    await optimizer.propose(0, 1)
    await optimizer.on_epoch_end(0)
    assert solver.state.get_json() == {"instructions": "Solve.", "examples": []}


async def test_calls_out_of_order_and_bad_arguments_are_errors():
    program, _, _, _ = await build_program()
    optimizer = RandomFewShot()
    with pytest.raises(InvalidInputError, match=r"propose\(\) was called before build\(program\)"):
        await optimizer.propose(0, 0)
    with pytest.raises(InvalidInputError, match="takes the Program to train"):
        await optimizer.build("program")
    await optimizer.build(program)
    with pytest.raises(InvalidInputError, match="rewards as a list of numbers"):
        await optimizer.update(["1.0"], [])
    omega = OMEGA(language_model=optimizer_lm(), embedding_model=embedding_model())
    with pytest.raises(InvalidInputError, match="saved by RandomFewShot, not OMEGA"):
        omega.set_state(optimizer.get_state())
    with pytest.raises(InvalidInputError, match=r"takes the dict of get_state\(\)"):
        optimizer.set_state({"iterations": 1})


# --- OMEGA: arguments --------------------------------------------------------------------------


def test_omega_argument_errors():
    lm, em = optimizer_lm(), embedding_model()
    with pytest.raises(InvalidInputError, match=r"OMEGA needs embedding_model= \(Dominated Novelty Search embeds"):
        OMEGA(language_model=lm)
    with pytest.raises(InvalidInputError, match=r"OMEGA needs language_model= \(it writes the new instructions"):
        OMEGA(embedding_model=em)
    for argument in ("mutation_temperature", "crossover_temperature", "selection_temperature"):
        with pytest.raises(InvalidInputError, match=rf"{argument} must be a number > 0.0, got 0\. .*softmax"):
            OMEGA(language_model=lm, embedding_model=em, **{argument: 0})
    with pytest.raises(InvalidInputError, match=r"algorithm=\.\.\.\) must be one of 'dns', 'ga' .*got 'pso'"):
        OMEGA(language_model=lm, embedding_model=em, algorithm="pso")
    with pytest.raises(InvalidInputError, match=r"selection=\.\.\.\) must be one of 'random', 'best', 'softmax', "
                                                r"got 'tournament'"):
        OMEGA(language_model=lm, embedding_model=em, selection="tournament")
    with pytest.raises(InvalidInputError, match="population_size must be an integer >= 2, got 1"):
        OMEGA(language_model=lm, embedding_model=em, population_size=1)
    with pytest.raises(InvalidInputError, match="k_nearest_fitter must be an integer >= 1, got 0"):
        OMEGA(language_model=lm, embedding_model=em, k_nearest_fitter=0)
    with pytest.raises(InvalidInputError, match="merging_rate must be a number >= 0.0 and <= 1.0"):
        OMEGA(language_model=lm, embedding_model=em, merging_rate=1.5)
    with pytest.raises(InvalidInputError, match="language_model got an EmbeddingModel"):
        OMEGA(language_model=em, embedding_model=lm)
    with pytest.raises(InvalidInputError, match="embedding_model got a LanguageModel"):
        OMEGA(language_model=lm, embedding_model=lm)
    with pytest.raises(InvalidInputError, match=r"instructions=\.\.\.\) must be a string"):
        OMEGA(language_model=lm, embedding_model=em, instructions=["Be brief"])
    omega = OMEGA(language_model=lm, embedding_model=em)
    assert (omega.mutation_temperature, omega.crossover_temperature, omega.selection_temperature) == (0.3, 0.3, 0.3)
    assert (omega.k_nearest_fitter, omega.population_size, omega.merging_rate) == (5, 10, 0.02)
    assert (omega.algorithm, omega.selection, omega.few_shot_learning) == ("dns", "softmax", False)


# --- OMEGA: Dominated Novelty Search ---------------------------------------------------------


def test_dominated_novelty_selection_keeps_a_distant_lower_scorer():
    scores = [0.9, 0.85, 0.8, 0.5]  # three near-duplicates that score well, one different idea
    embeddings = [[1.0, 0.0], [1.0, 0.01], [0.99, 0.0], [0.0, 1.0]]
    assert dominated_novelty_selection(scores, embeddings, k=2, size=3) == [0, 1, 3]
    assert dominated_novelty_selection(scores, embeddings, k=5, size=2) == [0, 3]
    assert dominated_novelty_selection(scores, embeddings, k=2, size=1) == [0]  # the best always survives
    assert dominated_novelty_selection(scores, embeddings, k=2, size=4) == [0, 1, 2, 3]
    # a near copy of a better candidate goes before a lower but different one
    assert dominated_novelty_selection([0.5, 0.9, 0.89], [[0.0, 1.0], [1.0, 0.0], [1.0, 0.001]], k=1, size=2) == [0, 1]
    with pytest.raises(InvalidInputError, match="2 scores but 1 embeddings"):
        dominated_novelty_selection([0.1, 0.2], [[1.0]], k=1, size=1)


@pytest.mark.parametrize("algorithm, kept", [
    ("dns", ["Solve.", "Think differently.", "Solve!"]),
    ("ga", ["Solve.", "Solve!", "Solve!!"]),
])
async def test_omega_survivors_dns_keeps_diversity_ga_keeps_scores(algorithm, kept):
    program, solver, _, _ = await build_program()
    lm = optimizer_lm([{"thinking": "t", "instructions": text} for text in ("Think differently.", "Solve!", "Solve!!")])
    vectors = {"Solve.": [1.0, 0.0], "Solve!": [1.0, 0.01], "Solve!!": [0.99, 0.0], "Think differently.": [0.0, 1.0]}
    em = embedding_model(vectors)
    optimizer = OMEGA(language_model=lm, embedding_model=em, population_size=3, k_nearest_fitter=2,
                      merging_rate=0.0, selection="best", algorithm=algorithm, seed=0)
    await optimizer.build(program)
    for step, score in enumerate([0.9, 0.5, 0.85, 0.8]):
        await optimizer.propose(0, step)
        await optimizer.update([score], traces_for(solver.state, "solver", [score]))
    population = optimizer.populations()["solver/state"]
    assert [entry["value"]["instructions"] for entry in population] == kept
    assert len(lm.requests) == 3
    if algorithm == "dns":  # one embedding call, for the four candidates
        assert em._adapter.requests == [["Solve.", "Think differently.", "Solve!", "Solve!!"]]
        assert population[1]["embedding"] == [0.0, 1.0]
    else:
        assert em._adapter.requests == []


# --- OMEGA: mutation, crossover, selection ---------------------------------------------------


def test_merging_rate_grows_with_the_epoch():
    omega = OMEGA(language_model=optimizer_lm(), embedding_model=embedding_model())
    assert omega.crossover_probability(0) == pytest.approx(0.02)
    assert omega.crossover_probability(9) == pytest.approx(0.2)  # the tenth epoch: 20%
    assert omega.crossover_probability(49) == pytest.approx(1.0)
    assert omega.crossover_probability(500) == 1.0


async def test_crossovers_happen_more_often_at_later_epochs():
    program, solver, _, _ = await build_program()
    lm = optimizer_lm()
    optimizer = OMEGA(language_model=lm, embedding_model=embedding_model(), merging_rate=0.1, seed=7)
    await optimizer.build(program)
    for step, score in enumerate([0.4, 0.6]):  # a population of two: the baseline and one mutation
        await optimizer.propose(0, step)
        await optimizer.update([score], traces_for(solver.state, "solver", [score]))
    assert len(optimizer.populations()["solver/state"]) == 2

    counts = {}
    for epoch in (0, 7):
        start = len(lm.requests)
        for step in range(40):
            await optimizer.propose(epoch, step)
        counts[epoch] = sum("Candidate B" in r["messages"][-1]["content"] for r in lm.requests[start:])
    assert counts[0] < 12 and counts[7] > 25 and counts[0] < counts[7]


async def test_mutation_prompt_has_the_traces_the_schema_and_the_guidance():
    program, solver, polisher, settings = await build_program()
    frozen = snapshot(polisher.state, settings.config)
    lm, em = optimizer_lm(), embedding_model()
    optimizer = OMEGA(language_model=lm, embedding_model=em, mutation_temperature=0.7,
                      instructions="Answers must be in French.", seed=0)
    await optimizer.build(program)
    assert list(optimizer.variables) == ["solver/state"]
    await optimizer.propose(0, 0)  # the baseline: no model call
    assert lm.requests == [] and solver.state["instructions"] == "Solve."
    rewards = [0.0, 1.0, 0.5, 0.25, 0.75, 0.9, 0.1, 0.6]
    traces = [Trace(solver.state, "solver", {"query": f"in-{r}"}, {"answer": f"out-{r}"}, r) for r in rewards]
    await optimizer.update([0.5], traces)
    await optimizer.propose(0, 1)

    [request] = lm.requests
    schema = optimizer.candidate_schema("solver/state", solver.state)
    assert request["schema"] == schema
    assert schema["required"] == ["thinking", "instructions"]
    assert schema["properties"]["instructions"]["type"] == "string"
    assert request["params"] == {"temperature": 0.7}
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    assert "rewrite them" in system and system.endswith("Guidance for this task:\nAnswers must be in French.")
    assert "Module: solver" in user and "<<<\nSolve.\n>>>" in user
    assert f"mean reward {sum(rewards) / len(rewards):.3f} over 1 batch(es)" in user
    # the three best and the three worst calls, best first
    positions = [user.index(f'inputs: {{"query": "in-{r}"}}') for r in (1.0, 0.9, 0.75, 0.25, 0.1, 0.0)]
    assert positions == sorted(positions)
    assert "Call 1 (reward 1.000)" in user and "Call 6 (reward 0.000)" in user and '"out-1.0"' in user
    assert "in-0.5" not in user and "in-0.6" not in user
    assert json.dumps(schema) in user
    assert solver.state["instructions"] == optimizer_reply(request["messages"], schema)["instructions"]
    assert solver.state["examples"] == []  # few_shot_learning is off
    assert snapshot(polisher.state, settings.config) == frozen
    assert em._adapter.requests == []  # the population is small: no survivor selection yet


async def test_crossover_prompt_has_both_parents():
    program, solver, _, _ = await build_program()
    lm = optimizer_lm()
    optimizer = OMEGA(language_model=lm, embedding_model=embedding_model(), merging_rate=1.0,
                      crossover_temperature=0.9, mutation_temperature=0.2, seed=0)
    await optimizer.build(program)
    await optimizer.propose(0, 0)
    await optimizer.update([0.3], traces_for(solver.state, "solver", [0.3], tag="base"))
    await optimizer.propose(0, 1)  # one parent only: a mutation, even at merging probability 1
    mutated = solver.state["instructions"]
    assert mutated.startswith("mutated") and lm.requests[-1]["params"] == {"temperature": 0.2}
    await optimizer.update([0.8], traces_for(solver.state, "solver", [0.8], tag="mut"))
    await optimizer.propose(0, 2)
    request = lm.requests[-1]
    user = request["messages"][1]["content"]
    assert request["params"] == {"temperature": 0.9}
    assert "Combine them" in request["messages"][0]["content"]
    assert "Candidate A" in user and "Candidate B" in user
    assert "<<<\nSolve.\n>>>" in user and f"<<<\n{mutated}\n>>>" in user
    assert '"base0"' in user and '"mut0"' in user
    assert solver.state["instructions"].startswith("merged")


def test_parent_selection_modes():
    population = [{"score": 0.2}, {"score": 1.0}, {"score": 0.0}]
    lm, em = optimizer_lm(), embedding_model()
    best = OMEGA(language_model=lm, embedding_model=em, selection="best", seed=0)
    assert {best.select(population) for _ in range(20)} == {1}
    assert best.select(population, exclude=(1,)) == 0
    sharp = OMEGA(language_model=lm, embedding_model=em, selection="softmax", selection_temperature=0.05, seed=0)
    picks = [sharp.select(population) for _ in range(300)]
    assert picks.count(1) > 290
    flat = OMEGA(language_model=lm, embedding_model=em, selection="softmax", selection_temperature=100.0, seed=0)
    picks = [flat.select(population) for _ in range(300)]
    assert all(picks.count(i) > 70 for i in range(3))
    uniform = OMEGA(language_model=lm, embedding_model=em, selection="random", seed=0)
    assert {uniform.select(population) for _ in range(100)} == {0, 1, 2}


async def test_omega_keeps_the_best_candidate_at_epoch_end():
    program, solver, _, _ = await build_program()
    lm = optimizer_lm([{"thinking": "t", "instructions": "Better."}, {"thinking": "t", "instructions": "Worse."}])
    optimizer = OMEGA(language_model=lm, embedding_model=embedding_model(), selection="best", seed=0)
    await optimizer.build(program)
    for step, score in enumerate([0.5, 1.0, 0.0]):
        await optimizer.propose(0, step)
        await optimizer.update([score], traces_for(solver.state, "solver", [score]))
    assert solver.state["instructions"] == "Worse."
    await optimizer.on_epoch_end(0)
    assert solver.state.get_json() == {"instructions": "Better.", "examples": []}
    assert optimizer.best_candidates()["solver/state"]["score"] == 1.0


async def test_omega_few_shot_learning_samples_examples_from_good_traces():
    program, solver, _, _ = await build_program()
    optimizer = OMEGA(language_model=optimizer_lm(), embedding_model=embedding_model(), few_shot_learning=True,
                      nb_min_examples=1, nb_max_examples=2, seed=0)
    await optimizer.build(program)
    await optimizer.propose(0, 0)
    await optimizer.update([0.5], traces_for(solver.state, "solver", [1.0, 0.0, 0.9]))
    for step in range(1, 6):
        await optimizer.propose(0, step)
        queries = {e["inputs"]["query"] for e in solver.state["examples"]}
        assert 1 <= len(queries) <= 2 and queries <= {"q0", "q2"}
        assert solver.state["instructions"].startswith("mutated")


async def test_omega_population_is_bounded_with_the_default_dns():
    program, solver, _, _ = await build_program()
    em = embedding_model()
    optimizer = OMEGA(language_model=optimizer_lm(), embedding_model=em, population_size=4, seed=1)
    await optimizer.build(program)
    for step in range(12):
        await optimizer.propose(step // 4, step)
        score = (step * 37 % 10) / 10
        await optimizer.update([score], traces_for(solver.state, "solver", [score]))
        if step % 4 == 3:
            await optimizer.on_epoch_end(step // 4)
    population = optimizer.populations()["solver/state"]
    assert len(population) == 4
    best = optimizer.best_candidates()["solver/state"]
    assert any(entry["value"] == best["value"] for entry in population)  # the best is never dropped by DNS
    # each candidate is embedded once
    embedded = [text for request in em._adapter.requests for text in request]
    assert len(embedded) == len(set(embedded))


# --- state and config --------------------------------------------------------------------------


async def _train_steps(optimizer, solver, steps, epoch=0):
    for step in range(steps):
        await optimizer.propose(epoch, step)
        scores = [((step + i) * 7 % 10) / 10 for i in range(3)]
        await optimizer.update(scores, traces_for(solver.state, "solver", scores, tag=f"s{step}-"))


@pytest.mark.parametrize("make", [
    lambda: RandomFewShot(nb_min_examples=0, nb_max_examples=3, seed=5),
    lambda: OMEGA(language_model=optimizer_lm(), embedding_model=embedding_model(), population_size=3,
                  merging_rate=0.5, few_shot_learning=True, seed=5),
])
@pytest.mark.parametrize("set_before_build", [False, True])
async def test_state_round_trip_reproduces_the_next_proposals(make, set_before_build):
    program, solver, _, _ = await build_program()
    original = make()
    await original.build(program)
    await _train_steps(original, solver, 5)
    await original.on_epoch_end(0)
    state = json.loads(json.dumps(original.get_state()))
    assert state["iterations"] == 5 and state["optimizer"] == type(original).__name__
    value = solver.state.get_json()

    program2, solver2, _, _ = await build_program()
    solver2.state.assign(value)
    restored = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(original))))
    assert type(restored) is type(original) and restored.get_config() == original.get_config()
    if set_before_build:
        restored.set_state(state)
        await restored.build(program2)
    else:
        await restored.build(program2)
        restored.set_state(state)
    assert restored.iterations == 5
    assert json.loads(json.dumps(restored.get_state())) == state

    for step in range(4):
        await original.propose(1, step)
        await restored.propose(1, step)
        assert solver2.state.get_json() == solver.state.get_json()
        scores = [0.3 * (step % 3), 1.0]
        await original.update(scores, traces_for(solver.state, "solver", scores, tag=f"n{step}-"))
        await restored.update(scores, traces_for(solver2.state, "solver", scores, tag=f"n{step}-"))
    await original.on_epoch_end(1)
    await restored.on_epoch_end(1)
    assert solver2.state.get_json() == solver.state.get_json()
    assert restored.get_state() == original.get_state()


def test_config_round_trip():
    few_shot = RandomFewShot(nb_min_examples=2, nb_max_examples=4, min_reward=0.8, name="fs", seed=9)
    assert few_shot.get_config() == {"name": "fs", "seed": 9, "few_shot_learning": True, "nb_min_examples": 2,
                                     "nb_max_examples": 4, "min_reward": 0.8, "max_pool_size": 100,
                                     "nb_candidates": 3}
    assert RandomFewShot.from_config(few_shot.get_config()).get_config() == few_shot.get_config()
    assert optimizers.get(optimizers.serialize(few_shot)).get_config() == few_shot.get_config()

    omega = OMEGA(language_model=optimizer_lm(), embedding_model=embedding_model(), algorithm="ga",
                  selection="random", instructions="Be brief.", seed=2)
    config = json.loads(json.dumps(optimizers.serialize(omega)))
    assert config["class_name"] == "OMEGA" and config["module"] == "synaplex.training.optimizers.omega"
    rebuilt = optimizers.deserialize(config)
    assert rebuilt.get_config() == omega.get_config()
    assert isinstance(rebuilt.language_model, synaplex.LanguageModel)
    assert isinstance(rebuilt.embedding_model, synaplex.EmbeddingModel)
    with pytest.raises(InvalidInputError, match="does not describe an optimizer"):
        optimizers.deserialize(optimizers.serialize(optimizer_lm()))


async def test_setting_the_seed_restarts_the_random_generator():
    proposals = []
    for make_seeded in (lambda: RandomFewShot(seed=11), lambda: RandomFewShot()):
        program, solver, _, _ = await build_program()
        optimizer = make_seeded()
        if optimizer.seed is None:
            optimizer.seed = 11  # what fit(seed=11) does for an optimizer built without a seed
        await optimizer.build(program)
        await _train_steps(optimizer, solver, 4)
        proposals.append(solver.state.get_json())
    assert proposals[0] == proposals[1] and proposals[0]["examples"]
    with pytest.raises(InvalidInputError, match="seed must be an integer or None"):
        RandomFewShot().seed = 1.5


async def test_random_few_shot_learns_from_labels_when_every_answer_is_wrong():
    from synaplex.modules.trace import Trace

    class Q(synaplex.DataModel):
        query: str

    class A(synaplex.DataModel):
        answer: str

    class T(synaplex.DataModel):
        thinking: str
        answer: str

    lm = synaplex.LanguageModel(model="scripted", responses=lambda m, s: {"answer": "?"})
    inputs = synaplex.Input(data_model=Q)
    first = await synaplex.Generator(data_model=T, language_model=lm)(inputs)
    final = await synaplex.Generator(data_model=A, language_model=lm)(first)
    program = synaplex.Program(inputs=inputs, outputs=final)
    optimizer = synaplex.optimizers.RandomFewShot(nb_min_examples=1, nb_max_examples=1, seed=0)
    await optimizer.build(program)
    (path_t, var_t), (path_a, var_a) = program.trainable_variable_items()
    await optimizer.propose(0, 0)
    traces = [Trace(var_t, "g1", {"query": "q"}, {"thinking": "t", "answer": "?"}, 0.0, {"answer": "Q"}),
              Trace(var_a, "g2", {"thinking": "t", "answer": "?"}, {"answer": "?"}, 0.0, {"answer": "Q"})]
    await optimizer.update([0.0], traces)
    await optimizer.propose(0, 1)
    assert var_a["examples"] == [{"inputs": {"thinking": "t", "answer": "?"}, "outputs": {"answer": "Q"}}]
    assert var_t["examples"] == []  # its fields are not y's: no label to learn from
