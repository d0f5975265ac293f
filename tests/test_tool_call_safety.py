"""Tool calls whose arguments cannot be used never run a tool (issue 11, items 1 and 11).

A model's ``arguments`` may be cut off, garbage, not an object, or nested 10,000 deep. Every
adapter (OpenAI-compatible, Anthropic, Gemini; streamed and not) parses them the same way:
``arguments`` is ``{}`` and the call carries ``arguments_error`` and ``arguments_raw``. The
agent, ``Tool.run_call`` and ``Tool.run`` refuse such a call and send the error back to the
model, which goes on; the tool below records every run, so "it did not run" is checked.
"""

import json

import httpx2
import pytest

import synaplex
from synaplex.errors import ToolArgumentsError
from synaplex.lm.tools import (
    MAX_ARGUMENTS_DEPTH,
    assemble_tool_calls,
    parse_tool_arguments,
    quote_arguments,
    tool_call,
)
from tests.conftest import Query

RAN: list = []

CUT_OFF = '{"path": "build/scratch", "dry_run": fal'
DEEP = "[" * 10_000 + "]" * 10_000
DEEP_IN_OBJECT = '{"path": ' + "[" * 10_000 + "]" * 10_000 + "}"
# Replies nested deeper than the transport's cap (synaplex.lm.wire, 128) fail there with a typed LM
# error; 100 levels reach the adapters' tool-call parser, whose cap for arguments is 64.
WIRE_DEEP = "[" * 100 + "]" * 100


async def delete_files(path: str = "/", dry_run: bool = False) -> str:
    """Delete the files under a path.

    Args:
        path: the folder to empty.
        dry_run: only list what would be deleted.
    """
    RAN.append((path, dry_run))
    return f"deleted {path}"


class Done(synaplex.DataModel):
    note: str = synaplex.Field(default="", description="Anything to add")


@pytest.fixture(autouse=True)
def _clear_runs():
    RAN.clear()


def turn(*calls):
    return {"content": "", "tool_calls": list(calls)}


def final(call_id="f", **arguments):
    return {"id": call_id, "name": "final_answer", "arguments": arguments}


def tool_results(messages) -> dict:
    return {m["tool_call_id"]: json.loads(m["content"]) for m in messages if m["role"] == "tool"}


def scripted_agent(replies, **kwargs):
    lm = synaplex.LanguageModel(model="scripted", responses=list(replies))
    kwargs.setdefault("data_model", Done)
    return synaplex.FunctionCallingAgent(tools=[delete_files], language_model=lm, **kwargs), lm


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, problem", [
    (CUT_OFF, "the arguments are not valid JSON (Expecting value: line 1 column 38 (char 37)): " + repr(CUT_OFF)),
    ("delete everything", "the arguments are not valid JSON (Expecting value: line 1 column 1 (char 0)): "
                          "'delete everything'"),
    ("[1, 2]", "the arguments must be a JSON object, got an array: '[1, 2]'"),
    ('"build/scratch"', "the arguments must be a JSON object, got a string: '\"build/scratch\"'"),
    ("null", "the arguments must be a JSON object, got null: 'null'"),
    ("3", "the arguments must be a JSON object, got a number: '3'"),
    ([1, 2], "the arguments must be a JSON object, got an array: '[1, 2]'"),
    (True, "the arguments must be a JSON object, got a boolean: 'true'"),
])
def test_unusable_arguments_are_reported_with_the_raw_text(raw, problem):
    assert parse_tool_arguments(raw) == ({}, problem)
    call = tool_call("c1", "delete_files", raw)
    assert call == {"id": "c1", "name": "delete_files", "arguments": {}, "arguments_error": problem,
                    "arguments_raw": raw if isinstance(raw, str) else json.dumps(raw)}


def _at_stack_depth(depth, fn):
    return fn() if depth == 0 else _at_stack_depth(depth - 1, fn)


