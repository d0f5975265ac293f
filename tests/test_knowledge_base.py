"""KnowledgeBase on a real SQLite file (issue 13): writes, searches, graph, read-only SQL, errors."""

import json
import subprocess
import sys

import pytest

import synaplex
from synaplex.knowledge.errors import (
    EmbeddingDimensionError,
    KnowledgeBaseConnectionError,
    KnowledgeSchemaError,
    ReadOnlyQueryError,
    UnsupportedURIError,
)
from synaplex.knowledge.knowledge_base import KnowledgeBase, redact_uri
from tests.knowledge_models import ENTITIES, FACTS, RELATIONS, BornIn, City, Country, IsCapitalOf


def scripted_em():
    return synaplex.EmbeddingModel(model="scripted")  # 64-d hashed bag of words: deterministic, instant


@pytest.fixture(scope="module")
def postgres():
    from tests.knowledge_servers import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    """The same tests on each store: a fresh SQLite file, or a fresh database on a real PostgreSQL server."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres").new_database()
    return f"sqlite:///{tmp_path / 'kb.db'}"


@pytest.fixture
def sqlite_db(tmp_path):
    return f"sqlite:///{tmp_path / 'kb.db'}"


def placeholders(db: str, sql: str) -> str:
    return sql.replace("?", "%s") if db.startswith("postgresql") else sql


async def opened(**kwargs) -> KnowledgeBase:
    """A knowledge base with its store open (a server store connects on first use)."""
    knowledge_base = KnowledgeBase(**kwargs)
    await knowledge_base.count()
    return knowledge_base


@pytest.fixture
async def kb(db):
    knowledge_base = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS,
                                   data_models=[synaplex.Document], embedding_model=scripted_em())
    await knowledge_base.update(FACTS)
    yield knowledge_base
    knowledge_base.close()


# --- writes --------------------------------------------------------------------------------


async def test_update_counts_and_the_same_entity_twice_is_one_node(kb):
    assert await kb.count() == {"entities": 11, "relations": 7, "documents": 0, "chunks": 0}
    written = await kb.update([City(name="Paris", description="the city of light"), City(name="Paris")])
    assert written == {"entities": 1, "relations": 0, "documents": 0, "chunks": 0}
    assert (await kb.count())["entities"] == 11
    # upsert: the last value wins; an entity named in a relation never overwrites a stored one
    assert await kb.get("City", "Paris") == {"label": "City", "name": "Paris", "description": ""}
    await kb.update(City(name="Paris", description="the city of light"))
    await kb.update(IsCapitalOf(subj=City(name="Paris"), obj=Country(name="France")))
    assert (await kb.get("City", "Paris"))["description"] == "the city of light"
    assert (await kb.count())["relations"] == 7


async def test_get_getall_and_relation_properties(kb):
    assert await kb.get("Country", "Spain") is None
    assert [c["name"] for c in await kb.getall("Country")] == ["France", "Italy", "Germany"]
    assert [c["name"] for c in await kb.getall("City", limit=2, offset=1)] == ["Lyon", "Rome"]
    born = await kb.triplet_search(subject_label="Person", relation_label="BornIn", search="fulltext")
    assert {(t["subj"]["name"], t["obj"]["name"], t["year"]) for t in born} == {
        ("Emile Zola", "Paris", 1840), ("Albert Einstein", "Ulm", 1879)}
    assert await kb.get("City", "Ulm") == {"label": "City", "name": "Ulm", "description": ""}


async def test_delete_removes_the_node_its_relations_and_its_index_rows(kb):
    assert await kb.delete("City", "Rome") is True
    assert await kb.delete("City", "Rome") is False
    assert await kb.get("City", "Rome") is None
    assert (await kb.count())["relations"] == 6
    assert [r["key"] for r in await kb.fulltext_search("Colosseum")] == []
    found = await kb.similarity_search("Rome the Colosseum and the Vatican", labels=["City"], k=10)
    assert "Rome" not in [r["key"] for r in found]
    assert await kb.delete_relation(IsCapitalOf(subj=City(name="Paris"), obj=Country(name="France"))) is True
    assert await kb.triplet_search(subject_label="City", subject="Paris", relation_label="IsCapitalOf",
                                   search="fulltext") == []
    assert await kb.get("City", "Paris") is not None


async def test_labels_in_dicts_and_containers(kb):
    graph = {"entities": [{"label": "Country", "name": "Spain"}],
             "relations": [{"subj": {"label": "City", "name": "Madrid"}, "label": "IsCapitalOf",
                            "obj": {"label": "Country", "name": "Spain"}}]}
    assert await kb.update(graph) == {"entities": 1, "relations": 1, "documents": 0, "chunks": 0}
    assert await kb.get("City", "Madrid") == {"label": "City", "name": "Madrid", "description": ""}
    with pytest.raises(synaplex.errors.InvalidInputError, match="unknown label 'Planet'"):
        await kb.update({"label": "Planet", "name": "Mars"})
    with pytest.raises(synaplex.errors.InvalidInputError, match=r"field 'subj.label': Input should be 'City' \(got 'Country'\)"):
        await kb.update({"subj": {"label": "Country", "name": "X"}, "label": "IsCapitalOf",
                         "obj": {"label": "Country", "name": "Y"}})


async def test_bulk_load_from_jsonl_and_csv(kb, tmp_path):
    lines = tmp_path / "facts.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [
        {"name": "Spain"}, {"name": "Portugal"}]) + "\n")
    assert (await kb.from_jsonl(str(lines), label="Country"))["entities"] == 2
    table = tmp_path / "cities.csv"
    table.write_text("name,description\nMadrid,the Prado museum\nLisbon,\n")
    assert (await kb.from_csv(str(table), label="City"))["entities"] == 2
    assert await kb.get("City", "Lisbon") == {"label": "City", "name": "Lisbon", "description": ""}
    assert [r["key"] for r in await kb.fulltext_search("Prado")] == ["Madrid"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "Greece"}\nnot json\n')
    with pytest.raises(synaplex.errors.InvalidInputError, match=r"bad.jsonl:2: not JSON"):
        await kb.from_jsonl(str(bad), label="Country")
    assert await kb.get("Country", "Greece") is None  # nothing of the file was written


# --- search --------------------------------------------------------------------------------


async def test_similarity_fulltext_and_hybrid_search(kb):
    top = await kb.similarity_search("Rome the Colosseum and the Vatican", labels=["City"], k=3)
    assert top[0]["key"] == "Rome" and top[0]["label"] == "City" and 0.9 < top[0]["score"] <= 1.0001
    assert all(r["label"] == "City" for r in top) and len(top) == 3
    assert [r["key"] for r in await kb.fulltext_search("cathedral")] == ["Milan"]
    assert await kb.fulltext_search("Colosseum", labels=["Country"]) == []
    hybrid = await kb.hybrid_search("gastronomy", k=3)
    assert hybrid[0]["key"] == "Lyon"
    assert hybrid[0]["score"] == pytest.approx(2 / 61) or hybrid[0]["score"] == pytest.approx(1 / 61 + 1 / 62)
    # full-text syntax in a query is only words: quotes, stars and operators are searched as text
    assert await kb.fulltext_search('"; DROP TABLE nodes; -- NEAR(* OR') == []
    assert (await kb.count())["entities"] == 11


async def test_hybrid_fuses_both_rankings(kb):
    # "Duomo" is a word of Milan's description: full text finds it whatever the vectors say
    fused = await kb.hybrid_search("Duomo", labels=["City"], k=5)
    assert "Milan" in [r["key"] for r in fused]
    by_vector = [r["key"] for r in await kb.similarity_search("Duomo", labels=["City"], k=5)]
    scores = {r["key"]: r["score"] for r in fused}
    expected = 1 / 61 + (1 / (61 + by_vector.index("Milan")) if "Milan" in by_vector else 0)
    assert scores["Milan"] == pytest.approx(expected)


async def test_bad_search_arguments(kb, db):
    with pytest.raises(synaplex.errors.InvalidInputError, match="search must be one of similarity, fulltext, hybrid"):
        await kb.search("x", search="semantic")
    with pytest.raises(synaplex.errors.InvalidInputError, match="k must be a positive integer"):
        await kb.search("x", k=0)
    with pytest.raises(synaplex.errors.InvalidInputError, match="IsCapitalOf is a relation"):
        await kb.search("x", labels=["IsCapitalOf"])
    without_vectors = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS)
    assert [r["key"] for r in await without_vectors.fulltext_search("Louvre")] == ["Paris"]
    with pytest.raises(synaplex.errors.KnowledgeBaseError, match="has no embedding_model"):
        await without_vectors.similarity_search("Louvre")


# --- graph ---------------------------------------------------------------------------------


async def test_triplet_search_by_labels_and_texts(kb):
    capitals = await kb.triplet_search(subject_label="City", relation_label="IsCapitalOf", object_label="Country",
                                       object="Italy", k=1)
    assert [(t["subj"]["name"], t["label"], t["obj"]["name"]) for t in capitals] == [("Rome", "IsCapitalOf",
                                                                                       "Italy")]
    in_france = await kb.triplet_search(relation_label=None, object="France", k=10, search="fulltext")
    assert {(t["subj"]["name"], t["label"]) for t in in_france} == {("Paris", "IsCapitalOf"),
                                                                   ("Lyon", "IsLocatedIn")}
    everything = await kb.triplet_search(k=100)
    assert len(everything) == 7


async def test_two_hop_path_search(kb):
    paths = await kb.path_search([("Person", "Zola"), ("City", None), ("Country", None)], ["BornIn", "IsCapitalOf"],
                                 search="fulltext")
    assert [[n["name"] for n in p["nodes"]] for p in paths] == [["Emile Zola", "Paris", "France"]]
    assert [r["label"] for r in paths[0]["relations"]] == ["BornIn", "IsCapitalOf"]
    assert paths[0]["relations"][0]["year"] == 1840
    with pytest.raises(synaplex.errors.InvalidInputError, match="Unknown relation label 'Twins'"):
        await kb.path_search([(None, None), (None, None)], ["Twins"])


async def test_neighbours_k_hops(kb):
    one = await kb.neighbours("City", "Paris", depth=1)
    assert {(n["label"], n["key"], n["depth"]) for n in one} == {("Country", "France", 1), ("Person", "Emile Zola", 1)}
    two = await kb.neighbours("City", "Paris", depth=2)
    assert ("City", "Lyon", 2) in {(n["label"], n["key"], n["depth"]) for n in two}
    out = await kb.neighbours("City", "Paris", depth=2, direction="out")
    assert [(n["key"], n["depth"]) for n in out] == [("France", 1)]
    only = await kb.neighbours("Country", "France", depth=1, relation_labels=["IsLocatedIn"])
    assert [n["key"] for n in only] == ["Lyon"]


# --- read-only SQL -------------------------------------------------------------------------


async def test_query_reads_with_parameters(kb, db):
    rows = await kb.query(placeholders(db, "SELECT key FROM nodes WHERE kind = ? AND label = ? ORDER BY key"),
                          ["entity", "Country"])
    assert rows == [{"key": "France"}, {"key": "Germany"}, {"key": "Italy"}]
    named = "SELECT key FROM nodes WHERE key = %(k)s" if db.startswith("postgresql") else \
        "SELECT key FROM nodes WHERE key = :k"
    assert await kb.query(named, {"k": "nowhere"}) == []


WRITES = ["DROP TABLE nodes", "DELETE FROM nodes", "UPDATE nodes SET key = 'x'",
          "INSERT INTO kb_meta VALUES ('a', 'b')", "CREATE TABLE evil(x int)"]
SQLITE_WRITES = ["ATTACH DATABASE ':memory:' AS other", "PRAGMA query_only = 0", "PRAGMA journal_mode = DELETE",
                 "SELECT 1; DROP TABLE nodes"]
POSTGRES_WRITES = ["COPY (SELECT 1) TO PROGRAM 'touch {pwned}'", "TRUNCATE edges",
                   "SELECT nextval('nodes_id_seq')",
                   "SELECT lo_export(lo_from_bytea(0, 'x'), '{pwned}')"]


@pytest.mark.parametrize("db, statement", [(backend, w) for backend in ("sqlite", "postgres") for w in WRITES]
                         + [("sqlite", w) for w in SQLITE_WRITES] + [("postgres", w) for w in POSTGRES_WRITES],
                         indirect=["db"])
async def test_query_cannot_change_the_store(kb, db, statement, tmp_path):
    pwned = tmp_path / "pwned"
    statement = statement.format(pwned=pwned)
    before = await kb.count()
    with pytest.raises(ReadOnlyQueryError, match="read-only (connection|transaction)"):
        await kb.query(statement)
    assert not pwned.exists()
    assert await kb.count() == before
    assert (await kb.get("City", "Paris"))["name"] == "Paris"
    reopened = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS)
    assert await reopened.count() == before
    reopened.close()


# --- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_postgres_query_runs_one_statement(kb, db):
    with pytest.raises(synaplex.errors.InvalidInputError, match="one SQL statement at a time"):
        await kb.query("SELECT 1; DROP TABLE nodes")
    assert (await kb.count())["entities"] == 11


async def test_reopen_and_wipe(kb, db):
    kb.close()
    again = await opened(uri=db, entity_models=ENTITIES, relation_models=RELATIONS, embedding_model=scripted_em())
    assert (await again.similarity_search("the Brandenburg Gate", labels=["City"], k=1))[0]["key"] == "Berlin"
    again.close()
    wiped = await opened(uri=db, entity_models=ENTITIES, relation_models=RELATIONS, wipe_on_start=True)
    assert await wiped.count() == {"entities": 0, "relations": 0, "documents": 0, "chunks": 0}
    wiped.close()


async def test_wal_and_a_second_process_reading(sqlite_db):
    db = sqlite_db
    kb = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS, embedding_model=scripted_em())
    await kb.update(FACTS)
    assert (await kb.query("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    kb.close()
    again = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS, embedding_model=scripted_em())
    assert (await again.similarity_search("the Brandenburg Gate", labels=["City"], k=1))[0]["key"] == "Berlin"
    # another process reads the file while this one has it open
    code = ("import asyncio, synaplex\nfrom synaplex.knowledge.knowledge_base import KnowledgeBase\n"
            "from tests.knowledge_models import ENTITIES, RELATIONS\n"
            f"kb = KnowledgeBase(uri={db!r}, entity_models=ENTITIES, relation_models=RELATIONS)\n"
            "print(asyncio.run(kb.count())['relations'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "7", out.stderr
    again.close()
    wiped = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS, wipe_on_start=True)
    assert await wiped.count() == {"entities": 0, "relations": 0, "documents": 0, "chunks": 0}
    wiped.close()


READER = """
import asyncio, sys
from synaplex.knowledge.knowledge_base import KnowledgeBase
from tests.knowledge_models import ENTITIES, RELATIONS

