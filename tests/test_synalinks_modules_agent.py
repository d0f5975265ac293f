"""FunctionCallingAgent with Synalinks' arguments: return_inputs_with_trajectory,
use_chain_of_thought, streaming (reasoning_effort is in test_synalinks_modules_reasoning)."""

import json

import pytest

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.modules.generator import StreamingResponse
from tests.conftest import Query

RAN: list = []


class FinalAnswer(synaplex.DataModel):
    answer: float = synaplex.Field(description="The numerical answer")


@synaplex.saving.register_synaplex_serializable(package="SynalinksAgent")
async def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    RAN.append((a, b))
    return a + b


def call(name, id_="c1", **arguments):
    return {"id": id_, "name": name, "arguments": arguments}


def turn(*calls, content=""):
    return {"content": content, "tool_calls": list(calls)}


def agent_with(replies, **kwargs):
    lm = synaplex.LanguageModel(model="scripted", responses=list(replies))
    kwargs.setdefault("tools", [add])
    return synaplex.FunctionCallingAgent(language_model=lm, **kwargs), lm


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


def roles(output) -> list[str]:
    return [m["role"] for m in output.get_json()["messages"]]


# --- return_inputs_with_trajectory -----------------------------------------------------------


async def test_autonomous_output_is_the_trajectory_then_the_answer_or_the_answer_alone():
    replies = [turn(call("add", a=2, b=3)), turn(call("final_answer", "c2", answer=5))]
    agent, _ = agent_with(replies, data_model=FinalAnswer)
    x0 = synaplex.Input(data_model=Query)
    x1 = await agent(x0)
    assert list(x1.get_schema()["properties"]) == ["messages", "answer"]  # Synalinks' order
    result = await synaplex.Program(inputs=x0, outputs=x1)(Query(query="2+3?"))
    assert list(result.get_json()) == ["messages", "answer"] and result.get_json()["answer"] == 5
    assert roles(result) == ["user", "assistant", "tool", "assistant"]

    alone, _ = agent_with(replies, data_model=FinalAnswer, return_inputs_with_trajectory=False)
    assert (await alone(Query(query="2+3?"))).get_json() == {"answer": 5}
    assert list((await alone(synaplex.Input(data_model=Query))).get_schema()["properties"]) == ["answer"]


def test_return_trajectory_is_the_same_setting():
    agent, _ = agent_with([], data_model=FinalAnswer, return_trajectory=False)
    assert agent.return_inputs_with_trajectory is False and agent.return_trajectory is False
    config = agent.get_config()
    assert config["return_inputs_with_trajectory"] is False and "return_trajectory" not in config
    with pytest.raises(InvalidInputError, match=r"return_trajectory=True and return_inputs_with_trajectory=False "
                                                r"disagree; they are the same setting"):
        agent_with([], return_trajectory=True, return_inputs_with_trajectory=False)
    with pytest.raises(InvalidInputError, match=r"return_inputs_with_trajectory=...\) must be True or False, got 1"):
        agent_with([], return_inputs_with_trajectory=1)


async def test_a_step_without_trajectory_gives_only_its_new_messages():
    replies = [turn(call("add", "c1", a=1, b=2)), {"content": "It is 3."}]
    agent, lm = agent_with(replies, autonomous=False, return_inputs_with_trajectory=False)
    conversation = [{"role": "user", "content": "1+2?"}]
    first = await agent(synaplex.ChatMessages(messages=conversation))
    assert roles(first) == ["assistant"] and first.get_json()["messages"][0]["tool_calls"][0]["name"] == "add"
    assert RAN == []  # pending approval
    # approved as is: the call runs, then the model answers; the output holds this step's messages
    second = await agent(synaplex.ChatMessages(messages=conversation + first.get_json()["messages"]))
    messages = second.get_json()["messages"]
    assert roles(second) == ["tool", "assistant"] and RAN == [(1, 2)]
    assert (messages[0]["tool_call_id"], json.loads(messages[0]["content"])) == ("c1", {"result": 3})
    assert messages[1]["content"] == "It is 3."
    assert len(lm.requests[1]["messages"]) == 4  # system, user, assistant, tool: the model saw it all

    whole, _ = agent_with([{"content": "Hello."}], autonomous=False)
    assert roles(await whole(synaplex.ChatMessages(messages=conversation))) == ["user", "assistant"]


# --- use_chain_of_thought ----------------------------------------------------------------------


