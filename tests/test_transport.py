"""The HTTP path against hostile endpoints: sockets, deadlines, size caps, exception chains.

Every test talks to a real server on 127.0.0.1 (tests/loopback_http.py) or to
``httpx2.MockTransport``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.loopback_http import LoopbackServer, Reply

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGES = [{"role": "user", "content": "Capital of France?"}]
KEY = "sk-transport-0123456789abcdefghijkl"


def chat_body(content: str = "Paris") -> bytes:
    return json.dumps({"id": "c1", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 1}}).encode()


def json_reply(body: bytes = b"", status: int = 200, **headers) -> Reply:
    return Reply(status, {"content-type": "application/json", **headers}, body or chat_body())


# --- item 4: one client per event loop, closed with its loop -----------------------------


def test_many_fresh_event_loops_stay_under_a_low_descriptor_limit():
    """600 blocking calls (each its own asyncio.run) with RLIMIT_NOFILE=256 in a subprocess."""
    script = textwrap.dedent("""
        import resource, sys
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        import synaplex
        lm = synaplex.LanguageModel(model="openai/m", api_base=sys.argv[1] + "/v1", max_retries=0)
        for i in range(600):
            reply = lm.chat_complete([{"role": "user", "content": f"call {i}"}])
            assert reply.content == "Paris", reply
        print("done", len(__import__("os").listdir("/proc/self/fd")))
    """)
    with LoopbackServer(lambda request: json_reply()) as server:
        result = subprocess.run([sys.executable, "-c", script, server.url], cwd=ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        done, descriptors = result.stdout.split()
        assert done == "done" and int(descriptors) < 64, result.stdout
        assert len(server.requests) == 600


def test_a_loop_that_shuts_down_closes_its_client():
    import asyncio

    import synaplex

    with LoopbackServer(lambda request: json_reply()) as server:
        lm = synaplex.LanguageModel(model="openai/m", api_base=server.url + "/v1", max_retries=0)
        http = lm._adapter.http
        for _ in range(5):
            assert asyncio.run(lm(MESSAGES))["content"] == "Paris"
            assert http.open_clients == 0  # closed by asyncio.run's shutdown
        # A loop closed by hand (no shutdown_asyncgens) is forgotten on the next call.
        loop = asyncio.new_event_loop()
        loop.run_until_complete(lm(MESSAGES))
        loop.close()
        assert asyncio.run(lm(MESSAGES))["content"] == "Paris"
        assert len(http._clients) <= 1 and http.open_clients == 0


# --- item 6: timeout= is a deadline for the whole request --------------------------------

import asyncio  # noqa: E402
import time  # noqa: E402

import httpx2  # noqa: E402

import synaplex  # noqa: E402
from synaplex.errors import (  # noqa: E402
    InvalidInputError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
)
from synaplex.lm.errors import ResponseTooLargeError  # noqa: E402
from tests.loopback_http import drip, endless  # noqa: E402


def lm_at(server, **kwargs):
    kwargs.setdefault("max_retries", 0)
    return synaplex.LanguageModel(model="openai/m", api_base=server.url + "/v1", api_key=KEY, **kwargs)


def sse(*events: str) -> bytes:
    return "".join(f"data: {e}\n\n" for e in events).encode()


def delta(text: str = "", finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


async def test_timeout_bounds_the_whole_request_against_a_server_dripping_one_byte_every_half_second():
    body = chat_body()
    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json",
                                              "content-length": str(len(body))}, drip(body, 0.5))) as server:
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError) as info:
            await lm_at(server, timeout=2)(MESSAGES)
        elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 6, elapsed
    assert str(info.value) == (f"openai/m: no complete reply within 2 s from {server.url}/v1/chat/completions "
                               "(timeout= bounds the whole request; raise it if the model is slow).")
    assert info.value.is_retryable


async def test_a_per_call_timeout_is_a_deadline_too():
    body = chat_body()
    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json"}, drip(body, 0.25))) as server:
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError, match="no complete reply within 1 s"):
            await lm_at(server)(MESSAGES, timeout=1)
    assert time.monotonic() - started < 5


async def test_a_stream_must_send_its_first_event_within_the_timeout():
    async def late():
        await asyncio.sleep(3)
        yield sse(delta("Paris", "stop"), "[DONE]")

    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"}, late())) as server:
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError) as info:
            [c async for c in await lm_at(server, timeout=1)(MESSAGES, streaming=True)]
    assert time.monotonic() - started < 5
    assert str(info.value) == (f"openai/m: no event within 1 s from {server.url}/v1/chat/completions "
                               "(timeout= bounds the whole request; raise it if the model is slow).")


async def test_keep_alive_comments_do_not_count_as_events_for_the_idle_timeout():
    async def stalls():
        yield sse(delta("Par"))
        while True:  # the server stays "alive" but says nothing
            yield b": keep-alive\n\n"
            await asyncio.sleep(0.2)

    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"}, stalls())) as server:
        chunks = []
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError, match="no event within 1 s"):
            async for chunk in await lm_at(server, timeout=1)(MESSAGES, streaming=True):
                chunks.append(chunk.text)
    assert chunks == ["Par"] and time.monotonic() - started < 5


async def test_the_consumers_own_time_between_chunks_does_not_count():
    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"},
                                        sse(delta("Pa"), delta("ris"), delta("", "stop"), "[DONE]"))) as server:
        texts = []
        async for chunk in await lm_at(server, timeout=0.5)(MESSAGES, streaming=True):
            texts.append(chunk.text)
            await asyncio.sleep(0.7)  # slower than the timeout, on the consumer's side
    assert "".join(texts) == "Paris"


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), "30", True])
def test_timeout_must_be_a_positive_finite_number(value):
    with pytest.raises(InvalidInputError) as info:
        synaplex.LanguageModel(model="openai/m", api_base="http://127.0.0.1:9/v1", timeout=value)
    assert str(info.value) == (f"openai/m: timeout must be a positive, finite number of seconds, got {value!r}.")


# --- item 7: a reply-size cap ---------------------------------------------------------------


async def test_an_endless_body_stops_at_the_cap_with_bounded_memory():
    import tracemalloc

    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json"},
                                        endless(prefix=b'{"choices": "'))) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as info:
                await lm_at(server, max_response_bytes=2 * 2 ** 20)(MESSAGES)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 2 ** 20, peak
    assert str(info.value) == (f"openai/m: the reply from {server.url}/v1/chat/completions is larger than "
                               "max_response_bytes=2,097,152; stopped reading. Raise max_response_bytes if such "
                               "replies are expected.")
    assert info.value.limit == 2 * 2 ** 20 and not info.value.is_retryable


def test_the_default_cap_stops_a_200_mb_reply_in_a_fresh_process():
    """The default cap (64 MiB) against a 200 MB chunked body: the process stays far below it."""
    script = textwrap.dedent("""
        import asyncio, resource, sys
        import synaplex
        from synaplex.lm.errors import ResponseTooLargeError
        from synaplex.lm.http import DEFAULT_MAX_RESPONSE_BYTES
        lm = synaplex.LanguageModel(model="openai/m", api_base=sys.argv[1] + "/v1", max_retries=0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            asyncio.run(lm([{"role": "user", "content": "hi"}]))
        except ResponseTooLargeError as error:
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
            print(error.limit == DEFAULT_MAX_RESPONSE_BYTES == 64 * 2 ** 20, grown)
    """)

    async def body():
        piece = b"x" * 2 ** 20
        for _ in range(200):
            yield piece

    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json"}, body())) as server:
        result = subprocess.run([sys.executable, "-c", script, server.url], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    same, grown = result.stdout.split()
    assert same == "True" and int(grown) < 200 * 2 ** 20, result.stdout


async def test_an_announced_length_over_the_cap_is_refused_before_reading():
    sent = []

    async def body():
        for _ in range(64):
            sent.append(1)
            yield b"x" * 65536

    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json",
                                              "content-length": str(64 * 65536)}, body())) as server:
        with pytest.raises(ResponseTooLargeError, match=r"max_response_bytes=1,048,576 \(it announces 4,194,304 "
                                                        r"bytes\); stopped reading"):
            await lm_at(server, max_response_bytes=2 ** 20)(MESSAGES)


async def test_a_mock_transport_streaming_body_is_cut_at_the_cap():
    pulled = []

    class Endless(httpx2.AsyncByteStream):
        async def __aiter__(self):
            while True:
                pulled.append(65536)
                yield b"x" * 65536

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, stream=Endless()))
    lm = synaplex.LanguageModel(model="openai/m", api_key=KEY, transport=transport, max_retries=0,
                                max_response_bytes=2 ** 20)
    with pytest.raises(ResponseTooLargeError, match="larger than max_response_bytes=1,048,576; stopped reading"):
        await lm(MESSAGES)
    assert sum(pulled) <= 2 ** 20 + 65536


async def test_an_endless_event_stream_stops_at_the_cap():
    async def events():
        while True:
            yield sse(delta("x" * 1000))

    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"}, events())) as server:
        received = 0
        with pytest.raises(ResponseTooLargeError, match="larger than max_response_bytes=1,048,576; stopped"):
            async for chunk in await lm_at(server, max_response_bytes=2 ** 20)(MESSAGES, streaming=True):
                received += len(chunk.text)
    assert 0 < received <= 2 ** 20


async def test_one_event_larger_than_a_mebibyte_is_refused():
    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"},
                                        endless(b"y" * 65536, prefix=b"data: "))) as server:
        with pytest.raises(ResponseTooLargeError) as info:
            [c async for c in await lm_at(server)(MESSAGES, streaming=True)]
    assert str(info.value).startswith(f"openai/m: an event of the stream from {server.url}/v1/chat/completions "
                                      "is larger than 1,048,576 bytes")


async def test_an_endless_error_body_still_gives_the_typed_error():
    with LoopbackServer(lambda r: Reply(429, {"content-type": "application/json", "retry-after": "1"},
                                        endless(prefix=b'{"error": {"message": "slow down'))) as server:
        with pytest.raises(RateLimitError) as info:
            await lm_at(server)(MESSAGES)
    assert info.value.retry_after == 1.0 and "HTTP 429 RateLimitError" in str(info.value)


@pytest.mark.parametrize("value", [0, -5, 1.5, "64MB", True, None])
def test_max_response_bytes_must_be_a_positive_integer(value):
    with pytest.raises(InvalidInputError) as info:
        synaplex.LanguageModel(model="openai/m", api_base="http://127.0.0.1:9/v1", max_response_bytes=value)
    assert str(info.value) == f"openai/m: max_response_bytes must be a positive integer (bytes), got {value!r}."


# --- item 16: no request (with its headers) kept in the exception chain -----------------------


def chain(error: BaseException) -> list[BaseException]:
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def assert_no_request_in_chain(error: BaseException) -> None:
    assert error.__context__ is None and error.__cause__ is None, chain(error)
    for item in chain(error):
        assert not isinstance(item, (httpx2.HTTPError, json.JSONDecodeError)), item
        assert KEY not in repr(vars(item)) and KEY not in str(item)


@pytest.mark.parametrize("failure, cls", [
    (httpx2.ConnectError("refused"), ProviderConnectionError),
    (httpx2.ReadTimeout("slow"), ProviderTimeoutError),
    (httpx2.RemoteProtocolError("peer closed"), ProviderConnectionError),
])
@pytest.mark.parametrize("streaming", [False, True])
async def test_network_errors_do_not_keep_the_request_in_their_context(failure, cls, streaming):
    def handler(request):
        assert request.headers["authorization"] == f"Bearer {KEY}"
        raise failure

    lm = synaplex.LanguageModel(model="openai/m", api_key=KEY, transport=httpx2.MockTransport(handler),
                                max_retries=0)
    with pytest.raises(cls) as info:
        if streaming:
            [c async for c in await lm(MESSAGES, streaming=True)]
        else:
            await lm(MESSAGES)
    assert_no_request_in_chain(info.value)


async def test_a_refused_connection_and_a_body_that_is_not_json_keep_no_context():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lm = synaplex.LanguageModel(model="openai/m", api_base=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(ProviderConnectionError, match=f"cannot connect to http://127.0.0.1:{port}/v1") as info:
        await lm(MESSAGES)
    assert_no_request_in_chain(info.value)
    lm = synaplex.LanguageModel(model="openai/m", api_key=KEY, max_retries=0, transport=httpx2.MockTransport(
        lambda request: httpx2.Response(200, content=b"<html>" + KEY.encode())))
    with pytest.raises(ProviderInternalError, match="not JSON") as info:
        await lm(MESSAGES)
    assert_no_request_in_chain(info.value)
