"""lm.to_langchain(): a LangChain chat model backed by synaplex, driven through LangChain's own API
(invoke, ainvoke, stream, astream, batch, bind_tools, with_structured_output)."""

import json
import subprocess
import sys
from typing import Literal

import httpx2
import pydantic
import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool

import synaplex
from synaplex.errors import InvalidInputError, MissingDependencyError, StructuredOutputError
from tests.test_provider_openai_compatible import KEY, Recorder, chat_reply, sse


class City(pydantic.BaseModel):
    name: str
    country: str


CITY_SCHEMA = {"type": "object", "title": "City", "properties": {"name": {"type": "string"},
               "country": {"type": "string"}}, "required": ["name", "country"]}


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


def scripted(*responses):
    lm = synaplex.LanguageModel(model="scripted", responses=list(responses))
    return lm, lm.to_langchain()


def openai_lm(recorder):
    return synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, max_retries=0,
                                  transport=httpx2.MockTransport(recorder))


# --- scripted: the exact mapping ---------------------------------------------------------------------

def test_invoke_maps_messages_in_and_the_reply_out():
    lm, chat = scripted({"content": "Paris."})
    reply = chat.invoke([SystemMessage("Be brief."), HumanMessage("Capital of France?")])
    assert isinstance(reply, AIMessage) and reply.content == "Paris."
    assert lm._adapter.requests[-1]["messages"] == [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Capital of France?"}]
    # the scripted LM counts a token per 4 characters: 9 + 18 characters in, 6 out
    assert reply.usage_metadata == {"input_tokens": 3 + 5, "output_tokens": 2, "total_tokens": 10}
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.response_metadata["model_name"] == "scripted"
    assert reply.tool_calls == [] and lm.usage.calls == 1


def test_a_string_prompt_and_a_chat_message_with_a_role():
    lm, chat = scripted("one", "two")
    assert chat.invoke("hello").content == "one"
    assert lm._adapter.requests[-1]["messages"] == [{"role": "user", "content": "hello"}]
    chat.invoke([ChatMessage(role="system", content="rules"), ChatMessage(role="user", content="hi")])
    assert [m["role"] for m in lm._adapter.requests[-1]["messages"]] == ["system", "user"]


def test_tool_calls_round_trip_with_a_tool_message():
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    lm, chat = scripted({"content": "", "tool_calls": [call]}, {"content": "It is sunny in Paris."})
    with_tools = chat.bind_tools([get_weather], tool_choice="get_weather")
    question = HumanMessage("Weather in Paris?")
    first = with_tools.invoke([question])
    assert first.tool_calls == [{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1",
                                 "type": "tool_call"}]
    sent = lm._adapter.requests[-1]
    assert [t["name"] for t in sent["tools"]] == ["get_weather"]
    assert sent["tools"][0]["parameters"]["properties"]["city"]["type"] == "string"
    assert sent["params"]["tool_choice"] == {"name": "get_weather"}
    result = ToolMessage(content=get_weather.invoke(first.tool_calls[0]["args"]), tool_call_id="call_1")
    second = with_tools.invoke([question, first, result])
    assert second.content == "It is sunny in Paris."
    assert lm._adapter.requests[-1]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "sunny in Paris", "tool_call_id": "call_1"}]


def test_a_tool_call_with_broken_arguments_is_an_invalid_tool_call():
    broken = {"id": "c", "name": "get_weather", "arguments": {}, "arguments_error": "not JSON",
              "arguments_raw": "{city: Paris"}
    _, chat = scripted({"content": "", "tool_calls": [broken]})
    reply = chat.bind_tools([get_weather]).invoke("Weather?")
    assert reply.tool_calls == []
    assert reply.invalid_tool_calls == [{"type": "invalid_tool_call", "id": "c", "name": "get_weather",
                                         "args": "{city: Paris", "error": "not JSON"}]


def test_bind_tools_takes_pydantic_models_and_dicts_and_checks_tool_choice():
    lm, chat = scripted("ok")
    spec = {"name": "lookup", "description": "Look up.", "parameters": {"type": "object", "properties": {}}}
    chat.bind_tools([City, spec], tool_choice="any").invoke("x")
    sent = lm._adapter.requests[-1]
    assert [t["name"] for t in sent["tools"]] == ["City", "lookup"]
    assert sent["params"]["tool_choice"] == "required"
    with pytest.raises(InvalidInputError, match="tool_choice must be .* 'nope'"):
        chat.bind_tools([City], tool_choice="nope")
    with pytest.raises(InvalidInputError, match="not a tool LangChain can describe"):
        chat.bind_tools([42])


