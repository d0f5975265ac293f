"""The Anthropic Messages API adapter, against golden requests and replies (no network).

Every test builds the model through the public facade with an ``httpx2.MockTransport`` and
asserts on the exact request Anthropic receives and on the typed result.
"""

import json

import httpx2
import pytest

import synaplex
from synaplex.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
    StructuredOutputError,
)
from synaplex.lm.base import CompletionRequest
from tests.conftest import Answer

KEY = "sk-ant-test-0123456789abcdefghij"
MODEL = "anthropic/claude-3-5-haiku-latest"
URL = "https://api.anthropic.com/v1/messages"
MESSAGES = [{"role": "user", "content": "Capital of France?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
WEATHER_TOOL_WIRE = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
STRUCTURED_DESCRIPTION = "Answer with this tool; its input is the answer."


class Server:
    """A fake Anthropic: answers with ``replies`` in order (the last one repeats) and records
    every request. A reply may be an ``httpx2.Response``, an exception to raise, or a
    callable ``request -> Response``."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


def make_lm(server: Server, **kwargs) -> synaplex.LanguageModel:
    return synaplex.LanguageModel(model=MODEL, api_key=KEY, transport=httpx2.MockTransport(server), **kwargs)


def message(content: list, stop_reason: str = "end_turn", usage: dict | None = None) -> httpx2.Response:
    """A golden Messages API reply."""
    return httpx2.Response(200, json={
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 6},
    })


def error(status: int, kind: str, text: str, headers: dict | None = None) -> httpx2.Response:
    return httpx2.Response(status, json={"type": "error", "error": {"type": kind, "message": text}},
                           headers=headers or {})


def sse(*events) -> bytes:
    return b"".join(f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
                    for name, data in events)


def event_stream(*pieces: bytes) -> httpx2.Response:
    async def chunks():
        for piece in pieces:
            yield piece

    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())


def assert_headers_key_and_version(request: httpx2.Request) -> None:
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"


def assert_headers(request: httpx2.Request) -> None:
    assert_headers_key_and_version(request)
    assert "authorization" not in request.headers


# --- plain chat ---------------------------------------------------------------------------


async def test_plain_chat_sends_the_exact_request_and_returns_the_assistant_message():
    server = Server(message([{"type": "text", "text": "Paris."}],
                            usage={"input_tokens": 20, "cache_creation_input_tokens": 5,
                                   "cache_read_input_tokens": 100, "output_tokens": 3}))
    lm = make_lm(server)
    reply = await lm([{"role": "system", "content": "Be brief."},
                      {"role": "system", "content": "Answer in English."},
                      {"role": "user", "content": "Capital of France?"}], temperature=0.0, stop="END")
    assert reply == {"role": "assistant", "content": "Paris.", "tool_calls": []}
    [request] = server.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert_headers(request)
    assert server.body() == {
        "model": "claude-3-5-haiku-latest",
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "max_tokens": 4096,
        "temperature": 0.0,
        "stop_sequences": ["END"],
    }
    assert lm.usage.calls == 1
    assert lm.usage.input_tokens == 125   # input + cache writes + cache reads
    assert lm.usage.output_tokens == 3
    assert lm.usage.cached_tokens == 100


async def test_adapter_completion_carries_finish_reason_usage_and_no_cost():
    server = Server(message([{"type": "thinking", "thinking": "France... Paris.", "signature": "sig"},
                             {"type": "text", "text": "Par"}, {"type": "text", "text": "is"}],
                            stop_reason="max_tokens",
                            usage={"input_tokens": 7, "cache_read_input_tokens": 3, "output_tokens": 2}))
    lm = make_lm(server)
    completion = await lm._adapter.complete(CompletionRequest(messages=MESSAGES))
    assert completion.text == "Paris"
    assert completion.parsed is None
    assert completion.tool_calls == []
    assert completion.finish_reason == "length"
    assert completion.reasoning == "France... Paris."
    assert (completion.usage.calls, completion.usage.input_tokens, completion.usage.output_tokens,
            completion.usage.cached_tokens, completion.usage.cost) == (1, 10, 2, 3, None)


@pytest.mark.parametrize("stop_reason, finish_reason", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("pause_turn", "pause_turn"),
])
async def test_stop_reasons_map_to_neutral_finish_reasons(stop_reason, finish_reason):
    lm = make_lm(Server(message([{"type": "text", "text": "ok"}], stop_reason=stop_reason)))
    completion = await lm._adapter.complete(CompletionRequest(messages=MESSAGES))
    assert completion.finish_reason == finish_reason


async def test_params_defaults_passthrough_and_timeout():
    server = Server(message([{"type": "text", "text": "ok"}]))
    lm = make_lm(server, temperature=0.2, max_retries=0)
    await lm(MESSAGES, max_tokens=2048, top_p=0.9, stop=["\n\nHuman:", "END"], seed=7, timeout=7.5,
             thinking={"type": "enabled", "budget_tokens": 1024}, metadata={"user_id": "u-1"}, top_k=5)
    assert server.body() == {
        "model": "claude-3-5-haiku-latest",
        "messages": MESSAGES,
        "max_tokens": 2048,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["\n\nHuman:", "END"],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u-1"},
        "top_k": 5,
    }  # seed (unsupported by Anthropic) is dropped; timeout is not a body field
    assert server.requests[0].extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}


async def test_api_base_and_timeout_options_and_config_without_key(monkeypatch):
    server = Server(message([{"type": "text", "text": "ok"}]))
    lm = make_lm(server, api_base="https://proxy.example.com/anthropic/v1/", timeout=30.0)
    await lm(MESSAGES)
    assert str(server.requests[0].url) == "https://proxy.example.com/anthropic/v1/messages"
    assert server.requests[0].extensions["timeout"]["read"] == 30.0
    config = lm.get_config()
    assert config["timeout"] == 30.0
    assert "transport" not in config
    assert KEY not in json.dumps(config, default=str)
    assert make_lm(server)._adapter.get_config() == {}  # the default timeout is not saved

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    restored = synaplex.LanguageModel.from_config(config)
    assert restored.model == MODEL and restored._adapter.timeout == 30.0


async def test_extra_headers_are_sent_and_saved_but_never_auth_headers():
    server = Server(message([{"type": "text", "text": "ok"}]))
    lm = make_lm(server, headers={"anthropic-beta": "context-1m-2025-08-07",
                                  "Authorization": "Bearer sk-other-secret-123456789"})
    await lm(MESSAGES)
    assert server.requests[0].headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert_headers_key_and_version(server.requests[0])
    assert lm.get_config()["headers"] == {"anthropic-beta": "context-1m-2025-08-07"}
    assert "sk-other-secret" not in json.dumps(lm.get_config(), default=str)
    assert "headers" not in server.body()


async def test_consecutive_same_role_messages_are_merged_to_alternate():
    server = Server(message([{"type": "text", "text": "ok"}]))
    await make_lm(server)([{"role": "user", "content": "First."}, {"role": "user", "content": "Second."},
                           {"role": "assistant", "content": "Noted."}, {"role": "user", "content": "Third."}])
    assert server.body()["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "First."}, {"type": "text", "text": "Second."}]},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Third."},
    ]


# --- structured output --------------------------------------------------------------------


async def test_structured_output_is_a_forced_tool_call():
    server = Server(message([{"type": "tool_use", "id": "toolu_01", "name": "structured_output",
                              "input": {"answer": "Paris"}}], stop_reason="tool_use"))
    lm = make_lm(server)
    schema = Answer.get_schema()
    assert await lm(MESSAGES, schema=schema) == {"answer": "Paris"}
    assert server.body() == {
        "model": "claude-3-5-haiku-latest",
        "messages": MESSAGES,
        "max_tokens": 4096,
        "tools": [{"name": "structured_output", "description": STRUCTURED_DESCRIPTION, "input_schema": schema}],
        "tool_choice": {"type": "tool", "name": "structured_output"},
    }
    completion = await lm._adapter.complete(CompletionRequest(messages=MESSAGES, schema=schema))
    assert completion.parsed == {"answer": "Paris"}
    assert completion.text == '{"answer": "Paris"}'
    assert completion.tool_calls == []
    assert completion.finish_reason == "stop"


async def test_structured_output_keeps_defs_and_adds_the_object_type():
    schema = {
        "title": "Trip",
        "properties": {"stops": {"type": "array", "items": {"$ref": "#/$defs/Stop"}}},
        "required": ["stops"],
        "$defs": {"Stop": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    }
    server = Server(message([{"type": "text", "text": "Here is the trip."},
                             {"type": "tool_use", "id": "toolu_01", "name": "structured_output",
                              "input": {"stops": [{"city": "Paris"}, {"city": "Lyon"}]}}], stop_reason="tool_use"))
    assert await make_lm(server)(MESSAGES, schema=schema) == {"stops": [{"city": "Paris"}, {"city": "Lyon"}]}
    assert server.body()["tools"] == [{"name": "structured_output", "description": STRUCTURED_DESCRIPTION,
                                       "input_schema": {**schema, "type": "object"}}]


async def test_a_schema_that_is_not_an_object_is_wrapped_and_unwrapped():
    schema = {"type": "array", "items": {"type": "string"}}
    server = Server(message([{"type": "tool_use", "id": "toolu_01", "name": "structured_output",
                              "input": {"value": ["Paris", "Lyon"]}}], stop_reason="tool_use"))
    assert await make_lm(server)(MESSAGES, schema=schema) == ["Paris", "Lyon"]
    assert server.body()["tools"][0]["input_schema"] == {
        "type": "object", "properties": {"value": {"type": "array", "items": {"type": "string"}}},
        "required": ["value"]}


async def test_structured_output_with_thinking_asks_for_the_tool_instead_of_forcing_it():
    server = Server(message([{"type": "thinking", "thinking": "Easy.", "signature": "sig"},
                             {"type": "tool_use", "id": "toolu_01", "name": "structured_output",
                              "input": {"answer": "Paris"}}], stop_reason="tool_use"))
    thinking = {"type": "enabled", "budget_tokens": 1024}
    assert await make_lm(server)(MESSAGES, schema=Answer.get_schema(), thinking=thinking) == {"answer": "Paris"}
    body = server.body()
    assert body["tool_choice"] == {"type": "auto"}
    assert body["system"] == "Answer by calling the structured_output tool."
    assert body["thinking"] == thinking
    assert body["max_tokens"] == 4096 + 1024   # the default leaves room beyond the thinking budget


async def test_a_reply_violating_the_schema_raises_after_one_repair():
    bad = message([{"type": "tool_use", "id": "toolu_01", "name": "structured_output", "input": {"answer": 3}}],
                  stop_reason="tool_use")
    server = Server(bad)
    lm = make_lm(server)
    with pytest.raises(StructuredOutputError, match="answer: 3 is not of type 'string'") as info:
        await lm(MESSAGES, schema=Answer.get_schema())
    assert info.value.raw_text == '{"answer": 3}'
    # The anthropic profile allows one repair: the first call plus exactly one repair call.
    assert lm._adapter.repair_attempts == 1
    assert len(server.requests) == 2
    repair = server.body(1)
    assert repair["messages"][:2] == [MESSAGES[0], {"role": "assistant", "content": '{"answer": 3}'}]
    assert repair["messages"][2]["role"] == "user"
    assert "answer: 3 is not of type 'string'" in repair["messages"][2]["content"]
    assert repair["tool_choice"] == {"type": "tool", "name": "structured_output"}


async def test_a_repaired_reply_is_returned():
    server = Server(
        message([{"type": "tool_use", "id": "toolu_01", "name": "structured_output", "input": {"answer": 3}}],
                stop_reason="tool_use"),
        message([{"type": "tool_use", "id": "toolu_02", "name": "structured_output", "input": {"answer": "3"}}],
                stop_reason="tool_use"))
    lm = make_lm(server)
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "3"}
    assert len(server.requests) == 2
    assert lm.usage.repairs == 1 and lm.usage.calls == 2


async def test_a_reply_without_the_structured_tool_raises_with_the_raw_text():
    server = Server(message([{"type": "text", "text": "I think it is Paris."}]))
    lm = make_lm(server)
    with pytest.raises(StructuredOutputError, match="not valid JSON") as info:
        await lm(MESSAGES, schema=Answer.get_schema())
    assert info.value.raw_text == "I think it is Paris."
    assert len(server.requests) == 2


# --- tools --------------------------------------------------------------------------------


async def test_tool_use_round_trip():
    server = Server(
        message([{"type": "text", "text": "Let me check."},
                 {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                 {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}}],
                stop_reason="tool_use"),
        message([{"type": "text", "text": "Paris 18°C, Rome 22°C."}]))
    lm = make_lm(server)
    question = {"role": "user", "content": "Weather in Paris and Rome?"}
    first = await lm([question], tools=[WEATHER_TOOL], tool_choice="required")
    assert first == {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "toolu_01", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "toolu_02", "name": "get_weather", "arguments": {"city": "Rome"}}]}
    assert server.body(0) == {
        "model": "claude-3-5-haiku-latest",
        "messages": [question],
        "max_tokens": 4096,
        "tools": [WEATHER_TOOL_WIRE],
        "tool_choice": {"type": "any"},
    }

    second = await lm([question, first,
                       {"role": "tool", "tool_call_id": "toolu_01", "content": "18°C, sunny"},
                       {"role": "tool", "tool_call_id": "toolu_02", "content": "22°C"}], tools=[WEATHER_TOOL])
    assert second == {"role": "assistant", "content": "Paris 18°C, Rome 22°C.", "tool_calls": []}
    assert server.body(1) == {
        "model": "claude-3-5-haiku-latest",
        "messages": [
            question,
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": "22°C"}]},
        ],
        "max_tokens": 4096,
        "tools": [WEATHER_TOOL_WIRE],
    }


async def test_an_assistant_tool_call_without_text_sends_only_tool_use_blocks():
    server = Server(message([{"type": "text", "text": "Sunny."}]))
    await make_lm(server)([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "toolu_9", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "tool_call_id": "toolu_9", "content": "-3°C"},
        {"role": "user", "content": "And tomorrow?"}], tools=[WEATHER_TOOL])
    assert server.body()["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_9", "content": "-3°C"},
            {"type": "text", "text": "And tomorrow?"}]},
    ]


async def test_tool_parameters_without_a_type_get_the_object_type():
    server = Server(message([{"type": "text", "text": "ok"}]))
    await make_lm(server)(MESSAGES, tools=[
        WEATHER_TOOL, {"name": "now", "description": "The time.", "parameters": {"properties": {}}}])
    assert server.body()["tools"] == [
        WEATHER_TOOL_WIRE, {"name": "now", "description": "The time.",
                            "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize("choice, wire", [
    ("auto", {"type": "auto"}),
    ("required", {"type": "any"}),
    ("none", {"type": "none"}),
    ({"name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
])
async def test_tool_choice_translation(choice, wire):
    server = Server(message([{"type": "text", "text": "ok"}]))
    await make_lm(server)(MESSAGES, tools=[WEATHER_TOOL], tool_choice=choice)
    assert server.body()["tool_choice"] == wire
    assert server.body()["tools"] == [WEATHER_TOOL_WIRE]


# --- streaming ----------------------------------------------------------------------------

STREAM_EVENTS = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10,
                  "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Café "}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "☕ ready."}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": '{"city": "Par'}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": 'is"}'}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"output_tokens": 42}}),
    ("message_stop", {"type": "message_stop"}),
]


def split_inside_characters(body: bytes) -> list[bytes]:
    """Cut the body in the middle of the two-byte 'é' and of the three-byte '☕'."""
    e_acute = body.index("é".encode()) + 1
    coffee = body.index("☕".encode()) + 2
    return [body[:e_acute], body[e_acute:coffee], body[coffee:]]


async def test_streaming_text_tool_call_deltas_split_utf8_pings_and_final_usage():
    body = sse(*STREAM_EVENTS)
    pieces = split_inside_characters(body)
    assert all(len(p) for p in pieces)
    with pytest.raises(UnicodeDecodeError):
        pieces[0].decode("utf-8")
    server = Server(lambda request: event_stream(*pieces))
    lm = make_lm(server)
    chunks = [chunk async for chunk in await lm(MESSAGES, streaming=True, tools=[WEATHER_TOOL])]

    [request] = server.requests
    assert request.method == "POST" and str(request.url) == URL
    assert_headers(request)
    assert request.headers["accept"] == "text/event-stream"
    assert server.body() == {"model": "claude-3-5-haiku-latest", "messages": MESSAGES, "max_tokens": 4096,
                             "tools": [WEATHER_TOOL_WIRE], "stream": True}

    assert [c.text for c in chunks[:2]] == ["Café ", "☕ ready."]
    assert [c.tool_call_deltas for c in chunks[2:5]] == [
        [{"index": 0, "id": "toolu_01", "name": "get_weather", "arguments_delta": ""}],
        [{"index": 0, "arguments_delta": '{"city": "Par'}],
        [{"index": 0, "arguments_delta": 'is"}'}],
    ]
    assert all(c.usage is None and c.finish_reason is None for c in chunks[:5])
    assert len(chunks) == 6
    final = chunks[5]
    assert final.text == "" and final.tool_call_deltas == []
    assert final.finish_reason == "tool_calls"
    assert (final.usage.calls, final.usage.input_tokens, final.usage.output_tokens,
            final.usage.cached_tokens) == (1, 35, 42, 10)
    assert lm.usage.calls == 1 and lm.usage.output_tokens == 42


async def test_streaming_indexes_tool_calls_by_order_among_tool_use_blocks():
    events = [
        STREAM_EVENTS[0],
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Checking."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    for block, (tool_id, city) in enumerate([("toolu_a", "Oslo"), ("toolu_b", "Rome")], start=1):
        events += [
            ("content_block_start", {"type": "content_block_start", "index": block, "content_block": {
                "type": "tool_use", "id": tool_id, "name": "get_weather", "input": {}}}),
            ("content_block_delta", {"type": "content_block_delta", "index": block, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps({"city": city})}}),
            ("content_block_stop", {"type": "content_block_stop", "index": block}),
        ]
    events += [STREAM_EVENTS[-2], STREAM_EVENTS[-1]]
    server = Server(lambda request: event_stream(sse(*events)))
    chunks = [chunk async for chunk in make_lm(server).stream(MESSAGES, tools=[WEATHER_TOOL])]
    assert [c.tool_call_deltas for c in chunks if c.tool_call_deltas] == [
        [{"index": 0, "id": "toolu_a", "name": "get_weather", "arguments_delta": ""}],
        [{"index": 0, "arguments_delta": '{"city": "Oslo"}'}],
        [{"index": 1, "id": "toolu_b", "name": "get_weather", "arguments_delta": ""}],
        [{"index": 1, "arguments_delta": '{"city": "Rome"}'}],
    ]
    assert "".join(c.text for c in chunks) == "Checking."


async def test_streamed_plain_text_ends_with_stop():
    events = [STREAM_EVENTS[0], STREAM_EVENTS[1], STREAM_EVENTS[3], STREAM_EVENTS[5],
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                 "usage": {"output_tokens": 3}}),
              STREAM_EVENTS[-1]]
    server = Server(lambda request: event_stream(sse(*events)))
    chunks = [chunk async for chunk in make_lm(server).stream(MESSAGES)]
    assert [c.text for c in chunks] == ["Café ", ""]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.output_tokens == 3


@pytest.mark.parametrize("kind, error_cls", [("overloaded_error", ProviderInternalError),
                                             ("invalid_request_error", InvalidRequestError)])
async def test_an_error_event_mid_stream_raises_a_typed_error(kind, error_cls):
    body = sse(*STREAM_EVENTS[:4], ("error", {"type": "error", "error": {"type": kind, "message": "Stopped."}}))
    server = Server(lambda request: event_stream(body))
    received = []
    with pytest.raises(error_cls, match="Stopped") as info:
        async for chunk in make_lm(server).stream(MESSAGES):
            received.append(chunk.text)
    assert received == ["Café "]
    assert info.value.provider == "anthropic"
    assert KEY not in str(info.value)


async def test_a_stream_cut_before_message_stop_raises():
    server = Server(lambda request: event_stream(sse(*STREAM_EVENTS[:5])))
    received = []
    with pytest.raises(ProviderInternalError, match="before message_stop"):
        async for chunk in make_lm(server).stream(MESSAGES):
            received.append(chunk.text)
    assert received == ["Café ", "☕ ready."]


async def test_an_http_error_before_the_stream_raises_a_typed_error():
    server = Server(error(429, "rate_limit_error", "Slow down.", headers={"retry-after": "3"}))
    with pytest.raises(RateLimitError) as info:  # a stream is retried as a call is: here no retries
        async for _ in make_lm(server, max_retries=0).stream(MESSAGES):
            pass
    assert info.value.retry_after == 3.0


async def test_a_streamed_refusal_raises_content_filter_error():
    events = [STREAM_EVENTS[0], STREAM_EVENTS[1], STREAM_EVENTS[3],
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "refusal"},
                                 "usage": {"output_tokens": 2}}),
              STREAM_EVENTS[-1]]
    server = Server(lambda request: event_stream(sse(*events)))
    with pytest.raises(ContentFilterError, match="refused"):
        async for _ in make_lm(server).stream(MESSAGES):
            pass


# --- errors -------------------------------------------------------------------------------


async def test_refusal_raises_content_filter_error():
    server = Server(message([{"type": "text", "text": "I can't help with that."}], stop_reason="refusal"))
    with pytest.raises(ContentFilterError, match="refused"):
        await make_lm(server, max_retries=0)(MESSAGES)
    assert len(server.requests) == 1


async def test_401_is_an_authentication_error_without_the_key():
    server = Server(error(401, "authentication_error", f"invalid x-api-key {KEY}"))
    with pytest.raises(AuthenticationError) as info:
        await make_lm(server, max_retries=0)(MESSAGES)
    assert info.value.status_code == 401
    assert not info.value.is_retryable
    assert KEY not in str(info.value)
    assert "invalid x-api-key" in str(info.value)


async def test_429_is_a_rate_limit_error_with_retry_after():
    server = Server(error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.",
                          headers={"retry-after": "17"}))
    lm = make_lm(server, max_retries=0)
    with pytest.raises(RateLimitError, match="rate limit") as info:
        await lm(MESSAGES)
    assert info.value.retry_after == 17.0
    assert info.value.is_retryable
    assert info.value.status_code == 429
    assert len(server.requests) == 1


@pytest.mark.parametrize("status, kind, text, error_cls, retryable", [
    (500, "api_error", "Internal server error", ProviderInternalError, True),
    (529, "overloaded_error", "Overloaded", ProviderInternalError, True),
    (400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum",
     ContextWindowExceededError, False),
    (400, "invalid_request_error", "max_tokens: Field required", InvalidRequestError, False),
    (403, "permission_error", "Your API key does not have permission to use the specified resource.",
     AuthenticationError, False),
    (404, "not_found_error", "model: claude-9-opus", ModelNotFoundError, False),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
     ContextWindowExceededError, False),
])
async def test_anthropic_error_bodies_map_to_typed_errors(status, kind, text, error_cls, retryable):
    server = Server(error(status, kind, text))
    with pytest.raises(error_cls) as info:
        await make_lm(server, max_retries=0)(MESSAGES)
    assert type(info.value) is error_cls
    assert info.value.status_code == status
    assert info.value.is_retryable is retryable
    assert text in str(info.value)
    assert (info.value.provider, info.value.model) == ("anthropic", "claude-3-5-haiku-latest")
    assert len(server.requests) == 1


async def test_a_malformed_json_body_is_a_provider_internal_error():
    server = Server(httpx2.Response(200, content=b'{"id": "msg_01", "content": [',
                                    headers={"content-type": "application/json"}))
    with pytest.raises(ProviderInternalError, match="not JSON"):
        await make_lm(server, max_retries=0)(MESSAGES)


async def test_a_json_body_that_is_not_a_message_is_a_provider_internal_error():
    server = Server(httpx2.Response(200, json={"id": "msg_01", "type": "message"}))
    with pytest.raises(ProviderInternalError, match="not an Anthropic message"):
        await make_lm(server, max_retries=0)(MESSAGES)


async def test_a_timeout_is_a_provider_timeout_error():
    server = Server(httpx2.ReadTimeout("timed out"))
    with pytest.raises(ProviderTimeoutError) as info:
        await make_lm(server, max_retries=0, timeout=5.0)(MESSAGES)
    assert info.value.is_retryable
    assert "within 5 s" in str(info.value)
    assert len(server.requests) == 1


async def test_a_refused_connection_is_a_provider_connection_error():
    server = Server(httpx2.ConnectError("connection refused"))
    with pytest.raises(ProviderConnectionError, match="cannot connect"):
        await make_lm(server, max_retries=0)(MESSAGES)


# --- models -------------------------------------------------------------------------------


async def test_list_models_follows_pages():
    server = Server(
        httpx2.Response(200, json={"data": [
            {"type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5",
             "created_at": "2024-10-22T00:00:00Z"},
            {"type": "model", "id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4",
             "created_at": "2025-05-22T00:00:00Z"}],
            "has_more": True, "first_id": "claude-3-5-haiku-20241022", "last_id": "claude-sonnet-4-20250514"}),
        httpx2.Response(200, json={"data": [
            {"type": "model", "id": "claude-opus-4-20250514", "display_name": "Claude Opus 4",
             "created_at": "2025-05-22T00:00:00Z"}],
            "has_more": False, "first_id": "claude-opus-4-20250514", "last_id": "claude-opus-4-20250514"}))
    models = await make_lm(server).list_models()
    assert models == [
        {"id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5", "provider": "anthropic"},
        {"id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4", "provider": "anthropic"},
        {"id": "claude-opus-4-20250514", "display_name": "Claude Opus 4", "provider": "anthropic"},
    ]
    assert [(r.method, str(r.url)) for r in server.requests] == [
        ("GET", "https://api.anthropic.com/v1/models?limit=1000"),
        ("GET", "https://api.anthropic.com/v1/models?limit=1000&after_id=claude-sonnet-4-20250514"),
    ]
    for request in server.requests:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"


async def test_list_models_with_a_bad_key_raises_authentication_error():
    server = Server(error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(AuthenticationError):
        await make_lm(server).list_models()
