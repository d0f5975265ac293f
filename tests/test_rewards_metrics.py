"""Rewards and metrics: known pairs, hand-computed values, errors and config round trips."""

import asyncio
import json
import math

import pytest

import synaplex
from synaplex.backend.errors import InvalidInputError, SavingError, UnknownClassError
from synaplex.lm.base import Usage
from synaplex.serialization import (
    deserialize_synaplex_object,
    register_synaplex_serializable,
    serialize_synaplex_object,
)
from synaplex.training import metrics, rewards
from synaplex.training.rewards import RewardError
from tests.conftest import Answer, AnswerWithRationale


def round_trip(obj):
    """Serialize to JSON text and back, as a saved program file does."""
    return deserialize_synaplex_object(json.loads(json.dumps(serialize_synaplex_object(obj))))


@register_synaplex_serializable(package="test_rewards_metrics")
async def same_answer(y_true, y_pred):
    return 1.0 if y_true.get("answer") == y_pred.get("answer") else 0.0


@register_synaplex_serializable(package="test_rewards_metrics")
def answer_prefix(y_true, y_pred, length=1):
    return y_true["answer"][:length] == y_pred["answer"][:length]


@register_synaplex_serializable(package="test_rewards_metrics")
def answer_length(y_true, y_pred):
    return len((y_pred or {}).get("answer", ""))


class Score(synaplex.DataModel):
    critique: str = synaplex.Field(description="Why")
    reward: float = synaplex.Field(description="The score in [0, 1]")


class Verdict(synaplex.DataModel):
    verdict: str = synaplex.Field(description="A verdict with no score")


# --- base behaviour ------------------------------------------------------------------------


async def test_exact_match_on_known_pairs():
    reward = rewards.ExactMatch()
    assert await reward({"answer": "Paris"}, {"answer": "Paris"}) == 1.0
    assert await reward({"answer": "Paris"}, {"answer": "paris"}) == 0.0
    assert await reward({"answer": "Paris", "b": 1}, {"b": 1, "answer": "Paris"}) == 1.0  # order ignored
    assert reward.name == "exact_match"


