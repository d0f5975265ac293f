import asyncio
import math

import pytest

import synaplex
from synaplex.errors import (
    InvalidInputError,
    MissingResponsesError,
    ScriptExhaustedError,
    StructuredOutputError,
    UnknownProviderError,
)
from tests.conftest import Answer

SCHEMA = Answer.get_schema()
MESSAGES = [{"role": "user", "content": "Capital of France?"}]


async def test_list_replies_are_consumed_in_order_and_validated():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}, '{"answer": "Lyon"}'])
    assert await lm(MESSAGES, schema=SCHEMA) == {"answer": "Paris"}
    assert await lm(MESSAGES, schema=SCHEMA) == {"answer": "Lyon"}
    with pytest.raises(ScriptExhaustedError, match="ran out of responses: it had 2 and this is call number 3"):
        await lm(MESSAGES, schema=SCHEMA)


async def test_every_request_is_recorded():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}], temperature=0.5)
    await lm(synaplex.ChatMessages(messages=[synaplex.ChatMessage(role="user", content="hi")]),
             schema=SCHEMA, max_tokens=10)
    assert lm.requests == [{
        "messages": [{"role": "user", "content": "hi"}],
        "schema": SCHEMA,
        "tools": None,
        "params": {"temperature": 0.5, "max_tokens": 10},
    }]


async def test_sync_and_async_callables():
    seen = []

    def sync_reply(messages, schema):
        seen.append(schema)
        return {"answer": messages[-1]["content"].upper()}

    async def async_reply(messages, schema):
        await asyncio.sleep(0)
        return '{"answer": "async"}'

    assert await synaplex.LanguageModel(model="scripted", responses=sync_reply)(MESSAGES, schema=SCHEMA) \
        == {"answer": "CAPITAL OF FRANCE?"}
    assert seen == [SCHEMA]
    assert await synaplex.LanguageModel(model="scripted", responses=async_reply)(MESSAGES, schema=SCHEMA) \
        == {"answer": "async"}


async def test_reply_that_violates_the_schema_raises_structured_output_error():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": 3}, "not json at all"])
    with pytest.raises(StructuredOutputError, match="does not match the schema Answer: answer: 3 is not of type 'string'") as info:
        await lm(MESSAGES, schema=SCHEMA)
    assert info.value.raw_text == '{"answer": 3}'
    assert info.value.validation_errors == ["answer: 3 is not of type 'string'"]
    with pytest.raises(StructuredOutputError, match="not valid JSON") as info:
        await lm(MESSAGES, schema=SCHEMA)
    assert info.value.raw_text == "not json at all"


async def test_chat_replies_without_schema():
    calls = [{"role": "assistant", "content": "", "tool_calls": [{"id": "1", "name": "add", "arguments": {"a": 1}}]}]
    lm = synaplex.LanguageModel(model="scripted", responses=["Hello!", *calls])
    assert await lm(MESSAGES) == {"role": "assistant", "content": "Hello!", "tool_calls": []}
    reply = await lm(MESSAGES)
    assert reply["tool_calls"] == [{"id": "1", "name": "add", "arguments": {"a": 1}}]


async def test_streaming_yields_the_reply_in_pieces():
    lm = synaplex.LanguageModel(model="scripted", responses=["one two three"])
    chunks = [c async for c in await lm(MESSAGES, streaming=True)]
    assert [c.text for c in chunks] == ["one ", "two ", "three", ""]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.output_tokens > 0


async def test_usage_is_accounted():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}, {"answer": "b"}])
    await lm(MESSAGES, schema=SCHEMA)
    await lm(MESSAGES, schema=SCHEMA)
    assert lm.usage.calls == 2
    assert lm.usage.input_tokens > 0 and lm.usage.output_tokens > 0
    assert lm.cumulated_cost == 0.0 and lm.last_call_cost == 0.0
    assert lm.usage.latency >= 0


