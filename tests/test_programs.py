import asyncio

import pytest

import synaplex
from synaplex.errors import (
    DataModelTypeError,
    InvalidInputError,
    ModuleLookupError,
    PredictionError,
    ProgramBuildError,
)
from tests.conftest import Answer, AnswerWithRationale, MixedQA, Query, echo_lm, scripted


async def build_qa(lm, name="simple_qa"):
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name=name, description="A simple Q&A program")


class Sleep(synaplex.Module):
    """Waits, then answers with its own name (to prove concurrency and ordering)."""

    def __init__(self, delay=0.2, log=None, **kwargs):
        super().__init__(**kwargs)
        self.delay, self.log = delay, log if log is not None else []

    async def call(self, inputs, training=False):
        self.log.append(("start", self.name))
        await asyncio.sleep(self.delay)
        self.log.append(("end", self.name))
        return Answer(answer=self.name).to_json_data_model()

    async def compute_output_spec(self, inputs, training=False):
        return Answer.to_symbolic_data_model()


async def test_quick_start_functional_program():
    lm = echo_lm(prefix="echo: ")
    program = await build_qa(lm)
    result = await program(Query(query="What is the capital of France?"))
    assert isinstance(result, synaplex.JsonDataModel)
    assert result.get_json()["answer"].startswith("echo: ")
    assert "What is the capital of France?" in result.get_json()["answer"]
    assert program.name == "simple_qa" and program.description == "A simple Q&A program"
    request = lm.requests[0]
    assert request["schema"] == Answer.get_schema()
    assert request["messages"][0]["role"] == "system"


async def test_sequential_program():
    lm = scripted({"answer": "42"})
    program = synaplex.Sequential([
        synaplex.Input(data_model=Query),
        synaplex.Generator(data_model=Answer, language_model=lm),
    ])
    assert (await program(Query(query="x"))).get_json() == {"answer": "42"}
    assert [type(m).__name__ for m in program.modules] == ["InputModule", "Generator"]


async def test_sequential_without_input_builds_on_first_call():
    lm = scripted({"answer": "a"}, {"answer": "b"})
    program = synaplex.Sequential([synaplex.Generator(data_model=Answer, language_model=lm)])
    assert (await program(Query(query="x"))).get_json() == {"answer": "a"}
    assert program.modules[0].schema == Query.get_schema()


async def test_subclassed_program():
    class MyProgram(synaplex.Program):
        def __init__(self, language_model):
            super().__init__()
            self.gen = synaplex.Generator(data_model=Answer, language_model=language_model)

        async def call(self, inputs, training=False):
            return await self.gen(inputs)

    program = MyProgram(scripted({"answer": "sub"}))
    assert (await program(Query(query="x"))).get_json() == {"answer": "sub"}
    assert program.modules == [program.gen]
    assert len(program.trainable_variables) == 1
    assert program.language_model is program.gen.language_model


async def test_mixed_program_builds_on_first_call_with_two_inits():
    lm = scripted({"answer": "mixed"})
    program = MixedQA(lm)
    assert program.name == "mixed_qa" and not program.built
    assert (await program(Query(query="x"))).get_json() == {"answer": "mixed"}
    assert program.name == "mixed_qa" and program.language_model is lm
    assert [type(m).__name__ for m in program.modules] == ["InputModule", "Generator"]


async def test_independent_modules_run_concurrently():
    log = []
    inputs = synaplex.Input(data_model=Query)
    a = await Sleep(0.2, log, name="a")(inputs)
    b = await Sleep(0.2, log, name="b")(inputs)
    program = synaplex.Program(inputs=inputs, outputs=a & b)
    result = await program(Query(query="x"))
    assert result.get_json() == {"answer": "a", "answer_1": "b"}
    assert [e[0] for e in log[:2]] == ["start", "start"]


async def test_a_node_starts_as_soon_as_its_own_inputs_are_ready():
    log = []
    inputs = synaplex.Input(data_model=Query)
    slow = await Sleep(0.3, log, name="slow")(inputs)
    fast = await Sleep(0.05, log, name="fast")(inputs)
    after_fast = await Sleep(0.05, log, name="after_fast")(fast)
    program = synaplex.Program(inputs=inputs, outputs=[slow, after_fast])
    await program(Query(query="x"))
    assert log.index(("end", "after_fast")) < log.index(("end", "slow"))