async def test_exact_match_in_mask_and_out_mask():
    y_true = {"rationale": "Because.", "answer": "Paris"}
    y_pred = {"rationale": "Other words.", "answer": "Paris"}
    assert await rewards.ExactMatch()(y_true, y_pred) == 0.0
    assert await rewards.ExactMatch(in_mask=["answer"])(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(out_mask=["rationale"])(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(in_mask=["answer"])(y_true, {"answer": "Lyon", "rationale": "Because."}) == 0.0
    # a prediction missing the compared field is a wrong answer, not an error
    assert await rewards.ExactMatch(in_mask=["answer"])(y_true, {"rationale": "Because."}) == 0.0


async def test_masks_are_recursive_like_the_json_operators():
    y_true = {"result": {"answer": "4", "steps": "2+2"}, "meta": "x"}
    y_pred = {"result": {"answer": "4", "steps": "two plus two"}, "meta": "y"}
    assert await rewards.ExactMatch(in_mask=["answer"])(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(out_mask=["steps", "meta"])(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(out_mask=["steps"])(y_true, y_pred) == 0.0


async def test_rewards_accept_data_models_and_json_data_models():
    reward = rewards.ExactMatch(in_mask=["answer"])
    truth = AnswerWithRationale(rationale="r", answer="Paris")
    assert await reward(truth, Answer(answer="Paris")) == 1.0
    assert await reward(truth.to_json_data_model(), Answer(answer="Paris").to_json_data_model()) == 1.0
    with pytest.raises(InvalidInputError, match=r"y_pred must be a DataModel, a JsonDataModel, a dict or None, got str"):
        await reward(truth, "Paris")


async def test_none_prediction_scores_zero_without_calling():
    calls = []

    def fn(y_true, y_pred):
        calls.append(1)
        return 1.0

    assert await rewards.RewardFunctionWrapper(fn)({"answer": "x"}, None) == 0.0
    assert calls == []


async def test_reward_needing_ground_truth_rejects_none_y_true():
    with pytest.raises(InvalidInputError, match=r"Reward 'exact_match' \(ExactMatch\) compares the prediction with a "
                                                 r"ground truth, but y_true is None"):
        await rewards.ExactMatch()(None, {"answer": "x"})


async def test_in_mask_that_keeps_nothing_of_y_true_is_an_error():
    with pytest.raises(InvalidInputError, match=r"in_mask=\['answr'\] keeps no field of y_true \(its fields: 'answer'\)"):
        await rewards.ExactMatch(in_mask=["answr"])({"answer": "x"}, {"answer": "x"})


@pytest.mark.parametrize("mask", ["answer", [], [1], {"answer"}])
def test_bad_masks_are_rejected(mask):
    with pytest.raises(InvalidInputError, match=r"ExactMatch: in_mask must be a non-empty list of field names"):
        rewards.ExactMatch(in_mask=mask)
    with pytest.raises(InvalidInputError, match=r"Accuracy: out_mask must be a non-empty list of field names"):
        metrics.Accuracy(out_mask=mask)


async def test_custom_reward_subclass():
    class Shorter(rewards.Reward):
        async def call(self, y_true, y_pred):
            return len(y_pred["answer"]) <= len(y_true["answer"])

    reward = Shorter(in_mask=["answer"])
    assert reward.name == "shorter"
    assert await reward({"answer": "abc"}, {"answer": "ab"}) == 1.0
    assert await reward({"answer": "abc"}, {"answer": "abcd"}) == 0.0


async def test_batch_scores_concurrently_in_order():
    started, release = [], asyncio.Event()

    async def slow(y_true, y_pred):
        started.append(y_pred["answer"])
        if len(started) == 3:
            release.set()
        await release.wait()  # deadlocks unless all three run at once
        return y_true == y_pred

    scores = await asyncio.wait_for(
        rewards.RewardFunctionWrapper(slow).batch(
            [{"answer": "a"}, {"answer": "b"}, {"answer": "c"}],
            [{"answer": "a"}, {"answer": "x"}, {"answer": "c"}]),
        timeout=5)
    assert scores == [1.0, 0.0, 1.0]
    with pytest.raises(InvalidInputError, match="batch\\(\\) got 2 ground truths and 1 predictions"):
        await rewards.ExactMatch().batch([{"a": 1}, {"a": 2}], [{"a": 1}])


# --- cosine similarity -----------------------------------------------------------------------


async def test_cosine_similarity_same_text_is_one_and_different_is_less():
    em = synaplex.EmbeddingModel(model="scripted")
    reward = rewards.CosineSimilarity(embedding_model=em, in_mask=["answer"])
    same = await reward({"answer": "The capital is Paris", "r": "a"}, {"answer": "The capital is Paris", "r": "b"})
    assert same == pytest.approx(1.0)
    assert em.usage.calls == 1  # both sides in one batched call
    different = await reward({"answer": "The capital is Paris"}, {"answer": "Bananas are yellow fruit"})
    assert 0.0 <= different < 1.0
    assert em.usage.calls == 2


async def test_cosine_similarity_maps_cosine_to_unit_interval():
    class FixedEmbeddings:
        def __init__(self, vectors):
            self.vectors = vectors

        async def __call__(self, texts):
            return {"embeddings": self.vectors}

        def get_config(self):
            return {}

    async def score(vectors):
        return await rewards.CosineSimilarity(embedding_model=FixedEmbeddings(vectors))({"a": "x"}, {"a": "y"})

    assert await score([[1.0, 0.0], [0.0, 1.0]]) == pytest.approx(0.5)   # orthogonal
    assert await score([[1.0, 0.0], [-1.0, 0.0]]) == pytest.approx(0.0)  # opposite
    assert await score([[1.0, 1.0], [1.0, 0.0]]) == pytest.approx((1 / math.sqrt(2) + 1) / 2)
    assert await score([[0.0, 0.0], [1.0, 0.0]]) == 0.0                  # zero vector, different texts


def test_cosine_similarity_round_trip():
    reward = rewards.CosineSimilarity(embedding_model=synaplex.EmbeddingModel(model="scripted"), in_mask=["answer"])
    back = round_trip(reward)
    assert isinstance(back, rewards.CosineSimilarity)
    assert back.in_mask == ["answer"] and back.embedding_model.model == reward.embedding_model.model


def test_cosine_similarity_rejects_a_non_model():
    with pytest.raises(InvalidInputError, match="embedding_model must be a synaplex.EmbeddingModel or a model string"):
        rewards.CosineSimilarity(embedding_model=42)


# --- LM as judge ------------------------------------------------------------------------------


async def test_lm_as_judge_asks_for_critique_and_reward():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"critique": "Close enough.", "reward": 0.7}])
    judge = rewards.LMAsJudge(language_model=lm, in_mask=["answer"])
    y_true = {"answer": "Paris", "rationale": "hidden"}
    assert await judge(y_true, {"answer": "It is Paris"}) == 0.7
    request = lm.requests[0]
    assert request["schema"] == {
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
    assert request["schema"] is rewards.JUDGE_SCHEMA
    system, user = request["messages"]
    assert system["role"] == "system" and "ground truth" in system["content"]
    assert user["role"] == "user"
    assert json.dumps({"answer": "Paris"}, indent=2) in user["content"]
    assert json.dumps({"answer": "It is Paris"}, indent=2) in user["content"]
    assert "hidden" not in user["content"]  # masked out
    assert user["content"].index("Ground truth") < user["content"].index("Prediction")


async def test_lm_as_judge_without_ground_truth_and_with_instructions():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"critique": "Fine.", "reward": 1}])
    judge = rewards.LMAsJudge(language_model=lm, instructions="Penalize answers longer than one sentence.")
    assert await judge(None, {"answer": "Paris"}) == 1.0
    system, user = lm.requests[0]["messages"]
    assert "There is no ground truth" in system["content"]
    assert system["content"].endswith("Penalize answers longer than one sentence.")
    assert "Ground truth" not in user["content"] and '"answer": "Paris"' in user["content"]