@pytest.mark.parametrize("levels", [65, 300, 900])
@pytest.mark.parametrize("opening,closing", [("[", "]"), ('{"a": ', "}")], ids=["array", "object"])
def test_the_problem_of_deep_arguments_does_not_depend_on_the_callers_stack(levels, opening, closing):
    """The JSON decoder's own limit depends on how deep the caller's stack is: near the top a
    900-level array decodes, deep in a stack it raises RecursionError. The problem reported must
    be the same either way (a hypothesis run found the streamed path and the parser disagreeing)."""
    raw = opening * levels + "1" + closing * levels
    shallow = parse_tool_arguments(raw)
    deep = _at_stack_depth(800, lambda: parse_tool_arguments(raw))
    assert shallow == deep == ({}, f"the arguments are nested more than {MAX_ARGUMENTS_DEPTH} levels deep: "
                                   f"{quote_arguments(raw)}")


@pytest.mark.parametrize("raw", [DEEP, DEEP_IN_OBJECT], ids=["array", "in-object"])
def test_arguments_nested_10000_deep_are_a_problem_not_a_recursion_error(raw):
    arguments, problem = parse_tool_arguments(raw)
    assert arguments == {}
    assert problem == (f"the arguments are nested more than {MAX_ARGUMENTS_DEPTH} levels deep: "
                       f"{raw[:200]!r}… ({len(raw)} characters in all)")


def test_decoded_arguments_deeper_than_the_limit_are_a_problem():
    nested: dict = {}
    value = {"path": nested}
    for _ in range(MAX_ARGUMENTS_DEPTH):
        nested["x"] = {}
        nested = nested["x"]
    arguments, problem = parse_tool_arguments(value)
    assert arguments == {} and problem.startswith(f"the arguments are nested more than {MAX_ARGUMENTS_DEPTH} "
                                                  "levels deep: '{\"path\": {\"x\": {\"x\":")
    shallow = {"path": {"x": {"y": [1, [2, [3]]]}}}
    assert parse_tool_arguments(shallow) == (shallow, None)


def test_the_raw_text_in_a_problem_is_cut_to_200_characters():
    raw = "x" * 5000
    _, problem = parse_tool_arguments(raw)
    assert problem == f"the arguments are not valid JSON (Expecting value: line 1 column 1 (char 0)): " \
                      f"{'x' * 200!r}… (5000 characters in all)"


@pytest.mark.parametrize("raw", [None, "", "  ", "{}", {}])
def test_no_arguments_are_an_empty_object(raw):
    assert parse_tool_arguments(raw) == ({}, None)
    assert tool_call("c", "t", raw) == {"id": "c", "name": "t", "arguments": {}}


# --- Tool ---------------------------------------------------------------------------------------


