"""The Esperanto-style factory, chat_complete, the Router and the facade's rate limiter."""

import asyncio
import json
import time

import httpx2
import pytest

import synaplex
from synaplex.errors import InvalidInputError, ProviderInternalError
from synaplex.lm.router import NoAvailableModelError
from tests.conftest import Answer
from tests.test_provider_openai_compatible import KEY, MESSAGES, Recorder, chat_reply, error


def test_create_language_model_and_sync_chat_complete():
    recorder = Recorder(chat_reply(content="Bonjour"))
    lm = synaplex.create_language_model("openrouter", "anthropic/claude-3.5-sonnet", config={
        "temperature": 0.3, "max_tokens": 100, "top_p": 0.9, "timeout": 30, "api_key": KEY})
    lm._adapter.http.transport = recorder.transport()
    response = lm.chat_complete(MESSAGES)
    assert response.content == "Bonjour" and response.choices[0].message.content == "Bonjour"
    assert response.usage.input_tokens == 12
    body = recorder.body
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.3, 100, 0.9)
    assert body["model"] == "anthropic/claude-3.5-sonnet" and "timeout" not in body
    with pytest.raises(InvalidInputError, match="unknown option 'temprature' \\(did you mean 'temperature'\\?\\)"):
        synaplex.create_language_model("openai", "gpt-4o-mini", config={"temprature": 1})


async def test_structured_json_config_and_async_chat_complete():
    recorder = Recorder(chat_reply(content='{"city": "Paris"}'), chat_reply(content='{"answer": "Paris"}'))
    lm = synaplex.create_language_model("openai", "gpt-4o-mini", config={"structured": {"type": "json"},
                                                                         "api_key": KEY})
    lm._adapter.http.transport = recorder.transport()
    response = await lm.achat_complete(MESSAGES)
    assert response.parsed == {"city": "Paris"} and json.loads(response.content) == {"city": "Paris"}
    assert recorder.body["response_format"] == {"type": "json_object"}  # free-form JSON mode
    response = await lm.achat_complete(MESSAGES, schema=Answer.get_schema())
    assert response.parsed == {"answer": "Paris"}


def test_sync_and_async_streaming_chat_complete():
    lm = synaplex.LanguageModel(model="scripted", responses=["one two", "three four"])
    chunks = list(lm.chat_complete(MESSAGES, stream=True))
    assert "".join(c.text for c in chunks) == "one two" and chunks[-1].usage is not None

    async def consume():
        return [c.text async for c in await lm.achat_complete(MESSAGES, stream=True)]

    assert "".join(asyncio.run(consume())) == "three four"


def test_sync_stream_propagates_errors():
    lm = synaplex.LanguageModel(model="scripted", responses=[])
    with pytest.raises(synaplex.errors.ScriptExhaustedError):
        list(lm.chat_complete(MESSAGES, stream=True))


def priced(name, input_price, output_price, reply="ok", **kwargs):
    return synaplex.LanguageModel(model=f"scripted/{name}", responses=lambda m, s: reply if s is None else {"answer": name},
                                  capabilities={"input_price_per_token": input_price,
                                                "output_price_per_token": output_price, **kwargs})


async def test_router_cheapest_and_manual():
    cheap, expensive, unknown = priced("cheap", 1e-7, 2e-7), priced("expensive", 1e-5, 3e-5), priced("unknown", None, None)
    router = synaplex.Router(models=[expensive, unknown, cheap], strategy="cheapest")
    assert await router(MESSAGES, schema=Answer.get_schema()) == {"answer": "cheap"}
    assert router.last_decision.model == "scripted/cheap"
    assert [m.model for m in router.order(MESSAGES)[0]] == ["scripted/cheap", "scripted/expensive", "scripted/unknown"]
    manual = synaplex.Router(models=[expensive, cheap], strategy="manual")
    assert await manual(MESSAGES, schema=Answer.get_schema()) == {"answer": "expensive"}


