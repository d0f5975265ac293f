"""UpdateKnowledge and EmbedKnowledge: write what a Generator extracted into a KnowledgeBase."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.knowledge import entity_text
from synaplex.modules.knowledge_retrievers import _check_knowledge_base
from synaplex.modules.module import Module
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


class UpdateKnowledge(Module):
    """Upsert the entities and relations of its input (a KnowledgeGraph, Entities, Relations, one
    entity or relation, or a document) into ``knowledge_base``, in one transaction; returns its
    input. The same entity named twice, in one input or in several, is one node.

    Example:
        >>> graph = await synaplex.Generator(data_model=Graph, language_model=lm)(text)
        >>> graph = await synaplex.UpdateKnowledge(knowledge_base=kb)(graph)
    """

    def __init__(self, knowledge_base: Any = None, name: str | None = None, description: str | None = None,
                 trainable: bool = False):
        super().__init__(name=name, description=description, trainable=trainable)
        self.knowledge_base = _check_knowledge_base(knowledge_base, "UpdateKnowledge")
        self.built = True

    async def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(f"{self.name}: UpdateKnowledge takes one input (e.g. a KnowledgeGraph).")
        await self.knowledge_base.update(inputs.get_json())
        return inputs

    def compute_output_spec(self, inputs, training=False):
        return inputs.clone()

    def get_config(self) -> dict:
        return {**super().get_config(), "knowledge_base": serialize_synaplex_object(
            self.knowledge_base)}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["knowledge_base"] = deserialize_synaplex_object(config["knowledge_base"])
        return cls(**config)


class EmbedKnowledge(Module):
    """Add an ``embedding`` vector to each entity of its input (a KnowledgeGraph, Entities or one
    entity), so that UpdateKnowledge stores these vectors instead of computing them.

    Example:
        >>> graph = await synaplex.EmbedKnowledge(embedding_model=em)(graph)
    """

    def __init__(self, embedding_model: Any = None, name: str | None = None, description: str | None = None,
                 trainable: bool = False):
        super().__init__(name=name, description=description, trainable=trainable)
        if embedding_model is None or isinstance(embedding_model, str):
            from synaplex.lm.embedding_model import EmbeddingModel  # noqa: PLC0415 - resolved on first use

            embedding_model = EmbeddingModel(model=embedding_model)
        if not callable(embedding_model) or not hasattr(embedding_model, "get_config"):
            raise InvalidInputError(f"EmbedKnowledge needs embedding_model=synaplex.EmbeddingModel(...), got "
                                    f"{embedding_model!r:.80}.")
        self.embedding_model = embedding_model
        self.built = True

    async def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            raise DataModelTypeError(f"{self.name}: EmbedKnowledge takes one input (e.g. a KnowledgeGraph).")
        value = inputs.get_json()
        if "entities" in value:
            entities = [dict(e) for e in value.get("entities") or []]
            out = {**value, "entities": entities}
        elif "label" in value and "subj" not in value:
            entities = [dict(value)]
            out = entities[0]
        else:
            raise InvalidInputError(f"{self.name}: expected a KnowledgeGraph, Entities or an entity, got fields "
                                    f"{sorted(value)}.")
        if entities:
            texts = [entity_text(e) or e.get("label", "") for e in entities]
            vectors = (await self.embedding_model(texts))["embeddings"]
            for entity, vector in zip(entities, vectors):
                entity["embedding"] = vector
        return JsonDataModel(json=out, schema=inputs.get_schema())

    def compute_output_spec(self, inputs, training=False):
        return inputs.clone()

    def get_config(self) -> dict:
        return {**super().get_config(), "embedding_model": serialize_synaplex_object(
            self.embedding_model)}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["embedding_model"] = deserialize_synaplex_object(config["embedding_model"])
        return cls(**config)
