"""Modules over a KnowledgeBase: write extracted knowledge, retrieve it, fuse rankings.

The retrievers that prompt (EntityRetriever, TripletRetriever, and RetrieveKnowledge with a
language model) own a Generator whose output is a *typed search*: labels are enums of the
knowledge base's labels, texts are plain strings. The knowledge base runs that search with its
own parameterized queries, so a model never writes a query. The Generator's instructions and
examples are the retriever's trainable variables.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pydantic

from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.data_model import DataModel, Field
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.knowledge import entity_label
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.generator import Generator
from synaplex.modules.module import Module
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object

SEARCH_MODES = ("similarity", "fulltext", "hybrid")
RRF_K = 60


def _check_knowledge_base(knowledge_base: Any, owner: str):
    if not all(hasattr(knowledge_base, m) for m in ("search", "triplet_search", "update", "registry")):
        raise InvalidInputError(f"{owner} needs knowledge_base=synaplex.KnowledgeBase(...), got "
                                f"{knowledge_base!r:.80}.")
    return knowledge_base


def _check_options(owner: str, k: Any, search: Any) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"{owner}: k must be a positive integer, got {k!r}.")
    if search not in SEARCH_MODES:
        raise InvalidInputError(f"{owner}: search must be one of {', '.join(SEARCH_MODES)}, got {search!r}.")


def _labels(models: Any, known: dict, kind: str, owner: str) -> list[str]:
    """Labels from models (classes or label strings), each one of the knowledge base's."""
    if models is None:
        labels = list(known)
    else:
        if not isinstance(models, (list, tuple)) or not models:
            raise InvalidInputError(f"{owner}: {kind}_models must be a non-empty list, got {models!r:.80}.")
        labels = [m if isinstance(m, str) else entity_label(m) for m in models]
    for label in labels:
        if label not in known:
            raise InvalidInputError(f"{owner}: {label!r} is not one of the knowledge base's {kind} models "
                                    f"({', '.join(known) or 'none'}).")
    if not labels:
        raise InvalidInputError(f"{owner}: the knowledge base has no {kind} models.")
    return labels


def _enum(labels: list[str]):
    return Literal.__getitem__(tuple(labels))


def _retrieval_model(name: str, search_model: type, description: str) -> type[DataModel]:
    return pydantic.create_model(
        name, __base__=DataModel,
        search=(search_model, Field(description="The search that was run")),
        results=(list[dict[str, Any]], Field(description=description)))