async def test_lm_as_judge_round_trip():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"critique": "ok", "reward": 0.25}])
    judge = round_trip(rewards.LMAsJudge(language_model=lm, instructions="Be strict.", out_mask=["rationale"],
                                         name="judge"))
    assert isinstance(judge, rewards.LMAsJudge)
    assert (judge.name, judge.instructions, judge.out_mask) == ("judge", "Be strict.", ["rationale"])
    assert await judge({"answer": "a"}, {"answer": "b"}) == 0.25


# --- program as judge ----------------------------------------------------------------------------


async def _judge_program(reply, two_inputs=True, output=Score):
    lm = synaplex.LanguageModel(model="scripted", responses=reply)
    gold = synaplex.Input(data_model=Answer)
    pred = synaplex.Input(data_model=Answer)
    if two_inputs:
        outputs = await synaplex.Generator(data_model=output, language_model=lm)(gold & pred)
        return synaplex.Program(inputs=[gold, pred], outputs=outputs, name="judge"), lm
    outputs = await synaplex.Generator(data_model=output, language_model=lm)(pred)
    return synaplex.Program(inputs=pred, outputs=outputs, name="judge"), lm


def _compare(messages, schema):
    seen = json.loads(messages[-1]["content"])
    return {"critique": "compared", "reward": 1.0 if seen["answer"] == seen.get("answer_1") else 0.0}


async def test_program_as_judge_with_two_inputs():
    program, lm = await _judge_program(_compare)
    judge = rewards.ProgramAsJudge(program=program, in_mask=["answer"])
    assert await judge({"answer": "Paris", "rationale": "r"}, {"answer": "Paris"}) == 1.0
    assert await judge({"answer": "Paris"}, {"answer": "Lyon"}) == 0.0
    assert json.loads(lm.requests[-1]["messages"][-1]["content"]) == {"answer": "Paris", "answer_1": "Lyon"}
    # no ground truth: the program's `&` yields None, so there is no reward, and it says so
    with pytest.raises(RewardError, match="the judge program 'judge' returned None"):
        await judge(None, {"answer": "Paris"})


async def test_program_as_judge_with_one_input_judges_the_prediction_alone():
    program, lm = await _judge_program(lambda messages, schema: {"critique": "short", "reward": 0.5}, two_inputs=False)
    judge = rewards.ProgramAsJudge(program=program)
    assert await judge(None, {"answer": "Paris"}) == 0.5
    assert json.loads(lm.requests[-1]["messages"][-1]["content"]) == {"answer": "Paris"}


