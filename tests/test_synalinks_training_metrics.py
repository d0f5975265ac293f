"""Synalinks' metric definitions: the numeric cases of Synalinks' own tests
(accuracy_metrics_test, f_score_metrics_test, precision_recall_metrics_test), the averages,
callable metrics, the LM-usage names and their errors."""

from typing import Literal

import pytest

import synaplex
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.training import metrics
from synaplex.training.lookup import UnknownIdentifierError

EPS = 3e-7  # Synalinks' tests: delta=3 * backend.epsilon()


class Answer(synaplex.DataModel):
    answer: str


class MultiLabels(synaplex.DataModel):
    label: bool
    label_1: bool
    label_2: bool


class Labels(synaplex.DataModel):
    labels: list[Literal["a", "b", "c"]]


class Sources(synaplex.DataModel):
    sources: list[str]
    answer: str


class Extraction(synaplex.DataModel):
    relations: list[str]


TOULOUSE = "Toulouse is the French city of aeronautics and space."


# --- Accuracy ---------------------------------------------------------------------------------


async def test_accuracy_is_callable_and_scores_same_and_different_fields():
    metric = metrics.Accuracy(average="weighted")
    assert await metric(Answer(answer=TOULOUSE), Answer(answer=TOULOUSE)) == pytest.approx(1.0, abs=EPS)
    metric = metrics.Accuracy(average="weighted")
    assert await metric(Answer(answer="Paris is the capital of France."), Answer(answer=TOULOUSE)) == \
        pytest.approx(0.0, abs=EPS)


async def test_accuracy_partial_overlap_is_the_token_jaccard():
    # true [paris, capital, france], pred [paris, in, northern, france, region]: 2 common of 6
    metric = metrics.Accuracy(average="weighted")
    score = await metric(Answer(answer="Paris is the capital of France"), Answer(answer="Paris is in northern France region"))
    assert score == pytest.approx(2 / 6)
    metric.reset_state()
    assert metric.result() == 0.0


async def test_accuracy_ragged_structures_accumulate_and_unmatched_leaves_count():
    metric = metrics.Accuracy(average="micro")
    three = ["alpha beta", "gamma delta", "epsilon zeta"]
    await metric(Extraction(relations=three), Extraction(relations=three))
    await metric(Extraction(relations=["alpha beta"]), Extraction(relations=["alpha beta"]))
    assert metric.result() == pytest.approx(1.0, abs=EPS)
    metric = metrics.Accuracy(average="micro")
    await metric(Extraction(relations=["alpha beta", "gamma delta"]), Extraction(relations=["alpha beta"]))
    assert metric.result() == pytest.approx(0.5, abs=EPS)


async def test_accuracy_average_none_is_per_field_and_weighted_uses_expected_tokens():
    y_true = {"a": "one two three", "b": "four"}
    y_pred = {"a": "one two three", "b": "five"}
    per_field = metrics.Accuracy()
    assert await per_field(y_true, y_pred) == pytest.approx([1.0, 0.0], abs=EPS)
    weighted = metrics.Accuracy(average="weighted")
    assert await weighted(y_true, y_pred) == pytest.approx(3 / 4, abs=EPS)  # weights 3 and 1 expected tokens
    macro = metrics.Accuracy(average="macro")
    assert await macro(y_true, y_pred) == pytest.approx(0.5, abs=EPS)
    micro = metrics.Accuracy(average="micro")
    assert await micro(y_true, y_pred) == pytest.approx(3 / 5, abs=EPS)  # 3 common of 3 + 2


# --- BinaryAccuracy, CategoricalAccuracy --------------------------------------------------------


async def test_binary_accuracy_cases():
    same = MultiLabels(label=False, label_1=True, label_2=True)
    assert await metrics.BinaryAccuracy(average="macro")(same, same) == pytest.approx(1.0, abs=EPS)
    assert await metrics.BinaryAccuracy(average="macro")(
        MultiLabels(label=False, label_1=False, label_2=True),
        MultiLabels(label=True, label_1=True, label_2=False)) == pytest.approx(0.0, abs=EPS)
    assert await metrics.BinaryAccuracy(average="macro")(
        MultiLabels(label=True, label_1=False, label_2=False),
        MultiLabels(label=True, label_1=True, label_2=False)) == pytest.approx(2 / 3, abs=1e-3)
    floats = metrics.BinaryAccuracy(average="macro", threshold=0.7)
    assert await floats({"p": 0.8, "q": 0.6}, {"p": 0.9, "q": 0.75}) == pytest.approx(0.5, abs=EPS)