async def test_chain_of_thought_thinks_in_every_call_and_keeps_it_out_of_the_arguments():
    replies = [turn(call("add", a=2, b=3, thinking="First add 2 and 3.")),
               turn(call("final_answer", "c2", thinking="The sum is 5.", answer=5))]
    agent, lm = agent_with(replies, data_model=FinalAnswer, use_chain_of_thought=True)
    result = await agent(Query(query="2+3?"))
    assert result.get_json()["answer"] == 5 and RAN == [(2, 3)]  # the tool never saw 'thinking'
    messages = result.get_json()["messages"]
    assert messages[1]["content"] == "First add 2 and 3."
    assert messages[1]["tool_calls"][0]["arguments"] == {"a": 2, "b": 3}
    assert json.loads(messages[2]["content"]) == {"result": 5}
    assert json.loads(messages[-1]["content"]) == {"answer": 5}
    for tool in lm.requests[0]["tools"]:  # add and final_answer: thinking comes first, required
        assert list(tool["parameters"]["properties"])[0] == "thinking"
        assert tool["parameters"]["required"][0] == "thinking"
    assert list(lm.requests[0]["tools"][1]["parameters"]["properties"]) == ["thinking", "answer"]


def test_chain_of_thought_refuses_a_tool_that_takes_thinking():
    def plan(thinking: str) -> str:
        """Write a plan."""
        return thinking

    with pytest.raises(InvalidInputError, match=r"tool 'plan' already takes an argument named 'thinking', which "
                                                r"use_chain_of_thought=True adds to every tool"):
        agent_with([], tools=[plan], use_chain_of_thought=True)
    agent_with([], tools=[plan])  # fine without chain of thought


# --- streaming ---------------------------------------------------------------------------------


async def test_streaming_streams_the_final_answer_after_the_tools():
    replies = [turn(call("add", a=2, b=3)), {"content": "draft"}, {"content": "The sum is 5."}]
    agent, lm = agent_with(replies, streaming=True)
    response = await agent(synaplex.ChatMessages(messages=[{"role": "user", "content": "2+3?"}]))
    assert isinstance(response, StreamingResponse)
    pieces = [piece async for piece in response]
    assert len(pieces) > 1 and "".join(pieces) == "The sum is 5."
    assert response.message.get_json()["content"] == "The sum is 5."
    assert roles(response.to_json_data_model()) == ["user", "assistant", "tool", "assistant"]
    assert response.get_json()["messages"][-1]["content"] == "The sum is 5."
    assert lm.requests[2]["tools"] is None  # the streamed answer is asked for without tools
    assert RAN == [(2, 3)]


async def test_streaming_is_off_while_training_and_a_step_can_stream_its_answer():
    agent, _ = agent_with([{"content": "Done."}], streaming=True)
    trained = await agent(synaplex.ChatMessages(messages=[{"role": "user", "content": "hi"}]), training=True)
    assert not isinstance(trained, StreamingResponse) and roles(trained) == ["user", "assistant"]

    step, _ = agent_with([{"content": "draft"}, {"content": "Hello there."}], streaming=True, autonomous=False,
                         return_inputs_with_trajectory=False)
    response = await step(synaplex.ChatMessages(messages=[{"role": "user", "content": "hi"}]))
    assert "".join([piece async for piece in response]) == "Hello there."
    assert response.get_json() == {"messages": [{"role": "assistant", "content": "Hello there.",
                                                 "tool_call_id": None, "tool_calls": []}]}


def test_streaming_needs_chat_mode():
    with pytest.raises(InvalidInputError, match=r"FunctionCallingAgent\(streaming=True\) streams the final answer's "
                                                r"text, so it needs chat mode: no data_model= or schema="):
        agent_with([], data_model=FinalAnswer, streaming=True)


async def test_an_unread_stream_cannot_be_passed_on():
    agent, _ = agent_with([{"content": "a"}, {"content": "b"}], streaming=True)
    response = await agent(synaplex.ChatMessages(messages=[{"role": "user", "content": "hi"}]))
    with pytest.raises(InvalidInputError, match="A streaming module's output was passed on before it was read"):
        response.get_json()


# --- saving ------------------------------------------------------------------------------------


def test_the_new_settings_are_saved_and_loaded():
    agent, _ = agent_with([], use_chain_of_thought=True, streaming=True, reasoning_effort="high", max_tokens=256,
                          autonomous=False, return_inputs_with_trajectory=False)
    config = json.loads(json.dumps(synaplex.saving.serialize_synaplex_object(agent)))
    back = synaplex.saving.deserialize_synaplex_object(config)
    assert (back.use_chain_of_thought, back.streaming, back.reasoning_effort, back.max_tokens, back.autonomous,
            back.return_inputs_with_trajectory) == (True, True, "high", 256, False, False)
