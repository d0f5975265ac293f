"""``synaplex.ops`` works both ways: synchronously, and awaited as Synalinks' ops are."""

import pytest

import synaplex
from synaplex.errors import DataModelTypeError, InvalidInputError
from tests.conftest import Answer, Query

ops = synaplex.ops
q, a = Query(query="q"), Answer(answer="a")


def test_the_ops_stay_synchronous():
    assert ops.concat(q, a).get_json() == {"query": "q", "answer": "a"}
    assert ops.logical_and(q, None) is None
    assert ops.logical_or(None, a).get_json() == {"answer": "a"}
    assert ops.logical_xor(q, a) is None
    assert ops.logical_not(q) is None
    assert ops.contains(q + a, a) is True
    assert ops.in_mask(q + a, mask=["answer"]).get_json() == {"answer": "a"}
    assert ops.out_mask(q + a, ["answer"]).get_json() == {"query": "q"}
    stored = ops.logical_and(q, None)
    assert stored is None


async def test_the_ops_can_be_awaited_on_values_as_in_synalinks():
    assert (await ops.concat(q, a)).get_json() == {"query": "q", "answer": "a"}
    assert (await ops.concat(q, a, name="qa", description="both")).get_json() == {"query": "q", "answer": "a"}
    assert (await ops.logical_and(q, a)).get_json() == {"query": "q", "answer": "a"}
    assert await ops.logical_and(q, None) is None
    assert await ops.logical_and(None, a, name="n") is None
    assert (await ops.logical_or(None, a)).get_json() == {"answer": "a"}
    assert await ops.logical_or(None, None) is None
    assert (await ops.logical_xor(None, a)).get_json() == {"answer": "a"}
    assert await ops.logical_xor(q, a) is None
    assert await ops.logical_not(q) is None
    assert await ops.contains(q + a, q) is True
    assert await ops.contains(q, a) is False
    assert (await ops.in_mask(q + a, mask=["query"])).get_json() == {"query": "q"}
    assert (await ops.out_mask(q + a, mask=["query"])).get_json() == {"answer": "a"}
    assert await ops.in_mask(None, mask=["query"]) is None


async def test_awaited_none_results_inside_expressions_and_loops():
    results = [await ops.logical_and(q, None) for _ in range(3)]
    assert results == [None, None, None]
    assert (await ops.logical_xor(None, None)) is None and (await ops.logical_or(q, None)).get_json() == {"query": "q"}


async def test_a_value_result_may_be_awaited_later():
    pending = ops.concat(q, a)
    assert (await pending).get_json() == {"query": "q", "answer": "a"}
    value = q.to_json_data_model()
    assert await value is value


async def test_the_ops_can_be_awaited_while_a_program_is_built():
    x, y = synaplex.Input(data_model=Query), synaplex.Input(data_model=Answer)
    both = await ops.concat(x, y, name="both")
    either = await ops.logical_or(x, y)
    masked = await ops.out_mask(both, mask=["query"])
    assert isinstance(both, synaplex.SymbolicDataModel) and both._history[0].module.name == "both"
    assert list(masked.get_schema()["properties"]) == ["answer"]
    assert await ops.logical_not(x) is not None  # symbolic: the same schema, not None
    program = synaplex.Program(inputs=[x, y], outputs=[both, either, masked])
    out = await program([q, a])
    assert [o.get_json() for o in out] == [{"query": "q", "answer": "a"}, {"query": "q", "answer": "a"},
                                           {"answer": "a"}]
    symbolic = Query.to_symbolic_data_model()
    assert await symbolic is symbolic


async def test_the_operators_are_unchanged():
    assert (q + a).get_json() == {"query": "q", "answer": "a"}
    assert (q & None) is None
    assert (None | a).get_json() == {"answer": "a"}
    x = synaplex.Input(data_model=Query)
    assert isinstance(x + Answer, synaplex.SymbolicDataModel)


async def test_bad_operands_and_masks_raise_typed_errors_awaited_or_not():
    with pytest.raises(DataModelTypeError, match="Unsupported operand for '\\+'"):
        await ops.concat(q, {"answer": "a"})
    with pytest.raises(InvalidInputError, match="second operand is None"):
        ops.concat(q, None)
    with pytest.raises(InvalidInputError, match="InMask expects mask=\\[field names\\]"):
        await ops.in_mask(q, mask="query")
    with pytest.raises(InvalidInputError, match="OutMask expects mask=\\[field names\\].*got None"):
        ops.out_mask(q)
    with pytest.raises(InvalidInputError, match="needs mask=\\[field names"):
        ops.out_mask(q, mask=[])


def test_the_description_is_kept_on_the_recorded_module():
    x = synaplex.Input(data_model=Query)
    out = ops.logical_and(x, Answer, name="joined", description="query and answer")
    module = out._history[0].module
    assert (module.name, module.description) == ("joined", "query and answer")
