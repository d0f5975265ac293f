"""Module output shapes as Synalinks has them (SelfCritique's reward, Action's
{action: {inputs, outputs}}, Generator.format_messages' ChatMessages, (inputs, outputs)
examples, Tool(func=...)), and files saved with synaplex's earlier shapes still load."""

import json

import pytest

import synaplex
from synaplex.errors import InvalidInputError, StructuredOutputError
from tests.conftest import Answer, Query, scripted


@synaplex.saving.register_synaplex_serializable(package="SynalinksShapes")
async def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first integer.
        b: the second integer.
    """
    return a + b


# A program file written by synaplex before these shapes (commit f2dcbea): a SelfCritique with
# {critique, score} (its default instructions and a score example), an Action, a Tool saved
# with "function", an agent saved with return_trajectory.
OLD_PROGRAM = r'''{"format": "synaplex.program", "synaplex_version": "0.1.0", "program": {"module": "synaplex.programs.program", "class_name": "Program", "registered_name": null, "config": {"name": "old", "description": null, "trainable": true, "modules": [{"module": "synaplex.modules.input", "class_name": "InputModule", "registered_name": null, "config": {"name": "input", "description": null, "trainable": true, "schema": {"properties": {"query": {"description": "The user query", "title": "Query", "type": "string"}}, "required": ["query"], "title": "Query", "type": "object"}, "data_model": "__main__:Query"}}, {"module": "synaplex.modules.generator", "class_name": "Generator", "registered_name": null, "config": {"name": "generator", "description": null, "trainable": true, "schema": {"properties": {"answer": {"description": "The answer", "title": "Answer", "type": "string"}}, "required": ["answer"], "title": "Answer", "type": "object"}, "data_model": "__main__:Answer", "language_model": {"module": "synaplex.lm.language_model", "class_name": "LanguageModel", "registered_name": null, "config": {"model": "scripted", "api_base": null, "responses": [{}]}}, "instructions": "Read the inputs and produce the Answer as a JSON object with the fields `answer`. Follow each field's description.", "examples": [], "temperature": 0.0, "prompt_template": null, "return_inputs": true, "use_inputs_schema": false, "use_outputs_schema": false}}, {"module": "synaplex.modules.action", "class_name": "Action", "registered_name": null, "config": {"name": "action", "description": null, "trainable": true, "tool": {"module": "synaplex.modules.tool", "class_name": "Tool", "registered_name": null, "config": {"function": {"class_name": "function", "registered_name": "SynalinksShapes>add"}, "timeout": 5, "name": null, "description": null, "parameters": null}}, "language_model": {"module": "synaplex.lm.language_model", "class_name": "LanguageModel", "registered_name": null, "config": {"model": "scripted", "api_base": null, "responses": [{}]}}, "instructions": "Fill the arguments of the tool `add` (Add two integers.) from the inputs.", "examples": [], "temperature": 0.0, "return_inputs": false}}, {"module": "synaplex.modules.agent", "class_name": "FunctionCallingAgent", "registered_name": null, "config": {"name": "function_calling_agent", "description": null, "trainable": true, "schema": {"properties": {"answer": {"description": "The answer", "title": "Answer", "type": "string"}}, "required": ["answer"], "title": "Answer", "type": "object"}, "data_model": "__main__:Answer", "tools": [{"module": "synaplex.modules.tool", "class_name": "Tool", "registered_name": null, "config": {"function": {"class_name": "function", "registered_name": "SynalinksShapes>add"}, "timeout": null, "name": null, "description": null, "parameters": null}}], "language_model": {"module": "synaplex.lm.language_model", "class_name": "LanguageModel", "registered_name": null, "config": {"model": "scripted", "api_base": null, "responses": [{}]}}, "instructions": "Solve the task with the tools. Call the tools you need; call several at once when they do not depend on each other. Read each tool's result before going on. When you know the answer, call `final_answer` with it.", "examples": [], "temperature": 0.0, "max_iterations": 5, "autonomous": true, "return_trajectory": false, "on_max_iterations": "answer"}}, {"module": "synaplex.modules.self_critique", "class_name": "SelfCritique", "registered_name": null, "config": {"name": "self_critique", "description": null, "trainable": true, "schema": {"properties": {"critique": {"description": "What is wrong or missing, step by step; say so if nothing is", "title": "Critique", "type": "string"}, "score": {"description": "How good the inputs are, from 0.0 (wrong) to 1.0 (perfect)", "maximum": 1.0, "minimum": 0.0, "title": "Score", "type": "number"}}, "required": ["critique", "score"], "title": "Critique", "type": "object"}, "data_model": "synaplex.modules.self_critique:Critique", "language_model": {"module": "synaplex.lm.language_model", "class_name": "LanguageModel", "registered_name": null, "config": {"model": "scripted", "api_base": null, "responses": [{}]}}, "instructions": "Critique the inputs: check the answer against the question, point out errors or omissions, then score it from 0.0 to 1.0.", "examples": [{"inputs": {"answer": "4"}, "outputs": {"critique": "ok", "score": 1.0}}], "temperature": 0.0, "prompt_template": null, "return_inputs": true, "use_inputs_schema": false, "use_outputs_schema": false}}], "nodes": [{"module": 0}, {"module": 1, "args": [{"__node__": [0, 0]}], "kwargs": {}}, {"module": 2, "args": [{"__node__": [0, 0]}], "kwargs": {}}, {"module": 3, "args": [{"__node__": [0, 0]}], "kwargs": {}}, {"module": 4, "args": [{"__node__": [1, 0]}], "kwargs": {}}], "inputs": {"__node__": [0, 0]}, "outputs": [{"__node__": [4, 0]}, {"__node__": [2, 0]}, {"__node__": [3, 0]}]}}, "variables": {"generator/state": {"instructions": "Read the inputs and produce the Answer as a JSON object with the fields `answer`. Follow each field's description.", "examples": []}, "action/generator/state": {"instructions": "Fill the arguments of the tool `add` (Add two integers.) from the inputs.", "examples": []}, "function_calling_agent/state": {"instructions": "Solve the task with the tools. Call the tools you need; call several at once when they do not depend on each other. Read each tool's result before going on. When you know the answer, call `final_answer` with it.", "examples": []}, "self_critique/state": {"instructions": "Critique the inputs: check the answer against the question, point out errors or omissions, then score it from 0.0 to 1.0.", "examples": [{"inputs": {"answer": "4"}, "outputs": {"critique": "ok", "score": 1.0}}]}}}'''


# --- SelfCritique: reward -------------------------------------------------------------------


async def test_self_critique_answers_critique_and_reward_after_the_inputs():
    lm = scripted({"critique": "Correct.", "reward": 0.9})
    x0 = synaplex.Input(data_model=Query)
    x1 = await synaplex.Generator(data_model=Answer, language_model=scripted({"answer": "4"}), return_inputs=True)(x0)
    x2 = await synaplex.SelfCritique(language_model=lm)(x1)
    assert list(x2.get_schema()["properties"]) == ["query", "answer", "critique", "reward"]
    program = synaplex.Program(inputs=x0, outputs=x2)
    result = await program(Query(query="2+2?"))
    assert result.get_json() == {"query": "2+2?", "answer": "4", "critique": "Correct.", "reward": 0.9}
    reward = lm.requests[0]["schema"]["properties"]["reward"]
    assert (reward["type"], reward["minimum"], reward["maximum"]) == ("number", 0.0, 1.0)
    assert "grade them with a reward" in lm.requests[0]["messages"][0]["content"]


async def test_self_critique_without_reward_and_a_reward_out_of_range():
    critique = synaplex.SelfCritique(language_model=scripted({"critique": "Fine."}), return_reward=False,
                                     return_inputs=False)
    assert (await critique(Answer(answer="4"))).get_json() == {"critique": "Fine."}
    assert "reward" not in critique.language_model.requests[0]["schema"]["properties"]
    loaded = synaplex.saving.deserialize_synaplex_object(
        json.loads(json.dumps(synaplex.saving.serialize_synaplex_object(critique))))
    assert loaded.return_reward is False and loaded.return_inputs is False
    bad = synaplex.SelfCritique(language_model=scripted({"critique": "x", "reward": 1.5}))
    with pytest.raises(StructuredOutputError, match="1.5 is greater than the maximum of 1.0"):
        await bad(Answer(answer="?"))


def test_self_critique_bad_arguments():
    with pytest.raises(InvalidInputError, match=r"SelfCritique\(...\) has a fixed output \(\{critique, reward\}\), "
                                                r"so it takes no data_model=; use a Generator"):
        synaplex.SelfCritique(language_model="scripted", data_model=Answer)
    with pytest.raises(InvalidInputError, match=r"return_reward=...\) must be True or False, got 'yes'"):
        synaplex.SelfCritique(language_model="scripted", return_reward="yes")


# --- Action: {action: {inputs, outputs}} ----------------------------------------------------


async def test_action_output_is_synalinks_generic_action():
    async def calculate(expression: str) -> dict:
        """Calculate an arithmetic expression.

        Args:
            expression: the expression, such as '2 + 2'.
        """
        if expression == "boom":
            raise ValueError("cannot parse 'boom'")
        return {"result": 27.0, "log": "Successfully executed"}

    lm = scripted({"expression": "12 + 15"}, {"expression": "boom"})
    x0 = synaplex.Input(data_model=Query)
    x1 = await synaplex.Action(tool=synaplex.Tool(calculate), language_model=lm)(x0)
    assert list(x1.get_schema()["properties"]) == ["action"]
    assert x1.get_schema()["properties"]["action"]["required"] == ["inputs", "outputs"]
    program = synaplex.Program(inputs=x0, outputs=x1)
    result = await program(Query(query="12 apples and 15 more?"))
    assert result.get_json() == {"action": {"inputs": {"expression": "12 + 15"},
                                            "outputs": {"result": 27.0, "log": "Successfully executed"}}}
    failed = await program(Query(query="boom"))
    assert failed.get_json() == {"action": {"inputs": {"expression": "boom"},
                                            "outputs": {"error": "ValueError: cannot parse 'boom'"}}}


async def test_action_wraps_a_result_that_is_not_an_object_and_needs_a_tool():
    action = synaplex.Action(tool=add, language_model=scripted({"a": 2, "b": 3}))
    assert (await action(Query(query="2+3"))).get_json() == {"action": {"inputs": {"a": 2, "b": 3},
                                                                         "outputs": {"result": 5}}}
    with pytest.raises(InvalidInputError, match=r"Action needs tool=synaplex.Tool\(<function>\)"):
        synaplex.Action(language_model="scripted")


# --- Generator: format_messages, examples ---------------------------------------------------


def test_format_messages_returns_chat_messages():
    generator = synaplex.Generator(data_model=Answer, language_model="scripted", instructions="Be brief.")
    messages = generator.format_messages(Query(query="Capital of France?"))
    assert isinstance(messages, synaplex.ChatMessages) and len(messages.messages) == 2
    assert [m.role.value for m in messages.messages] == ["system", "user"]
    assert messages.messages[0].content == "Be brief."
    assert json.loads(messages.messages[1].content) == {"query": "Capital of France?"}
    chat = synaplex.Generator(language_model="scripted", instructions="Be nice.")
    conversation = synaplex.ChatMessages(messages=[synaplex.ChatMessage(role="user", content="Hi")])
    assert [(m["role"], m["content"]) for m in chat.format_messages(conversation).get_json()["messages"]] == [
        ("system", "Be nice."), ("user", "Hi")]


async def test_examples_as_synalinks_pairs():
    generator = synaplex.Generator(
        data_model=Answer, language_model=scripted({"answer": "4"}),
        examples=[({"query": "1+1?"}, {"answer": "2"}), (Query(query="2+1?"), Answer(answer="3")),
                  {"inputs": {"query": "0+0?"}, "outputs": {"answer": "0"}, "reward": 1.0}])
    assert generator.state["examples"][:2] == [{"inputs": {"query": "1+1?"}, "outputs": {"answer": "2"}},
                                               {"inputs": {"query": "2+1?"}, "outputs": {"answer": "3"}}]
    await generator(Query(query="2+2?"))
    sent = [(m["role"], m["content"]) for m in generator.language_model.requests[0]["messages"][1:]]
    assert sent == [("user", '{"query": "1+1?"}'), ("assistant", '{"answer": "2"}'),
                    ("user", '{"query": "2+1?"}'), ("assistant", '{"answer": "3"}'),
                    ("user", '{"query": "0+0?"}'), ("assistant", '{"answer": "0"}'),
                    ("user", '{"query": "2+2?"}')]
    cot = synaplex.ChainOfThought(data_model=Answer, language_model="scripted",
                                  examples=[({"query": "1+1?"}, {"thinking": "one and one", "answer": "2"})])
    assert cot.state["examples"][0]["outputs"]["thinking"] == "one and one"


@pytest.mark.parametrize("examples, message", [
    ({"query": "q"}, r"Generator\(examples=...\) must be a list of \(inputs, outputs\) pairs, got dict"),
    ([("only inputs",)], r"example 0 must be an \(inputs, outputs\) pair or a dict with 'inputs' and 'outputs'"),
    ([({"query": "q"}, {"answer": "a"}), {"inputs": {}}], r"example 1 must be an \(inputs, outputs\) pair"),
    ([({"query": "q"}, "a")], r"the outputs of example 0 must be a JSON object \(a dict or a DataModel\), got str"),
])
def test_bad_examples_say_what_is_expected(examples, message):
    with pytest.raises(InvalidInputError, match=message):
        synaplex.Generator(data_model=Answer, language_model="scripted", examples=examples)


# --- Tool(func=...) -------------------------------------------------------------------------


async def test_tool_takes_func_as_synalinks_spells_it():
    tool = synaplex.Tool(func=add, name="adder")
    assert tool.func is add and tool.function is add and tool.name == "adder"
    assert await tool(a=2, b=3) == 5
    assert tool.get_input_schema() == tool.parameters
    assert synaplex.Tool(function=add).func is add and synaplex.Tool(add).func is add
    config = synaplex.saving.serialize_synaplex_object(tool)["config"]
    assert config["func"] == {"class_name": "function", "registered_name": "SynalinksShapes>add"}
    assert "function" not in config
    back = synaplex.saving.deserialize_synaplex_object(json.loads(json.dumps(
        synaplex.saving.serialize_synaplex_object(tool))))
    assert back.func is add and back.name == "adder"


def test_tool_bad_arguments():
    with pytest.raises(InvalidInputError, match=r"pass func= \(Synalinks' name\) or function=, not both"):
        synaplex.Tool(func=add, function=add)
    with pytest.raises(InvalidInputError, match=r"Tool needs the function to wrap: Tool\(my_function\)"):
        synaplex.Tool()
    with pytest.raises(InvalidInputError, match=r"A saved Tool needs its function \('func'\); the config has "
                                                r"\['timeout'\]"):
        synaplex.modules.tool.Tool.from_config({"timeout": 1})


# --- files saved with the earlier shapes ----------------------------------------------------


async def test_a_program_saved_with_the_earlier_shapes_loads_and_runs_with_the_new_ones(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(OLD_PROGRAM)
    program = synaplex.Program.load(path)
    critique = program.get_module("self_critique")
    action = program.get_module("action")
    agent = program.get_module("function_calling_agent")
    assert action.tool.func is add and action.tool.timeout == 5
    assert agent.return_inputs_with_trajectory is False and agent.tools[0].func is add
    program.get_module("generator").language_model.set_responses([{"answer": "5"}])
    action.language_model.set_responses([{"a": 2, "b": 3}])
    agent.language_model.set_responses([{"role": "assistant", "content": "", "tool_calls": [
        {"id": "f", "name": "final_answer", "arguments": {"answer": "5"}}]}])
    critique.language_model.set_responses([{"critique": "Right.", "reward": 1.0}])
    critiqued, acted, answered = await program(Query(query="2+3?"))
    assert critiqued.get_json() == {"query": "2+3?", "answer": "5", "critique": "Right.", "reward": 1.0}
    assert acted.get_json() == {"action": {"inputs": {"a": 2, "b": 3}, "outputs": {"result": 5}}}
    assert answered.get_json() == {"answer": "5"}
    # the critique's state of the score era (default instructions, an example) reads as reward
    sent = critique.language_model.requests[0]["messages"]
    assert "grade them with a reward" in sent[0]["content"] and "score" not in sent[0]["content"]
    assert sent[2] == {"role": "assistant", "content": '{"critique": "ok", "reward": 1.0}'}
    assert critique.state["examples"] == [{"inputs": {"answer": "4"}, "outputs": {"critique": "ok", "reward": 1.0}}]
    # and it saves in the new shapes
    program.save(tmp_path / "new.json")
    saved = (tmp_path / "new.json").read_text()
    assert '"func"' in saved and '"return_inputs_with_trajectory": false' in saved
    assert '"score"' not in saved and '"return_trajectory"' not in saved