async def test_tool_run_refuses_text_it_cannot_read_and_never_runs():
    tool = synaplex.Tool(delete_files)
    assert await tool.run(CUT_OFF) == {"error": (
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments are not valid JSON (Expecting value: "
        f"line 1 column 38 (char 37)): {CUT_OFF!r}. Send the arguments as one JSON object that follows the "
        "tool's schema.")}
    outcome = await tool.run(DEEP)
    assert outcome["error"].startswith(
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments are nested more than 64 levels deep")
    assert await tool.run('{"path": "build/scratch", "dry_run": true}') == {"result": "deleted build/scratch"}
    assert RAN == [("build/scratch", True)]


async def test_tool_validate_raises_a_typed_error_for_unreadable_or_deep_arguments():
    tool = synaplex.Tool(delete_files)
    with pytest.raises(ToolArgumentsError, match=r"Tool 'delete_files' was not run: the arguments are not valid "
                                                 r"JSON \(Expecting value: line 1 column 38"):
        tool.validate(CUT_OFF)
    with pytest.raises(ToolArgumentsError, match="the arguments must be a JSON object, got an array"):
        tool.validate([1])
    deep: list = []
    for _ in range(900):
        deep = [deep]
    with pytest.raises(ToolArgumentsError, match="the arguments are nested more than 64 levels deep"):
        await tool(path=deep)
    assert RAN == []


async def test_tool_run_call_refuses_a_call_with_an_arguments_error():
    tool = synaplex.Tool(delete_files)
    call = tool_call("c1", "delete_files", CUT_OFF)
    outcome = await tool.run_call(call)
    assert outcome == {"error": f"ToolArgumentsError: Tool 'delete_files' was not run: {call['arguments_error']}. "
                                "Send the arguments as one JSON object that follows the tool's schema."}
    # even a hand-made call whose arguments look usable is refused when it carries an error
    outcome = await tool.run_call({"id": "c2", "name": "delete_files", "arguments": {"path": "/"},
                                   "arguments_error": "the reply hit its token limit"})
    assert outcome["error"].startswith("ToolArgumentsError: Tool 'delete_files' was not run: the reply hit")
    assert await tool.run_call({"id": "c3", "name": "delete_files", "arguments": {"dry_run": True}}) == {
        "result": "deleted /"}
    assert RAN == [("/", True)]
    # a call without arguments has none, as on the wire; the tool's own schema decides
    assert await tool.run_call({"id": "c4", "name": "delete_files"}) == {"result": "deleted /"}
    assert await tool.run_call({"id": "c5", "name": "delete_files", "arguments": "[]"}) == {"error": (
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments must be a JSON object, got an array: "
        "'[]'. Send the arguments as one JSON object that follows the tool's schema.")}


async def test_a_missing_required_argument_is_never_filled_with_a_default():
    async def remove(path: str, dry_run: bool = True) -> str:
        """Remove a path."""
        RAN.append((path, dry_run))
        return "removed"

    tool = synaplex.Tool(remove)
    outcome = await tool.run({"dry_run": False})
    assert outcome == {"error": "ToolArgumentsError: Invalid arguments for tool 'remove': (root): 'path' is a "
                                "required property."}
    with pytest.raises(ToolArgumentsError, match="'path' is a required property"):
        await tool(dry_run=False)
    # an explicit schema that requires an argument the function has a default for: still required
    strict = synaplex.Tool(delete_files, parameters={"type": "object", "properties": {
        "path": {"type": "string"}, "dry_run": {"type": "boolean"}}, "required": ["path", "dry_run"]})
    outcome = await strict.run({"path": "build/scratch"})
    assert outcome == {"error": "ToolArgumentsError: Invalid arguments for tool 'delete_files': (root): 'dry_run' "
                                "is a required property."}
    assert RAN == []


# --- the agent, with the scripted LM ---------------------------------------------------------


@pytest.mark.parametrize("raw, problem", [
    (CUT_OFF, "the arguments are not valid JSON (Expecting value: line 1 column 38 (char 37))"),
    ("rm -rf /", "the arguments are not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ("[]", "the arguments must be a JSON object, got an array"),
    ("", None),  # no arguments: a valid call with the defaults (a model that means it says so)
    (DEEP, "the arguments are nested more than 64 levels deep"),
    (DEEP_IN_OBJECT, "the arguments are nested more than 64 levels deep"),
], ids=["cut-off", "garbage", "array", "empty", "deep", "deep-in-object"])
async def test_agent_never_runs_a_tool_on_unusable_arguments_and_tells_the_model(raw, problem):
    agent, lm = scripted_agent([turn({"id": "c1", "name": "delete_files", "arguments": raw}),
                                turn(final(note="stopped"))])
    result = await agent(Query(query="Clean build/scratch"))
    assert result.get("note") == "stopped"
    results = tool_results(lm.requests[1]["messages"])
    if problem is None:
        assert RAN == [("/", False)] and results["c1"] == {"result": "deleted /"}
        return
    assert RAN == []
    error = results["c1"]["error"]
    assert error.startswith(f"ToolArgumentsError: Tool 'delete_files' was not run: {problem}")
    assert repr(raw[:200]) in error
    assert error.endswith("Send the arguments as one JSON object that follows the tool's schema.")
    assert len(error) < 600


async def test_agent_refuses_a_parsed_call_that_carries_an_arguments_error():
    """What the adapters hand over: ``{}`` plus the error; the old agent ran it with the defaults."""
    bad = tool_call("c1", "delete_files", CUT_OFF)
    agent, lm = scripted_agent([turn(bad, {"id": "c2", "name": "delete_files", "arguments": {"path": "tmp",
                                                                                         "dry_run": True}}),
                                turn(final())])
    result = await agent(Query(query="Clean build/scratch"))
    assert RAN == [("tmp", True)]
    results = tool_results(lm.requests[1]["messages"])
    assert results["c1"] == {"error": f"ToolArgumentsError: Tool 'delete_files' was not run: "
                                      f"{bad['arguments_error']}. Send the arguments as one JSON object that "
                                      "follows the tool's schema."}
    assert results["c2"] == {"result": "deleted tmp"}
    sent_call = lm.requests[1]["messages"][2]["tool_calls"][0]
    assert sent_call["arguments"] == {} and sent_call["arguments_raw"] == CUT_OFF
    assert [m["role"] for m in result.get("messages")] == ["user", "assistant", "tool", "tool", "assistant"]


async def test_an_unreadable_final_answer_is_not_accepted():
    # {} would be a valid Done: the cut-off answer must not become it
    agent, lm = scripted_agent([turn({"id": "f1", "name": "final_answer", "arguments": '{"note": "half'}),
                                turn(final("f2", note="whole"))])
    result = await agent(Query(query="?"))
    assert result.get("note") == "whole"
    error = tool_results(lm.requests[1]["messages"])["f1"]["error"]
    assert error == ("Invalid final answer: the arguments are not valid JSON (Unterminated string starting at: "
                     "line 1 column 10 (char 9)): '{\"note\": \"half'. Call final_answer again with arguments "
                     "that follow its schema.")


async def test_a_non_autonomous_agent_answers_unusable_calls_at_once_and_never_leaves_them_pending():
    lm = synaplex.LanguageModel(model="scripted", responses=[
        turn({"id": "bad", "name": "delete_files", "arguments": CUT_OFF},
             {"id": "ok", "name": "delete_files", "arguments": {"path": "tmp", "dry_run": True}}),
        turn(final(note="done"))])
    agent = synaplex.FunctionCallingAgent(data_model=Done, tools=[delete_files], language_model=lm, autonomous=False)
    step = await agent(synaplex.ChatMessages(messages=[{"role": "user", "content": "Clean up"}]))
    assert [c["id"] for c in agent.pending_tool_calls(step)] == ["ok"]
    assert tool_results(step.get("messages"))["bad"]["error"].startswith(
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments are not valid JSON")
    step = await agent(synaplex.ChatMessages(messages=step.get("messages")))
    assert RAN == [("tmp", True)]
    assert agent.final_answer(step).get_json() == {"note": "done"}


# --- on the wire ------------------------------------------------------------------------------


def _agent_on(lm):
    return synaplex.FunctionCallingAgent(data_model=Done, tools=[delete_files], language_model=lm)


def _assert_refused_then_finished(result, next_request_messages, tool_message, problem):
    assert RAN == []
    assert result.get("note") == "finished"
    assert problem in tool_message
    assert "was not run" in tool_message
    assert any(problem in json.dumps(m) for m in next_request_messages)


async def test_openai_wire_cut_off_arguments_never_run():
    from tests.test_provider_openai_compatible import Recorder, chat_reply, lm_with

    def wire_call(id_, name, arguments):
        return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}

    recorder = Recorder(chat_reply(content=None, tool_calls=[wire_call("call_1", "delete_files", CUT_OFF)],
                                   finish="tool_calls"),
                        chat_reply(content=None, tool_calls=[wire_call("call_2", "final_answer",
                                                                       '{"note": "finished"}')],
                                   finish="tool_calls"))
    result = await _agent_on(lm_with(recorder))(Query(query="Clean build/scratch"))
    sent = json.loads(recorder.requests[1].content)["messages"]
    tool_message = json.loads(sent[-1]["content"])["error"]
    _assert_refused_then_finished(result, sent, tool_message, "the arguments are not valid JSON")
    assert sent[-1]["tool_call_id"] == "call_1" and repr(CUT_OFF) in tool_message


async def test_openai_wire_streamed_and_not_give_the_same_refused_call():
    from tests.test_provider_openai_compatible import Recorder, chat_reply, lm_with, sse, stream_response

    pieces = ['{"path": "build/', 'scratch", "dry_run": fal']
    events = [json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1",
              "type": "function", "function": {"name": "delete_files", "arguments": pieces[0]}}]}}]}),
              json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
                  "arguments": pieces[1]}}]}, "finish_reason": "tool_calls"}]}),
              "[DONE]"]
    raw = sse(*events)
    recorder = Recorder(stream_response(raw, [len(raw) // 2]),
                        chat_reply(content=None, tool_calls=[{"id": "call_1", "type": "function", "function": {
                            "name": "delete_files", "arguments": CUT_OFF}}], finish="tool_calls"))
    lm = lm_with(recorder)
    chunks = [chunk async for chunk in await lm([{"role": "user", "content": "x"}], streaming=True,
                                                tools=[delete_files])]
    streamed = assemble_tool_calls(chunks)
    plain = (await lm([{"role": "user", "content": "x"}], tools=[delete_files]))["tool_calls"]
    assert streamed == plain == [tool_call("call_1", "delete_files", CUT_OFF)]
    assert streamed[0]["arguments_raw"] == CUT_OFF
    assert (await synaplex.Tool(delete_files).run_call(streamed[0]))["error"].startswith(
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments are not valid JSON")
    agent, scripted_lm = scripted_agent([turn(*streamed), turn(final(note="finished"))])
    assert (await agent(Query(query="x"))).get("note") == "finished" and RAN == []


async def test_openai_streamed_call_cut_at_the_token_limit_is_refused_even_when_it_parses():
    from tests.test_provider_openai_compatible import Recorder, lm_with, sse, stream_response

    events = [json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1",
              "type": "function", "function": {"name": "delete_files", "arguments": "{}"}}]},
              "finish_reason": "length"}]}), "[DONE]"]
    raw = sse(*events)
    lm = lm_with(Recorder(stream_response(raw, [])))
    chunks = [chunk async for chunk in await lm([{"role": "user", "content": "x"}], streaming=True,
                                                tools=[delete_files])]
    [call] = assemble_tool_calls(chunks)
    assert call["arguments"] == {} and call["arguments_raw"] == "{}"
    assert call["arguments_error"] == ("the reply hit its token limit while this call was written, so its "
                                       "arguments may be incomplete: '{}'")
    assert (await synaplex.Tool(delete_files).run_call(call))["error"].startswith(
        "ToolArgumentsError: Tool 'delete_files' was not run: the reply hit its token limit") and RAN == []