async def test_ainvoke_and_astream_with_usage_on_the_last_chunk():
    lm, chat = scripted("Hello there world", "one two")
    reply = await chat.ainvoke([HumanMessage("hi")])
    assert reply.content == "Hello there world" and reply.usage_metadata["output_tokens"] == 5
    chunks = [chunk async for chunk in chat.astream("hi")]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks] == ["one ", "two", ""]
    assert [c.usage_metadata for c in chunks[:-1]] == [None, None]
    assert chunks[-1].usage_metadata == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    assert chunks[-1].response_metadata["finish_reason"] == "stop"
    assert lm.usage.calls == 2


def test_sync_stream_assembles_text_and_tool_calls():
    call = {"id": "c9", "name": "get_weather", "arguments": {"city": "Oslo"}}
    _, chat = scripted({"content": "Checking.", "tool_calls": [call]})
    chunks = list(chat.bind_tools([get_weather]).stream("Weather in Oslo?"))
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.content == "Checking."
    assert full.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c9", "type": "tool_call"}]
    assert full.usage_metadata["total_tokens"] == full.usage_metadata["input_tokens"] + 3


def test_batch_answers_each_input():
    lm = synaplex.LanguageModel(model="scripted", responses=lambda messages, schema: messages[-1]["content"].upper())
    chat = lm.to_langchain()
    assert [m.content for m in chat.batch(["a", "b", "c"])] == ["A", "B", "C"]


def test_with_structured_output_uses_the_native_schema_path():
    lm, chat = scripted({"name": "Paris", "country": "France"}, {"name": "Oslo", "country": "Norway"})
    city = chat.with_structured_output(City).invoke("A capital?")
    assert city == City(name="Paris", country="France")
    request = lm._adapter.requests[-1]
    assert request["schema"]["properties"].keys() == {"name", "country"} and request["tools"] is None
    assert chat.with_structured_output(CITY_SCHEMA).invoke("Another?") == {"name": "Oslo", "country": "Norway"}
    assert lm._adapter.requests[-1]["schema"] == CITY_SCHEMA


async def test_a_structured_output_streams_as_one_parsed_value():
    _, chat = scripted({"name": "Paris", "country": "France"}, {"name": "Oslo", "country": "Norway"})
    assert list(chat.with_structured_output(City).stream("A capital?")) == [City(name="Paris", country="France")]
    parsed = [value async for value in chat.with_structured_output(CITY_SCHEMA).astream("Another?")]
    assert parsed == [{"name": "Oslo", "country": "Norway"}]


def test_with_structured_output_include_raw():
    _, chat = scripted({"name": "Paris", "country": "France"}, {"name": "Paris"})
    out = chat.with_structured_output(City, include_raw=True).invoke("A capital?")
    assert out["parsed"] == City(name="Paris", country="France") and out["parsing_error"] is None
    assert isinstance(out["raw"], AIMessage) and json.loads(out["raw"].content) == {"name": "Paris",
                                                                                      "country": "France"}
    assert out["raw"].usage_metadata["total_tokens"] > 0
    bad = chat.with_structured_output(City, include_raw=True).invoke("A capital?")  # no country
    assert bad["parsed"] is None and isinstance(bad["parsing_error"], StructuredOutputError)
    assert "country" in str(bad["parsing_error"]) and json.loads(bad["raw"].content) == {"name": "Paris"}


def test_include_raw_of_a_failed_reply_names_that_replys_finish_reason_and_id():
    good = chat_reply(json.dumps({"name": "Paris", "country": "France"}))
    good["id"] = "chatcmpl-good"
    cut = chat_reply('{"name": "Par', finish="length")  # cut at max_tokens: not JSON
    cut["id"] = "chatcmpl-cut"
    chat = openai_lm(Recorder(good, cut)).to_langchain()
    structured = chat.with_structured_output(City, include_raw=True)
    assert structured.invoke("A capital?")["raw"].response_metadata["finish_reason"] == "stop"
    bad = structured.invoke("Another?")  # every repair gets the same cut reply
    assert bad["parsed"] is None and "cut at max_tokens" in str(bad["parsing_error"])
    assert bad["raw"].response_metadata["finish_reason"] == "length"  # not the previous call's "stop"
    assert bad["raw"].response_metadata["request_id"] == "chatcmpl-cut"
    assert bad["parsing_error"].finish_reason == "length" and bad["parsing_error"].request_id == "chatcmpl-cut"


def test_a_reply_that_misses_the_schema_raises_without_include_raw():
    _, chat = scripted({"name": "Paris"})
    with pytest.raises(StructuredOutputError, match="country"):
        chat.with_structured_output(City).invoke("A capital?")


def test_bad_inputs_are_typed_errors():
    _, chat = scripted("x")
    with pytest.raises(InvalidInputError, match="got a FunctionMessage"):
        chat.invoke([FunctionMessage(name="f", content="1")])
    with pytest.raises(InvalidInputError, match="with role 'narrator'"):
        chat.invoke([ChatMessage(role="narrator", content="Once")])
    with pytest.raises(InvalidInputError, match="pydantic model class or a JSON schema"):
        chat.with_structured_output(42)
    with pytest.raises(InvalidInputError, match="not a valid JSON schema"):
        chat.with_structured_output({"type": "object", "properties": {"a": {"type": "strin"}}})
    with pytest.raises(InvalidInputError, match="object schema with properties"):
        chat.with_structured_output({"type": "string"})
    with pytest.raises(InvalidInputError, match="method='function_calling' is not offered"):
        chat.with_structured_output(City, method="function_calling")
    with pytest.raises(synaplex.errors.UnknownOptionError, match="temprature"):
        chat.invoke("x", temprature=0.2)


