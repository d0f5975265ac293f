"""Soak test: ``predict`` over many examples against a flaky, hostile server on 127.0.0.1.

``python bench/soak.py [--examples 10000] [--seed 0]`` from anywhere (about a minute for
10,000 examples on two cores). The script starts its own server (a child process: starlette
on uvicorn, 127.0.0.1 only) and stops it at the end; nothing else is reached.

The server answers OpenAI Chat Completions at ``/primary/v1`` and ``/fallback/v1`` and, on
each path independently, injects faults into the requests it gets:

* 5% ``429`` with a ``Retry-After`` of 0.2 s (80%), ``nan`` (10%, invalid: backoff) or a day
  (10%: beyond the cap, not waited for: the fallback answers);
* 3% ``500``;
* 1% stalls (the reply comes after 30 s; the client's ``timeout=2`` deadline cuts it);
* 1% malformed bodies (cut JSON, HTML, the wrong shape, JSON nested 10,000 deep, ``NaN``).

The client is a Program with one Generator on ``openai/soak-primary`` (requests-per-minute
and concurrency limits, two retries, fallback ``openai/soak-fallback`` with the same limits),
run with ``program.predict(x, batch_size=64, on_error="return")``. The table reports
throughput, faults injected, errors retried by type, retries, fallbacks, repairs, the typed
per-example errors by type, the memory high-water mark, and **examples lost**: inputs with
neither an output nor a typed per-example error. It must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import random
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
STALL_SECONDS = 30.0
FAULTS = (("429", 0.05), ("500", 0.03), ("stall", 0.01), ("malformed", 0.01))
DEEP = "[" * 10_000 + "]" * 10_000


# --- the server (a child process) ---------------------------------------------------------------


def serve(port: int, seed: int) -> None:
    """Serve the two chat endpoints and ``/stats`` on 127.0.0.1:port until killed."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    rng = random.Random(seed)
    stats: collections.Counter = collections.Counter()

    def fault() -> str | None:
        draw, edge = rng.random(), 0.0
        for name, share in FAULTS:
            edge += share
            if draw < edge:
                return name
        return None

    def reply(content: str) -> dict:
        return {"id": "soak", "object": "chat.completion", "model": "soak",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 8}}

    async def chat(request: Request) -> Response:
        route = request.path_params["route"]
        body = await request.json()
        stats[f"{route} requests"] += 1
        kind = fault()
        if kind:
            stats[f"{route} {kind}"] += 1
        if kind == "429":
            retry_after = rng.choices(["0.2", "nan", "86400"], weights=[8, 1, 1])[0]
            return JSONResponse({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                                status_code=429, headers={"retry-after": retry_after})
        if kind == "500":
            return JSONResponse({"error": {"message": "internal error", "type": "server_error"}}, status_code=500)
        if kind == "stall":
            await asyncio.sleep(STALL_SECONDS)
        if kind == "malformed":
            text = rng.choice(['{"choices": [{"message": {"content": "cut', "<html>502 Bad Gateway</html>",
                               '{"choices": "not a list"}', DEEP, '{"choices": NaN}', '{"choices": [7]}'])
            return Response(text, media_type="application/json")
        asked = re.search(r"question \d+", json.dumps(body["messages"]))
        return JSONResponse(reply(json.dumps({"answer": f"echo: {asked.group(0) if asked else '?'}"})))

    async def report(request: Request) -> Response:
        return JSONResponse(dict(stats))

    app = Starlette(routes=[Route("/{route}/v1/chat/completions", chat, methods=["POST"]),
                            Route("/stats", report)])
    uvicorn.run(app, host=HOST, port=port, log_level="error", access_log=False, timeout_keep_alive=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def start_server(seed: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--seed", str(seed)])
    url = f"http://{HOST}:{port}"
    for _ in range(200):  # at most 20 s
        if process.poll() is not None:
            raise RuntimeError(f"the soak server exited with {process.returncode}")
        try:
            get_json(f"{url}/stats")
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the soak server did not start within 20 s")


# --- the client ---------------------------------------------------------------------------------


class RetryLog(logging.Handler):
    """Counts the errors the LM layer retried and the fallbacks it took, from its log lines."""

    RETRY = re.compile(r"^(?P<model>\S+): (?P<error>\w+), retry \d+ in")
    FALLBACK = re.compile(r"^(?P<model>\S+) failed \((?P<error>\w+)\); falling back")

    def __init__(self):
        super().__init__(logging.INFO)
        self.retried: collections.Counter = collections.Counter()
        self.fell_back: collections.Counter = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := self.RETRY.match(message):
            self.retried[match["error"]] += 1
        elif match := self.FALLBACK.match(message):
            self.fell_back[match["error"]] += 1


async def run(examples: int, url: str, batch_size: int) -> dict:
    import synaplex
    from synaplex.errors import SynaplexError

    class Query(synaplex.DataModel):
        query: str = synaplex.Field(description="The question")

    class Answer(synaplex.DataModel):
        answer: str = synaplex.Field(description="The answer")

    limits = dict(requests_per_minute=60_000, max_concurrency=64, max_retries=2, timeout=2.0)
    fallback = synaplex.LanguageModel(model="openai/soak-fallback", api_base=f"{url}/fallback/v1", **limits)
    lm = synaplex.LanguageModel(model="openai/soak-primary", api_base=f"{url}/primary/v1", fallback=fallback,
                                **limits)
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs, name="soak")

    log = RetryLog()
    logger = logging.getLogger("synaplex.lm")
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    x = [Query(query=f"question {i}") for i in range(examples)]
    started = time.perf_counter()
    try:
        async with asyncio.timeout(max(600.0, examples * 0.2)):  # the soak stops by itself
            results = await program.predict(x, batch_size=batch_size, on_error="return")
    finally:
        logger.removeHandler(log)
    elapsed = time.perf_counter() - started

    outputs_ok = typed = 0
    typed_by_type: collections.Counter = collections.Counter()
    untyped_by_type: collections.Counter = collections.Counter()
    for i, result in enumerate(results):
        if isinstance(result, SynaplexError):
            typed += 1
            typed_by_type[type(result).__name__] += 1
        elif isinstance(result, BaseException):
            untyped_by_type[type(result).__name__] += 1
        elif result is not None and result.get_json().get("answer") == f"echo: question {i}":
            outputs_ok += 1
        else:
            untyped_by_type[f"wrong output {str(result)[:40]}"] += 1
    # Retries and fallbacks are counted from the LM layer's log: a call that finally fails
    # records no usage, so its retries would be missing from lm.usage.
    return {
        "examples": examples, "results": len(results), "elapsed": elapsed, "outputs": outputs_ok,
        "typed": typed, "typed_by_type": typed_by_type, "untyped_by_type": untyped_by_type,
        "lost": examples - outputs_ok - typed, "retried": log.retried, "fell_back": log.fell_back,
        "repairs": lm.usage.repairs,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def counts(counter: collections.Counter) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counter.most_common()) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="how many predict examples (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="the server's fault sequence")
    parser.add_argument("--batch-size", type=int, default=64, help="examples in flight at once")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.seed)
        return
    if not 1 <= args.examples <= 1_000_000:
        parser.error("--examples must be between 1 and 1,000,000")

    from rich.console import Console
    from rich.table import Table

    process, url = start_server(args.seed)
    try:
        figures = asyncio.run(run(args.examples, url, args.batch_size))
        server = get_json(f"{url}/stats")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    injected = collections.Counter({k: v for k, v in server.items() if not k.endswith("requests")})
    table = Table(title=f"Soak: {figures['examples']:,} predict examples against a faulty server "
                        f"(seed {args.seed}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("wall time", f"{figures['elapsed']:.1f} s"),
        ("throughput", f"{figures['examples'] / figures['elapsed']:,.0f} examples/s"),
        ("HTTP requests served", f"primary {server.get('primary requests', 0):,}, "
                                 f"fallback {server.get('fallback requests', 0):,}"),
        ("faults injected", counts(injected)),
        ("errors retried, by type", counts(figures["retried"])),
        ("retries (both models)", f"{sum(figures['retried'].values()):,}"),
        ("fallbacks taken, by the primary's error",
         f"{sum(figures['fell_back'].values()):,} ({counts(figures['fell_back'])})"),
        ("structured-output repairs", f"{figures['repairs']:,}"),
        ("outputs (checked against the input)", f"{figures['outputs']:,}"),
        ("typed per-example errors", f"{figures['typed']:,} ({counts(figures['typed_by_type'])})"),
        ("untyped errors or wrong outputs", counts(figures["untyped_by_type"])),
        ("memory high-water mark (client)", f"{figures['maxrss_mib']:,.0f} MiB"),
        ("examples lost", f"{figures['lost']:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console(width=140).print(table)
    if figures["lost"] or figures["untyped_by_type"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
