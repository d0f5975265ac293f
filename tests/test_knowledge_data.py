"""synaplex.Entity, Relation, Entities, Relations, KnowledgeGraph, Document (issue 13, data)."""

from typing import Literal

import pydantic
import pytest

import synaplex
from synaplex.data.knowledge import KnowledgeSchemaError, endpoint_models, entity_label, primary_key


class City(synaplex.Entity):
    label: Literal["City"]
    name: str = synaplex.Field(description="The name of the city")


class Country(synaplex.Entity):
    label: Literal["Country"]
    name: str = synaplex.Field(description="The name of the country")


class IsCapitalOf(synaplex.Relation):
    subj: City
    label: Literal["IsCapitalOf"]
    obj: Country


class Person(synaplex.Entity):
    __primary_key__ = "email"
    label: Literal["Person"]
    name: str
    email: str


def test_label_is_filled_from_the_literal_and_checked():
    assert City(name="Paris").get_json() == {"label": "City", "name": "Paris"}
    assert City(label="City", name="Paris") == City(name="Paris")
    with pytest.raises(pydantic.ValidationError, match="City"):
        City(label="Country", name="Paris")
    relation = IsCapitalOf(subj={"name": "Paris"}, obj=Country(name="France"))
    assert relation.get_json() == {"subj": {"label": "City", "name": "Paris"}, "label": "IsCapitalOf",
                                   "obj": {"label": "Country", "name": "France"}}


def test_schema_requires_the_label_as_a_constant():
    schema = City.get_schema()
    assert schema["properties"]["label"]["const"] == "City"
    assert schema["required"] == ["label", "name"]


def test_primary_key_is_the_first_field_after_label_unless_declared():
    assert primary_key(City) == "name"
    assert primary_key(Person) == "email"
    assert primary_key(synaplex.Document) == "id"

    class Broken(synaplex.Entity):
        __primary_key__ = "nope"
        label: Literal["Broken"]
        name: str

    with pytest.raises(KnowledgeSchemaError, match=r"Broken.__primary_key__ names 'nope'.*\['name'\]"):
        primary_key(Broken)


def test_entity_model_without_a_label_is_a_clear_error():
    class Thing(synaplex.Entity):
        name: str

    with pytest.raises(KnowledgeSchemaError) as caught:
        entity_label(Thing)
    assert "Thing has no label" in str(caught.value)
    assert "label: Literal['Thing']" in str(caught.value)
    assert isinstance(caught.value, synaplex.errors.InvalidInputError)


def test_relation_endpoints_may_be_a_union():
    class LocatedIn(synaplex.Relation):
        subj: City | Country
        label: Literal["LocatedIn"]
        obj: Country

    assert endpoint_models(LocatedIn, "subj") == (City, Country)
    assert endpoint_models(IsCapitalOf, "obj") == (Country,)


def test_typed_graph_for_extraction_validates_each_member():
    Graph = synaplex.KnowledgeGraph.of([City, Country], [IsCapitalOf])
    graph = Graph.model_validate({
        "entities": [{"label": "City", "name": "Paris"}, {"label": "Country", "name": "France"}],
        "relations": [{"subj": {"label": "City", "name": "Paris"}, "label": "IsCapitalOf",
                       "obj": {"label": "Country", "name": "France"}}]})
    assert [type(e) for e in graph.entities] == [City, Country]
    assert isinstance(graph.relations[0], IsCapitalOf)
    with pytest.raises(pydantic.ValidationError, match="Planet"):
        Graph.model_validate({"entities": [{"label": "Planet", "name": "Mars"}], "relations": []})
    schema = Graph.get_schema()
    assert set(schema["$defs"]) == {"City", "Country", "IsCapitalOf"}
    assert issubclass(Graph, synaplex.KnowledgeGraph)


def test_entities_and_relations_of():
    Cities = synaplex.Entities.of(City)
    assert Cities(entities=[{"name": "Rome"}]).entities[0] == City(name="Rome")
    Capitals = synaplex.Relations.of(IsCapitalOf)
    assert Capitals.model_validate({"relations": [{"subj": {"name": "Rome"}, "obj": {"name": "Italy"}}]}).relations
    with pytest.raises(KnowledgeSchemaError, match="not a synaplex.Entity subclass"):
        synaplex.Entities.of(synaplex.Document)
    with pytest.raises(KnowledgeSchemaError, match="at least one Relation model"):
        synaplex.Relations.of()


async def test_a_generator_extracts_a_typed_graph_with_the_scripted_model():
    Graph = synaplex.KnowledgeGraph.of([City, Country], [IsCapitalOf])

    class Text(synaplex.DataModel):
        text: str

    reply = {"entities": [{"label": "City", "name": "Rome"}, {"label": "Country", "name": "Italy"}],
             "relations": [{"subj": {"label": "City", "name": "Rome"}, "label": "IsCapitalOf",
                            "obj": {"label": "Country", "name": "Italy"}}]}
    lm = synaplex.LanguageModel(model="scripted", responses=[reply])
    out = await synaplex.Generator(data_model=Graph, language_model=lm)(Text(text="Rome is Italy's capital."))
    assert out.get_json() == reply
    assert lm.requests[0]["schema"] == Graph.get_schema()
