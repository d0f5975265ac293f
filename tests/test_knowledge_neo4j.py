"""The Neo4j / Memgraph store (issue 13), at the driver's session level.

No Bolt server installs from the package registries, so, as for the hosted LLM providers, the
official ``neo4j`` driver's ``GraphDatabase.driver`` is replaced by a fake whose sessions record
every transaction (access mode, Cypher, parameters) and answer with scripted records. The Cypher
of a whole session is compared with a golden fixture (``tests/knowledge_golden/``; set
``SYNAPLEX_UPDATE_GOLDEN=1`` to rewrite it after a deliberate change). The connection error is
tested against the real driver and a closed port.
"""

import json
import os
import socket
from pathlib import Path

import neo4j
import pytest

import synaplex
from synaplex.knowledge.errors import KnowledgeBaseConnectionError, ReadOnlyQueryError
from synaplex.knowledge.knowledge_base import KnowledgeBase
from tests.knowledge_models import City, Country, IsCapitalOf

GOLDEN = Path(__file__).resolve().parent / "knowledge_golden"


class FakeCounters:
    def __init__(self, updates):
        self.contains_updates, self.contains_system_updates = updates, False


class FakeResult:
    def __init__(self, rows, updates=False):
        self.rows, self.updates = rows, updates

    def data(self):
        return self.rows

    def consume(self):
        return type("Summary", (), {"counters": FakeCounters(self.updates)})()


class FakeTx:
    def __init__(self, session):
        self.session = session

    def run(self, query, parameters):
        self.session.driver.calls.append({"mode": self.session.mode, "query": query, "parameters": parameters})
        rows = self.session.driver.respond(query, parameters)
        return FakeResult(rows, updates=query.lstrip().upper().startswith(("CREATE", "MERGE", "DELETE", "SET")))

    def close(self):  # the real Transaction.close() rolls back an open transaction
        self.session.driver.rollbacks += 1


class FakeSession:
    def __init__(self, driver, mode):
        self.driver, self.mode = driver, mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute_write(self, work):
        return work(FakeTx(self))

    def execute_read(self, work):
        return work(FakeTx(self))

    def begin_transaction(self):
        return FakeTx(self)


class FakeDriver:
    """What GraphDatabase.driver returns: sessions that record and answer like a small graph."""

    def __init__(self, uri, auth):
        self.uri, self.auth = uri, auth
        self.calls = []
        self.rollbacks = 0
        self.enforces_read_access = not uri.startswith("bolt://")  # Memgraph (bolt://) does not
        self.nodes = {"n:1": ("entity", "City", "Rome", {"label": "City", "name": "Rome", "description": ""}),
                      "n:2": ("entity", "Country", "Italy", {"label": "Country", "name": "Italy"})}

    def verify_connectivity(self):
        return None

    def session(self, database=None, default_access_mode=None):
        return FakeSession(self, default_access_mode)

    def close(self):
        return None

    def respond(self, query, parameters):
        if "MERGE (m:KBMeta" in query:
            return [{"format": "1", "metric": "cosine", "dimension": None, "embedding_model": None}]
        if "RETURN n.kind AS kind, n.label AS label, n.key AS key, n.text AS text" in query:
            return []
        scopes = parameters.get("scopes", [])
        if "vector" in query and "$candidates" in query:
            found = [{"id": "n:1", "score": 0.93}, {"id": "n:2", "score": 0.41}]
            return [r for r in found if self.scope(r["id"]) in scopes]
        if "$query" in query or "$words" in query:
            return [r for r in [{"id": "n:2", "score": 2.5}] if self.scope(r["id"]) in scopes]
        if query.startswith("UNWIND $ids AS nid"):
            return [{"id": i, "kind": self.nodes[i][0], "label": self.nodes[i][1], "key": self.nodes[i][2],
                     "data": json.dumps(self.nodes[i][3]), "document": None}
                    for i in parameters["ids"] if i in self.nodes]
        if query.startswith("MATCH (n0:KBNode)-[e1:KB_REL]->"):
            return [{"n0": "n:1", "n1": "n:2", "r1": "IsCapitalOf", "d1": "{}"}]
        if "min(length(p)) AS depth" in query:
            return [{"id": "n:2", "depth": 1}]
        if "count(*) AS n" in query:
            return [{"kind": "entity", "n": 2}]
        if "count(r) AS n" in query:
            return [{"n": 1}]
        if "read_write_probe" in query and self.enforces_read_access and self.session_mode_is_read(parameters):
            raise neo4j.exceptions.Neo4jError._hydrate_neo4j(
                code="Neo.ClientError.Statement.AccessMode", message="Writing in read access mode not allowed.")
        return []

    def scope(self, node_id):
        return f"{self.nodes[node_id][0]}:{self.nodes[node_id][1]}"

    def session_mode_is_read(self, parameters):
        return self.calls[-1]["mode"] == neo4j.READ_ACCESS