async def test_chain_runs_in_order():
    log = []
    inputs = synaplex.Input(data_model=Query)
    x = inputs
    for i in range(3):
        x = await Sleep(0.0, log, name=f"s{i}")(x)
    program = synaplex.Program(inputs=inputs, outputs=x)
    assert (await program(Query(query="x"))).get_json() == {"answer": "s2"}
    assert [e for e in log if e[0] == "start"] == [("start", "s0"), ("start", "s1"), ("start", "s2")]


async def test_node_with_none_input_is_skipped_and_outputs_none():
    class Block(synaplex.Module):
        async def call(self, inputs, training=False) -> Answer | None:
            return None

    lm = scripted()  # no replies: any call would raise
    inputs = synaplex.Input(data_model=Query)
    blocked = await Block()(inputs)
    answer = await synaplex.Generator(data_model=Answer, language_model=lm)(blocked)
    program = synaplex.Program(inputs=inputs, outputs=answer)
    assert await program(Query(query="x")) is None
    assert lm.requests == []


async def test_guard_pattern_with_xor_and_or():
    class InputGuard(synaplex.Module):
        async def call(self, inputs, training=False) -> synaplex.ChatMessage | None:
            if "forbidden" in inputs.get("query"):
                return synaplex.ChatMessage(role="assistant", content="Cannot process this request").to_json_data_model()
            return None

    lm = echo_lm(field="content")
    inputs = synaplex.Input(data_model=Query)
    warning = await InputGuard()(inputs)
    guarded = warning ^ inputs
    answer = await synaplex.Generator(data_model=synaplex.ChatMessage, language_model=lm)(guarded)
    program = synaplex.Program(inputs=inputs, outputs=warning | answer)

    lm.set_responses(lambda messages, schema: {"role": "assistant", "content": "fine"})
    blocked = await program(Query(query="something forbidden"))
    assert blocked.get_json()["content"] == "Cannot process this request"
    assert lm.requests == []
    allowed = await program(Query(query="hello"))
    assert allowed.get_json()["content"] == "fine"
    assert len(lm.requests) == 1


async def test_multiple_inputs_and_outputs():
    lm = echo_lm()
    q = synaplex.Input(data_model=Query)
    a = synaplex.Input(data_model=Answer)
    merged = q + a
    out = await synaplex.Generator(data_model=Answer, language_model=lm)(merged)
    program = synaplex.Program(inputs=[q, a], outputs=[merged, out])
    first, second = await program([Query(query="Q"), Answer(answer="A")])
    assert first.get_json() == {"query": "Q", "answer": "A"}
    assert second.get_json()["answer"] == '{"query": "Q", "answer": "A"}'
    with pytest.raises(InvalidInputError, match="takes 2 inputs, got 1"):
        await program([Query(query="Q")])
    # each input may be its JSON (a dict): it is one input, not a structure to flatten
    again_first, _ = await program([{"query": "Q"}, {"answer": "A"}])
    assert again_first.get_json() == {"query": "Q", "answer": "A"}


async def test_a_dict_of_inputs_is_read_by_its_keys():
    q = synaplex.Input(data_model=Query)
    a = synaplex.Input(data_model=Answer)
    merged = q + a
    program = synaplex.Program(inputs={"question": q, "draft": a}, outputs=merged)
    out = await program({"draft": {"answer": "A"}, "question": {"query": "Q"}})  # another key order
    assert out.get_json() == {"query": "Q", "answer": "A"}
    flat = await program([Query(query="Q"), Answer(answer="A")])  # or a flat list in the inputs' order
    assert flat.get_json() == out.get_json()
    with pytest.raises(InvalidInputError, match=r"takes 2 inputs, got 2 \(expected an object with the keys "
                                                r"\['draft', 'question'\], got an object with the keys "
                                                r"\['answer', 'question'\]"):
        await program({"question": {"query": "Q"}, "answer": {"answer": "A"}})