async def main():
    kb = KnowledgeBase(uri=sys.argv[1], entity_models=ENTITIES, relation_models=RELATIONS)
    seen = [(await kb.count())["entities"]]
    print("ready", flush=True)  # the writer starts now
    while len(seen) < 2000 and (not seen or seen[-1] < 61):
        seen.append((await kb.count())["entities"])
        await kb.fulltext_search("Added", labels=["City"], k=5)
    assert seen == sorted(seen), seen  # each read sees a committed state, never a half-written one
    print("ok", seen[0], seen[-1], len(seen))

asyncio.run(main())
"""


async def test_readers_in_other_processes_while_one_writes(sqlite_db):
    import asyncio
    from pathlib import Path

    kb = KnowledgeBase(uri=sqlite_db, entity_models=ENTITIES, relation_models=RELATIONS)
    await kb.update(City(name="Oslo"))
    root = str(Path(__file__).resolve().parents[1])
    readers = [await asyncio.create_subprocess_exec(sys.executable, "-c", READER, sqlite_db, cwd=root,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
               for _ in range(2)]
    for reader in readers:
        assert (await asyncio.wait_for(reader.stdout.readline(), 60)).strip() == b"ready"
    for i in range(30):  # one writer, 30 transactions, while both processes read
        await kb.update([City(name=f"Added {i}"), IsCapitalOf(subj=City(name=f"Added {i}"),
                                                              obj=Country(name=f"Land {i}"))])
    for reader in readers:
        out, err = await asyncio.wait_for(reader.communicate(), 120)
        assert reader.returncode == 0, err.decode()[-2000:]
        _, first, last, reads = out.decode().split()
        assert (int(first), int(last)) == (1, 61) and int(reads) > 1  # before, along and after the writes
    assert (await kb.count())["entities"] == 61
    kb.close()


async def test_default_uri_is_under_the_synaplex_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNAPLEX_HOME", str(tmp_path / "home"))
    kb = KnowledgeBase(entity_models=[City])
    assert kb.uri == f"sqlite:///{tmp_path / 'home' / 'knowledge' / 'knowledge_base.db'}"
    await kb.update(City(name="Oslo"))
    assert (tmp_path / "home" / "knowledge" / "knowledge_base.db").is_file()
    kb.close()


# --- a failed write leaves the store as it was --------------------------------------------------


async def test_a_write_that_fails_midway_changes_nothing(db):
    kb = KnowledgeBase(uri=db, entity_models=ENTITIES, relation_models=RELATIONS)
    await kb.update(City(name="Oslo"))
    # the first vector fixes the store's dimension; the third record's differs, after two were written
    records = [{"label": "City", "name": "Paris", "embedding": [0.1] * 8},
               {"label": "City", "name": "Oslo", "description": "changed", "embedding": [0.2] * 8},
               {"label": "City", "name": "Rome", "embedding": [0.3] * 5}]
    with pytest.raises(EmbeddingDimensionError, match="5-dimensional vectors.*holds 8-dimensional"):
        await kb.update(records)
    assert await kb.count() == {"entities": 1, "relations": 0, "documents": 0, "chunks": 0}
    assert await kb.get("City", "Oslo") == {"label": "City", "name": "Oslo", "description": ""}
    assert await kb.query("SELECT value FROM kb_meta WHERE key = 'dimension'") == []
    # the store still works, and its first vectors may have any dimension
    await kb.update([{"label": "City", "name": "Rome", "embedding": [0.3] * 5}])
    assert (await kb.query("SELECT value FROM kb_meta WHERE key = 'dimension'"))[0]["value"] == "5"
    kb.close()


async def test_a_failing_statement_rolls_back_the_whole_update(sqlite_db):
    kb = KnowledgeBase(uri=sqlite_db, entity_models=ENTITIES, relation_models=RELATIONS)
    store = kb.store()
    original = store.conn.execute
    calls = {"n": 0}

    def failing(sql, *args):
        if sql.startswith("INSERT INTO edges"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise store.apsw.IOError("disk I/O error (simulated)")
        return original(sql, *args)

    real = store.conn
    store.conn = _ConnProxy(real, failing)
    with pytest.raises(synaplex.errors.KnowledgeBaseError, match="failed and was rolled back: .*simulated"):
        await kb.update(FACTS)
    store.conn = real
    assert await kb.count() == {"entities": 0, "relations": 0, "documents": 0, "chunks": 0}
    kb.close()


class _ConnProxy:
    """An apsw connection whose execute() may fail, for the rollback test."""

    def __init__(self, conn, execute):
        self._conn, self.execute = conn, execute

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __enter__(self):
        return self._conn.__enter__()

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)


# --- bad input gets a clear error ----------------------------------------------------------


def test_unknown_uri_scheme_lists_the_supported_ones():
    with pytest.raises(UnsupportedURIError) as caught:
        KnowledgeBase(uri="mongodb://localhost:27017/kb", entity_models=[City])
    message = str(caught.value)
    assert "scheme 'mongodb'" in message
    for scheme in ("sqlite:///", "postgresql://", "neo4j://", "bolt://", "memgraph://"):
        assert scheme in message
    with pytest.raises(UnsupportedURIError, match="no scheme"):
        KnowledgeBase(uri="kb.db", entity_models=[City])
    with pytest.raises(UnsupportedURIError, match="three slashes"):
        KnowledgeBase(uri="sqlite://kb.db", entity_models=[City])


@pytest.mark.parametrize("uri, module, extra", [
    ("sqlite:///kb.db", "apsw", "knowledge"),
    ("postgresql://kb@127.0.0.1:5432/kb", "psycopg", "postgres"),
    ("memgraph://localhost:7687", "neo4j", "neo4j"),
])
def test_a_missing_extra_names_the_pip_command(monkeypatch, uri, module, extra):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    with pytest.raises(synaplex.errors.MissingDependencyError) as caught:
        KnowledgeBase(uri=uri, entity_models=[City])
    assert f"needs {module!r}" in str(caught.value) and f'pip install "synaplex[{extra}]"' in str(caught.value)


async def test_embedding_dimension_differing_from_the_store(db):
    kb = KnowledgeBase(uri=db, entity_models=[City], embedding_model=synaplex.EmbeddingModel(model="scripted"))
    await kb.update(City(name="Oslo"))
    kb.close()
    wider = synaplex.EmbeddingModel(model="scripted", dimensions=128)
    with pytest.raises(EmbeddingDimensionError) as caught:
        await opened(uri=db, entity_models=[City], embedding_model=wider)
    assert "makes 128-dimensional vectors" in str(caught.value)
    assert "holds 64-dimensional vectors (from 'scripted')" in str(caught.value)
    # a model whose dimension is only known once it has embedded: refused before anything is written
    unknown = synaplex.EmbeddingModel(model="scripted", responses=lambda texts: [[1.0] * 16 for _ in texts])
    kb = KnowledgeBase(uri=db, entity_models=[City], embedding_model=unknown)
    with pytest.raises(EmbeddingDimensionError, match="makes 16-dimensional vectors.*holds 64-dimensional"):
        await kb.update(City(name="Bergen"))
    assert await kb.get("City", "Bergen") is None
    kb.close()


def test_entity_model_without_label(db):
    class Thing(synaplex.Entity):
        name: str

    with pytest.raises(KnowledgeSchemaError, match=r"Thing has no label: declare it as a one-value Literal"):
        KnowledgeBase(uri=db, entity_models=[City, Thing])

    class Plain(synaplex.DataModel):
        name: str

    with pytest.raises(KnowledgeSchemaError, match="Plain has no label"):
        KnowledgeBase(uri=db, entity_models=[Plain])


def test_relation_whose_ends_are_not_registered(db):
    with pytest.raises(KnowledgeSchemaError) as caught:
        KnowledgeBase(uri=db, entity_models=[City], relation_models=[IsCapitalOf])
    assert "Relation IsCapitalOf: its obj is Country, which is not one of the entity_models (City)" in str(caught.value)
    assert "Add Country to entity_models=" in str(caught.value)
    with pytest.raises(KnowledgeSchemaError, match="BornIn: its subj is Person"):
        KnowledgeBase(uri=db, entity_models=[City, Country], relation_models=[BornIn])
    with pytest.raises(KnowledgeSchemaError, match="is a Relation; pass it in relation_models="):
        KnowledgeBase(uri=db, entity_models=[City, IsCapitalOf])


async def test_unreachable_server_names_host_and_port_never_the_password():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kb = KnowledgeBase(uri=f"postgresql://kb:Sup3rS3cret@127.0.0.1:{port}/knowledge", entity_models=[City])
    with pytest.raises(KnowledgeBaseConnectionError) as caught:
        await kb.count()
    message = str(caught.value)
    assert f"127.0.0.1:{port}/knowledge" in message and "Sup3rS3cret" not in message
    assert "Sup3rS3cret" not in repr(kb) and "Sup3rS3cret" not in json.dumps(kb.get_config())


def test_unreachable_sqlite_file_names_the_path(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "kb.db"
    with pytest.raises(KnowledgeBaseConnectionError) as caught:
        KnowledgeBase(uri=f"sqlite:///{missing}", entity_models=[City])
    assert str(missing.parent) in str(caught.value) and "does not exist" in str(caught.value)
    not_a_db = tmp_path / "text.db"
    not_a_db.write_text("this is not a database " * 100)
    with pytest.raises(KnowledgeBaseConnectionError, match="not a database"):
        KnowledgeBase(uri=f"sqlite:///{not_a_db}", entity_models=[City])


async def test_metric_is_checked_against_the_store(db):
    (await opened(uri=db, entity_models=[City], metric="l2")).close()
    with pytest.raises(synaplex.errors.InvalidInputError, match="was created with metric='l2'"):
        await opened(uri=db, entity_models=[City], metric="cosine")
    with pytest.raises(synaplex.errors.InvalidInputError, match="metric must be one of cosine, l2"):
        await opened(uri=db, entity_models=[City], metric="hamming", wipe_on_start=True)


def test_password_never_leaves_the_uri():
    assert redact_uri("postgresql://kb:s3cret@db.example:5432/knowledge") == \
        "postgresql://kb:***@db.example:5432/knowledge"
    assert redact_uri("sqlite:///kb.db") == "sqlite:///kb.db"
    assert redact_uri("postgresql://kb:s3cret@db.example:5432/knowledge", mask=None) == \
        "postgresql://kb@db.example:5432/knowledge"


# --- saving --------------------------------------------------------------------------------


async def test_config_is_uri_and_models_never_data(kb, db):
    config = kb.get_config()
    assert config["uri"] == db.replace("postgres:@", "postgres@") and config["metric"] == "cosine"
    assert [m["label"] for m in config["entity_models"]] == ["City", "Country", "Person"]
    assert config["relation_models"][2] == {**config["relation_models"][2], "subj": ["Person"], "obj": ["City"]}
    assert "Louvre" not in json.dumps(config) and "wipe_on_start" not in config
    again = KnowledgeBase.from_config(json.loads(json.dumps(config)))
    assert again.registry.entities["City"].model is City
    assert (await again.fulltext_search("Louvre"))[0]["key"] == "Paris"
    again.close()


async def test_safe_loading_refuses_to_open_a_store_unless_allowed(kb, db):
    capability = "credentials" if db.startswith("postgresql") else "files"
    serialized = json.loads(json.dumps(synaplex.saving.serialize_synaplex_object(kb)))
    with pytest.raises(synaplex.errors.UnsafeLoadError) as caught:
        synaplex.saving.deserialize_synaplex_object(serialized)
    assert caught.value.field == "config.uri" and caught.value.capability == capability
    assert ("connect to the database server" if capability == "credentials" else
            "create or open the SQLite knowledge base") in str(caught.value)
    loaded = synaplex.saving.deserialize_synaplex_object(serialized, allow=(capability,))
    assert isinstance(loaded, KnowledgeBase) and (await loaded.count())["relations"] == 7
    loaded.close()


async def test_models_known_only_by_their_schema_still_work(kb):
    config = json.loads(json.dumps(kb.get_config()))
    for group in ("entity_models", "relation_models"):
        for model in config[group]:
            model["data_model"] = "not_imported_module:Gone"
    schema_only = KnowledgeBase.from_config(config)
    assert schema_only.registry.entities["City"].model is None
    await schema_only.update([{"label": "City", "name": "Nice"},
                              {"subj": {"label": "City", "name": "Nice"}, "label": "IsLocatedIn",
                               "obj": {"label": "Country", "name": "France"}}])
    assert await schema_only.get("City", "Nice") == {"label": "City", "name": "Nice"}
    with pytest.raises(synaplex.errors.InvalidInputError, match="'name' is a required property"):
        await schema_only.update({"label": "City", "description": "no name"})
    schema_only.close()


# --- documents -----------------------------------------------------------------------------


async def test_documents_are_chunked_and_rechunked_on_update(db):
    kb = KnowledgeBase(uri=db, data_models=[synaplex.Document], embedding_model=scripted_em(), chunk_size=32,
                       chunk_overlap=0)
    text = " ".join(f"Sentence number {i} talks about topic{i}." for i in range(40))
    written = await kb.update(synaplex.Document(id="long", text=text))
    assert written["documents"] == 1 and written["chunks"] > 5
    chunks = await kb.query("SELECT key, text FROM nodes WHERE kind = 'chunk' ORDER BY id")
    assert all(len(c["text"]) < len(text) for c in chunks)
    hit = (await kb.fulltext_search("topic17", k=1))[0]
    assert hit["kind"] == "chunk" and hit["document"] == "long" and "topic17" in hit["data"]["text"]
    await kb.update(synaplex.Document(id="long", text="Now it is short."))
    assert (await kb.count())["chunks"] == 1
    assert await kb.fulltext_search("topic17") == []
    assert await kb.get("Document", "long") == {"id": "long", "text": "Now it is short."}
    assert await kb.delete("Document", "long") is True
    assert await kb.count() == {"entities": 0, "relations": 0, "documents": 0, "chunks": 0}
    kb.close()


@pytest.mark.integration
async def test_documents_on_the_embedded_embedder(db):
    kb = KnowledgeBase(uri=db, data_models=[synaplex.Document], embedding_model="local")
    await kb.update([
        synaplex.Document(id="nile", text="The Nile is the longest river in Africa. It flows north into the "
                                          "Mediterranean Sea through Egypt and Sudan."),
        synaplex.Document(id="everest", text="Mount Everest is the highest mountain on Earth, on the border of "
                                             "Nepal and China."),
        synaplex.Document(id="violin", text="The violin is a wooden string instrument played with a bow."),
    ])
    for question, expected in [("what is the tallest peak in the world", "everest"),
                               ("which african river is the longest", "nile"),
                               ("how is a fiddle played", "violin")]:
        for mode in ("similarity", "hybrid"):
            assert (await kb.search(question, k=1, search=mode))[0]["document"] == expected, (question, mode)
    kb.close()
