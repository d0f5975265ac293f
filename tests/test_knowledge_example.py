"""The seed's RAG with Knowledge Graph snippet, and examples/knowledge_graph.py (issue 13)."""

import sys
from pathlib import Path
from typing import Literal

import pytest

import synaplex

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example():
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import knowledge_graph

    return knowledge_graph


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


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


async def test_the_seeds_snippet_runs_with_an_embedded_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    embedding_model = synaplex.EmbeddingModel(model="scripted")

    def reply(messages, schema):
        if "label" in schema.get("properties", {}):
            return {"label": "City", "query": "Paris"}
        return {"answer": "Paris"}

    lm = synaplex.LanguageModel(model="scripted", responses=reply)
    inputs = synaplex.Input(data_model=Query)

    # --- the snippet (the seed's, synalinks -> synaplex, the embedded URI) ---
    knowledge_base = synaplex.KnowledgeBase(
        uri="sqlite:///kb.db",            # the embedded default; uri=None puts it under the synaplex home
        entity_models=[City, Country],
        relation_models=[IsCapitalOf],
        embedding_model=embedding_model,
    )
    retriever_output = await synaplex.EntityRetriever(
        entity_models=[City, Country], knowledge_base=knowledge_base, language_model=lm, return_inputs=True,
    )(inputs)
    answer = await synaplex.Generator(data_model=Answer, language_model=lm,
                                      instructions="Answer based on search results")(retriever_output)
    # ---

    await knowledge_base.update(IsCapitalOf(subj=City(name="Paris"), obj=Country(name="France")))
    program = synaplex.Program(inputs=inputs, outputs=answer)
    assert (await program(Query(query="What is the capital of France?"))).get_json() == {"answer": "Paris"}
    assert (tmp_path / "kb.db").is_file()
    sent = lm.requests[1]["messages"][-1]["content"]
    assert '"results": [{"label": "City", "name": "Paris"}' in sent
    knowledge_base.close()


async def test_example_with_the_scripted_model(tmp_path):
    counts, answers = await example().main("scripted", folder=str(tmp_path))
    assert counts == {"entities": 9, "relations": 6, "documents": 0, "chunks": 0}
    assert answers == {
        ("entity_qa", "What do you know about Milan?"): "Milan",
        ("entity_qa", "What do you know about Munich?"): "Munich",
        ("triplet_qa", "Which city is the capital of Italy?"): "Rome",
        ("triplet_qa", "Which cities are in France?"): "Lyon",
    }


@pytest.mark.integration
async def test_example_on_the_embedded_models(tmp_path):
    counts, answers = await example().main("local", folder=str(tmp_path))
    # a 135M model extracts what it extracts; every step ran, and every answer is a string
    assert set(counts) == {"entities", "relations", "documents", "chunks"}
    assert len(answers) == 4 and all(isinstance(a, str) for a in answers.values())