async def test_nested_program_used_as_a_module():
    inner = await build_qa(echo_lm(prefix="inner:"), name="inner")
    inputs = synaplex.Input(data_model=Query)
    out = await inner(inputs)
    outer = synaplex.Program(inputs=inputs, outputs=inputs + out, name="outer")
    result = await outer(Query(query="q"))
    assert result.get_json()["answer"].startswith("inner:")
    assert inner in outer.modules
    assert len(outer.trainable_variables) == 1


async def test_inspection_modules_get_module_variables():
    program = await build_qa(scripted())
    assert len(program.modules) == 2
    assert program.get_module(index=0) is program.modules[0]
    assert program.get_module(index=-1) is program.modules[1]
    assert program.get_module(name="generator") is program.modules[1]
    assert len(program.variables) == 1 and len(program.trainable_variables) == 1
    assert "Answer" in program.trainable_variables[0]["instructions"]
    program.get_module(name="generator").trainable = False
    assert program.trainable_variables == [] and len(program.non_trainable_variables) == 1


async def test_get_module_errors():
    program = await build_qa(scripted())
    with pytest.raises(ModuleLookupError, match="no module named 'nope'. Its modules: input, generator"):
        program.get_module(name="nope")
    with pytest.raises(ModuleLookupError, match="index=5.*2 modules"):
        program.get_module(index=5)
    with pytest.raises(InvalidInputError, match="exactly one of name= or index="):
        program.get_module()


async def test_clear_session_gives_reproducible_names():
    first = await build_qa(scripted())
    synaplex.clear_session()
    second = await build_qa(scripted())
    assert [m.name for m in first.modules] == [m.name for m in second.modules] == ["input", "generator"]
    third = await build_qa(scripted())
    assert [m.name for m in third.modules] == ["input_1", "generator_1"]


async def test_summary_prints_a_table():
    program = await build_qa(scripted())
    lines = []
    program.summary(print_fn=lines.append)
    text = lines[0]
    assert "simple_qa" in text and "Generator" in text and "Answer(answer)" in text
    assert "Query(query)" in text and "Total variables: 1 (trainable: 1" in text


async def test_predict_runs_batches_concurrently_in_input_order():
    in_flight, most = 0, 0

    async def reply(messages, schema):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        query = messages[-1]["content"]
        await asyncio.sleep(0.05 if "0" in query else 0.0)
        in_flight -= 1
        return {"answer": query}

    program = await build_qa(synaplex.LanguageModel(model="scripted", responses=reply))
    xs = [Query(query=f"q{i}") for i in range(20)]
    results = await program.predict(xs, batch_size=10)
    assert most == 10  # a batch's calls all run at once, never more than the batch
    assert [r.get_json()["answer"] for r in results] == [f'{{"query": "q{i}"}}' for i in range(20)]


async def test_predict_reports_failures_and_keeps_the_rest():
    def reply(messages, schema):
        if "bad" in messages[-1]["content"]:
            return {"wrong": 1}
        return {"answer": "ok"}

    program = await build_qa(synaplex.LanguageModel(model="scripted", responses=reply))
    xs = [Query(query="good"), Query(query="bad"), {"query": "good"}]
    with pytest.raises(PredictionError, match="1 of 3 examples failed \\(example 1: StructuredOutputError") as info:
        await program.predict(xs, batch_size=2)
    assert set(info.value.errors) == {1}
    assert info.value.outputs[0].get_json() == {"answer": "ok"}
    assert isinstance(info.value.outputs[1], synaplex.errors.StructuredOutputError)
    returned = await program.predict(xs, on_error="return")
    assert isinstance(returned[1], Exception) and returned[2].get_json() == {"answer": "ok"}
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        await program.predict(xs, batch_size=0)


async def test_predict_accepts_numpy_object_arrays():
    import numpy as np

    program = await build_qa(echo_lm())
    xs = np.array([Query(query="a"), Query(query="b")], dtype=object)
    results = await program.predict(xs)
    assert [r["answer"] for r in results] == ['{"query": "a"}', '{"query": "b"}']


# --- bad input --------------------------------------------------------------------------

