"""FunctionCallingAgent with the scripted LM: the loop, parallel calls, errors, approval mode."""

import asyncio
import json
import logging

import pytest

import synaplex
from synaplex.errors import DataModelTypeError, InvalidInputError
from synaplex.modules.agent import AgentMaxIterationsError
from tests.conftest import Query


class FinalAnswer(synaplex.DataModel):
    answer: float = synaplex.Field(description="The numerical answer")


CALLS: list = []


async def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    CALLS.append(("add", a, b))
    return a + b


async def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    CALLS.append(("multiply", a, b))
    return a * b


def broken(x: int) -> int:
    """A tool that always fails."""
    raise RuntimeError("the database is down")


def call(name, id_="c1", **arguments):
    return {"id": id_, "name": name, "arguments": arguments}


def turn(*calls):
    return {"content": "", "tool_calls": list(calls)}


def agent_with(replies, **kwargs):
    lm = synaplex.LanguageModel(model="scripted", responses=list(replies))
    kwargs.setdefault("data_model", FinalAnswer)
    kwargs.setdefault("tools", [synaplex.Tool(add), synaplex.Tool(multiply)])
    return synaplex.FunctionCallingAgent(language_model=lm, **kwargs), lm


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


async def test_autonomous_loop_runs_tools_then_answers_with_the_trajectory():
    agent, lm = agent_with([turn(call("add", a=2, b=3)), turn(call("multiply", "c2", a=5, b=4)),
                            turn(call("final_answer", "c3", answer=20))])
    result = await agent(Query(query="(2+3)*4?"))
    assert result.get("answer") == 20
    roles = [m["role"] for m in result.get("messages")]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert json.loads(result.get("messages")[2]["content"]) == {"result": 5}
    assert json.loads(result.get("messages")[-1]["content"]) == {"answer": 20}
    assert CALLS == [("add", 2, 3), ("multiply", 5, 4)]
    first = lm.requests[0]
    assert [t["name"] for t in first["tools"]] == ["add", "multiply", "final_answer"]
    assert first["tools"][2]["parameters"] == FinalAnswer.get_schema()
    assert first["params"]["tool_choice"] == "required"
    assert first["tools"][0]["parameters"]["properties"]["a"]["description"] == "The first number."
    # the model sees each result before its next turn
    assert lm.requests[1]["messages"][-1] == {"role": "tool", "content": '{"result": 5}', "tool_call_id": "c1"}
    # the output validates against the agent's declared output schema
    from synaplex.lm.validation import validation_errors

    assert validation_errors(result.get_json(), result.get_schema()) == []
    assert set(result.get_schema()["properties"]) == {"answer", "messages"}


async def test_parallel_tool_calls_in_one_turn_run_concurrently():
    running, overlapped = set(), []

    async def slow(name: str, x: int) -> int:
        running.add(name)
        await asyncio.sleep(0.05)
        overlapped.append(set(running))
        await asyncio.sleep(0.05)
        running.discard(name)
        return x

    async def slow_a(x: int) -> int:
        """Slow tool A."""
        return await slow("a", x)

    async def slow_b(x: int) -> int:
        """Slow tool B."""
        return await slow("b", -x)

    agent, _ = agent_with([turn(call("slow_a", "a", x=1), call("slow_b", "b", x=2)),
                           turn(call("final_answer", "f", answer=-1))],
                          tools=[synaplex.Tool(slow_a), synaplex.Tool(slow_b)])
    result = await agent(Query(query="?"))
    assert overlapped == [{"a", "b"}, {"a", "b"}]  # each tool was still running while the other ran
    tool_messages = [m for m in result.get("messages") if m["role"] == "tool"]
    assert [(m["tool_call_id"], json.loads(m["content"])) for m in tool_messages] == [
        ("a", {"result": 1}), ("b", {"result": -2})]