@pytest.fixture
def driver(monkeypatch):
    made = []

    def factory(uri, auth=None, **kwargs):
        made.append(FakeDriver(uri, auth))
        return made[-1]

    monkeypatch.setattr(neo4j.GraphDatabase, "driver", factory)
    return made


def em8():
    return synaplex.EmbeddingModel(model="scripted", responses=lambda texts: [[0.5] * 8 for _ in texts])


async def scenario(uri: str) -> KnowledgeBase:
    kb = KnowledgeBase(uri=uri, entity_models=[City, Country], relation_models=[IsCapitalOf], embedding_model=em8())
    await kb.update([City(name="Rome"), IsCapitalOf(subj=City(name="Rome"), obj=Country(name="Italy"))])
    hits = await kb.hybrid_search("capital of Italy", k=2)
    assert [h["key"] for h in hits] == ["Italy", "Rome"]  # fused: Italy in both rankings, Rome in one
    assert [h["key"] for h in await kb.hybrid_search("capital of Italy", labels=["City"], k=2)] == ["Rome"]
    triplets = await kb.triplet_search(subject_label="City", relation_label="IsCapitalOf", object="Italy", k=5)
    assert triplets == [{"subj": {"label": "City", "name": "Rome", "description": ""}, "label": "IsCapitalOf",
                         "obj": {"label": "Country", "name": "Italy"}, "score": pytest.approx(1 / 61)}]
    assert [n["key"] for n in await kb.neighbours("City", "Rome", depth=2)] == ["Italy"]
    assert await kb.count() == {"entities": 2, "relations": 1, "documents": 0, "chunks": 0}
    return kb


@pytest.mark.parametrize("uri, golden", [("neo4j://neo:s3cret@graph.example:7687/kb", "neo4j_session.json"),
                                         ("memgraph://localhost:7687", "memgraph_session.json")])
