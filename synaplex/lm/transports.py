"""The HTTP libraries under :class:`~synaplex.lm.http.HttpClient`: aiohttp by default, httpx2 as well.

``HttpClient`` speaks to one small interface, :class:`LoopClient` (one per event loop) and
:class:`Reply`, and keeps every guarantee itself (deadline, size cap, SSE, typed errors), so
they hold whichever library carries the bytes. Which one (``transport=``):

* ``None`` (default): ``"aiohttp"`` when the aiohttp package is installed, else ``"httpx2"``.
* ``"aiohttp"``: aiohttp's C HTTP parser and connection pool. About 3x less client CPU per
  call than httpx2's pure-Python stack (``bench/transport.py``).
* ``"httpx2"``: httpx2's own transport (the fallback, always installed).
* an ``httpx2`` async transport object (``httpx2.MockTransport(handler)`` in tests): httpx2
  with that transport.

Both behave the same where a caller can tell: HTTP/1.1, no redirects followed, cookies kept
per client, replies decompressed, at most 100 connections per client with idle ones closed
after 5 s, and nothing read from the environment (no proxy variables, no ``.netrc``, no
``SSL_CERT_FILE``): TLS is verified with one shared ``SSLContext`` (httpx2's, the system's CA
store). The libraries load on the first request, not with ``import synaplex``.
"""

from __future__ import annotations

import base64
import importlib.util
import threading
import urllib.parse
from collections.abc import Awaitable, Mapping
from typing import Any

from synaplex.backend.errors import InvalidInputError

#: The names ``transport=`` takes.
TRANSPORTS = ("aiohttp", "httpx2")
#: The most connections one client opens (to all hosts); further requests wait for one.
MAX_CONNECTIONS = 100
#: Seconds an idle connection is kept for reuse.
KEEPALIVE_SECONDS = 5.0

_SSL_CONTEXT: Any = None
_SSL_LOCK = threading.Lock()
_AIOHTTP_INSTALLED: bool | None = None


def ssl_context():
    """One verified SSL context for every client of both libraries (loading CAs costs milliseconds)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        with _SSL_LOCK:
            if _SSL_CONTEXT is None:
                import httpx2  # noqa: PLC0415 - heavy: only once a TLS connection is made

                _SSL_CONTEXT = httpx2.create_ssl_context(trust_env=False)
    return _SSL_CONTEXT


def aiohttp_installed() -> bool:
    global _AIOHTTP_INSTALLED
    if _AIOHTTP_INSTALLED is None:
        _AIOHTTP_INSTALLED = importlib.util.find_spec("aiohttp") is not None
    return _AIOHTTP_INSTALLED


def check_transport(transport: Any, name: str) -> None:
    """Raise InvalidInputError unless ``transport`` is one ``HttpClient`` can use."""
    if transport is None or not isinstance(transport, str):
        if transport is not None and not callable(getattr(transport, "handle_async_request", None)):
            raise InvalidInputError(f"{name}: transport must be one of {TRANSPORTS}, None (the fastest installed) "
                                    f"or an httpx2 async transport, got {type(transport).__name__}.")
        return
    if transport not in TRANSPORTS:
        raise InvalidInputError(f"{name}: transport must be one of {TRANSPORTS}, None (the fastest installed) "
                                f"or an httpx2 async transport, got {transport!r}.")
    if transport == "aiohttp" and not aiohttp_installed():
        raise InvalidInputError(f"{name}: transport='aiohttp' needs the aiohttp package (pip install aiohttp), "
                                "or use transport='httpx2'.")


def transport_name(transport: Any) -> str:
    """The library that carries ``transport``'s requests: ``"aiohttp"`` or ``"httpx2"``."""
    if transport is None:
        return "aiohttp" if aiohttp_installed() else "httpx2"
    return transport if isinstance(transport, str) else "httpx2"


def open_client(transport: Any, timeout: float) -> LoopClient:
    """A client for the running event loop (call it inside the loop)."""
    if transport_name(transport) == "aiohttp":
        return AiohttpClient()
    return Httpx2Client(None if isinstance(transport, str) else transport, timeout)


class Reply:
    """A response whose body is still to be read: ``status``, ``headers`` (case-insensitive)."""

    status: int
    headers: Mapping[str, str]

    async def next_chunk(self) -> bytes:
        """The next piece of the decoded body as it arrives; ``b""`` at its end."""
        raise NotImplementedError

    async def read(self, limit: int) -> bytes:
        """The decoded body, or its first ``limit + 1`` bytes or more when it is longer (the
        caller sees it passed ``limit``; the rest is not read)."""
        body = bytearray()
        while chunk := await self.next_chunk():
            body += chunk
            if len(body) > limit:
                break
        return bytes(body)

    async def aclose(self) -> None:
        """Done with it: the connection goes back to the pool if the body was read to its end,
        else it is closed."""
        raise NotImplementedError


class LoopClient:
    """One library's client, bound to the event loop it was opened in."""

    #: The library's exceptions that ``classify`` understands.
    errors: tuple[type[BaseException], ...] = ()

    @property
    def is_closed(self) -> bool:
        raise NotImplementedError

    async def send(self, method: str, url: str, headers: dict[str, str], content: bytes | None,
                   params: dict | None, timeout: float) -> Reply:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def abandon(self) -> None:
        """Forget a client whose loop closed without closing it (its sockets close when collected)."""

    def classify(self, error: BaseException) -> str:
        """``"timeout"``, ``"connect"``, ``"url"`` or ``"other"``: what kind of failure ``error`` is."""
        raise NotImplementedError


