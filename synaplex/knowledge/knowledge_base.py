"""KnowledgeBase: typed entities, relations and documents, searched by vector, words and graph.

A KnowledgeBase holds its models and an embedding model, and talks to one store chosen by its
URI: ``sqlite:///path.db`` (the default, embedded), ``postgresql://...`` (PostgreSQL with
pgvector), ``neo4j://``, ``bolt://`` or ``memgraph://`` (a Bolt server). It serializes as its URI
(never a password) and its models, never its data.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import threading
import urllib.parse
from typing import Any

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.knowledge.chunking import Chunker
from synaplex.knowledge.errors import KnowledgeBaseError, UnsupportedURIError
from synaplex.knowledge.plans import SEARCH_MODES, NodePattern, NodeSearch, PathSearch
from synaplex.knowledge.schema import ModelSpec, NodeRow, Registry, key_text
from synaplex.observability import tracing
from synaplex.serialization import deserialize_synaplex_object, safe_mode, serialize_synaplex_object

SCHEMES = {
    "sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres",
    "neo4j": "neo4j", "neo4j+s": "neo4j", "neo4j+ssc": "neo4j", "bolt": "neo4j", "bolt+s": "neo4j",
    "memgraph": "neo4j",
}
SUPPORTED = ("sqlite:///path/to/file.db (the default: embedded, one file), "
             "postgresql://user@host:port/database (PostgreSQL with pgvector), "
             "neo4j://host:port, bolt://host:port or memgraph://host:port (a Bolt server)")
EMBED_BATCH = 256


def synaplex_home() -> str:
    """Where synaplex keeps its data: ``$SYNAPLEX_HOME``, else ``~/.synaplex``."""
    return os.path.abspath(os.path.expanduser(os.environ.get("SYNAPLEX_HOME") or "~/.synaplex"))


def default_uri() -> str:
    return "sqlite:///" + os.path.join(synaplex_home(), "knowledge", "knowledge_base.db")


def redact_uri(uri: str, mask: str | None = "***") -> str:
    """The URI without its password: ``user:***@host`` to show, ``user@host`` (``mask=None``) to save."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "<invalid URI>"
    if parts.password is None:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    shown = f"{user}:{mask}@{host}" if mask is not None and parts.password else f"{user}@{host}"
    return urllib.parse.urlunsplit((parts.scheme, shown, parts.path, parts.query, parts.fragment))


def parse_uri(uri: str) -> tuple[str, str]:
    """``(backend, target)``: the store's kind and the path or URL it opens."""
    if not isinstance(uri, str) or not uri.strip():
        raise UnsupportedURIError(f"A knowledge base URI must be a non-empty string, got {uri!r:.80}. "
                                  f"Supported: {SUPPORTED}.")
    scheme, separator, rest = uri.partition("://")
    backend = SCHEMES.get(scheme.lower()) if separator else None
    if backend is None:
        shown = f"scheme {scheme!r}" if separator else "no scheme"
        raise UnsupportedURIError(f"Unsupported knowledge base URI {redact_uri(uri)!r} ({shown}). Supported: "
                                  f"{SUPPORTED}.")
    if backend == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise UnsupportedURIError(
                f"A SQLite URI has three slashes then the path: sqlite:///relative/kb.db or sqlite:////absolute/kb.db;"
                f" got {uri!r}.")
        return backend, rest[1:]
    return backend, uri


def _open_store(backend: str, target: str, metric: str, wipe_on_start: bool):
    if backend == "sqlite":
        from synaplex.knowledge.sqlite_store import SQLiteStore  # noqa: PLC0415 - apsw is an optional extra

        return SQLiteStore(target, metric=metric, wipe_on_start=wipe_on_start)
    if backend == "postgres":
        from synaplex.knowledge.postgres_store import PostgresStore  # noqa: PLC0415 - psycopg is an optional extra

        return PostgresStore(target, metric=metric, wipe_on_start=wipe_on_start)
    from synaplex.knowledge.neo4j_store import Neo4jStore  # noqa: PLC0415 - neo4j is an optional extra

    return Neo4jStore(target, metric=metric, wipe_on_start=wipe_on_start)


