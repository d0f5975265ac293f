"""Action (the LM fills one tool's arguments, the tool runs) and Lambda (a function as a module)."""

import pytest

import synaplex
from synaplex.errors import DataModelTypeError, InvalidInputError, ProgramBuildError
from tests.conftest import Answer, Query


async def convert(amount: float, currency: str) -> float:
    """Convert an amount of euros to another currency.

    Args:
        amount: How many euros.
        currency: The target currency code, e.g. USD.
    """
    if currency != "USD":
        raise ValueError(f"unknown currency {currency}")
    return round(amount * 1.1, 2)


async def test_action_fills_the_tool_arguments_and_runs_it():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"amount": 10, "currency": "USD"},
                                                            {"amount": 10, "currency": "XYZ"}])
    action = synaplex.Action(tool=synaplex.Tool(convert), language_model=lm)
    inputs = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=inputs, outputs=await action(inputs))
    result = await program(Query(query="10 euros in dollars?"))
    assert result.get_json() == {"action": {"inputs": {"amount": 10, "currency": "USD"},
                                            "outputs": {"result": 11.0}}}  # Synalinks' shape
    sent = lm.requests[0]["schema"]
    assert sent["properties"]["currency"]["description"] == "The target currency code, e.g. USD."
    assert sent["required"] == ["amount", "currency"]
    assert "convert" in lm.requests[0]["messages"][0]["content"]
    failed = await program(Query(query="10 euros in XYZ?"))
    assert failed.get("action")["outputs"] == {"error": "ValueError: unknown currency XYZ"}
    assert [v.name for v in action.trainable_variables] == ["state"]


async def test_action_return_inputs_and_saving(tmp_path):
    synaplex.saving.register_synaplex_serializable(package="TestAction")(convert)
    lm = synaplex.LanguageModel(model="scripted", responses=[{"amount": 1, "currency": "USD"}])
    inputs = synaplex.Input(data_model=Query)
    action = synaplex.Action(tool=convert, language_model=lm, return_inputs=True, instructions="Extract.")
    outputs = await action(inputs)
    assert list(outputs.get_schema()["properties"]) == ["query", "action"]
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    program.save(tmp_path / "action.json")
    loaded = synaplex.Program.load(tmp_path / "action.json")
    loaded_action = loaded.get_module(action.name)
    assert loaded_action.generator.state["instructions"] == "Extract."
    loaded_action.language_model.set_responses([{"amount": 2, "currency": "USD"}])
    assert (await loaded(Query(query="2 EUR"))).get("action")["outputs"] == {"result": 2.2}


async def test_lambda_runs_sync_and_async_functions_and_validates_outputs():
    def shout(inputs) -> Answer:
        return Answer(answer=inputs.get("query").upper())

    async def maybe(inputs):
        return None if "skip" in inputs.get("query") else {"answer": inputs.get("query")}

    inputs = synaplex.Input(data_model=Query)
    loud = await synaplex.Lambda(shout)(inputs)
    guarded = await synaplex.Lambda(maybe, data_model=Answer)(inputs)
    after = await synaplex.Generator(data_model=Answer, language_model=synaplex.LanguageModel(
        model="scripted", responses=lambda m, s: {"answer": "ran"}))(guarded)
    program = synaplex.Program(inputs=inputs, outputs=[loud, after])
    out = await program(Query(query="hi"))
    assert out[0].get_json() == {"answer": "HI"} and out[1].get_json() == {"answer": "ran"}
    out = await program(Query(query="skip me"))
    assert out[0].get_json() == {"answer": "SKIP ME"} and out[1] is None

    bad = synaplex.Lambda(lambda x: {"answer": 3}, data_model=Answer)
    with pytest.raises(DataModelTypeError, match=r"does not match its output schema: answer: 3 is not of type 'string'"):
        await bad(Query(query="x"))
    wrong = synaplex.Lambda(lambda x: 42, data_model=Answer)
    with pytest.raises(DataModelTypeError, match="must return a dict, a DataModel or None, got int: 42"):
        await wrong(Query(query="x"))


async def test_lambda_without_output_type_fails_at_build_time():
    inputs = synaplex.Input(data_model=Query)
    with pytest.raises(ProgramBuildError, match="pass data_model= \\(or schema=\\), or annotate"):
        await synaplex.Lambda(lambda x: x)(inputs)
    with pytest.raises(InvalidInputError, match="Lambda wraps a function, got 3"):
        synaplex.Lambda(3)


async def test_lambda_saves_with_a_registered_function(tmp_path):
    @synaplex.saving.register_synaplex_serializable(package="TestLambda")
    def lower(inputs) -> Answer:
        return Answer(answer=inputs.get("query").lower())

    inputs = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=inputs, outputs=await synaplex.Lambda(lower)(inputs))
    program.save(tmp_path / "l.json")
    loaded = synaplex.Program.load(tmp_path / "l.json")
    assert (await loaded(Query(query="ABC"))).get_json() == {"answer": "abc"}
    unregistered = synaplex.Program(inputs=inputs, outputs=await synaplex.Lambda(lambda x: x, data_model=Query)(inputs))
    with pytest.raises(synaplex.errors.SavingError, match="register_synaplex_serializable"):
        unregistered.save(tmp_path / "u.json")