@pytest.mark.parametrize("bad_input, problem", [
    ("path=build/scratch", "the arguments are not valid JSON"),
    (["build/scratch"], "the arguments must be a JSON object, got an array"),
    (json.loads(WIRE_DEEP), "the arguments are nested more than 64 levels deep"),  # depth before type
    ({"path": json.loads(WIRE_DEEP)}, "the arguments are nested more than 64 levels deep"),
], ids=["text", "array", "deep-array", "deep-object"])
async def test_anthropic_wire_unusable_input_never_runs(bad_input, problem):
    from tests.test_provider_anthropic import Server, make_lm, message

    server = Server(message([{"type": "tool_use", "id": "toolu_1", "name": "delete_files", "input": bad_input}],
                            stop_reason="tool_use"),
                    message([{"type": "tool_use", "id": "toolu_2", "name": "final_answer",
                              "input": {"note": "finished"}}], stop_reason="tool_use"))
    result = await _agent_on(make_lm(server))(Query(query="Clean build/scratch"))
    sent = server.body(1)["messages"]
    block = sent[-1]["content"][0]
    assert block["type"] == "tool_result" and block["tool_use_id"] == "toolu_1"
    _assert_refused_then_finished(result, sent, json.loads(block["content"])["error"], problem)


async def test_anthropic_tool_use_cut_at_max_tokens_is_refused():
    """Anthropic returns the incomplete tool_use of a reply cut at max_tokens with what it could parse."""
    from tests.test_provider_anthropic import Server, make_lm, message

    server = Server(message([{"type": "tool_use", "id": "toolu_1", "name": "delete_files",
                              "input": {"path": "build/scratch"}}], stop_reason="max_tokens"),
                    message([{"type": "tool_use", "id": "toolu_2", "name": "final_answer",
                              "input": {"note": "finished"}}], stop_reason="tool_use"))
    result = await _agent_on(make_lm(server))(Query(query="Clean build/scratch"))
    sent = server.body(1)["messages"]
    error = json.loads(sent[-1]["content"][0]["content"])["error"]
    _assert_refused_then_finished(result, sent, error, "the reply hit its token limit while this call was written")
    assert "'{\"path\": \"build/scratch\"}'" in error


