"""DataModels are strict, as in Synalinks: unknown fields raise, and schemas say so."""

import json

import pydantic
import pytest

import synaplex
from synaplex.data import schema as schema_lib
from synaplex.errors import InvalidInputError
from synaplex.lm.gemini_schema import to_gemini_schema
from synaplex.lm.schemas import to_openai_strict
from synaplex.lm.validation import validation_errors
from synaplex.serialization import deserialize_data_model, serialize_data_model
from tests.conftest import Answer, Query
from tests.reply_fns import constant_answer


class Address(synaplex.DataModel):
    city: str


class Person(synaplex.DataModel):
    name: str
    address: Address


class Loose(synaplex.DataModel):
    model_config = pydantic.ConfigDict(extra="allow")
    name: str


def test_an_unknown_field_raises_a_validation_error_that_names_it():
    with pytest.raises(pydantic.ValidationError) as info:
        Query(query="x", extra=1)
    assert [e["loc"] for e in info.value.errors()] == [("extra",)]
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    assert "extra" in str(info.value)


def test_an_unknown_nested_field_raises_too():
    with pytest.raises(pydantic.ValidationError) as info:
        Person(name="Ada", address={"city": "London", "zip": "N1"})
    assert [e["loc"] for e in info.value.errors()] == [("address", "zip")]


def test_validate_json_names_the_unknown_field_and_says_what_to_do():
    with pytest.raises(InvalidInputError) as info:
        Query.validate_json({"query": "x", "colour": "red"}, "Program 'qa': invalid Query input")
    message = str(info.value)
    assert message.startswith("Program 'qa': invalid Query input: unknown field 'colour'")
    assert "'red'" in message and "declare it in the DataModel" in message


def test_the_schema_is_closed_at_every_level():
    schema = Person.get_schema()
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Address"]["additionalProperties"] is False
    assert validation_errors({"name": "Ada", "address": {"city": "L"}, "age": 3}, schema) != []
    assert validation_errors({"name": "Ada", "address": {"city": "L"}}, schema) == []


def test_a_subclass_may_open_itself_again():
    value = Loose(name="n", extra=1)
    assert value.get_json() == {"name": "n", "extra": 1}
    assert Loose.get_schema()["additionalProperties"] is True


async def test_a_program_input_with_an_unknown_field_is_rejected_with_its_name():
    x = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=x, outputs=await synaplex.Identity()(x), name="echo")
    assert (await program({"query": "q"})).get_json() == {"query": "q"}
    with pytest.raises(InvalidInputError, match="Program 'echo': invalid Query input: unknown field 'lang'"):
        await program({"query": "q", "lang": "fr"})


def test_a_variable_rejects_an_unknown_field():
    variable = synaplex.Variable(initializer=Answer(answer="a"))
    with pytest.raises(InvalidInputError, match="unknown field 'score'"):
        variable.assign({"answer": "b", "score": 1})
    assert variable.get_json() == {"answer": "a"}


def test_operators_on_strict_values_give_closed_schemas_that_validate_their_values():
    q, a = Query(query="q"), Answer(answer="a")
    for out in (q + a, q & a, q | a, (q + a).in_mask(["answer"]), (q + a).out_mask(["answer"])):
        assert out.get_schema()["additionalProperties"] is False
        assert validation_errors(out.get_json(), out.get_schema()) == []
    assert validation_errors({"query": "q", "answer": "a", "other": 1}, (q + a).get_schema()) != []
    assert synaplex.ops.concat(q, Answer(answer="b") + a).get_json() == {"query": "q", "answer": "b", "answer_1": "a"}


def test_symbolic_operators_give_closed_schemas():
    out = Query + Answer
    assert out.get_schema()["additionalProperties"] is False
    assert (Query & Answer).get_schema()["additionalProperties"] is False
    assert Query.to_symbolic_data_model().in_mask(["query"]).get_schema()["additionalProperties"] is False


def test_concatenating_an_open_schema_gives_an_open_one():
    open_value = synaplex.JsonDataModel(json={"note": "n"}, schema={
        "type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]})
    out = Query(query="q") + open_value
    assert "additionalProperties" not in out.get_schema()
    assert out.get_json() == {"query": "q", "note": "n"}


def test_containment_ignores_closedness_but_not_types():
    old_person = {"type": "object", "title": "Person", "required": ["name", "address"],
                  "properties": {"name": {"type": "string"},
                                 "address": {"$ref": "#/$defs/Address"}},
                  "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}},
                                        "required": ["city"]}}}
    assert schema_lib.contains(Person.get_schema(), old_person)
    assert schema_lib.same_fields(Person.get_schema(), old_person)
    typed = {"type": "object", "properties": {"address": {"type": "object", "additionalProperties": {"type": "integer"},
                                                          "properties": {"city": {"type": "string"}}}}}
    assert not schema_lib.contains(Person.get_schema(), typed)


