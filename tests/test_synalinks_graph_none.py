"""A None input flows into a program's graph (as in Synalinks), and Not takes any structure."""

import pytest

import synaplex
from synaplex.errors import InvalidInputError
from tests.conftest import Answer, Query


class Context(synaplex.DataModel):
    context: str


def scripted(replies=()):
    return synaplex.LanguageModel(model="scripted", responses=list(replies))


async def three_inputs():
    return (synaplex.Input(data_model=Query), synaplex.Input(data_model=Answer),
            synaplex.Input(data_model=Context))


async def test_or_sees_the_none_inputs_of_a_program_as_it_does_alone():
    a, b, c = await three_inputs()
    program = synaplex.Program(inputs=[a, b, c], outputs=await synaplex.Or()([a, b, c]))
    answer = Answer(answer="Paris")
    alone = await synaplex.Or()([None, answer, None])
    assert alone.get_json() == {"answer": "Paris"}
    result = await program([None, answer, None])
    assert result is not None and result.get_json() == {"answer": "Paris"}
    assert (await program([Query(query="q"), None, Context(context="c")])).get_json() == {"query": "q", "context": "c"}
    assert await program([None, None, None]) is None


async def test_and_gives_none_when_an_input_is_none_and_the_merge_otherwise():
    a, b, c = await three_inputs()
    program = synaplex.Program(inputs=[a, b, c], outputs=await synaplex.And()([a, b, c]))
    assert await program([None, Answer(answer="x"), None]) is None
    full = await program([Query(query="q"), Answer(answer="x"), Context(context="c")])
    assert full.get_json() == {"query": "q", "answer": "x", "context": "c"}


async def test_xor_in_a_program_gives_the_single_present_input():
    a, b = synaplex.Input(data_model=Query), synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=[a, b], outputs=await synaplex.Xor()([a, b]))
    assert (await program([None, Query(query="second")])).get_json() == {"query": "second"}
    assert await program([Query(query="1"), Query(query="2")]) is None


async def test_a_generator_fed_none_is_skipped_and_never_calls_its_model_while_its_sibling_runs():
    lm = scripted([{"answer": "from the query"}])
    query, context = synaplex.Input(data_model=Query), synaplex.Input(data_model=Context)
    from_query = await synaplex.Generator(data_model=Answer, language_model=lm, name="from_query")(query)
    from_context = await synaplex.Generator(data_model=Answer, language_model=lm, name="from_context")(context)
    program = synaplex.Program(inputs=[query, context], outputs=await synaplex.Or()([from_query, from_context]))
    result = await program([Query(query="q"), None])
    assert result.get_json() == {"answer": "from the query"}
    assert len(lm.requests) == 1 and "q" in lm.requests[0]["messages"][-1]["content"]
    assert await program([None, None]) is None
    assert len(lm.requests) == 1  # neither generator ran


async def test_a_single_input_program_given_none_runs_its_graph():
    lm = scripted([])
    x = synaplex.Input(data_model=Query)
    generated = await synaplex.Generator(data_model=Answer, language_model=lm)(x)
    fallback = await synaplex.Identity()(await synaplex.Not()(x))
    program = synaplex.Program(inputs=x, outputs=await synaplex.Or()([generated, fallback]))
    assert await program(None) is None
    assert lm.requests == []


async def test_a_sequential_given_none_gives_none_without_calling_its_model():
    lm = scripted([])
    program = synaplex.Sequential([synaplex.Input(data_model=Query),
                                   synaplex.Generator(data_model=Answer, language_model=lm)])
    assert await program(None) is None
    assert lm.requests == []


async def test_a_nested_program_passes_none_on_to_its_graph():
    a, b = synaplex.Input(data_model=Query), synaplex.Input(data_model=Answer)
    inner = synaplex.Program(inputs=[a, b], outputs=await synaplex.Or()([a, b]), name="inner")
    x, y = synaplex.Input(data_model=Query), synaplex.Input(data_model=Answer)
    outer = synaplex.Program(inputs=[x, y], outputs=await inner([x, y]), name="outer")
    assert (await outer([None, Answer(answer="kept")])).get_json() == {"answer": "kept"}


async def test_a_subclassed_program_without_a_graph_is_still_skipped_on_none():
    calls = []

    class Echo(synaplex.Program):
        async def call(self, inputs, training=False):
            calls.append(inputs)
            return inputs

    assert await Echo()(None) is None
    assert calls == []

    class SeesNone(synaplex.Program):
        handles_none = True

        async def call(self, inputs, training=False):
            calls.append(inputs)
            return Answer(answer="no input" if inputs is None else "input")

    assert (await SeesNone()(None)).get_json() == {"answer": "no input"}
    assert calls == [None]


async def test_a_program_still_checks_how_many_inputs_it_is_given():
    a, b, c = await three_inputs()
    program = synaplex.Program(inputs=[a, b, c], outputs=await synaplex.Or()([a, b, c]), name="three")
    with pytest.raises(InvalidInputError, match="Program 'three' takes 3 inputs, got 2"):
        await program([None, Answer(answer="x")])


# --- Not takes any structure, as Identity does ---------------------------------------------

async def test_not_given_a_dict_gives_a_dict_of_none():
    q, a = Query(query="q"), Answer(answer="a")
    assert await synaplex.Not()({"q": q, "a": a}) == {"q": None, "a": None}
    assert await synaplex.Not()([q, a]) == [None, None]
    assert await synaplex.Not()(q) is None


async def test_not_in_a_program_on_a_dict_keeps_the_structure():
    x, y = synaplex.Input(data_model=Query), synaplex.Input(data_model=Answer)
    symbolic = await synaplex.Not()({"q": x, "a": y})
    assert set(symbolic) == {"q", "a"}
    assert symbolic["q"].get_schema() == Query.get_schema() and symbolic["q"] is not x
    program = synaplex.Program(inputs=[x, y], outputs=symbolic)
    assert await program([Query(query="q"), Answer(answer="a")]) == {"q": None, "a": None}


async def test_identity_given_a_dict_of_data_models_gives_json_data_models():
    out = await synaplex.Identity()({"q": Query(query="q")})
    assert isinstance(out["q"], synaplex.JsonDataModel) and out["q"].get_json() == {"query": "q"}
