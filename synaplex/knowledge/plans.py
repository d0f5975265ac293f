"""Typed search plans: what a retriever (or a user) asks of a store, never query text.

Each store translates a plan into its own parameterized query (SQL or Cypher) from fixed
templates; labels and texts only ever travel as bound parameters.
"""

from __future__ import annotations

import dataclasses
import re

SEARCH_MODES = ("similarity", "fulltext", "hybrid")
RRF_K = 60  # reciprocal-rank fusion's constant (Cormack et al., 2009)


@dataclasses.dataclass
class NodeSearch:
    """A ranked search over nodes: by vector, by words, or both (then fused by RRF)."""

    scopes: list[str]  # "entity:City", "chunk:Document"...
    k: int
    vector: list[float] | None = None
    text: str | None = None
    mode: str = "hybrid"

    @property
    def candidates(self) -> int:
        """How many hits each side of a hybrid search brings to the fusion."""
        return max(4 * self.k, 40)


@dataclasses.dataclass
class NodePattern:
    """One node of a path pattern: its labels and, optionally, a search that ranks it."""

    scopes: list[str]
    search: NodeSearch | None = None


@dataclasses.dataclass
class PathSearch:
    """``(n0)-[r1]->(n1)-[r2]->(n2)...``: the best-ranked chains, at most ``k``.

    A node with a search is limited to that search's candidates and ranked by them (RRF over
    the nodes that have one); a relation label of ``None`` matches any relation.
    """

    nodes: list[NodePattern]
    relations: list[str | None]
    k: int


# English function words: they match nearly every text, so BM25 gives them almost no weight while
# FTS5 still reads every row they match. Left out of a query unless it has no other word.
STOPWORDS = frozenset(
    "a an and are as at be but by did do does for from had has have he her his how i if in into is it its of on "
    "or she so than that the their them then there these they this to was we were what when where which who "
    "whom why will with you your".split())


def fts_query(text: str) -> str | None:
    """A full-text query from free text: its words (less function words), quoted (so no FTS syntax
    gets through), joined by OR and ranked by BM25. ``None`` when the text has no word."""
    words = list(dict.fromkeys(w.lower() for w in re.findall(r"\w+", text or "")))
    if not words:
        return None
    words = [w for w in words if w not in STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in words)


def rrf(rankings: list[list[int]], k: int) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of ranked id lists: ``sum 1 / (60 + rank)``, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, node in enumerate(ranking):
            scores[node] = scores.get(node, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])[:k]
