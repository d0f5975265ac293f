"""The seed's RAG with Knowledge Graph: extract entities and relations from paragraphs into an
embedded KnowledgeBase (one SQLite file), then answer questions with an EntityRetriever and a
TripletRetriever.

    python examples/knowledge_graph.py                 # the embedded models (chat + embeddings)
    python examples/knowledge_graph.py --model scripted

1. a Generator extracts a typed KnowledgeGraph (City, Country, IsCapitalOf, IsLocatedIn) from each
   paragraph and UpdateKnowledge writes it (the same entity named twice is one node);
2. an EntityRetriever: the model writes a typed search (a label from an enum and a query), the
   knowledge base runs it, a Generator answers from the results;
3. a TripletRetriever: the model writes a typed triplet pattern, translated to parameterized SQL.

On the embedded 135M model the extraction and the searches are weak; the typing, the storage and
the retrieval are what this shows. With --model scripted the replies are the right ones, so the
whole path can be checked.
"""

import asyncio
import json
import os
import tempfile
from typing import Literal

from _models import language_model, parse_model

import synaplex


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


class IsLocatedIn(synaplex.Relation):
    subj: City
    label: Literal["IsLocatedIn"]
    obj: Country


Graph = synaplex.KnowledgeGraph.of([City, Country], [IsCapitalOf, IsLocatedIn])


class Text(synaplex.DataModel):
    text: str = synaplex.Field(description="A paragraph to read")


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer, in a few words")


PARAGRAPHS = [
    "Paris is the capital of France. Lyon, the third largest city of France, is known for its food.",
    "Rome is the capital of Italy. Milan, in the north of Italy, is a capital of fashion.",
    "Berlin is the capital of Germany, and Munich is in Germany too.",
]
ENTITY_QUESTIONS = ["What do you know about Milan?", "What do you know about Munich?"]
TRIPLET_QUESTIONS = ["Which city is the capital of Italy?", "Which cities are in France?"]

# What a perfect reader extracts: the scripted model's replies, and a check of the example.
EXPECTED = {
    PARAGRAPHS[0]: [("Paris", "IsCapitalOf", "France"), ("Lyon", "IsLocatedIn", "France")],
    PARAGRAPHS[1]: [("Rome", "IsCapitalOf", "Italy"), ("Milan", "IsLocatedIn", "Italy")],
    PARAGRAPHS[2]: [("Berlin", "IsCapitalOf", "Germany"), ("Munich", "IsLocatedIn", "Germany")],
}


def graph_of(triplets):
    entities, relations = {}, []
    for city, label, country in triplets:
        subj, obj = {"label": "City", "name": city}, {"label": "Country", "name": country}
        entities[city], entities[country] = subj, obj
        relations.append({"subj": subj, "label": label, "obj": obj})
    return {"entities": list(entities.values()), "relations": relations}


@synaplex.saving.register_synaplex_serializable(package="examples")
def scripted_knowledge_reply(messages, schema):
    """The scripted model: extracts EXPECTED, writes the right searches, answers from the results."""
    inputs = json.loads(messages[-1]["content"])
    fields = set(schema.get("properties", {}))
    if "entities" in fields:
        return graph_of(EXPECTED.get(inputs.get("text"), []))
    question = inputs.get("query", "")
    country = next((c for c in ("France", "Italy", "Germany") if c in question), "")
    relation = "IsCapitalOf" if "capital" in question else "IsLocatedIn"
    if fields == {"label", "query"}:
        return {"label": "City", "query": question.rstrip("?").split()[-1]}
    if "relation_label" in fields:
        return {"subject_label": "City", "subject": "", "relation_label": relation, "object_label": "Country",
                "object": country}
    results = inputs.get("results") or []
    if results and "subj" in results[0]:  # triplets: the subjects whose object the question names
        names = [r["subj"]["name"] for r in results if r["obj"]["name"] == country and r["label"] == relation]
    else:  # entities: the best one
        names = [r["name"] for r in results[:1]]
    return {"answer": ", ".join(names) or "I do not know"}


async def build_extraction_program(lm, knowledge_base):
    inputs = synaplex.Input(data_model=Text)
    graph = await synaplex.Generator(
        data_model=Graph, language_model=lm,
        instructions="Extract the cities and countries named in the text, and the relations between them: "
                     "IsCapitalOf when a city is the capital of a country, IsLocatedIn when a city is in a country.",
    )(inputs)
    outputs = await synaplex.UpdateKnowledge(knowledge_base=knowledge_base)(graph)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="extract_knowledge")


async def build_entity_qa_program(lm, knowledge_base):
    inputs = synaplex.Input(data_model=Query)
    retriever_output = await synaplex.EntityRetriever(
        entity_models=[City, Country],
        knowledge_base=knowledge_base,
        language_model=lm,
        k=3,
        return_inputs=True,
    )(inputs)
    answer = await synaplex.Generator(
        data_model=Answer,
        language_model=lm,
        instructions="Answer based on search results",
    )(retriever_output)
    return synaplex.Program(inputs=inputs, outputs=answer, name="entity_qa")


async def build_triplet_qa_program(lm, knowledge_base):
    inputs = synaplex.Input(data_model=Query)
    retriever_output = await synaplex.TripletRetriever(
        entity_models=[City, Country],
        relation_models=[IsCapitalOf, IsLocatedIn],
        knowledge_base=knowledge_base,
        language_model=lm,
        k=5,
        return_inputs=True,
    )(inputs)
    answer = await synaplex.Generator(
        data_model=Answer,
        language_model=lm,
        instructions="Answer based on search results",
    )(retriever_output)
    return synaplex.Program(inputs=inputs, outputs=answer, name="triplet_qa")


def knowledge_base(path: str, model: str) -> synaplex.KnowledgeBase:
    embedding_model = synaplex.EmbeddingModel(model="scripted" if model == "scripted" else "local")
    return synaplex.KnowledgeBase(
        uri=f"sqlite:///{path}",
        entity_models=[City, Country],
        relation_models=[IsCapitalOf, IsLocatedIn],
        embedding_model=embedding_model,
    )


async def main(model: str = "local", folder: str | None = None):
    lm = language_model(model, responses=scripted_knowledge_reply if model == "scripted" else None)
    with tempfile.TemporaryDirectory() as temporary:
        kb = knowledge_base(os.path.join(folder or temporary, "knowledge.db"), model)
        extract = await build_extraction_program(lm, kb)
        for paragraph in PARAGRAPHS:
            graph = await extract(Text(text=paragraph))
            print("extracted:", json.dumps(graph.get("relations")))
        counts = await kb.count()
        print("stored:", counts)
        answers = {}
        for build, questions in ((build_entity_qa_program, ENTITY_QUESTIONS),
                                 (build_triplet_qa_program, TRIPLET_QUESTIONS)):
            program = await build(lm, kb)
            for question in questions:
                answer = await program(Query(query=question))
                answers[(program.name, question)] = answer.get("answer")
                print(f"{program.name}: {question} -> {answer.get('answer')}")
        kb.close()
    return counts, answers


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
