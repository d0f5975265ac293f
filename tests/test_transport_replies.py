"""Replies that are hostile in their content: deep nesting, cut-off streams, odd numbers.

Item 11 (JSON nested 10,000 deep gives a typed error, never RecursionError), item 12 (a
cut-off event stream raises a typed, retryable error in every adapter), and the model-level
guards around them. All through ``httpx2.MockTransport``.
"""

from __future__ import annotations

import json

import httpx2
import pytest

import synaplex
from synaplex.errors import (
    AuthenticationError,
    ProviderInternalError,
    StructuredOutputError,
)
from tests.conftest import Answer

KEY = "sk-replies-0123456789abcdefghijklm"
MESSAGES = [{"role": "user", "content": "Capital of France?"}]
DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a": ' * 10_000 + "1" + "}" * 10_000
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.0-flash"]


def model(name: str, handler, **kwargs):
    kwargs.setdefault("max_retries", 0)
    return synaplex.LanguageModel(model=name, api_key=KEY, transport=httpx2.MockTransport(handler), **kwargs)


def json_body(text: str, status: int = 200) -> httpx2.Response:
    return httpx2.Response(status, headers={"content-type": "application/json"}, content=text.encode())


def event_stream(*data: str) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                           content="".join(f"data: {d}\n\n" for d in data).encode())


def good_reply(name: str, text: str) -> dict:
    if name.startswith("anthropic"):
        return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}}
    if name.startswith("gemini"):
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


# --- item 11: deep JSON --------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, "[" * 600 + "]" * 600], ids=["array", "object", "600"])
async def test_a_reply_nested_deep_is_a_typed_retryable_error(name, body):
    lm = model(name, lambda request: json_body(body))
    with pytest.raises(ProviderInternalError) as info:
        await lm(MESSAGES)
    assert info.value.is_retryable
    assert "answered with a body that is not JSON it can use (it is nested deeper than 128 levels)" in str(info.value)


@pytest.mark.parametrize("name", MODELS)
async def test_a_stream_event_nested_deep_is_a_typed_error(name):
    lm = model(name, lambda request: event_stream(DEEP))
    with pytest.raises(ProviderInternalError) as info:
        [c async for c in await lm(MESSAGES, streaming=True)]
    assert "a stream event is not JSON it can use (it is nested deeper than 128 levels)" in str(info.value)
    assert info.value.is_retryable


@pytest.mark.parametrize("name", MODELS)
async def test_an_error_body_nested_deep_still_gives_the_status_error(name):
    lm = model(name, lambda request: json_body(DEEP_OBJECT, status=401))
    with pytest.raises(AuthenticationError, match="HTTP 401 AuthenticationError"):
        await lm(MESSAGES)


@pytest.mark.parametrize("text", [DEEP, '{"answer": ' + DEEP + "}", '{"answer": ' + "[" * 300 + "]" * 300 + "}"])
async def test_structured_output_nested_deep_is_a_structured_output_error(text):
    calls = []

    def handler(request):
        calls.append(1)
        return httpx2.Response(200, json=good_reply("openai", text))

    lm = model("openai/gpt-4o-mini", handler)
    with pytest.raises(StructuredOutputError) as info:
        await lm(MESSAGES, schema=Answer.get_schema())
    assert "not valid JSON (it is nested deeper than 128 levels)" in str(info.value)
    assert info.value.validation_errors == ["not valid JSON (it is nested deeper than 128 levels)"]
    assert len(calls) == 2  # one repair was tried


async def test_a_deep_error_event_inside_a_200_stream_is_typed():
    lm = model("openai/gpt-4o-mini", lambda request: event_stream('{"error": ' + DEEP_OBJECT + "}"))
    with pytest.raises(ProviderInternalError) as info:
        [c async for c in await lm(MESSAGES, streaming=True)]
    assert str(info.value).startswith('openai/gpt-4o-mini: error event in the stream: {"error": {"a": {"a": ')
    assert len(str(info.value)) < 600


@pytest.mark.parametrize("body, problem", [
    ('{"choices": NaN}', "NaN is not valid JSON"),
    ('{"choices": [], "x": Infinity}', "Infinity is not valid JSON"),
    ('{"choices": -Infinity}', "-Infinity is not valid JSON"),
])
async def test_nan_and_infinity_are_not_json(body, problem):
    lm = model("openai/gpt-4o-mini", lambda request: json_body(body))
    with pytest.raises(ProviderInternalError) as info:
        await lm(MESSAGES)
    assert f"not JSON it can use ({problem})" in str(info.value)