def _check_installed(backend: str) -> None:
    """Fail at construction, with the pip command, when the store's extra is missing."""
    import importlib.util  # noqa: PLC0415 - only here

    needed = {"sqlite": (("apsw", "sqlite_vec"), "knowledge"),
              "postgres": (("psycopg",), "postgres"),
              "neo4j": (("neo4j",), "neo4j")}[backend]
    modules, extra = needed
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                f"The {backend} knowledge store needs {module!r}, which is not installed. Install it with: "
                f'pip install "synaplex[{extra}]"')


def _embedding_model(value: Any):
    if value is None:
        return None
    if isinstance(value, str):
        from synaplex.lm.embedding_model import EmbeddingModel  # noqa: PLC0415 - the lm layer, on first use

        return EmbeddingModel(model=value)
    if not callable(value) or not hasattr(value, "get_config"):
        raise InvalidInputError(f"embedding_model must be a synaplex.EmbeddingModel or a model string, got "
                                f"{value!r:.80}.")
    return value


def _known_dimension(embedding_model) -> int | None:
    adapter = getattr(embedding_model, "_adapter", None)
    adapter = getattr(adapter, "implementation", adapter)
    dimension = getattr(adapter, "dimensions", None)
    return dimension if isinstance(dimension, int) else None


class KnowledgeBase:
    """A store of typed entities, relations and documents, with vector, full-text, hybrid and
    graph search.

    Args:
        uri: ``sqlite:///path.db`` (default; ``None`` puts it at
            ``$SYNAPLEX_HOME/knowledge/knowledge_base.db``), ``postgresql://...`` or a Bolt URI.
        entity_models: ``synaplex.Entity`` subclasses (each with a ``label`` Literal).
        relation_models: ``synaplex.Relation`` subclasses whose ``subj``/``obj`` are among them.
        data_models: document models (``synaplex.Document`` or DataModels with a ``text`` field),
            cut into chunks and embedded for text retrieval.
        embedding_model: a ``synaplex.EmbeddingModel`` (or model string) for vectors; without one
            the store has full-text search only.
        metric: ``"cosine"`` (default) or ``"l2"``.
        wipe_on_start: delete everything in the store when it opens (never saved to a file).
        chunk_size, chunk_overlap: document chunks, in the embedder's tokens.

    Example:
        >>> kb = synaplex.KnowledgeBase(uri="sqlite:///kb.db", entity_models=[City, Country],
        ...                             relation_models=[IsCapitalOf], embedding_model=em)
        >>> await kb.update([City(name="Paris"), IsCapitalOf(subj=City(name="Paris"), obj=Country(name="France"))])
        >>> await kb.hybrid_search("French capital", labels=["City"], k=3)
    """

    def __init__(self, uri: str | None = None, entity_models: list | None = None, relation_models: list | None = None,
                 data_models: list | None = None, embedding_model: Any = None, metric: str = "cosine",
                 wipe_on_start: bool = False, chunk_size: int = 200, chunk_overlap: int = 20):
        self.uri = default_uri() if uri is None else uri
        self.backend, self._target = parse_uri(self.uri)
        if self.backend == "sqlite" and uri is None:
            os.makedirs(os.path.dirname(self._target), exist_ok=True)
        if not isinstance(wipe_on_start, bool):
            raise InvalidInputError(f"wipe_on_start must be True or False, got {wipe_on_start!r}.")
        _check_installed(self.backend)
        self.registry = Registry(entity_models, relation_models, data_models)
        self.embedding_model = _embedding_model(embedding_model)
        self.metric = metric
        self.wipe_on_start = wipe_on_start
        self.chunker = Chunker(chunk_size, chunk_overlap)
        self._store = None
        self._store_lock = threading.Lock()  # store() runs in worker threads
        if self.backend == "sqlite":
            self.store()  # a local file: open now, so a bad path or metric fails at construction

    # --- the store -----------------------------------------------------------------------

    def store(self):
        """The open store (servers are connected on first use)."""
        with self._store_lock:
            if self._store is None:
                store = _open_store(self.backend, self._target, self.metric, self.wipe_on_start)
                dimension = _known_dimension(self.embedding_model)
                if dimension is not None:
                    try:
                        store.check_dimension(dimension, self.embedding_model.model)
                    except Exception:
                        store.close()
                        raise
                self._store = store
            return self._store

    async def _run(self, method: str, *args):
        def call():
            return getattr(self.store(), method)(*args)

        return await asyncio.to_thread(call)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- writes --------------------------------------------------------------------------

    async def update(self, records: Any, label: str | None = None) -> dict:
        """Upsert entities, relations and documents (one, a list, or a container such as a
        KnowledgeGraph), in one transaction: all are written, or none.

        An entity's key is its first field after ``label`` (or ``__primary_key__``): writing it
        again replaces it, so the same entity named twice is one node. An entity named inside a
        relation is added if absent, never overwritten. Returns the counts written.
        """
        nodes, edges = self.registry.rows(records, label=label)
        nodes = self._with_chunks(nodes)
        await self._embed_nodes(nodes)
        await self._run("write", nodes, edges, self._model_name())
        kinds = [n.kind for n in nodes if not n.endpoint]
        return {"entities": kinds.count("entity"), "relations": len(edges), "documents": kinds.count("document"),
                "chunks": kinds.count("chunk")}

    def _model_name(self) -> str | None:
        return getattr(self.embedding_model, "model", None)

    def _with_chunks(self, nodes: list[NodeRow]) -> list[NodeRow]:
        out = []
        for node in nodes:
            out.append(node)
            if node.kind == "document":
                spec = self.registry.documents[node.label]
                for index, text in enumerate(self.chunker.split(node.data.get(spec.text_field) or "")):
                    out.append(NodeRow("chunk", node.label, f"{node.key}#{index}",
                                       {"document": node.key, "index": index, "text": text}, text,
                                       parent=(node.label, node.key)))
        return out

    async def _embed_nodes(self, nodes: list[NodeRow]) -> None:
        if self.embedding_model is None:
            return
        wanted = [n for n in nodes if n.text and n.vector is None]
        endpoints = [n for n in wanted if n.endpoint]
        if endpoints:
            stored = await self._run("existing_texts", endpoints)
            wanted = [n for n in wanted if not (n.endpoint and (n.kind, n.label, n.key) in stored)]
        for start in range(0, len(wanted), EMBED_BATCH):
            batch = wanted[start:start + EMBED_BATCH]
            vectors = await self._embed([n.text for n in batch])
            for node, vector in zip(batch, vectors):
                node.vector = vector

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors = (await self.embedding_model(texts))["embeddings"]
        if vectors:
            self.store().check_dimension(len(vectors[0]), self._model_name())
        return vectors

    async def delete(self, label: str, key: Any) -> bool:
        """Delete an entity or a document (with its chunks and its relations). True if it existed."""
        spec = self.registry.spec(label)
        if spec.kind == "relation":
            raise InvalidInputError(f"{label} is a relation: delete it with delete_relation(relation).")
        return await self._run("delete", spec.kind, label, key_text(key))

    async def delete_relation(self, relation: Any) -> bool:
        """Delete one relation (its entities stay). True if it existed."""
        nodes, edges = self.registry.rows(relation)
        if len(edges) != 1:
            raise InvalidInputError(f"delete_relation takes one relation, got {relation!r:.80}.")
        edge = edges[0]
        return await self._run("delete_edge", edge.subj, edge.label, edge.obj)

    async def from_jsonl(self, path: str, label: str | None = None) -> dict:
        """Upsert every line of a JSON Lines file (one record per line) in one transaction.
        ``label`` names the model of lines that do not say it."""
        records = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError as error:
                    raise InvalidInputError(f"{path}:{number}: not JSON ({error}).") from None
        return await self.update(records, label=label)

    async def from_csv(self, path: str, label: str) -> dict:
        """Upsert every row of a CSV file with a header (entities or documents of ``label``)."""
        spec = self.registry.spec(label)
        if spec.kind == "relation":
            raise InvalidInputError("from_csv reads entities and documents; write relations with from_jsonl.")
        with open(path, encoding="utf-8", newline="") as handle:
            rows = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]
        return await self.update(rows, label=label)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, label: str, key: Any) -> dict | None:
        """The entity or document with this key, or None when there is none."""
        spec = self.registry.spec(label)
        return await self._run("get", spec.kind, label, key_text(key))

    async def getall(self, label: str, limit: int | None = None, offset: int = 0) -> list[dict]:
        """The entities (or documents) of a label, in insertion order."""
        spec = self.registry.spec(label)
        return await self._run("getall", spec.kind, label, limit, offset)

    async def count(self) -> dict:
        return await self._run("count")

    def _scopes(self, labels: list[str] | None, kinds=("entity", "document")) -> list[str]:
        if labels is None:
            labels = [label for label in self.registry.labels() if label not in self.registry.relations]
        if isinstance(labels, str):
            labels = [labels]
        scopes = []
        for label in labels:
            spec = self.registry.spec(label)
            if spec.kind not in kinds:
                raise InvalidInputError(f"{label} is a {spec.kind}; search takes entity and document labels.")
            scopes.append(f"{'chunk' if spec.kind == 'document' else 'entity'}:{label}")
        return scopes

    async def _node_search(self, query: str, labels, k: int, mode: str) -> NodeSearch:
        if mode not in SEARCH_MODES:
            raise InvalidInputError(f"search must be one of {', '.join(SEARCH_MODES)}, got {mode!r}.")
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}.")
        if not isinstance(query, str):
            raise InvalidInputError(f"A search query must be a string, got {type(query).__name__}.")
        vector = None
        if mode != "fulltext":
            if self.embedding_model is None:
                raise KnowledgeBaseError(f"{mode} search needs vectors, and this knowledge base has no "
                                         "embedding_model; pass one, or use search='fulltext'.")
            vector = (await self._embed([query]))[0] if query.strip() else None
        return NodeSearch(scopes=self._scopes(labels), k=k, vector=vector, text=query, mode=mode)

    async def search(self, query: str, labels: list[str] | None = None, k: int = 10,
                     search: str = "hybrid") -> list[dict]:
        """The ``k`` entities or document chunks that best match ``query`` within ``labels`` (all
        by default): ``{"kind", "label", "key", "data", "score"}`` each, best first."""
        if tracing.TRACER is not None:
            with tracing.retrieval_span(self.backend, query, k, search, labels) as record:
                hits = await self._run("search", await self._node_search(query, labels, k, search))
                record(hits)
                return hits
        return await self._run("search", await self._node_search(query, labels, k, search))

    async def similarity_search(self, query: str, labels: list[str] | None = None, k: int = 10) -> list[dict]:
        return await self.search(query, labels, k, "similarity")

    async def fulltext_search(self, query: str, labels: list[str] | None = None, k: int = 10) -> list[dict]:
        return await self.search(query, labels, k, "fulltext")

    async def hybrid_search(self, query: str, labels: list[str] | None = None, k: int = 10) -> list[dict]:
        """Similarity and full-text rankings fused by reciprocal rank (RRF, constant 60)."""
        return await self.search(query, labels, k, "hybrid")

    async def path_search(self, nodes: list[tuple[str | None, str | None]], relations: list[str | None], k: int = 10,
                          search: str = "hybrid") -> list[dict]:
        """Chains ``(n0)-[r1]->(n1)-[r2]->(n2)...``: ``nodes`` are ``(label or None, search text or
        None)``, ``relations`` their labels (``None``: any). Returns ``{"nodes", "relations",
        "score"}`` each, best first."""
        if tracing.TRACER is not None:
            query = json.dumps({"nodes": nodes, "relations": relations}, ensure_ascii=False, default=str)
            with tracing.retrieval_span(self.backend, query, k, f"path/{search}", relations) as record:
                paths = await self._path_search(nodes, relations, k, search)
                record(paths)
                return paths
        return await self._path_search(nodes, relations, k, search)

    async def _path_search(self, nodes: list, relations: list, k: int, search: str) -> list[dict]:
        if not isinstance(nodes, (list, tuple)) or len(nodes) != len(relations) + 1 or not 1 <= len(relations) <= 3:
            raise InvalidInputError("path_search takes 2 to 4 nodes and one relation fewer.")
        for label in relations:
            if label is not None and label not in self.registry.relations:
                raise InvalidInputError(f"Unknown relation label {label!r}; the relations are "
                                        f"{', '.join(self.registry.relations) or 'none'}.")
        patterns = []
        for index, (label, text) in enumerate(nodes):
            scopes = self._entity_scopes(label, relations, index)
            search_plan = None
            if text:
                search_plan = await self._node_search(text, [s.partition(":")[2] for s in scopes], max(4 * k, 50),
                                                      search)
            patterns.append(NodePattern(scopes=scopes, search=search_plan))
        return await self._run("path_search", PathSearch(nodes=patterns, relations=list(relations), k=k))

    def _entity_scopes(self, label: str | None, relations: list, index: int) -> list[str]:
        if label is not None:
            if label not in self.registry.entities:
                raise InvalidInputError(f"Unknown entity label {label!r}; the entities are "
                                        f"{', '.join(self.registry.entities) or 'none'}.")
            return [f"entity:{label}"]
        allowed = set(self.registry.entities)
        if index > 0 and relations[index - 1] is not None:
            allowed &= set(self.registry.relations[relations[index - 1]].obj)
        if index < len(relations) and relations[index] is not None:
            allowed &= set(self.registry.relations[relations[index]].subj)
        return [f"entity:{label}" for label in self.registry.entities if label in allowed]

    async def triplet_search(self, subject_label: str | None = None, subject: str | None = None,
                             relation_label: str | None = None, object_label: str | None = None,
                             object: str | None = None, k: int = 10, search: str = "hybrid") -> list[dict]:
        """Relations matching ``(subject)-[relation]->(object)``; each side has an optional label and
        an optional search text. Returns ``{"subj", "label", "obj", "score"}`` each, best first."""
        paths = await self.path_search([(subject_label, subject), (object_label, object)], [relation_label], k,
                                       search)
        return [{"subj": p["nodes"][0], **p["relations"][0], "obj": p["nodes"][1], "score": p["score"]}
                for p in paths]

    async def neighbours(self, label: str, key: Any, depth: int = 1, relation_labels: list[str] | None = None,
                         direction: str = "both") -> list[dict]:
        """The entities within ``depth`` relations of one entity (k-hop), nearest first, each with
        its ``depth``. ``direction``: ``"out"`` (it is the subject), ``"in"`` or ``"both"``."""
        if direction not in ("out", "in", "both"):
            raise InvalidInputError(f"direction must be 'out', 'in' or 'both', got {direction!r}.")
        if not isinstance(depth, int) or not 1 <= depth <= 6:
            raise InvalidInputError(f"depth must be an integer from 1 to 6, got {depth!r}.")
        spec = self.registry.spec(label)
        return await self._run("neighbours", spec.kind, label, key_text(key), depth, relation_labels, direction)

    neighbors = neighbours

    async def query(self, query: str, params: Any = None) -> list[dict]:
        """Run SQL (or Cypher, on a Bolt store) on a read-only connection; rows as dicts. A
        statement that would change the store raises ReadOnlyQueryError and changes nothing."""
        return await self._run("query", query, params)

    # --- serialization -----------------------------------------------------------------

    def get_config(self) -> dict:
        config = {"uri": redact_uri(self.uri, mask=None), **self.registry.get_config(),
                  "embedding_model": serialize_synaplex_object(self.embedding_model), "metric": self.metric}
        if (self.chunker.max_tokens, self.chunker.overlap) != (200, 20):
            config.update(chunk_size=self.chunker.max_tokens, chunk_overlap=self.chunker.overlap)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        uri = config.get("uri")
        backend, target = parse_uri(default_uri() if uri is None else uri)
        if backend == "sqlite":
            safe_mode.require("files", "uri", f"create or open the SQLite knowledge base {target!r}")
        else:
            safe_mode.require("credentials", "uri", f"connect to the database server {redact_uri(uri)!r} with the "
                              "environment's credentials")
        for name in ("entity_models", "relation_models", "data_models"):
            config[name] = [ModelSpec.from_config(c) for c in config.get(name) or []]
        config["embedding_model"] = deserialize_synaplex_object(config.get("embedding_model"))
        config.pop("wipe_on_start", None)  # a loaded file never wipes a store
        return cls(**config)

    def __repr__(self):
        return f"<KnowledgeBase uri={redact_uri(self.uri)!r}>"
