"""Property-based fuzzing of every adapter's reply and stream parsers and of the SSE parser.

Whatever a server sends (any JSON value, replies of the right shape with any field swapped
for anything, cut and spliced text, raw bytes, broken event streams), only two outcomes are
allowed: a well-typed result, or a typed :class:`~synaplex.lm.errors.LMError`. Never a
``TypeError``, ``KeyError``, ``RecursionError``... from inside the adapters.

The examples are derandomized (the same inputs on every run, so the suite stays
deterministic) and bounded (a few seconds per test); about 5,000 inputs in total.
"""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synaplex
from synaplex.lm.base import Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import LMError
from synaplex.lm.http import HttpClient

KEY = "sk-fuzz-0123456789abcdefghijklmnop"
MESSAGES = [{"role": "user", "content": "hi"}]
MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-3-5-haiku-latest",
          "gemini": "gemini/gemini-2.0-flash"}

FUZZ = settings(max_examples=400, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# --- strategies -----------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["stop", "length", "tool_calls", "content_filter", "STOP", "MAX_TOKENS", "SAFETY",
                              "text", "tool_use", "end_turn", "refusal", "text_delta", "input_json_delta",
                              "message_start", "message_delta", "message_stop", "content_block_start",
                              "content_block_delta", "content_block_stop", "structured_output", "error"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8) | st.sampled_from(
                               ["type", "text", "content", "index", "delta", "usage", "error", "message"]),
                               inner, max_size=4), max_leaves=20)


def anything_or(strategy):
    """Mostly ``strategy``, sometimes any JSON value instead (a field of the wrong type)."""
    return st.one_of(strategy, strategy, strategy, json_values)


numbers = anything_or(st.integers(min_value=0, max_value=10 ** 6))
texts = anything_or(st.text(max_size=20))

openai_usage = anything_or(st.fixed_dictionaries({}, optional={
    "prompt_tokens": numbers, "completion_tokens": numbers, "cost": anything_or(st.floats(0, 1)),
    "prompt_tokens_details": anything_or(st.fixed_dictionaries({}, optional={"cached_tokens": numbers})),
    "completion_tokens_details": anything_or(st.fixed_dictionaries({}, optional={"reasoning_tokens": numbers}))}))
openai_tool_call = anything_or(st.fixed_dictionaries({}, optional={
    "id": texts, "type": texts, "index": numbers,
    "function": anything_or(st.fixed_dictionaries({}, optional={"name": texts, "arguments": texts}))}))
openai_reply = st.fixed_dictionaries({}, optional={
    "choices": anything_or(st.lists(anything_or(st.fixed_dictionaries({}, optional={
        "message": anything_or(st.fixed_dictionaries({}, optional={
            "role": texts, "content": anything_or(st.text(max_size=20) | st.lists(
                anything_or(st.fixed_dictionaries({"type": texts, "text": texts})), max_size=3)),
            "tool_calls": anything_or(st.lists(openai_tool_call, max_size=3)),
            "reasoning": texts})),
        "finish_reason": texts})), max_size=3)),
    "usage": openai_usage, "error": json_values})
openai_event = st.fixed_dictionaries({}, optional={
    "choices": anything_or(st.lists(anything_or(st.fixed_dictionaries({}, optional={
        "delta": anything_or(st.fixed_dictionaries({}, optional={
            "content": texts, "tool_calls": anything_or(st.lists(openai_tool_call, max_size=2))})),
        "finish_reason": texts})), max_size=2)),
    "usage": openai_usage})

anthropic_usage = anything_or(st.fixed_dictionaries({}, optional={
    "input_tokens": numbers, "output_tokens": numbers, "cache_read_input_tokens": numbers,
    "cache_creation_input_tokens": numbers}))
anthropic_block = anything_or(st.fixed_dictionaries({"type": anything_or(st.sampled_from(
    ["text", "thinking", "tool_use"]))}, optional={
    "text": texts, "thinking": texts, "id": texts, "name": anything_or(st.just("structured_output")),
    "input": json_values}))
anthropic_reply = st.fixed_dictionaries({}, optional={
    "type": texts, "content": anything_or(st.lists(anthropic_block, max_size=3)),
    "stop_reason": anything_or(st.sampled_from(["end_turn", "max_tokens", "tool_use", "refusal"])),
    "usage": anthropic_usage})
anthropic_event = st.one_of(
    st.fixed_dictionaries({"type": st.just("message_start")}, optional={
        "message": anything_or(st.fixed_dictionaries({}, optional={"usage": anthropic_usage}))}),
    st.fixed_dictionaries({"type": st.just("content_block_start")}, optional={
        "index": numbers, "content_block": anthropic_block}),
    st.fixed_dictionaries({"type": st.just("content_block_delta")}, optional={
        "index": numbers, "delta": anything_or(st.fixed_dictionaries({"type": anything_or(st.sampled_from(
            ["text_delta", "input_json_delta"]))}, optional={"text": texts, "partial_json": texts}))}),
    st.fixed_dictionaries({"type": st.just("content_block_stop")}, optional={"index": numbers}),
    st.fixed_dictionaries({"type": st.just("message_delta")}, optional={
        "delta": anything_or(st.fixed_dictionaries({}, optional={"stop_reason": texts})), "usage": anthropic_usage}),
    st.just({"type": "message_stop"}), st.just({"type": "ping"}), json_values)