async def test_anthropic_wire_streamed_cut_off_input_gives_the_same_refused_call():
    from tests.test_provider_anthropic import Server, event_stream, make_lm, sse

    events = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "delete_files", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": CUT_OFF[:20]}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": CUT_OFF[20:]}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
                           "usage": {"output_tokens": 30}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    server = Server(lambda request: event_stream(sse(*events)))
    lm = make_lm(server)
    chunks = [chunk async for chunk in await lm([{"role": "user", "content": "x"}], streaming=True,
                                                tools=[delete_files])]
    [call] = assemble_tool_calls(chunks)
    assert call == tool_call("toolu_1", "delete_files", CUT_OFF)
    assert (await synaplex.Tool(delete_files).run_call(call))["error"].startswith(
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments are not valid JSON") and RAN == []


@pytest.mark.parametrize("bad_args, problem", [
    ([], "the arguments must be a JSON object, got an array"),
    ("path=build/scratch", "the arguments are not valid JSON"),
    ({"path": json.loads(WIRE_DEEP)}, "the arguments are nested more than 64 levels deep"),
], ids=["array", "text", "deep-object"])
async def test_gemini_wire_unusable_args_never_run(bad_args, problem):
    from tests.test_provider_gemini import gemini, reply

    lm, server = gemini(reply([{"functionCall": {"name": "delete_files", "args": bad_args}}]),
                        reply([{"functionCall": {"name": "final_answer", "args": {"note": "finished"}}}]))
    result = await _agent_on(lm)(Query(query="Clean build/scratch"))
    sent = server.body(1)["contents"]
    response = sent[-1]["parts"][0]["functionResponse"]
    assert response["name"] == "delete_files"
    _assert_refused_then_finished(result, sent, response["response"]["content"]["error"], problem)


async def test_gemini_wire_streamed_and_not_give_the_same_refused_call():
    from tests.test_provider_gemini import gemini, reply

    payload = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "delete_files", "args": ["build/scratch", False]}}]}, "finishReason": "STOP"}]}
    body = f"data: {json.dumps(payload)}\n\n".encode()
    lm, _ = gemini(httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body),
                   reply([{"functionCall": {"name": "delete_files", "args": ["build/scratch", False]}}]))
    chunks = [chunk async for chunk in await lm([{"role": "user", "content": "x"}], streaming=True,
                                                tools=[delete_files])]
    streamed = assemble_tool_calls(chunks)
    plain = (await lm([{"role": "user", "content": "x"}], tools=[delete_files]))["tool_calls"]
    assert streamed == plain == [tool_call("call_0", "delete_files", ["build/scratch", False])]
    assert streamed[0]["arguments_error"] == ("the arguments must be a JSON object, got an array: "
                                              "'[\"build/scratch\", false]'")
    assert (await synaplex.Tool(delete_files).run_call(streamed[0]))["error"].startswith(
        "ToolArgumentsError: Tool 'delete_files' was not run: the arguments must be a JSON object") and RAN == []