async def test_a_session_sends_the_golden_cypher(driver, uri, golden):
    kb = await scenario(uri)
    calls = driver[0].calls
    path = GOLDEN / golden
    if os.environ.get("SYNAPLEX_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(calls, indent=1) + "\n")
    assert calls == json.loads(path.read_text())
    kb.close()


async def test_connection_uses_bolt_and_the_uri_credentials_never_saved(driver):
    kb = await scenario("neo4j://neo:s3cret@graph.example:7687/kb")
    assert driver[0].uri == "neo4j://graph.example:7687" and driver[0].auth == ("neo", "s3cret")
    saved = json.dumps(kb.get_config())
    assert "s3cret" not in saved and "neo4j://neo@graph.example:7687/kb" in saved
    memgraph = await scenario("memgraph://localhost:7687")
    assert driver[1].uri == "bolt://localhost:7687" and driver[1].auth is None
    assert any("vector_search.search" in c["query"] for c in driver[1].calls)
    kb.close()
    memgraph.close()


async def test_a_models_text_only_travels_as_parameters(driver):
    kb = await scenario("neo4j://localhost:7687")
    hostile = "x'}) DETACH DELETE n WITH 1 AS one MATCH (m) //"
    await kb.triplet_search(subject_label="City", subject=hostile, relation_label="IsCapitalOf", object=hostile)
    await kb.hybrid_search(hostile)
    for call in driver[0].calls:
        assert hostile not in call["query"] and "DETACH DELETE n WITH" not in call["query"]
    assert any('"detach"' in json.dumps(call["parameters"]) for call in driver[0].calls)  # its words, as data
    kb.close()


async def test_query_runs_in_a_read_transaction(driver):
    kb = await scenario("neo4j://localhost:7687")
    await kb.query("MATCH (n:KBNode) RETURN n.key AS key LIMIT $n", {"n": 3})
    assert driver[0].calls[-1]["mode"] == neo4j.READ_ACCESS
    assert driver[0].calls[-1]["parameters"] == {"n": 3}
    with pytest.raises(ReadOnlyQueryError, match="read transaction: Writing in read access mode not allowed"):
        await kb.query("CREATE (:read_write_probe)")
    with pytest.raises(synaplex.errors.InvalidInputError, match="parameters as a dict"):
        await kb.query("MATCH (n) RETURN n", ["positional"])
    assert driver[0].rollbacks == 2  # every query() transaction is rolled back, even a read
    kb.close()


async def test_memgraph_query_that_writes_is_refused_and_rolled_back(driver):
    """Memgraph runs a write in a read-mode transaction; the summary's counters catch it."""
    kb = await scenario("memgraph://localhost:7687")
    assert await kb.query("MATCH (n:KBNode) RETURN n.key AS key") == []
    with pytest.raises(ReadOnlyQueryError, match="would change the graph, and its changes were rolled back"):
        await kb.query("CREATE (:read_write_probe)")
    assert driver[0].calls[-1]["mode"] == neo4j.READ_ACCESS and driver[0].rollbacks == 2
    kb.close()


async def test_unreachable_bolt_server_names_host_and_port_never_the_password():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kb = KnowledgeBase(uri=f"neo4j://neo:Sup3rS3cret@127.0.0.1:{port}", entity_models=[City])
    with pytest.raises(KnowledgeBaseConnectionError) as caught:
        await kb.count()
    assert f"127.0.0.1:{port}" in str(caught.value) and "Sup3rS3cret" not in str(caught.value)


async def test_the_seeds_memgraph_uri(driver):
    """The seed's snippet as written (synalinks -> synaplex), on its memgraph URI."""

    class Query(synaplex.DataModel):
        query: str

    class Answer(synaplex.DataModel):
        answer: str

    def reply(messages, schema):
        return {"label": "City", "query": "Rome"} if "label" in schema["properties"] else {"answer": "Rome"}

    lm = synaplex.LanguageModel(model="scripted", responses=reply)
    embedding_model = em8()
    inputs = synaplex.Input(data_model=Query)

    knowledge_base = synaplex.KnowledgeBase(
        uri="memgraph://localhost:7687",
        entity_models=[City, Country],
        relation_models=[IsCapitalOf],
        embedding_model=embedding_model,
    )

    retriever_output = await synaplex.EntityRetriever(
        entity_models=[City, Country],
        knowledge_base=knowledge_base,
        language_model=lm,
        return_inputs=True,
    )(inputs)

    answer = await synaplex.Generator(
        data_model=Answer,
        language_model=lm,
        instructions="Answer based on search results",
    )(retriever_output)

    await knowledge_base.update(IsCapitalOf(subj=City(name="Rome"), obj=Country(name="Italy")))
    program = synaplex.Program(inputs=inputs, outputs=answer)
    assert (await program(Query(query="What is the capital of Italy?"))).get("answer") == "Rome"
    assert json.loads(lm.requests[1]["messages"][-1]["content"])["results"][0]["name"] == "Rome"
    assert any("vector_search.search" in c["query"] for c in driver[0].calls)