gemini_part = anything_or(st.fixed_dictionaries({}, optional={
    "text": texts, "thought": json_values, "thoughtSignature": texts,
    "functionCall": anything_or(st.fixed_dictionaries({}, optional={"name": texts, "id": texts,
                                                                     "args": json_values}))}))
gemini_reply = st.fixed_dictionaries({}, optional={
    "candidates": anything_or(st.lists(anything_or(st.fixed_dictionaries({}, optional={
        "content": anything_or(st.fixed_dictionaries({}, optional={
            "role": texts, "parts": anything_or(st.lists(gemini_part, max_size=3))})),
        "finishReason": anything_or(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "OTHER"]))})), max_size=2)),
    "promptFeedback": anything_or(st.fixed_dictionaries({}, optional={"blockReason": texts})),
    "usageMetadata": anything_or(st.fixed_dictionaries({}, optional={
        "promptTokenCount": numbers, "candidatesTokenCount": numbers, "thoughtsTokenCount": numbers,
        "cachedContentTokenCount": numbers}))})

REPLIES = {"openai": openai_reply, "anthropic": anthropic_reply, "gemini": gemini_reply}


def good_reply(provider: str) -> str:
    if provider == "anthropic":
        reply = {"content": [{"type": "text", "text": "Paris"}], "stop_reason": "end_turn",
                 "usage": {"input_tokens": 3, "output_tokens": 1}}
    elif provider == "gemini":
        reply = {"candidates": [{"content": {"parts": [{"text": "Paris"}]}, "finishReason": "STOP"}]}
    else:
        reply = {"choices": [{"message": {"content": "Paris"}, "finish_reason": "stop"}]}
    return json.dumps(reply)


@st.composite
def mangled_text(draw, provider: str):
    """A valid reply's text, cut, spliced with junk, or with characters replaced."""
    text = good_reply(provider)
    cut = draw(st.integers(0, len(text)))
    junk = draw(st.text(alphabet='{}[]":,0123456789.eE+-nulltruefalseNaInfiy\\ \n', max_size=30))
    how = draw(st.sampled_from(["cut", "splice", "replace", "repeat"]))
    if how == "cut":
        return text[:cut]
    if how == "splice":
        return text[:cut] + junk + text[cut:]
    if how == "replace":
        return text[:cut] + junk + text[cut + len(junk):]
    return text[:cut] * draw(st.integers(1, 50))


# --- the checks ---------------------------------------------------------------------------------


def check_completion(completion: Completion) -> None:
    assert isinstance(completion, Completion)
    assert isinstance(completion.text, str)
    assert isinstance(completion.tool_calls, list) and all(isinstance(c, dict) for c in completion.tool_calls)
    assert isinstance(completion.usage, Usage)
    assert completion.finish_reason is None or isinstance(completion.finish_reason, str)
    assert completion.reasoning is None or isinstance(completion.reasoning, str)
    for count in (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.cached_tokens):
        assert isinstance(count, int) and count >= 0


def check_chunks(chunks: list) -> None:
    assert all(isinstance(c, StreamChunk) and isinstance(c.text, str) for c in chunks)
    assert chunks and isinstance(chunks[-1].usage, Usage)


def only_typed(call):
    """Run ``call``; it may return, or raise an LMError (whose message names the provider)."""
    try:
        return call()
    except LMError as error:
        assert str(error) and error.provider, error
        return None


@pytest.fixture(scope="module")
def runner():
    with asyncio.Runner() as runner:
        yield runner


class Server:
    """A MockTransport whose next reply is set by the test: ``server.reply = httpx2.Response``."""

    def __init__(self):
        self.reply: httpx2.Response | None = None

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        return self.reply

    def model(self, provider: str) -> synaplex.LanguageModel:
        return synaplex.LanguageModel(model=MODELS[provider], api_key=KEY, max_retries=0,
                                      transport=httpx2.MockTransport(self))


def sse_body(events: list) -> bytes:
    return "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events).encode()


# --- reply parsers (the parsed body to a Completion) --------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@FUZZ
@given(data=st.data())
def test_reply_parsers_give_a_completion_or_a_typed_error(provider, data):
    reply = data.draw(REPLIES[provider] | json_values)
    adapter = Server().model(provider)._adapter
    request = CompletionRequest(messages=MESSAGES)
    if provider == "openai":
        completion = only_typed(lambda: adapter.completion(reply))
    elif provider == "anthropic":
        schema = data.draw(st.sampled_from([None, {"type": "object", "properties": {"a": {"type": "string"}}},
                                            {"type": "array", "items": {}}]))
        from synaplex.lm.anthropic import _structured_schema

        wrapped = schema is not None and _structured_schema(schema)[1]
        request = CompletionRequest(messages=MESSAGES, schema=schema)
        completion = only_typed(lambda: adapter.completion(reply, request, wrapped))
    else:
        completion = only_typed(lambda: adapter._completion(reply))
    if completion is not None:
        check_completion(completion)


