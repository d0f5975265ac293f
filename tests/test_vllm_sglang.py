"""vLLM and SGLang servers as providers: golden replies from their documentation
(tests/golden_vllm_sglang/) through httpx2.MockTransport, and the wire they share with the
llama.cpp server checked against the real one on loopback."""

import json
import pathlib

import httpx2
import pytest

import synaplex
from synaplex.errors import ContextWindowExceededError, InvalidRequestError, ModelNotFoundError
from synaplex.lm.errors import UnknownOptionError
from tests.conftest import Answer

GOLDEN = pathlib.Path(__file__).parent / "golden_vllm_sglang"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
SERVERS = [("vllm/Qwen/Qwen2.5-1.5B-Instruct", "http://localhost:8000/v1", "vllm"),
           ("sglang/meta-llama/Llama-3.1-8B-Instruct", "http://localhost:30000/v1", "sglang")]


def golden(name):
    return json.loads((GOLDEN / f"{name}.json").read_text())


class Recorder:
    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        status, body = self.responses.pop(0)
        return httpx2.Response(status, json=body)

    @property
    def body(self):
        return json.loads(self.requests[-1].content)


def lm_for(model, recorder, **kwargs):
    return synaplex.LanguageModel(model=model, transport=httpx2.MockTransport(recorder), max_retries=0, **kwargs)


@pytest.mark.parametrize("model, base, server", SERVERS)
async def test_structured_output_goes_through_response_format(model, base, server):
    recorder = Recorder((200, golden(f"{server}_chat")))
    lm = lm_for(model, recorder)
    assert await lm(MESSAGES, schema=Answer.get_schema(), temperature=0) == {"answer": "Paris"}
    request = recorder.requests[0]
    assert str(request.url) == f"{base}/chat/completions"
    assert "authorization" not in request.headers  # a local server: no key needed, none sent
    body = recorder.body
    assert body["model"] == model.split("/", 1)[1] and body["messages"] == MESSAGES
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Answer", "schema": Answer.get_schema(), "strict": False}}
    assert not any(key.startswith("guided_") for key in body)  # vLLM removed them in v0.12
    usage = lm.last_usage
    reply = golden(f"{server}_chat")["usage"]
    assert (usage.input_tokens, usage.output_tokens) == (reply["prompt_tokens"], reply["completion_tokens"])
    assert usage.cost == 0.0  # a self-hosted server costs nothing


async def test_vllm_structured_outputs_field_is_sent_and_guided_fields_are_refused():
    recorder = Recorder((200, golden("vllm_chat")))
    lm = lm_for("vllm/Qwen/Qwen2.5-1.5B-Instruct", recorder,
                structured_outputs={"choice": ["positive", "negative"]}, min_tokens=1)
    await lm(MESSAGES)
    assert recorder.body["structured_outputs"] == {"choice": ["positive", "negative"]}
    assert recorder.body["min_tokens"] == 1
    with pytest.raises(UnknownOptionError, match="guided_json"):
        synaplex.LanguageModel(model="vllm/Qwen/Qwen2.5-1.5B-Instruct", guided_json=Answer.get_schema())


async def test_sglang_regex_and_ebnf_fields_are_sent():
    recorder = Recorder((200, golden("sglang_chat")), (200, golden("sglang_chat")))
    await lm_for("sglang/m", recorder, regex=r"\{.*\}")(MESSAGES)
    assert recorder.body["regex"] == r"\{.*\}"
    await lm_for("sglang/m", recorder, ebnf='root ::= "yes" | "no"')(MESSAGES)
    assert recorder.body["ebnf"] == 'root ::= "yes" | "no"'
    with pytest.raises(UnknownOptionError, match="structured_outputs"):
        synaplex.LanguageModel(model="sglang/m", structured_outputs={"json": {}})


def get_weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.mark.parametrize("model, base, server", SERVERS)
async def test_tool_calls(model, base, server):
    recorder = Recorder((200, golden(f"{server}_tool_call")))
    reply = await lm_for(model, recorder)(MESSAGES, tools=[get_weather])
    assert reply["tool_calls"] == [{"id": golden(f"{server}_tool_call")["choices"][0]["message"]["tool_calls"][0]["id"],
                                    "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    tool = recorder.body["tools"][0]
    assert tool["type"] == "function" and tool["function"]["name"] == "get_weather"
    assert tool["function"]["parameters"]["required"] == ["city"]


@pytest.mark.parametrize("model, base, server", SERVERS)
async def test_model_list(model, base, server):
    recorder = Recorder((200, golden(f"{server}_models")))
    models = await lm_for(model, recorder).list_models()
    assert str(recorder.requests[0].url) == f"{base}/models"
    assert [(m["id"], m["provider"], m["owned_by"]) for m in models] == [(model.split("/", 1)[1], server, server)]
    assert models[0]["max_model_len"] in (32768, 131072)


@pytest.mark.parametrize("model, fixture, status, error", [
    ("vllm/Qwen/Qwen2.5-1.5B-Instruct", "vllm_error_context", 400, ContextWindowExceededError),
    ("vllm/Qwen/Qwen2.5-1.5B-Instruct", "vllm_error_model", 404, ModelNotFoundError),
    ("sglang/meta-llama/Llama-3.1-8B-Instruct", "sglang_error", 400, ContextWindowExceededError),
])
async def test_error_shapes(model, fixture, status, error):
    """vLLM nests its error ({"error": {...}}); SGLang puts it at the top level ({"object": "error"})."""
    recorder = Recorder((status, golden(fixture)))
    with pytest.raises(error) as caught:
        await lm_for(model, recorder)(MESSAGES)
    body = golden(fixture)
    message = body["error"]["message"] if "error" in body else body["message"]
    assert message[:60] in str(caught.value)
    assert caught.value.status_code == status and not caught.value.is_retryable


async def test_sglang_bad_request_is_an_invalid_request():
    recorder = Recorder((400, {"object": "error", "message": "Only one constraint (json_schema, regex, ebnf) may be set.",
                               "type": "BadRequestError", "param": None, "code": 400}))
    with pytest.raises(InvalidRequestError, match="Only one constraint"):
        await lm_for("sglang/m", recorder, regex="a")(MESSAGES)


# --- the same wire, on a real server ------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize("provider", ["vllm", "sglang"])
async def test_profiles_against_the_llama_cpp_server(llama_server, provider):
    """Chat, token usage and /v1/models are the same wire on llama.cpp's server; its structured
    output is not (it takes json_object + schema: the llamacpp profile), so that stays golden."""
    lm = synaplex.LanguageModel(model=f"{provider}/{llama_server.alias}", api_base=llama_server.base_url,
                                max_retries=0, max_tokens=8, temperature=0)
    reply = await lm([{"role": "user", "content": "Say hello."}])
    assert isinstance(reply["content"], str) and reply["content"]
    assert lm.last_usage.input_tokens > 0 and lm.last_usage.output_tokens > 0
    models = await lm.list_models()
    assert llama_server.alias in [m["id"] for m in models] and models[0]["provider"] == provider
