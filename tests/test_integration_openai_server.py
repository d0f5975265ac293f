"""The OpenAI-compatible adapter end to end against a real llama.cpp server on 127.0.0.1."""

import pytest

import synaplex
from synaplex.errors import InvalidRequestError
from tests.conftest import Answer

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]


def lm_for(server, provider="llamacpp", **kwargs):
    return synaplex.LanguageModel(model=f"{provider}/{server.alias}", api_base=server.base_url, max_retries=0,
                                  **kwargs)


async def test_chat(llama_server):
    lm = lm_for(llama_server, max_tokens=12)
    reply = await lm(MESSAGES)
    assert reply["role"] == "assistant" and isinstance(reply["content"], str) and reply["content"].strip()
    assert 0 < lm.last_usage.output_tokens <= 12 and lm.last_usage.input_tokens > 5
    assert lm.last_usage.cost == 0.0  # a local server costs nothing


async def test_any_openai_compatible_server_with_openai_prefix(llama_server):
    lm = lm_for(llama_server, provider="openai", max_tokens=8)
    assert (await lm(MESSAGES))["content"].strip()


async def test_stream(llama_server):
    lm = lm_for(llama_server, max_tokens=12)
    chunks = [c async for c in await lm(MESSAGES, streaming=True)]
    text = "".join(c.text for c in chunks)
    assert text.strip() and len([c for c in chunks if c.text]) >= 2
    assert chunks[-1].finish_reason in ("stop", "length")


async def test_structured_output_is_valid(llama_server):
    class City(synaplex.DataModel):
        city: str
        country: str
        population_millions: float

    lm = lm_for(llama_server, max_tokens=80)
    value = await lm(MESSAGES, schema=City.get_schema())
    City.model_validate(value)  # the server constrained it; synaplex validated it again


async def test_strict_json_schema_is_rejected_by_this_server_so_the_profile_matters(llama_server):
    lm = lm_for(llama_server, provider="openai", max_tokens=20)
    # The server answers 500 for its own validation error: typed as an invalid request, not retried.
    with pytest.raises(InvalidRequestError, match="Input should be 'text' or 'json_object'"):
        await lm(MESSAGES, schema=Answer.get_schema())


async def test_embeddings_and_models(llama_server):
    em = synaplex.EmbeddingModel(model=f"llamacpp/{llama_server.alias}", api_base=llama_server.base_url)
    vectors = (await em(["hello world", "hello world", "the capital of France"]))["embeddings"]
    assert len(vectors) == 3 and len(vectors[0]) == 576  # SmolLM2-135M's hidden size, mean-pooled
    assert vectors[0] == vectors[1] and vectors[0] != vectors[2]
    models = await lm_for(llama_server).list_models()
    assert [m["id"] for m in models] == [llama_server.alias]
