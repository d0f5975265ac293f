"""The embedded store: one SQLite file, sqlite-vec for vectors, FTS5 for BM25, WAL mode.

The standard library's ``sqlite3`` cannot load extensions on many Python builds, so the store
speaks ``apsw``, which bundles a current SQLite, and loads ``sqlite-vec`` into it. Tables:

* ``nodes(id, kind, label, key, parent, data, text)``: entities, documents and their chunks;
  one row per (kind, label, key), so an entity named twice is one node;
* ``edges(id, subj, label, obj, data)``: relations, one per (subject, label, object);
* ``nodes_fts`` (FTS5, BM25) over ``nodes.text``, ``nodes_vec`` (vec0, exact KNN) over the
  embeddings, both keyed by the node's id and filtered by its scope (``kind:label``);
* ``kb_meta``: the store's format, vector dimension, metric and embedding model.

Each write is one transaction: it happens whole or not at all. WAL lets reader processes
work while one writer writes. ``query()`` runs on a second, read-only connection.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.knowledge.errors import (
    KnowledgeBaseConnectionError,
    KnowledgeBaseError,
    ReadOnlyQueryError,
)
from synaplex.knowledge.plans import NodeSearch, fts_query
from synaplex.knowledge.schema import EdgeRow, NodeRow
from synaplex.knowledge.sql_store import SQLITE, SqlStore
from synaplex.knowledge.store import FORMAT
from synaplex.knowledge.vector_mirror import VectorMirror

INSTALL = 'pip install "synaplex[knowledge]"'
METRICS = {"cosine": "cosine", "l2": "l2"}
# the in-memory vector mirror (see vector_mirror.py) holds at most this many bytes; beyond it,
# similarity search runs on sqlite-vec's own (slower, SIMD-less) scan of the file
MIRROR_MAX_BYTES = 512 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes(
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL, key TEXT NOT NULL,
    parent INTEGER REFERENCES nodes(id) ON DELETE CASCADE, data TEXT NOT NULL, text TEXT,
    UNIQUE(kind, label, key));
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent);
CREATE TABLE IF NOT EXISTS edges(
    id INTEGER PRIMARY KEY, subj INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, label TEXT NOT NULL,
    obj INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, data TEXT NOT NULL, UNIQUE(subj, label, obj));
CREATE INDEX IF NOT EXISTS edges_obj ON edges(obj, label);
CREATE INDEX IF NOT EXISTS edges_label ON edges(label, subj);
CREATE VIRTUAL TABLE IF NOT EXISTS nodes_fts USING fts5(
    text, scope UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS nodes_fts_delete AFTER DELETE ON nodes BEGIN
    DELETE FROM nodes_fts WHERE rowid = old.id; END;
"""
_TABLES = ("nodes_vec", "nodes_fts", "edges", "nodes", "kb_meta")
_DESCRIBING_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}


def _modules():
    try:
        import apsw  # noqa: PLC0415 - optional extra "knowledge"
        import sqlite_vec  # noqa: PLC0415 - optional extra "knowledge"
    except ImportError as error:
        raise MissingDependencyError(
            f"The SQLite knowledge store needs apsw and sqlite-vec ({error.name} is missing). Install them with: "
            f"{INSTALL}") from None
    return apsw, sqlite_vec


def _vector_blob(vector) -> bytes:
    import array  # noqa: PLC0415 - cheap, local to the hot path's helper

    return array.array("f", vector).tobytes()


