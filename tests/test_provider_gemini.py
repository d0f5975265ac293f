"""The Gemini adapter, through the public facade, against golden requests and replies.

Every test talks to ``httpx2.MockTransport``: the exact request (URL with the model path,
the ``x-goog-api-key`` header, the JSON body) is checked, and the typed result.
"""

import enum
import json

import httpx2
import pytest

import synaplex
from synaplex.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidInputError,
    ModelNotFoundError,
    ProviderConnectionError,
    ProviderInternalError,
    RateLimitError,
    StructuredOutputError,
)
from synaplex.lm.gemini import to_gemini_schema

KEY = "AIza-test-key-0123456789abcdef"
BASE = "https://generativelanguage.googleapis.com/v1beta"
GENERATE = f"{BASE}/models/gemini-2.0-flash:generateContent"
STREAM = f"{BASE}/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
USER = [{"role": "user", "content": "Capital of France?"}]


class Server:
    """A mock Gemini: answers with the given responses in order and records the requests."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.responses.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)

    def check(self, index: int, url: str, method: str = "POST") -> None:
        request = self.requests[index]
        assert request.method == method
        assert str(request.url) == url
        assert request.headers["x-goog-api-key"] == KEY
        assert "authorization" not in request.headers
        if method == "POST":
            assert request.headers["content-type"] == "application/json"


def gemini(*responses, **kwargs):
    server = Server(*responses)
    lm = synaplex.LanguageModel(model="gemini/gemini-2.0-flash", api_key=KEY,
                                transport=httpx2.MockTransport(server), **kwargs)
    return lm, server


def reply(parts, finish="STOP", usage=None, **extra):
    data = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
            "usageMetadata": usage or {"promptTokenCount": 10, "candidatesTokenCount": 3, "totalTokenCount": 13},
            "modelVersion": "gemini-2.0-flash"}
    data.update(extra)
    return httpx2.Response(200, json=data)


def error(status, message, code_status, headers=None):
    return httpx2.Response(status, headers=headers,
                           json={"error": {"code": status, "message": message, "status": code_status}})


# --- chat -----------------------------------------------------------------------------------


async def test_chat_sends_the_exact_request_and_returns_the_assistant_message():
    lm, server = gemini(reply([{"text": "Paris"}, {"text": " is the capital."}], usage={
        "promptTokenCount": 21, "candidatesTokenCount": 6, "cachedContentTokenCount": 4,
        "thoughtsTokenCount": 5, "totalTokenCount": 32}), temperature=0.2)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "system", "content": "Answer in English."},
                {"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "Say it again."}]
    result = await lm(messages, max_tokens=64, top_p=0.9, stop="END", seed=7,
                      thinking_config={"thinkingBudget": 0}, candidateCount=1,
                      safety_settings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                      cachedContent="cachedContents/abc", labels={"team": "x"})
    assert result == {"role": "assistant", "content": "Paris is the capital.", "tool_calls": []}
    server.check(0, GENERATE)
    assert server.body() == {
        "contents": [
            {"role": "user", "parts": [{"text": "Capital of France?"}]},
            {"role": "model", "parts": [{"text": "Paris."}]},
            {"role": "user", "parts": [{"text": "Say it again."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief.\n\nAnswer in English."}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64, "topP": 0.9, "stopSequences": ["END"],
                             "seed": 7, "thinkingConfig": {"thinkingBudget": 0}, "candidateCount": 1},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
        "labels": {"team": "x"},
    }
    usage = lm.last_usage
    assert (usage.calls, usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.reasoning_tokens) \
        == (1, 21, 11, 4, 5)
    assert usage.cost is not None and usage.cost > 0   # the adapter leaves the price to the facade


async def test_plain_user_message_has_no_system_instruction_nor_generation_config():
    lm, server = gemini(reply([{"text": "Hi"}]))
    await lm("Hello")
    assert server.body() == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


async def test_thought_summaries_are_not_part_of_the_text():
    lm, _ = gemini(reply([{"text": "Let me think...", "thought": True}, {"text": "42"}]),
                   reply([{"text": "Hmm.", "thought": True}, {"text": "43"}]))
    assert (await lm(USER))["content"] == "42"
    completion = await lm._adapter.complete(synaplex.lm.base.CompletionRequest(messages=USER))
    assert (completion.text, completion.reasoning) == ("43", "Hmm.")


async def test_finish_reasons():
    lm, _ = gemini(reply([{"text": "cut"}], finish="MAX_TOKENS"), reply([{"text": "x"}], finish="OTHER"))
    adapter = lm._adapter
    request = synaplex.lm.base.CompletionRequest(messages=USER)
    assert (await adapter.complete(request)).finish_reason == "length"
    assert (await adapter.complete(request)).finish_reason == "other"


async def test_tuned_and_prefixed_model_names_keep_their_path():
    server = Server(reply([{"text": "a"}]), reply([{"text": "b"}]))
    for model in ("gemini/models/gemini-2.0-flash", "gemini/tunedModels/my-model-42"):
        lm = synaplex.LanguageModel(model=model, api_key=KEY, transport=httpx2.MockTransport(server))
        await lm(USER)
    assert [str(r.url) for r in server.requests] == [GENERATE, f"{BASE}/tunedModels/my-model-42:generateContent"]


async def test_api_base_overrides_the_endpoint():
    lm, server = gemini(reply([{"text": "ok"}]), api_base="https://proxy.example/v1beta/")
    await lm(USER)
    assert str(server.requests[0].url) == "https://proxy.example/v1beta/models/gemini-2.0-flash:generateContent"


def test_config_never_holds_the_key():
    lm, _ = gemini(timeout=30.0, temperature=0.1)
    config = lm.get_config()
    assert KEY not in json.dumps(config, default=str)
    assert config["timeout"] == 30.0 and config["temperature"] == 0.1
    assert config["model"] == "gemini/gemini-2.0-flash"
    assert lm._adapter.repair_attempts == 1
    assert "transport" not in config


# --- structured output ------------------------------------------------------------------------


class Mood(str, enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Address(synaplex.DataModel):
    city: str = synaplex.Field(description="The city")
    zip_code: str | None = None


class Person(synaplex.DataModel):
    name: str = synaplex.Field(description="Full name")
    age: int = synaplex.Field(ge=0, le=150)
    address: Address
    mood: Mood = Mood.HAPPY
    nickname: str | None = synaplex.Field(default=None, description="If any")
    previous: Address | None = None
    tags: list[str] = synaplex.Field(default=[], max_length=3)


ADDRESS_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city"},
                   "zip_code": {"type": "string", "nullable": True}},
    "propertyOrdering": ["city", "zip_code"],
    "required": ["city"],
}
PERSON_RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Full name"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "address": ADDRESS_SCHEMA,
        "mood": {"type": "string", "enum": ["happy", "sad"]},
        "nickname": {"type": "string", "description": "If any", "nullable": True},
        "previous": {**ADDRESS_SCHEMA, "nullable": True},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "propertyOrdering": ["name", "age", "address", "mood", "nickname", "previous", "tags"],
    "required": ["name", "age", "address"],
}
PERSON = {"name": "Ada Lovelace", "age": 36, "address": {"city": "London", "zip_code": None}, "mood": "happy",
          "nickname": None, "previous": None, "tags": ["math"]}


async def test_structured_output_sends_the_gemini_response_schema():
    lm, server = gemini(reply([{"text": json.dumps(PERSON)}]))
    value = await lm(USER, schema=Person.get_schema(), temperature=0)
    assert value == PERSON
    server.check(0, GENERATE)
    assert server.body() == {
        "contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}],
        "generationConfig": {"temperature": 0, "responseMimeType": "application/json",
                             "responseSchema": PERSON_RESPONSE_SCHEMA},
    }
    text = json.dumps(server.body())
    for word in ("$ref", "$defs", "title", "default", "additionalProperties", "anyOf"):
        assert word not in text


async def test_a_reply_that_violates_the_schema_is_repaired_once_then_raises():
    bad = json.dumps({**PERSON, "age": "old"})
    lm, server = gemini(reply([{"text": bad}]), reply([{"text": "{not json"}]), max_retries=0)
    with pytest.raises(StructuredOutputError, match="after 1 repair attempt") as info:
        await lm(USER, schema=Person.get_schema())
    assert info.value.raw_text == "{not json"
    assert len(server.requests) == 2
    first, repair = server.body(0), server.body(1)
    assert first["contents"] == [{"role": "user", "parts": [{"text": "Capital of France?"}]}]
    # The repair request: the same request plus the bad reply and what was wrong with it.
    assert repair["generationConfig"] == first["generationConfig"]
    assert repair["contents"][:2] == [{"role": "user", "parts": [{"text": "Capital of France?"}]},
                                      {"role": "model", "parts": [{"text": bad}]}]
    assert repair["contents"][2]["role"] == "user"
    assert repair["contents"][2]["parts"][0]["text"].startswith("Your previous reply is not valid JSON")
    assert "age: 'old' is not of type 'integer'" in repair["contents"][2]["parts"][0]["text"]
    assert len(repair["contents"]) == 3


async def test_a_repaired_reply_is_returned():
    lm, server = gemini(reply([{"text": json.dumps({**PERSON, "mood": "angry"})}]),
                        reply([{"text": json.dumps(PERSON)}]), max_retries=0)
    assert await lm(USER, schema=Person.get_schema()) == PERSON
    assert len(server.requests) == 2
    assert lm.last_usage.repairs == 1 and lm.last_usage.calls == 2


async def test_a_recursive_schema_raises_invalid_input_before_any_request():
    class Node(synaplex.DataModel):
        value: int
        children: list["Node"] = synaplex.Field(default_factory=list)

    lm, server = gemini()
    with pytest.raises(InvalidInputError, match="'Node' is recursive"):
        await lm(USER, schema=Node.get_schema())
    assert server.requests == []


def test_mutual_recursion_names_the_definition():
    schema = {"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                        "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}},
              "$ref": "#/$defs/A"}
    with pytest.raises(InvalidInputError, match="'A' is recursive"):
        to_gemini_schema(schema)


def test_schema_keywords_gemini_rejects_are_dropped_or_translated():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "T", "type": "object", "additionalProperties": False,
        "properties": {
            "kind": {"const": "point", "title": "Kind", "examples": ["point"]},
            "when": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email", "minLength": 3},
            "maybe": {"type": ["integer", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "ratio": {"type": "number", "exclusiveMinimum": 0.5},
            "level": {"enum": [1, 2, 3], "description": "Level"},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            "wrapped": {"allOf": [{"$ref": "#/$defs/Inner"}], "description": "Outer words"},
            "pair": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}],
                     "minItems": 2, "maxItems": 2},
            "free": {"type": "object", "additionalProperties": True},
        },
        "$defs": {"Inner": {"title": "Inner", "type": "object", "description": "Inner words",
                            "properties": {"x": {"type": "number", "default": 0}}}},
    }
    assert to_gemini_schema(schema) == {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["point"]},
            "when": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "minLength": 3},
            "maybe": {"type": "integer", "minimum": 1, "maximum": 9, "nullable": True},
            "ratio": {"type": "number", "minimum": 0.5},
            "level": {"type": "integer", "description": "Level (one of: 1, 2, 3)"},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
            "wrapped": {"type": "object", "description": "Outer words", "properties": {"x": {"type": "number"}},
                        "propertyOrdering": ["x"]},
            "pair": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            "free": {"type": "object"},
        },
        "propertyOrdering": ["kind", "when", "email", "maybe", "ratio", "level", "either", "wrapped", "pair",
                             "free"],
    }


def test_an_unresolvable_ref_is_invalid_input():
    with pytest.raises(InvalidInputError, match="#/\\$defs/Missing"):
        to_gemini_schema({"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}})


# --- tools ------------------------------------------------------------------------------------

WEATHER = {"name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "title": "Args", "additionalProperties": False,
                          "properties": {"city": {"type": "string", "title": "City"},
                                         "unit": {"anyOf": [{"enum": ["C", "F"], "type": "string"},
                                                            {"type": "null"}], "default": None}},
                          "required": ["city"]}}
CLOCK = {"name": "now", "description": "The time", "parameters": {"type": "object", "properties": {}}}
DECLARATIONS = [{"functionDeclarations": [
    {"name": "get_weather", "description": "Weather of a city",
     "parameters": {"type": "object",
                    "properties": {"city": {"type": "string"},
                                   "unit": {"type": "string", "enum": ["C", "F"], "nullable": True}},
                    "propertyOrdering": ["city", "unit"], "required": ["city"]}},
    {"name": "now", "description": "The time"},
]}]


async def test_tool_calling_round_trip():
    lm, server = gemini(
        reply([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
               {"functionCall": {"id": "fc-7", "name": "now", "args": {}}}],
              usage={"promptTokenCount": 40, "candidatesTokenCount": 12, "totalTokenCount": 52}),
        reply([{"text": "Sunny in Paris at noon."}]))
    first = await lm(USER, tools=[WEATHER, CLOCK], tool_choice="auto")
    assert first == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "fc-7", "name": "now", "arguments": {}}]}
    server.check(0, GENERATE)
    assert server.body(0) == {
        "contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}],
        "tools": DECLARATIONS,
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    }
    messages = USER + [first,
                       {"role": "tool", "tool_call_id": "call_0", "content": '{"temp": 21, "sky": "sunny"}'},
                       {"role": "tool", "tool_call_id": "fc-7", "content": "12:00"}]
    second = await lm(messages, tools=[WEATHER, CLOCK])
    assert second["content"] == "Sunny in Paris at noon."
    assert server.body(1) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Capital of France?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                                        {"functionCall": {"name": "now", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"content": {"temp": 21, "sky": "sunny"}}}},
                {"functionResponse": {"name": "now", "response": {"content": {"result": "12:00"}}}},
            ]},
        ],
        "tools": DECLARATIONS,
    }


async def test_finish_reason_of_a_tool_call_is_tool_calls():
    lm, _ = gemini(reply([{"text": "Let me check."},
                          {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]))
    completion = await lm._adapter.complete(synaplex.lm.base.CompletionRequest(messages=USER, tools=[WEATHER]))
    assert completion.finish_reason == "tool_calls"
    assert completion.text == "Let me check."
    assert completion.tool_calls == [{"id": "call_0", "name": "get_weather", "arguments": {"city": "Oslo"}}]


@pytest.mark.parametrize("choice, config", [
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"name": "get_weather"}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
async def test_tool_choice(choice, config):
    lm, server = gemini(reply([{"text": "ok"}]))
    await lm(USER, tools=[WEATHER], tool_choice=choice)
    assert server.body()["toolConfig"] == {"functionCallingConfig": config}


async def test_a_tool_result_without_its_call_is_invalid_input():
    lm, server = gemini()
    with pytest.raises(InvalidInputError, match="'call_9'"):
        await lm(USER + [{"role": "tool", "tool_call_id": "call_9", "content": "1"}])
    assert server.requests == []


async def test_thought_signatures_of_function_calls_are_sent_back():
    lm, server = gemini(
        reply([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="}]),
        reply([{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": "c2lnLTI="}]),
        reply([{"text": "Both sunny."}]))
    first = await lm(USER, tools=[WEATHER])
    history = USER + [first, {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}]
    second = await lm(history, tools=[WEATHER])
    assert second["tool_calls"] == [{"id": "call_0", "name": "get_weather", "arguments": {"city": "Rome"}}]
    # A caller that keeps arguments as a JSON string is understood too.
    second["tool_calls"][0]["arguments"] = '{"city": "Rome"}'
    await lm(history + [second, {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}], tools=[WEATHER])
    contents = server.body(2)["contents"]
    # The generated ids repeat (call_0 twice): each call gets its own signature back, and
    # each result the name of the call just before it.
    assert contents[1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                     "thoughtSignature": "c2lnLTE="}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                         "response": {"content": {"result": "sunny"}}}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
                                     "thoughtSignature": "c2lnLTI="}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                         "response": {"content": {"result": "sunny"}}}}]},
    ]


# --- streaming --------------------------------------------------------------------------------


def sse(*payloads, split_at=None):
    """An event stream of ``payloads``, cut into byte pieces that split multi-byte characters."""
    raw = b"".join(b"data: " + json.dumps(p, ensure_ascii=False).encode() + b"\r\n\r\n" for p in payloads)
    cuts = sorted(split_at or [])

    async def pieces():
        start = 0
        for cut in cuts + [len(raw)]:
            yield raw[start:cut]
            start = cut

    return raw, pieces


async def test_streaming_text_tool_calls_and_final_usage():
    payloads = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Voilà, "}]}}],
         "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "ça marche 🎉"}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Zürich"}}}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 14, "thoughtsTokenCount": 2,
                           "totalTokenCount": 25}},
    ]
    raw, _ = sse(*payloads)
    # Cut inside "à" (2 bytes), "ç" (2 bytes), "🎉" (4 bytes) and "ü".
    cuts = [raw.index("à".encode()) + 1, raw.index("ç".encode()) + 1, raw.index("🎉".encode()) + 2,
            raw.index("ü".encode()) + 1]
    _, pieces = sse(*payloads, split_at=cuts)
    lm, server = gemini(httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces()))
    chunks = [chunk async for chunk in await lm(USER, streaming=True, tools=[WEATHER], temperature=0.5)]
    server.check(0, STREAM)
    assert server.requests[0].headers["accept"] == "text/event-stream"
    assert server.body() == {"contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}],
                             "generationConfig": {"temperature": 0.5}, "tools": [{"functionDeclarations": [
                                 DECLARATIONS[0]["functionDeclarations"][0]]}]}
    assert [c.text for c in chunks] == ["Voilà, ", "ça marche 🎉", "", ""]
    assert chunks[2].tool_call_deltas == [{"index": 0, "id": "call_0", "name": "get_weather",
                                           "arguments_delta": json.dumps({"city": "Zürich"})}]
    last = chunks[-1]
    assert last.finish_reason == "tool_calls"
    assert (last.usage.calls, last.usage.input_tokens, last.usage.output_tokens, last.usage.reasoning_tokens) \
        == (1, 9, 16, 2)
    assert lm.usage.input_tokens == 9


async def test_streaming_plain_text_ends_with_stop():
    _, pieces = sse({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],
                     "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1}})
    lm, _ = gemini(httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces()),
                   max_retries=0)
    chunks = [chunk async for chunk in lm.stream(USER)]
    assert [(c.text, c.finish_reason) for c in chunks] == [("Hi", None), ("", "stop")]
    assert chunks[-1].usage.output_tokens == 1


async def test_streaming_safety_stop_raises_content_filter_error():
    _, pieces = sse({"candidates": [{"content": {"parts": [{"text": "Here is"}]}}]},
                    {"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]})
    lm, _ = gemini(httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces()),
                   max_retries=0)
    seen = []
    with pytest.raises(ContentFilterError, match="SAFETY"):
        async for chunk in lm.stream(USER):
            seen.append(chunk.text)
    assert seen == ["Here is"]


async def test_streaming_error_status_is_typed():
    lm, _ = gemini(error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED",
                         headers={"Retry-After": "3"}), max_retries=0)
    with pytest.raises(RateLimitError) as info:
        async for _ in lm.stream(USER):
            pass
    assert info.value.retry_after == 3.0


async def test_streaming_event_that_is_not_json_is_a_provider_error():
    async def pieces():
        yield b"data: {oops\n\n"

    lm, _ = gemini(httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces()),
                   max_retries=0)
    with pytest.raises(ProviderInternalError, match="not JSON"):
        async for _ in lm.stream(USER):
            pass


# --- errors -----------------------------------------------------------------------------------


async def test_safety_finish_raises_content_filter_error():
    lm, _ = gemini(reply([], finish="SAFETY"), max_retries=0)
    with pytest.raises(ContentFilterError, match="SAFETY"):
        await lm(USER)


async def test_blocked_prompt_raises_content_filter_error():
    lm, _ = gemini(httpx2.Response(200, json={"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                                              "usageMetadata": {"promptTokenCount": 5}}), max_retries=0)
    with pytest.raises(ContentFilterError, match="PROHIBITED_CONTENT"):
        await lm(USER)


async def test_context_window_exceeded():
    lm, _ = gemini(error(400, "The input token count (1200000) exceeds the maximum number of tokens allowed "
                              "(1048576).", "INVALID_ARGUMENT"), max_retries=0)
    with pytest.raises(ContextWindowExceededError, match="exceeds the maximum number of tokens") as info:
        await lm(USER)
    assert info.value.status_code == 400


@pytest.mark.parametrize("status, message, code", [
    (401, f"Request had invalid authentication credentials: {KEY}", "UNAUTHENTICATED"),
    (403, "Method doesn't allow unregistered callers. Please use API Key.", "PERMISSION_DENIED"),
    (400, f"API key not valid. Please pass a valid API key. key={KEY}", "INVALID_ARGUMENT"),
])
async def test_authentication_errors_never_show_the_key(status, message, code):
    lm, _ = gemini(error(status, message, code), max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        await lm(USER)
    assert KEY not in str(info.value)
    assert "AIza" not in str(info.value)
    assert info.value.status_code == status
    assert (info.value.provider, info.value.model) == ("gemini", "gemini-2.0-flash")


async def test_rate_limit_with_retry_after():
    lm, _ = gemini(error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED",
                         headers={"Retry-After": "17"}), max_retries=0)
    with pytest.raises(RateLimitError) as info:
        await lm(USER)
    assert info.value.retry_after == 17.0
    assert info.value.is_retryable


@pytest.mark.parametrize("status, code", [(500, "INTERNAL"), (503, "UNAVAILABLE")])
async def test_server_errors(status, code):
    lm, _ = gemini(error(status, "The model is overloaded. Please try again later.", code), max_retries=0)
    with pytest.raises(ProviderInternalError) as info:
        await lm(USER)
    assert info.value.status_code == status
    assert info.value.is_retryable


async def test_unknown_model_is_model_not_found():
    lm, _ = gemini(error(404, "models/gemini-9 is not found for API version v1beta, or is not supported for "
                              "generateContent.", "NOT_FOUND"), max_retries=0)
    with pytest.raises(ModelNotFoundError):
        await lm(USER)


@pytest.mark.parametrize("response", [
    httpx2.Response(200, content=b"<html>gateway</html>"),
    httpx2.Response(200, json={"candidates": []}),
    httpx2.Response(200, json={"candidates": "nope"}),
    httpx2.Response(200, json=[1, 2]),
])
async def test_malformed_replies_are_provider_internal_errors(response):
    lm, _ = gemini(response, max_retries=0)
    with pytest.raises(ProviderInternalError):
        await lm(USER)


async def test_connection_failure_is_provider_connection_error():
    lm, _ = gemini(httpx2.ConnectError("connection refused"), max_retries=0)
    with pytest.raises(ProviderConnectionError, match="cannot connect"):
        await lm(USER)


# --- models and embeddings ----------------------------------------------------------------------


async def test_list_models_follows_pages():
    lm, server = gemini(
        httpx2.Response(200, json={"models": [
            {"name": "models/gemini-2.0-flash", "displayName": "Gemini 2.0 Flash", "inputTokenLimit": 1048576,
             "outputTokenLimit": 8192, "supportedGenerationMethods": ["generateContent"]}],
            "nextPageToken": "page-2"}),
        httpx2.Response(200, json={"models": [
            {"name": "models/text-embedding-004", "displayName": "Text Embedding 004",
             "inputTokenLimit": 2048, "outputTokenLimit": 1}]}))
    models = await lm.list_models()
    assert models == [
        {"id": "gemini-2.0-flash", "display_name": "Gemini 2.0 Flash", "input_token_limit": 1048576,
         "output_token_limit": 8192, "provider": "gemini"},
        {"id": "text-embedding-004", "display_name": "Text Embedding 004", "input_token_limit": 2048,
         "output_token_limit": 1, "provider": "gemini"},
    ]
    server.check(0, f"{BASE}/models?pageSize=1000", method="GET")
    server.check(1, f"{BASE}/models?pageSize=1000&pageToken=page-2", method="GET")


def embedder(*responses, **kwargs):
    server = Server(*responses)
    em = synaplex.EmbeddingModel(model="gemini/text-embedding-004", api_key=KEY,
                                 transport=httpx2.MockTransport(server), **kwargs)
    return em, server


async def test_embeddings():
    em, server = embedder(httpx2.Response(200, json={"embeddings": [{"values": [0.1, 0.2]},
                                                                    {"values": [0.3, 0.4]}]}))
    assert await em(["hello", "wörld"]) == {"embeddings": [[0.1, 0.2], [0.3, 0.4]]}
    server.check(0, f"{BASE}/models/text-embedding-004:batchEmbedContents")
    assert server.body() == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "wörld"}]}},
    ]}
    assert KEY not in json.dumps(em.get_config(), default=str)


async def test_embeddings_in_batches_of_100_with_task_type():
    def vectors(n, offset):
        return httpx2.Response(200, json={"embeddings": [{"values": [float(offset + i)]} for i in range(n)]})

    em, server = embedder(vectors(100, 0), vectors(30, 100), task_type="RETRIEVAL_DOCUMENT",
                          output_dimensionality=256)
    result = await em([f"text {i}" for i in range(130)])
    assert result["embeddings"] == [[float(i)] for i in range(130)]
    assert [len(server.body(i)["requests"]) for i in range(2)] == [100, 30]
    assert server.body(1)["requests"][0] == {"model": "models/text-embedding-004",
                                             "content": {"parts": [{"text": "text 100"}]},
                                             "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 256}
    assert em.get_config()["task_type"] == "RETRIEVAL_DOCUMENT"


async def test_embedding_errors_are_typed():
    em, _ = embedder(httpx2.Response(200, json={"embeddings": [{"values": [1.0]}]}),
                     error(400, f"API key not valid. Please pass a valid API key. {KEY}", "INVALID_ARGUMENT"),
                     max_retries=0)
    with pytest.raises(ProviderInternalError, match="expected 2 embeddings"):
        await em(["a", "b"])
    with pytest.raises(AuthenticationError) as info:
        await em(["a"])
    assert KEY not in str(info.value)
