"""Credentials never leave by the side door: saved configs, error messages, tracing spans.

Credential headers are found by rule (synaplex/backend/redaction.py), not from a list of three
names; URL userinfo and secret query values count as credentials too.
"""

from __future__ import annotations

import json
import socket

import httpx2
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import synaplex
from synaplex.backend.redaction import (
    is_secret_header,
    redact_config,
    redact_headers,
    redact_url,
    safe_headers,
    strip_url_credentials,
)
from synaplex.errors import AuthenticationError, InvalidRequestError, ProviderConnectionError
from synaplex.lm.errors import redact

KEY = "sk-redaction-0123456789abcdefghijk"
PASSWORD = "hunter2-userinfo-pw"
QUERY_SECRET = "q-secret-value-98765"
# Credential headers a real deployment sends: proxies, Google, gateways (Cloudflare AI Gateway,
# Azure APIM, Helicone, Portkey), cookies, custom tokens.
SECRET_HEADERS = {
    "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0LXByb3h5LXB3",
    "x-goog-api-key": "AIzaSyD-secret-google-key-000000000",
    "cf-aig-authorization": "Bearer cf-gateway-secret-token-11111",
    "Ocp-Apim-Subscription-Key": "apim-subscription-secret-22222",
    "Helicone-Auth": "Bearer sk-helicone-secret-333333333",
    "x-portkey-api-key": "portkey-secret-key-4444444444",
    "Cookie": "session=cookie-secret-5555555555",
    "X-Custom-Token": "custom-token-secret-6666666666",
    "X-Gateway-Secret": "gateway-secret-7777777777",
    "X-Forwarded-Access": "Bearer forwarded-bearer-secret-8888",
}
PLAIN_HEADERS = {"x-title": "demo app", "anthropic-beta": "tools-2024-05-16", "HTTP-Referer": "https://example.org"}
API_BASE = f"https://alice:{PASSWORD}@gateway.example/v1?key={QUERY_SECRET}&region=eu"
SECRETS = [KEY, PASSWORD, QUERY_SECRET, *SECRET_HEADERS.values(),
           *(v.split(" ", 1)[1] for v in SECRET_HEADERS.values() if " " in v)]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, value", [*SECRET_HEADERS.items(), *((name, "x") for name in (
    "Authorization", "authorization", "api-key", "X-API-KEY", "x-auth-token", "X-Amz-Security-Token", "x-session-id"))])
def test_credential_headers_are_found_by_rule(name, value):
    assert is_secret_header(name, value)


@pytest.mark.parametrize("name", [*PLAIN_HEADERS, "content-type", "accept", "user-agent", "openai-organization"])
def test_plain_headers_are_kept(name):
    assert not is_secret_header(name, "plain value")


def test_a_header_whose_value_is_a_bearer_token_is_a_credential_whatever_its_name():
    assert is_secret_header("X-Forwarded-Access", "Bearer abc") and is_secret_header("x-anything", "Basic eHk6eg==")
    assert safe_headers({"x-anything": "Basic eHk6eg==", **PLAIN_HEADERS}) == PLAIN_HEADERS
    assert redact_headers({"Cookie": "a=b", "x-title": "t"}) == {"Cookie": "[REDACTED]", "x-title": "t"}


@pytest.mark.parametrize("url, shown, saved", [
    ("https://u:p4ss@h.example/v1", "https://[REDACTED]@h.example/v1", "https://h.example/v1"),
    ("https://token123@h.example/v1", "https://[REDACTED]@h.example/v1", "https://h.example/v1"),
    ("https://h.example/v1?key=abc&alt=sse", "https://h.example/v1?key=[REDACTED]&alt=sse",
     "https://h.example/v1?alt=sse"),
    ("https://h.example/o?sv=1&sig=abc%2Fdef", "https://h.example/o?sv=1&sig=[REDACTED]", "https://h.example/o?sv=1"),
    ("https://h.example/v1?access_token=t&api_key=k", "https://h.example/v1?access_token=[REDACTED]&api_key=[REDACTED]",
     "https://h.example/v1"),
    ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
])
def test_urls_lose_userinfo_and_secret_query_values(url, shown, saved):
    assert redact_url(url) == shown
    assert strip_url_credentials(url) == saved
    assert redact(f"cannot connect to {url} (refused)") == f"cannot connect to {shown} (refused)"


