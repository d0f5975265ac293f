"""Rewards for Synalinks users: functions that read ``get_json()``, batch rewards and batch
metrics in training, Synalinks' ``exact_match`` function and reward ids."""

import json

import pytest

import synaplex
from synaplex.backend.errors import InvalidInputError
from synaplex.serialization import register_synaplex_serializable
from synaplex.training import metrics, rewards
from synaplex.training.lookup import UnknownIdentifierError
from synaplex.training.rewards import RewardError
from synaplex.training.values import JsonDict
from tests.conftest import Answer, Query


@register_synaplex_serializable(package="test_synalinks_training_rewards")
async def synalinks_style_reward(y_true, y_pred):
    # written for Synalinks: the values are JsonDataModels there
    return 1.0 if y_true.get_json()["answer"] == y_pred.get_json()["answer"] else 0.0


@register_synaplex_serializable(package="test_synalinks_training_rewards")
async def shortest_wins(y_true, y_pred):
    lengths = [len(p["answer"]) if p is not None else 10**6 for p in y_pred]
    return [1.0 if n == min(lengths) else 0.0 for n in lengths]


def upper_lm():
    def reply(messages, schema):
        query = json.loads(messages[-1]["content"])["query"]
        return {"answer": query.upper() if query != "q1" else "wrong"}

    return synaplex.LanguageModel(model="scripted", responses=reply)


async def program_of(lm):
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="upper")


def data(n):
    return [Query(query=f"q{i}") for i in range(n)], [Answer(answer=f"Q{i}") for i in range(n)]


# --- values handed to user code -------------------------------------------------------------------


async def test_reward_functions_get_values_that_are_dicts_and_answer_get_json():
    seen = []

    async def reward(y_true, y_pred):
        seen.append((y_true, y_pred))
        assert y_true.get_json() == {"answer": "Paris"} and y_true["answer"] == "Paris" and "answer" in y_true
        assert y_pred.get("answer") == "Paris" and json.loads(json.dumps(y_pred)) == {"answer": "Paris"}
        assert y_pred.get_schema()["properties"]["answer"] == {"type": "string"}
        assert y_pred.to_json_data_model().get_json() == {"answer": "Paris"}
        return 1.0

    assert await rewards.RewardFunctionWrapper(reward)(Answer(answer="Paris"), {"answer": "Paris"}) == 1.0
    assert all(isinstance(v, JsonDict) for pair in seen for v in pair)
    assert await rewards.get(synalinks_style_reward)({"answer": "a"}, {"answer": "b"}) == 0.0


async def test_subclassed_rewards_and_metric_functions_get_json_dicts_too():
    class Lengths(rewards.Reward):
        async def call(self, y_true, y_pred):
            return 1.0 if len(y_pred.get_json()["answer"]) == len(y_true.get_json()["answer"]) else 0.0

    assert await Lengths()({"answer": "abc"}, {"answer": "xyz"}) == 1.0
    metric = metrics.MeanMetricWrapper(lambda t, p: float(p.get_json()["answer"] == t["answer"]), name="same")
    assert await metric({"answer": "a"}, {"answer": "a"}) == 1.0
    assert await metric({"answer": "a"}, {"answer": "b"}) == 0.5


async def test_built_in_rewards_still_work_on_json_dicts():
    assert await rewards.ExactMatch(in_mask=["answer"])({"answer": "x", "r": 1}, {"answer": "x", "r": 2}) == 1.0
    assert await rewards.ExactMatch()({"answer": "x"}, {"answer": "y"}) == 0.0
    assert await rewards.exact_match(Answer(answer="x"), {"answer": "x"}) == 1.0
    assert await rewards.exact_match(None, {"answer": "x"}) == 0.0


async def test_fit_with_a_synalinks_style_reward_function():
    program = await program_of(upper_lm())
    program.compile(reward=synalinks_style_reward, optimizer="random_few_shot")
    x, y = data(4)
    logs = await program.evaluate(x, y, verbose=0)
    assert logs["reward"] == 0.75  # q1 is wrong


# --- BatchReward --------------------------------------------------------------------------------


async def test_batch_reward_function_wrapper_scores_the_batch_and_reduces():
    reward = rewards.BatchRewardFunctionWrapper(fn=shortest_wins)
    y_pred = [{"answer": "aa"}, {"answer": "a"}, None]
    assert await reward.compute_batch([None, None, None], y_pred) == [0.0, 1.0, 0.0]
    assert await reward([None, None, None], y_pred) == pytest.approx(1 / 3)
    assert await rewards.BatchRewardFunctionWrapper(fn=shortest_wins, reduction="max")(None, y_pred) == 1.0
    assert await rewards.BatchRewardFunctionWrapper(fn=shortest_wins, reduction="none")(None, y_pred) == \
        [0.0, 1.0, 0.0]
    back = synaplex.saving.deserialize_synaplex_object(json.loads(json.dumps(
        synaplex.saving.serialize_synaplex_object(rewards.BatchRewardFunctionWrapper(fn=shortest_wins,
                                                                                     reduction="min")))))
    assert type(back) is rewards.BatchRewardFunctionWrapper and back.fn is shortest_wins and back.reduction == "min"