async def test_binary_metrics_refuse_other_values_and_bad_thresholds():
    with pytest.raises(InvalidInputError, match=r"BinaryAccuracy 'binary_accuracy' compares booleans or floats "
                                                 r"in \[0, 1\], got the value 'yes' \(str\)\. Keep only such fields"):
        await metrics.BinaryAccuracy()({"x": "yes"}, {"x": True})
    with pytest.raises(InvalidInputError, match=r"BinaryAccuracy: threshold must be a float with 0 < threshold "
                                                 r"<= 1 \(e\.g\. 0\.5\), got 1"):
        metrics.BinaryAccuracy(threshold=1)
    with pytest.raises(InvalidInputError, match="BinaryF1Score: threshold must be a float"):
        metrics.BinaryF1Score(threshold=0.0)


async def test_categorical_accuracy_cases():
    assert await metrics.CategoricalAccuracy(average="weighted")(
        Labels(labels=["a", "b", "c"]), Labels(labels=["a", "b", "c"])) == pytest.approx(1.0, abs=EPS)
    assert await metrics.CategoricalAccuracy(average="weighted")(
        Labels(labels=["b", "c"]), Labels(labels=["a"])) == pytest.approx(0.0, abs=EPS)
    masked = metrics.CategoricalAccuracy(average="weighted", out_mask=["answer"])
    assert await masked(Sources(sources=["s1", "s2"], answer="This is an answer"),
                        Sources(sources=["s1", "s2"], answer="Different answer")) == pytest.approx(1.0, abs=EPS)
    per_label = metrics.CategoricalAccuracy(labels=["a", "b", "c"], average=None)
    score = await per_label(Labels(labels=["a", "c"]), Labels(labels=["a", "b"]))
    assert score == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0}, abs=1e-3)
    no_labels = metrics.CategoricalAccuracy(average=None)
    assert isinstance(await no_labels({"f1": "a", "f2": "y"}, {"f1": "a", "f2": "x"}), float)


# --- the F-beta family ---------------------------------------------------------------------------


async def test_fbeta_and_f1_cases():
    for cls in (metrics.FBetaScore, metrics.F1Score):
        assert await cls(average="weighted")(Answer(answer=TOULOUSE), Answer(answer=TOULOUSE)) == \
            pytest.approx(1.0, abs=EPS)
        assert await cls(average="weighted")(Answer(answer="Paris is the capital of France."),
                                             Answer(answer=TOULOUSE)) == pytest.approx(0.0, abs=EPS)
    repeated = "John and Mary went to school. John was happy."
    assert await metrics.F1Score(average="weighted")(Answer(answer=repeated), Answer(answer=repeated)) == \
        pytest.approx(1.0, abs=EPS)
    assert await metrics.F1Score(average="weighted")(Answer(answer="Paris is France"),
                                                     Answer(answer="Paris Paris is France")) == pytest.approx(0.8,
                                                                                                              abs=1e-3)


async def test_fbeta_beta_weighs_recall():
    # tp=1, fp=0, fn=1: precision 1, recall 1/2; F2 = 5 * 0.5 / (4 + 0.5)
    metric = metrics.FBetaScore(beta=2.0, average="micro")
    assert await metric({"a": "red apple"}, {"a": "apple"}) == pytest.approx(5 * 0.5 / 4.5, abs=1e-6)
    assert metric.get_config()["beta"] == 2.0
    with pytest.raises(InvalidInputError, match=r"FBetaScore: beta must be a positive number \(e\.g\. 1\.0\), got 0"):
        metrics.FBetaScore(beta=0)


async def test_f1_ragged_structures():
    metric = metrics.F1Score(average="micro")
    await metric(Extraction(relations=["alpha beta", "gamma delta"]), Extraction(relations=["alpha beta"]))
    assert metric.result() == pytest.approx(2 / 3, abs=EPS)


async def test_binary_fbeta_and_categorical_fbeta_cases():
    same = MultiLabels(label=False, label_1=True, label_2=True)
    for cls in (metrics.BinaryFBetaScore, metrics.BinaryF1Score):
        assert await cls(average="weighted")(same, same) == pytest.approx(1.0, abs=EPS)
        assert await cls(average="weighted")(MultiLabels(label=False, label_1=False, label_2=True),
                                             MultiLabels(label=True, label_1=True, label_2=False)) == \
            pytest.approx(0.0, abs=EPS)
    partial = await metrics.CategoricalFBetaScore(average="weighted")(
        Labels(labels=["b", "c"]), Labels(labels=["a", "b"]))
    assert partial == pytest.approx(0.5, abs=1e-6)  # tp 1, fp 1, fn 1
    sources = await metrics.CategoricalFBetaScore(average="weighted", in_mask=["sources"])(
        Sources(sources=["s1", "s2"], answer="x"), Sources(sources=["s1", "s2", "s3"], answer="x"))
    assert sources == pytest.approx(2 * (2 / 3) / (2 / 3 + 1), abs=1e-6)
    per_label = await metrics.CategoricalF1Score(labels=["a", "b", "c"], average=None)(
        Labels(labels=["a", "c"]), Labels(labels=["a", "b"]))
    assert per_label == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0}, abs=1e-3)
    macro = await metrics.CategoricalF1Score(labels=["a", "b", "c"], average="macro")(
        Labels(labels=["a", "b"]), Labels(labels=["a", "b"]))
    assert macro == pytest.approx(2 / 3, abs=1e-6)  # "c" absent from both: 0 over epsilon
    assert metrics.ListF1Score is metrics.CategoricalF1Score and metrics.ListFBetaScore is metrics.CategoricalFBetaScore
    clone = metrics.CategoricalF1Score.from_config(metrics.CategoricalF1Score(labels=["a", "b"]).get_config())
    assert clone.labels == ["a", "b"]
    with pytest.raises(InvalidInputError, match=r"CategoricalF1Score: labels must be a list of label names"):
        metrics.CategoricalF1Score(labels="ab")


