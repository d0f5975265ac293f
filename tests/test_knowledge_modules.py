"""UpdateKnowledge, EmbedKnowledge, EntityRetriever, TripletRetriever, RetrieveKnowledge and
ReciprocalRankFusion (issue 13): with the scripted LM and a real SQLite file."""

import json

import pytest

import synaplex
from synaplex.knowledge.knowledge_base import KnowledgeBase, redact_uri
from tests.knowledge_models import ENTITIES, FACTS, RELATIONS, City, Country, IsCapitalOf


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Text(synaplex.DataModel):
    text: str = synaplex.Field(description="A paragraph")


@pytest.fixture(scope="module")
def postgres():
    from tests.knowledge_servers import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def kb(request, tmp_path):
    """The modules on each store: a fresh SQLite file, or a fresh database on a real PostgreSQL server."""
    uri = request.getfixturevalue("postgres").new_database() if request.param == "postgres" else \
        f"sqlite:///{tmp_path / 'kb.db'}"
    knowledge_base = KnowledgeBase(uri=uri, entity_models=ENTITIES,
                                   relation_models=RELATIONS, data_models=[synaplex.Document],
                                   embedding_model=synaplex.EmbeddingModel(model="scripted"))
    await knowledge_base.update(FACTS)
    yield knowledge_base
    knowledge_base.close()


def scripted(replies):
    return synaplex.LanguageModel(model="scripted", responses=replies)


# --- writing ---------------------------------------------------------------------------------


async def test_extract_then_update_the_same_entity_twice_is_one_node(tmp_path):
    kb = KnowledgeBase(uri=f"sqlite:///{tmp_path / 'kb.db'}", entity_models=ENTITIES, relation_models=RELATIONS,
                       embedding_model=synaplex.EmbeddingModel(model="scripted"))
    Graph = synaplex.KnowledgeGraph.of(ENTITIES, RELATIONS)
    first = {"entities": [{"label": "City", "name": "Paris", "description": ""},
                          {"label": "Country", "name": "France"}],
             "relations": [{"subj": {"label": "City", "name": "Paris", "description": ""}, "label": "IsCapitalOf",
                            "obj": {"label": "Country", "name": "France"}}]}
    second = {"entities": [{"label": "City", "name": "Paris", "description": "the Louvre"},
                           {"label": "City", "name": "Lyon", "description": ""}],
              "relations": [{"subj": {"label": "City", "name": "Lyon", "description": ""}, "label": "IsLocatedIn",
                             "obj": {"label": "Country", "name": "France"}}]}
    inputs = synaplex.Input(data_model=Text)
    graph = await synaplex.Generator(data_model=Graph, language_model=scripted([first, second]))(inputs)
    outputs = await synaplex.UpdateKnowledge(knowledge_base=kb)(graph)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    assert (await program(Text(text="Paris is the capital of France."))).get_json() == first
    await program(Text(text="Paris has the Louvre; Lyon is in France too."))
    assert await kb.count() == {"entities": 3, "relations": 2, "documents": 0, "chunks": 0}
    assert (await kb.get("City", "Paris"))["description"] == "the Louvre"
    assert [n["key"] for n in await kb.neighbours("Country", "France")] == ["Paris", "Lyon"]
    kb.close()