async def test_wrong_data_model_type_is_rejected():
    program = await build_qa(scripted())
    with pytest.raises(DataModelTypeError, match="expects Query \\(fields: query\\) as input, got Answer"):
        await program(Answer(answer="x"))
    with pytest.raises(DataModelTypeError, match="got int"):
        await program(3)


async def test_dict_missing_a_required_field_names_it():
    program = await build_qa(scripted({"answer": "ok"}))
    with pytest.raises(InvalidInputError, match="missing required field 'query'"):
        await program({"question": "x"})
    assert (await program({"query": "x"})).get_json() == {"answer": "ok"}


async def test_disconnected_output_is_rejected():
    q = synaplex.Input(data_model=Query)
    other = synaplex.Input(data_model=Answer, name="other")
    out = await synaplex.Generator(data_model=Answer, language_model=scripted())(other)
    with pytest.raises(ProgramBuildError, match="depends on Input 'other'.*not among the program's inputs"):
        synaplex.Program(inputs=q, outputs=out)


async def test_value_not_built_from_inputs_is_disconnected():
    q = synaplex.Input(data_model=Query)
    loose = Query + Answer  # symbolic, but not produced from the program's Input
    with pytest.raises(ProgramBuildError, match="disconnected"):
        synaplex.Program(inputs=q, outputs=q + loose)


async def test_cycle_is_rejected():
    q = synaplex.Input(data_model=Query)
    a = await synaplex.Generator(data_model=Answer, language_model=scripted(), name="first")(q)
    b = await synaplex.Generator(data_model=Answer, language_model=scripted(), name="second")(a)
    a._history[0].inputs.append(b)  # wire first's input to second's output: a cycle
    with pytest.raises(ProgramBuildError, match="the graph has a cycle") as info:
        synaplex.Program(inputs=q, outputs=b)
    message = str(info.value)
    assert "first -> second" in message and "second -> first" in message


async def test_input_without_data_model_is_rejected():
    with pytest.raises(InvalidInputError, match="Input needs a data_model"):
        synaplex.Input()
    with pytest.raises(InvalidInputError, match="expects a synaplex.DataModel subclass"):
        synaplex.Input(data_model=dict)


async def test_program_needs_both_inputs_and_outputs():
    with pytest.raises(ProgramBuildError, match="pass both inputs= and outputs="):
        synaplex.Program(inputs=synaplex.Input(data_model=Query))


async def test_duplicate_module_names_are_rejected():
    q = synaplex.Input(data_model=Query)
    a = await synaplex.Generator(data_model=Answer, language_model=scripted(), name="dup")(q)
    b = await synaplex.Generator(data_model=AnswerWithRationale, language_model=scripted(), name="dup")(q)
    with pytest.raises(ProgramBuildError, match="two different modules named 'dup'"):
        synaplex.Program(inputs=q, outputs=a & b)


async def test_module_without_output_spec_gets_a_clear_error():
    class Opaque(synaplex.Module):
        async def call(self, inputs, training=False):
            return None

    with pytest.raises(ProgramBuildError, match="returned None while the program was built.*compute_output_spec"):
        await Opaque()(synaplex.Input(data_model=Query))


async def test_module_that_reads_values_while_tracing_gets_a_clear_error():
    class ReadsValue(synaplex.Module):
        async def call(self, inputs, training=False):
            return Answer(answer=inputs.get_json()["query"]).to_json_data_model()

    with pytest.raises(ProgramBuildError, match="raised DataModelTypeError.*while the program was built"):
        await ReadsValue()(synaplex.Input(data_model=Query))


async def test_errors_inside_a_parallel_graph_propagate_and_cancel_siblings():
    log = []

    class Boom(synaplex.Module):
        async def call(self, inputs, training=False) -> Answer:
            raise RuntimeError("boom")

    q = synaplex.Input(data_model=Query)
    slow = await Sleep(0.5, log, name="slow")(q)
    program = synaplex.Program(inputs=q, outputs=slow & await Boom()(q))
    with pytest.raises(RuntimeError, match="boom"):
        await program(Query(query="x"))
    await asyncio.sleep(0)
    assert ("end", "slow") not in log
