"""What every knowledge store shares: its metadata checks and how a search plan becomes results.

A store (SQLite, PostgreSQL, Neo4j/Memgraph) implements the engine's part: ``where()`` (where
it lives, without secrets), ``_ranked(search, mode, limit)`` (node ids and scores for one kind
of search, best first) and ``_nodes(ids)`` (the nodes as results show them). This base turns
those into similarity, full-text and hybrid (RRF) searches, and checks a store's metadata
(format, metric, vector dimension) the same way everywhere.
"""

from __future__ import annotations

import threading
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.knowledge.errors import EmbeddingDimensionError, KnowledgeBaseError
from synaplex.knowledge.plans import NodeSearch, PathSearch, rrf

FORMAT = "1"


class Store:
    """The base of the knowledge stores (see the module docstring)."""

    backend = ""
    meta: dict
    metric: str
    lock: threading.RLock

    def where(self) -> str:
        raise NotImplementedError

    def _ranked(self, search: NodeSearch, mode: str, limit: int) -> list[tuple[Any, float]]:
        raise NotImplementedError

    def _nodes(self, ids: list) -> dict[Any, dict]:
        raise NotImplementedError

    # --- metadata ----------------------------------------------------------------------

    def _check_meta(self, meta: dict) -> dict:
        """The store's stored metadata, checked against this synaplex and the metric asked for."""
        if meta.get("format") != FORMAT:
            raise KnowledgeBaseError(f"{self.where()!r} holds a knowledge base of format {meta.get('format')!r}; "
                                     f"this synaplex reads format {FORMAT}.")
        if meta["metric"] != self.metric:
            raise InvalidInputError(f"The knowledge base {self.where()!r} was created with metric={meta['metric']!r}; "
                                    f"it cannot be opened with metric={self.metric!r}.")
        return meta

    @property
    def dimension(self) -> int | None:
        value = self.meta.get("dimension")
        return int(value) if value is not None else None

    def check_dimension(self, dimension: int, model: str) -> None:
        stored = self.dimension
        if stored is not None and stored != dimension:
            raise EmbeddingDimensionError(
                f"The embedding model {model!r} makes {dimension}-dimensional vectors, but the knowledge base "
                f"{self.where()!r} holds {stored}-dimensional vectors (from {self.meta.get('embedding_model')!r}). "
                "Use the store's embedding model, or another store (or wipe_on_start=True to start over).")

    # --- searches ----------------------------------------------------------------------

    def _score(self, distance: float) -> float:
        """A similarity score from a vector distance: higher is nearer."""
        return 1.0 - distance if self.metric == "cosine" else 1.0 / (1.0 + distance)

    def _ids(self, search: NodeSearch) -> list[tuple[Any, float]]:
        """``(node id, score)`` best first; hybrid fuses the two rankings by reciprocal rank."""
        if search.mode == "hybrid":
            rankings = [[i for i, _ in self._ranked(search, mode, search.candidates)]
                        for mode in ("similarity", "fulltext")]
            return rrf(rankings, search.k)
        return self._ranked(search, search.mode, search.k)

    def search(self, search: NodeSearch) -> list[dict]:
        with self.lock:
            ranked = self._ids(search)
            nodes = self._nodes([i for i, _ in ranked])
        return [{**nodes[i], "score": score} for i, score in ranked if i in nodes]

    def _candidate_ranks(self, plan: PathSearch) -> dict[int, dict[Any, int]]:
        """For each node of a path pattern that has a search: its candidates' ranks."""
        return {i: {node_id: rank for rank, (node_id, _) in enumerate(self._ids(pattern.search))}
                for i, pattern in enumerate(plan.nodes) if pattern.search is not None}