def test_containment_compares_a_nested_field_called_title():
    class Book(synaplex.DataModel):
        title: str

    class Shelf(synaplex.DataModel):
        book: Book

    class OtherBook(synaplex.DataModel):
        title: int

    class OtherShelf(synaplex.DataModel):
        book: OtherBook

    assert schema_lib.contains(Shelf.get_schema(), Shelf.get_schema())
    assert not schema_lib.contains(Shelf.get_schema(), OtherShelf.get_schema())


def test_a_schema_saved_before_models_were_strict_still_names_its_class():
    saved = serialize_data_model(Person, Person.get_schema())
    saved["schema"] = {k: v for k, v in Person.get_schema().items() if k != "additionalProperties"}
    saved["schema"]["$defs"] = {"Address": {k: v for k, v in Person.get_schema()["$defs"]["Address"].items()
                                            if k != "additionalProperties"}}
    data_model, schema = deserialize_data_model(dict(saved))
    assert data_model is Person and schema == saved["schema"]
    saved["schema"]["properties"] = {"name": {"type": "integer"}}
    assert deserialize_data_model(dict(saved))[0] is None


def test_provider_schemas_stay_right_with_strict_models():
    strict = to_openai_strict(Person.get_schema())
    assert strict["additionalProperties"] is False and strict["$defs"]["Address"]["additionalProperties"] is False
    gemini = to_gemini_schema(Person.get_schema())
    assert "additionalProperties" not in str(gemini)
    assert gemini["properties"]["address"]["properties"]["city"]["type"].lower() == "string"


def test_a_tool_call_keeps_its_unusable_arguments_and_drops_them_when_unset():
    call = synaplex.ToolCall(id="c1", name="f", arguments_raw='{"a": ', arguments_error="not valid JSON")
    assert call.get_json() == {"id": "c1", "name": "f", "arguments": {}, "arguments_raw": '{"a": ',
                               "arguments_error": "not valid JSON"}
    assert synaplex.ToolCall(id="c2", name="f").get_json() == {"id": "c2", "name": "f", "arguments": {}}
    messages = synaplex.ChatMessages(messages=[{"role": "assistant", "content": "", "tool_calls": [call.get_json()]}])
    assert messages.get_json()["messages"][0]["tool_calls"][0]["arguments_error"] == "not valid JSON"
    with pytest.raises(pydantic.ValidationError, match="arguments_text"):
        synaplex.ToolCall(id="c3", name="f", arguments_text="{}")


def _open_schemas(node):
    """A saved file as synaplex wrote it before DataModels were strict: no additionalProperties false."""
    if isinstance(node, dict):
        return {k: _open_schemas(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(node, list):
        return [_open_schemas(v) for v in node]
    return node


async def test_a_program_saved_before_models_were_strict_loads_and_runs(tmp_path):
    lm = synaplex.LanguageModel(model="scripted", responses=constant_answer)
    x = synaplex.Input(data_model=Person)
    program = synaplex.Program(inputs=x, outputs=await synaplex.Generator(data_model=Answer, language_model=lm)(x),
                               name="old")
    program.save(tmp_path / "new.json")
    data = json.loads((tmp_path / "new.json").read_text())
    old = _open_schemas(data)
    assert "additionalProperties" not in json.dumps(old) and "additionalProperties" in json.dumps(data)
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = synaplex.Program.load(tmp_path / "old.json", allow=("imports",))
    input_module = loaded.get_module(index=0)
    assert input_module.data_model is Person and input_module.schema["additionalProperties"] is False
    assert loaded.get_module(name="generator").data_model is Answer
    person = Person(name="Ada", address=Address(city="London"))
    assert (await loaded(person)).get_json() == {"answer": "from an importable callable"}
    with pytest.raises(InvalidInputError, match="unknown field 'address.zip'"):
        await loaded({"name": "Ada", "address": {"city": "London", "zip": "N1"}})

    # the class is gone (renamed since): the saved schema alone still takes a Person
    old["program"]["config"]["modules"][0]["config"]["data_model"] = "nowhere:Person"
    (tmp_path / "gone.json").write_text(json.dumps(old))
    gone = synaplex.Program.load(tmp_path / "gone.json", allow=("imports",))
    assert gone.get_module(index=0).data_model is None
    assert (await gone(person)).get_json() == {"answer": "from an importable callable"}
