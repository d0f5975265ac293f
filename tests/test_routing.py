"""Round-robin over a fleet of servers of one model (vLLM replicas), with recorded requests."""

import httpx2
import pytest

import synaplex
from synaplex.errors import InvalidInputError
from tests.test_provider_openai_compatible import MESSAGES, Recorder, chat_reply

MODEL = "vllm/meta-llama/Llama-3.1-8B-Instruct"
BASES = ["http://gpu1:8000/v1", "http://gpu2:8000/v1", "http://gpu3:8000/v1"]


async def test_round_robin_spreads_calls_over_the_api_bases():
    recorder = Recorder(chat_reply(content="ok"))
    router = synaplex.Router.fleet(MODEL, api_bases=BASES, transport=recorder.transport())
    for _ in range(6):
        assert (await router(MESSAGES))["content"] == "ok"
    hosts = [request.url.host for request in recorder.requests]
    assert hosts == ["gpu1", "gpu2", "gpu3", "gpu1", "gpu2", "gpu3"]
    assert all(str(r.url).endswith("/v1/chat/completions") for r in recorder.requests)
    assert recorder.body["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert router.last_decision.strategy_used == "round_robin"
    assert [h.api_base for h in router.health()] == BASES


async def test_a_failed_replica_falls_back_to_the_next_and_is_marked_unhealthy():
    def handler(request):
        if request.url.host == "gpu2":
            return httpx2.Response(503, json={"error": {"message": "overloaded"}})
        return httpx2.Response(200, json=chat_reply(content=request.url.host))

    router = synaplex.Router.fleet(MODEL, api_bases=BASES, transport=httpx2.MockTransport(handler), max_retries=0)
    answers = [(await router(MESSAGES))["content"] for _ in range(3)]
    assert answers == ["gpu1", "gpu3", "gpu3"]   # call 2 starts at gpu2, which fails: gpu3 answers
    assert router.last_decision.fallbacks_tried == ()
    gpu1, gpu2, gpu3 = router.health()
    assert (gpu2.healthy, gpu2.recent_errors, gpu2.last_error) == (False, 1, "ProviderInternalError")
    assert gpu1.healthy and gpu3.healthy


def test_fleet_bad_input():
    with pytest.raises(InvalidInputError, match="Router.fleet needs api_bases=\\[...\\], a non-empty list of URLs"):
        synaplex.Router.fleet(MODEL, api_bases=[])
    with pytest.raises(InvalidInputError, match="api_bases has the same URL twice"):
        synaplex.Router.fleet(MODEL, api_bases=[BASES[0], BASES[0]])


async def test_round_robin_saves_and_loads():
    router = synaplex.Router.fleet(MODEL, api_bases=BASES[:2])
    again = synaplex.saving.deserialize_synaplex_object(synaplex.saving.serialize_synaplex_object(router))
    assert again.strategy == "round_robin" and [m.api_base for m in again.models] == BASES[:2]