async def test_router_fastest_measures_latency():
    async def slow_reply(messages, schema):
        await asyncio.sleep(0.05)
        return "slow"

    slow = synaplex.LanguageModel(model="scripted/slow", responses=slow_reply)
    fast = synaplex.LanguageModel(model="scripted/fast", responses=lambda m, s: "fast")
    router = synaplex.Router(models=[slow, fast], strategy="fastest")
    await router(MESSAGES)  # untried models go first, in order: slow, then...
    await router(MESSAGES)  # ...fast gets measured
    assert [m.model for m in router.order(MESSAGES)[0]] == ["scripted/fast", "scripted/slow"]
    assert (await router(MESSAGES))["content"] == "fast"


async def test_router_smart_filters_by_capability_and_falls_back():
    no_tools = priced("no_tools", 1e-9, 1e-9, tools=False)
    broken = synaplex.LanguageModel(model="openai/broken", api_key=KEY, max_retries=0,
                                    transport=Recorder(error(500, "down")).transport(),
                                    capabilities={"tools": True, "input_price_per_token": 1e-8,
                                                  "output_price_per_token": 1e-8})
    good = priced("good", 1e-6, 1e-6, tools=True)
    router = synaplex.Router(models=[no_tools, broken, good], strategy="smart")
    tools = [{"name": "f", "parameters": {"type": "object", "properties": {}}}]
    reply = await router(MESSAGES, tools=tools)
    assert reply["content"] == "ok"
    assert router.last_decision.model == "scripted/good"
    assert router.last_decision.fallbacks_tried == ("openai/broken",)
    assert "no_tools: no tool calling" in router.last_decision.reason
    assert router.last_usage.fallbacks == 1
    # the broken model failed recently: smart now tries the healthy one first
    assert [m.model for m in router.order(MESSAGES, tools=tools)[0]] == ["scripted/good", "openai/broken"]
    tiny = priced("tiny", 0.0, 0.0, context_window=10)
    with pytest.raises(NoAvailableModelError, match="exceeds its 10-token context"):
        await synaplex.Router(models=[tiny])(MESSAGES + [{"role": "user", "content": "x" * 400}])


async def test_router_in_a_program_and_saving(tmp_path):
    router = synaplex.Router(models=[priced("a", 1e-6, 1e-6), priced("b", 1e-7, 1e-7)], strategy="cheapest")
    inputs = synaplex.Input(data_model=synaplex.Instructions)
    outputs = await synaplex.Generator(data_model=Answer, language_model=router)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    assert (await program(synaplex.Instructions(instructions="x"))).get_json() == {"answer": "b"}
    config = synaplex.saving.serialize_synaplex_object(router)
    assert config["config"]["strategy"] == "cheapest" and len(config["config"]["models"]) == 2
    with pytest.raises(InvalidInputError, match="Unknown routing strategy 'random'"):
        synaplex.Router(models=[priced("a", 0, 0)], strategy="random")


async def test_facade_rate_limiter_caps_concurrency_and_pauses_on_429():
    active, peak = 0, 0

    async def reply(messages, schema):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1
        return "ok"

    lm = synaplex.LanguageModel(model="scripted/limited", responses=reply, max_concurrency=2)
    await asyncio.gather(*(lm(MESSAGES) for _ in range(8)))
    assert peak == 2

    handled = []

    def handler(request):
        handled.append(time.monotonic())
        if len(handled) == 1:
            return httpx2.Response(429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "0.3"})
        return httpx2.Response(200, json=chat_reply())

    limited = synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, max_retries=0, max_concurrency=4,
                                     transport=httpx2.MockTransport(handler))
    with pytest.raises(synaplex.errors.RateLimitError):
        await limited(MESSAGES)
    await limited(MESSAGES)  # waits for the pause the 429 asked for
    assert handled[1] - handled[0] >= 0.25


async def test_error_that_is_not_retryable_is_not_retried():
    recorder = Recorder(error(500, "boom"), chat_reply())
    lm = synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, max_retries=0,
                                transport=recorder.transport())
    with pytest.raises(ProviderInternalError):
        await lm(MESSAGES)
    assert len(recorder.requests) == 1