async def test_precision_and_recall_cases():
    assert await metrics.Precision(average="weighted")(Answer(answer="Paris cuisine bistros"),
                                                       Answer(answer="Aeronautics planes Toulouse")) == \
        pytest.approx(0.0, abs=EPS)
    assert await metrics.Precision(average="weighted")(Answer(answer="Paris is France"),
                                                       Answer(answer="Paris Paris is France")) == \
        pytest.approx(2 / 3, abs=1e-3)
    assert await metrics.Recall(average="weighted")(Answer(answer="Paris is France"),
                                                    Answer(answer="Paris Paris is France")) == pytest.approx(1.0,
                                                                                                             abs=1e-3)
    assert await metrics.Recall(average="weighted")(Answer(answer="aeronautics planes"),
                                                    Answer(answer="aeronautics")) == pytest.approx(0.5, abs=1e-3)
    config = metrics.Precision(average="macro").get_config()
    assert "beta" not in config and metrics.Precision.from_config(config).average == "macro"


async def test_binary_precision_micro_and_macro_differ_and_binary_recall():
    labels = {"a": True, "b": True, "c": False}
    assert await metrics.BinaryPrecision(average="micro")(labels, labels) == pytest.approx(1.0, abs=EPS)
    assert await metrics.BinaryPrecision(average="macro")(labels, labels) == pytest.approx(2 / 3, abs=1e-6)
    assert await metrics.BinaryPrecision(average="macro")({"a": True, "b": False, "c": True},
                                                          {"a": True, "b": True, "c": True}) == pytest.approx(2 / 3,
                                                                                                              abs=1e-6)
    assert await metrics.BinaryRecall(average="micro")({"a": True, "b": True, "c": False},
                                                       {"a": False, "b": True, "c": False}) == pytest.approx(0.5,
                                                                                                             abs=1e-3)
    assert metrics.BinaryRecall(average="weighted").get_config()["threshold"] == 0.5


async def test_categorical_precision_and_recall_per_label():
    precision = await metrics.CategoricalPrecision(labels=["a", "b", "c"])(Labels(labels=["a", "c"]),
                                                                          Labels(labels=["a", "b"]))
    recall = await metrics.CategoricalRecall(labels=["a", "b", "c"])(Labels(labels=["a", "c"]),
                                                                    Labels(labels=["a", "b"]))
    assert precision == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0}, abs=1e-3)
    assert recall == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0}, abs=1e-3)


def test_averages_are_checked():
    for cls in (metrics.Accuracy, metrics.BinaryAccuracy, metrics.CategoricalF1Score, metrics.Precision):
        with pytest.raises(InvalidInputError, match=rf"{cls.__name__}: average must be one of None, 'micro', "
                                                     r"'macro', 'weighted'"):
            cls(average="sample")
    assert metrics.F1Score(average="samples").average == "samples"  # synaplex's, kept for saved programs
    with pytest.raises(InvalidInputError, match="BinaryF1Score: average must be one of"):
        metrics.BinaryF1Score(average="samples")


# --- reduction metrics --------------------------------------------------------------------------


async def test_mean_and_sum_take_lists_as_synalinks_does():
    total = metrics.Sum()
    assert await total([1, 3, 5, 7]) == 16.0
    mean = metrics.Mean()
    assert await mean([1.0, 0.0, 0.5]) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match=r"Metric 'sum' averages numbers, got 'x'"):
        await total(["x"])
    assert isinstance(metrics.get("sum"), metrics.Sum)


# --- the LM-usage names -------------------------------------------------------------------------


def usage(calls, input_tokens, output_tokens, cost=0.0, cached=0, reasoning=0, latency=0.0, fallbacks=0):
    return Usage(calls=calls, input_tokens=input_tokens, output_tokens=output_tokens, cost=cost,
                 cached_tokens=cached, reasoning_tokens=reasoning, latency=latency, fallbacks=fallbacks)