async def test_program_as_judge_errors():
    program, _ = await _judge_program(lambda messages, schema: {"verdict": "good"}, output=Verdict)
    with pytest.raises(RewardError, match=r"returned no 'reward' field \(its fields: 'verdict'\)"):
        await rewards.ProgramAsJudge(program=program)({"answer": "a"}, {"answer": "b"})
    program, _ = await _judge_program(lambda messages, schema: {"critique": "too kind", "reward": 3.0})
    with pytest.raises(RewardError, match=r"returned 3\.0 \(float\); rewards must be numbers in \[0, 1\]"):
        await rewards.ProgramAsJudge(program=program)({"answer": "a"}, {"answer": "b"})
    program, _ = await _judge_program(_compare)
    with pytest.raises(InvalidInputError, match="invalid Answer input"):
        await rewards.ProgramAsJudge(program=program)({"answer": "a"}, {"answer": 3})
    with pytest.raises(InvalidInputError, match="program must be a synaplex.Program"):
        rewards.ProgramAsJudge(program=lambda x: x)


async def test_program_as_judge_round_trip():
    program, _ = await _judge_program([{"critique": "ok", "reward": 0.75}])
    back = round_trip(rewards.ProgramAsJudge(program=program, in_mask=["answer"]))
    assert isinstance(back, rewards.ProgramAsJudge) and back.in_mask == ["answer"]
    assert await back({"answer": "a"}, {"answer": "b"}) == 0.75


# --- custom functions ---------------------------------------------------------------------------


async def test_function_wrapper_sync_and_async_with_kwargs():
    async def async_fn(y_true, y_pred):
        await asyncio.sleep(0)
        return y_true["answer"] == y_pred["answer"]

    def sync_fn(y_true, y_pred, length=1):
        return 0.5 if y_true["answer"][:length] == y_pred["answer"][:length] else 0.0

    assert await rewards.RewardFunctionWrapper(async_fn)({"answer": "a"}, {"answer": "a"}) == 1.0
    wrapped = rewards.RewardFunctionWrapper(sync_fn, in_mask=["answer"], length=2)
    assert wrapped.name == "sync_fn"
    assert await wrapped({"answer": "Paris"}, {"answer": "Pa"}) == 0.5
    assert await wrapped({"answer": "Paris"}, {"answer": "Px"}) == 0.0


async def test_function_wrapper_receives_none_ground_truth():
    seen = []

    def fn(y_true, y_pred):
        seen.append(y_true)
        return 1

    assert await rewards.RewardFunctionWrapper(fn)(None, {"answer": "a"}) == 1.0
    assert seen == [None]


@pytest.mark.parametrize("bad, shown", [
    (1.5, r"1\.5 \(float\)"),
    ("high", r"'high' \(str\)"),
    (-0.1, r"-0\.1 \(float\)"),
    (float("nan"), r"nan \(float\)"),
    (None, r"None \(NoneType\)"),
])
async def test_reward_out_of_range_or_not_a_number_raises(bad, shown):
    def scorer(y_true, y_pred):
        return bad

    with pytest.raises(RewardError, match=rf"Reward 'scorer' returned {shown}; rewards must be numbers in \[0, 1\]"):
        await rewards.RewardFunctionWrapper(scorer)({"a": 1}, {"a": 1})
    assert issubclass(RewardError, InvalidInputError) and issubclass(RewardError, ValueError)


async def test_mean_reward_wrapper_is_the_function_wrapper():
    reward = rewards.MeanRewardWrapper(fn=same_answer)
    assert isinstance(reward, rewards.RewardFunctionWrapper)
    assert reward.name == "same_answer"
    assert await reward({"answer": "a"}, {"answer": "a"}) == 1.0


async def test_registered_function_reward_round_trip():
    reward = rewards.MeanRewardWrapper(fn=answer_prefix, in_mask=["answer"], name="prefix", length=3)
    config = serialize_synaplex_object(reward)
    assert config["class_name"] == "MeanRewardWrapper"
    assert config["config"]["fn"] == {"class_name": "function", "registered_name": "test_rewards_metrics>answer_prefix"}
    assert config["config"]["fn_kwargs"] == {"length": 3}
    back = round_trip(reward)
    assert type(back) is rewards.MeanRewardWrapper
    assert (back.fn, back.name, back.in_mask, back.fn_kwargs) == (answer_prefix, "prefix", ["answer"], {"length": 3})
    assert await back({"answer": "Paris"}, {"answer": "Par"}) == 1.0
    assert await back({"answer": "Paris"}, {"answer": "Pa"}) == 0.0
    assert rewards.deserialize(rewards.serialize(reward)).fn is answer_prefix