async def test_unknown_tool_failing_tool_and_bad_arguments_go_back_to_the_model():
    agent, lm = agent_with([turn(call("nope", "x1", q=1), call("broken", "x2", x=1), call("add", "x3", a="two", b=1)),
                            turn(call("final_answer", "f", answer=0))],
                           tools=[synaplex.Tool(add), synaplex.Tool(broken)])
    result = await agent(Query(query="?"))
    assert result.get("answer") == 0
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in lm.requests[1]["messages"] if m["role"] == "tool"}
    assert results["x1"] == {"error": "Unknown tool 'nope'. Available tools: add, broken."}
    assert results["x2"] == {"error": "RuntimeError: the database is down"}
    assert results["x3"]["error"].startswith("ToolArgumentsError: Invalid arguments for tool 'add': a:")
    assert CALLS == []


async def test_invalid_final_answer_is_reported_and_the_loop_continues():
    agent, lm = agent_with([turn(call("final_answer", "f1", answer="twenty")), turn(call("final_answer", "f2", answer=20))])
    result = await agent(Query(query="?"))
    assert result.get("answer") == 20
    error = json.loads(lm.requests[1]["messages"][-1]["content"])["error"]
    assert "Unknown tool" not in error and "'twenty' is not of type 'number'" in error


async def test_final_answer_given_with_other_calls_ends_the_loop_and_records_them_as_not_run():
    agent, _ = agent_with([turn(call("add", "a", a=1, b=1), call("final_answer", "f", answer=2))])
    result = await agent(Query(query="?"))
    assert result.get("answer") == 2 and CALLS == []
    messages = result.get("messages")
    assert messages[1]["tool_calls"][0]["name"] == "add"
    assert json.loads(messages[2]["content"]) == {"error": "Not executed: the final answer was given in the same turn."}


async def test_text_reply_is_read_as_the_answer_when_valid_else_one_structured_call():
    agent, lm = agent_with([{"content": '{"answer": 7}'}])
    assert (await agent(Query(query="?"))).get("answer") == 7
    assert len(lm.requests) == 1
    agent, lm = agent_with([{"content": "It is seven."}, {"answer": 7}])
    assert (await agent(Query(query="?"))).get("answer") == 7
    assert lm.requests[1]["schema"] == FinalAnswer.get_schema() and lm.requests[1]["tools"] is None


async def test_a_text_reply_nested_10000_deep_is_not_the_answer_and_never_a_recursion_error():
    deep = '{"answer": ' + "[" * 10_000 + "]" * 10_000 + "}"
    agent, lm = agent_with([{"content": deep}, {"answer": 7}])
    result = await agent(Query(query="?"))
    assert result.get("answer") == 7  # asked once more, for structured output
    assert lm.requests[1]["schema"] == FinalAnswer.get_schema()
    assert result.get("messages")[1]["content"] == deep
    # reading a non-autonomous output whose last message is that text: no answer yet
    messages = [{"role": "user", "content": "?"}, {"role": "assistant", "content": deep}]
    assert agent.final_answer({"messages": messages}) is None


async def test_a_tool_result_that_cannot_be_written_as_json_is_an_error_result():
    async def deep_result() -> list:
        """Return something nested too deep to encode."""
        value: list = []
        for _ in range(100_000):
            value = [value]
        return value

    agent, lm = agent_with([turn(call("deep_result", "d")), turn(call("final_answer", "f", answer=1))],
                           tools=[synaplex.Tool(deep_result)])
    assert (await agent(Query(query="?"))).get("answer") == 1
    result = json.loads(lm.requests[1]["messages"][-1]["content"])
    assert set(result) == {"error"} and result["error"].startswith(
        "The tool's result cannot be written as JSON (RecursionError: maximum recursion depth exceeded")


