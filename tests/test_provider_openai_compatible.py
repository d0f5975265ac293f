"""The OpenAI-compatible adapter against golden requests and replies (httpx2.MockTransport)."""

import json

import httpx2
import pytest

import synaplex
from synaplex.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    InvalidInputError,
    MissingAPIKeyError,
    PaymentRequiredError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
    RetriesExhaustedError,
    StructuredOutputError,
    UnknownProviderError,
)
from tests.conftest import Answer

KEY = "sk-test-0123456789abcdefghijklmnop"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]


def chat_reply(content="Paris", tool_calls=None, usage=None, finish="stop"):
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "cmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}


class Recorder:
    """A MockTransport handler that answers from a list and records every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        if isinstance(response, httpx2.Response):
            return response
        return httpx2.Response(200, json=response)

    @property
    def body(self) -> dict:
        return json.loads(self.requests[-1].content)

    def transport(self):
        return httpx2.MockTransport(self)


def lm_with(recorder, model="openai/gpt-4o-mini", **kwargs):
    kwargs.setdefault("api_key", KEY)
    return synaplex.LanguageModel(model=model, transport=recorder.transport(), **kwargs)


# (model string, expected URL, auth header name, auth value, structured response_format check)
PROVIDERS = [
    ("openai/gpt-4o-mini", "https://api.openai.com/v1/chat/completions", "authorization", f"Bearer {KEY}", "strict"),
    ("mistral/mistral-small-latest", "https://api.mistral.ai/v1/chat/completions", "authorization", f"Bearer {KEY}", "strict"),
    ("groq/llama-3.1-8b-instant", "https://api.groq.com/openai/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("groq/compound-beta", "https://api.groq.com/openai/v1/chat/completions", "authorization", f"Bearer {KEY}", "prompt"),
    ("openrouter/anthropic/claude-3.5-sonnet", "https://openrouter.ai/api/v1/chat/completions", "authorization", f"Bearer {KEY}", "strict"),
    ("deepseek/deepseek-chat", "https://api.deepseek.com/v1/chat/completions", "authorization", f"Bearer {KEY}", "prompt"),
    ("together/meta-llama/Llama-3.3-70B-Instruct-Turbo", "https://api.together.xyz/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct", "https://api.fireworks.ai/inference/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("perplexity/sonar", "https://api.perplexity.ai/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("cerebras/llama3.1-8b", "https://api.cerebras.ai/v1/chat/completions", "authorization", f"Bearer {KEY}", "strict"),
    ("xai/grok-3", "https://api.x.ai/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("cohere/command-r-plus", "https://api.cohere.ai/compatibility/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("ollama/llama3.2", "http://localhost:11434/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("lmstudio/qwen2.5-7b-instruct", "http://localhost:1234/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("vllm/Qwen/Qwen2.5-1.5B-Instruct", "http://localhost:8000/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("hosted_vllm/Qwen/Qwen2.5-1.5B-Instruct", "http://localhost:8000/v1/chat/completions", "authorization", f"Bearer {KEY}", "schema"),
    ("llamacpp/smollm2", "http://localhost:8080/v1/chat/completions", "authorization", f"Bearer {KEY}", "json_object_schema"),
]


@pytest.mark.parametrize("model, url, header, value, structured", PROVIDERS)
async def test_chat_and_structured_request_per_provider(model, url, header, value, structured):
    recorder = Recorder(chat_reply(), chat_reply(content='{"answer": "Paris"}'))
    lm = lm_with(recorder, model=model)
    reply = await lm(MESSAGES, temperature=0.2, max_tokens=50)
    assert reply == {"role": "assistant", "content": "Paris", "tool_calls": []}
    request = recorder.requests[0]
    assert str(request.url) == url and request.method == "POST"
    assert request.headers[header] == value
    body = recorder.body
    assert body["model"] == model.split("/", 1)[1]
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50
    assert "response_format" not in body

    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    body = recorder.body
    fmt = body["response_format"]
    if structured == "strict":
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["name"] == "Answer"
        assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    elif structured == "schema":
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is False
        assert fmt["json_schema"]["schema"] == Answer.get_schema()
    elif structured == "json_object_schema":
        assert fmt == {"type": "json_object", "schema": Answer.get_schema()}
    else:
        assert fmt == {"type": "json_object"}
        assert body["messages"][0]["role"] == "system"
        assert json.dumps(Answer.get_schema()) in body["messages"][0]["content"]
        assert body["messages"][0]["content"].startswith("Be brief.")


async def test_azure_uses_deployment_url_api_key_header_and_version():
    recorder = Recorder(chat_reply())
    lm = lm_with(recorder, model="azure/my-gpt4o", api_base="https://res.openai.azure.com")
    await lm(MESSAGES)
    request = recorder.requests[0]
    assert str(request.url) == "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"
    assert request.headers["api-key"] == KEY and "authorization" not in request.headers


async def test_any_openai_compatible_server_needs_no_registration_nor_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recorder = Recorder(chat_reply())
    lm = synaplex.LanguageModel(model="openai/ibm/granite-4-h-tiny", api_base="http://localhost:1234/v1",
                                transport=recorder.transport())
    assert (await lm(MESSAGES))["content"] == "Paris"
    assert str(recorder.requests[0].url) == "http://localhost:1234/v1/chat/completions"
    assert "authorization" not in recorder.requests[0].headers
    assert recorder.body["model"] == "ibm/granite-4-h-tiny"
    assert lm.last_usage.cost is None  # unknown model: cost unknown, not 0


async def test_reasoning_models_rename_and_drop_parameters():
    recorder = Recorder(chat_reply())
    await lm_with(recorder, model="openai/o3-mini")(MESSAGES, max_tokens=100, temperature=0.5)
    assert recorder.body["max_completion_tokens"] == 100
    assert "max_tokens" not in recorder.body and "temperature" not in recorder.body


async def test_strict_schema_transform_keeps_the_original_for_validation():
    class Inner(synaplex.DataModel):
        value: int

    class Outer(synaplex.DataModel):
        inner: Inner = synaplex.Field(description="nested")
        note: str | None = None
        count: int = 3

    reply = {"inner": {"value": 1}, "note": None, "count": 4}
    recorder = Recorder(chat_reply(content=json.dumps(reply)))
    assert await lm_with(recorder)(MESSAGES, schema=Outer.get_schema()) == reply
    schema = recorder.body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["inner", "note", "count"]
    assert schema["properties"]["inner"] == {"$ref": "#/$defs/Inner"}  # nothing beside $ref
    assert "default" not in schema["properties"]["count"]
    assert schema["$defs"]["Inner"]["additionalProperties"] is False


def test_the_per_schema_cache_is_bounded_and_keeps_the_recently_used():
    from synaplex.lm.openai_compatible import SCHEMA_CACHE_SIZE

    adapter = lm_with(Recorder(chat_reply()))._adapter
    kept = {"type": "object", "properties": {"kept": {"type": "string"}}, "title": "Kept"}
    first = adapter._transformed(kept)
    for i in range(3000):
        adapter._transformed({"type": "object", "properties": {f"f{i}": {"type": "string"}}, "title": f"S{i}"})
        if i % 50 == 0:
            assert adapter._transformed(kept) is first  # used recently: still cached, not recomputed
    assert len(adapter._schemas) == SCHEMA_CACHE_SIZE == 128
    assert adapter._transformed(kept) is first


async def test_tool_calls_from_python_functions_and_results_sent_back():
    def get_weather(city: str, unit: str = "celsius") -> dict:
        """Get the weather.

        Args:
            city: the city name.
            unit: celsius or fahrenheit.
        """

    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    recorder = Recorder(chat_reply(content=None, tool_calls=[call], finish="tool_calls"), chat_reply(content="Sunny"))
    lm = lm_with(recorder)
    reply = await lm(MESSAGES, tools=[get_weather], tool_choice="required")
    assert reply["tool_calls"] == [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    body = recorder.body
    assert body["tool_choice"] == "required"
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather.",
        "parameters": {"properties": {"city": {"description": "the city name.", "type": "string"},
                                      "unit": {"default": "celsius", "description": "celsius or fahrenheit.",
                                               "type": "string"}},
                       "required": ["city"], "type": "object"}}}]

    followup = MESSAGES + [reply, {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'}]
    assert (await lm(followup, tools=[get_weather]))["content"] == "Sunny"
    sent = recorder.body["messages"]
    assert sent[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert sent[3] == {"role": "tool", "content": '{"sky": "sunny"}', "tool_call_id": "call_1"}


async def test_malformed_tool_arguments_are_reported_not_dropped():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    recorder = Recorder(chat_reply(content=None, tool_calls=[call]))
    reply = await lm_with(recorder)(MESSAGES, tools=[{"name": "f", "parameters": {"type": "object", "properties": {}}}])
    assert reply["tool_calls"][0]["arguments"] == {}
    assert "not valid JSON" in reply["tool_calls"][0]["arguments_error"]


# --- streaming ---------------------------------------------------------------------------

def sse(*events: str, comments=True) -> bytes:
    parts = [": OPENROUTER PROCESSING\n\n"] if comments else []
    parts += [f"data: {e}\n\n" for e in events]  # events are dumped with ensure_ascii=False
    return "".join(parts).encode()


def stream_response(raw: bytes, split_at: list[int]) -> httpx2.Response:
    pieces, start = [], 0
    for cut in split_at + [len(raw)]:
        pieces.append(raw[start:cut])
        start = cut
    async def chunks():
        for piece in pieces:
            yield piece

    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())


async def test_stream_text_tool_call_deltas_usage_and_split_utf8():
    events = [
        json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Très "}}]}, ensure_ascii=False),
        json.dumps({"choices": [{"index": 0, "delta": {"content": "bien 🎉"}}]}, ensure_ascii=False),
        json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c1", "function": {"name": "add", "arguments": '{"a":'}}]}}]}),
        json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ' 1}'}}]}, "finish_reason": "tool_calls"}]}),
        json.dumps({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}),
        "[DONE]",
    ]
    raw = sse(*events)
    emoji = raw.index("🎉".encode())
    accent = raw.index("è".encode())
    recorder = Recorder(stream_response(raw, sorted([5, accent + 1, emoji + 1, emoji + 3])))
    lm = lm_with(recorder)
    chunks = [c async for c in await lm(MESSAGES, streaming=True)]
    assert "".join(c.text for c in chunks) == "Très bien 🎉"
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert deltas == [{"index": 0, "id": "c1", "name": "add", "arguments_delta": '{"a":'},
                      {"index": 0, "id": None, "name": None, "arguments_delta": " 1}"}]
    assert chunks[-1].finish_reason == "tool_calls"
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (9, 4)
    assert recorder.body["stream"] is True and recorder.body["stream_options"] == {"include_usage": True}
    assert lm.usage.calls == 1 and lm.usage.output_tokens == 4


async def test_error_event_inside_a_200_stream_raises():
    raw = sse(json.dumps({"choices": [{"delta": {"content": "par"}}]}),
              json.dumps({"error": {"message": "Provider returned error", "code": 502}}))
    lm = lm_with(Recorder(stream_response(raw, [])), max_retries=0)
    with pytest.raises(ProviderInternalError, match="HTTP 502.*Provider returned error"):
        [c async for c in await lm(MESSAGES, streaming=True)]


# --- errors ------------------------------------------------------------------------------

def error(status, message, headers=None, code=None):
    return httpx2.Response(status, json={"error": {"message": message, "type": code or "error"}}, headers=headers)


@pytest.mark.parametrize("status, message, cls, retryable", [
    (401, f"Incorrect API key provided: {KEY}", AuthenticationError, False),
    (402, "Insufficient credits. Add more using https://openrouter.ai/credits", PaymentRequiredError, False),
    (400, "This model's maximum context length is 8192 tokens", ContextWindowExceededError, False),
    (500, "Internal error", ProviderInternalError, True),
    (503, "Service Unavailable", ProviderInternalError, True),
])
async def test_http_errors_are_typed_and_never_show_the_key(status, message, cls, retryable):
    lm = lm_with(Recorder(error(status, message)), max_retries=0)
    with pytest.raises(cls) as info:
        await lm(MESSAGES)
    assert info.value.is_retryable is retryable and info.value.status_code == status
    assert KEY not in str(info.value) and KEY[:12] not in str(info.value)
    assert "openai/gpt-4o-mini" in str(info.value) or "gpt-4o-mini" in str(info.value)


async def test_429_retry_after_is_read_and_retries_then_succeed():
    sleeps = []
    recorder = Recorder(error(429, "Rate limit reached", headers={"Retry-After": "0"}), chat_reply())
    lm = lm_with(recorder, max_retries=2)
    assert (await lm(MESSAGES))["content"] == "Paris"
    assert len(recorder.requests) == 2 and lm.last_usage.retries == 1
    recorder = Recorder(error(429, "Rate limit reached", headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as info:
        await lm_with(recorder, max_retries=0)(MESSAGES)
    assert info.value.retry_after == 7.0 and info.value.is_retryable
    del sleeps


async def test_retries_exhausted_after_the_configured_attempts():
    recorder = Recorder(error(503, "overloaded"))
    lm = lm_with(recorder, max_retries=1)
    lm._retry = None
    from synaplex.lm.resilience import RetryPolicy

    async def no_sleep(_):
        return None

    lm._retry = RetryPolicy(max_retries=1, sleep=no_sleep)
    with pytest.raises(RetriesExhaustedError) as info:
        await lm(MESSAGES)
    assert len(recorder.requests) == 2 and info.value.attempts == 2
    assert isinstance(info.value.original_error, ProviderInternalError)


async def test_timeout_and_malformed_json():
    lm = lm_with(Recorder(httpx2.ReadTimeout("slow")), max_retries=0, timeout=3)
    with pytest.raises(ProviderTimeoutError, match="within 3 s"):
        await lm(MESSAGES)
    lm = lm_with(Recorder(httpx2.Response(200, content=b"<html>oops</html>")), max_retries=0)
    with pytest.raises(ProviderInternalError, match="not JSON"):
        await lm(MESSAGES)


async def test_schema_violation_gets_one_repair_then_succeeds_or_raises():
    recorder = Recorder(chat_reply(content='{"answer": 42}'), chat_reply(content='{"answer": "Paris"}'))
    lm = lm_with(recorder)
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    assert len(recorder.requests) == 2 and lm.last_usage.repairs == 1
    repair = recorder.body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"answer": 42}'}
    assert "answer: 42 is not of type 'string'" in repair[-1]["content"]
    assert lm.last_usage.input_tokens == 24  # both calls are counted

    recorder = Recorder(chat_reply(content="not json"))
    with pytest.raises(StructuredOutputError, match="after 1 repair attempt") as info:
        await lm_with(recorder)(MESSAGES, schema=Answer.get_schema())
    assert info.value.raw_text == "not json" and len(recorder.requests) == 2


async def test_api_base_that_refuses_connections():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    lm = synaplex.LanguageModel(model="openai/x", api_base=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(ProviderConnectionError, match=f"cannot connect to http://127.0.0.1:{port}/v1.*running"):
        await lm(MESSAGES)


# --- bad input ---------------------------------------------------------------------------

def test_unknown_provider_and_missing_key(monkeypatch):
    with pytest.raises(UnknownProviderError, match="Unknown provider 'nope'.*openrouter.*api_base"):
        synaplex.LanguageModel(model="nope/model")
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="set the environment variable GROQ_API_KEY"):
        synaplex.LanguageModel(model="groq/llama-3.1-8b-instant")
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    assert synaplex.LanguageModel(model="groq/llama-3.1-8b-instant").provider == "groq"


async def test_invalid_schema_negative_max_tokens_empty_messages():
    lm = lm_with(Recorder(chat_reply()))
    with pytest.raises(InvalidInputError, match="not a valid JSON schema"):
        await lm(MESSAGES, schema={"type": "object", "properties": {"a": {"type": "strnig"}}})
    with pytest.raises(InvalidInputError, match="max_tokens must be a positive integer, got -5"):
        await lm(MESSAGES, max_tokens=-5)
    with pytest.raises(InvalidInputError, match="max_tokens must be a positive integer"):
        lm_with(Recorder(chat_reply()), max_tokens=0)
    with pytest.raises(InvalidInputError, match="messages is empty"):
        await lm([])


@pytest.mark.parametrize("name, provider", [
    ("claude-3-5-haiku-latest", "anthropic"), ("gemini-2.0-flash", "gemini"), ("command-r-plus", "cohere"),
    ("mistral-large-latest", "mistral"), ("deepseek-chat", "deepseek"), ("llama-3.1-8b-instant", "groq"),
    ("gpt-4o-mini", "openai"), ("o3-mini", "openai"), ("meta-llama/llama-3.1-8b-instruct", "openrouter"),
    ("grok-3", "xai"),
])
def test_provider_auto_detection(name, provider, monkeypatch):
    for variable in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "COHERE_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY",
                     "GROQ_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "XAI_API_KEY"):
        monkeypatch.setenv(variable, KEY)
    lm = synaplex.LanguageModel(model=name)
    assert lm.provider == provider and lm.model == f"{provider}/{name}"


# --- OpenRouter first-class ---------------------------------------------------------------

async def test_openrouter_routing_fallback_models_reasoning_cost_and_free_variant():
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.00042}
    recorder = Recorder(chat_reply(content='{"answer": "Paris"}', usage=usage))
    lm = lm_with(recorder, model="openrouter/meta-llama/llama-3.1-8b-instruct:free",
                 provider={"only": ["DeepInfra"], "allow_fallbacks": False, "sort": "price",
                           "max_price": {"prompt": 1}},
                 models=["mistralai/mistral-7b-instruct"], reasoning={"effort": "low"})
    assert await lm(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}
    body = recorder.body
    assert body["model"] == "meta-llama/llama-3.1-8b-instruct:free"
    assert body["provider"] == {"only": ["DeepInfra"], "allow_fallbacks": False, "sort": "price",
                                "max_price": {"prompt": 1}, "require_parameters": True}
    assert body["models"] == ["mistralai/mistral-7b-instruct"] and body["reasoning"] == {"effort": "low"}
    assert body["usage"] == {"include": True}
    assert lm.last_usage.cost == 0.00042  # read from the response
    await lm(MESSAGES)
    assert "require_parameters" not in recorder.body["provider"]  # only with a schema or tools


async def test_openrouter_configuration_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    monkeypatch.setenv("OPENROUTER_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("OPENROUTER_MAX_TOKENS", "256")
    monkeypatch.setenv("OPENROUTER_HTTP_REFERER", "https://example.org/app")
    monkeypatch.setenv("OPENROUTER_SITE_NAME", "My App")
    monkeypatch.setenv("OPENROUTER_BASE_URL", "https://gateway.example.org/api/v1")
    recorder = Recorder(chat_reply())
    lm = synaplex.LanguageModel(model="openrouter", transport=recorder.transport())
    assert lm.model == "openrouter/openai/gpt-4o-mini"
    await lm(MESSAGES)
    request = recorder.requests[0]
    assert str(request.url) == "https://gateway.example.org/api/v1/chat/completions"
    assert request.headers["HTTP-Referer"] == "https://example.org/app"
    assert request.headers["X-OpenRouter-Title"] == "My App"
    assert recorder.body["max_tokens"] == 256 and recorder.body["model"] == "openai/gpt-4o-mini"


async def test_openrouter_models_list_and_embeddings():
    models = {"data": [{"id": "openai/gpt-4o-mini", "context_length": 128000,
                        "pricing": {"prompt": "0.00000015", "completion": "0.0000006"},
                        "supported_parameters": ["tools", "response_format"]}]}
    recorder = Recorder(models)
    listed = await lm_with(recorder, model="openrouter/openai/gpt-4o-mini").list_models()
    assert listed[0]["id"] == "openai/gpt-4o-mini" and listed[0]["pricing"]["prompt"] == "0.00000015"
    assert str(recorder.requests[0].url) == "https://openrouter.ai/api/v1/models"

    embeddings = {"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]}
    recorder = Recorder(embeddings)
    em = synaplex.EmbeddingModel(model="openrouter/qwen/qwen3-embedding-8b", api_key=KEY,
                                 transport=recorder.transport(),
                                 provider={"only": ["nebius"], "allow_fallbacks": False})
    assert await em(["Hello", "World"]) == {"embeddings": [[1.0, 0.0], [0.0, 1.0]]}
    assert str(recorder.requests[0].url) == "https://openrouter.ai/api/v1/embeddings"
    assert recorder.body == {"model": "qwen/qwen3-embedding-8b", "input": ["Hello", "World"],
                             "encoding_format": "float", "provider": {"only": ["nebius"], "allow_fallbacks": False}}


# --- cache, fallback, accounting ---------------------------------------------------------

async def test_cache_hit_costs_nothing_and_is_marked(tmp_path):
    recorder = Recorder(chat_reply(content='{"answer": "Paris"}'))
    lm = lm_with(recorder, caching=str(tmp_path / "cache.sqlite"))
    first = await lm(MESSAGES, schema=Answer.get_schema())
    second = await lm(MESSAGES, schema=Answer.get_schema())
    assert first == second == {"answer": "Paris"}
    assert len(recorder.requests) == 1
    assert lm.last_usage.cache_hits == 1 and lm.last_usage.total_tokens == 0 and lm.last_usage.cost == 0.0
    await lm(MESSAGES, schema=Answer.get_schema(), temperature=0.9)  # another key
    assert len(recorder.requests) == 2
    again = lm_with(Recorder(httpx2.Response(500)), caching=str(tmp_path / "cache.sqlite"))
    assert await again(MESSAGES, schema=Answer.get_schema()) == {"answer": "Paris"}  # from disk


async def test_fallback_chain_and_usage():
    broken = Recorder(error(500, "down"))
    backup = Recorder(chat_reply(content="from backup"))
    lm = lm_with(broken, max_retries=0, fallback=[lm_with(Recorder(error(503, "also down")), max_retries=0),
                                                  lm_with(backup, model="openai/gpt-4o")])
    assert (await lm(MESSAGES))["content"] == "from backup"
    assert lm.last_usage.fallbacks == 2 and lm.usage.calls == 1
    invalid = lm_with(Recorder(error(400, "bad request")), max_retries=0, fallback=lm_with(backup))
    with pytest.raises(synaplex.errors.InvalidRequestError):
        await invalid(MESSAGES)  # an invalid request is not retried elsewhere


async def test_cost_from_catalogue_and_usage_tracking():
    recorder = Recorder(chat_reply(usage={"prompt_tokens": 1000, "completion_tokens": 1000}))
    lm = lm_with(recorder, model="openai/gpt-4o-mini")
    with synaplex.track_usage() as tracked:
        await lm(MESSAGES)
        await lm(MESSAGES)
    capabilities = lm.capabilities
    expected = 1000 * capabilities.input_price_per_token + 1000 * capabilities.output_price_per_token
    assert lm.last_usage.cost == pytest.approx(expected)
    assert tracked.total.calls == 2 and tracked.total.cost == pytest.approx(2 * expected)
    assert tracked.by_model["openai/gpt-4o-mini"].input_tokens == 2000
