"""Item 2 (streams take the call path), item 7 (finish reasons, request ids) and item 8 (images),
on recorded requests (httpx2.MockTransport)."""

import asyncio
import json

import httpx2
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import synaplex
from synaplex.errors import (
    InvalidInputError,
    ModelNotFoundError,
    RateLimitError,
    RetriesExhaustedError,
    UnsupportedInputError,
)
from tests.conftest import Answer
from tests.test_provider_openai_compatible import KEY, MESSAGES, Recorder, chat_reply, error, sse


def stream_reply(*pieces, finish="stop", request_id="chatcmpl-42", usage=(9, 4)):
    events = [json.dumps({"id": request_id, "choices": [{"index": 0, "delta": {"content": p}}]}) for p in pieces]
    events.append(json.dumps({"id": request_id, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    events.append(json.dumps({"id": request_id, "choices": [],
                              "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}))
    events.append("[DONE]")
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse(*events))


def lm_with(recorder, model="openai/gpt-4o-mini", **kwargs):
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("retry_delay", 0.0)
    return synaplex.LanguageModel(model=model, transport=recorder.transport(), **kwargs)


async def collect(lm, **kwargs):
    return [chunk async for chunk in lm.stream(MESSAGES, **kwargs)]


# --- item 2: one path ---------------------------------------------------------------------------


async def test_a_429_before_the_first_chunk_is_retried():
    recorder = Recorder(error(429, "Slow down", headers={"retry-after": "0"}), stream_reply("Par", "is"))
    lm = lm_with(recorder)
    chunks = await collect(lm)
    assert "".join(c.text for c in chunks) == "Paris" and len(recorder.requests) == 2
    assert chunks[-1].usage.retries == 1 and lm.usage.retries == 1 and lm.usage.calls == 1
    with pytest.raises(RetriesExhaustedError, match="Gave up after 2 attempts"):
        await collect(lm_with(Recorder(error(429, "Slow down", headers={"retry-after": "0"})), max_retries=1))
    with pytest.raises(RateLimitError):  # no retries: the error itself, after one request
        await collect(lm_with(Recorder(error(429, "Slow down")), max_retries=0))


async def test_a_failing_stream_falls_back_until_its_first_chunk():
    primary = Recorder(error(500, "down"))
    backup = Recorder(stream_reply("Paris", request_id="gen-backup"))
    lm = lm_with(primary, max_retries=0, fallback=lm_with(backup, model="openai/gpt-4o", max_retries=0))
    chunks = await collect(lm)
    assert "".join(c.text for c in chunks) == "Paris" and len(primary.requests) == 1
    assert lm.last_usage.fallbacks == 1 and lm.usage.calls == 1 and lm.last_request_id == "gen-backup"


async def test_a_stream_holds_a_concurrency_slot_until_it_ends():
    order = []

    async def slow_stream():
        order.append("start")
        yield sse(json.dumps({"choices": [{"index": 0, "delta": {"content": "a"}}]}))
        await asyncio.sleep(0.05)
        order.append("end")
        yield sse(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}), "[DONE]",
                  comments=False)

    def handler(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=slow_stream())

    lm = synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, transport=httpx2.MockTransport(handler),
                                max_concurrency=1)
    await asyncio.gather(collect(lm), collect(lm))
    assert order == ["start", "end", "start", "end"]


async def test_a_cached_completion_replays_as_a_stream():
    recorder = Recorder(stream_reply("Par", "is", request_id="chatcmpl-7"))
    lm = lm_with(recorder, caching=True)
    first = await collect(lm)
    again = await collect(lm)
    assert len(recorder.requests) == 1
    assert "".join(c.text for c in again) == "".join(c.text for c in first) == "Paris"
    assert again[-1].usage.cache_hits == 1 and again[-1].finish_reason == "stop"
    assert again[-1].request_id == "chatcmpl-7"
    # a plain call of the same request hits the stream's cache entry too
    assert (await lm(MESSAGES))["content"] == "Paris" and len(recorder.requests) == 1


async def test_a_stream_gets_a_span_with_its_usage():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    synaplex.enable_observability(tracer_provider=provider)
    try:
        await collect(lm_with(Recorder(stream_reply("Paris", usage=(11, 2)))))
    finally:
        synaplex.disable_observability()
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert span.attributes["gen_ai.usage.input_tokens"] == 11 and span.attributes["gen_ai.usage.output_tokens"] == 2
    assert span.attributes["synaplex.cost_usd"] > 0


async def test_a_stream_is_accounted_and_priced_like_a_call():
    lm = lm_with(Recorder(stream_reply("Paris", usage=(1000, 1000))))
    with synaplex.track_usage() as used:
        await collect(lm)
    assert used.total.calls == 1 and used.total.input_tokens == 1000
    assert lm.usage.cost == pytest.approx(used.total.cost) and lm.usage.cost > 0


# --- item 7: why a reply ended ------------------------------------------------------------------


async def test_finish_reason_and_request_id_on_responses_and_stream_ends():
    recorder = Recorder(chat_reply(finish="length"))
    lm = lm_with(recorder)
    response = await lm.achat_complete(MESSAGES)
    assert response.finish_reason == "length" and response.choices[0].finish_reason == "length"
    assert response.request_id == "cmpl-1" and lm.last_request_id == "cmpl-1"
    chunks = await collect(lm_with(Recorder(stream_reply("x", finish="length", request_id="chatcmpl-9"))))
    assert (chunks[-1].finish_reason, chunks[-1].request_id) == ("length", "chatcmpl-9")


async def test_anthropic_and_gemini_request_ids():
    def anthropic(request):
        return httpx2.Response(200, json={"id": "msg_01ABC", "type": "message", "role": "assistant",
                                          "content": [{"type": "text", "text": "ok"}], "stop_reason": "max_tokens",
                                          "usage": {"input_tokens": 3, "output_tokens": 1}})

    def gemini(request):
        return httpx2.Response(200, json={"responseId": "resp-xyz", "candidates": [
            {"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}})

    claude = synaplex.LanguageModel(model="anthropic/claude-3-5-haiku-latest", api_key=KEY,
                                    transport=httpx2.MockTransport(anthropic))
    response = await claude.achat_complete(MESSAGES)
    assert (response.finish_reason, response.request_id) == ("length", "msg_01ABC")
    flash = synaplex.LanguageModel(model="gemini/gemini-2.0-flash", api_key=KEY, transport=httpx2.MockTransport(gemini))
    response = await flash.achat_complete(MESSAGES)
    assert (response.finish_reason, response.request_id) == ("stop", "resp-xyz")


# --- item 4: OpenRouter's prompted JSON ---------------------------------------------------------


async def test_openrouter_falls_back_to_the_schema_in_the_prompt():
    no_endpoint = httpx2.Response(404, json={"error": {"message": "No endpoints found that can handle the requested "
                                                                  "parameters.", "code": 404}})
    recorder = Recorder(no_endpoint, chat_reply(content='{"answer": "Paris"}'),
                        chat_reply(content='{"answer": "Lyon"}'))
    lm = lm_with(recorder, model="openrouter/some-vendor/tiny-model")
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    first, second = (json.loads(r.content) for r in recorder.requests)
    assert first["response_format"]["type"] == "json_schema"
    assert "response_format" not in second
    assert second["messages"][0]["role"] == "system" and '"answer"' in second["messages"][0]["content"]
    # kept for the next calls: no second 404
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Lyon"}
    assert len(recorder.requests) == 3 and "response_format" not in json.loads(recorder.requests[-1].content)


async def test_the_prompted_json_is_validated_and_repaired():
    no_endpoint = httpx2.Response(404, json={"error": {"message": "No endpoints found that can handle the requested "
                                                                  "parameters."}})
    recorder = Recorder(no_endpoint, chat_reply(content="Sure! Paris."), chat_reply(content='{"answer": "Paris"}'))
    lm = lm_with(recorder, model="openrouter/some-vendor/tiny-model")
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    assert lm.last_usage.repairs == 1 and len(recorder.requests) == 3


async def test_another_404_is_not_taken_for_a_structured_output_problem():
    recorder = Recorder(httpx2.Response(404, json={"error": {"message": "No such model"}}))
    with pytest.raises(ModelNotFoundError):
        await lm_with(recorder, model="openrouter/x/y")(MESSAGES, schema=Answer.get_schema())
    assert len(recorder.requests) == 1


# --- item 8: images -----------------------------------------------------------------------------

IMAGE = [{"role": "user", "content": [
    {"type": "text", "text": "What is this?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    {"type": "image", "data": "iVBORw0KGgo=", "media_type": "image/png"}]}]


async def test_images_on_the_openai_and_openrouter_wire():
    for model in ("openai/gpt-4o-mini", "openrouter/openai/gpt-4o"):
        recorder = Recorder(chat_reply())
        await lm_with(recorder, model=model)(IMAGE)
        assert recorder.body["messages"][0]["content"] == [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]


async def test_images_on_the_anthropic_and_gemini_wires():
    seen = []

    def anthropic(request):
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json={"id": "msg_1", "type": "message", "role": "assistant",
                                          "content": [{"type": "text", "text": "a cat"}], "stop_reason": "end_turn",
                                          "usage": {"input_tokens": 3, "output_tokens": 1}})

    def gemini(request):
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json={"candidates": [{"content": {"parts": [{"text": "a cat"}]},
                                                          "finishReason": "STOP"}]})

    await synaplex.LanguageModel(model="anthropic/claude-3-5-sonnet-latest", api_key=KEY,
                                 transport=httpx2.MockTransport(anthropic))(IMAGE)
    await synaplex.LanguageModel(model="gemini/gemini-2.0-flash", api_key=KEY,
                                 transport=httpx2.MockTransport(gemini))(IMAGE)
    assert seen[0]["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]
    assert seen[1]["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]


async def test_a_model_without_vision_is_refused_before_any_request():
    recorder = Recorder(chat_reply())
    lm = lm_with(recorder, model="openai/gpt-3.5-turbo", capabilities={"vision": False})
    with pytest.raises(UnsupportedInputError, match="does not take images .* nothing was sent"):
        await lm(IMAGE)
    with pytest.raises(UnsupportedInputError):
        [chunk async for chunk in lm.stream(IMAGE)]
    assert recorder.requests == []
    # an unknown model is tried
    unknown = lm_with(recorder, model="openai/my-own-finetune", api_base="http://127.0.0.1:9/v1")
    await unknown(IMAGE)
    assert len(recorder.requests) == 1


async def test_a_vision_fallback_answers_when_the_primary_cannot_see():
    recorder = Recorder(chat_reply(content="a cat"))
    blind = synaplex.LanguageModel(model="scripted", responses=["?"], capabilities={"vision": False},
                                   fallback=lm_with(recorder))
    assert (await blind(IMAGE))["content"] == "a cat"


@pytest.mark.parametrize("part, message", [
    ({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}, "needs an http\\(s\\) URL or a data URL"),
    ({"type": "image", "data": ""}, "needs 'url', or 'data'"),
    ({"type": "audio"}, "type must be 'text', 'image_url' or 'image'"),
    ({"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "max"}}, "detail must be"),
])
async def test_bad_content_parts_are_errors(part, message):
    with pytest.raises(InvalidInputError, match=message):
        await synaplex.LanguageModel(model="scripted", responses=["x"])([{"role": "user", "content": [part]}])


async def test_chat_messages_carry_image_parts_to_the_wire():
    recorder = Recorder(chat_reply(content="a cat"))
    messages = synaplex.ChatMessages(messages=[synaplex.ChatMessage(role="user", content=[
        {"type": "text", "text": "What is this?"}, {"type": "image", "url": "https://example.com/cat.png"}])])
    await lm_with(recorder)(messages)
    assert recorder.body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]
