"""Per-call overhead of the provider layer (LanguageModel -> OpenAI-compatible adapter -> HttpClient).

``python bench/provider_overhead.py [--profile]`` from anywhere (about 40 s). The network is
``httpx2.MockTransport`` answering a canned OpenAI ``chat.completion`` (precomputed bytes);
row 1 does httpx2's request/response work alone (the floor), rows 2-4 and 8 subtract it:
``synaplex overhead = row CPU - floor CPU``. Each row: a warm-up, then 7 repeats (interleaved
across rows) of N calls (3,000; 300 for the slow tools row) after ``gc.collect()``; the median
per call of CPU (``time.process_time``, all threads) and wall (``time.perf_counter``).

Targets: < 200 us CPU per call excluding the transport (rows 2-4 and 8: row 8 is row 3 with a budget
checked before each call, ``LanguageModel(budget=...)``); < 100 us per cache hit.
The structured row is cProfiled when its overhead exceeds 100 us, or with ``--profile``.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2
from rich.console import Console
from rich.table import Table

import synaplex

REPEATS = 7
CALLS = 3000
TOOL_CALLS = 300  # the tools row costs milliseconds per call
PROVIDER_TARGET_US = 200.0
CACHE_TARGET_US = 100.0
PROFILE_THRESHOLD_US = 100.0


class City(synaplex.DataModel):
    city: str = synaplex.Field(description="The city")
    country: str = synaplex.Field(description="The country it is in")


SCHEMA = City.get_schema()
MESSAGES = [{"role": "system", "content": "You answer geography questions."},
            {"role": "user", "content": "What is the capital of France?"}]


def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather of a city.

    Args:
        city: the city name.
        unit: "celsius" or "fahrenheit".
    """


def get_population(city: str, year: int) -> int:
    """Population of a city in a given year.

    Args:
        city: the city name.
        year: the year.
    """


def completion_bytes(message: dict, finish: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }).encode()


PARIS = {"city": "Paris", "country": "France"}
CHAT_REPLY = completion_bytes({"content": json.dumps(PARIS)}, "stop")  # valid JSON for City: rows 2, 3, 5, 6
TOOL_REPLY = completion_bytes({"content": None, "tool_calls": [{
    "id": "call_1", "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, "tool_calls")


def handler_for(content: bytes):
    return lambda request: httpx2.Response(200, content=content, headers={"content-type": "application/json"})


def openai_lm(reply: bytes, **kwargs) -> synaplex.LanguageModel:
    return synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key="sk-bench",
                                  transport=httpx2.MockTransport(handler_for(reply)), **kwargs)


async def measure(scenarios: list[tuple]) -> list[tuple[float, float]]:
    """Median (CPU us, wall us) per call of each scenario's ``await fn()``. The repeats are
    interleaved (repeat 1 of every row, then repeat 2...) so that drift hits all rows alike."""
    for _, calls, fn, _ in scenarios:  # warm-up: lazy imports, validators, the httpx2 client
        for _ in range(min(calls, 100)):
            await fn()
    samples: list[list[tuple[float, float]]] = [[] for _ in scenarios]
    for _ in range(REPEATS):
        for (_, calls, fn, _), sample in zip(scenarios, samples):
            gc.collect()
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await fn()
            sample.append(((time.process_time() - c0) / calls, (time.perf_counter() - w0) / calls))
    return [(statistics.median(c for c, _ in s) * 1e6, statistics.median(w for _, w in s) * 1e6) for s in samples]


async def run_scenarios(tmp: str) -> list[tuple]:
    """Rows of (scenario, calls per repeat, CPU us, wall us, kind)."""
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler_for(CHAT_REPLY)), timeout=120.0,
                                trust_env=False)
    url = "https://api.openai.com/v1/chat/completions"
    headers = {"content-type": "application/json", "Authorization": "Bearer sk-bench"}
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}

    async def transport_only():
        response = await client.post(url, json=body, headers=headers)
        return json.loads(response.text)["choices"][0]["message"]["content"]

    chat, structured, tooled = openai_lm(CHAT_REPLY), openai_lm(CHAT_REPLY), openai_lm(TOOL_REPLY)
    memory = openai_lm(CHAT_REPLY, caching=True)
    sqlite = openai_lm(CHAT_REPLY, caching=os.path.join(tmp, "lm_cache.sqlite"))
    scripted = synaplex.LanguageModel(model="scripted", responses=lambda messages, schema: PARIS)
    budgeted = openai_lm(CHAT_REPLY, budget=synaplex.Budget(max_cost=1e9, max_tokens=10 ** 15, max_calls=10 ** 12))
    tools = [get_weather, get_population]
    for lm in (memory, sqlite, structured):  # fills both caches (every timed call is a hit); checks the reply
        assert await lm(MESSAGES, schema=SCHEMA) == PARIS
    assert (await tooled(MESSAGES, tools=tools))["tool_calls"][0]["name"] == "get_weather"

    scenarios = [
        ("1. transport only (httpx2 + MockTransport)", CALLS, transport_only, "floor"),
        ("2. LanguageModel chat", CALLS, lambda: chat(MESSAGES), "provider"),
        ("3. LanguageModel structured (schema=City)", CALLS, lambda: structured(MESSAGES, schema=SCHEMA), "provider"),
        ("4. LanguageModel with tools (2 functions)", TOOL_CALLS, lambda: tooled(MESSAGES, tools=tools), "provider"),
        ("5. cache hit, memory (structured)", CALLS, lambda: memory(MESSAGES, schema=SCHEMA), "cache"),
        ("6. cache hit, SQLite (structured)", CALLS, lambda: sqlite(MESSAGES, schema=SCHEMA), "cache"),
        ("7. scripted LM (structured)", CALLS, lambda: scripted(MESSAGES, schema=SCHEMA), "reference"),
        ("8. structured, budget checked per call", CALLS, lambda: budgeted(MESSAGES, schema=SCHEMA), "provider"),
    ]
    timings = await measure(scenarios)
    rows = [(name, calls, cpu, wall, kind) for (name, calls, _, kind), (cpu, wall) in zip(scenarios, timings)]
    assert memory.usage.calls == 1 and sqlite.usage.calls == 1, "a cache row called the provider"
    assert budgeted.budget.calls == budgeted.usage.calls > CALLS and budgeted.budget.cost > 0, "the budget counted"
    await client.aclose()
    sqlite._cache.close()  # before the temporary folder goes
    return rows