async def test_max_iterations_raise_keeps_the_trajectory():
    agent, _ = agent_with([turn(call("add", f"c{i}", a=i, b=1)) for i in range(3)], max_iterations=3,
                          on_max_iterations="raise")
    with pytest.raises(AgentMaxIterationsError, match=r"used its 3 iterations without a final answer; the last "
                                                        r"turn called \['add'\]") as info:
        await agent(Query(query="?"))
    assert len(info.value.trajectory) == 1 + 3 * 2
    assert len(CALLS) == 3


async def test_max_iterations_answer_forces_a_structured_answer(caplog):
    agent, lm = agent_with([turn(call("add", f"c{i}", a=i, b=1)) for i in range(2)] + [{"answer": 3}],
                           max_iterations=2)
    with caplog.at_level(logging.WARNING, logger="synaplex.agent"):
        result = await agent(Query(query="?"))
    assert result.get("answer") == 3
    assert lm.requests[-1]["tools"] is None and lm.requests[-1]["schema"] == FinalAnswer.get_schema()
    assert "used its 2 iterations; answering from the trajectory" in caplog.text


async def test_non_autonomous_agent_returns_pending_calls_for_approval_and_resumes():
    lm = synaplex.LanguageModel(model="scripted", responses=[
        turn(call("add", "a", a=1, b=2), call("multiply", "m", a=3, b=3)),
        turn(call("final_answer", "f", answer=3))])
    agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=[synaplex.Tool(add), synaplex.Tool(multiply)],
                                          language_model=lm, autonomous=False)
    inputs = synaplex.Input(data_model=synaplex.ChatMessages)
    program = synaplex.Program(inputs=inputs, outputs=await agent(inputs))
    step = await program(synaplex.ChatMessages(messages=[{"role": "user", "content": "1+2?"}]))
    pending = agent.pending_tool_calls(step)
    assert [c["name"] for c in pending] == ["add", "multiply"] and CALLS == []
    assert agent.final_answer(step) is None
    # a person approves `add` and rejects `multiply` by answering it themselves
    messages = step.get("messages") + [{"role": "tool", "tool_call_id": "m", "content": '{"error": "rejected"}'}]
    step = await program(synaplex.ChatMessages(messages=messages))
    assert CALLS == [("add", 1, 2)]
    assert agent.pending_tool_calls(step) == []
    assert agent.final_answer(step).get_json() == {"answer": 3}
    assert [m["role"] for m in step.get("messages")] == ["user", "assistant", "tool", "tool", "assistant"]


async def test_non_autonomous_agent_needs_a_conversation_input():
    agent, _ = agent_with([], autonomous=False)
    with pytest.raises(DataModelTypeError, match="non-autonomous agent resumes conversations"):
        await agent(synaplex.Input(data_model=Query))


async def test_chat_agent_without_data_model_answers_with_text():
    lm = synaplex.LanguageModel(model="scripted", responses=[turn(call("add", a=1, b=1)), {"content": "It is 2."}])
    agent = synaplex.FunctionCallingAgent(tools=[add], language_model=lm)
    result = await agent(synaplex.ChatMessages(messages=[{"role": "user", "content": "1+1?"}]))
    assert result.get("messages")[-1] == {"role": "assistant", "content": "It is 2.", "tool_call_id": None,
                                          "tool_calls": []}
    assert lm.requests[0]["params"]["tool_choice"] == "auto"
    assert [t["name"] for t in lm.requests[0]["tools"]] == ["add"]


async def test_instructions_and_examples_are_trainable_and_sent():
    agent, lm = agent_with([turn(call("final_answer", answer=1))], instructions="Use the tools.",
                           examples=[{"inputs": {"query": "1+1"}, "outputs": {"answer": 2}}])
    await agent(Query(query="?"))
    system = lm.requests[0]["messages"][0]["content"]
    assert system.startswith("Use the tools.") and 'Final answer: {"answer": 2}' in system
    assert agent.trainable_variables[0]["instructions"] == "Use the tools."