def test_unregistered_function_reward_cannot_be_saved():
    async def local_reward(y_true, y_pred):
        return 1.0

    with pytest.raises(SavingError, match=r"Cannot serialize function .*local_reward: decorate it with "
                                          r"@synaplex.saving.register_synaplex_serializable\(\)"):
        serialize_synaplex_object(rewards.RewardFunctionWrapper(local_reward))
    with pytest.raises(SavingError, match="register_synaplex_serializable"):
        rewards.serialize(rewards.RewardFunctionWrapper(lambda t, p: 1.0))


def test_loading_a_function_reward_that_is_not_registered_any_more():
    config = serialize_synaplex_object(rewards.RewardFunctionWrapper(same_answer))
    config["config"]["fn"]["registered_name"] = "test_rewards_metrics>gone"
    with pytest.raises(UnknownClassError, match="Cannot rebuild function 'test_rewards_metrics>gone'"):
        deserialize_synaplex_object(config)


def test_function_wrapper_needs_a_callable():
    with pytest.raises(InvalidInputError, match="fn must be a function fn\\(y_true, y_pred\\)"):
        rewards.RewardFunctionWrapper("same_answer")


@pytest.mark.parametrize("reward", [
    rewards.ExactMatch(in_mask=["answer"], name="em"),
    rewards.ExactMatch(out_mask=["rationale"]),
    rewards.RewardFunctionWrapper(same_answer, out_mask=["x"]),
])
def test_simple_reward_round_trips(reward):
    back = round_trip(reward)
    assert type(back) is type(reward) and back.get_config() == reward.get_config()


# --- rewards.get ----------------------------------------------------------------------------------


def test_rewards_get():
    assert isinstance(rewards.get("exact_match"), rewards.ExactMatch)
    assert isinstance(rewards.get("ExactMatch"), rewards.ExactMatch)
    assert isinstance(rewards.get("lm_as_judge"), rewards.LMAsJudge)
    assert isinstance(rewards.get("LMAsJudge"), rewards.LMAsJudge)
    assert isinstance(rewards.get("cosine_similarity"), rewards.CosineSimilarity)
    instance = rewards.ExactMatch()
    assert rewards.get(instance) is instance
    assert isinstance(rewards.get(rewards.ExactMatch), rewards.ExactMatch)
    wrapped = rewards.get(same_answer)
    assert isinstance(wrapped, rewards.RewardFunctionWrapper) and wrapped.fn is same_answer
    back = rewards.get(rewards.serialize(rewards.ExactMatch(in_mask=["answer"])))
    assert isinstance(back, rewards.ExactMatch) and back.in_mask == ["answer"]


def test_rewards_get_unknown_lists_valid_names():
    with pytest.raises(InvalidInputError, match=r"Unknown reward 'exact'. Valid names: 'cosine_similarity', "
                                                 r"'exact_match', 'lm_as_judge'"):
        rewards.get("exact")
    with pytest.raises(InvalidInputError, match="Cannot use 42 as a reward"):
        rewards.get(42)


# --- metrics: accuracy ----------------------------------------------------------------------------


async def test_accuracy_is_the_token_jaccard_of_masked_values_pooled_over_updates():
    # Synalinks' Accuracy: |tokens in both| / |tokens in either|, counts pooled per field over the updates
    accuracy = metrics.Accuracy(in_mask=["answer"])
    assert accuracy.result() == 0.0  # nothing seen yet (Keras' convention)
    await accuracy.update_state({"answer": "red car", "rationale": "x"}, {"answer": "Red car!", "rationale": "y"})
    await accuracy.update_state({"answer": "blue"}, {"answer": "green"})  # 0 common of 2
    await accuracy.update_state(Answer(answer="sun"), Answer(answer="sun").to_json_data_model())
    assert accuracy.result() == pytest.approx((2 + 0 + 1) / (2 + 2 + 1))
    accuracy.reset_state()
    assert accuracy.result() == 0.0
    await accuracy.update_state({"answer": "paris"}, {"answer": "paris"})
    assert accuracy.result() == pytest.approx(1.0, abs=1e-6) and accuracy.result() < 1.0  # 1 / (1 + 1e-7)
    assert accuracy.name == "accuracy"


