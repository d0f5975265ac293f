"""The response cache of the provider layer: same request to the same model, same reply.

A ``LanguageModel(..., caching=...)`` looks each request up with :func:`cache_key` before
calling the provider, and stores the reply after. ``caching`` goes through
:func:`make_cache`: ``True``/``"memory"`` (an in-process LRU), ``"disk"``/``"sqlite"``
(a SQLite file under ``$SYNAPLEX_CACHE_DIR``, else ``~/.cache/synaplex``), a path, or any
object with ``async get(key)`` and ``async set(key, value)``.

What counts in the key (a change to any of these is a different request):

* the model, as the full ``"provider/name"`` string;
* the endpoint: the server's base URL (``api_base`` or the provider's default) and the query
  parameters that select a deployment (Azure's ``api-version``), without credentials, so two
  servers behind the same model name never share replies;
* the messages, the output schema and the tools, exactly (list order counts, dict key
  order does not);
* every sampling parameter in ``params``: ``temperature``, ``max_tokens``, ``top_p``,
  ``stop``, ``seed``, ``tool_choice``, and any provider-specific body field passed
  through ``params`` (e.g. OpenRouter's ``provider`` or ``reasoning``).

What does not count (it cannot change the reply): ``params["timeout"]``, and the
LanguageModel's transport settings, which never reach ``params``: API keys, headers, URL
userinfo, retries, rate limits and size caps. (Keys are left out on purpose: the cache key
is a hash that may be stored on disk, and the same server answers the same way whoever pays.)

Values are JSON only (never pickle): a cache stores a ``dict`` as JSON text and parses it
again on ``get``, so mutating a returned dict never alters the cache.

Example:

>>> import asyncio
>>> from synaplex.lm.base import CompletionRequest
>>> cache = make_cache("memory")
>>> key = cache_key("openai/gpt-4o-mini", CompletionRequest(
...     messages=[{"role": "user", "content": "Hi"}], params={"temperature": 0}))
>>> asyncio.run(cache.set(key, {"text": "Hello!"}))
>>> asyncio.run(cache.get(key))
{'text': 'Hello!'}
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import inspect
import json
import math
import os
import pathlib
import sqlite3
import threading
import time
from typing import Any, Protocol, runtime_checkable

from synaplex.backend.errors import InvalidInputError, SavingError

__all__ = [
    "IGNORED_PARAMS",
    "Cache",
    "MemoryCache",
    "SQLiteCache",
    "cache_key",
    "default_cache_path",
    "make_cache",
]

#: ``params`` keys left out of the cache key: they never change the reply.
IGNORED_PARAMS: frozenset[str] = frozenset({"timeout"})

_KEY_VERSION = 2
_JSON_KINDS = "dict with str keys, list, str, int, finite float, bool or None"


@runtime_checkable
class Cache(Protocol):
    """What ``LanguageModel(caching=...)`` accepts: async ``get``/``set`` of JSON dicts."""

    async def get(self, key: str) -> dict | None: ...

    async def set(self, key: str, value: dict) -> None: ...


# --------------------------------------------------------------------------------------
# JSON helpers


def _find_non_json(value: Any, path: str, stack: set[int]) -> tuple[str, str] | None:
    """``(path, description)`` of the first non-JSON part of ``value``, or ``None``."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"the float {value!r}")
    if isinstance(value, (dict, list, tuple)):
        if id(value) in stack:
            return path, "a circular reference"
        stack.add(id(value))
        try:
            if isinstance(value, dict):
                for k, v in value.items():
                    if not isinstance(k, str):
                        return path, f"a dict with the non-str key {k!r}"
                    found = _find_non_json(v, f"{path}[{k!r}]", stack)
                    if found:
                        return found
            else:
                for i, v in enumerate(value):
                    found = _find_non_json(v, f"{path}[{i}]", stack)
                    if found:
                        return found
        finally:
            stack.discard(id(value))
        return None
    return path, f"{type(value).__name__} {value!r:.80}"


def _check_json(value: Any, path: str, what: str) -> None:
    found = _find_non_json(value, path, set())
    if found:
        where, description = found
        raise InvalidInputError(
            f"{what}: {where} is {description}, which is not JSON. The cache holds JSON "
            f"values only ({_JSON_KINDS}); convert it (e.g. a set to a list, an object to "
            f"a dict) or turn caching off."
        )


def _dump_value(value: Any, what: str) -> str:
    """Validate a cache value (a JSON dict) and return its JSON text."""
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"{what}: the value must be a dict of JSON values, got {type(value).__name__} "
            f"{value!r:.80}."
        )
    _check_json(value, "value", what)
    # ensure_ascii=True: lone surrogates in provider text survive a round trip via SQLite.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _check_key(key: Any, what: str) -> None:
    if not isinstance(key, str):
        raise InvalidInputError(f"{what}: the key must be a str (see cache_key), got {key!r:.80}.")


