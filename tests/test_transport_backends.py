"""Both HTTP transports (aiohttp, the default, and httpx2, the fallback) keep every guarantee
of the HTTP layer: the deadline, the size cap, SSE, retries and Retry-After, redaction,
connection reuse, TLS and the environment ignored. Each test runs on both, against a real
server on 127.0.0.1 (tests/loopback_http.py) or a TLS one made here."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import ssl
import subprocess
import sys
import textwrap
import threading
import time

import httpx2
import pytest

import synaplex
from synaplex.errors import (
    AuthenticationError,
    InvalidInputError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
)
from synaplex.lm import transports
from synaplex.lm.errors import ResponseTooLargeError
from synaplex.lm.http import HttpClient
from tests.loopback_http import LoopbackServer, Reply, drip, endless

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "sk-backends-0123456789abcdefghijkl"
MESSAGES = [{"role": "user", "content": "Capital of France?"}]
TRANSPORTS = pytest.mark.parametrize("transport", ["aiohttp", "httpx2"])


def chat_body(content: str = "Paris") -> bytes:
    return json.dumps({"id": "c1", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 1}}).encode()


def chat(body: bytes = b"", status: int = 200, **headers) -> Reply:
    return Reply(status, {"content-type": "application/json", **headers}, body or chat_body())


def sse(*events: str) -> bytes:
    return "".join(f"data: {e}\n\n" for e in events).encode()


def delta(text: str = "", finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def lm_at(url: str, transport: str, **kwargs) -> synaplex.LanguageModel:
    kwargs.setdefault("max_retries", 0)
    return synaplex.LanguageModel(model="openai/m", api_base=url + "/v1", api_key=KEY, transport=transport, **kwargs)


def chain(error: BaseException) -> list[BaseException]:
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


# --- choosing the transport -------------------------------------------------------------------


def test_aiohttp_is_the_default_and_a_mock_transport_goes_through_httpx2():
    assert synaplex.LanguageModel(model="openai/m", api_key=KEY)._adapter.http.transport_name == "aiohttp"
    mocked = synaplex.LanguageModel(model="openai/m", api_key=KEY,
                                    transport=httpx2.MockTransport(lambda request: httpx2.Response(200)))
    assert mocked._adapter.http.transport_name == "httpx2"
    assert lm_at("http://127.0.0.1:9", "httpx2")._adapter.http.transport_name == "httpx2"


@pytest.mark.parametrize("value, problem", [
    ("requests", "got 'requests'"),
    (42, "got int"),
    (object(), "got object"),
])
def test_an_unknown_transport_is_refused_when_the_model_is_made(value, problem):
    with pytest.raises(InvalidInputError) as info:
        synaplex.LanguageModel(model="openai/m", api_key=KEY, transport=value)
    assert str(info.value) == ("openai/m: transport must be one of ('aiohttp', 'httpx2'), None (the fastest "
                               f"installed) or an httpx2 async transport, {problem}.")


def test_without_aiohttp_the_default_falls_back_to_httpx2_and_asking_for_it_says_what_to_install():
    """In a fresh process where aiohttp cannot be imported."""
    script = textwrap.dedent("""
        import asyncio, sys
        sys.modules["aiohttp"] = None  # as if it were not installed
        import synaplex
        from synaplex.errors import InvalidInputError
        lm = synaplex.LanguageModel(model="openai/m", api_base=sys.argv[1] + "/v1", max_retries=0)
        print(lm._adapter.http.transport_name, asyncio.run(lm([{"role": "user", "content": "hi"}]))["content"])
        try:
            synaplex.LanguageModel(model="openai/m", api_base=sys.argv[1] + "/v1", transport="aiohttp")
        except InvalidInputError as error:
            print(error)
    """)
    with LoopbackServer(lambda request: chat()) as server:
        result = subprocess.run([sys.executable, "-c", script, server.url], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        "httpx2 Paris",
        "openai/m: transport='aiohttp' needs the aiohttp package (pip install aiohttp), or use transport='httpx2'."]
    assert len(server.requests) == 1


def test_the_libraries_load_on_the_first_request_and_only_the_one_in_use():
    script = textwrap.dedent("""
        import asyncio, json, sys
        import synaplex
        loaded = lambda: sorted(m for m in ("aiohttp", "httpx2") if m in sys.modules)
        lm = synaplex.LanguageModel(model="openai/m", api_base=sys.argv[1] + "/v1", max_retries=0)
        made = loaded()
        asyncio.run(lm([{"role": "user", "content": "hi"}]))
        print(json.dumps([made, loaded()]))
    """)
    with LoopbackServer(lambda request: chat()) as server:
        result = subprocess.run([sys.executable, "-c", script, server.url], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == [[], ["aiohttp"]]  # plain HTTP: no TLS context, so no httpx2 either


# --- the request on the wire ------------------------------------------------------------------


@TRANSPORTS
async def test_the_request_is_the_same_bytes_on_both_transports(transport):
    with LoopbackServer(lambda request: chat()) as server:
        lm = lm_at(server.url, transport, headers={"X-Title": "demo"})
        assert (await lm(MESSAGES))["content"] == "Paris"
        request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {KEY}" and request.headers["x-title"] == "demo"
    body = json.loads(request.body)
    # httpx2's json= encoding: compact, UTF-8 (no \\u escapes)
    assert request.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert body["messages"] == MESSAGES and body["model"] == "m"


async def test_a_non_ascii_body_is_sent_as_utf8_on_both():
    bodies = []
    for transport in ("aiohttp", "httpx2"):
        with LoopbackServer(lambda request: chat()) as server:
            await lm_at(server.url, transport)([{"role": "user", "content": "Qu'est-ce que « café » ? 東京"}])
            bodies.append(server.requests[0].body)
    assert bodies[0] == bodies[1] and "東京".encode() in bodies[0]


@TRANSPORTS
async def test_a_redirect_is_not_followed(transport):
    def handler(request):
        if request.path.startswith("/elsewhere"):
            return chat()
        return Reply(307, {"location": "/elsewhere/v1/chat/completions", "content-type": "text/html"}, b"moved")

    with LoopbackServer(handler) as server:
        with pytest.raises(ProviderInternalError, match="not JSON it can use"):
            await lm_at(server.url, transport)(MESSAGES)
        assert [r.path for r in server.requests] == ["/v1/chat/completions"]


@TRANSPORTS
async def test_a_gzip_reply_is_decompressed(transport):
    with LoopbackServer(lambda request: chat(gzip.compress(chat_body("Lyon")), **{"content-encoding": "gzip"})) \
            as server:
        assert (await lm_at(server.url, transport)(MESSAGES))["content"] == "Lyon"


# --- the deadline ------------------------------------------------------------------------------


@TRANSPORTS
async def test_the_timeout_bounds_a_reply_dripping_one_byte_at_a_time(transport):
    body = chat_body()
    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json",
                                              "content-length": str(len(body))}, drip(body, 0.3))) as server:
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError) as info:
            await lm_at(server.url, transport, timeout=1)(MESSAGES)
    assert 0.9 <= time.monotonic() - started < 4
    assert str(info.value) == (f"openai/m: no complete reply within 1 s from {server.url}/v1/chat/completions "
                               "(timeout= bounds the whole request; raise it if the model is slow).")
    assert chain(info.value) == [info.value]


@TRANSPORTS
async def test_a_stream_times_out_on_silence_not_on_keep_alives_nor_on_the_consumer(transport):
    async def stalls():
        yield sse(delta("Par"))
        while True:
            yield b": keep-alive\n\n"
            await asyncio.sleep(0.2)

    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"}, stalls())) as server:
        texts = []
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError, match="no event within 1 s"):
            async for chunk in await lm_at(server.url, transport, timeout=1)(MESSAGES, streaming=True):
                texts.append(chunk.text)
        assert texts == ["Par"] and time.monotonic() - started < 4
    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"},
                                        sse(delta("Pa"), delta("ris"), delta("", "stop"), "[DONE]"))) as server:
        texts = []
        async for chunk in await lm_at(server.url, transport, timeout=0.4)(MESSAGES, streaming=True):
            texts.append(chunk.text)
            await asyncio.sleep(0.6)  # slower than the timeout, on the consumer's side
    assert "".join(texts) == "Paris"


# --- the size cap ---------------------------------------------------------------------------------


@TRANSPORTS
async def test_an_endless_body_stops_at_the_cap(transport):
    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json"},
                                        endless(prefix=b'{"choices": "'))) as server:
        with pytest.raises(ResponseTooLargeError) as info:
            await lm_at(server.url, transport, max_response_bytes=2 ** 20)(MESSAGES)
    assert str(info.value) == (f"openai/m: the reply from {server.url}/v1/chat/completions is larger than "
                               "max_response_bytes=1,048,576; stopped reading. Raise max_response_bytes if such "
                               "replies are expected.")


@TRANSPORTS
async def test_a_small_gzip_reply_that_inflates_past_the_cap_is_stopped(transport):
    bomb = gzip.compress(b'{"choices": "' + b"0" * (8 * 2 ** 20) + b'"}')
    assert len(bomb) < 64 * 1024
    with LoopbackServer(lambda r: chat(bomb, **{"content-encoding": "gzip"})) as server:
        with pytest.raises(ResponseTooLargeError, match="larger than max_response_bytes=1,048,576; stopped"):
            await lm_at(server.url, transport, max_response_bytes=2 ** 20)(MESSAGES)


@TRANSPORTS
async def test_an_announced_length_over_the_cap_is_refused_before_reading(transport):
    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json", "content-length": str(4 * 2 ** 20)},
                                        endless())) as server:
        with pytest.raises(ResponseTooLargeError, match=r"\(it announces 4,194,304 bytes\); stopped reading"):
            await lm_at(server.url, transport, max_response_bytes=2 ** 20)(MESSAGES)


@TRANSPORTS
async def test_an_endless_stream_and_an_endless_event_stop_at_their_caps(transport):
    async def events():
        while True:
            yield sse(delta("x" * 1000))

    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"}, events())) as server:
        received = 0
        with pytest.raises(ResponseTooLargeError, match="larger than max_response_bytes=1,048,576; stopped"):
            async for chunk in await lm_at(server.url, transport, max_response_bytes=2 ** 20)(MESSAGES,
                                                                                              streaming=True):
                received += len(chunk.text)
        assert 0 < received <= 2 ** 20
    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"},
                                        endless(b"y" * 65536, prefix=b"data: "))) as server:
        with pytest.raises(ResponseTooLargeError) as info:
            [c async for c in await lm_at(server.url, transport)(MESSAGES, streaming=True)]
    assert str(info.value).startswith(f"openai/m: an event of the stream from {server.url}/v1/chat/completions "
                                      "is larger than 1,048,576 bytes")


# --- SSE ------------------------------------------------------------------------------------------


@TRANSPORTS
async def test_a_stream_split_anywhere_reads_the_same(transport):
    stream = ("data: " + delta("Pa") + "\r\n\r\n: ping\n\nevent: message\ndata: " + delta("ris") + "\r\r"
              "data: " + delta("", "stop") + "\n\ndata: [DONE]\n\n").encode()
    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream; charset=utf-8"},
                                        drip(stream, 0.0, size=7))) as server:
        texts = [c.text async for c in await lm_at(server.url, transport)(MESSAGES, streaming=True)]
    assert "".join(texts) == "Paris"


@TRANSPORTS
async def test_an_error_event_inside_a_200_stream_is_a_typed_error_without_the_key(transport):
    error = json.dumps({"error": {"message": f"overloaded, key {KEY}", "type": "rate_limit_error", "code": 429}})
    with LoopbackServer(lambda r: Reply(200, {"content-type": "text/event-stream"},
                                        sse(delta("Pa"), error))) as server:
        with pytest.raises(RateLimitError) as info:
            [c async for c in await lm_at(server.url, transport)(MESSAGES, streaming=True)]
    assert KEY not in str(info.value) and "overloaded" in str(info.value)


@TRANSPORTS
async def test_a_reply_that_is_not_an_event_stream_is_refused(transport):
    with LoopbackServer(lambda r: chat()) as server:
        with pytest.raises(ProviderInternalError, match="did not answer with an event stream"):
            [c async for c in await lm_at(server.url, transport)(MESSAGES, streaming=True)]


# --- retries and Retry-After ------------------------------------------------------------------------


@TRANSPORTS
async def test_a_429_with_retry_after_is_waited_for_and_retried(transport):
    replies = [chat(b'{"error": {"message": "slow down", "type": "rate_limit_error"}}', 429,
                    **{"retry-after": "0.4"}), chat()]
    with LoopbackServer(lambda r: replies.pop(0)) as server:
        started = time.monotonic()
        reply = await lm_at(server.url, transport, max_retries=1)(MESSAGES)
        waited = time.monotonic() - started
        assert reply["content"] == "Paris" and len(server.requests) == 2
    assert 0.4 <= waited < 3


@TRANSPORTS
async def test_rate_limit_and_server_errors_are_typed_with_their_wait(transport):
    with LoopbackServer(lambda r: chat(b'{"error": {"message": "slow down"}}', 429, **{"Retry-After": "7"})) \
            as server:
        with pytest.raises(RateLimitError) as info:
            await lm_at(server.url, transport)(MESSAGES)
    assert info.value.retry_after == 7.0 and info.value.is_retryable and chain(info.value) == [info.value]
    with LoopbackServer(lambda r: Reply(503, {"content-type": "text/plain"}, b"upstream down")) as server:
        with pytest.raises(synaplex.errors.ProviderInternalError) as info:
            await lm_at(server.url, transport)(MESSAGES)
    assert info.value.status_code == 503 and info.value.is_retryable


@TRANSPORTS
async def test_an_endless_error_body_gives_the_typed_error(transport):
    with LoopbackServer(lambda r: Reply(429, {"content-type": "application/json", "retry-after": "1"},
                                        endless(prefix=b'{"error": {"message": "slow down'))) as server:
        with pytest.raises(RateLimitError) as info:
            await lm_at(server.url, transport)(MESSAGES)
    assert info.value.retry_after == 1.0


# --- redaction and exception chains --------------------------------------------------------------------


@TRANSPORTS
async def test_an_error_body_echoing_the_headers_is_redacted(transport):
    def echo(request):
        echoed = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return chat(json.dumps({"error": {"message": f"denied for {echoed}"}}).encode(), 401)

    with LoopbackServer(echo) as server:
        with pytest.raises(AuthenticationError) as info:
            await lm_at(server.url, transport, headers={"X-Gateway-Secret": "gateway-secret-7777777777"})(MESSAGES)
    message = str(info.value)
    assert KEY not in message and "gateway-secret-7777777777" not in message and "[REDACTED]" in message
    assert chain(info.value) == [info.value]


@TRANSPORTS
async def test_network_failures_are_typed_and_keep_no_library_error_nor_request(transport):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderConnectionError) as info:
        await synaplex.LanguageModel(model="openai/m", api_base=f"http://alice:pw-0123456789@127.0.0.1:{port}/v1",
                                     api_key=KEY, max_retries=0, transport=transport)(MESSAGES)
    message = str(info.value)
    assert message.startswith(f"openai/m: cannot connect to http://[REDACTED]@127.0.0.1:{port}/v1/chat/completions (")
    assert "pw-0123456789" not in message and KEY not in message
    assert chain(info.value) == [info.value] and KEY not in repr(vars(info.value))
    with LoopbackServer(lambda request: chat()) as server:  # with the key and userinfo: Basic auth, as httpx2
        url = server.url.replace("http://", "http://alice:pw-0123456789@")
        await synaplex.LanguageModel(model="openai/m", api_base=url + "/v1", api_key=KEY, max_retries=0,
                                     transport=transport)(MESSAGES)
        assert server.requests[0].headers["authorization"] == "Basic YWxpY2U6cHctMDEyMzQ1Njc4OQ=="

    def hang_up(request):
        return Reply(200, {"content-type": "application/json", "content-length": "1000", "connection": "close"},
                     drip(b"{", 0.01))

    with LoopbackServer(hang_up) as server:  # announces 1000 bytes, sends 1, closes
        with pytest.raises(ProviderConnectionError, match="talking to") as info:
            await lm_at(server.url, transport)(MESSAGES)
    assert chain(info.value) == [info.value] and KEY not in str(info.value)


@TRANSPORTS
async def test_a_url_that_cannot_be_used_is_a_typed_error(transport):
    lm = synaplex.LanguageModel(model="openai/m", api_base="ftp://127.0.0.1:9/v1", api_key=KEY, max_retries=0,
                                transport=transport)
    with pytest.raises(ProviderConnectionError, match=r"ftp://127.0.0.1:9/v1/chat/completions is not a usable URL"):
        await lm(MESSAGES)


# --- connections ------------------------------------------------------------------------------------------


@TRANSPORTS
async def test_one_connection_serves_sequential_calls(transport):
    with LoopbackServer(lambda r: chat()) as server:
        lm = lm_at(server.url, transport)
        for _ in range(20):
            assert (await lm(MESSAGES))["content"] == "Paris"
        assert len(server.requests) == 20 and server.connections == 1


@TRANSPORTS
async def test_a_reply_cut_at_the_cap_does_not_leave_its_connection_in_the_pool(transport):
    def handler(request):
        if request.path.startswith("/endless"):
            return Reply(200, {"content-type": "application/json"}, endless(prefix=b'{"choices": "'))
        if request.path.startswith("/big"):
            return chat(chat_body("x" * 5000))
        return chat()

    with LoopbackServer(handler) as server:
        http = HttpClient(server.url, {"authorization": f"Bearer {KEY}"}, transport=transport, provider="test",
                          model="m", max_response_bytes=1000)
        assert (await http.post_json("/v1/chat/completions", {}))["choices"][0]["message"]["content"] == "Paris"
        for cut in ("/endless", "/big"):
            with pytest.raises(ResponseTooLargeError):
                await http.post_json(cut, {})
            # the next reply is read whole and right: no half-read connection was reused
            assert (await http.post_json("/v1/chat/completions", {}))["choices"][0]["message"]["content"] == "Paris"
            if cut == "/endless":  # still mid-body: that connection was closed, not pooled
                assert server.connections == 2
        await http.aclose()


@TRANSPORTS
async def test_many_calls_in_flight_share_a_bounded_pool(transport):
    async def slow(request):
        await asyncio.sleep(0.05)
        yield chat_body()

    with LoopbackServer(lambda r: Reply(200, {"content-type": "application/json"}, slow(r))) as server:
        lm = lm_at(server.url, transport)
        replies = await asyncio.gather(*(lm(MESSAGES) for _ in range(150)))
        assert all(r["content"] == "Paris" for r in replies) and len(server.requests) == 150
        assert server.connections <= transports.MAX_CONNECTIONS


@TRANSPORTS
def test_each_event_loop_gets_its_client_closed_with_the_loop(transport):
    with LoopbackServer(lambda r: chat()) as server:
        lm = lm_at(server.url, transport)
        http = lm._adapter.http
        for _ in range(5):
            assert asyncio.run(lm(MESSAGES))["content"] == "Paris"
            assert http.open_clients == 0
        time.sleep(0.2)
        assert server.open_connections == 0 and server.connections == 5


@TRANSPORTS
def test_a_loop_closed_by_hand_is_forgotten_quietly(transport, caplog):
    import gc

    with LoopbackServer(lambda r: chat()) as server:
        lm = lm_at(server.url, transport)
        http = lm._adapter.http
        with caplog.at_level(logging.DEBUG):
            for _ in range(3):
                loop = asyncio.new_event_loop()
                loop.run_until_complete(lm(MESSAGES))
                loop.close()  # no shutdown_asyncgens: the client is left open
            assert asyncio.run(lm(MESSAGES))["content"] == "Paris"
            gc.collect()
        assert len(http._clients) <= 1 and http.open_clients == 0
        assert not [r for r in caplog.records if "nclosed" in r.getMessage()], caplog.text
        time.sleep(0.2)
        assert server.open_connections == 0


# --- the environment and TLS ---------------------------------------------------------------------------


@TRANSPORTS
async def test_proxy_variables_in_the_environment_are_not_used(transport, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with LoopbackServer(lambda r: chat()) as server:
        assert (await lm_at(server.url, transport)(MESSAGES))["content"] == "Paris"
        assert server.requests[0].path == "/v1/chat/completions"  # origin form: no proxy in between


class TlsServer:
    """An HTTPS server on 127.0.0.1 with a certificate from a test CA (trustme)."""

    def __init__(self):
        import trustme

        self.ca = trustme.CA()
        certificate = self.ca.issue_cert("127.0.0.1")
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(self.context)
        self.requests = 0

    def __enter__(self) -> TlsServer:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                owner.requests += 1
                body = chat_body("secure")
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client refusing the certificate is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.socket = self.context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


@TRANSPORTS
async def test_tls_is_verified_with_the_shared_context_and_not_from_the_environment(transport, monkeypatch, tmp_path):
    with TlsServer() as server:
        # The test CA is in no system store; SSL_CERT_FILE naming it changes nothing (not read).
        bundle = tmp_path / "ca.pem"
        server.ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        monkeypatch.setattr(transports, "_SSL_CONTEXT", None)  # made afresh, with that variable set
        with pytest.raises(ProviderConnectionError, match=f"cannot connect to {server.url}/v1/chat/completions") \
                as info:
            await lm_at(server.url, transport)(MESSAGES)
        assert chain(info.value) == [info.value]
        # The one context both transports use, trusting the test CA: the same call goes through.
        trusting = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        server.ca.configure_trust(trusting)
        monkeypatch.setattr(transports, "_SSL_CONTEXT", trusting)
        assert (await lm_at(server.url, transport)(MESSAGES))["content"] == "secure"
        assert server.requests == 1


def test_both_transports_get_one_verifying_context():
    context = transports.ssl_context()
    assert context is transports.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


# --- HttpClient used directly ------------------------------------------------------------------------------


@TRANSPORTS
async def test_http_client_get_and_post_json_on_both(transport):
    def handler(request):
        return chat(json.dumps({"method": request.method, "path": request.path,
                                "type": request.headers.get("content-type")}).encode())

    with LoopbackServer(handler) as server:
        http = HttpClient(server.url, {"x-api-key": KEY}, transport=transport, provider="test", model="m")
        assert await http.get_json("/models", params={"page": "2"}) == {"method": "GET", "path": "/models?page=2",
                                                                        "type": None}
        assert await http.post_json("/echo", {"a": 1}) == {"method": "POST", "path": "/echo",
                                                           "type": "application/json"}
        await http.aclose()
        assert http.open_clients == 0