async def test_bad_inputs():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}])
    with pytest.raises(InvalidInputError, match="messages is empty"):
        await lm([], schema=SCHEMA)
    with pytest.raises(InvalidInputError, match="role must be one of"):
        await lm([{"role": "wizard", "content": "x"}])
    with pytest.raises(InvalidInputError, match="not a valid JSON schema"):
        await lm(MESSAGES, schema={"type": "objekt"})
    with pytest.raises(InvalidInputError, match="responses=\\[...\\] \\(a list of replies\\) or a callable"):
        synaplex.LanguageModel(model="scripted", responses=42)
    with pytest.raises(MissingResponsesError, match="has no responses"):
        await synaplex.LanguageModel(model="scripted")(MESSAGES)
    with pytest.raises(UnknownProviderError, match="Unknown provider 'nope'.*Supported providers: .*scripted.*api_base"):
        synaplex.LanguageModel(model="nope/model")


async def test_default_language_model_from_config():
    synaplex.config.set_default_language_model("scripted")
    assert synaplex.LanguageModel().model == "scripted"
    gen = synaplex.Generator(data_model=Answer)
    assert gen.language_model.model == "scripted"


def cosine(u, v):
    return sum(a * b for a, b in zip(u, v)) / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


async def test_scripted_embeddings_are_deterministic_and_distinct():
    em = synaplex.EmbeddingModel(model="scripted")
    first = (await em(["the cat sat", "the cat sat", "a dog ran", "sat the cat"]))["embeddings"]
    assert first[0] == first[1]
    assert first[0] != first[2] and first[0] != first[3]
    again = (await synaplex.EmbeddingModel(model="scripted")(["the cat sat"]))["embeddings"][0]
    assert again == first[0]
    assert len(first[0]) == 64 and abs(cosine(first[0], first[0]) - 1) < 1e-9
    assert cosine(first[0], first[3]) > 0.9 > cosine(first[0], first[2])  # shared words are close
    assert em.requests[0] == ["the cat sat", "the cat sat", "a dog ran", "sat the cat"]


async def test_scripted_embeddings_from_responses_and_bad_input():
    em = synaplex.EmbeddingModel(model="scripted", responses=lambda texts: [[float(len(t))] * 8 for t in texts])
    assert (await em(["ab", 12]))["embeddings"] == [[2.0] * 8, [2.0] * 8]  # non-strings are str()-ed
    with pytest.raises(InvalidInputError, match="non-empty list of texts"):
        await em([])
    with pytest.raises(InvalidInputError, match="dimensions must be an integer >= 8"):
        synaplex.EmbeddingModel(model="scripted", dimensions=2)


def test_usage_add_sums_every_counter_and_keeps_unknown_cost_unknown():
    from synaplex.lm.base import Usage

    total = Usage()
    total.add(Usage(calls=1, input_tokens=3, output_tokens=4, cached_tokens=1, reasoning_tokens=2,
                    cost=0.5, latency=0.25, retries=1, repairs=1, fallbacks=1, cache_hits=1))
    total.add(Usage(calls=1, input_tokens=1, output_tokens=1, cost=0.25))
    assert (total.calls, total.input_tokens, total.output_tokens, total.total_tokens) == (2, 4, 5, 9)
    assert (total.cached_tokens, total.reasoning_tokens, total.retries, total.repairs) == (1, 2, 1, 1)
    assert (total.fallbacks, total.cache_hits, total.cost, total.latency) == (1, 1, 0.75, 0.25)
    total.add(Usage(calls=1, cost=None))
    assert total.cost is None
    total.add(Usage(calls=1, cost=1.0))
    assert total.cost is None and total.calls == 4


async def test_scripted_model_list_and_capabilities():
    lm = synaplex.LanguageModel(model="scripted/tiny", responses=[])
    assert await lm.list_models() == [{"id": "tiny", "provider": "scripted"}]
    assert lm.capabilities.tools and lm.capabilities.input_price_per_token == 0.0