# --- aiohttp --------------------------------------------------------------------------------------


class AiohttpReply(Reply):
    __slots__ = ("_response", "status", "headers")

    def __init__(self, response):
        self._response = response
        self.status = response.status
        self.headers = response.headers

    def next_chunk(self) -> Awaitable[bytes]:
        return self._response.content.readany()

    async def read(self, limit: int) -> bytes:
        response = self._response
        length = response.content_length
        if length is not None and length <= limit and "content-encoding" not in response.headers:
            return await response.read()  # one call: the announced length bounds it
        return await super().read(limit)

    async def aclose(self) -> None:
        # release() pools the connection only when the whole body was read; else it closes it.
        self._response.release()


class AiohttpClient(LoopClient):
    def __init__(self):
        import aiohttp  # noqa: PLC0415 - heavy: loads on the first request, only when it is the transport

        self._aiohttp = aiohttp
        self.errors = (aiohttp.ClientError,)
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS)
        # No aiohttp timeout: HttpClient's deadline (asyncio.timeout) bounds the whole request.
        self.session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                             timeout=aiohttp.ClientTimeout(total=None),
                                             max_line_size=16384, max_field_size=16384)

    @property
    def is_closed(self) -> bool:
        return self.session.closed

    async def send(self, method: str, url: str, headers: dict[str, str], content: bytes | None,
                   params: dict | None, timeout: float) -> Reply:
        tls = ssl_context() if url[:6].lower() == "https:" else True
        if "@" in url:
            url, headers = _userinfo_as_basic_auth(url, headers)
        response = await self.session.request(method, url, data=content, headers=headers, params=params,
                                              allow_redirects=False, ssl=tls)
        return AiohttpReply(response)

    async def aclose(self) -> None:
        await self.session.close()

    def abandon(self) -> None:
        # Its loop is closed: closing the pool would schedule callbacks on it and fail. Mark the
        # connector closed so neither it nor the session complains when collected; the sockets
        # close with their transports, as httpx2's do.
        connector = self.session.connector
        if connector is not None:
            connector._closed = True

    def classify(self, error: BaseException) -> str:
        aiohttp = self._aiohttp
        if isinstance(error, aiohttp.ServerTimeoutError):
            return "timeout"
        if isinstance(error, aiohttp.ClientConnectorError):
            return "connect"
        if isinstance(error, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
            return "url"
        return "other"


def _userinfo_as_basic_auth(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """As httpx2 does: credentials in the URL become the ``Authorization`` header (replacing
    one given), and leave the URL (aiohttp refuses both at once)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, headers
    pair = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
    headers = {name: value for name, value in headers.items() if name.lower() != "authorization"}
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), headers


# --- httpx2 ---------------------------------------------------------------------------------------


class Httpx2Reply(Reply):
    __slots__ = ("_response", "_chunks", "status", "headers")

    def __init__(self, response):
        self._response = response
        self._chunks: Any = None
        self.status = response.status_code
        self.headers = response.headers

    def next_chunk(self) -> Awaitable[bytes]:
        if self._chunks is None:
            self._chunks = self._response.aiter_bytes()
        return anext(self._chunks, b"")

    async def aclose(self) -> None:
        if self._chunks is not None:
            await self._chunks.aclose()
        await self._response.aclose()


class Httpx2Client(LoopClient):
    def __init__(self, transport: Any, timeout: float):
        import httpx2  # noqa: PLC0415 - heavy: loads on the first request, only when it is the transport

        self._httpx2 = httpx2
        self.errors = (httpx2.HTTPError, httpx2.InvalidURL)
        limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20,
                               keepalive_expiry=KEEPALIVE_SECONDS)
        self.client = httpx2.AsyncClient(transport=transport, timeout=timeout, trust_env=False,
                                         verify=ssl_context(), limits=limits)

    @property
    def is_closed(self) -> bool:
        return self.client.is_closed

    async def send(self, method: str, url: str, headers: dict[str, str], content: bytes | None,
                   params: dict | None, timeout: float) -> Reply:
        request = self.client.build_request(method, url, content=content, params=params, headers=headers,
                                            timeout=timeout)
        return Httpx2Reply(await self.client.send(request, stream=True))

    async def aclose(self) -> None:
        await self.client.aclose()

    def classify(self, error: BaseException) -> str:
        httpx2 = self._httpx2
        if isinstance(error, httpx2.TimeoutException):
            return "timeout"
        if isinstance(error, httpx2.ConnectError):
            return "connect"
        if isinstance(error, (httpx2.InvalidURL, httpx2.UnsupportedProtocol)):
            return "url"
        return "other"


__all__ = ["KEEPALIVE_SECONDS", "MAX_CONNECTIONS", "TRANSPORTS", "AiohttpClient", "Httpx2Client", "LoopClient",
           "Reply", "aiohttp_installed", "check_transport", "open_client", "ssl_context", "transport_name"]