# --- Action ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, problem", [
    (CUT_OFF, "not valid JSON (Expecting value: line 1 column 38 (char 37))"),
    ("[1, 2]", "(root): [1, 2] is not of type 'object'"),
    ("[" * 10000 + "]" * 10000, "not valid JSON (it is nested deeper than 128 levels)"),
])
async def test_action_with_unusable_arguments_reports_the_error_and_never_runs(reply, problem):
    lm = synaplex.LanguageModel(model="scripted", responses=[reply])
    action = synaplex.Action(tool=synaplex.Tool(delete_files), language_model=lm)
    result = (await action(Query(query="Clean build/scratch"))).get_json()["action"]
    assert RAN == []
    assert result["inputs"] == {} and list(result["outputs"]) == ["error"]
    error = result["outputs"]["error"]
    assert error.startswith("ToolArgumentsError: Tool 'delete_files' was not run: the language "
                            "model's arguments are not valid")
    assert problem in error and repr(reply[:200]) in error


# --- fuzzing the tool-argument path ---------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from synaplex.lm.validation import validation_errors  # noqa: E402

FUZZ = settings(max_examples=800, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
argument_dicts = st.fixed_dictionaries({}, optional={
    "path": st.text(max_size=20) | json_values, "dry_run": st.booleans() | json_values,
    "extra": json_values})
deep_texts = st.integers(min_value=60, max_value=12_000).flatmap(lambda depth: st.sampled_from([
    "[" * depth + "]" * depth, '{"path": ' + "[" * depth + "]" * depth + "}", '{"a":' * depth]))


@st.composite
def argument_texts(draw):
    """What a model may send as ``arguments``: JSON of a dict or anything, cut or edited, or garbage."""
    text = draw(argument_dicts.map(json.dumps) | json_values.map(json.dumps) | st.text(max_size=30) | deep_texts)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = draw(st.sampled_from([text[:at], text[:at] + draw(st.text('{}[]",:\\ tfn0', min_size=1, max_size=3))
                                     + text[at:], text[:at] + text[at + 3:]]))
    return text


payloads = argument_texts() | argument_dicts | json_values | st.lists(json_values, max_size=3)


def expected_arguments(tool, payload, wire=False):
    """The arguments the tool may run with, or None when it must not run. On the ``wire``,
    missing arguments (``None``) mean none; handed to ``Tool.validate`` they are refused."""
    if payload is None and not wire:
        return None
    arguments, problem = parse_tool_arguments(payload)
    if problem or set(arguments) - {"path", "dry_run"} or validation_errors(arguments, tool.parameters):
        return None
    return arguments


@FUZZ
@given(payload=payloads)
async def test_tool_runs_only_on_arguments_that_parse_and_validate(payload):
    RAN.clear()
    tool = synaplex.Tool(delete_files)
    expected = expected_arguments(tool, payload)
    try:
        validated = tool.validate(payload)
    except ToolArgumentsError as error:
        assert expected is None
        assert str(error).startswith(("Tool 'delete_files' was not run: ", "Invalid arguments for tool 'delete_files': "))
        assert len(str(error)) < 2000
    else:
        assert validated == expected
    outcome = await tool.run(payload)
    assert set(outcome) in ({"result"}, {"error"})
    if expected is None:
        assert RAN == [] and outcome["error"].startswith("ToolArgumentsError: ")
    else:
        assert RAN == [(expected.get("path", "/"), expected.get("dry_run", False))]
    RAN.clear()
    call = tool_call("c", "delete_files", payload)
    assert set(call) <= {"id", "name", "arguments", "arguments_error", "arguments_raw"}
    assert isinstance(call["arguments"], dict)
    outcome = await tool.run_call(call)
    expected = expected_arguments(tool, payload, wire=True)
    assert ("arguments_error" in call) == (parse_tool_arguments(payload)[1] is not None)
    assert (RAN != []) == (expected is not None) == ("result" in outcome)


@settings(FUZZ, max_examples=300)
@given(text=argument_texts())
async def test_agent_runs_a_tool_only_on_usable_arguments_and_always_goes_on(text):
    RAN.clear()
    agent, lm = scripted_agent([turn({"id": "c1", "name": "delete_files", "arguments": text}),
                                turn(final(note="end"))])
    expected = expected_arguments(agent.tools[0], text)
    result = await agent(Query(query="Clean up"))
    assert result.get("note") == "end"
    outcome = tool_results(lm.requests[1]["messages"])["c1"]
    if expected is None:
        assert RAN == [] and outcome["error"].startswith("ToolArgumentsError: ")
        assert len(outcome["error"]) < 1000
    else:
        assert RAN == [(expected.get("path", "/"), expected.get("dry_run", False))]
        assert outcome == {"result": f"deleted {expected.get('path', '/')}"}


@settings(FUZZ, max_examples=300)
@given(pieces=st.lists(argument_texts(), min_size=1, max_size=3),
       finish=st.sampled_from(["tool_calls", "stop", "length"]))
def test_assembled_stream_calls_match_the_parser(pieces, finish):
    from synaplex.lm.base import StreamChunk

    chunks = [StreamChunk(tool_call_deltas=[{"index": i, "id": f"c{i}", "name": "delete_files",
                                             "arguments_delta": piece[:len(piece) // 2]}]) for i, piece in
              enumerate(pieces)]
    chunks += [StreamChunk(tool_call_deltas=[{"index": i, "arguments_delta": piece[len(piece) // 2:]}])
               for i, piece in enumerate(pieces)]
    chunks.append(StreamChunk(finish_reason=finish))
    calls = assemble_tool_calls(chunks)
    assert [c["id"] for c in calls] == [f"c{i}" for i in range(len(pieces))]
    for index, (call, piece) in enumerate(zip(calls, pieces)):
        if finish == "length" and index == len(pieces) - 1:
            assert call["arguments"] == {} and call["arguments_error"]
        else:
            assert call == tool_call(f"c{index}", "delete_files", piece)