def test_a_missing_extra_names_the_install_command():
    code = ("import sys; sys.modules['langchain_core'] = None\n"
            "import synaplex\n"
            "lm = synaplex.LanguageModel(model='scripted', responses=['x'])\n"
            "try:\n    lm.to_langchain()\nexcept synaplex.errors.MissingDependencyError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ERR") and 'pip install "synaplex[langchain]"' in out.stdout
    assert issubclass(MissingDependencyError, ImportError)


# --- an OpenAI-compatible model: the request that goes out -------------------------------------------

def test_the_openai_request_carries_messages_tools_and_parameters():
    tool_call = {"id": "call_7", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": '{"city": "Rome"}'}}
    recorder = Recorder(chat_reply(content=None, tool_calls=[tool_call], finish="tool_calls"),
                        chat_reply(content="Sunny.", usage={"prompt_tokens": 40, "completion_tokens": 2,
                                                            "total_tokens": 42}))
    chat = openai_lm(recorder).to_langchain()
    bound = chat.bind_tools([get_weather], tool_choice="auto", temperature=0.1)
    first = bound.invoke([SystemMessage("Be brief."), HumanMessage("Weather in Rome?")], stop=["\n\n"])
    body = json.loads(recorder.requests[-1].content)
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Weather in Rome?"}]
    assert body["tools"][0]["function"]["name"] == "get_weather" and body["tool_choice"] == "auto"
    assert body["temperature"] == 0.1 and body["stop"] == ["\n\n"] and body["model"] == "gpt-4o-mini"
    assert first.tool_calls[0]["args"] == {"city": "Rome"}
    assert first.response_metadata["finish_reason"] == "tool_calls"
    assert first.response_metadata["request_id"] == "cmpl-1"
    assert first.usage_metadata == {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
    second = bound.invoke([HumanMessage("Weather in Rome?"), first,
                           ToolMessage(content="sunny", tool_call_id="call_7")])
    body = json.loads(recorder.requests[-1].content)
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]}
    assert body["messages"][2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_7"}
    assert second.content == "Sunny." and second.usage_metadata["total_tokens"] == 42


def test_the_openai_structured_request_is_a_json_schema_not_a_tool():
    recorder = Recorder(chat_reply(content='{"name": "Rome", "country": "Italy"}'))
    chat = openai_lm(recorder).to_langchain()
    assert chat.with_structured_output(City).invoke("A capital?") == City(name="Rome", country="Italy")
    body = json.loads(recorder.requests[-1].content)
    assert "tools" not in body and body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["name", "country"]


async def test_the_openai_stream_gives_text_deltas_and_usage_last():
    events = [json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}) for piece in ("Ro", "me")]
    events.append(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    events.append(json.dumps({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2,
                                                        "total_tokens": 11}}))
    events.append("[DONE]")
    recorder = Recorder(httpx2.Response(200, content=sse(*events), headers={"content-type": "text/event-stream"}))
    chat = openai_lm(recorder).to_langchain()
    chunks = [chunk async for chunk in chat.astream("Capital of Italy?")]
    assert "".join(c.content for c in chunks) == "Rome"
    assert json.loads(recorder.requests[-1].content)["stream"] is True
    assert chunks[-1].usage_metadata == {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}
    assert chunks[-1].response_metadata["finish_reason"] == "stop"


def test_the_key_is_in_no_repr_or_parameter():
    chat = openai_lm(Recorder(chat_reply())).to_langchain()
    shown = " ".join([repr(chat), str(chat), json.dumps(chat._identifying_params), chat._llm_type,
                      json.dumps(chat.asdict() if hasattr(chat, "asdict") else chat.dict(), default=str), json.dumps(chat._get_ls_params(), default=str)])
    assert KEY not in shown and "gpt-4o-mini" in shown
    assert chat._identifying_params == {"model_name": "openai/gpt-4o-mini", "provider": "openai"}


# --- the embedded model -------------------------------------------------------------------------------

class Color(pydantic.BaseModel):
    color: Literal["red", "green", "blue"]


@pytest.mark.integration
def test_with_structured_output_on_the_embedded_model_gives_a_valid_instance():
    chat = synaplex.LanguageModel(model="local", max_tokens=24, seed=0).to_langchain()
    color = chat.with_structured_output(Color).invoke("Name a color. Reply in JSON.")
    assert isinstance(color, Color) and color.color in ("red", "green", "blue")  # the enum held by decoding
