"""Throughput and latency of ``synaplex serve``, against a program on the scripted model.

Run it from anywhere (it puts the repository root on ``sys.path``)::

    python bench/serve.py                       # about a minute
    python bench/serve.py --requests 500        # quicker, noisier

It saves a one-Generator program (Question -> Answer) whose scripted model answers at once,
starts ``python -m synaplex.cli serve`` on 127.0.0.1 (``--log-level warning``: no access
log), and sends ``POST /run`` from this process with an httpx2 client at concurrency 1, 16
and 64 (after a warm-up): requests/s and p50/p99 latency as the client sees them. It then
calls the same program in-process (``await program(value)``), and ``POST /run`` on the same
app in-process through httpx2's ASGI transport (no socket): the difference of their p50s is
the server's own overhead per request (target: <= 1 ms); the p50 over the socket at
concurrency 1 minus the in-process p50 adds the client, the kernel and the scheduler.
Client and server share the machine's cores, so the requests/s at 16 and 64 are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

import synaplex  # noqa: E402


class Question(synaplex.DataModel):
    query: str


class Answer(synaplex.DataModel):
    answer: str


async def build_program(replies: int) -> synaplex.Program:
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}] * replies)
    inputs = synaplex.Input(data_model=Question)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="bench_qa")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(url: str, concurrency: int, requests: int) -> tuple[float, list[float]]:
    """(requests/s, latencies in ms) of ``requests`` POST /run at ``concurrency``."""
    latencies: list[float] = []
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        remaining = iter(range(requests))

        async def worker() -> None:
            for i in remaining:
                started = time.perf_counter()
                reply = await client.post("/run", json={"query": f"What is the capital of France? ({i})"})
                latencies.append((time.perf_counter() - started) * 1000)
                if reply.status_code != 200 or reply.json() != {"answer": "Paris"}:
                    raise RuntimeError(f"unexpected answer {reply.status_code}: {reply.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, latencies


async def in_process(requests: int) -> tuple[list[float], list[float]]:
    """Latencies (ms) of ``await program(value)``, and of ``POST /run`` on the same app called
    in this process through httpx2's ASGI transport (the server's own work, no socket)."""
    from synaplex.serving.http import create_app

    program = await build_program(2 * requests + 200)
    for i in range(100):
        await program(Question(query=f"warm-up {i}"))
    direct = []
    for i in range(requests):
        started = time.perf_counter()
        await program({"query": f"What is the capital of France? ({i})"})
        direct.append((time.perf_counter() - started) * 1000)
    asgi = []
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(program)), base_url="http://app") \
            as client:
        for i in range(100):
            await client.post("/run", json={"query": f"warm-up {i}"})
        for i in range(requests):
            started = time.perf_counter()
            reply = await client.post("/run", json={"query": f"What is the capital of France? ({i})"})
            asgi.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200
    return direct, asgi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    opts = parser.parse_args()
    levels = [int(c) for c in opts.concurrency.split(",")]
    warmup = 200
    total = warmup + opts.requests * len(levels) + 100

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bench_qa.json")
        asyncio.run(build_program(total)).save(path)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "synaplex.cli", "serve", path, "--port", str(port),
                                   "--log-level", "warning", "--max-concurrency", str(max(levels))], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx2.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx2.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
            asyncio.run(load(url, 4, warmup))
            rows = []
            for concurrency in levels:
                rate, latencies = asyncio.run(load(url, concurrency, opts.requests))
                rows.append((concurrency, rate, statistics.median(latencies), percentile(latencies, 0.99)))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)

    local, asgi = asyncio.run(in_process(opts.requests))
    local_p50, asgi_p50 = statistics.median(local), statistics.median(asgi)
    print(f"synaplex {synaplex.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
          f"{opts.requests} requests per level, client and server on this machine\n")
    print("| concurrency | requests/s | p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|")
    for concurrency, rate, p50, p99 in rows:
        print(f"| {concurrency} | {rate:,.0f} | {p50:.2f} | {p99:.2f} |")
    http_p50 = next((p50 for c, _, p50, _ in rows if c == 1), None)
    print(f"\nin-process program call p50: {local_p50:.3f} ms")
    print(f"POST /run through the ASGI app in-process (no socket) p50: {asgi_p50:.3f} ms: the server's own "
          f"overhead {asgi_p50 - local_p50:.3f} ms (target <= 1 ms)")
    if http_p50 is not None:
        print(f"over a real socket (HTTP p50 at concurrency 1 - in-process p50): {http_p50 - local_p50:.3f} ms "
              "(client, kernel and scheduling included)")


if __name__ == "__main__":
    main()