async def test_accuracy_skips_an_update_without_ground_truth_or_prediction():
    accuracy = metrics.Accuracy()
    await accuracy.update_state(None, {"answer": "a"})
    await accuracy.update_state({"answer": "paris"}, None)  # a branch that produced nothing: skipped, as in Synalinks
    assert accuracy.result() == 0.0 and accuracy.state["correct"] is None


# --- metrics: token overlap -----------------------------------------------------------------------


def test_normalize_text_is_synalinks_style():
    assert metrics.normalize_text("The Cat, sat!") == ["cat", "sat"]
    assert metrics.normalize_text("  An apple a day  ") == ["apple", "day"]
    assert metrics.normalize_text("theory") == ["theory"]  # articles only as whole words
    assert metrics.normalize_and_tokenize("Paris is the capital of France") == ["paris", "capital", "france"]


async def test_token_metrics_on_one_pair():
    # "the cat sat" -> [cat, sat]; "cat sat down" -> [cat, sat, down]: tp=2, fp=1, fn=0
    for metric, expected in ((metrics.Precision(), 2 / 3), (metrics.Recall(), 1.0), (metrics.F1Score(), 0.8)):
        # one field: average=None (Synalinks' default) gives its score as a float
        await metric.update_state({"answer": "the cat sat"}, {"answer": "Cat sat down."})
        assert metric.result() == pytest.approx(expected), metric.name


async def _fill(metric):
    await metric.update_state({"answer": "the cat sat"}, {"answer": "cat sat down"})   # tp=2 fp=1 fn=0
    await metric.update_state({"answer": "red apple pie"}, {"answer": "an apple"})     # tp=1 fp=0 fn=2
    return metric.result()


async def test_token_metrics_pool_counts_over_updates():
    # one field: its counts pooled over the updates, tp=3, fp=1, fn=2
    assert await _fill(metrics.Precision()) == pytest.approx(3 / 4)
    assert await _fill(metrics.Recall()) == pytest.approx(3 / 5)
    assert await _fill(metrics.F1Score()) == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))


async def test_token_metrics_samples_averages_examples():
    assert await _fill(metrics.F1Score(average="samples")) == pytest.approx((0.8 + 0.5) / 2)
    assert await _fill(metrics.Precision(average="samples")) == pytest.approx((2 / 3 + 1.0) / 2)
    assert await _fill(metrics.Recall(average="samples")) == pytest.approx((1.0 + 1 / 3) / 2)


async def test_token_metrics_macro_averages_fields():
    f1 = metrics.F1Score(average="macro")
    micro = metrics.F1Score(average="micro")
    per_field = metrics.F1Score()
    for metric in (f1, micro, per_field):
        # answer: tp=1 fp=0 fn=0 (F1 1.0); rationale: tp=1 fp=1 fn=2 (F1 2/5)
        await metric.update_state({"answer": "Paris", "rationale": "big french city"},
                                  {"answer": "paris", "rationale": "city nearby"})
    assert f1.result() == pytest.approx((1.0 + 0.4) / 2)
    assert micro.result() == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert per_field.result() == pytest.approx([1.0, 0.4])  # fields in sorted order


async def test_token_metrics_masks_nested_fields_numbers_and_missing_fields():
    f1 = metrics.F1Score(in_mask=["answer"])
    await f1.update_state({"answer": 42, "rationale": "x"}, {"answer": "42", "rationale": "y"})
    assert f1.result() == pytest.approx(1.0)
    recall = metrics.Recall(average="micro")
    # leaves in sorted-key order, compared by position: a.x with a.x, "three" (b) with "four" (c)
    await recall.update_state({"a": {"x": "one two"}, "b": "three"}, {"a": {"x": "one two"}, "c": "four"})
    assert recall.result() == pytest.approx(2 / 3)
    precision = metrics.Precision(average="micro")
    await precision.update_state({"a": {"x": "one two"}, "b": "three"}, {"a": {"x": "one two"}, "c": "four"})
    assert precision.result() == pytest.approx(2 / 3)
    lists = metrics.F1Score(average="macro")
    await lists.update_state({"tags": ["red", "blue"]}, {"tags": ["blue", "red"]})  # items by position
    assert lists.result() == pytest.approx(0.0)
    labels = metrics.CategoricalF1Score()
    await labels.update_state({"tags": ["red", "blue"]}, {"tags": ["blue", "red"]})  # label sets
    assert labels.result() == pytest.approx(1.0)


