"""Tool and SelfCritique with the scripted LM."""

import asyncio
import json
import threading

import pytest

import synaplex
from synaplex.errors import InvalidInputError, ToolArgumentsError
from tests.conftest import Answer, Query


@synaplex.saving.register_synaplex_serializable(package="Tests")
async def add(a: int, b: int = 1) -> int:
    """Add two integers.

    Args:
        a: the first integer.
        b: the second integer.
    """
    return a + b


async def test_tool_schema_validation_and_call():
    tool = synaplex.Tool(add)
    assert tool.name == "add" and tool.description == "Add two integers."
    assert tool.parameters["properties"]["a"] == {"description": "the first integer.", "type": "integer"}
    assert tool.parameters["required"] == ["a"]
    assert await tool(a=2, b=3) == 5
    with pytest.raises(ToolArgumentsError, match="Invalid arguments for tool 'add': \\(root\\): 'a' is a required property"):
        await tool(b=3)
    with pytest.raises(ToolArgumentsError, match="a: 'two' is not of type 'integer'"):
        await tool(a="two")


async def test_a_failing_tool_returns_an_error_result():
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    tool = synaplex.Tool(divide)
    assert await tool.run({"a": 6, "b": 3}) == {"result": 2.0}
    assert await tool.run({"a": 1, "b": 0}) == {"error": "ZeroDivisionError: division by zero"}
    bad = await tool.run({"a": "x"})
    assert bad["error"].startswith("ToolArgumentsError: Invalid arguments for tool 'divide'")


async def test_sync_tools_run_off_the_loop_and_timeouts():
    seen = []

    def where() -> str:
        """Report the thread."""
        seen.append(threading.current_thread() is threading.main_thread())
        return "ok"

    assert await synaplex.Tool(where)() == "ok" and seen == [False]

    async def slow() -> str:
        """Take a while."""
        await asyncio.sleep(1)
        return "late"

    result = await synaplex.Tool(slow, timeout=0.05).run({})
    assert result == {"error": "TimeoutError: Tool 'slow' did not finish within 0.05 s."}


async def test_unknown_arguments_are_refused_before_the_function_is_called():
    seen = []

    def record(a: int, b: int = 1) -> int:
        """Record a and b."""
        seen.append((a, b))
        return a + b

    tool = synaplex.Tool(record)
    with pytest.raises(ToolArgumentsError, match=r"^Invalid arguments for tool 'record': unknown argument\(s\) "
                                                 r"\['', 'c'\]; it takes a, b\.$"):
        tool.validate({"a": 1, "c": 2, "": None})
    assert await tool.run({"a": 1, "extra": True}) == {
        "error": "ToolArgumentsError: Invalid arguments for tool 'record': unknown argument(s) ['extra']; it takes "
                 "a, b."}
    assert seen == []
    # an explicit schema (MCP tools, functions taking **kwargs) decides for itself
    loose = synaplex.Tool(lambda **kwargs: sorted(kwargs), name="loose", parameters={"type": "object"})
    assert await loose.run({"anything": 1}) == {"result": ["anything"]}


def test_tool_bad_input_and_saving():
    def untyped(x, y: int):
        """No hint on x."""

    with pytest.raises(InvalidInputError, match="Tool 'untyped': argument 'x' has no type hint"):
        synaplex.Tool(untyped)
    with pytest.raises(InvalidInputError, match="timeout must be a positive number"):
        synaplex.Tool(add, timeout=0)
    config = json.loads(json.dumps(synaplex.saving.serialize_synaplex_object(synaplex.Tool(add, timeout=5))))
    back = synaplex.saving.deserialize_synaplex_object(config)
    assert back.function is add and back.timeout == 5


async def test_tools_go_to_the_language_model_as_definitions():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"role": "assistant", "content": "",
                                                              "tool_calls": [{"id": "1", "name": "add",
                                                                              "arguments": {"a": 1}}]}])
    reply = await lm([{"role": "user", "content": "1+1?"}], tools=[synaplex.Tool(add)])
    assert lm.requests[0]["tools"][0]["name"] == "add"
    call = reply["tool_calls"][0]
    assert await synaplex.Tool(add).run(call["arguments"]) == {"result": 2}


async def test_self_critique_rewards_and_keeps_inputs():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"critique": "Correct.", "reward": 0.9},
                                                            {"critique": "x", "reward": 1.5}])
    critique = synaplex.SelfCritique(language_model=lm)
    value = await critique(Query(query="2+2?") + Answer(answer="4"))
    assert value.get_json() == {"query": "2+2?", "answer": "4", "critique": "Correct.", "reward": 0.9}
    schema = lm.requests[0]["schema"]
    assert schema["properties"]["reward"]["maximum"] == 1.0 and schema["properties"]["reward"]["minimum"] == 0.0
    with pytest.raises(synaplex.errors.StructuredOutputError, match="1.5 is greater than the maximum of 1.0"):
        await critique(Query(query="?") + Answer(answer="?"))