# --- whole calls over HTTP: bodies that are any bytes ---------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@settings(FUZZ, max_examples=250)
@given(data=st.data())
def test_any_body_gives_a_reply_or_a_typed_error(runner, provider, data):
    server = Server()
    lm = server.model(provider)
    body = data.draw(st.one_of(mangled_text(provider).map(str.encode), st.binary(max_size=64),
                               json_values.map(lambda v: json.dumps(v).encode())))
    status = data.draw(st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500, 503, 529, 302, 418]))
    headers = data.draw(st.dictionaries(st.sampled_from(["retry-after", "content-type", "retry-after-ms"]),
                                        st.text(alphabet="0123456789.-+eEinfatjson/ ", max_size=8), max_size=2))
    server.reply = httpx2.Response(status, headers=headers, content=body)
    schema = data.draw(st.sampled_from([None, {"type": "object", "properties": {"answer": {"type": "string"}}}]))
    value = only_typed(lambda: runner.run(lm(MESSAGES, schema=schema)))
    if value is not None:
        assert isinstance(value, dict)


# --- stream parsers ------------------------------------------------------------------------------


EVENTS = {"openai": openai_event, "anthropic": anthropic_event, "gemini": gemini_reply}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_stream_parsers_give_chunks_or_a_typed_error(runner, provider, data):
    server = Server()
    lm = server.model(provider)
    events = data.draw(st.lists(EVENTS[provider] | json_values | st.sampled_from(["[DONE]", "not json", "{"]),
                                max_size=8))
    server.reply = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse_body(events))

    async def consume():
        return [chunk async for chunk in await lm(MESSAGES, streaming=True)]

    chunks = only_typed(lambda: runner.run(consume()))
    if chunks is not None:
        check_chunks(chunks)


# --- the SSE parser ------------------------------------------------------------------------------

sse_lines = st.lists(st.one_of(
    st.sampled_from(["data: [DONE]", "data: {}", ": keep-alive", "event: error", "event: message", "retry: 10",
                     "id: 1", "data:", "", "", 'data: {"error": {"message": "boom", "code": 500}}',
                     'data: {"error": "x"}', 'data: {"type": "error", "error": {"type": "overloaded_error"}}',
                     'data: {"error": {"code": true}}', 'data: {"error": {"code": 99999}}']),
    st.text(max_size=30).map(lambda t: "data: " + t), st.text(max_size=30)), max_size=12)


@settings(FUZZ, max_examples=500)
@given(lines=sse_lines, newline=st.sampled_from(["\n", "\r\n", "\r"]), raw=st.binary(max_size=40),
       use_raw=st.booleans(), until=st.sampled_from([None, "[DONE]"]))
def test_the_sse_parser_gives_events_or_a_typed_error(runner, lines, newline, raw, use_raw, until):
    body = raw if use_raw else newline.join(lines).encode("utf-8", "surrogatepass")
    transport = httpx2.MockTransport(lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body))
    http = HttpClient("https://example.test/v1", {"authorization": f"Bearer {KEY}"}, transport=transport,
                      provider="fuzz", model="m", secrets=(KEY,))

    async def read():
        return [event async for event in http.stream_events("/chat", {"x": 1}, until=until)]

    events = only_typed(lambda: runner.run(read()))
    if events is not None:
        assert all(isinstance(e.data, str) and e.data for e in events)
        if until is not None and any(e.data.strip() == until for e in events):
            assert events[-1].data.strip() == until  # nothing is read past the marker


@settings(FUZZ, max_examples=300)
@given(events=st.lists(openai_event | json_values, max_size=6))
def test_the_openai_event_parser_alone(events):
    adapter = Server().model("openai")._adapter
    for event in events:
        parsed = only_typed(lambda: adapter.stream_event(event))
        if parsed is not None:
            chunks, finish, usage = parsed
            assert all(isinstance(c.text, str) for c in chunks)
            assert finish is None or isinstance(finish, str)


@settings(FUZZ, max_examples=300)
@given(events=st.lists(gemini_reply | json_values, max_size=6))
def test_the_gemini_event_parser_alone(events):
    adapter = Server().model("gemini")._adapter
    calls = 0
    for event in events:
        parsed = only_typed(lambda: adapter._stream_event(json.dumps(event), calls))
        if parsed is not None:
            chunk, reason, usage, calls = parsed
            assert chunk is None or isinstance(chunk.text, str)
            assert reason is None or isinstance(reason, str)