async def test_structured_output_with_a_number_that_overflows_is_invalid():
    schema = {"type": "object", "properties": {"n": {"type": "number"}}, "required": ["n"], "title": "N"}
    lm = model("openai/gpt-4o-mini", lambda request: httpx2.Response(200, json=good_reply("openai", '{"n": 1e400}')))
    with pytest.raises(StructuredOutputError) as info:
        await lm(MESSAGES, schema=schema)
    assert info.value.validation_errors == ["not valid JSON (it holds a number that is infinite or NaN (out of range))"]


# --- item 12: a cut-off stream -------------------------------------------------------------------


def openai_delta(text: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def gemini_chunk(text: str, finish: str | None = None) -> str:
    candidate = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish:
        candidate["finishReason"] = finish
    return json.dumps({"candidates": [candidate]})


@pytest.mark.parametrize("name, events, message", [
    ("openai/gpt-4o-mini", [openai_delta("Par"), openai_delta("is")],
     "openai/gpt-4o-mini: the stream was cut off: it ended without [DONE] and without a finish reason, so the "
     "reply may be incomplete (retrying may help)."),
    ("gemini/gemini-2.0-flash", [gemini_chunk("Par"), gemini_chunk("is")],
     "gemini/gemini-2.0-flash: the stream was cut off: it ended without a finishReason, so the reply may be "
     "incomplete (retrying may help)."),
    ("anthropic/claude-3-5-haiku-latest",
     [json.dumps({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
      json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
      json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}})],
     "anthropic/claude-3-5-haiku-latest: the stream ended before message_stop: stop_reason=None"),
])
async def test_a_cut_off_stream_is_a_typed_retryable_error(name, events, message):
    lm = model(name, lambda request: event_stream(*events))
    texts = []
    with pytest.raises(ProviderInternalError) as info:
        async for chunk in await lm(MESSAGES, streaming=True):
            texts.append(chunk.text)
    assert str(info.value) == message and info.value.is_retryable
    assert "".join(texts) == "Par" + ("is" if "anthropic" not in name else "")


@pytest.mark.parametrize("events", [
    [openai_delta("Paris"), openai_delta("", "stop")],     # a finish reason, no [DONE]
    [openai_delta("Paris"), "[DONE]"],                      # [DONE], no finish reason
])
async def test_a_stream_with_a_finish_reason_or_done_is_complete(events):
    lm = model("openai/gpt-4o-mini", lambda request: event_stream(*events))
    chunks = [c async for c in await lm(MESSAGES, streaming=True)]
    assert "".join(c.text for c in chunks) == "Paris" and chunks[-1].usage is not None


async def test_a_gemini_stream_that_finishes_is_complete():
    lm = model("gemini/gemini-2.0-flash", lambda request: event_stream(gemini_chunk("Par"), gemini_chunk("is", "STOP")))
    chunks = [c async for c in await lm(MESSAGES, streaming=True)]
    assert "".join(c.text for c in chunks) == "Paris" and chunks[-1].finish_reason == "stop"


# --- replies of the wrong shape -----------------------------------------------------------------


@pytest.mark.parametrize("name, reply, problem", [
    ("openai/gpt-4o-mini", {"choices": [{"message": {"content": 42}}]}, "the content is a int, not text nor a list"),
    ("openai/gpt-4o-mini", {"choices": ["x"]}, "choices[0] is a str, not an object"),
    ("openai/gpt-4o-mini", {"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": "many"}},
     "usage.prompt_tokens must be a whole number, got 'many'"),
    ("openai/gpt-4o-mini", {"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": 1e300}},
     "usage.prompt_tokens is out of range, got 1e+300"),
    ("anthropic/claude-3-5-haiku-latest", {"content": [{"type": "text", "text": ["x"]}]},
     "a text block's text is a list, not text"),
    ("anthropic/claude-3-5-haiku-latest", {"content": [], "usage": {"input_tokens": -3}},
     "usage.input_tokens must not be negative, got -3"),
    ("gemini/gemini-2.0-flash", {"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": 7}]},
     "finishReason is a int, not text"),
    ("gemini/gemini-2.0-flash", {"candidates": {"0": 1}}, "0"),
])
async def test_replies_of_the_wrong_shape_are_provider_internal_errors(name, reply, problem):
    lm = model(name, lambda request: httpx2.Response(200, json=reply))
    with pytest.raises(ProviderInternalError) as info:
        await lm(MESSAGES)
    assert "does not have the" in str(info.value) and problem in str(info.value)


async def test_model_lists_that_never_end_are_refused():
    def handler(request):
        return httpx2.Response(200, json={"models": [{"name": "models/x"}], "nextPageToken": "same"})

    lm = model("gemini/gemini-2.0-flash", handler)
    with pytest.raises(ProviderInternalError, match=r"the model list does not end \(page token 'same' after 2 pages\)"):
        await lm.list_models()