async def test_batch_reward_errors():
    with pytest.raises(InvalidInputError, match="BatchRewardFunctionWrapper: fn must be a function"):
        rewards.BatchRewardFunctionWrapper(fn=3)
    with pytest.raises(InvalidInputError, match=r"reduction must be one of 'mean', 'sum', 'min', 'max', 'none', "
                                                 r"None, got 'avg'"):
        rewards.BatchRewardFunctionWrapper(fn=shortest_wins, reduction="avg")

    async def one_number(y_true, y_pred):
        return 1.0

    async def too_few(y_true, y_pred):
        return [1.0]

    async def out_of_range(y_true, y_pred):
        return [2.0, 0.0]

    pair = [{"answer": "a"}, {"answer": "b"}]
    with pytest.raises(RewardError, match=r"must return a list of per-example rewards, got float"):
        await rewards.BatchRewardFunctionWrapper(fn=one_number).compute_batch(None, pair)
    with pytest.raises(RewardError, match=r"returned 1 rewards for a batch of 2 examples"):
        await rewards.BatchRewardFunctionWrapper(fn=too_few).compute_batch(None, pair)
    with pytest.raises(RewardError, match=r"returned 2\.0 \(float\); rewards must be numbers in \[0, 1\]"):
        await rewards.BatchRewardFunctionWrapper(fn=out_of_range).compute_batch(None, pair)
    with pytest.raises(InvalidInputError, match=r"scores a batch: y_pred must be a list"):
        await rewards.BatchRewardFunctionWrapper(fn=too_few).compute_batch(None, {"answer": "a"})
    with pytest.raises(InvalidInputError, match=r"3 ground truths and 2 predictions"):
        await rewards.BatchRewardFunctionWrapper(fn=too_few).compute_batch([None] * 3, pair)


async def test_a_batch_reward_trains_and_evaluates_on_whole_batches():
    calls = []

    class Recorder(rewards.BatchReward):
        async def call(self, y_true, y_pred):
            calls.append(len(y_pred))
            return [1.0 if p is not None and t.get_json() == p.get_json() else 0.0 for t, p in zip(y_true, y_pred)]

    program = await program_of(upper_lm())
    program.compile(reward=Recorder(), optimizer="random_few_shot", metrics=["accuracy"])
    x, y = data(5)
    logs = await program.evaluate(x, y, batch_size=2, verbose=0)
    assert calls == [2, 2, 1] and logs["reward"] == pytest.approx(4 / 5)
    calls.clear()
    history = await program.fit(x, y, batch_size=5, epochs=1, verbose=0, shuffle=False, seed=0)
    # the starting point on the 5 examples at once, the training batch of 4 at once, then each of the
    # step's candidates on the 3 examples that are not its 2 demonstrations (the one tried on the
    # batch is the starting point: cached)
    assert calls == [5, 4, 3, 3] and history.history["reward"] == [pytest.approx(3 / 4)]


async def test_batch_metrics_see_the_whole_batch():
    class BatchSizes(metrics.BatchMetric):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.reset_state()

        async def update_state(self, y_true, y_pred):
            self.sizes.append((len(y_true), len(y_pred)))

        def result(self):
            return float(len(self.sizes))

        def reset_state(self):
            self.sizes = []

    metric = BatchSizes()
    program = await program_of(upper_lm())
    program.compile(reward="exact_match", metrics=[metric])
    x, y = data(5)
    logs = await program.evaluate(x, y, batch_size=2, verbose=0)
    assert metric.sizes == [(2, 2), (2, 2), (1, 1)] and logs["batch_sizes"] == 3.0


# --- ids ------------------------------------------------------------------------------------------


def test_reward_ids_accept_synalinks_spellings_and_say_what_is_unknown():
    for identifier in ("exact_match", "ExactMatch", "exactmatch", "EXACT_MATCH"):
        assert type(rewards.get(identifier)) is rewards.ExactMatch
    with pytest.raises(UnknownIdentifierError, match=r"Unknown reward 'exact'\. Valid names: 'cosine_similarity', "
                                                     r"'exact_match', 'lm_as_judge', 'CosineSimilarity', "):
        rewards.get("exact")
    with pytest.raises(InvalidInputError, match=r"The reward 'ProgramAsJudge' \(ProgramAsJudge\) cannot be built "
                                                 r"from its name alone: pass synaplex\.rewards\.ProgramAsJudge"):
        rewards.get("ProgramAsJudge")


def test_synalinks_top_level_training_names():
    assert synaplex.Reward is rewards.Reward and synaplex.BatchReward is rewards.BatchReward
    assert synaplex.ExactMatch is rewards.ExactMatch and synaplex.ProgramAsJudge is rewards.ProgramAsJudge
    assert synaplex.LMAsJudge is rewards.LMAsJudge and synaplex.CosineSimilarity is rewards.CosineSimilarity
    assert synaplex.Metric is metrics.Metric and synaplex.BatchMetric is metrics.BatchMetric
    assert synaplex.OMEGA is synaplex.optimizers.OMEGA