def cache_key(model: str, request: Any, endpoint: str | None = None) -> str:
    """The cache key of ``request`` sent to ``model`` at ``endpoint``: a sha256 hex digest.

    The digest covers ``{"v": 2, "model", "endpoint", "messages", "schema", "tools",
    "params"}`` as canonical JSON (sorted keys, no spaces), with :data:`IGNORED_PARAMS` left
    out of ``params``; see the module docstring for the rule. ``endpoint`` is the server's
    URL without credentials (``LanguageModel.endpoint``), None for in-process models. Raises
    ``InvalidInputError`` naming the part that is not JSON.

    >>> from synaplex.lm.base import CompletionRequest
    >>> r = CompletionRequest(messages=[{"role": "user", "content": "Hi"}])
    >>> cache_key("openai/gpt-4o", r) == cache_key("openai/gpt-4o", r)
    True
    >>> len(cache_key("openai/gpt-4o", r))
    64
    """
    if not isinstance(model, str) or not model:
        raise InvalidInputError(f"cache_key: model must be a non-empty 'provider/name' str, got {model!r}.")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint):
        raise InvalidInputError(f"cache_key: endpoint must be a non-empty URL str or None, got {endpoint!r}.")
    params = request.params or {}
    if not isinstance(params, dict):
        raise InvalidInputError(f"cache_key: params must be a dict, got {type(params).__name__}.")
    payload = {
        "v": _KEY_VERSION,
        "model": model,
        "endpoint": endpoint,
        "messages": request.messages,
        "schema": request.schema,
        "tools": request.tools,
        "params": {k: v for k, v in params.items() if k not in IGNORED_PARAMS},
    }
    for name in ("messages", "schema", "tools", "params"):
        _check_json(payload[name], name, "cache_key")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --------------------------------------------------------------------------------------
# Caches


class MemoryCache:
    """An in-process LRU cache of at most ``maxsize`` replies.

    >>> import asyncio
    >>> cache = MemoryCache(maxsize=2)
    >>> asyncio.run(cache.set("k", {"text": "hi"}))
    >>> asyncio.run(cache.get("k")), cache.hits, cache.misses
    ({'text': 'hi'}, 1, 0)
    """

    def __init__(self, maxsize: int = 1024):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise InvalidInputError(f"MemoryCache: maxsize must be a positive int, got {maxsize!r}.")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: collections.OrderedDict[str, str] = collections.OrderedDict()

    async def get(self, key: str) -> dict | None:
        """The reply stored under ``key`` (a fresh dict), or ``None``."""
        _check_key(key, "MemoryCache.get")
        text = self._data.get(key)
        if text is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return json.loads(text)

    async def set(self, key: str, value: dict) -> None:
        """Store ``value`` (a JSON dict) under ``key``, evicting the least recently used."""
        _check_key(key, "MemoryCache.set")
        self._data[key] = _dump_value(value, "MemoryCache.set")
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry (the hit and miss counts stay)."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryCache(maxsize={self.maxsize}, size={len(self)}, hits={self.hits}, misses={self.misses})"


def default_cache_path() -> pathlib.Path:
    """``$SYNAPLEX_CACHE_DIR/lm_cache.sqlite``, else ``~/.cache/synaplex/lm_cache.sqlite``."""
    folder = os.environ.get("SYNAPLEX_CACHE_DIR")
    base = pathlib.Path(folder).expanduser() if folder else pathlib.Path.home() / ".cache" / "synaplex"
    return base / "lm_cache.sqlite"