async def test_token_metrics_edge_cases_and_reset():
    f1 = metrics.F1Score()
    assert f1.result() == 0.0  # no update
    await f1.update_state({"answer": "the"}, {"answer": "a"})  # only articles: nothing over nothing reads 0
    assert f1.result() == 0.0
    await f1.update_state({"answer": "paris"}, None)  # no prediction: skipped
    await f1.update_state({"answer": "paris"}, {"answer": "paris"})
    assert f1.result() == pytest.approx(1.0)
    f1.reset_state()
    assert f1.result() == 0.0
    await f1.update_state({"answer": "paris"}, {"answer": "paris"})
    assert f1.result() == pytest.approx(1.0)
    assert metrics.Precision().name == "precision" and f1.name == "f1_score"


def test_token_metrics_reject_unknown_average():
    with pytest.raises(InvalidInputError, match=r"F1Score: average must be one of None, 'micro', 'macro', "
                                                 r"'weighted', 'samples', got 'mean'"):
        metrics.F1Score(average="mean")


# --- metrics: means -------------------------------------------------------------------------------


async def test_mean():
    mean = metrics.Mean(name="avg")
    for value in (1.0, 0, True, 0.5):
        await mean.update_state(value)
    assert mean.result() == pytest.approx(2.5 / 4)
    mean.reset_state()
    assert mean.result() == 0.0
    with pytest.raises(InvalidInputError, match=r"Metric 'avg' averages numbers, got 'x' \(str\)"):
        await mean.update_state("x")
    with pytest.raises(InvalidInputError, match=r"use synaplex.metrics.MeanMetricWrapper\(fn\)"):
        await mean.update_state({"answer": "a"}, {"answer": "a"})


async def test_mean_metric_wrapper_sync_and_async():
    async def exact(y_true, y_pred):
        return y_true == y_pred

    metric = metrics.MeanMetricWrapper(exact, in_mask=["answer"])
    assert metric.name == "exact"
    await metric.update_state({"answer": "a", "x": 1}, {"answer": "a", "x": 2})
    await metric.update_state({"answer": "a"}, {"answer": "b"})
    assert metric.result() == 0.5
    lengths = metrics.MeanMetricWrapper(answer_length)
    await lengths.update_state(None, {"answer": "abcd"})
    await lengths.update_state(None, None)
    assert lengths.result() == 2.0
    with pytest.raises(InvalidInputError, match=r"Metric 'bad' averages numbers, got 'high'"):
        await metrics.MeanMetricWrapper(lambda t, p: "high", name="bad").update_state({"a": 1}, {"a": 1})


# --- metrics: usage -------------------------------------------------------------------------------


def _usage(**fields):
    return Usage(**fields)


def test_lm_usage_running_totals():
    tokens = metrics.LMUsage(kind="tokens", phase="inference")
    assert tokens.name == "inference_tokens" and tokens.phase == "inference"
    assert tokens.result() == 0
    tokens.update_from_usage(_usage(calls=1, input_tokens=10, output_tokens=5))
    tokens.update_from_usage(_usage(calls=2, input_tokens=1, output_tokens=2))
    assert tokens.result() == 18
    expected = {"input_tokens": 11, "output_tokens": 7, "calls": 3, "cache_hits": 1, "latency": 0.75, "cost": 0.003}
    for kind, value in expected.items():
        metric = metrics.LMUsage(kind=kind, phase="reward")
        metric.update_from_usage(_usage(calls=1, input_tokens=10, output_tokens=5, cache_hits=1, latency=0.5,
                                        cost=0.001))
        metric.update_from_usage(_usage(calls=2, input_tokens=1, output_tokens=2, latency=0.25, cost=0.002))
        assert metric.result() == pytest.approx(value), kind
        assert metric.name == f"reward_{kind}"
    tokens.reset_state()
    assert tokens.result() == 0