async def test_embed_knowledge_vectors_are_the_ones_stored(tmp_path):
    kb = KnowledgeBase(uri=f"sqlite:///{tmp_path / 'kb.db'}", entity_models=[City, Country])

    def vectors(texts):
        return [[1.0, 0.0, 0.0, 0.0] if "Paris" in t else [0.0, 1.0, 0.0, 0.0] for t in texts]

    em = synaplex.EmbeddingModel(model="scripted", responses=vectors)
    graph = synaplex.Entities.of(City, Country)(entities=[City(name="Paris"), Country(name="France")])
    embedded = await synaplex.EmbedKnowledge(embedding_model=em)(graph)
    assert [e["embedding"] for e in embedded.get("entities")] == [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    assert em.requests == [["Paris", "France"]]
    await synaplex.UpdateKnowledge(knowledge_base=kb)(embedded)
    rows = await kb.query("SELECT n.key, vec_to_json(v.embedding) AS v FROM nodes_vec v JOIN nodes n "
                          "ON n.id = v.node_id ORDER BY n.key")
    assert [(r["key"], json.loads(r["v"])) for r in rows] == [("France", [0.0, 1.0, 0.0, 0.0]),
                                                            ("Paris", [1.0, 0.0, 0.0, 0.0])]
    assert "embedding" not in await kb.get("City", "Paris")
    kb.close()


# --- retrieving ------------------------------------------------------------------------------


async def test_entity_retriever_runs_the_typed_search_the_model_writes(kb):
    lm = scripted([{"label": "City", "query": "Colosseum"}])
    retriever = synaplex.EntityRetriever(entity_models=[City, Country], knowledge_base=kb, language_model=lm, k=2,
                                         search="fulltext", return_inputs=True)
    result = await retriever(Query(query="Which city has the Colosseum?"))
    assert result.get_json() == {"query": "Which city has the Colosseum?",
                                 "search": {"label": "City", "query": "Colosseum"},
                                 "results": [{"label": "City", "name": "Rome",
                                              "description": "the Colosseum and the Vatican"}]}
    schema = lm.requests[0]["schema"]
    assert schema["properties"]["label"]["enum"] == ["City", "Country"]
    assert set(schema["required"]) == {"label", "query"}


async def test_entity_retriever_in_a_program_then_a_generator_answers(kb):
    class Answer(synaplex.DataModel):
        answer: str

    def reply(messages, schema):
        if "label" in schema["properties"]:
            return {"label": "Country", "query": "Italy"}
        return {"answer": json.loads(messages[-1]["content"])["results"][0]["name"]}

    lm = scripted(reply)
    inputs = synaplex.Input(data_model=Query)
    retrieved = await synaplex.EntityRetriever(entity_models=[City, Country], knowledge_base=kb, language_model=lm,
                                               return_inputs=True)(inputs)
    answer = await synaplex.Generator(data_model=Answer, language_model=lm,
                                      instructions="Answer based on search results")(retrieved)
    program = synaplex.Program(inputs=inputs, outputs=answer)
    assert (await program(Query(query="Which country is Rome the capital of?"))).get_json() == {"answer": "Italy"}
    user_message = json.loads(lm.requests[1]["messages"][-1]["content"])
    assert set(user_message) == {"query", "search", "results"}


async def test_triplet_retriever_translates_the_pattern_never_text(kb):
    lm = scripted([
        {"subject_label": "City", "subject": "", "relation_label": "IsCapitalOf", "object_label": "Country",
         "object": "Italy"},
        {"subject_label": "City", "subject": "'; DROP TABLE nodes; --", "relation_label": "IsCapitalOf",
         "object_label": "Country", "object": "\" OR 1=1 --"},
    ])
    retriever = synaplex.TripletRetriever(entity_models=[City, Country], relation_models=[IsCapitalOf],
                                          knowledge_base=kb, language_model=lm, k=1)
    first = await retriever(Query(query="What is the capital of Italy?"))
    assert first.get("results") == [{"subj": {"label": "City", "name": "Rome",
                                              "description": "the Colosseum and the Vatican"},
                                     "label": "IsCapitalOf", "obj": {"label": "Country", "name": "Italy"}}]
    schema = lm.requests[0]["schema"]
    assert schema["properties"]["relation_label"]["const"] == "IsCapitalOf"
    assert schema["properties"]["subject_label"]["enum"] == ["City", "Country"]
    await retriever(Query(query="Drop everything"))
    assert await kb.count() == {"entities": 11, "relations": 7, "documents": 0, "chunks": 0}


async def test_retrieve_knowledge_for_documents_with_and_without_a_model(kb):
    await kb.update([synaplex.Document(id="louvre", text="The Louvre in Paris is the most visited museum."),
                     synaplex.Document(id="vatican", text="The Vatican museums hold the Sistine Chapel.")])
    direct = synaplex.RetrieveKnowledge(knowledge_base=kb, k=1, search="fulltext")
    out = await direct(Query(query="Sistine Chapel"))
    assert out.get_json() == {"search": {"query": "Sistine Chapel"},
                              "results": [{"document": "vatican",
                                           "text": "The Vatican museums hold the Sistine Chapel."}]}
    lm = scripted([{"query": "most visited museum"}])
    written = synaplex.RetrieveKnowledge(knowledge_base=kb, language_model=lm, k=1, return_inputs=True)
    out = await written(Query(query="Which museum gets the most visitors?"))
    assert out.get("search") == {"query": "most visited museum"} and out.get("results")[0]["document"] == "louvre"
    assert out.get("query") == "Which museum gets the most visitors?"


async def test_reciprocal_rank_fusion():
    fusion = synaplex.ReciprocalRankFusion(k=3)
    schema = {"type": "object", "properties": {"results": {"type": "array"}}}
    a = synaplex.JsonDataModel(json={"results": [{"n": 1}, {"n": 2}, {"n": 3}]}, schema=schema)
    b = synaplex.JsonDataModel(json={"results": [{"n": 3}, {"n": 2}, {"n": 4}]}, schema=schema)
    fused = await fusion([a, b])
    # n=3: 1/63 + 1/61 = 0.032266 just beats n=2: 2/62 = 0.032258; both beat n=1: 1/61 and n=4: 1/63
    assert fused.get("results") == [{"n": 3}, {"n": 2}, {"n": 1}]
    with pytest.raises(synaplex.errors.DataModelTypeError, match="takes a list of retrieval outputs"):
        await fusion(a)


async def test_fusion_of_two_retrievers_in_a_program(kb):
    lm = scripted(lambda messages, schema: {"label": "City", "query": "museum Louvre"})
    inputs = synaplex.Input(data_model=Query)
    by_vector = await synaplex.EntityRetriever(knowledge_base=kb, language_model=lm, search="similarity",
                                               k=3)(inputs)
    by_words = await synaplex.EntityRetriever(knowledge_base=kb, language_model=lm, search="fulltext", k=3)(inputs)
    fused = await synaplex.ReciprocalRankFusion(k=2)([by_vector, by_words])
    program = synaplex.Program(inputs=inputs, outputs=fused)
    result = await program(Query(query="Where is the Louvre?"))
    assert result.get("results")[0]["name"] == "Paris" and len(result.get("results")) == 2


# --- options, training, saving ---------------------------------------------------------------


async def test_bad_options_are_clear_errors(kb):
    with pytest.raises(synaplex.errors.InvalidInputError, match="k must be a positive integer, got 0"):
        synaplex.EntityRetriever(knowledge_base=kb, language_model=scripted([]), k=0)
    with pytest.raises(synaplex.errors.InvalidInputError, match="search must be one of similarity, fulltext, hybrid"):
        synaplex.TripletRetriever(knowledge_base=kb, language_model=scripted([]), search="bm25")
    with pytest.raises(synaplex.errors.InvalidInputError, match="'Planet' is not one of the knowledge base's entity"):
        synaplex.EntityRetriever(entity_models=["Planet"], knowledge_base=kb, language_model=scripted([]))
    with pytest.raises(synaplex.errors.InvalidInputError, match="needs knowledge_base=synaplex.KnowledgeBase"):
        synaplex.UpdateKnowledge(knowledge_base="sqlite:///kb.db")


async def test_retrievers_are_trainable_through_their_search_generator(kb):
    retriever = synaplex.EntityRetriever(knowledge_base=kb, language_model=scripted([]),
                                         instructions="Search cities by name.")
    items = dict(retriever.trainable_variable_items())
    assert list(items) == ["search_generator/state"]
    assert items["search_generator/state"]["instructions"] == "Search cities by name."
    assert synaplex.UpdateKnowledge(knowledge_base=kb).trainable_variables == []


async def test_program_saves_the_knowledge_base_as_uri_and_loads_only_when_allowed(kb, tmp_path):
    synaplex.saving.register_synaplex_serializable(package="tests_knowledge")(_reply)
    lm = scripted(_reply)
    inputs = synaplex.Input(data_model=Query)
    retrieved = await synaplex.TripletRetriever(knowledge_base=kb, language_model=lm, k=3,
                                                instructions="Find capitals.")(inputs)
    program = synaplex.Program(inputs=inputs, outputs=retrieved)
    path = tmp_path / "program.json"
    program.save(str(path))
    saved = path.read_text()
    assert redact_uri(kb.uri, mask=None) in saved and "Colosseum" not in saved and "Find capitals." in saved
    capability = "files" if kb.backend == "sqlite" else "credentials"  # a file opened, or a server reached
    with pytest.raises(synaplex.errors.UnsafeLoadError) as caught:
        synaplex.Program.load(str(path))
    assert caught.value.field.endswith("knowledge_base.config.uri") and caught.value.capability == capability
    loaded = synaplex.Program.load(str(path), allow=(capability,))
    result = await loaded(Query(query="What is the capital of Germany?"))
    assert [t["subj"]["name"] for t in result.get("results")][0] == "Berlin"
    retriever = loaded.get_module(index=1)
    assert isinstance(retriever, synaplex.TripletRetriever)
    assert retriever.search_generator.state["instructions"] == "Find capitals."


def _reply(messages, schema):
    return {"subject_label": "City", "subject": "", "relation_label": "IsCapitalOf", "object_label": "Country",
            "object": "Germany"}


@pytest.mark.integration
async def test_entity_retriever_on_the_embedded_models(tmp_path):
    kb = KnowledgeBase(uri=f"sqlite:///{tmp_path / 'kb.db'}", entity_models=ENTITIES, relation_models=RELATIONS,
                       embedding_model="local")
    await kb.update(FACTS)
    lm = synaplex.LanguageModel(model="local", max_tokens=80)
    retriever = synaplex.EntityRetriever(entity_models=[City, Country], knowledge_base=kb, language_model=lm, k=3,
                                         return_inputs=True)
    result = await retriever(Query(query="Which city is famous for the Eiffel tower?"))
    value = result.get_json()
    assert value["search"]["label"] in ("City", "Country") and isinstance(value["search"]["query"], str)
    assert 1 <= len(value["results"]) <= 3
    assert all(r["label"] == value["search"]["label"] for r in value["results"])
    kb.close()
