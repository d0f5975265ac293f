"""Client CPU per call of each candidate HTTP transport, against one instant loopback server.

``python bench/transport.py [--rounds 3] [--calls 500] [--only NAME,...] [--profile NAME]``
from anywhere (about 5 minutes with every candidate installed; a missing one is listed and
skipped). The script starts its server (a child process: a raw asyncio protocol, uvloop when
installed, answering canned bytes) pinned to the last CPU and pins itself to the first, so
the CPU measured (``time.process_time``: every thread of this process) is the client's alone.

The same request goes through each candidate: the POST a one-Generator program sends (an
OpenAI chat completion with a JSON-schema response format), its JSON reply read and parsed.
The server counts what it receives and each row checks one HTTP request per call.

Columns (medians over ``--rounds`` rounds, the rows interleaved in each round):

* **one step**: CPU ms per call, sequential calls (``--calls`` of them);
* **× floor**: that over the bare ``http.client`` row (a blocking keep-alive connection);
* **10 steps**: CPU ms per 10 calls in sequence (a ``Sequential`` of 10 Generators for the
  synaplex rows);
* **1,000 @ 8** and **1,000 @ 64**: client CPU seconds for 1,000 calls with 8 (64) in flight;
* **stream**: CPU ms per streamed call (24 server-sent events, read and parsed).

Rows: the floor; each library alone (httpx2 as synaplex used it, httpx2 over an aiohttp
transport, aiohttp, pyreqwest, httpr), each on asyncio's loop and on uvloop; then synaplex
itself (a Program with one Generator on ``openai/bench``) on each of its transports. The
synaplex rows' stream column is ``await lm(messages, streaming=True)`` read to its end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
STREAM_DELTAS = 22  # + one finish event + [DONE] = 24 events
CHAT_PATH = "/v1/chat/completions"
MESSAGES = [{"role": "system", "content": "Answer the question."},
            {"role": "user", "content": "What is the capital of France?"}]


# --- the server (a child process) ---------------------------------------------------------------


def canned_replies() -> tuple[bytes, bytes]:
    """The whole HTTP replies, status line to last byte: a chat completion, an SSE stream."""
    completion = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"answer": "Paris"}'},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 8, "total_tokens": 50}}).encode()
    chat = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
            b"content-length: %d\r\n\r\n" % len(completion)) + completion

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def event(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": "bench",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            body["usage"] = usage
        return chunk(b"data: " + json.dumps(body).encode() + b"\n\n")

    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": f"word{i} "}) for i in range(STREAM_DELTAS - 1)]
    events += [event({}, "stop", {"prompt_tokens": 42, "completion_tokens": 22, "total_tokens": 64}),
               chunk(b"data: [DONE]\n\n"), b"0\r\n\r\n"]
    stream = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
              b"transfer-encoding: chunked\r\n\r\n") + b"".join(events)
    return chat, stream


def serve(port: int) -> None:
    """Answer every POST with the canned completion (or stream, when the body asks for one) and
    ``GET /stats`` with the counts, on 127.0.0.1:port until killed."""
    chat, stream = canned_replies()
    stats = {"requests": 0, "connections": 0}

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b""
            stats["connections"] += 1

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head = self.buffer[:end].lower()
                at = head.find(b"\r\ncontent-length:")
                length = int(head[at + 17:head.find(b"\r\n", at + 2) if head.find(b"\r\n", at + 2) > 0 else None]) \
                    if at >= 0 else 0
                if len(self.buffer) < end + 4 + length:
                    return
                body = self.buffer[end + 4:end + 4 + length]
                self.buffer = self.buffer[end + 4 + length:]
                if head.startswith(b"get /stats"):
                    reply = json.dumps(stats).encode()
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                         b"content-length: %d\r\n\r\n%s" % (len(reply), reply))
                    continue
                stats["requests"] += 1
                self.transport.write(stream if b'"stream":true' in body.replace(b" ", b"") else chat)

    async def main():
        server = await asyncio.get_running_loop().create_server(Protocol, HOST, port, backlog=1024)
        await server.serve_forever()

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def start_server(cpu: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(port)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command] if _has_taskset() else command
    process = subprocess.Popen(command)
    url = f"http://{HOST}:{port}"
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"the bench server exited with {process.returncode}")
        try:
            server_stats(url)
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bench server did not start within 10 s")


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


# --- the candidates -----------------------------------------------------------------------------


class Candidate:
    """One way to make the call. ``open()`` (in the loop) returns a client; ``call(client)`` makes
    one call; ``stream(client)`` one streamed call; ``close(client)``. ``per_call``: the HTTP
    requests one call makes (10 for the synaplex chain)."""

    name = ""
    loop = "asyncio"
    requires: tuple[str, ...] = ()

    def __init__(self, url: str):
        self.url = url
        self.chat_url = url + CHAT_PATH
        self.body = request_body()

    async def open(self):
        raise NotImplementedError

    async def call(self, client) -> None:
        raise NotImplementedError

    async def chain(self, client) -> None:
        for _ in range(10):
            await self.call(client)

    async def stream(self, client) -> None:
        raise NotImplementedError

    async def close(self, client) -> None:
        pass


def request_body(stream: bool = False) -> dict:
    """What synaplex's OpenAI-compatible adapter sends for the one-Generator program."""
    body = {"model": "bench", "messages": MESSAGES,
            "response_format": {"type": "json_schema", "json_schema": {"name": "Answer", "strict": True, "schema": {
                "type": "object", "properties": {"answer": {"type": "string", "description": "The answer"}},
                "required": ["answer"], "additionalProperties": False}}}}
    if stream:
        body = {"model": "bench", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    return body


HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench-0123456789abcdef"}


def count_events(data: bytes) -> int:
    return data.count(b"\n\n")


def parse_events(lines: list[bytes]) -> int:
    """The minimal SSE read a raw client needs: the JSON of each ``data:`` line until [DONE]."""
    seen = 0
    for line in lines:
        if line.startswith(b"data: "):
            data = line[6:]
            if data.strip() == b"[DONE]":
                return seen + 1
            json.loads(data)
            seen += 1
    return seen


class HttpClientFloor(Candidate):
    name = "http.client (floor, blocking)"
    loop = "none"

    async def open(self):
        return http.client.HTTPConnection(HOST, int(self.url.rsplit(":", 1)[1]))

    def _post(self, connection, body: dict):
        connection.request("POST", CHAT_PATH, json.dumps(body).encode(), HEADERS)
        return connection.getresponse()

    async def call(self, connection) -> None:
        json.loads(self._post(connection, self.body).read())

    async def stream(self, connection) -> None:
        response = self._post(connection, request_body(stream=True))
        parse_events(response.read().split(b"\n"))  # chunked: read() joins the chunks

    async def close(self, connection) -> None:
        connection.close()


class Httpx2(Candidate):
    name = "httpx2 (synaplex's transport before)"
    requires = ("httpx2",)

    async def open(self):
        import httpx2

        return httpx2.AsyncClient(trust_env=False)

    async def call(self, client) -> None:
        response = await client.post(self.chat_url, json=self.body, headers=HEADERS)
        json.loads(response.content)

    async def stream(self, client) -> None:
        async with client.stream("POST", self.chat_url, json=request_body(stream=True), headers=HEADERS) as response:
            parse_events([line.encode() async for line in response.aiter_lines()])

    async def close(self, client) -> None:
        await client.aclose()


class Httpx2OverAiohttp(Httpx2):
    """httpx2's client over a small httpx2 transport that sends with aiohttp (what httpx-aiohttp
    does for httpx; that package targets httpx, not httpx2)."""

    name = "httpx2 + aiohttp transport"
    requires = ("httpx2", "aiohttp")

    async def open(self):
        import aiohttp
        import httpx2

        class AiohttpTransport(httpx2.AsyncBaseTransport):
            def __init__(self):
                self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

            async def handle_async_request(self, request):
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
                response = await self.session.request(request.method, str(request.url), headers=headers,
                                                      data=request.content, allow_redirects=False,
                                                      auto_decompress=False)
                return httpx2.Response(response.status, headers=response.raw_headers,
                                       stream=Stream(response), request=request)

            async def aclose(self):
                await self.session.close()

        class Stream(httpx2.AsyncByteStream):
            def __init__(self, response):
                self.response = response

            async def __aiter__(self):
                async for chunk in self.response.content.iter_any():
                    yield chunk

            async def aclose(self):
                self.response.release()

        return httpx2.AsyncClient(transport=AiohttpTransport(), trust_env=False)


class Aiohttp(Candidate):
    name = "aiohttp"
    requires = ("aiohttp",)

    async def open(self):
        import aiohttp

        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def call(self, session) -> None:
        async with session.post(self.chat_url, data=json.dumps(self.body).encode(), headers=HEADERS) as response:
            json.loads(await response.read())

    async def stream(self, session) -> None:
        async with session.post(self.chat_url, data=json.dumps(request_body(stream=True)).encode(),
                                headers=HEADERS) as response:
            parse_events([line async for line in response.content])

    async def close(self, session) -> None:
        await session.close()


class Pyreqwest(Candidate):
    name = "pyreqwest (Rust: reqwest, hyper)"
    requires = ("pyreqwest",)

    async def open(self):
        from pyreqwest.client import ClientBuilder

        return ClientBuilder().build()

    async def call(self, client) -> None:
        response = await client.post(self.chat_url).headers(HEADERS).body_bytes(
            json.dumps(self.body).encode()).build().send()
        json.loads(bytes(await response.bytes()))

    async def stream(self, client) -> None:
        response = await client.post(self.chat_url).headers(HEADERS).body_bytes(
            json.dumps(request_body(stream=True)).encode()).build().send()
        parse_events(bytes(await response.bytes()).split(b"\n"))

    async def close(self, client) -> None:
        await client.close()


class Httpr(Candidate):
    name = "httpr (Rust: reqwest)"
    requires = ("httpr",)

    async def open(self):
        import httpr

        return httpr.AsyncClient()

    async def call(self, client) -> None:
        response = await client.post(self.chat_url, content=json.dumps(self.body).encode(), headers=HEADERS)
        json.loads(response.content)

    async def stream(self, client) -> None:
        response = await client.post(self.chat_url, content=json.dumps(request_body(stream=True)).encode(),
                                     headers=HEADERS)
        parse_events(response.content.split(b"\n"))

    async def close(self, client) -> None:
        await client.aclose()


class Synaplex(Candidate):
    """A Program with one Generator (and a Sequential of 10) on ``openai/bench`` at the server."""

    name = "synaplex, transport='aiohttp'"
    transport = "aiohttp"
    requires = ("aiohttp",)

    async def open(self):
        import synaplex

        class Query(synaplex.DataModel):
            query: str = synaplex.Field(description="The question")

        class Answer(synaplex.DataModel):
            answer: str = synaplex.Field(description="The answer")

        lm = synaplex.LanguageModel(model="openai/bench", api_base=self.url + "/v1", transport=self.transport,
                                    api_key="sk-bench-0123456789abcdef")
        x = synaplex.Input(data_model=Query)
        one = synaplex.Program(inputs=x, outputs=await synaplex.Generator(data_model=Answer, language_model=lm)(x),
                               name="one_step")
        chain = synaplex.Sequential([synaplex.Input(data_model=Query)]
                                    + [synaplex.Generator(data_model=Answer, language_model=lm) for _ in range(10)],
                                    name="ten_steps")
        return lm, one, chain, Query(query="What is the capital of France?")

    async def call(self, client) -> None:
        lm, one, chain, query = client
        result = await one(query)
        assert result.get_json() == {"answer": "Paris"}, result

    async def chain(self, client) -> None:
        lm, one, chain, query = client
        await chain(query)

    async def stream(self, client) -> None:
        lm = client[0]
        chunks = [chunk async for chunk in await lm(MESSAGES, streaming=True)]
        assert len(chunks) >= STREAM_DELTAS - 1, len(chunks)

    async def close(self, client) -> None:
        await client[0]._adapter.http.aclose()


class SynaplexHttpx2(Synaplex):
    name = "synaplex, transport='httpx2'"
    transport = "httpx2"
    requires = ("httpx2",)


RAW = [Httpx2, Httpx2OverAiohttp, Aiohttp, Pyreqwest, Httpr]
SYNAPLEX = [SynaplexHttpx2, Synaplex]


def with_loop(cls: type[Candidate], loop: str) -> type[Candidate]:
    requires = cls.requires + (("uvloop",) if loop == "uvloop" else ())
    return type(cls.__name__ + loop.title(), (cls,), {"loop": loop, "requires": requires})


def candidates() -> list[type[Candidate]]:
    rows: list[type[Candidate]] = [HttpClientFloor]
    for group in (RAW, SYNAPLEX):
        for cls in group:
            rows += [with_loop(cls, "asyncio"), with_loop(cls, "uvloop")]
    return rows


def installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- measuring ----------------------------------------------------------------------------------


SCENARIOS = ("one", "ten", "c8", "c64", "stream")


async def measure(candidate: Candidate, calls: int, check: Callable[[int], None]) -> dict[str, float]:
    """CPU per scenario (ms per call; s per 1,000 calls for c8/c64), the server's count checked."""
    client = await candidate.open()
    out: dict[str, float] = {}
    try:
        for _ in range(30):  # warm-up: connections, caches, lazy imports
            await candidate.call(client)
        await candidate.stream(client)
        check(31)

        gc.collect()
        start = time.process_time()
        for _ in range(calls):
            await candidate.call(client)
        out["one"] = (time.process_time() - start) / calls * 1e3
        check(calls)

        chains = max(calls // 10, 10)
        gc.collect()
        start = time.process_time()
        for _ in range(chains):
            await candidate.chain(client)
        out["ten"] = (time.process_time() - start) / chains * 1e3
        check(chains * 10)

        for width, key in ((8, "c8"), (64, "c64")):
            if candidate.loop == "none":
                continue  # a blocking connection makes one call at a time
            async def worker(left: list[int]):
                while left[0] > 0:
                    left[0] -= 1
                    await candidate.call(client)

            gc.collect()
            start = time.process_time()
            left = [1000]
            await asyncio.gather(*(worker(left) for _ in range(width)))
            out[key] = time.process_time() - start
            check(1000)

        streams = max(calls // 5, 20)
        gc.collect()
        start = time.process_time()
        for _ in range(streams):
            await candidate.stream(client)
        out["stream"] = (time.process_time() - start) / streams * 1e3
        check(streams)
    finally:
        await candidate.close(client)
    return out


def run_one(cls: type[Candidate], url: str, calls: int) -> dict[str, float]:
    before = [server_stats(url)["requests"]]

    def check(expected: int) -> None:
        now = server_stats(url)["requests"]
        if now - before[0] != expected:
            raise RuntimeError(f"{cls.name}: the server saw {now - before[0]} requests for {expected} calls")
        before[0] = now

    candidate = cls(url)
    coroutine = measure(candidate, calls, check)
    if cls.loop == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def profile(cls: type[Candidate], url: str, calls: int) -> None:
    import cProfile
    import pstats

    candidate = cls(url)

    async def main():
        client = await candidate.open()
        for _ in range(30):
            await candidate.call(client)
        profiler = cProfile.Profile(time.process_time)  # CPU, not wall: waiting on the server is not cost
        profiler.enable()
        for _ in range(calls):
            await candidate.call(client)
        profiler.disable()
        await candidate.close(client)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)

    asyncio.run(main()) if cls.loop != "uvloop" else __import__("uvloop").run(main())


def pin() -> tuple[int | None, int | None]:
    """Pin this process to the first allowed CPU; the server gets the last (None: one CPU)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(cpus) < 2:
        return None, None
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[0], cpus[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=500, help="sequential calls per row and round")
    parser.add_argument("--only", default="", help="comma-separated substrings of row names to run")
    parser.add_argument("--profile", default="", help="cProfile the one-step call of the first row matching this")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    client_cpu, server_cpu = pin()
    process, url = start_server(server_cpu)
    try:
        rows = candidates()
        label = {cls: f"{cls.name} [{cls.loop}]" if cls.loop != "none" else cls.name for cls in rows}
        if args.only:
            wanted = [w.strip() for w in args.only.split(",")]
            rows = [cls for cls in rows if cls is HttpClientFloor or any(w in label[cls] for w in wanted)]
        missing = [cls for cls in rows if not all(installed(r) for r in cls.requires)]
        rows = [cls for cls in rows if cls not in missing]
        if args.profile:
            target = next(cls for cls in rows if args.profile in label[cls])
            profile(target, url, args.calls)
            return
        results: dict[type[Candidate], list[dict[str, float]]] = {cls: [] for cls in rows}
        for round_ in range(args.rounds):
            for cls in rows:
                results[cls].append(run_one(cls, url, args.calls))
                print(f"round {round_ + 1}/{args.rounds}: {label[cls]}", file=sys.stderr, flush=True)
        stats = server_stats(url)
    finally:
        process.kill()
        process.wait()

    def median(cls, key) -> float | None:
        values = [r[key] for r in results[cls] if key in r]
        return statistics.median(values) if values else None

    floor = median(HttpClientFloor, "one")
    print(f"\nClient CPU per call against an instant server on 127.0.0.1 (client on CPU {client_cpu}, server on "
          f"CPU {server_cpu}); medians of {args.rounds} interleaved rounds of {args.calls} calls; "
          f"Python {sys.version.split()[0]}; the server saw {stats['requests']:,} requests on "
          f"{stats['connections']:,} connections.\n")
    print("| transport | loop | one step, ms | × floor | 10 steps, ms | 1,000 @ 8, s | 1,000 @ 64, s | stream, ms |")
    print("|---|---|---|---|---|---|---|---|")

    def cell(value: float | None, digits: int = 3) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    for cls in rows:
        one = median(cls, "one")
        ratio = f"{one / floor:.1f}×" if one and floor else "—"
        print(f"| {cls.name} | {cls.loop if cls.loop != 'none' else '—'} | {cell(one)} | {ratio} | "
              f"{cell(median(cls, 'ten'), 2)} | {cell(median(cls, 'c8'))} | {cell(median(cls, 'c64'))} | "
              f"{cell(median(cls, 'stream'))} |")
    for cls in missing:
        print(f"| {cls.name} | {cls.loop} | not installed ({', '.join(r for r in cls.requires if not installed(r))}) "
              "| | | | | |")


if __name__ == "__main__":
    main()