def test_lm_usage_unknown_cost_is_none():
    cost = metrics.LMUsage(kind="cost", phase="optimizer")
    assert cost.name == "optimizer_cost" and cost.result() == 0.0
    cost.update_from_usage(_usage(calls=1, cost=0.5))
    cost.update_from_usage(_usage(calls=1, cost=None))
    cost.update_from_usage(_usage(calls=1, cost=0.5))
    assert cost.result() is None
    cost.reset_state()
    cost.update_from_usage(_usage(calls=1, cost=0.25))
    assert cost.result() == 0.25
    tokens = metrics.LMUsage()
    tokens.update_from_usage(_usage(calls=1, input_tokens=3, cost=None))
    assert tokens.result() == 3  # an unknown price does not hide the tokens


async def test_lm_usage_errors_and_update_state_is_a_no_op():
    with pytest.raises(InvalidInputError, match=r"LMUsage: kind must be one of 'tokens', .* got 'money'"):
        metrics.LMUsage(kind="money")
    with pytest.raises(InvalidInputError, match=r"LMUsage: phase must be one of 'inference', 'reward', 'optimizer', "
                                                 r"'selection', got 'training'"):
        metrics.LMUsage(phase="training")
    metric = metrics.LMUsage(name="tok")
    with pytest.raises(InvalidInputError, match=r"update_from_usage takes a synaplex.lm.base.Usage"):
        metric.update_from_usage({"input_tokens": 3})
    await metric.update_state({"a": 1}, {"a": 1})
    assert metric.result() == 0 and metric.name == "tok"


async def test_lm_usage_reads_usage_tracked_per_phase():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"critique": "ok", "reward": 1.0}])
    judge = rewards.LMAsJudge(language_model=lm)
    with synaplex.track_usage() as used:
        await judge({"answer": "a"}, {"answer": "a"})
    calls = metrics.LMUsage(kind="calls", phase="reward")
    calls.update_from_usage(used.total)
    assert calls.result() == 1


# --- metrics.get and configs ----------------------------------------------------------------------


def test_metrics_get():
    for identifier, cls in (("accuracy", metrics.Accuracy), ("f1_score", metrics.F1Score),
                            ("precision", metrics.Precision), ("recall", metrics.Recall), ("mean", metrics.Mean),
                            ("F1Score", metrics.F1Score), ("Accuracy", metrics.Accuracy)):
        assert type(metrics.get(identifier)) is cls, identifier
    usage = metrics.get("reward_cost")
    assert isinstance(usage, metrics.LMUsage) and (usage.kind, usage.phase) == ("cost", "reward")
    assert metrics.get("inference_input_tokens").kind == "input_tokens"
    instance = metrics.Recall()
    assert metrics.get(instance) is instance
    assert isinstance(metrics.get(metrics.Precision), metrics.Precision)
    back = metrics.get(metrics.serialize(metrics.F1Score(in_mask=["answer"], average="samples")))
    assert isinstance(back, metrics.F1Score) and back.average == "samples"


def test_metrics_get_unknown_lists_valid_names():
    with pytest.raises(InvalidInputError, match=r"Unknown metric 'f1'. Valid names: 'accuracy', .*'f1_score', .*"
                                                 r"'precision', .*'recall'"):
        metrics.get("f1")
    with pytest.raises(InvalidInputError, match="Cannot use 3 as a metric"):
        metrics.get(3)


@pytest.mark.parametrize("metric", [
    metrics.Accuracy(in_mask=["answer"], name="acc"),
    metrics.F1Score(out_mask=["rationale"], average="macro"),
    metrics.Precision(average="samples"),
    metrics.Recall(in_mask=["answer"]),
    metrics.Mean(name="m"),
    metrics.LMUsage(kind="cost", phase="reward"),
    metrics.LMUsage(kind="calls", phase="optimizer", name="opt_calls"),
    metrics.MeanMetricWrapper(answer_length, name="len"),
])
def test_metric_round_trips(metric):
    back = round_trip(metric)
    assert type(back) is type(metric) and back.get_config() == metric.get_config()
    assert back.name == metric.name


async def test_round_tripped_custom_metric_still_works():
    back = metrics.deserialize(metrics.serialize(metrics.MeanMetricWrapper(answer_length)))
    assert back.fn is answer_length
    await back.update_state(None, {"answer": "abc"})
    assert back.result() == 3.0


def test_unregistered_metric_function_cannot_be_saved():
    with pytest.raises(SavingError, match="register_synaplex_serializable"):
        metrics.serialize(metrics.MeanMetricWrapper(lambda t, p: 1.0))
