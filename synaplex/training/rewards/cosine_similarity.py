"""CosineSimilarity: the semantic similarity of prediction and ground truth, by embeddings."""

from __future__ import annotations

import math
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.embedding_model import EmbeddingModel
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.rewards.reward import Reward, RewardError
from synaplex.training.values import json_text


class CosineSimilarity(Reward):
    """Semantic similarity of the (masked) ground truth and prediction.

    Both sides are written as JSON text (keys sorted) and embedded in one batched call; the
    cosine similarity ``c`` in [-1, 1] is mapped to ``(c + 1) / 2`` in [0, 1] (as Synalinks
    does), so identical texts score 1.0, orthogonal ones 0.5 and opposite ones 0.0. Should
    the embedding model return a zero vector, the score is 1.0 for equal texts and 0.0 otherwise.

    Args:
        embedding_model: a ``synaplex.EmbeddingModel`` or a model string (default: the
            configured default embedding model).

    Example:
        >>> em = synaplex.EmbeddingModel(model="scripted")
        >>> synaplex.rewards.CosineSimilarity(embedding_model=em, in_mask=["answer"])
    """

    needs_ground_truth = True

    def __init__(self, embedding_model: Any = None, in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None, name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if embedding_model is None or isinstance(embedding_model, str):
            embedding_model = EmbeddingModel(model=embedding_model)
        elif not callable(embedding_model) or not hasattr(embedding_model, "get_config"):
            raise InvalidInputError(
                f"CosineSimilarity: embedding_model must be a synaplex.EmbeddingModel or a model string, "
                f"got {embedding_model!r:.80}."
            )
        self.embedding_model = embedding_model

    async def call(self, y_true: dict, y_pred: dict) -> float:
        texts = [json_text(y_true), json_text(y_pred)]
        vectors = (await self.embedding_model(texts))["embeddings"]
        if len(vectors) != 2:
            raise RewardError(
                f"Reward {self.name!r}: the embedding model returned {len(vectors)} vectors for 2 texts."
            )
        a, b = vectors
        norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(x * x for x in b))
        if norm == 0.0:
            return 1.0 if texts[0] == texts[1] else 0.0
        cosine = sum(x * y for x, y in zip(a, b)) / norm
        return min(1.0, max(0.0, (cosine + 1.0) / 2.0))

    def get_config(self) -> dict:
        config = super().get_config()
        config["embedding_model"] = serialize_synaplex_object(self.embedding_model)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        config["embedding_model"] = deserialize_synaplex_object(config.get("embedding_model"), custom_objects)
        return cls(**config)
