"""The server store: PostgreSQL with pgvector (HNSW) for vectors and tsvector/GIN for words.

The same tables as the SQLite store (``nodes``, ``edges``, ``kb_meta``), in the database the URI
names; ``nodes.embedding`` is a ``vector(D)`` column with an HNSW index once the dimension is
known, ``nodes.tsv`` a generated ``tsvector`` with a GIN index. Filtered vector searches use
pgvector's iterative index scans, so a label filter still returns ``k`` rows. Paths are joins
driven from the searched node's candidates. Each write is one transaction.

``query()`` runs one statement (a prepared statement cannot hold two) in a read-only
transaction that is always rolled back, as the role ``synaplex_kb_reader`` (SELECT only) when
the connecting user could create it.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from typing import Any

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.knowledge.errors import (
    KnowledgeBaseConnectionError,
    KnowledgeBaseError,
    ReadOnlyQueryError,
)
from synaplex.knowledge.plans import NodeSearch
from synaplex.knowledge.schema import EdgeRow, NodeRow
from synaplex.knowledge.sql_store import POSTGRES, SqlStore
from synaplex.knowledge.store import FORMAT

INSTALL = 'pip install "synaplex[postgres]"'
OPERATORS = {"cosine": ("<=>", "vector_cosine_ops"), "l2": ("<->", "vector_l2_ops")}
READER = "synaplex_kb_reader"

_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS kb_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes(
    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL, key TEXT NOT NULL,
    parent BIGINT REFERENCES nodes(id) ON DELETE CASCADE, data JSON NOT NULL, text TEXT, scope TEXT NOT NULL,
    tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', coalesce(text, ''))) STORED,
    UNIQUE(kind, label, key));
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent);
CREATE INDEX IF NOT EXISTS nodes_tsv ON nodes USING GIN(tsv);
CREATE INDEX IF NOT EXISTS nodes_scope ON nodes(scope);
CREATE TABLE IF NOT EXISTS edges(
    id BIGSERIAL PRIMARY KEY, subj BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, label TEXT NOT NULL,
    obj BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, data JSON NOT NULL, UNIQUE(subj, label, obj));
CREATE INDEX IF NOT EXISTS edges_obj ON edges(obj, label);
CREATE INDEX IF NOT EXISTS edges_label ON edges(label, subj);
"""


def _psycopg():
    try:
        import psycopg  # noqa: PLC0415 - optional extra "postgres"
    except ImportError:
        raise MissingDependencyError(f"The PostgreSQL knowledge store needs psycopg. Install it with: {INSTALL}") \
            from None
    return psycopg


def describe(uri: str) -> str:
    """``host:port/database`` of a PostgreSQL URI (a socket folder for a local socket), never the password."""
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["localhost"])[0]
    port = parts.port or int((query.get("port") or ["5432"])[0])
    database = parts.path.lstrip("/") or parts.username or "postgres"
    return f"{host}:{port}/{database}"


def _scrub(message: str, uri: str) -> str:
    password = urllib.parse.urlsplit(uri).password
    return message.replace(password, "***") if password else message


# a node as search results show it; a chunk names its document
_NODE_COLUMNS = ", n.kind, n.label, n.key, n.data, (SELECT p.key FROM nodes p WHERE p.id = n.parent)"


def _node(columns) -> dict:
    kind, label, key, data, document = columns
    return {"kind": kind, "label": label, "key": key, "data": data,
            **({"document": document} if document is not None else {})}


def _vector(vector) -> str:
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def _tsquery(text: str) -> str | None:
    words = list(dict.fromkeys(w.lower() for w in re.findall(r"\w+", text or "")))
    return " | ".join(words) if words else None


