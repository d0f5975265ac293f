"""A tiny HTTP/1.1 server on 127.0.0.1 for transport tests: keep-alive, slow drips, endless bodies.

The server runs its own event loop in a thread, so a test's client (sync or async, one loop or
many) talks to it over a real socket. ``handler(request)`` returns a :class:`Reply` whose body
is bytes or an async iterator of bytes (sent as it is produced, for drips and endless streams).

>>> with LoopbackServer(lambda request: Reply(200, {"content-type": "application/json"}, b"{}")) as server:
...     server.url
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes | AsyncIterator[bytes] = b""


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def drip(data: bytes, every: float, size: int = 1) -> AsyncIterator[bytes]:
    """``data`` in pieces of ``size`` bytes, one every ``every`` seconds."""

    async def pieces():
        for start in range(0, len(data), size):
            yield data[start:start + size]
            await asyncio.sleep(every)

    return pieces()


def endless(piece: bytes = b"x" * 65536, *, prefix: bytes = b"") -> AsyncIterator[bytes]:
    """``prefix`` then ``piece`` forever (the client must stop reading)."""

    async def pieces():
        if prefix:
            yield prefix
        while True:
            yield piece
            await asyncio.sleep(0)

    return pieces()


class LoopbackServer:
    """``with LoopbackServer(handler) as server:`` serves on ``server.url`` until the block ends.

    ``server.requests`` lists every request; ``server.connections`` counts accepted connections
    and ``server.open_connections`` those still open.
    """

    def __init__(self, handler: Callable[[Request], Reply]):
        self.handler = handler
        self.requests: list[Request] = []
        self.connections = 0
        self.open_connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback server did not start")
        return self

    def __exit__(self, *exc_info) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def start():
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=2 ** 20)
            self.port = self._server.sockets[0].getsockname()[1]

        loop.run_until_complete(start())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self.connections += 1
        self.open_connections += 1
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self.handler(request)
                if not await self._write_reply(writer, reply):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> Request | None:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        body = await reader.readexactly(length) if length else b""
        return Request(method, path, headers, body)

    @staticmethod
    async def _write_reply(writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Write ``reply``; False when the connection must close afterwards."""
        headers = {k.lower(): v for k, v in reply.headers.items()}
        streamed = not isinstance(reply.body, (bytes, bytearray))
        if not streamed:
            headers.setdefault("content-length", str(len(reply.body)))
        elif "content-length" not in headers:
            headers["transfer-encoding"] = "chunked"
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        if not streamed:
            writer.write(bytes(reply.body))
            await writer.drain()
            return headers.get("connection") != "close"
        chunked = headers.get("transfer-encoding") == "chunked"
        async for piece in reply.body:
            if chunked:
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                writer.write(piece)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return headers.get("connection") != "close"
