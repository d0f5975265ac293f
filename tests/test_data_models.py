import json

import pytest

import synaplex
from synaplex.errors import DataModelTypeError, InvalidInputError
from tests.conftest import Answer, Query


def test_schema_is_cached_per_class_and_describes_fields():
    schema = Query.get_schema()
    assert schema is Query.get_schema()
    assert schema["properties"]["query"]["description"] == "The user query"
    assert schema["required"] == ["query"]
    assert Answer.get_schema() is not schema


def test_get_json_and_prettify():
    q = Query(query="Où est Paris?")
    assert q.get_json() == {"query": "Où est Paris?"}
    assert json.loads(q.prettify_json()) == {"query": "Où est Paris?"}
    assert "Où" in q.prettify_json()  # not ascii-escaped


def test_json_data_model_carries_value_and_schema():
    jdm = Query(query="hi").to_json_data_model()
    assert isinstance(jdm, synaplex.JsonDataModel)
    assert jdm.get_json() == {"query": "hi"}
    assert jdm.get_schema() is Query.get_schema()
    assert jdm["query"] == "hi" and jdm.get("missing", 3) == 3
    assert "query" in jdm and "nope" not in jdm
    assert jdm == {"query": "hi"}


def test_symbolic_data_model_has_schema_but_no_value():
    sym = Query.to_symbolic_data_model()
    assert sym.get_schema() is Query.get_schema()
    assert sym.data_model is Query
    with pytest.raises(DataModelTypeError, match="no value"):
        sym.get_json()


def test_json_data_model_requires_a_schema():
    with pytest.raises(InvalidInputError, match="needs a schema"):
        synaplex.JsonDataModel(json={"a": 1})


def test_chat_messages_with_tool_calls_round_trip():
    messages = synaplex.ChatMessages(messages=[
        synaplex.ChatMessage(role="user", content="add 2 and 3"),
        synaplex.ChatMessage(role=synaplex.ChatRole.ASSISTANT, content="",
                             tool_calls=[synaplex.ToolCall(id="c1", name="add", arguments={"a": 2, "b": 3})]),
        synaplex.ChatMessage(role="tool", content="5", tool_call_id="c1"),
    ])
    value = messages.get_json()
    assert value["messages"][1]["role"] == "assistant"
    assert value["messages"][1]["tool_calls"][0] == {"id": "c1", "name": "add", "arguments": {"a": 2, "b": 3}}
    assert synaplex.ChatMessages.model_validate(value) == messages


def test_builtin_models_exist_with_expected_fields():
    assert "embedding" in synaplex.Embedding.get_schema()["properties"]
    assert "embeddings" in synaplex.Embeddings.get_schema()["properties"]
    assert synaplex.Instructions(instructions="x").get_json() == {"instructions": "x"}


def test_annotation_union_with_none_still_works_on_data_model_classes():
    class Maybe(synaplex.DataModel):
        answer: Answer | None = None

    assert Maybe().answer is None
    assert Maybe(answer={"answer": "a"}).answer.answer == "a"