class _SearchingRetriever(Module):
    """What the retrievers share: a Generator that writes the typed search, k, search mode,
    return_inputs, and their serialization."""

    default_instructions = ""

    def _init_retriever(self, knowledge_base, language_model, k, search, return_inputs, instructions, examples,
                        search_model, output_model):
        owner = type(self).__name__
        self.knowledge_base = _check_knowledge_base(knowledge_base, owner)
        _check_options(owner, k, search)
        self.k = k
        self.search_mode = search
        self.return_inputs = return_inputs
        self.search_model = search_model
        self.output_model = output_model
        self.search_generator = None
        if language_model is not None or search_model is not None:
            self.search_generator = Generator(data_model=search_model, language_model=language_model,
                                              instructions=instructions or self.default_instructions,
                                              examples=examples, name=f"{self.name}_search")
        self._concat = schema_lib.PlannedConcat()
        self.built = True

    async def _write_search(self, inputs, training: bool) -> dict:
        result = await self.search_generator(inputs, training=training)
        return result.get_json()

    def _output(self, inputs, search: dict, results: list[dict]):
        outputs = JsonDataModel(json={"search": search, "results": results}, schema=self.output_model.get_schema())
        return self._concat(inputs, outputs) if self.return_inputs else outputs

    def compute_output_spec(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(f"{self.name}: a retriever takes one input; merge several with '+' first.")
        schema = self.output_model.get_schema()
        if self.return_inputs:
            schema, _ = schema_lib.concat_plan(inputs.get_schema(), schema)
            return SymbolicDataModel(schema=schema)
        return SymbolicDataModel(schema=schema, data_model=self.output_model)

    def get_config(self) -> dict:
        serialize = serialize_synaplex_object
        config = super().get_config()
        config.update(knowledge_base=serialize(self.knowledge_base), k=self.k, search=self.search_mode,
                      return_inputs=self.return_inputs)
        if self.search_generator is not None:
            state = self.search_generator.state
            config.update(language_model=serialize(self.search_generator.language_model),
                          instructions=state["instructions"], examples=state["examples"])
        return config

    @classmethod
    def from_config(cls, config: dict):
        deserialize = deserialize_synaplex_object
        config = dict(config)
        config["knowledge_base"] = deserialize(config["knowledge_base"])
        if config.get("language_model") is not None:
            config["language_model"] = deserialize(config["language_model"])
        return cls(**config)


class EntityRetriever(_SearchingRetriever):
    """The model writes a typed search (an entity label from an enum, and a query text); the
    knowledge base runs it and returns the ``k`` best entities.

    Output: ``{"search": {"label", "query"}, "results": [entity, ...]}`` (with the inputs when
    ``return_inputs=True``).

    Example:
        >>> out = await synaplex.EntityRetriever(entity_models=[City, Country], knowledge_base=kb,
        ...                                      language_model=lm, return_inputs=True)(inputs)
    """

    default_instructions = (
        "Write one search of the knowledge base that finds the entities needed to answer the inputs: choose the "
        "label of the entities to look for, and a short query (a name or a few key words).")

    def __init__(self, entity_models: list | None = None, knowledge_base: Any = None, language_model: Any = None,
                 k: int = 10, search: str = "hybrid", return_inputs: bool = False, instructions: str | None = None,
                 examples: list | None = None, name: str | None = None, description: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        kb = _check_knowledge_base(knowledge_base, "EntityRetriever")
        self.labels = _labels(entity_models, kb.registry.entities, "entity", "EntityRetriever")
        search_model = pydantic.create_model(
            "EntitySearch", __base__=DataModel,
            label=(_enum(self.labels), Field(description="The label (type) of the entities to search for")),
            query=(str, Field(description="What to search for: a name or a few key words")))
        self._init_retriever(kb, language_model, k, search, return_inputs, instructions, examples, search_model,
                             _retrieval_model("EntityRetrieval", search_model, "The entities found, best first"))

    async def call(self, inputs, training=False):
        search = await self._write_search(inputs, training)
        hits = await self.knowledge_base.search(search["query"], labels=[search["label"]], k=self.k,
                                                search=self.search_mode)
        return self._output(inputs, search, [hit["data"] for hit in hits])

    def get_config(self) -> dict:
        return {**super().get_config(), "entity_models": self.labels}


class TripletRetriever(_SearchingRetriever):
    """The model writes a typed triplet pattern (subject label and text, relation label, object
    label and text, labels as enums); the knowledge base translates it into a parameterized
    query and returns the ``k`` best relations ``{"subj", "label", "obj"}``.

    Example:
        >>> out = await synaplex.TripletRetriever(entity_models=[City, Country], relation_models=[IsCapitalOf],
        ...                                       knowledge_base=kb, language_model=lm)(inputs)
    """

    default_instructions = (
        "Write one pattern that finds the relations needed to answer the inputs: the subject's label and a short "
        "text naming it (empty if any subject will do), the relation's label, and the object's label and text "
        "(empty if any object will do).")

    def __init__(self, entity_models: list | None = None, relation_models: list | None = None,
                 knowledge_base: Any = None, language_model: Any = None, k: int = 10, search: str = "hybrid",
                 return_inputs: bool = False, instructions: str | None = None, examples: list | None = None,
                 name: str | None = None, description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        kb = _check_knowledge_base(knowledge_base, "TripletRetriever")
        self.labels = _labels(entity_models, kb.registry.entities, "entity", "TripletRetriever")
        self.relation_labels = _labels(relation_models, kb.registry.relations, "relation", "TripletRetriever")
        entity_enum, relation_enum = _enum(self.labels), _enum(self.relation_labels)
        search_model = pydantic.create_model(
            "TripletSearch", __base__=DataModel,
            subject_label=(entity_enum, Field(description="The label of the subject entity")),
            subject=(str, Field(description="A name or key words of the subject; empty for any subject")),
            relation_label=(relation_enum, Field(description="The label of the relation")),
            object_label=(entity_enum, Field(description="The label of the object entity")),
            object=(str, Field(description="A name or key words of the object; empty for any object")))
        self._init_retriever(kb, language_model, k, search, return_inputs, instructions, examples, search_model,
                             _retrieval_model("TripletRetrieval", search_model,
                                              "The relations found, best first: {subj, label, obj}"))

    async def call(self, inputs, training=False):
        search = await self._write_search(inputs, training)
        triplets = await self.knowledge_base.triplet_search(
            subject_label=search["subject_label"], subject=search["subject"].strip() or None,
            relation_label=search["relation_label"], object_label=search["object_label"],
            object=search["object"].strip() or None, k=self.k, search=self.search_mode)
        return self._output(inputs, search, [{k: v for k, v in t.items() if k != "score"} for t in triplets])

    def get_config(self) -> dict:
        return {**super().get_config(), "entity_models": self.labels, "relation_models": self.relation_labels}


class DocumentSearch(DataModel):
    query: str = Field(description="A search query for the documents: the question's key words and names")


class RetrieveKnowledge(_SearchingRetriever):
    """Retrieve document chunks for text RAG: the ``k`` best chunks for a query.

    With a ``language_model``, the model writes the query from the inputs; without one, the
    query is the inputs' ``query`` field (or all their text fields). Output:
    ``{"search": {"query"}, "results": [{"document", "text"}, ...]}``.

    Example:
        >>> out = await synaplex.RetrieveKnowledge(knowledge_base=kb, k=5, return_inputs=True)(query)
    """

    default_instructions = "Write a search query that finds the passages needed to answer the inputs."

    def __init__(self, knowledge_base: Any = None, language_model: Any = None, data_models: list | None = None,
                 k: int = 5, search: str = "hybrid", return_inputs: bool = False, instructions: str | None = None,
                 examples: list | None = None, name: str | None = None, description: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        kb = _check_knowledge_base(knowledge_base, "RetrieveKnowledge")
        models = None if data_models is None else [m if isinstance(m, str) else m.__name__ for m in data_models]
        self.labels = _labels(models, kb.registry.documents, "data", "RetrieveKnowledge")
        self._init_retriever(kb, language_model, k, search, return_inputs, instructions, examples,
                             DocumentSearch if language_model is not None else None,
                             _retrieval_model("DocumentRetrieval", DocumentSearch,
                                              "The passages found, best first: {document, text}"))

    async def call(self, inputs, training=False):
        if self.search_generator is not None:
            search = await self._write_search(inputs, training)
        else:
            value = inputs.get_json()
            query = value.get("query") if isinstance(value.get("query"), str) else \
                " ".join(v for v in value.values() if isinstance(v, str))
            search = {"query": query}
        hits = await self.knowledge_base.search(search["query"], labels=self.labels, k=self.k,
                                                search=self.search_mode)
        return self._output(inputs, search, [{"document": h["document"], "text": h["data"]["text"]} for h in hits])

    def get_config(self) -> dict:
        return {**super().get_config(), "data_models": self.labels}


class ReciprocalRankFusion(Module):
    """Fuse the ``results`` of several retrievals by reciprocal rank (``sum 1 / (60 + rank)``):
    a result found high by several searches comes first. Results are the same when their JSON
    is. Output: ``{"results": [...]}``, at most ``k``.

    Example:
        >>> fused = await synaplex.ReciprocalRankFusion(k=5)([by_vector, by_words])
    """

    def __init__(self, k: int = 10, name: str | None = None, description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        _check_options("ReciprocalRankFusion", k, "hybrid")
        self.k = k
        self.output_model = pydantic.create_model(
            "FusedResults", __base__=DataModel,
            results=(list[dict[str, Any]], Field(description="The results of every search, fused, best first")))
        self.built = True

    def _inputs(self, inputs) -> list:
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise DataModelTypeError(f"{self.name}: ReciprocalRankFusion takes a list of retrieval outputs.")
        return list(inputs)

    async def call(self, inputs, training=False):
        scores: dict[str, float] = {}
        values: dict[str, Any] = {}
        for retrieval in self._inputs(inputs):
            if retrieval is None:
                continue
            for rank, result in enumerate(retrieval.get("results") or []):
                identity = json.dumps(result, sort_keys=True, ensure_ascii=False)
                values.setdefault(identity, result)
                scores[identity] = scores.get(identity, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(scores, key=lambda identity: -scores[identity])[:self.k]
        return JsonDataModel(json={"results": [values[i] for i in best]}, schema=self.output_model.get_schema())

    def compute_output_spec(self, inputs, training=False):
        for retrieval in self._inputs(inputs):
            if "results" not in retrieval.get_schema().get("properties", {}):
                raise DataModelTypeError(f"{self.name}: each input must have a 'results' list (a retriever's "
                                         f"output); got fields {schema_lib.fields_text(retrieval.get_schema())}.")
        return SymbolicDataModel(schema=self.output_model.get_schema(), data_model=self.output_model)

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}