def test_usage_names_are_lm_usage_with_kind_and_phase_fixed():
    cases = {
        "InputTokens": ("input_tokens", "inference", "input_tokens"),
        "TotalTokens": ("tokens", "inference", "total_tokens"),
        "RewardCost": ("cost", "reward", "reward_cost"),
        "AvgOptimizerLatency": ("avg_latency", "optimizer", "avg_optimizer_latency"),
        "AvgRewardInputTokensPerCall": ("avg_input_tokens_per_call", "reward", "avg_reward_input_tokens_per_call"),
        "OptimizerCacheHitRate": ("cache_hit_rate", "optimizer", "optimizer_cache_hit_rate"),
        "ReasoningTokenShare": ("reasoning_token_share", "inference", "reasoning_token_share"),
        "RewardThroughput": ("throughput", "reward", "reward_throughput"),
        "FallbackActivations": ("fallbacks", "inference", "fallback_activations"),
    }
    for class_name, (kind, phase, name) in cases.items():
        metric = getattr(metrics, class_name)()
        assert isinstance(metric, metrics.LMUsage) and (metric.kind, metric.phase, metric.name) == (kind, phase, name)
        assert metrics.get(class_name).name == name and type(metrics.get(name)).__name__ == class_name
        assert getattr(synaplex.metrics, class_name) is type(metric)
    assert len([n for n in metrics.__all__ if isinstance(getattr(metrics, n), type)
                and issubclass(getattr(metrics, n), metrics.LMUsage)]) == 3 * 18 + 1


def test_usage_metric_values():
    metric = metrics.AvgInputTokensPerCall()
    assert metric.result() == 0.0  # no call
    metric.update_from_usage(usage(2, 30, 10, cost=0.02, cached=15, reasoning=4, latency=3.0), seconds=2.0)
    metric.update_from_usage(usage(2, 10, 30, cost=0.02, latency=1.0), seconds=2.0)
    assert metric.result() == 10.0
    values = {}
    for class_name in ("InputTokens", "TotalTokens", "Cost", "AvgCostPerCall", "AvgLatency", "CacheHitRate",
                       "ReasoningTokenShare", "TokensPerSecond", "Throughput", "CachedTokens"):
        each = getattr(metrics, class_name)()
        each.update_from_usage(usage(2, 30, 10, cost=0.02, cached=15, reasoning=4, latency=3.0), seconds=2.0)
        each.update_from_usage(usage(2, 10, 30, cost=0.02, latency=1.0), seconds=2.0)
        values[class_name] = each.result()
    assert values == pytest.approx({"InputTokens": 40, "TotalTokens": 80, "Cost": 0.04, "AvgCostPerCall": 0.01,
                                    "AvgLatency": 1.0, "CacheHitRate": 15 / 40, "ReasoningTokenShare": 4 / 40,
                                    "TokensPerSecond": 20.0, "Throughput": 1.0, "CachedTokens": 15})
    unknown = metrics.AvgCostPerCall()
    unknown.update_from_usage(usage(1, 1, 1, cost=None))
    assert unknown.result() is None  # an unknown price is never shown as a number


def test_usage_metric_errors_and_round_trip():
    with pytest.raises(InvalidInputError, match=r"LMUsage: kind must be one of .*'throughput', got 'ttft'"):
        metrics.LMUsage(kind="ttft")
    with pytest.raises(InvalidInputError, match=r"seconds must be a number >= 0, got -1"):
        metrics.Cost().update_from_usage(Usage(), seconds=-1)
    config = synaplex.saving.serialize_synaplex_object(metrics.RewardCost(name="judge_cost"))
    assert config["module"] == "synaplex.training.metrics" and config["class_name"] == "RewardCost"
    back = synaplex.saving.deserialize_synaplex_object(config)
    assert type(back) is metrics.RewardCost and back.name == "judge_cost" and back.phase == "reward"


def test_metric_ids_are_case_insensitive_and_unknown_ones_are_typed():
    assert type(metrics.get("binaryaccuracy")) is metrics.BinaryAccuracy
    assert type(metrics.get("CategoricalF1Score")) is metrics.CategoricalF1Score
    assert type(metrics.get("list_f1_score")) is metrics.CategoricalF1Score
    with pytest.raises(UnknownIdentifierError, match=r"Unknown metric 'f2_score'\. Valid names: 'accuracy', "):
        metrics.get("f2_score")
    with pytest.raises(InvalidInputError, match=r"The metric 'mean_metric_wrapper' \(MeanMetricWrapper\) cannot be "
                                                 r"built from its name alone: pass synaplex\.metrics\.MeanMetricWrapper"):
        metrics.get("mean_metric_wrapper")
