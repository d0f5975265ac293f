"""The completed provider layer against the real llama.cpp OpenAI-compatible server on loopback:
streams on the call path, finish reasons and request ids, embeddings' reported usage, budgets."""

import pytest

import synaplex
from synaplex.errors import BudgetExceededError, UnknownOptionError


def lm_for(server, **kwargs):
    return synaplex.LanguageModel(model=f"llamacpp/{server.alias}", api_base=server.base_url, **kwargs)


async def test_a_stream_ends_with_its_reason_and_request_id_and_is_accounted(llama_server):
    lm = lm_for(llama_server, max_tokens=6, temperature=0.0)
    with synaplex.track_usage() as used:
        chunks = [c async for c in lm.stream([{"role": "user", "content": "Count: one, two,"}])]
    last = chunks[-1]
    assert last.finish_reason in ("length", "stop") and last.request_id.startswith("chatcmpl")
    assert lm.last_request_id == last.request_id and used.total.calls == 1 and used.total.cost == 0.0
    response = await lm.achat_complete([{"role": "user", "content": "Say hi"}], max_tokens=3)
    assert response.finish_reason == "length" and response.request_id.startswith("chatcmpl")


async def test_a_cached_stream_replays_without_the_server(llama_server):
    lm = lm_for(llama_server, max_tokens=5, temperature=0.0, caching=True)
    messages = [{"role": "user", "content": "Name a colour."}]
    first = "".join([c.text async for c in lm.stream(messages)])
    lm._adapter.http.base_url = "http://127.0.0.1:9/v1"  # unreachable: a replay must not call it
    again = [c async for c in lm.stream(messages)]
    assert "".join(c.text for c in again) == first and again[-1].usage.cache_hits == 1


async def test_embeddings_report_the_servers_token_count(llama_server):
    em = synaplex.EmbeddingModel(model=f"llamacpp/{llama_server.alias}", api_base=llama_server.base_url)
    result = await em(["hello world", "a longer sentence about embeddings"])
    assert len(result["embeddings"]) == 2 and em.usage.calls == 2  # llama.cpp servers: one text a request
    estimate = sum(len(t) // 4 + 1 for t in ["hello world", "a longer sentence about embeddings"])
    assert em.usage.input_tokens > 0 and em.usage.input_tokens != estimate and em.usage.cost == 0.0


async def test_a_budget_refuses_the_call_before_the_server_sees_it(llama_server):
    lm = lm_for(llama_server, max_tokens=4)
    with synaplex.budget(max_calls=1) as spent:
        await lm([{"role": "user", "content": "Hi"}])
        with pytest.raises(BudgetExceededError, match="max_calls=1"):
            await lm([{"role": "user", "content": "Hi again"}])
    assert spent.calls == 1 and lm.usage.calls == 1 and spent.tokens == lm.usage.total_tokens > 0


def test_an_unknown_option_is_refused_not_sent(llama_server):
    with pytest.raises(UnknownOptionError, match="unknown option 'retry_dely'"):
        lm_for(llama_server, retry_dely=1.0)
