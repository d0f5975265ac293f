"""The SQLite store's in-memory vector mirror (issue 13): same answers as sqlite-vec, always current."""

import random

import numpy
import pytest

import synaplex
from synaplex.knowledge import sqlite_store
from synaplex.knowledge.knowledge_base import KnowledgeBase
from synaplex.knowledge.plans import NodeSearch
from synaplex.knowledge.vector_mirror import VectorMirror
from tests.knowledge_models import ENTITIES, FACTS, RELATIONS, City


def vec_knn(store, vector, scope, k):
    """sqlite-vec's own exact KNN, the reference."""
    blob = numpy.asarray(vector, dtype=numpy.float32).tobytes()
    return store.conn.execute("SELECT node_id, distance FROM nodes_vec WHERE embedding MATCH ? AND k = ? AND "
                              "scope = ?", (blob, k, scope)).fetchall()


@pytest.mark.parametrize("metric", ["cosine", "l2"])
async def test_mirror_finds_what_sqlite_vec_finds(tmp_path, metric):
    rng = numpy.random.default_rng(7)
    store = sqlite_store.SQLiteStore(str(tmp_path / "kb.db"), metric=metric)
    matrix = rng.standard_normal((500, 24)).astype(numpy.float32)
    with store.conn:
        store._ensure_vectors(24, "test")
        for i, row in enumerate(matrix):
            store.conn.execute("INSERT INTO nodes_vec(node_id, scope, embedding) VALUES (?, ?, ?)",
                               (i + 1, "entity:A" if i % 3 else "entity:B", row.tobytes()))
    for _ in range(20):
        query = rng.standard_normal(24).astype(numpy.float32)
        mirror = store._fresh_mirror(["entity:A", "entity:B"])
        got = mirror.search(query, ["entity:A", "entity:B"], 10)
        expected = sorted(vec_knn(store, query, "entity:A", 10) + vec_knn(store, query, "entity:B", 10),
                          key=lambda row: row[1])[:10]
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert numpy.allclose([d for _, d in got], [d for _, d in expected], atol=1e-4)
    store.close()


def test_mirror_upserts_grow_and_replace():
    mirror = VectorMirror(2, "cosine")
    mirror.load("s", [])
    for i in range(200):  # past the initial capacity: the matrix grows
        mirror.put("s", i, [1.0, i / 100])
    mirror.put("s", 5, [-1.0, 0.0])  # replaced, not added
    assert mirror.blocks["s"].size == 200
    assert mirror.search([-1.0, 0.0], ["s"], 1) == [(5, 0.0)]
    assert [i for i, _ in mirror.search([1.0, 0.0], ["s"], 3)] == [0, 1, 2]
    mirror.put("not loaded", 1, [1.0, 0.0])  # a scope not loaded is read from disk when first needed
    assert not mirror.has("not loaded")
    with pytest.raises(ValueError, match="metric must be one of"):
        VectorMirror(2, "dot")


async def kb_at(path):
    knowledge_base = KnowledgeBase(uri=f"sqlite:///{path}", entity_models=ENTITIES, relation_models=RELATIONS,
                                   data_models=[synaplex.Document],
                                   embedding_model=synaplex.EmbeddingModel(model="scripted"))
    return knowledge_base


async def top(kb, text, label="City"):
    return [hit["key"] for hit in await kb.similarity_search(text, labels=[label], k=3)]


async def test_own_writes_and_deletes_are_seen_at_once(tmp_path):
    kb = await kb_at(tmp_path / "kb.db")
    await kb.update(FACTS)
    await top(kb, "capital")  # the mirror is built now
    await kb.update(City(name="Zanzibar", description="zebra zither zoo"))
    assert (await top(kb, "zebra zither zoo"))[0] == "Zanzibar"
    await kb.delete("City", "Zanzibar")
    assert "Zanzibar" not in await top(kb, "zebra zither zoo")
    kb.close()


async def test_another_connections_write_is_seen(tmp_path):
    reader = await kb_at(tmp_path / "kb.db")
    await reader.update(FACTS)
    before = await top(reader, "zebra zither zoo")
    writer = await kb_at(tmp_path / "kb.db")
    await writer.update(City(name="Zanzibar", description="zebra zither zoo"))
    assert "Zanzibar" not in before
    assert (await top(reader, "zebra zither zoo"))[0] == "Zanzibar"  # PRAGMA data_version moved: reloaded
    await writer.delete("City", "Zanzibar")
    assert "Zanzibar" not in await top(reader, "zebra zither zoo")
    reader.close()
    writer.close()


async def test_rewritten_documents_drop_their_old_chunks_vectors(tmp_path):
    kb = await kb_at(tmp_path / "kb.db")
    await kb.update(synaplex.Document(id="d", text="the quick brown fox"))
    assert "fox" in (await kb.similarity_search("quick brown fox", labels=["Document"], k=5))[0]["data"]["text"]
    await kb.update(synaplex.Document(id="d", text="an entirely different story about whales"))
    hits = await kb.similarity_search("quick brown fox", labels=["Document"], k=5)
    assert [hit["data"]["text"] for hit in hits] == ["an entirely different story about whales"]
    kb.close()


async def test_beyond_the_memory_cap_search_runs_on_sqlite_vec(tmp_path, monkeypatch):
    kb = await kb_at(tmp_path / "kb.db")
    rng = random.Random(3)
    words = ["amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "jade"]
    cities = [City(name=f"C{i}", description=" ".join(rng.sample(words, 3))) for i in range(60)]
    await kb.update(cities)
    queries = [" ".join(rng.sample(words, 2)) for _ in range(10)]
    with_mirror = [[(h["key"], h["score"]) for h in await kb.similarity_search(q, labels=["City"], k=5)]
                   for q in queries]
    assert kb.store()._mirror is not None
    monkeypatch.setattr(sqlite_store, "MIRROR_MAX_BYTES", 0)
    kb.store()._mirror = None
    without = [[(h["key"], h["score"]) for h in await kb.similarity_search(q, labels=["City"], k=5)]
               for q in queries]
    assert kb.store()._mirror is not None and not kb.store()._mirror.blocks  # nothing was loaded
    for mirrored, scanned in zip(with_mirror, without):  # the same scores (ties may order differently)
        assert numpy.allclose(sorted(s for _, s in mirrored), sorted(s for _, s in scanned), atol=1e-4)
    kb.close()


def test_a_node_search_on_an_empty_store_finds_nothing(tmp_path):
    store = sqlite_store.SQLiteStore(str(tmp_path / "kb.db"))
    assert store.search(NodeSearch(scopes=["entity:City"], k=3, vector=[0.0] * 4, text="x",
                                   mode="similarity")) == []
    store.close()