async def test_agent_program_saves_and_loads(tmp_path):
    synaplex.saving.register_synaplex_serializable(package="TestAgents")(add)
    agent, _ = agent_with([turn(call("add", a=1, b=1)), turn(call("final_answer", "f", answer=2))],
                          tools=[synaplex.Tool(add)], max_iterations=4, instructions="Add.")
    inputs = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=inputs, outputs=await agent(inputs))
    program.save(tmp_path / "agent.json")
    loaded = synaplex.Program.load(tmp_path / "agent.json")
    again = loaded.get_module(agent.name)
    assert again.max_iterations == 4 and again.tools[0].name == "add" and again.state["instructions"] == "Add."
    again.language_model.set_responses([turn(call("add", a=2, b=2)), turn(call("final_answer", "f", answer=4))])
    assert (await loaded(Query(query="?"))).get("answer") == 4


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_iterations": 0}, InvalidInputError, "max_iterations must be an integer >= 1, got 0"),
    ({"on_max_iterations": "ignore"}, InvalidInputError, "on_max_iterations must be 'answer' or 'raise'"),
    ({"tools": [add, add]}, InvalidInputError, r"two tools share the name\(s\) \['add'\]"),
    ({"tools": ["add"]}, InvalidInputError, "tools must be synaplex.Tool objects or functions"),
    ({"instructions": ["a", "b"]}, InvalidInputError, "instructions=...\\) must be a string"),
    ({"data_model": dict}, DataModelTypeError, "expects a synaplex.DataModel subclass"),
])
def test_bad_agent_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        agent_with([], **kwargs)


def test_a_tool_named_final_answer_is_refused():
    def final_answer(x: int) -> int:
        """Clashes."""
        return x

    with pytest.raises(InvalidInputError, match="'final_answer' is reserved for the final answer"):
        agent_with([], tools=[final_answer])


async def test_native_tool_calling_on_the_openai_wire():
    """The agent's turns in OpenAI's shape: tools, tool_choice, calls and results."""
    from tests.test_provider_openai_compatible import Recorder, chat_reply, lm_with

    def tool_call(id_, name, arguments):
        return {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}

    recorder = Recorder(chat_reply(content=None, tool_calls=[tool_call("call_1", "add", {"a": 2, "b": 3}),
                                                             tool_call("call_2", "multiply", {"a": 2, "b": 3})],
                                   finish="tool_calls"),
                        chat_reply(content=None, tool_calls=[tool_call("call_3", "final_answer", {"answer": 11})],
                                   finish="tool_calls"))
    agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=[add, multiply], language_model=lm_with(recorder))
    result = await agent(Query(query="2+3 plus 2*3?"))
    assert result.get("answer") == 11 and CALLS == [("add", 2, 3), ("multiply", 2, 3)]
    first = json.loads(recorder.requests[0].content)
    assert first["tool_choice"] == "required"
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "multiply", "final_answer"]
    sent = json.loads(recorder.requests[1].content)["messages"]
    assert sent[2]["tool_calls"][1] == tool_call("call_2", "multiply", {"a": 2, "b": 3})
    assert sent[3:] == [{"role": "tool", "content": '{"result": 5}', "tool_call_id": "call_1"},
                        {"role": "tool", "content": '{"result": 6}', "tool_call_id": "call_2"}]


async def test_native_tool_calling_on_the_anthropic_wire():
    from tests.test_provider_anthropic import Server, make_lm, message

    server = Server(message([{"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1, "b": 1}}],
                            stop_reason="tool_use"),
                    message([{"type": "tool_use", "id": "toolu_2", "name": "final_answer", "input": {"answer": 2}}],
                            stop_reason="tool_use"))
    agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=[add], language_model=make_lm(server))
    assert (await agent(Query(query="1+1?"))).get("answer") == 2
    assert server.body(0)["tool_choice"] == {"type": "any"}
    last = server.body(1)["messages"][-1]
    assert last["role"] == "user" and last["content"][0]["type"] == "tool_result"
    assert last["content"][0]["tool_use_id"] == "toolu_1"
