"""The graph-server store: Neo4j 5 or Memgraph over Bolt, through the official ``neo4j`` driver.

``neo4j://``, ``bolt://`` (Neo4j) and ``memgraph://`` (Memgraph, spoken to over Bolt). Entities,
documents and chunks are ``(:KBNode {kind, label, key, scope, data, text, embedding})`` nodes,
relations ``[:KB_REL {label, data}]``, a chunk ``-[:KB_CHUNK_OF]->`` its document. Labels are
*properties*, not Cypher labels, so that every label and text travels as a bound parameter: the
Cypher is fixed templates from the same typed plans as the SQL stores (the only numbers written
into it are a validated depth and the vector index's dimension). Each write is one transaction;
``query()`` runs in a read transaction (Neo4j refuses writes there; Memgraph does not enforce
read access, so there ``query()`` is only as read-only as the user it connects as).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from typing import Any

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.knowledge.errors import (
    EmbeddingDimensionError,
    KnowledgeBaseConnectionError,
    KnowledgeBaseError,
    ReadOnlyQueryError,
)
from synaplex.knowledge.plans import RRF_K, NodeSearch, PathSearch
from synaplex.knowledge.schema import EdgeRow, NodeRow
from synaplex.knowledge.store import FORMAT, Store

INSTALL = 'pip install "synaplex[neo4j]"'
METRICS = {"cosine": ("cosine", "cos"), "l2": ("euclidean", "l2sq")}

DIALECTS = {
    "neo4j": {
        "id": "elementId",
        "setup": [
            "CREATE CONSTRAINT kb_node_key IF NOT EXISTS FOR (n:KBNode) REQUIRE (n.kind, n.label, n.key) IS UNIQUE",
            "CREATE INDEX kb_node_scope IF NOT EXISTS FOR (n:KBNode) ON (n.scope)",
            "CREATE FULLTEXT INDEX kb_text IF NOT EXISTS FOR (n:KBNode) ON EACH [n.text]",
        ],
        "vector_index": ("CREATE VECTOR INDEX kb_embedding IF NOT EXISTS FOR (n:KBNode) ON n.embedding OPTIONS "
                         "{{indexConfig: {{`vector.dimensions`: {dimension}, `vector.similarity_function`: "
                         "'{function}'}}}}"),
        "similarity": ("CALL db.index.vector.queryNodes('kb_embedding', $candidates, $vector) YIELD node, score "
                       "WHERE node.scope IN $scopes RETURN elementId(node) AS id, score ORDER BY score DESC "
                       "LIMIT $k"),
        "fulltext": ("CALL db.index.fulltext.queryNodes('kb_text', $query) YIELD node, score WHERE node.scope IN "
                     "$scopes RETURN elementId(node) AS id, score ORDER BY score DESC LIMIT $k"),
    },
    "memgraph": {
        "id": "id",
        "setup": [
            "CREATE INDEX ON :KBNode(key)",
            "CREATE INDEX ON :KBNode(scope)",
        ],
        "vector_index": ('CREATE VECTOR INDEX kb_embedding ON :KBNode(embedding) WITH CONFIG {{"dimension": '
                         '{dimension}, "capacity": 1000000, "metric": "{function}"}}'),
        "similarity": ('CALL vector_search.search("kb_embedding", $candidates, $vector) YIELD node, similarity '
                       "WITH node, similarity WHERE node.scope IN $scopes RETURN id(node) AS id, similarity AS score "
                       "ORDER BY score DESC LIMIT $k"),
        # Memgraph's text search is an experimental flag: words are matched by CONTAINS, scored by count
        "fulltext": ("MATCH (node:KBNode) WHERE node.scope IN $scopes WITH node, size([w IN $words WHERE "
                     "toLower(node.text) CONTAINS w]) AS score WHERE score > 0 RETURN id(node) AS id, score "
                     "ORDER BY score DESC, id LIMIT $k"),
    },
}


def _neo4j():
    try:
        import neo4j  # noqa: PLC0415 - optional extra "neo4j"
    except ImportError:
        raise MissingDependencyError(f"The Neo4j/Memgraph knowledge store needs the neo4j driver. Install it with: "
                                     f"{INSTALL}") from None
    return neo4j


def bolt_target(uri: str) -> tuple[str, str, tuple[str, str] | None, str | None]:
    """``(dialect, driver URI without credentials, auth, database)`` of a store URI."""
    parts = urllib.parse.urlsplit(uri)
    dialect = "memgraph" if parts.scheme == "memgraph" else "neo4j"
    scheme = "bolt" if parts.scheme == "memgraph" else parts.scheme
    host = parts.hostname or "localhost"
    port = parts.port or 7687
    auth = (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or "")) \
        if parts.username else None
    database = parts.path.strip("/") or None
    return dialect, f"{scheme}://{host}:{port}", auth, database


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in re.findall(r"\w+", text or "")))


class Neo4jStore(Store):
    """A knowledge store on a Bolt server (see the module docstring)."""

    backend = "neo4j"

    def __init__(self, uri: str, metric: str = "cosine", wipe_on_start: bool = False):
        if metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {', '.join(METRICS)} for Neo4j/Memgraph, got {metric!r}.")
        self.neo4j = _neo4j()
        self.dialect_name, self.address, auth, self.database = bolt_target(uri)
        self.dialect = DIALECTS[self.dialect_name]
        self.metric = metric
        self.lock = threading.RLock()
        try:
            self.driver = self.neo4j.GraphDatabase.driver(self.address, auth=auth)
            self.driver.verify_connectivity()
        except (self.neo4j.exceptions.ServiceUnavailable, self.neo4j.exceptions.AuthError, OSError) as error:
            raise KnowledgeBaseConnectionError(
                f"Cannot connect to the {self.dialect_name} knowledge base at {self.address.partition('://')[2]}: "
                f"{type(error).__name__}: {error}. Check that the server runs and accepts Bolt connections there."
            ) from None
        if wipe_on_start:
            self._write_tx(lambda tx: [tx.run("MATCH (n) WHERE n:KBNode OR n:KBMeta DETACH DELETE n", {})])
        for statement in self.dialect["setup"]:
            self._write_tx(lambda tx, s=statement: tx.run(s, {}).consume())
        self.meta = self._write_tx(lambda tx: tx.run(
            "MERGE (m:KBMeta {id: 1}) ON CREATE SET m.format = $format, m.metric = $metric "
            "RETURN m.format AS format, m.metric AS metric, m.dimension AS dimension, "
            "m.embedding_model AS embedding_model", {"format": FORMAT, "metric": metric}).data()[0])
        self._check_meta(self.meta)

    def where(self) -> str:
        return f"{self.dialect_name}://{self.address.partition('://')[2]}"

    def _session(self, read: bool = False):
        mode = self.neo4j.READ_ACCESS if read else self.neo4j.WRITE_ACCESS
        return self.driver.session(database=self.database, default_access_mode=mode)

    def _write_tx(self, work):
        with self._session() as session:
            return session.execute_write(work)

    def _read_tx(self, work):
        with self._session(read=True) as session:
            return session.execute_read(work)

    # --- meta ------------------------------------------------------------------------

    # --- writes ----------------------------------------------------------------------

    def existing_texts(self, nodes: list[NodeRow]) -> dict[tuple, str | None]:
        rows = [{"kind": n.kind, "label": n.label, "key": n.key} for n in nodes]
        with self.lock:
            found = self._read_tx(lambda tx: tx.run(
                "UNWIND $rows AS row MATCH (n:KBNode {kind: row.kind, label: row.label, key: row.key}) "
                "RETURN n.kind AS kind, n.label AS label, n.key AS key, n.text AS text", {"rows": rows}).data())
        return {(r["kind"], r["label"], r["key"]): r["text"] for r in found}

    def write(self, nodes: list[NodeRow], edges: list[EdgeRow], embedding_model: str | None) -> None:
        vectors = [n.vector for n in nodes if n.vector is not None]
        dimension = None
        if vectors:
            for vector in vectors:
                self.check_dimension(len(vector), embedding_model or "unknown")
                if dimension is not None and len(vector) != dimension:
                    raise EmbeddingDimensionError(f"The vectors of one update differ in dimension ({dimension} and "
                                                  f"{len(vector)}); nothing was written.")
                dimension = len(vector)

        def row(node: NodeRow) -> dict:
            out = {"kind": node.kind, "label": node.label, "key": node.key, "scope": node.scope,
                   "data": json.dumps(node.data, ensure_ascii=False), "text": node.text,
                   "embedding": [float(v) for v in node.vector] if node.vector is not None else None}
            if node.parent is not None:
                out.update(parent_label=node.parent[0], parent_key=node.parent[1])
            return out

        plain = [row(n) for n in nodes if n.parent is None and not n.endpoint]
        endpoints = [row(n) for n in nodes if n.endpoint]
        documents = [{"label": n.label, "key": n.key} for n in nodes if n.kind == "document"]
        chunks = [row(n) for n in nodes if n.parent is not None]
        relations = [{"subj_label": e.subj[0], "subj_key": e.subj[1], "label": e.label, "obj_label": e.obj[0],
                      "obj_key": e.obj[1], "data": json.dumps(e.data)} for e in edges]

        def work(tx):
            if dimension is not None and self.dimension is None:
                tx.run("MATCH (m:KBMeta {id: 1}) SET m.dimension = $dimension, m.embedding_model = $model",
                       {"dimension": dimension, "model": embedding_model or "unknown"}).consume()
            if plain:
                tx.run("UNWIND $rows AS row MERGE (n:KBNode {kind: row.kind, label: row.label, key: row.key}) "
                       "ON CREATE SET n.created = timestamp() SET n.scope = row.scope, n.data = row.data, "
                       "n.text = row.text, n.embedding = coalesce(row.embedding, n.embedding)",
                       {"rows": plain}).consume()
            if endpoints:
                tx.run("UNWIND $rows AS row MERGE (n:KBNode {kind: row.kind, label: row.label, key: row.key}) "
                       "ON CREATE SET n.created = timestamp(), n.scope = row.scope, n.data = row.data, "
                       "n.text = row.text, n.embedding = row.embedding", {"rows": endpoints}).consume()
            if documents:
                tx.run("UNWIND $rows AS row MATCH (:KBNode {kind: 'document', label: row.label, key: row.key})"
                       "<-[:KB_CHUNK_OF]-(c:KBNode) DETACH DELETE c", {"rows": documents}).consume()
            if chunks:
                tx.run("UNWIND $rows AS row MATCH (d:KBNode {kind: 'document', label: row.parent_label, "
                       "key: row.parent_key}) CREATE (c:KBNode {kind: row.kind, label: row.label, key: row.key, "
                       "scope: row.scope, data: row.data, text: row.text, embedding: row.embedding, "
                       "created: timestamp()})-[:KB_CHUNK_OF]->(d)", {"rows": chunks}).consume()
            if relations:
                tx.run("UNWIND $rows AS row MATCH (s:KBNode {kind: 'entity', label: row.subj_label, "
                       "key: row.subj_key}), (o:KBNode {kind: 'entity', label: row.obj_label, key: row.obj_key}) "
                       "MERGE (s)-[r:KB_REL {label: row.label}]->(o) SET r.data = row.data",
                       {"rows": relations}).consume()

        with self.lock:
            try:
                self._write_tx(work)
            except self.neo4j.exceptions.Neo4jError as error:
                raise KnowledgeBaseError(f"The write to {self.where()!r} failed and was rolled back: "
                                         f"{error}") from None
            if dimension is not None and self.dimension is None:
                function = METRICS[self.metric][0 if self.dialect_name == "neo4j" else 1]
                index = self.dialect["vector_index"].format(dimension=int(dimension), function=function)
                self._write_tx(lambda tx: tx.run(index, {}).consume())
                self.meta = {**self.meta, "dimension": dimension, "embedding_model": embedding_model or "unknown"}

    def delete(self, kind: str, label: str, key: str) -> bool:
        with self.lock:
            rows = self._write_tx(lambda tx: tx.run(
                "MATCH (n:KBNode {kind: $kind, label: $label, key: $key}) OPTIONAL MATCH (n)<-[:KB_CHUNK_OF]-(c) "
                "WITH n, collect(c) AS chunks FOREACH (x IN chunks | DETACH DELETE x) DETACH DELETE n "
                "RETURN count(*) AS deleted", {"kind": kind, "label": label, "key": key}).data())
        return bool(rows and rows[0]["deleted"])

    def delete_edge(self, subj: tuple[str, str], label: str, obj: tuple[str, str]) -> bool:
        with self.lock:
            rows = self._write_tx(lambda tx: tx.run(
                "MATCH (:KBNode {kind: 'entity', label: $subj_label, key: $subj_key})-[r:KB_REL {label: $label}]->"
                "(:KBNode {kind: 'entity', label: $obj_label, key: $obj_key}) DELETE r RETURN count(*) AS deleted",
                {"subj_label": subj[0], "subj_key": subj[1], "label": label, "obj_label": obj[0],
                 "obj_key": obj[1]}).data())
        return bool(rows and rows[0]["deleted"])

    # --- reads -----------------------------------------------------------------------

    def _nodes(self, ids: list) -> dict:
        if not ids:
            return {}
        node_id = self.dialect["id"]
        rows = self._read_tx(lambda tx: tx.run(
            f"UNWIND $ids AS nid MATCH (n:KBNode) WHERE {node_id}(n) = nid OPTIONAL MATCH (n)-[:KB_CHUNK_OF]->(d) "
            "RETURN nid AS id, n.kind AS kind, n.label AS label, n.key AS key, n.data AS data, d.key AS document",
            {"ids": list(ids)}).data())
        return {r["id"]: {"kind": r["kind"], "label": r["label"], "key": r["key"], "data": json.loads(r["data"]),
                          **({"document": r["document"]} if r["document"] is not None else {})} for r in rows}

    def get(self, kind: str, label: str, key: str) -> dict | None:
        with self.lock:
            rows = self._read_tx(lambda tx: tx.run("MATCH (n:KBNode {kind: $kind, label: $label, key: $key}) "
                                                   "RETURN n.data AS data", {"kind": kind, "label": label,
                                                                             "key": key}).data())
        return json.loads(rows[0]["data"]) if rows else None

    def getall(self, kind: str, label: str, limit: int | None, offset: int) -> list[dict]:
        with self.lock:
            rows = self._read_tx(lambda tx: tx.run(
                "MATCH (n:KBNode {kind: $kind, label: $label}) RETURN n.data AS data ORDER BY n.created, n.key "
                "SKIP $offset LIMIT $limit", {"kind": kind, "label": label, "offset": offset,
                                              "limit": 2**62 if limit is None else limit}).data())
        return [json.loads(r["data"]) for r in rows]

    def count(self) -> dict:
        with self.lock:
            nodes = self._read_tx(lambda tx: tx.run("MATCH (n:KBNode) RETURN n.kind AS kind, count(*) AS n", {}).data())
            edges = self._read_tx(lambda tx: tx.run("MATCH (:KBNode)-[r:KB_REL]->(:KBNode) RETURN count(r) AS n",
                                                    {}).data())
        kinds = {r["kind"]: r["n"] for r in nodes}
        return {"entities": kinds.get("entity", 0), "relations": edges[0]["n"] if edges else 0,
                "documents": kinds.get("document", 0), "chunks": kinds.get("chunk", 0)}

    def _ranked(self, search: NodeSearch, mode: str, limit: int) -> list[tuple[Any, float]]:
        if mode == "similarity":
            if search.vector is None or self.dimension is None:
                return []
            params = {"candidates": max(10 * limit, 100), "vector": [float(v) for v in search.vector],
                      "scopes": search.scopes, "k": limit}
            query = self.dialect["similarity"]
        else:
            words = _words(search.text or "")
            if not words:
                return []
            params = {"query": " OR ".join(words), "words": words, "scopes": search.scopes, "k": limit}
            query = self.dialect["fulltext"]
        rows = self._read_tx(lambda tx: tx.run(query, params).data())
        return [(r["id"], float(r["score"])) for r in rows]

    def path_search(self, plan: PathSearch) -> list[dict]:
        with self.lock:
            ranks = self._candidate_ranks(plan)
            query, params = path_cypher(plan, ranks, self.dialect["id"])
            rows = self._read_tx(lambda tx: tx.run(query, params).data())
            hops = len(plan.relations)

            def score(row) -> float:
                return sum(1.0 / (RRF_K + 1 + ranks[i][row[f"n{i}"]]) for i in ranks)

            if ranks:
                rows = sorted(rows, key=lambda r: (-score(r), [str(r[f"n{i}"]) for i in range(hops + 1)]))[:plan.k]
            nodes = self._nodes(sorted({r[f"n{i}"] for r in rows for i in range(hops + 1)}, key=str))
        return [{"nodes": [nodes[r[f"n{i}"]]["data"] for i in range(hops + 1)],
                 "relations": [{"label": r[f"r{h}"], **json.loads(r[f"d{h}"])} for h in range(1, hops + 1)],
                 "score": score(r)} for r in rows]

    def neighbours(self, kind: str, label: str, key: str, depth: int, relation_labels: list[str] | None,
                   direction: str) -> list[dict]:
        if not isinstance(depth, int) or not 1 <= depth <= 6:
            raise InvalidInputError(f"depth must be an integer from 1 to 6, got {depth!r}.")
        left, right = {"out": ("-", "->"), "in": ("<-", "-"), "both": ("-", "-")}[direction]
        node_id = self.dialect["id"]
        query = (f"MATCH (s:KBNode {{kind: $kind, label: $label, key: $key}}) MATCH p = (s){left}[rels:KB_REL*1.."
                 f"{int(depth)}]{right}(n:KBNode) WHERE n <> s AND ($labels IS NULL OR all(r IN rels WHERE r.label "
                 f"IN $labels)) RETURN {node_id}(n) AS id, min(length(p)) AS depth ORDER BY depth, id")
        with self.lock:
            rows = self._read_tx(lambda tx: tx.run(query, {"kind": kind, "label": label, "key": key,
                                                           "labels": relation_labels}).data())
            nodes = self._nodes([r["id"] for r in rows])
        return [{**nodes[r["id"]], "depth": r["depth"]} for r in rows if r["id"] in nodes]

    # --- read-only Cypher ------------------------------------------------------------

    def query(self, query: str, params: Any = None) -> list[dict]:
        if not isinstance(query, str):
            raise InvalidInputError(f"query() takes a Cypher string, got {type(query).__name__}.")
        if params is not None and not isinstance(params, dict):
            raise InvalidInputError("query() on a Bolt store takes parameters as a dict ($name in the Cypher).")
        with self.lock, self._session(read=True) as session:
            # a read transaction (Neo4j refuses writes in it), always rolled back, and its summary's
            # counters checked: Memgraph does not enforce the access mode, so a write is caught there
            transaction = session.begin_transaction()
            try:
                result = transaction.run(query, params or {})
                records = result.data()
                counters = result.consume().counters
                if counters.contains_updates or counters.contains_system_updates:
                    raise ReadOnlyQueryError("query() is read-only: this Cypher would change the graph, and its "
                                             "changes were rolled back. Change the store with update() and "
                                             "delete().")
                return records
            except self.neo4j.exceptions.ClientError as error:
                code = getattr(error, "code", "") or ""
                if "AccessMode" in code or "Forbidden" in code:
                    raise ReadOnlyQueryError(f"query() runs in a read transaction: {error.message}. Change the "
                                             "store with update() and delete().") from None
                raise KnowledgeBaseError(f"query() failed: {code}: {error.message}") from None
            finally:
                transaction.close()  # rolls back (a no-op if the server already ended it)

    def close(self) -> None:
        with self.lock:
            self.driver.close()


def path_cypher(plan: PathSearch, ranks: dict, node_id: str) -> tuple[str, dict]:
    """The MATCH of a path pattern: a fixed template, every label and candidate list a parameter."""
    hops = len(plan.relations)
    chain = "(n0:KBNode)" + "".join(f"-[e{h}:KB_REL]->(n{h}:KBNode)" for h in range(1, hops + 1))
    where, params = [], {}
    for i, pattern in enumerate(plan.nodes):
        where.append(f"n{i}.kind = 'entity' AND n{i}.label IN $labels{i}")
        params[f"labels{i}"] = [scope.partition(":")[2] for scope in pattern.scopes]
        if i in ranks:
            where.append(f"{node_id}(n{i}) IN $candidates{i}")
            params[f"candidates{i}"] = list(ranks[i])
    for h, label in enumerate(plan.relations, start=1):
        if label is not None:
            where.append(f"e{h}.label = $relation{h}")
            params[f"relation{h}"] = label
    columns = [f"{node_id}(n{i}) AS n{i}" for i in range(hops + 1)]
    columns += [f"e{h}.label AS r{h}, e{h}.data AS d{h}" for h in range(1, hops + 1)]
    params["limit"] = 50_000 if ranks else plan.k
    return f"MATCH {chain} WHERE {' AND '.join(where)} RETURN {', '.join(columns)} LIMIT $limit", params
