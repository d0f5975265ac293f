import pytest

import synaplex
from synaplex.errors import DataModelTypeError, InvalidInputError
from tests.conftest import Answer, AnswerWithRationale, Query

q = Query(query="q?")
a = Answer(answer="A")


def test_concat_merges_fields_in_order():
    out = q + a
    assert out.get_json() == {"query": "q?", "answer": "A"}
    assert list(out.get_schema()["properties"]) == ["query", "answer"]
    assert out.get_schema()["required"] == ["query", "answer"]


def test_concat_with_none_names_both_operands():
    with pytest.raises(InvalidInputError) as info:
        q.to_json_data_model() + None
    message = str(info.value)
    assert "JsonDataModel(Query)" in message and "None" in message and "second operand" in message
    with pytest.raises(InvalidInputError, match="first operand is None"):
        None + q


def test_colliding_fields_are_renamed_deterministically():
    out = a + Answer(answer="B") + Answer(answer="C")
    assert out.get_json() == {"answer": "A", "answer_1": "B", "answer_2": "C"}
    again = a + Answer(answer="B") + Answer(answer="C")
    assert again.get_schema() == out.get_schema()


def test_and_is_none_when_either_is_none():
    assert (q & None) is None
    assert (None & q) is None
    assert (q & a).get_json() == {"query": "q?", "answer": "A"}


def test_or_returns_the_present_one_or_merges():
    assert (None | a).get_json() == {"answer": "A"}
    assert (a | None).get_json() == {"answer": "A"}
    assert (q | a).get_json() == {"query": "q?", "answer": "A"}
    j = a.to_json_data_model()
    assert (j | None) is j


def test_xor_returns_the_single_present_one():
    assert (a ^ None).get_json() == {"answer": "A"}
    assert (None ^ a).get_json() == {"answer": "A"}
    assert (a ^ q) is None
    assert synaplex.ops.logical_xor(None, None) is None


def test_not_is_always_none_at_run_time():
    assert (~a) is None


def test_contains_is_schema_containment():
    assert Query in (Query + Answer)
    assert Query not in Answer
    assert Answer in (q + a)
    assert AnswerWithRationale not in (q + a)
    assert (Query + Answer) in (Query + Answer + AnswerWithRationale)
    assert Query in Query


def test_class_level_concat_is_symbolic():
    sym = Query + Answer
    assert isinstance(sym, synaplex.SymbolicDataModel)
    assert list(sym.get_schema()["properties"]) == ["query", "answer"]


@pytest.mark.parametrize("op", ["+", "&", "|", "^"])
def test_operator_with_non_data_model_is_a_type_error(op):
    with pytest.raises(DataModelTypeError, match="Unsupported operand") as info:
        eval(f"q {op} 3")
    assert "int 3" in str(info.value)
    with pytest.raises(DataModelTypeError, match="Unsupported operand"):
        eval(f"'text' {op} q")


def test_masks_keep_or_drop_fields():
    both = AnswerWithRationale(rationale="because", answer="A")
    kept = both.in_mask(mask=["answer"])
    assert kept.get_json() == {"answer": "A"}
    assert list(kept.get_schema()["properties"]) == ["answer"]
    dropped = both.out_mask(mask=["answer"])
    assert dropped.get_json() == {"rationale": "because"}
    with pytest.raises(InvalidInputError, match="mask"):
        both.in_mask(mask="answer")


def test_masks_reach_nested_objects():
    class Inner(synaplex.DataModel):
        answer: str
        noise: str

    class Outer(synaplex.DataModel):
        inner: Inner
        answer: str

    value = Outer(inner=Inner(answer="x", noise="n"), answer="y")
    assert value.in_mask(mask=["answer"]).get_json() == {"inner": {"answer": "x"}, "answer": "y"}
    assert value.out_mask(mask=["answer"]).get_json() == {"inner": {"noise": "n"}}
    assert value.in_mask(mask=["answer"], recursive=False).get_json() == {"answer": "y"}


async def test_module_twins_match_the_operators():
    j1, j2 = q.to_json_data_model(), a.to_json_data_model()
    assert (await synaplex.Concat()([j1, j2])).get_json() == (j1 + j2).get_json()
    assert await synaplex.And()([j1, None]) is None
    assert (await synaplex.And()([j1, j2, j2])).get_json() == {"query": "q?", "answer": "A", "answer_1": "A"}
    assert (await synaplex.Or()([None, j2, None])).get_json() == {"answer": "A"}
    assert await synaplex.Or()([None, None]) is None
    assert (await synaplex.Xor()([None, j2])).get_json() == {"answer": "A"}
    assert await synaplex.Xor()([j1, j2]) is None
    assert await synaplex.Not()(j1) is None
    assert (await synaplex.InMask(mask=["answer"])(j1 + j2)).get_json() == {"answer": "A"}
    assert (await synaplex.OutMask(mask=["answer"])(j1 + j2)).get_json() == {"query": "q?"}
    with pytest.raises(InvalidInputError, match="input\\(s\\) at position \\[1\\] are None"):
        await synaplex.Concat()([j1, None])
    with pytest.raises(InvalidInputError, match="takes a list of inputs"):
        await synaplex.And()(j1)


async def test_operators_on_symbolic_record_nodes():
    inputs = synaplex.Input(data_model=Query)
    merged = inputs + inputs
    assert list(merged.get_schema()["properties"]) == ["query", "query_1"]
    node = merged._history[0]
    assert isinstance(node.module, synaplex.Concat)
    assert node.inputs == [inputs, inputs]
    assert isinstance((~inputs)._history[0].module, synaplex.Not)
    assert isinstance((inputs ^ inputs)._history[0].module, synaplex.Xor)