def test_redact_config_walks_a_whole_saved_config():
    config = {"class_name": "Program", "config": {"layers": [{"language_model": {
        "model": "openai/x", "api_base": API_BASE, "api_key": KEY, "max_tokens": 5,
        "headers": {**SECRET_HEADERS, **PLAIN_HEADERS},
        "instructions": "Say https://not:a-url-field@example in prose is kept"}}]}}
    cleaned = redact_config(config)
    model = cleaned["config"]["layers"][0]["language_model"]
    assert model == {"model": "openai/x", "api_base": "https://gateway.example/v1?region=eu", "max_tokens": 5,
                     "headers": PLAIN_HEADERS,
                     "instructions": "Say https://not:a-url-field@example in prose is kept"}
    assert config["config"]["layers"][0]["language_model"]["api_key"] == KEY  # the input is not changed


# --- saved configs ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"])
def test_get_config_and_saved_json_hold_no_credential(model):
    lm = synaplex.LanguageModel(model=model, api_key=KEY, api_base=API_BASE,
                                headers={**SECRET_HEADERS, **PLAIN_HEADERS})
    config = lm.get_config()
    assert config["api_base"] == "https://gateway.example/v1?region=eu"
    assert config["headers"] == PLAIN_HEADERS
    from synaplex.serialization import serialize_synaplex_object

    assert_no_secret(json.dumps(serialize_synaplex_object(lm)))


def test_a_fallback_model_is_saved_without_credentials_too():
    inner = synaplex.LanguageModel(model="openai/y", api_key=KEY, api_base=API_BASE, headers=SECRET_HEADERS)
    lm = synaplex.LanguageModel(model="openai/x", api_key=KEY, fallback=inner)
    from synaplex.serialization import serialize_synaplex_object

    assert_no_secret(json.dumps(serialize_synaplex_object(lm)))


# --- errors ------------------------------------------------------------------------------------


async def test_an_error_body_echoing_every_header_is_redacted():
    def echo(request):
        echoed = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return httpx2.Response(401, json={"error": {"message": f"denied for {echoed} at {request.url}"}})

    lm = synaplex.LanguageModel(model="openai/x", api_key=KEY, api_base=API_BASE, max_retries=0,
                                headers=SECRET_HEADERS, transport=httpx2.MockTransport(echo))
    with pytest.raises(AuthenticationError) as info:
        await lm([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert_no_secret(message)
    assert "x-title" not in message and "[REDACTED]" in message and "gateway.example" in message


async def test_a_connection_error_to_a_url_with_userinfo_shows_no_password():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lm = synaplex.LanguageModel(model="openai/x", api_base=f"http://alice:{PASSWORD}@127.0.0.1:{port}/v1",
                                max_retries=0, headers=SECRET_HEADERS)
    with pytest.raises(ProviderConnectionError) as info:
        await lm([{"role": "user", "content": "hi"}])
    assert str(info.value).startswith(f"openai/x: cannot connect to http://[REDACTED]@127.0.0.1:{port}/v1/chat/"
                                      "completions")
    assert_no_secret(str(info.value))


async def test_a_stream_error_event_echoing_a_header_is_redacted():
    secret = SECRET_HEADERS["X-Custom-Token"]

    def handler(request):
        data = json.dumps({"error": {"message": f"bad token {secret}", "type": "invalid_request_error"}})
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=f"data: {data}\n\n")

    lm = synaplex.LanguageModel(model="openai/x", api_key=KEY, max_retries=0, headers=SECRET_HEADERS,
                                transport=httpx2.MockTransport(handler))
    with pytest.raises(InvalidRequestError) as info:
        [c async for c in await lm([{"role": "user", "content": "hi"}], streaming=True)]
    assert str(info.value) == "openai/x: HTTP 400 InvalidRequestError: bad token [REDACTED] [invalid_request_error]"


# --- spans -------------------------------------------------------------------------------------


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    synaplex.enable_observability(tracer_provider=provider, record_content=True)
    yield exporter
    synaplex.disable_observability()


async def test_spans_of_failed_and_successful_calls_hold_no_credential(spans):
    def handler(request):
        if "fail" in request.content.decode():
            return httpx2.Response(403, json={"error": {"message": f"proxy said: {request.headers}"}})
        return httpx2.Response(200, json={"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "ok"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    lm = synaplex.LanguageModel(model="openai/x", api_key=KEY, api_base=API_BASE, max_retries=0,
                                headers=SECRET_HEADERS, transport=httpx2.MockTransport(handler))
    await lm([{"role": "user", "content": "hi"}])
    with pytest.raises(AuthenticationError):
        await lm([{"role": "user", "content": "fail"}])
    finished = spans.get_finished_spans()
    assert len(finished) == 2
    for span in finished:
        attributes = dict(span.attributes)
        assert attributes["server.address"] == "gateway.example" and attributes["server.port"] == 443
        dumped = json.dumps([attributes, [(e.name, dict(e.attributes)) for e in span.events]], default=str)
        assert_no_secret(dumped)
    assert finished[1].events[0].name == "exception"
