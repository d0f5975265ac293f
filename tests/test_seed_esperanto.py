"""Seed 001 (Esperanto): the factory's config keys and the stream shapes the seed reads."""

import httpx2
import pytest

import synaplex
from synaplex.errors import InvalidInputError, UnknownOptionError
from tests.test_provider_openai_compatible import KEY, Recorder

SSE = (b'data: {"id":"gen-1","choices":[{"index":0,"delta":{"role":"assistant","content":"Once"}}]}\n\n'
       b'data: {"id":"gen-1","choices":[{"index":0,"delta":{"content":" upon"}}]}\n\n'
       b'data: {"id":"gen-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
       b'"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\n'
       b"data: [DONE]\n\n")


def streamed():
    return Recorder(httpx2.Response(200, content=SSE, headers={"content-type": "text/event-stream"}))


def seed_model(recorder):
    model = synaplex.create_language_model("openrouter", "anthropic/claude-3.5-sonnet", config={
        "temperature": 0.7, "max_tokens": 1000, "top_p": 0.9, "streaming": True, "timeout": 60.0, "api_key": KEY})
    model._adapter.http.transport = recorder.transport()
    return model


def test_seed_config_keys_and_sync_stream_shape():
    recorder = streamed()
    model = seed_model(recorder)
    assert model.streaming is True
    messages = [{"role": "user", "content": "Write a short story about AI"}]
    printed = "".join(chunk.choices[0].delta.content for chunk in model.chat_complete(messages, stream=True))
    assert printed == "Once upon"
    body = recorder.body
    assert body["stream"] is True and (body["temperature"], body["max_tokens"], body["top_p"]) == (0.7, 1000, 0.9)
    chunks = list(model.chat_complete(messages))          # streaming=True: a stream without stream=
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.output_tokens == 2


async def test_async_stream_as_the_seed_writes_it():
    model = seed_model(streamed())
    messages = [{"role": "user", "content": "Write a short story about AI"}]
    printed = [chunk.choices[0].delta.content async for chunk in model.achat_complete(messages, stream=True)]
    assert "".join(printed) == "Once upon" and None not in printed
    awaited = [chunk.text async for chunk in await model.achat_complete(messages, stream=True)]   # still works
    assert "".join(awaited) == "Once upon"


async def test_achat_complete_without_stream_is_awaited_not_iterated():
    model = synaplex.LanguageModel(model="scripted", responses=["Paris"])
    response = await model.achat_complete([{"role": "user", "content": "Capital?"}])
    assert response.choices[0].message.content == "Paris"
    with pytest.raises(InvalidInputError, match="without stream=True gives one ChatResponse: write `response = "
                                                "await lm.achat_complete\\(messages\\)`"):
        async for _ in model.achat_complete([{"role": "user", "content": "x"}]):
            pass
    assert len(model.requests) == 1   # nothing sent for the refused iteration


def test_unknown_config_key_still_refused():
    with pytest.raises(UnknownOptionError, match="unknown option 'streamming' \\(did you mean 'streaming'"):
        synaplex.create_language_model("openrouter", "openai/gpt-4o", config={"streamming": True, "api_key": KEY})