class SQLiteStore(SqlStore):
    """A knowledge store in one SQLite file (see the module docstring)."""

    backend = "sqlite"
    dialect = SQLITE

    def __init__(self, path: str, metric: str = "cosine", wipe_on_start: bool = False):
        if metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {', '.join(METRICS)} for SQLite, got {metric!r}.")
        self.apsw, self.sqlite_vec = _modules()
        self.path = os.path.abspath(os.path.expanduser(path))
        self.metric = metric
        self.lock = threading.RLock()
        self._readonly = None
        self._mirror: VectorMirror | None = None  # built on the first similarity search
        self._mirror_version = None  # PRAGMA data_version when it was built: other writers change it
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise KnowledgeBaseConnectionError(
                f"Cannot open the SQLite knowledge base {self.path!r}: the folder {folder!r} does not exist.")
        try:
            self.conn = self._connect(self.apsw.SQLITE_OPEN_READWRITE | self.apsw.SQLITE_OPEN_CREATE, self.path)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            with self.conn:
                if wipe_on_start:
                    self.conn.execute("DROP TRIGGER IF EXISTS nodes_vec_delete; "
                                      "DROP TRIGGER IF EXISTS nodes_fts_delete")
                    for table in _TABLES:
                        self.conn.execute(f"DROP TABLE IF EXISTS {table}")
                self.conn.execute(_SCHEMA)
                self._init_meta()
        except self.apsw.Error as error:
            raise KnowledgeBaseConnectionError(
                f"Cannot open the SQLite knowledge base {self.path!r}: {error}.") from None

    def _connect(self, flags: int, name: str):
        conn = self.apsw.Connection(name, flags=flags)
        conn.set_busy_timeout(10_000)  # one writer at a time: others wait for it, up to 10 s
        conn.enable_load_extension(True)
        conn.load_extension(self.sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        return conn

    # --- meta ------------------------------------------------------------------------

    def _init_meta(self) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM kb_meta"))
        if not meta:
            self.conn.execute("INSERT INTO kb_meta VALUES ('format', ?), ('metric', ?)", (FORMAT, self.metric))
            meta = {"format": FORMAT, "metric": self.metric}
        self.meta = self._check_meta(meta)

    def where(self) -> str:
        return self.path

    def _ensure_vectors(self, dimension: int, model: str) -> None:
        self.check_dimension(dimension, model)
        if self.dimension is None:
            self.conn.execute(
                f"CREATE VIRTUAL TABLE nodes_vec USING vec0(node_id INTEGER PRIMARY KEY, scope TEXT PARTITION KEY, "
                f"embedding float[{int(dimension)}] distance_metric={METRICS[self.metric]})")
            self.conn.execute("CREATE TRIGGER nodes_vec_delete AFTER DELETE ON nodes BEGIN "
                              "DELETE FROM nodes_vec WHERE node_id = old.id; END")
            self.conn.execute("INSERT INTO kb_meta VALUES ('dimension', ?), ('embedding_model', ?)",
                              (str(dimension), model))
            self.meta = {**self.meta, "dimension": str(dimension), "embedding_model": model}

    # --- writes ----------------------------------------------------------------------

    def existing_texts(self, nodes: list[NodeRow]) -> dict[tuple, str | None]:
        """``{(kind, label, key): text}`` of those nodes that are already stored."""
        out = {}
        with self.lock:
            for node in nodes:
                row = self.conn.execute("SELECT text FROM nodes WHERE kind = ? AND label = ? AND key = ?",
                                        (node.kind, node.label, node.key)).fetchone()
                if row is not None:
                    out[(node.kind, node.label, node.key)] = row[0]
        return out

    def write(self, nodes: list[NodeRow], edges: list[EdgeRow], embedding_model: str | None) -> None:
        """Upsert nodes (documents before their chunks) and edges, in one transaction."""
        with self.lock:
            meta = dict(self.meta)
            try:
                with self.conn:
                    vectors = self._write(nodes, edges, embedding_model)
                self._mirror_written(nodes, vectors)
            except BaseException as error:
                self._mirror = None
                self.meta = meta  # the transaction is rolled back, and so is what it created
                if isinstance(error, self.apsw.Error):
                    raise KnowledgeBaseError(
                        f"The write to {self.where()!r} failed and was rolled back: {error}.") from None
                raise

    def _write(self, nodes, edges, embedding_model) -> list[tuple[str, int, list]]:
        """The write's statements; returns the ``(scope, node id, vector)`` it stored."""
        execute = self.conn.execute
        ids: dict[tuple, int] = {}
        vectors = []
        replaced_documents = set()
        for node in nodes:
            parent = None
            if node.parent is not None:
                parent = ids.get(("document", *node.parent))
                if parent is None:
                    raise KnowledgeBaseError(f"chunk {node.key!r} has no document {node.parent!r} in this write.")
            data = json.dumps(node.data, ensure_ascii=False)
            if node.endpoint:
                execute("INSERT INTO nodes(kind, label, key, parent, data, text) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(kind, label, key) DO NOTHING",
                        (node.kind, node.label, node.key, parent, data, node.text))
                inserted = self.conn.changes() > 0
                node_id = execute("SELECT id FROM nodes WHERE kind = ? AND label = ? AND key = ?",
                                  (node.kind, node.label, node.key)).fetchone()[0]
                if not inserted:  # already stored: an entity named in a relation is not overwritten
                    ids[(node.kind, node.label, node.key)] = node_id
                    continue
            else:
                node_id = execute(
                    "INSERT INTO nodes(kind, label, key, parent, data, text) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(kind, label, key) DO UPDATE SET data = excluded.data, text = excluded.text, "
                    "parent = excluded.parent RETURNING id",
                    (node.kind, node.label, node.key, parent, data, node.text)).fetchone()[0]
            ids[(node.kind, node.label, node.key)] = node_id
            if node.kind == "document" and node_id not in replaced_documents:
                replaced_documents.add(node_id)
                execute("DELETE FROM nodes WHERE parent = ?", (node_id,))  # its chunks, rewritten below
            execute("DELETE FROM nodes_fts WHERE rowid = ?", (node_id,))
            if node.text:
                execute("INSERT INTO nodes_fts(rowid, text, scope) VALUES (?, ?, ?)", (node_id, node.text, node.scope))
            if node.vector is not None:
                self._ensure_vectors(len(node.vector), embedding_model or "unknown")
                execute("DELETE FROM nodes_vec WHERE node_id = ?", (node_id,))
                execute("INSERT INTO nodes_vec(node_id, scope, embedding) VALUES (?, ?, ?)",
                        (node_id, node.scope, _vector_blob(node.vector)))
                vectors.append((node.scope, node_id, node.vector))
        for edge in edges:
            subj = ids[("entity", *edge.subj)]
            obj = ids[("entity", *edge.obj)]
            execute("INSERT INTO edges(subj, label, obj, data) VALUES (?, ?, ?, ?) ON CONFLICT(subj, label, obj) "
                    "DO UPDATE SET data = excluded.data", (subj, edge.label, obj, json.dumps(edge.data)))
        return vectors

    def _mirror_written(self, nodes: list[NodeRow], vectors: list[tuple[str, int, list]]) -> None:
        """Bring the vector mirror up to date with a committed write (its vectors, or drop it)."""
        if self._mirror is None:
            return
        if any(node.kind == "document" for node in nodes):  # old chunks and their vectors went with the rewrite
            self._mirror = None
            return
        for scope, node_id, vector in vectors:
            self._mirror.put(scope, node_id, vector)

    def delete(self, kind: str, label: str, key: str) -> bool:
        with self.lock, self.conn:
            self._mirror = None  # a node's vectors (and its chunks') go with it
            self.conn.execute("DELETE FROM nodes WHERE kind = ? AND label = ? AND key = ?", (kind, label, key))
            return self.conn.changes() > 0

    def delete_edge(self, subj: tuple[str, str], label: str, obj: tuple[str, str]) -> bool:
        with self.lock, self.conn:
            self.conn.execute(
                "DELETE FROM edges WHERE label = ? AND subj = (SELECT id FROM nodes WHERE kind = 'entity' AND "
                "label = ? AND key = ?) AND obj = (SELECT id FROM nodes WHERE kind = 'entity' AND label = ? AND "
                "key = ?)",
                (label, *subj, *obj))
            return self.conn.changes() > 0

    # --- reads -----------------------------------------------------------------------

    def _nodes(self, ids: list[int]) -> dict[int, dict]:
        if not ids:
            return {}
        rows = self.conn.execute(
            "SELECT n.id, n.kind, n.label, n.key, n.data, p.key FROM json_each(?) j JOIN nodes n ON n.id = j.value "
            "LEFT JOIN nodes p ON p.id = n.parent", (json.dumps(ids),))
        return {r[0]: {"kind": r[1], "label": r[2], "key": r[3], "data": json.loads(r[4]),
                       **({"document": r[5]} if r[5] is not None else {})} for r in rows}

    def get(self, kind: str, label: str, key: str) -> dict | None:
        with self.lock:
            row = self.conn.execute("SELECT data FROM nodes WHERE kind = ? AND label = ? AND key = ?",
                                    (kind, label, key)).fetchone()
        return json.loads(row[0]) if row else None

    def getall(self, kind: str, label: str, limit: int | None, offset: int) -> list[dict]:
        with self.lock:
            rows = self.conn.execute("SELECT data FROM nodes WHERE kind = ? AND label = ? ORDER BY id LIMIT ? OFFSET ?",
                                     (kind, label, -1 if limit is None else limit, offset)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def count(self) -> dict:
        with self.lock:
            nodes = dict(self.conn.execute("SELECT kind, COUNT(*) FROM nodes GROUP BY kind"))
            edges = self.conn.execute("SELECT COUNT(*) FROM edges").fetchone()[0]
        return {"entities": nodes.get("entity", 0), "relations": edges, "documents": nodes.get("document", 0),
                "chunks": nodes.get("chunk", 0)}

    def _ranked(self, search: NodeSearch, mode: str, limit: int) -> list[tuple[int, float]]:
        scopes = json.dumps(search.scopes)
        if mode == "similarity":
            if search.vector is None or self.dimension is None:
                return []
            mirror = self._fresh_mirror(search.scopes)
            if mirror is not None:
                return [(node_id, self._score(distance))
                        for node_id, distance in mirror.search(search.vector, search.scopes, limit)]
            # one exact KNN per scope (a partition of the vectors: only its rows are read), merged
            vector = _vector_blob(search.vector)
            rows = []
            for scope in search.scopes:
                rows += self.conn.execute("SELECT node_id, distance FROM nodes_vec WHERE embedding MATCH ? AND k = ? "
                                          "AND scope = ?", (vector, limit, scope)).fetchall()
            rows.sort(key=lambda row: row[1])
            return [(node_id, self._score(distance)) for node_id, distance in rows[:limit]]
        query = fts_query(search.text or "")
        if query is None:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(nodes_fts) FROM nodes_fts WHERE nodes_fts MATCH ? AND scope IN "
            "(SELECT value FROM json_each(?)) ORDER BY bm25(nodes_fts) LIMIT ?", (query, scopes, limit)).fetchall()
        return [(node_id, -rank) for node_id, rank in rows]

    def _fresh_mirror(self, scopes: list[str]) -> VectorMirror | None:
        """The vector mirror with these scopes loaded, or None when they would not fit in it."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self._mirror is None or self._mirror_version != version:  # first use, or another connection wrote
            self._mirror = VectorMirror(self.dimension, self.metric)
            self._mirror_version = version
        mirror = self._mirror
        missing = [scope for scope in scopes if not mirror.has(scope)]
        if missing:
            count = self.conn.execute("SELECT COUNT(*) FROM nodes_vec WHERE scope IN (SELECT value FROM json_each(?))",
                                      (json.dumps(missing),)).fetchone()[0]
            if mirror.nbytes + 8 * count * (self.dimension + 2) > MIRROR_MAX_BYTES:
                return None
            for scope in missing:
                mirror.load(scope, self.conn.execute("SELECT node_id, embedding FROM nodes_vec WHERE scope = ?",
                                                     (scope,)))
        return mirror

    # --- read-only SQL ---------------------------------------------------------------

    def _readonly_connection(self):
        if self._readonly is None:
            apsw = self.apsw
            import urllib.parse  # noqa: PLC0415 - only for query()

            uri = "file:" + urllib.parse.quote(self.path) + "?mode=ro"
            conn = self._connect(apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI, uri)
            conn.execute("PRAGMA query_only = 1")
            allowed = {apsw.SQLITE_SELECT, apsw.SQLITE_READ, apsw.SQLITE_FUNCTION, apsw.SQLITE_RECURSIVE}

            def authorizer(operation, name, argument, *_):
                if operation == apsw.SQLITE_PRAGMA:  # reading a pragma, or a table's description
                    return apsw.SQLITE_OK if argument is None or name in _DESCRIBING_PRAGMAS else apsw.SQLITE_DENY
                return apsw.SQLITE_OK if operation in allowed else apsw.SQLITE_DENY

            conn.authorizer = authorizer
            self._readonly = conn
        return self._readonly

    def query(self, sql: str, params: Any = None) -> list[dict]:
        if not isinstance(sql, str):
            raise InvalidInputError(f"query() takes an SQL string, got {type(sql).__name__}.")
        with self.lock:
            conn = self._readonly_connection()
            try:
                cursor = conn.execute(sql, params if params is not None else ())
                rows, names = [], []
                for row in cursor:
                    if not rows:
                        names = [d[0] for d in cursor.get_description()]
                    rows.append(row)
            except (self.apsw.ReadOnlyError, self.apsw.AuthError) as error:
                raise ReadOnlyQueryError(
                    f"query() runs on a read-only connection: {error}. Change the store with update() and delete()."
                ) from None
            except self.apsw.ExecutionCompleteError:
                return []
            except self.apsw.Error as error:
                raise KnowledgeBaseError(f"query() failed: {type(error).__name__}: {error}.") from None
        return [dict(zip(names, row)) for row in rows]

    def close(self) -> None:
        with self.lock:
            for conn in (self._readonly, getattr(self, "conn", None)):
                if conn is not None:
                    conn.close()
            self._readonly = None
            self._mirror = None