class PostgresStore(SqlStore):
    """A knowledge store in a PostgreSQL database (see the module docstring)."""

    backend = "postgres"
    dialect = POSTGRES

    def __init__(self, uri: str, metric: str = "cosine", wipe_on_start: bool = False):
        if metric not in OPERATORS:
            raise InvalidInputError(f"metric must be one of {', '.join(OPERATORS)} for PostgreSQL, got {metric!r}.")
        self.psycopg = _psycopg()
        self.uri = uri
        self.metric = metric
        self.lock = threading.RLock()
        self._readonly = None
        self._ef = None  # the session's hnsw.ef_search, once set
        self.conn = self._connect()
        try:
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(727274)")  # one schema creator at a time
                if wipe_on_start:
                    self.conn.execute("DROP TABLE IF EXISTS edges, nodes, kb_meta CASCADE")
                self.conn.execute(_SCHEMA)
                self._init_meta()
                self._reader = self._create_reader()
        except self.psycopg.Error as error:
            self.conn.close()
            raise KnowledgeBaseError(f"Cannot prepare the knowledge base in {self.where()!r}: "
                                     f"{_scrub(str(error), uri)}") from None

    def where(self) -> str:
        return f"postgresql://{describe(self.uri)}"

    def _connect(self):
        try:
            conn = self.psycopg.connect(self.uri, connect_timeout=10, autocommit=True)
        except self.psycopg.Error as error:
            reason = _scrub(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                            self.uri)
            raise KnowledgeBaseConnectionError(
                f"Cannot connect to the PostgreSQL knowledge base at {describe(self.uri)}: {reason}. Check that the "
                "server runs and accepts connections there.") from None
        conn.execute("SET hnsw.iterative_scan = relaxed_order")  # a filtered search still returns k rows
        return conn

    def _create_reader(self) -> bool:
        try:
            with self.conn.transaction():
                exists = self.conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone()
                if not exists:
                    self.conn.execute(f"CREATE ROLE {READER} NOLOGIN")
                self.conn.execute(f"GRANT SELECT ON nodes, edges, kb_meta TO {READER}")
                self.conn.execute(f"GRANT {READER} TO CURRENT_USER")
            return True
        except self.psycopg.Error:
            return False  # no CREATEROLE: query() relies on the read-only transaction alone

    # --- meta ------------------------------------------------------------------------

    def _init_meta(self) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM kb_meta").fetchall())
        if not meta:
            self.conn.execute("INSERT INTO kb_meta VALUES ('format', %s), ('metric', %s)", (FORMAT, self.metric))
            meta = {"format": FORMAT, "metric": self.metric}
        self.meta = self._check_meta(meta)

    def _ensure_vectors(self, dimension: int, model: str) -> None:
        self.check_dimension(dimension, model)
        if self.dimension is None:
            operator_class = OPERATORS[self.metric][1]
            self.conn.execute(f"ALTER TABLE nodes ADD COLUMN embedding vector({int(dimension)})")
            self.conn.execute(f"CREATE INDEX nodes_embedding ON nodes USING hnsw (embedding {operator_class})")
            self.conn.execute("INSERT INTO kb_meta VALUES ('dimension', %s), ('embedding_model', %s)",
                              (str(dimension), model))
            self.meta = {**self.meta, "dimension": str(dimension), "embedding_model": model}

    # --- writes ----------------------------------------------------------------------

    def existing_texts(self, nodes: list[NodeRow]) -> dict[tuple, str | None]:
        if not nodes:
            return {}
        with self.lock:
            rows = self.conn.execute(
                "SELECT n.kind, n.label, n.key, n.text FROM nodes n JOIN unnest(%s::text[], %s::text[], %s::text[]) "
                "AS w(kind, label, key) ON n.kind = w.kind AND n.label = w.label AND n.key = w.key",
                ([n.kind for n in nodes], [n.label for n in nodes], [n.key for n in nodes])).fetchall()
        return {(k, label, key): text for k, label, key, text in rows}

    def write(self, nodes: list[NodeRow], edges: list[EdgeRow], embedding_model: str | None) -> None:
        with self.lock:
            meta = dict(self.meta)
            try:
                with self.conn.transaction():
                    self._write(nodes, edges, embedding_model)
            except BaseException as error:
                self.meta = meta  # rolled back, with what the transaction created
                if isinstance(error, self.psycopg.Error):
                    raise KnowledgeBaseError(f"The write to {self.where()!r} failed and was rolled back: "
                                             f"{_scrub(str(error), self.uri)}") from None
                raise

    def _write(self, nodes: list[NodeRow], edges: list[EdgeRow], embedding_model: str | None) -> None:
        """Set-based writes: one statement per kind of row, the rows as arrays (unnest)."""
        vectors = [n.vector for n in nodes if n.vector is not None]
        if vectors:
            self._ensure_vectors(len(vectors[0]), embedding_model or "unknown")
            for vector in vectors:
                if len(vector) != len(vectors[0]):
                    self.check_dimension(len(vector), embedding_model or "unknown")
        has_vectors = self.dimension is not None
        execute = self.conn.execute

        def arrays(rows: list[NodeRow]) -> list:
            out = [[n.kind for n in rows], [n.label for n in rows], [n.key for n in rows],
                   [json.dumps(n.data, ensure_ascii=False) for n in rows], [n.text for n in rows],
                   [n.scope for n in rows]]
            if has_vectors:
                out.append([_vector(n.vector) if n.vector is not None else None for n in rows])
            return out

        columns = "kind, label, key, data, text, scope" + (", embedding" if has_vectors else "")
        selected = "u.kind, u.label, u.key, u.data::json, u.text, u.scope" + (", u.embedding::vector" if has_vectors
                                                                             else "")
        source = ("unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]"
                  + (", %s::text[]" if has_vectors else "") + ") AS u(kind, label, key, data, text, scope"
                  + (", embedding" if has_vectors else "") + ")")
        keep = ", embedding = COALESCE(excluded.embedding, nodes.embedding)" if has_vectors else ""
        plain = [n for n in nodes if n.parent is None and not n.endpoint]
        endpoints = [n for n in nodes if n.endpoint]
        chunks = [n for n in nodes if n.parent is not None]
        if plain:
            execute(f"INSERT INTO nodes({columns}) SELECT {selected} FROM {source} ON CONFLICT (kind, label, key) "
                    f"DO UPDATE SET data = excluded.data, text = excluded.text, parent = NULL{keep}", arrays(plain))
        if endpoints:
            execute(f"INSERT INTO nodes({columns}) SELECT {selected} FROM {source} ON CONFLICT (kind, label, key) "
                    "DO NOTHING", arrays(endpoints))
        documents = [n for n in plain if n.kind == "document"]
        if documents:
            execute("DELETE FROM nodes WHERE parent IN (SELECT d.id FROM nodes d JOIN unnest(%s::text[], %s::text[]) "
                    "AS u(label, key) ON d.kind = 'document' AND d.label = u.label AND d.key = u.key)",
                    [[n.label for n in documents], [n.key for n in documents]])
        if chunks:
            chunk_source = source.replace(") AS u(", ", %s::text[], %s::text[]) AS u(").replace(
                "scope" + (", embedding" if has_vectors else "") + ")",
                "scope" + (", embedding" if has_vectors else "") + ", parent_label, parent_key)")
            execute(f"INSERT INTO nodes({columns}, parent) SELECT {selected}, d.id FROM {chunk_source} JOIN nodes d "
                    "ON d.kind = 'document' AND d.label = u.parent_label AND d.key = u.parent_key",
                    arrays(chunks) + [[n.parent[0] for n in chunks], [n.parent[1] for n in chunks]])
        if edges:
            execute("INSERT INTO edges(subj, label, obj, data) SELECT s.id, u.label, o.id, u.data::json FROM "
                    "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
                    "AS u(subj_label, subj_key, label, obj_label, obj_key, data) "
                    "JOIN nodes s ON s.kind = 'entity' AND s.label = u.subj_label AND s.key = u.subj_key "
                    "JOIN nodes o ON o.kind = 'entity' AND o.label = u.obj_label AND o.key = u.obj_key "
                    "ON CONFLICT (subj, label, obj) DO UPDATE SET data = excluded.data",
                    [[e.subj[0] for e in edges], [e.subj[1] for e in edges], [e.label for e in edges],
                     [e.obj[0] for e in edges], [e.obj[1] for e in edges], [json.dumps(e.data) for e in edges]])

    def delete(self, kind: str, label: str, key: str) -> bool:
        with self.lock, self.conn.transaction():
            return self.conn.execute("DELETE FROM nodes WHERE kind = %s AND label = %s AND key = %s",
                                     (kind, label, key)).rowcount > 0

    def delete_edge(self, subj: tuple[str, str], label: str, obj: tuple[str, str]) -> bool:
        with self.lock, self.conn.transaction():
            return self.conn.execute(
                "DELETE FROM edges WHERE label = %s AND subj = (SELECT id FROM nodes WHERE kind = 'entity' AND "
                "label = %s AND key = %s) AND obj = (SELECT id FROM nodes WHERE kind = 'entity' AND label = %s AND "
                "key = %s)", (label, *subj, *obj)).rowcount > 0

    # --- reads -----------------------------------------------------------------------

    def _nodes(self, ids: list[int]) -> dict[int, dict]:
        if not ids:
            return {}
        rows = self.conn.execute(f"SELECT n.id{_NODE_COLUMNS} FROM nodes n WHERE n.id = ANY(%s)",
                                 (list(ids),)).fetchall()
        return {row[0]: _node(row[1:]) for row in rows}

    def get(self, kind: str, label: str, key: str) -> dict | None:
        with self.lock:
            row = self.conn.execute("SELECT data FROM nodes WHERE kind = %s AND label = %s AND key = %s",
                                    (kind, label, key)).fetchone()
        return row[0] if row else None

    def getall(self, kind: str, label: str, limit: int | None, offset: int) -> list[dict]:
        with self.lock:
            rows = self.conn.execute("SELECT data FROM nodes WHERE kind = %s AND label = %s ORDER BY id LIMIT %s "
                                     "OFFSET %s", (kind, label, limit, offset)).fetchall()
        return [r[0] for r in rows]

    def count(self) -> dict:
        with self.lock:
            nodes = dict(self.conn.execute("SELECT kind, COUNT(*) FROM nodes GROUP BY kind").fetchall())
            edges = self.conn.execute("SELECT COUNT(*) FROM edges").fetchone()[0]
        return {"entities": nodes.get("entity", 0), "relations": edges, "documents": nodes.get("document", 0),
                "chunks": nodes.get("chunk", 0)}

    def _ef_search(self, limit: int) -> None:
        """HNSW's candidate list for a top-``limit`` search: a session setting, sent only when it changes."""
        ef_search = max(40, 2 * int(limit))
        if ef_search != self._ef:
            self.conn.execute(f"SET hnsw.ef_search = {ef_search}")
            self._ef = ef_search

    def _similarity(self, search: NodeSearch, limit: int, columns: str = "") -> list[tuple]:
        """``(id, distance, *columns)`` of the nearest nodes: one statement, one round trip."""
        if search.vector is None or self.dimension is None:
            return []
        self._ef_search(limit)
        operator = OPERATORS[self.metric][0]
        rows = self.conn.execute(
            f"SELECT n.id, n.embedding {operator} %s::vector AS d{columns} FROM nodes n WHERE n.scope = ANY(%s) "
            "AND n.embedding IS NOT NULL ORDER BY d LIMIT %s",
            (_vector(search.vector), search.scopes, limit)).fetchall()
        return sorted(rows, key=lambda row: row[1])  # iterative scans (relaxed order) may return them unsorted

    def _ranked(self, search: NodeSearch, mode: str, limit: int) -> list[tuple[int, float]]:
        if mode == "similarity":
            return [(row[0], self._score(row[1])) for row in self._similarity(search, limit)]
        query = _tsquery(search.text or "")
        if query is None:
            return []
        rows = self.conn.execute(
            "SELECT id, ts_rank_cd(tsv, q) AS r FROM nodes, to_tsquery('english', %s) q WHERE tsv @@ q AND "
            "scope = ANY(%s) ORDER BY r DESC, id LIMIT %s", (query, search.scopes, limit)).fetchall()
        return [(i, float(r)) for i, r in rows]

    def search(self, search: NodeSearch) -> list[dict]:
        with self.lock:
            if search.mode == "similarity":  # the nodes come with their distances, in the same statement
                return [{**_node(row[2:]), "score": self._score(row[1])}
                        for row in self._similarity(search, search.k, _NODE_COLUMNS)]
        return super().search(search)

    # --- read-only SQL ---------------------------------------------------------------

    def query(self, sql: str, params: Any = None) -> list[dict]:
        if not isinstance(sql, str):
            raise InvalidInputError(f"query() takes an SQL string, got {type(sql).__name__}.")
        psycopg = self.psycopg
        with self.lock:
            if self._readonly is None:
                self._readonly = self._connect()
                self._readonly.autocommit = False
                self._readonly.read_only = True
            conn = self._readonly
            try:
                if self._reader:
                    conn.execute(f"SET LOCAL ROLE {READER}")
                cursor = conn.execute(sql, params if params is not None else [], prepare=True)
                names = [c.name for c in cursor.description] if cursor.description else []
                rows = cursor.fetchall() if cursor.description else []
            except (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege) as error:
                raise ReadOnlyQueryError(f"query() runs in a read-only transaction: {error}. Change the store with "
                                         "update() and delete().") from None
            except psycopg.errors.SyntaxError as error:
                if "multiple commands" in str(error):
                    raise InvalidInputError("query() runs one SQL statement at a time; got several.") from None
                raise KnowledgeBaseError(f"query() failed: {error}") from None
            except psycopg.Error as error:
                raise KnowledgeBaseError(f"query() failed: {type(error).__name__}: "
                                         f"{_scrub(str(error), self.uri)}") from None
            finally:
                conn.rollback()  # never kept, whatever the statement was
        return [dict(zip(names, row)) for row in rows]

    def close(self) -> None:
        with self.lock:
            for conn in (self._readonly, getattr(self, "conn", None)):
                if conn is not None:
                    conn.close()
            self._readonly = None
