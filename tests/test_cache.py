import asyncio
import copy
import hashlib
import json
import os
import pathlib
import sqlite3

import pytest

from synaplex.backend.errors import InvalidInputError, SavingError
from synaplex.lm.base import CompletionRequest
from synaplex.lm.cache import (
    IGNORED_PARAMS,
    Cache,
    MemoryCache,
    SQLiteCache,
    cache_key,
    make_cache,
)

MODEL = "openai/gpt-4o-mini"


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    """Nothing may write under the real home: the default path points into tmp_path."""
    folder = tmp_path / "cache_dir"
    monkeypatch.setenv("SYNAPLEX_CACHE_DIR", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return folder


@pytest.fixture
def sqlite_cache(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite")
    yield cache
    cache.close()


def request(**overrides):
    base = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
        "tools": [{"name": "search", "description": "Web search",
                   "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}],
        "params": {"temperature": 0.2, "max_tokens": 100, "seed": 7, "timeout": 30},
    }
    base.update(overrides)
    return CompletionRequest(**copy.deepcopy(base))


def with_params(**changes):
    params = {"temperature": 0.2, "max_tokens": 100, "seed": 7, "timeout": 30}
    params.update(changes)
    return request(params=params)


# --- cache_key -------------------------------------------------------------------------


def test_key_is_a_stable_sha256_of_the_canonical_json():
    key = cache_key(MODEL, request(), endpoint="https://api.openai.com/v1")
    assert key == cache_key(MODEL, request(), endpoint="https://api.openai.com/v1")
    r = request()
    canonical = json.dumps(
        {"v": 2, "model": MODEL, "endpoint": "https://api.openai.com/v1", "messages": r.messages,
         "schema": r.schema, "tools": r.tools, "params": {"temperature": 0.2, "max_tokens": 100, "seed": 7}},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    assert key == hashlib.sha256(canonical.encode()).hexdigest()
    assert IGNORED_PARAMS == {"timeout"}


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(request(messages=[{"role": "user", "content": "Capital of Spain?"}]), id="messages"),
        pytest.param(request(messages=[{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Capital of France? "}]), id="message-text"),
        pytest.param(request(schema={"type": "object", "properties": {"answer": {"type": "integer"}}}), id="schema"),
        pytest.param(request(schema=None), id="no-schema"),
        pytest.param(request(tools=None), id="no-tools"),
        pytest.param(request(tools=[{"name": "search", "description": "Search the web", "parameters": {}}]), id="tools"),
        pytest.param(with_params(temperature=0.3), id="temperature"),
        pytest.param(with_params(max_tokens=101), id="max_tokens"),
        pytest.param(with_params(seed=8), id="seed"),
        pytest.param(with_params(top_p=0.9), id="top_p"),
        pytest.param(with_params(stop=["\n"]), id="stop"),
        pytest.param(with_params(tool_choice="required"), id="tool_choice"),
        pytest.param(with_params(reasoning={"effort": "high"}), id="provider-body-field"),
    ],
)
def test_any_change_that_can_change_the_reply_changes_the_key(changed):
    assert cache_key(MODEL, changed) != cache_key(MODEL, request())


def test_model_is_part_of_the_key():
    assert cache_key(MODEL, request()) != cache_key("openai/gpt-4o", request())
    assert cache_key("openai/gpt-4o", request()) != cache_key("openrouter/gpt-4o", request())


def test_the_endpoint_is_part_of_the_key():
    base = cache_key(MODEL, request(), endpoint="http://10.0.0.1:8000/v1")
    assert base != cache_key(MODEL, request(), endpoint="http://10.0.0.2:8000/v1")
    assert base != cache_key(MODEL, request(), endpoint="http://10.0.0.1:8000/v1?api-version=2024-10-21")
    assert base != cache_key(MODEL, request())


@pytest.mark.parametrize("endpoint", [5, b"http://x", ""])
def test_a_bad_endpoint_is_refused(endpoint):
    with pytest.raises(InvalidInputError) as info:
        cache_key(MODEL, request(), endpoint=endpoint)
    assert str(info.value) == f"cache_key: endpoint must be a non-empty URL str or None, got {endpoint!r}."


async def test_two_servers_behind_one_model_name_do_not_share_replies():
    import httpx2

    import synaplex

    def server(answer):
        return httpx2.MockTransport(lambda r: httpx2.Response(200, json={"choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": answer}}]}))

    cache = MemoryCache()
    first = synaplex.LanguageModel(model="openai/same-name", api_base="http://127.0.0.1:8001/v1",
                                   transport=server("from server 1"), caching=cache)
    second = synaplex.LanguageModel(model="openai/same-name", api_base="http://127.0.0.1:8002/v1",
                                    transport=server("from server 2"), caching=cache)
    messages = [{"role": "user", "content": "hi"}]
    assert (await first(messages))["content"] == "from server 1"
    assert (await second(messages))["content"] == "from server 2"
    assert second.last_usage.cache_hits == 0 and len(cache) == 2
    # The same server with other credentials is the same server: one entry serves both.
    third = synaplex.LanguageModel(model="openai/same-name", api_base="http://user:pw@127.0.0.1:8001/v1",
                                   transport=server("never asked"), caching=cache, api_key="sk-other-key-0123456789")
    assert (await third(messages))["content"] == "from server 1" and third.last_usage.cache_hits == 1


def test_timeout_does_not_change_the_key():
    assert cache_key(MODEL, with_params(timeout=1)) == cache_key(MODEL, request())
    no_timeout = request(params={"temperature": 0.2, "max_tokens": 100, "seed": 7})
    assert cache_key(MODEL, no_timeout) == cache_key(MODEL, request())


def test_dict_key_order_does_not_matter_but_list_order_does():
    a = request(params={"temperature": 0.2, "max_tokens": 100, "seed": 7},
                messages=[{"role": "user", "content": "hi"}])
    b = request(params={"seed": 7, "max_tokens": 100, "temperature": 0.2},
                messages=[{"content": "hi", "role": "user"}])
    assert cache_key(MODEL, a) == cache_key(MODEL, b)
    one = request(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    two = request(messages=[{"role": "user", "content": "b"}, {"role": "user", "content": "a"}])
    assert cache_key(MODEL, one) != cache_key(MODEL, two)


def test_unicode_is_hashed_as_is():
    key = cache_key(MODEL, request(messages=[{"role": "user", "content": "Qu'est-ce que «ça» ? 日本"}]))
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize(
    "bad, where",
    [
        (request(params={"stop": {"a", "b"}}), "params['stop']"),
        (request(messages=[{"role": "user", "content": object()}]), "messages[0]['content']"),
        (request(schema={"default": float("nan")}), "schema['default']"),
        (request(tools=[{"name": "t", "parameters": {1: "x"}}]), "tools[0]['parameters']"),
    ],
)
def test_non_json_parts_of_the_request_raise_naming_the_key(bad, where):
    with pytest.raises(InvalidInputError, match="not JSON") as info:
        cache_key(MODEL, bad)
    assert where in str(info.value)


def test_a_non_json_timeout_is_ignored_and_a_bad_model_is_refused():
    assert cache_key(MODEL, with_params(timeout=object())) == cache_key(MODEL, request())
    with pytest.raises(InvalidInputError, match="provider/name"):
        cache_key("", request())


# --- MemoryCache -----------------------------------------------------------------------


async def test_memory_cache_get_set_and_counters():
    cache = MemoryCache()
    assert await cache.get("k") is None
    await cache.set("k", {"text": "hi", "usage": {"input_tokens": 3}})
    assert await cache.get("k") == {"text": "hi", "usage": {"input_tokens": 3}}
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    assert isinstance(cache, Cache)
    cache.clear()
    assert len(cache) == 0 and await cache.get("k") is None


async def test_memory_cache_evicts_the_least_recently_used():
    cache = MemoryCache(maxsize=3)
    for key in "abc":
        await cache.set(key, {"v": key})
    assert await cache.get("a") == {"v": "a"}  # a is now the most recent: b is the oldest
    await cache.set("d", {"v": "d"})
    assert len(cache) == 3
    assert await cache.get("b") is None
    await cache.set("c", {"v": "c2"})  # overwriting refreshes c: a is now the oldest
    await cache.set("e", {"v": "e"})
    assert await cache.get("a") is None
    assert [await cache.get(k) for k in "cde"] == [{"v": "c2"}, {"v": "d"}, {"v": "e"}]


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, "10", True, None])
def test_memory_cache_maxsize_must_be_a_positive_int(maxsize):
    with pytest.raises(InvalidInputError, match="maxsize must be a positive int"):
        MemoryCache(maxsize=maxsize)


@pytest.fixture(params=["memory", "sqlite"])
def any_cache(request, tmp_path):
    cache = MemoryCache() if request.param == "memory" else SQLiteCache(tmp_path / "any.sqlite")
    yield cache
    if request.param == "sqlite":
        cache.close()


@pytest.mark.parametrize(
    "value, where",
    [
        ({"parsed": {1, 2}}, "value['parsed']"),
        ({"text": b"bytes"}, "value['text']"),
        ({"score": float("inf")}, "value['score']"),
        ({"nested": [{"at": object()}]}, "value['nested'][0]['at']"),
        ({"ids": {3: "x"}}, "value['ids']"),
    ],
)
async def test_only_json_values_are_stored(any_cache, value, where):
    with pytest.raises(InvalidInputError, match="not JSON") as info:
        await any_cache.set("k", value)
    assert where in str(info.value)
    assert len(any_cache) == 0


async def test_values_must_be_dicts_and_keys_strs(any_cache):
    for value in (["a"], "text", None, 3):
        with pytest.raises(InvalidInputError, match="must be a dict"):
            await any_cache.set("k", value)
    with pytest.raises(InvalidInputError, match="key must be a str"):
        await any_cache.set(1, {"a": 1})
    with pytest.raises(InvalidInputError, match="key must be a str"):
        await any_cache.get(None)


async def test_a_circular_value_is_refused(any_cache):
    value = {"a": []}
    value["a"].append(value)
    with pytest.raises(InvalidInputError, match="circular reference"):
        await any_cache.set("k", value)


async def test_mutating_stored_or_returned_values_never_alters_the_cache(any_cache):
    value = {"text": "hi", "tool_calls": [{"id": "1", "arguments": {"q": "x"}}]}
    await any_cache.set("k", value)
    value["tool_calls"][0]["arguments"]["q"] = "changed by caller"
    first = await any_cache.get("k")
    first["text"] = "mutated"
    first["tool_calls"].clear()
    assert await any_cache.get("k") == {"text": "hi", "tool_calls": [{"id": "1", "arguments": {"q": "x"}}]}


async def test_round_trip_keeps_unicode_and_lone_surrogates(any_cache):
    value = {"text": "日本語 «ok» \ud800", "n": 1.5, "flag": True, "none": None}
    await any_cache.set("k", value)
    assert await any_cache.get("k") == value


# --- SQLiteCache -----------------------------------------------------------------------


async def test_sqlite_cache_persists_across_instances(tmp_path):
    path = tmp_path / "sub" / "dir" / "cache.sqlite"
    first = SQLiteCache(path)
    await first.set("k", {"text": "kept"})
    await first.set("k2", {"text": "also kept"})
    first.close()
    first.close()  # twice is fine
    second = SQLiteCache(str(path))
    try:
        assert len(second) == 2
        assert await second.get("k") == {"text": "kept"}
        assert (second.hits, second.misses) == (1, 0)
        second.clear()
        assert len(second) == 0
    finally:
        second.close()


async def test_sqlite_cache_uses_one_wal_table_of_json_text(sqlite_cache):
    await sqlite_cache.set("k", {"text": "hi"})
    await sqlite_cache.set("k", {"text": "replaced"})
    with sqlite3.connect(sqlite_cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [(row[1], row[2], row[3], row[5]) for row in conn.execute("PRAGMA table_info(lm_cache)")]
        assert columns == [("key", "TEXT", 0, 1), ("value", "TEXT", 1, 0), ("created", "REAL", 0, 0)]
        rows = conn.execute("SELECT key, value, created FROM lm_cache").fetchall()
    conn.close()
    assert len(rows) == 1 and rows[0][:2] == ("k", '{"text":"replaced"}') and rows[0][2] > 0


async def test_sqlite_cache_default_path_follows_the_env_var(_cache_dir):
    cache = SQLiteCache()
    try:
        assert cache.path == _cache_dir / "lm_cache.sqlite"
        await cache.set("k", {"a": 1})
        assert cache.path.is_file()
    finally:
        cache.close()


async def test_sqlite_cache_default_path_without_the_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNAPLEX_CACHE_DIR")
    cache = SQLiteCache()
    try:
        assert cache.path == tmp_path / "home" / ".cache" / "synaplex" / "lm_cache.sqlite"
        assert cache.path.is_file()
    finally:
        cache.close()


async def test_sqlite_cache_is_safe_under_many_concurrent_calls(sqlite_cache, tmp_path):
    n = 200
    await asyncio.gather(*(sqlite_cache.set(f"k{i}", {"i": i, "text": "x" * i}) for i in range(n)))
    results = await asyncio.gather(*(sqlite_cache.get(f"k{i}") for i in range(n)))
    assert results == [{"i": i, "text": "x" * i} for i in range(n)]
    assert len(sqlite_cache) == n and sqlite_cache.hits == n

    # Interleaved sets and gets, plus a second instance (connection) on the same file.
    other = SQLiteCache(sqlite_cache.path)
    try:
        calls = []
        for i in range(n):
            calls.append((sqlite_cache if i % 2 else other).set(f"m{i}", {"i": i}))
            calls.append(sqlite_cache.get(f"k{i}"))
            calls.append(other.get(f"absent{i}"))
        out = await asyncio.gather(*calls)
        assert out[1::3] == [{"i": i, "text": "x" * i} for i in range(n)]
        assert out[2::3] == [None] * n
        assert [await other.get(f"m{i}") for i in range(n)] == [{"i": i} for i in range(n)]
        assert len(other) == 2 * n
    finally:
        other.close()


async def test_sqlite_cache_runs_off_the_event_loop(sqlite_cache, monkeypatch):
    calls = []
    real = asyncio.to_thread

    async def spy(fn, *args, **kwargs):
        calls.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    await sqlite_cache.set("k", {"a": 1})
    assert len(calls) == 1  # the write goes to a worker thread
    assert await sqlite_cache.get("k") == {"a": 1}
    assert len(calls) == 1  # a hot key is served from the in-memory front, no thread hop
    fresh = SQLiteCache(sqlite_cache.path)
    assert await fresh.get("k") == {"a": 1}
    assert len(calls) == 2  # a cold read goes to a worker thread
    fresh.close()


def test_a_corrupt_file_raises_saving_error_saying_to_delete_it(tmp_path):
    path = tmp_path / "lm_cache.sqlite"
    path.write_bytes(b"this is not a database at all\x00\xff" * 200)
    with pytest.raises(SavingError) as info:
        SQLiteCache(path)
    message = str(info.value)
    assert str(path) in message and "delete it" in message
    assert info.value.path == str(path)
    path.unlink()  # the advice works: a fresh cache opens
    SQLiteCache(path).close()


async def test_a_closed_cache_says_so(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite")
    cache.close()
    with pytest.raises(SavingError, match="is closed"):
        await cache.get("k")


def test_an_unusable_folder_raises_saving_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SavingError, match="cannot create the folder"):
        SQLiteCache(blocker / "sub" / "lm_cache.sqlite")


# --- make_cache ------------------------------------------------------------------------


def test_make_cache_off():
    assert make_cache(None) is None
    assert make_cache(False) is None


@pytest.mark.parametrize("spec", [True, "memory"])
def test_make_cache_memory(spec):
    cache = make_cache(spec)
    assert type(cache) is MemoryCache and cache.maxsize == 1024


@pytest.mark.parametrize("spec", ["disk", "sqlite"])
def test_make_cache_disk(spec, _cache_dir):
    cache = make_cache(spec)
    try:
        assert type(cache) is SQLiteCache and cache.path == _cache_dir / "lm_cache.sqlite"
    finally:
        cache.close()


@pytest.mark.parametrize("as_type", [str, pathlib.Path])
def test_make_cache_path(tmp_path, as_type):
    path = tmp_path / "mine.sqlite"
    cache = make_cache(as_type(path))
    try:
        assert type(cache) is SQLiteCache and cache.path == path and os.path.exists(path)
    finally:
        cache.close()


def test_make_cache_passes_a_custom_cache_through():
    class Custom:
        async def get(self, key):
            return None

        async def set(self, key, value):
            pass

    custom = Custom()
    assert make_cache(custom) is custom
    existing = MemoryCache(maxsize=5)
    assert make_cache(existing) is existing


@pytest.mark.parametrize("spec", [1, "", {"get": 1}, MemoryCache, object(), 0.5])
def test_make_cache_refuses_anything_else_listing_what_it_accepts(spec):
    class SyncOnly:
        def get(self, key): ...
        def set(self, key, value): ...

    for bad in (spec, SyncOnly()):
        with pytest.raises(InvalidInputError) as info:
            make_cache(bad)
        message = str(info.value)
        for accepted in ("None/False", "'memory'", "'disk'", "'sqlite'", "path", "async get"):
            assert accepted in message
