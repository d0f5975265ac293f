"""The AWS Bedrock Converse adapter, against golden requests and replies (no network).

Every test builds the model through the public facade with an ``httpx2.MockTransport`` and
asserts on the exact request Bedrock receives (URL, headers, body, SigV4 signature) and on the
typed result. Request and reply shapes follow AWS's Converse / ConverseStream API reference
(``tests/golden_bedrock/``); ConverseStream replies are real event-stream frames built here with
their CRC32s; the signature is checked against a SigV4 computed here from the specification and
itself checked against AWS's published test vector.
"""

import binascii
import datetime
import hashlib
import hmac
import json
import logging
import pathlib
import struct
import subprocess
import sys

import httpx2
import pytest

import synaplex
from synaplex.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    MissingAPIKeyError,
    ModelNotFoundError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
)
from tests.conftest import Answer

GOLDEN = pathlib.Path(__file__).parent / "golden_bedrock"
MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MODEL = f"bedrock/{MODEL_ID}"
HOST = "bedrock-runtime.us-east-1.amazonaws.com"
URL = f"https://{HOST}/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
STREAM_URL = f"https://{HOST}/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream"
# AWS's documented example credentials, and a recognisable fake secret for the leak checks.
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
LEAKY_SECRET = "SECRET-must-never-appear-0123456789abcdef"
SESSION_TOKEN = "FQoGZXIvYXdzEXAMPLE-session-token-never-shown"
MESSAGES = [{"role": "user", "content": "Capital of France?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
EVENT_STREAM = "application/vnd.amazon.eventstream"


def golden(name: str):
    return json.loads((GOLDEN / name).read_text())


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")


class Server:
    """A fake Bedrock Runtime: answers with ``replies`` in order (the last one repeats) and
    records every request."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        return reply(request) if callable(reply) else reply

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


def make_lm(server: Server, model: str = MODEL, **kwargs) -> synaplex.LanguageModel:
    return synaplex.LanguageModel(model=model, transport=httpx2.MockTransport(server), **kwargs)


def reply(data: dict, request_id: str = "8f3a2c1e-5b7d-4e9f-a1b2-c3d4e5f6a7b8") -> httpx2.Response:
    return httpx2.Response(200, json=data, headers={"x-amzn-RequestId": request_id})


# --- event-stream framing (built from the format, with both CRC32s) ---------------------------


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length), prelude CRC32,
    headers (name length, name, type 7 = string, value length, value), payload, message CRC32."""
    encoded = b"".join(struct.pack(">B", len(name)) + name.encode() + b"\x07" + struct.pack(">H", len(value))
                       + value.encode() for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event(kind: str, data: dict) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(data).encode())


def stream_reply(data: bytes, chunk: int = 7, request_id: str = "req-stream-1") -> httpx2.Response:
    async def pieces():
        for start in range(0, len(data), chunk):  # frames split at arbitrary byte boundaries
            yield data[start:start + chunk]

    return httpx2.Response(200, headers={"content-type": EVENT_STREAM, "x-amzn-RequestId": request_id},
                           content=pieces())


def test_the_frame_builder_matches_botocore_s_decoder():
    """The test's framing is AWS's: botocore's parser reads it back, CRCs and all."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(event("messageStop", {"stopReason": "end_turn"}))
    [message] = list(buffer)
    assert message.headers[":event-type"] == "messageStop"
    assert json.loads(message.payload) == {"stopReason": "end_turn"}


# --- SigV4, from the specification ------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sigv4(method: str, path: str, headers: dict[str, str], body: bytes, secret: str, amz_date: str,
          region: str, service: str) -> tuple[str, str]:
    """(signed headers, signature) as the SigV4 specification defines them: canonical request ->
    string to sign -> signing key -> HMAC-SHA256. ``path`` is the path as sent; each segment is
    URI-encoded once more (every service but S3)."""
    canonical_path = "/".join(
        "".join(c if c.isalnum() or c in "-_.~" else "%" + c.encode().hex().upper() for c in segment)
        for segment in path.split("/"))
    names = sorted(name.lower() for name in headers)
    canonical_headers = "".join(f"{name}:{' '.join(headers_lower(headers)[name].split())}\n" for name in names)
    signed = ";".join(names)
    canonical_request = "\n".join([method, canonical_path, "", canonical_headers, signed,
                                   hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = signing_key(secret, amz_date[:8], region, service)
    return signed, hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def headers_lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_the_reference_sigv4_reproduces_aws_s_published_test_vectors():
    # AWS's documented signing-key example (secret, 20150830, us-east-1, iam) ...
    assert signing_key(SECRET_KEY, "20150830", "us-east-1", "iam").hex() == \
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    # ... and the SigV4 test suite's get-vanilla request.
    signed, signature = sigv4("GET", "/", {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"},
                              b"", SECRET_KEY, "20150830T123600Z", "us-east-1", "service")
    assert signed == "host;x-amz-date"
    assert signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


@pytest.fixture
def frozen_clock(monkeypatch):
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: datetime.datetime(2015, 8, 30, 12, 36, 0))
    return "20150830T123600Z"


@pytest.mark.parametrize("token", [None, SESSION_TOKEN])
async def test_the_wire_signature_equals_the_sigv4_specification(frozen_clock, monkeypatch, token):
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    server = Server(reply(golden("text_reply.json")))
    await make_lm(server)(MESSAGES)
    [request] = server.requests
    assert request.headers["x-amz-date"] == frozen_clock
    signed_names = ["accept", "content-type", "host", "x-amz-date"] + (["x-amz-security-token"] if token else [])
    expected_signed, expected_signature = sigv4(
        "POST", request.url.raw_path.decode(), {name: request.headers[name] for name in signed_names},
        request.content, SECRET_KEY, frozen_clock, "us-east-1", "bedrock")
    assert request.headers["authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20150830/us-east-1/bedrock/aws4_request, "
        f"SignedHeaders={expected_signed}, Signature={expected_signature}")
    if token:
        assert request.headers["x-amz-security-token"] == token
        assert "x-amz-security-token" in expected_signed
    else:
        assert "x-amz-security-token" not in request.headers


async def test_a_known_signature_vector(frozen_clock):
    """A fixed request, fixed credentials, a fixed time: the one signature SigV4 allows."""
    server = Server(reply(golden("text_reply.json")))
    await make_lm(server)(MESSAGES)
    [request] = server.requests
    assert request.content == b'{"messages":[{"role":"user","content":[{"text":"Capital of France?"}]}]}'
    body_hash = hashlib.sha256(request.content).hexdigest()
    canonical_request = (
        "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse\n\n"
        f"accept:application/json\ncontent-type:application/json\nhost:{HOST}\nx-amz-date:20150830T123600Z\n\n"
        f"accept;content-type;host;x-amz-date\n{body_hash}")
    string_to_sign = ("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/bedrock/aws4_request\n"
                      + hashlib.sha256(canonical_request.encode()).hexdigest())
    signature = hmac.new(signing_key(SECRET_KEY, "20150830", "us-east-1", "bedrock"), string_to_sign.encode(),
                         hashlib.sha256).hexdigest()
    assert request.headers["authorization"].endswith(f"Signature={signature}")


# --- requests ---------------------------------------------------------------------------------


async def test_chat_sends_the_golden_request_to_the_converse_url():
    server = Server(reply(golden("text_reply.json")))
    answer = await make_lm(server)([{"role": "system", "content": "Be brief."},
                                    {"role": "system", "content": "Answer in English."},
                                    *MESSAGES], max_tokens=256, temperature=0.0, top_p=0.9, stop="END", seed=7)
    assert answer == {"role": "assistant", "content": "Paris.", "tool_calls": []}
    [request] = server.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.url.raw_path == b"/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, Signature=" \
        in request.headers["authorization"]
    assert server.body() == golden("chat_request.json")


async def test_tools_and_tool_history_send_the_golden_request():
    server = Server(reply(golden("tool_use_reply.json")))
    history = [{"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": "Let me check.",
                "tool_calls": [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather",
                                "arguments": {"city": "Paris"}}]},
               {"role": "tool", "tool_call_id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": "18 C, sunny"},
               {"role": "user", "content": "And tomorrow?"}]
    await make_lm(server)(history, tools=[WEATHER_TOOL], tool_choice="required")
    assert server.body() == golden("tools_request.json")
    await make_lm(server)(MESSAGES, tools=[WEATHER_TOOL], tool_choice={"name": "get_weather"})
    assert server.body()["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    await make_lm(server)(MESSAGES, tools=[WEATHER_TOOL], tool_choice="auto")
    assert server.body()["toolConfig"]["toolChoice"] == {"auto": {}}


async def test_a_structured_call_forces_a_tool_and_validates_into_the_data_model():
    server = Server(reply(golden("structured_reply.json")))
    lm = make_lm(server)
    schema = Answer.get_schema()
    result = await lm(MESSAGES, schema=schema)
    assert result == {"answer": "Paris"}
    assert Answer(**result).answer == "Paris"
    expected = golden("structured_request.json")
    expected["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] = server.body()["toolConfig"]["tools"][0][
        "toolSpec"]["inputSchema"]["json"]
    assert server.body() == expected
    sent_schema = expected["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert sent_schema["type"] == "object" and sent_schema["properties"]["answer"]["type"] == "string"
    # through a Generator, as programs use it
    generator = synaplex.Generator(data_model=Answer, language_model=lm)
    output = await generator(synaplex.JsonDataModel(schema=Answer.get_schema(), json={"answer": "?"}))
    assert output.get_json() == {"answer": "Paris"}


async def test_a_non_object_schema_is_wrapped_and_unwrapped():
    data = golden("structured_reply.json")
    data["output"]["message"]["content"][0]["toolUse"]["input"] = {"value": ["Paris", "Lyon"]}
    server = Server(reply(data))
    schema = {"type": "array", "items": {"type": "string"}}
    assert await make_lm(server)(MESSAGES, schema=schema) == ["Paris", "Lyon"]
    sent = server.body()["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert sent == {"type": "object", "properties": {"value": schema}, "required": ["value"]}


async def test_an_invalid_structured_reply_is_repaired():
    bad = golden("structured_reply.json")
    bad["output"]["message"]["content"][0]["toolUse"]["input"] = {"wrong": 1}
    server = Server(reply(bad), reply(golden("structured_reply.json")))
    assert await make_lm(server)(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    assert len(server.requests) == 2


async def test_images_send_the_golden_request():
    server = Server(reply(golden("text_reply.json")))
    await make_lm(server)([{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image", "data": "/9j/4AAQSkZJRg==", "media_type": "image/jpeg"}]}])
    assert server.body() == golden("image_request.json")


async def test_a_web_image_url_is_refused_before_any_request():
    server = Server(reply(golden("text_reply.json")))
    with pytest.raises(InvalidRequestError, match=r"images as bytes \(a data: URL\), not a web URL"):
        await make_lm(server, max_retries=0)([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert server.requests == []


async def test_reasoning_effort_on_claude_3_7_is_extended_thinking_in_additional_fields():
    server = Server(reply(golden("text_reply.json")))
    lm = make_lm(server, model="bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", reasoning_effort="medium")
    await lm(MESSAGES, temperature=0.5)
    body = server.body()
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"] == {"maxTokens": 4096 + 2048}  # temperature is refused while thinking
    # a structured call cannot force a tool while thinking: the tool is asked for
    server.replies = [reply(golden("structured_reply.json"))]
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    assert server.body()["toolConfig"]["toolChoice"] == {"auto": {}}
    assert server.body()["system"][-1] == {"text": "Answer by calling the structured_output tool."}


# --- replies ----------------------------------------------------------------------------------


async def test_a_tool_use_reply_gives_tool_calls_usage_and_the_request_id():
    server = Server(reply(golden("tool_use_reply.json"), request_id="rid-tool-1"))
    lm = make_lm(server)
    completion = await lm._adapter.complete(synaplex.lm.base.CompletionRequest(messages=[
        {"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL]))
    assert completion.text == "I'll look up the weather."
    assert completion.tool_calls == [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather",
                                      "arguments": {"city": "Paris"}}]
    assert completion.finish_reason == "tool_calls"
    assert completion.request_id == "rid-tool-1"
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.cached_tokens) == \
        (485, 61, 100)
    answer = await lm([{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL])
    assert answer["tool_calls"][0]["name"] == "get_weather"
    assert lm.last_usage.input_tokens == 485


@pytest.mark.parametrize("stop_reason, finish", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                                 ("max_tokens", "length"), ("tool_use", "tool_calls")])
async def test_stop_reasons_map_to_finish_reasons(stop_reason, finish):
    data = golden("text_reply.json")
    data["stopReason"] = stop_reason
    lm = make_lm(Server(reply(data)))
    completion = await lm._adapter.complete(synaplex.lm.base.CompletionRequest(messages=MESSAGES))
    assert completion.finish_reason == finish
    assert completion.usage.input_tokens == 20 and completion.usage.output_tokens == 3


@pytest.mark.parametrize("stop_reason", ["guardrail_intervened", "content_filtered"])
async def test_guardrail_and_content_filter_stops_raise_content_filter_error(stop_reason):
    data = golden("text_reply.json")
    data["stopReason"] = stop_reason
    data["output"]["message"]["content"] = [{"text": "Sorry, the model cannot answer this question."}]
    with pytest.raises(ContentFilterError, match=stop_reason):
        await make_lm(Server(reply(data)), max_retries=0)(MESSAGES)


async def test_a_reply_without_the_converse_shape_is_a_provider_error():
    with pytest.raises(ProviderInternalError, match="not a Converse reply"):
        await make_lm(Server(reply({"completion": "hi"})), max_retries=0)(MESSAGES)


# --- streaming --------------------------------------------------------------------------------


def golden_stream() -> bytes:
    return b"".join(event(kind, data) for kind, data in golden("stream_events.json"))


async def test_a_stream_decodes_text_tool_use_deltas_usage_and_stop():
    server = Server(stream_reply(golden_stream()))
    chunks = [chunk async for chunk in make_lm(server).stream(MESSAGES, tools=[WEATHER_TOOL])]
    [request] = server.requests
    assert str(request.url) == STREAM_URL
    assert request.headers["accept"] == EVENT_STREAM
    assert "Signature=" in request.headers["authorization"]
    assert "".join(chunk.text for chunk in chunks) == "Let me check."
    deltas = [d for chunk in chunks for d in chunk.tool_call_deltas]
    assert deltas[0] == {"index": 0, "id": "tooluse_Jx1", "name": "get_weather", "arguments_delta": ""}
    assert json.loads("".join(d["arguments_delta"] for d in deltas)) == {"city": "Paris"}
    last = chunks[-1]
    assert last.finish_reason == "tool_calls"
    assert (last.usage.input_tokens, last.usage.output_tokens) == (385, 61)
    assert last.request_id == "req-stream-1"


async def test_a_streamed_structured_call_yields_the_json_answer():
    frames = b"".join([
        event("messageStart", {"role": "assistant"}),
        event("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {
            "toolUseId": "tooluse_s1", "name": "structured_output"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"answer": '}}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"Paris"}'}}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}})])
    lm = make_lm(Server(stream_reply(frames, chunk=3)))
    request = synaplex.lm.base.CompletionRequest(messages=MESSAGES, schema=Answer.get_schema())
    chunks = [chunk async for chunk in lm._adapter.stream(request)]
    assert json.loads("".join(chunk.text for chunk in chunks)) == {"answer": "Paris"}
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("damage", ["payload", "prelude", "message_crc"])
async def test_a_corrupted_frame_raises_a_typed_error(damage):
    good = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}})
    bad = bytearray(good)
    offset = {"payload": len(bad) - 8, "prelude": 2, "message_crc": len(bad) - 1}[damage]
    bad[offset] ^= 0x01
    data = event("messageStart", {"role": "assistant"}) + bytes(bad) + event("messageStop", {"stopReason": "x"})
    with pytest.raises(ProviderInternalError, match="event stream is corrupt") as info:
        async for _ in make_lm(Server(stream_reply(data)), max_retries=0).stream(MESSAGES):
            pass
    assert "Retry" in str(info.value)


async def test_a_stream_cut_inside_a_frame_or_before_message_stop_is_an_error():
    whole = event("messageStart", {"role": "assistant"}) + event("contentBlockDelta", {
        "contentBlockIndex": 0, "delta": {"text": "Hel"}})
    with pytest.raises(ProviderInternalError, match="ended inside a frame"):
        async for _ in make_lm(Server(stream_reply(whole[:-5])), max_retries=0).stream(MESSAGES):
            pass
    with pytest.raises(ProviderInternalError, match="ended before messageStop"):
        async for _ in make_lm(Server(stream_reply(whole)), max_retries=0).stream(MESSAGES):
            pass


async def test_an_exception_event_in_the_stream_is_a_typed_error():
    data = event("messageStart", {"role": "assistant"}) + frame(
        {":exception-type": "throttlingException", ":content-type": "application/json",
         ":message-type": "exception"}, b'{"message":"Too many tokens, please wait before trying again."}')
    with pytest.raises(RateLimitError, match="Too many tokens, please wait"):
        async for _ in make_lm(Server(stream_reply(data)), max_retries=0).stream(MESSAGES):
            pass


async def test_a_stream_answered_with_json_is_not_read_as_frames():
    server = Server(httpx2.Response(200, json={"message": "hi"}))
    with pytest.raises(ProviderInternalError, match="did not answer with an AWS event stream"):
        async for _ in make_lm(server, max_retries=0).stream(MESSAGES):
            pass


# --- errors -----------------------------------------------------------------------------------

ERROR_TYPES = {cls.__name__: cls for cls in (RateLimitError, AuthenticationError, InvalidRequestError,
                                             ContextWindowExceededError, ProviderInternalError, ModelNotFoundError,
                                             ProviderTimeoutError)}


@pytest.mark.parametrize("case", golden("errors.json"), ids=lambda case: f"{case['type']}-{case['error']}")
@pytest.mark.parametrize("where", ["header", "body"])
async def test_aws_error_shapes_become_typed_errors(case, where):
    headers = {"x-amzn-RequestId": "err-req-1"}
    body = {"message": case["message"]}
    if where == "header":
        headers["x-amzn-ErrorType"] = f"{case['type']}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    else:
        body["__type"] = f"com.amazon.coral.service#{case['type']}"
    server = Server(httpx2.Response(case["status"], json=body, headers=headers))
    with pytest.raises(LMErrorType := ERROR_TYPES[case["error"]]) as info:
        await make_lm(server, max_retries=0)(MESSAGES)
    assert type(info.value) is LMErrorType
    text = str(info.value)
    assert case["message"] in text and case["type"] in text and "err-req-1" in text
    assert info.value.status_code == case["status"]
    assert info.value.is_retryable == (LMErrorType in (RateLimitError, ProviderInternalError, ProviderTimeoutError))


async def test_throttling_is_retried_then_succeeds():
    server = Server(httpx2.Response(429, json={"message": "Too many requests"},
                                    headers={"x-amzn-ErrorType": "ThrottlingException", "Retry-After": "0"}),
                    reply(golden("text_reply.json")))
    assert (await make_lm(server, retry_delay=0)(MESSAGES))["content"] == "Paris."
    assert len(server.requests) == 2
    # each attempt is signed again
    assert all("Signature=" in r.headers["authorization"] for r in server.requests)


async def test_an_access_denied_error_says_what_to_check():
    server = Server(httpx2.Response(403, json={"message": "You don't have access to the model."},
                                    headers={"x-amzn-ErrorType": "AccessDeniedException"}))
    with pytest.raises(AuthenticationError, match=r"AWS_ACCESS_KEY_ID.*bedrock:InvokeModel"):
        await make_lm(server, max_retries=0)(MESSAGES)


# --- credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
def test_missing_credentials_name_the_environment_variables(monkeypatch, missing):
    monkeypatch.delenv(missing)
    with pytest.raises(MissingAPIKeyError, match=f"set the environment variables {missing}") as info:
        synaplex.LanguageModel(MODEL)
    assert "aws_access_key_id=" in str(info.value) and "AWS_SESSION_TOKEN" in str(info.value)


def test_a_missing_region_names_the_environment_variables(monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(MissingAPIKeyError, match="AWS_REGION or AWS_DEFAULT_REGION"):
        synaplex.LanguageModel(MODEL)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert synaplex.LanguageModel(MODEL).endpoint == "https://bedrock-runtime.eu-west-3.amazonaws.com"


async def test_constructor_credentials_and_region_win_over_the_environment(frozen_clock):
    server = Server(reply(golden("text_reply.json")))
    lm = make_lm(server, aws_access_key_id="AKIAOTHER", aws_secret_access_key=LEAKY_SECRET,
                 aws_session_token=SESSION_TOKEN, aws_region="eu-central-1")
    await lm(MESSAGES)
    [request] = server.requests
    assert request.url.host == "bedrock-runtime.eu-central-1.amazonaws.com"
    assert "Credential=AKIAOTHER/20150830/eu-central-1/bedrock/aws4_request" in request.headers["authorization"]
    assert request.headers["x-amz-security-token"] == SESSION_TOKEN
    config = lm.get_config()
    assert config["aws_region"] == "eu-central-1"
    assert LEAKY_SECRET not in json.dumps(config) and SESSION_TOKEN not in json.dumps(config)


async def test_no_secret_in_errors_reprs_configs_or_logs(monkeypatch, caplog):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LEAKY_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    # a server that echoes the secrets back in its error message
    server = Server(httpx2.Response(403, json={"message": f"bad key {LEAKY_SECRET} token {SESSION_TOKEN}"},
                                    headers={"x-amzn-ErrorType": "UnrecognizedClientException"}),
                    stream_reply(frame({":exception-type": "validationException", ":message-type": "exception"},
                                       json.dumps({"message": f"echo {LEAKY_SECRET}"}).encode())))
    lm = make_lm(server, max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        await lm(MESSAGES)
    with pytest.raises(InvalidRequestError) as streamed:
        async for _ in lm.stream(MESSAGES):
            pass
    seen = " ".join([str(info.value), repr(info.value), str(streamed.value), repr(lm), repr(lm._adapter),
                     repr(lm._adapter._credentials), json.dumps(lm.get_config()), caplog.text])
    assert "bad key" in seen and "echo" in seen
    assert LEAKY_SECRET not in seen
    assert SESSION_TOKEN not in seen
    assert server.requests[0].headers["x-amz-security-token"] == SESSION_TOKEN  # it was sent, though


def test_without_botocore_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "botocore.auth", None)
    with pytest.raises(ImportError, match=r'pip install "synaplex\[bedrock\]"'):
        synaplex.LanguageModel(MODEL)


def test_import_synaplex_does_not_load_botocore():
    code = "import sys, synaplex; from synaplex.lm import profiles; print('botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_list_models_reads_list_foundation_models_signed():
    server = Server(httpx2.Response(200, json={"modelSummaries": [
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0",
         "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0", "modelName": "Claude 3.5 Sonnet",
         "providerName": "Anthropic", "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["TEXT"],
         "responseStreamingSupported": True}]}))
    models = await make_lm(server).list_models()
    assert models == [{"id": "anthropic.claude-3-5-sonnet-20240620-v1:0", "display_name": "Claude 3.5 Sonnet",
                       "provider": "bedrock"}]
    [request] = server.requests
    assert request.method == "GET"
    assert str(request.url) == "https://bedrock.us-east-1.amazonaws.com/foundation-models"
    assert "/us-east-1/bedrock/aws4_request, SignedHeaders=accept;host;x-amz-date," in request.headers["authorization"]
    assert request.content == b""


@pytest.mark.parametrize("model_id", [MODEL_ID, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                                                "us.anthropic.claude-3-7-sonnet-20250219-v1:0"])
async def test_over_aiohttp_the_server_verifies_the_signature_of_what_it_received(frozen_clock, model_id):
    """The default transport (aiohttp) may requote the URL: the signature must cover the path the
    server sees. A local server recomputes SigV4 from the request as it arrived."""
    from aiohttp import web

    seen: list = []

    async def converse(request: web.Request) -> web.Response:
        body = await request.read()
        names = ["accept", "content-type", "host", "x-amz-date"]
        signed, signature = sigv4("POST", request.raw_path, {n: request.headers[n] for n in names}, body,
                                  SECRET_KEY, frozen_clock, "us-east-1", "bedrock")
        seen.append((request.raw_path, request.match_info["model"]))
        if request.headers["authorization"] != (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20150830/us-east-1/"
                                                f"bedrock/aws4_request, SignedHeaders={signed}, Signature={signature}"):
            return web.json_response({"message": "The request signature we calculated does not match."},
                                     status=403, headers={"x-amzn-ErrorType": "InvalidSignatureException"})
        return web.json_response(golden("text_reply.json"), headers={"x-amzn-RequestId": "aiohttp-1"})

    app = web.Application()
    app.router.add_post("/model/{model}/converse", converse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        lm = synaplex.LanguageModel(f"bedrock/{model_id}", api_base=f"http://127.0.0.1:{port}", transport="aiohttp",
                                    max_retries=0)
        assert (await lm(MESSAGES))["content"] == "Paris."
        await lm._adapter.aclose()
    finally:
        await runner.cleanup()
    [(raw_path, model)] = seen
    assert model == model_id  # the server decodes the id it was sent
    assert ":" in raw_path


async def test_over_aiohttp_a_converse_stream_is_decoded_from_the_wire():
    from aiohttp import web

    async def converse_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": EVENT_STREAM, "x-amzn-RequestId": "aiohttp-s1"})
        await response.prepare(request)
        data = golden_stream()
        for start in range(0, len(data), 50):
            await response.write(data[start:start + 50])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/model/{model}/converse-stream", converse_stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        lm = synaplex.LanguageModel(MODEL, api_base=f"http://127.0.0.1:{port}", transport="aiohttp", max_retries=0)
        chunks = [chunk async for chunk in lm.stream(MESSAGES, tools=[WEATHER_TOOL])]
        await lm._adapter.aclose()
    finally:
        await runner.cleanup()
    assert "".join(chunk.text for chunk in chunks) == "Let me check."
    assert chunks[-1].finish_reason == "tool_calls" and chunks[-1].request_id == "aiohttp-s1"


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_connection_failure_is_a_typed_error_without_the_signed_headers(streaming, monkeypatch):
    from synaplex.errors import ProviderConnectionError

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LEAKY_SECRET)

    def refuse(request):
        raise httpx2.ConnectError(f"connection refused {request.headers['authorization']}", request=request)

    lm = make_lm(Server(refuse), max_retries=0)
    with pytest.raises(ProviderConnectionError, match="cannot connect") as info:
        if streaming:
            async for _ in lm.stream(MESSAGES):
                pass
        else:
            await lm(MESSAGES)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert LEAKY_SECRET not in str(info.value)