class SQLiteCache:
    """A persistent cache in one SQLite file, shared by processes and across runs.

    Every query runs off the event loop (``asyncio.to_thread``) on one connection
    guarded by a lock; the file uses WAL journaling so other processes can read while
    one writes. Values are JSON text, never pickle.

    >>> import asyncio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cache.sqlite")
    >>> cache = SQLiteCache(path)
    >>> asyncio.run(cache.set("k", {"text": "hi"}))
    >>> cache.close()
    >>> asyncio.run(SQLiteCache(path).get("k"))
    {'text': 'hi'}

    Raises ``SavingError`` (with ``.path``) when the file is not a readable SQLite
    database; deleting the file fixes it.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = pathlib.Path(path).expanduser() if path is not None else default_cache_path()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        # Recently read or written entries, so a hot key does not pay a thread hop per hit
        # (the hop costs ~10x the query). Entries for a key never change meaning: same key,
        # same request.
        self._front: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._front_size = 256
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SavingError(
                f"SQLiteCache: cannot create the folder {str(self.path.parent)!r} for the LM cache "
                f"({error}). Choose a writable place with SQLiteCache(path=...) or $SYNAPLEX_CACHE_DIR.",
                path=str(self.path),
            ) from error
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS lm_cache "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
            )
            conn.execute("SELECT key, value, created FROM lm_cache LIMIT 1").fetchall()
        except sqlite3.Error as error:
            if conn is not None:
                conn.close()
            raise self._error(error) from error
        self._conn = conn

    def _error(self, error: Exception) -> SavingError:
        return SavingError(
            f"SQLiteCache: the LM cache file {str(self.path)!r} cannot be read or written "
            f"({type(error).__name__}: {error}). If it is corrupt or not a synaplex cache, "
            f"delete it (rm {str(self.path)!r}) and a fresh one is created on the next run; "
            f"or pass another path with SQLiteCache(path=...) / caching=<path>.",
            path=str(self.path),
        )

    def _run(self, sql: str, args: tuple = ()) -> list:
        with self._lock:
            if self._conn is None:
                raise SavingError(
                    f"SQLiteCache: the cache {str(self.path)!r} is closed; create a new SQLiteCache.",
                    path=str(self.path),
                )
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as error:
                raise self._error(error) from error

    async def get(self, key: str) -> dict | None:
        """The reply stored under ``key`` (a fresh dict), or ``None``."""
        _check_key(key, "SQLiteCache.get")
        text = self._front.get(key)
        if text is None:
            rows = await asyncio.to_thread(self._run, "SELECT value FROM lm_cache WHERE key = ?", (key,))
            if not rows:
                self.misses += 1
                return None
            text = rows[0][0]
            self._remember(key, text)
        else:
            self._front.move_to_end(key)
        self.hits += 1
        return json.loads(text)

    def _remember(self, key: str, text: str) -> None:
        self._front[key] = text
        self._front.move_to_end(key)
        while len(self._front) > self._front_size:
            self._front.popitem(last=False)

    async def set(self, key: str, value: dict) -> None:
        """Store ``value`` (a JSON dict) under ``key``, replacing any older entry."""
        _check_key(key, "SQLiteCache.set")
        text = _dump_value(value, "SQLiteCache.set")
        await asyncio.to_thread(
            self._run,
            "INSERT OR REPLACE INTO lm_cache (key, value, created) VALUES (?, ?, ?)",
            (key, text, time.time()),
        )
        self._remember(key, text)

    def clear(self) -> None:
        """Delete every entry from the file (the hit and miss counts stay)."""
        self._run("DELETE FROM lm_cache")
        self._front.clear()

    def __len__(self) -> int:
        return self._run("SELECT COUNT(*) FROM lm_cache")[0][0]

    def close(self) -> None:
        """Close the database; safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"SQLiteCache(path={str(self.path)!r}, hits={self.hits}, misses={self.misses})"


_ACCEPTED = (
    "None/False (no cache), True or 'memory' (MemoryCache), 'disk' or 'sqlite' (SQLiteCache at "
    "the default path), a file path (str or os.PathLike, SQLiteCache there), or an object with "
    "async get(key) and async set(key, value)"
)


def make_cache(spec: Any, maxsize: int | None = None) -> Any:
    """The cache that ``LanguageModel(caching=spec)`` uses, or ``None`` for no cache.

    ``maxsize`` bounds the memory cache (``cache_maxsize=``); the SQLite cache is not bounded,
    so a ``maxsize`` with it is an error.

    >>> make_cache(None) is None, type(make_cache(True)).__name__
    (True, 'MemoryCache')
    """
    if spec is None or spec is False:
        return None
    memory = spec is True or spec == "memory"
    if maxsize is not None and not memory:
        raise InvalidInputError(f"cache_maxsize bounds the memory cache; caching={spec!r:.80} is not one (the SQLite "
                                "cache keeps every entry: clear() it, or use caching='memory').")
    if memory:
        return MemoryCache() if maxsize is None else MemoryCache(maxsize=maxsize)
    if isinstance(spec, str):
        if spec == "memory":
            return MemoryCache()
        if spec in ("disk", "sqlite"):
            return SQLiteCache()
        if spec.strip():
            return SQLiteCache(spec)
    elif isinstance(spec, os.PathLike):
        return SQLiteCache(spec)
    elif not isinstance(spec, type) and all(
        inspect.iscoroutinefunction(getattr(spec, name, None)) for name in ("get", "set")
    ):
        return spec
    raise InvalidInputError(f"caching: got {spec!r:.80}; accepted values are {_ACCEPTED}.")