def target_cell(kind: str, value: float | None) -> str:
    limit = {"provider": PROVIDER_TARGET_US, "cache": CACHE_TARGET_US}.get(kind)
    if limit is None:
        return kind
    text = " CPU per call excluding the transport" if kind == "provider" else ""
    return f"< {limit:.0f} us{text}: {'OK' if value < limit else 'MISSED'}"


def print_table(rows: list[tuple]) -> float:
    console = Console(width=200)
    console.print(f"synaplex {synaplex.__version__} provider-layer overhead (openai/gpt-4o-mini over "
                  f"httpx2 {httpx2.__version__} MockTransport, canned chat.completion)")
    console.print(f"Python {platform.python_version()} ({platform.python_implementation()}) on "
                  f"{platform.platform()}, {platform.machine()}")
    console.print(f"Note: the machine is noisy; every value is the median of {REPEATS} repeats (interleaved "
                  "across rows), after a warm-up and gc.collect(). CPU = time.process_time (all threads), "
                  "wall = time.perf_counter.")
    table = Table()
    for column in ("scenario", "calls / repeat", "CPU us / call", "wall us / call", "synaplex overhead, CPU us",
                   "target"):
        table.add_column(column, justify="left" if column in ("scenario", "target") else "right")
    floor = next(r[2] for r in rows if r[4] == "floor")
    structured_overhead = 0.0
    for name, calls, cpu, wall, kind in rows:
        overhead = cpu - floor if kind == "provider" else cpu if kind == "cache" else None
        if name.startswith("3."):
            structured_overhead = overhead
        table.add_row(name, str(calls), f"{cpu:.1f}", f"{wall:.1f}",
                      "-" if overhead is None else f"{overhead:.1f}", target_cell(kind, overhead))
    console.print(table)
    console.print(f"Overhead of rows 2-4 and 8 = row CPU - row 1 CPU ({floor:.1f} us); for cache hits it is the "
                  "whole call (no transport is used).")
    return structured_overhead


def profile_structured(calls: int = CALLS, top: int = 30) -> None:
    """cProfile ``calls`` structured calls; print the top functions by cumulative time."""
    async def main():
        lm = openai_lm(CHAT_REPLY)
        for _ in range(100):
            await lm(MESSAGES, schema=SCHEMA)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await lm(MESSAGES, schema=SCHEMA)
        profiler.disable()
        print(f"\ncProfile of row 3 (structured), {calls} calls, top {top} by cumulative time:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)

    asyncio.run(main())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(run_scenarios(tmp))
    structured_overhead = print_table(rows)
    if structured_overhead > PROFILE_THRESHOLD_US or "--profile" in sys.argv[1:]:
        profile_structured()


if __name__ == "__main__":
    main()
