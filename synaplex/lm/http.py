"""HTTP for the adapters: typed errors, a whole-request deadline, a reply-size cap, SSE streams.

The bytes travel through aiohttp when it is installed, else httpx2 (``transport=``, see
:mod:`synaplex.lm.transports`); unit tests inject ``transport=httpx2.MockTransport(handler)``.
Nothing here knows any provider, it maps statuses and network failures to typed errors from
data, and every guarantee below is kept here, the same whichever library carries the bytes.

Guarantees, whatever the server does:

* **Deadline.** ``timeout`` bounds a whole request, from connecting to the last byte of the
  reply (a server dripping one byte at a time cannot stretch it). For a stream it bounds the
  time to the first event, then the silence between two events (a keep-alive comment is not
  an event); the time your code spends between two chunks does not count.
* **Size cap.** A reply (or a whole stream) larger than ``max_response_bytes`` (default
  :data:`DEFAULT_MAX_RESPONSE_BYTES`, 64 MiB, after decompression) raises
  :class:`~synaplex.lm.errors.ResponseTooLargeError` as soon as the cap is passed; nothing
  beyond it is read. One server-sent event may hold at most 1 MiB.
* **Sockets.** One client (and connection pool) per event loop, closed when that loop shuts
  down (``asyncio.run`` and ``asyncio.Runner`` do), so a loop per call never leaks descriptors.
* **No credentials in errors.** Messages are redacted (the key, every credential header by
  rule, URL userinfo), and no error keeps the library's request, with its headers, in its
  ``__context__`` or ``__cause__``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.redaction import redact_url, secret_header_values, url_secrets
from synaplex.lm import transports, wire
from synaplex.lm.errors import (
    ERROR_TYPE_STATUS,
    InvalidRequestError,
    LMError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    ResponseTooLargeError,
    error_from_status,
    error_message_from_body,
)
from synaplex.lm.sse import EventTooLargeError, ServerSentEvent, SSEDecoder
from synaplex.lm.transports import LoopClient, Reply

#: The largest reply read by default, in bytes (after decompression): 64 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: The largest server-sent event, in bytes.
MAX_EVENT_BYTES = 1024 * 1024
#: How much of an error reply (4xx, 5xx) is read for its message.
MAX_ERROR_BODY_BYTES = 64 * 1024

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_json(body: Any) -> bytes:
    """A request body as sent: compact UTF-8 JSON, ``NaN`` refused (httpx2's ``json=`` encoding)."""
    return _JSON.encode(body).encode("utf-8")


class _LoopClient:
    """A transport client bound to one event loop, and the async generator that closes it
    when the loop shuts down its async generators (the end of ``asyncio.run``)."""

    __slots__ = ("loop", "client", "closer")

    def __init__(self, loop: asyncio.AbstractEventLoop, client: LoopClient):
        self.loop = loop
        self.client = client
        self.closer = _close_at_shutdown(client, loop)
        # Run it to its first ``yield`` now: that registers it with the running loop, whose
        # shutdown_asyncgens() then resumes it into the ``finally`` that closes the client.
        step = self.closer.__anext__()
        try:
            step.send(None)
        except StopIteration:
            pass

    def abandon(self) -> None:
        """Forget a client whose loop closed without shutting it down: finish the closer
        without awaiting (nothing can run on a closed loop); the sockets close when collected."""
        step = self.closer.aclose()
        try:
            step.send(None)
        except (StopIteration, RuntimeError):
            pass
        finally:
            step.close()
        self.client.abandon()


async def _close_at_shutdown(client: LoopClient, loop: asyncio.AbstractEventLoop):
    try:
        yield
    finally:
        if not loop.is_closed() and not client.is_closed:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001 - closing a half-dead pool must not break shutdown
                pass


class _EventReader:
    """The events of a stream, its decoded bytes counted against the size cap."""

    __slots__ = ("response", "decoder", "limit", "too_large", "events", "size", "ended")

    def __init__(self, response: Reply, decoder: SSEDecoder, limit: int, too_large):
        self.response = response
        self.decoder = decoder
        self.limit = limit
        self.too_large = too_large
        self.events: collections.deque[ServerSentEvent] = collections.deque()
        self.size = 0
        self.ended = False

    async def next(self) -> ServerSentEvent | None:
        """The next event; ``None`` at the end of the stream."""
        while not self.events:
            if self.ended:
                return None
            chunk = await self.response.next_chunk()
            if not chunk:
                self.ended = True
                self.events.extend(self.decoder.flush())
                continue
            self.size += len(chunk)
            if self.size > self.limit:
                raise self.too_large()
            self.events.extend(self.decoder.feed(chunk))
        return self.events.popleft()


class HttpClient:
    """POSTs JSON and reads JSON or server-sent events, raising typed ``LMError``s.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``.
        headers: sent with every request (auth included; never logged nor put in errors).
        timeout: seconds for the whole request, connect to last byte (a stream: to the first
            event, then between two events).
        transport: ``"aiohttp"``, ``"httpx2"``, ``None`` (aiohttp when installed, else httpx2)
            or an ``httpx2`` async transport (tests pass ``httpx2.MockTransport``).
        provider, model: named in every error.
        secrets: strings removed from every error message (the API key).
        max_response_bytes: the largest reply read (a stream: all its events together).
    """

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout: float = 120.0,
                 transport: Any = None, provider: str, model: str, secrets: tuple[str, ...] = (),
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        name = f"{provider}/{model}"
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
                or timeout <= 0:
            raise InvalidInputError(f"{name}: timeout must be a positive, finite number of seconds, got {timeout!r}.")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes < 1:
            raise InvalidInputError(f"{name}: max_response_bytes must be a positive integer (bytes), got "
                                    f"{max_response_bytes!r}.")
        transports.check_transport(transport, name)
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = timeout
        self.transport = transport
        self.provider = provider
        self.model = model
        self.max_response_bytes = max_response_bytes
        self.secrets = tuple(s for s in (*secrets, *secret_header_values(headers), *url_secrets(base_url)) if s)
        self._clients: dict[int, _LoopClient] = {}

    @classmethod
    def for_profile(cls, profile, model_name: str, api_key: str | None, api_base: str | None, *,
                    timeout: float = 120.0, transport: Any = None, headers: dict | None = None,
                    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> HttpClient:
        """A client for one provider: its auth header (when there is a key), its fixed
        headers, then the user's ``headers``; the key and every credential header are secrets."""
        all_headers = {"content-type": "application/json", **dict(profile.extra_headers), **(headers or {})}
        if api_key:
            all_headers[profile.auth_header] = profile.auth_prefix + api_key
        return cls(api_base or profile.base_url, all_headers, timeout=timeout, transport=transport,
                   provider=profile.name, model=model_name, secrets=(api_key or "",),
                   max_response_bytes=max_response_bytes)

    # --- clients ------------------------------------------------------------------------

    def _client(self) -> LoopClient:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is not None and entry.loop is loop and not entry.client.is_closed:
            return entry.client
        self._forget_dead_loops()
        transports.check_transport(self.transport, f"{self.provider}/{self.model}")
        client = transports.open_client(self.transport, self.timeout)
        self._clients[id(loop)] = _LoopClient(loop, client)
        return client

    @property
    def transport_name(self) -> str:
        """The library that carries this client's requests: ``"aiohttp"`` or ``"httpx2"``."""
        return transports.transport_name(self.transport)

    def _forget_dead_loops(self) -> None:
        for key, entry in list(self._clients.items()):
            if entry.loop.is_closed() or entry.client.is_closed:
                if self._clients.pop(key, None) is entry:
                    entry.abandon()

    @property
    def open_clients(self) -> int:
        """How many clients (one per live event loop) are open."""
        return sum(1 for e in self._clients.values() if not e.client.is_closed and not e.loop.is_closed())

    async def aclose(self) -> None:
        """Close this loop's client now (the others close with their loops)."""
        entry = self._clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry.client.aclose()
            entry.abandon()
        self._forget_dead_loops()

    def _headers(self, extra: dict | None, body: bytes | None) -> dict[str, str]:
        headers = {**self.headers, **extra} if extra else dict(self.headers)
        if body is not None and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        return headers

    # --- errors -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _error(self, cls: type[LMError], message: str, status: int | None = None, **kwargs) -> LMError:
        return cls(f"{self.provider}/{self.model}: {message}", provider=self.provider, model=self.model,
                   status_code=status, secrets=self.secrets, **kwargs)

    def _timeout_error(self, url: str, timeout: float, stream: bool) -> LMError:
        what = ("no event within" if stream else "no complete reply within")
        return self._error(ProviderTimeoutError, f"{what} {timeout:g} s from {redact_url(url)} (timeout= bounds "
                                                 "the whole request; raise it if the model is slow).")

    def _network_error(self, client: LoopClient, error: BaseException, url: str, timeout: float,
                       stream: bool = False) -> LMError:
        shown = redact_url(url)
        kind = client.classify(error)
        if kind == "timeout":
            return self._timeout_error(url, timeout, stream)
        if kind == "connect":
            return self._error(ProviderConnectionError,
                               f"cannot connect to {shown} ({error}). Is the server running and is "
                               "api_base right?")
        if kind == "url":
            return self._error(ProviderConnectionError, f"{shown} is not a usable URL ({error}); check api_base.")
        return self._error(ProviderConnectionError, f"{type(error).__name__} talking to {shown}: {error}")

    def transport_failure(self, error: BaseException, client: LoopClient | None, url: str, timeout: float,
                          stream: bool = False) -> LMError | None:
        """The typed error for what a request raised: a timeout, or the transport library's
        network error; ``None`` for anything else (an LMError already, a bug), which the caller
        re-raises. Callers raise the result *outside* their ``except`` block, so the library's
        error, which holds the request and its headers, is neither its cause nor its context."""
        if isinstance(error, TimeoutError):
            return self._timeout_error(url, timeout, stream)
        if isinstance(error, LMError) or client is None or not isinstance(error, client.errors):
            return None
        return self._network_error(client, error, url, timeout, stream)

    def _too_large(self, url: str, size: int | None = None) -> LMError:
        told = f" (it announces {size:,} bytes)" if size else ""
        return self._error(ResponseTooLargeError,
                           f"the reply from {redact_url(url)} is larger than max_response_bytes="
                           f"{self.max_response_bytes:,}{told}; stopped reading. Raise max_response_bytes "
                           "if such replies are expected.", limit=self.max_response_bytes)

    def _check_length(self, response: Reply, url: str) -> None:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_response_bytes \
                and not response.headers.get("content-encoding"):
            raise self._too_large(url, int(length))

    async def _raise_for_status(self, client: LoopClient, response: Reply) -> None:
        if response.status < 400:
            return
        # Only the start of an error body is read: its message is all we need.
        raw = b""
        try:
            raw = await response.read(MAX_ERROR_BODY_BYTES - 1)
        except client.errors:
            pass  # the status says enough
        try:
            body: Any = wire.loads(raw[:MAX_ERROR_BODY_BYTES])
        except wire.WireValueError:
            body = raw[:2000].decode("utf-8", "replace")
        raise error_from_status(response.status, body, response.headers, provider=self.provider,
                                model=self.model, secrets=self.secrets)

    def _parse(self, raw: bytes, url: str) -> Any:
        try:
            return wire.loads(raw)
        except wire.WireValueError as error:
            problem = str(error)
        raise self._error(ProviderInternalError, f"{redact_url(url)} answered with a body that is not JSON "
                                                 f"it can use ({problem}): {wire.excerpt(raw)}")

    async def _read(self, response: Reply, url: str) -> bytes:
        self._check_length(response, url)
        body = await response.read(self.max_response_bytes)
        if len(body) > self.max_response_bytes:
            raise self._too_large(url)
        return body

    # --- requests -----------------------------------------------------------------------

    async def request_json(self, method: str, path: str, body: Any = None, params: dict | None = None,
                           headers: dict | None = None, timeout: float | None = None) -> Any:
        url = self.url(path)
        timeout = timeout or self.timeout
        content = None if body is None else encode_json(body)
        failure: LMError | None = None
        client: LoopClient | None = None
        try:
            client = self._client()
            async with asyncio.timeout(timeout):
                response = await client.send(method, url, self._headers(headers, content), content, params, timeout)
                try:
                    await self._raise_for_status(client, response)
                    raw = await self._read(response, url)
                finally:
                    await response.aclose()
        except Exception as error:
            failure = self.transport_failure(error, client, url, timeout)
            if failure is None:
                raise
        if failure is not None:
            raise failure  # outside the handler (see transport_failure)
        data = self._parse(raw, url)
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            # Some providers answer 200 with an error object.
            raise self._error(ProviderInternalError, error_message_from_body(data), response.status)
        return data

    async def post_json(self, path: str, body: Any, **kwargs) -> Any:
        return await self.request_json("POST", path, body, **kwargs)

    async def get_json(self, path: str, **kwargs) -> Any:
        return await self.request_json("GET", path, **kwargs)

    async def stream_events(self, path: str, body: Any, params: dict | None = None,
                            timeout: float | None = None, until: str | None = None
                            ) -> AsyncIterator[ServerSentEvent]:
        """Yield the server-sent events of a streamed POST (comments and keep-alives skipped).

        ``until`` (OpenAI's ``"[DONE]"``): the event whose data is this marker is yielded,
        and the stream ends there. An ``event: error`` or a ``data`` object holding
        ``error`` raises a typed error, even inside a 200 stream.
        """
        url = self.url(path)
        timeout = timeout or self.timeout
        loop = asyncio.get_running_loop()
        content = encode_json(body)
        headers = self._headers({"Accept": "text/event-stream"}, content)
        max_event = min(MAX_EVENT_BYTES, self.max_response_bytes)
        failure: LMError | None = None
        client: LoopClient | None = None
        response: Reply | None = None
        try:
            client = self._client()
            deadline = loop.time() + timeout  # to the first event
            async with asyncio.timeout_at(deadline):
                response = await client.send("POST", url, headers, content, params, timeout)
                await self._raise_for_status(client, response)
            self._check_event_stream(response, url)
            events = _EventReader(response, SSEDecoder(max_event_size=max_event), self.max_response_bytes,
                                  lambda: self._too_large(url))
            while True:
                async with asyncio.timeout_at(deadline):
                    event = await events.next()
                if event is None:
                    return
                if not event.data:
                    continue
                if until is not None and event.data.strip() == until:
                    yield event
                    return
                if event.event == "error" or '"error"' in event.data:
                    self._raise_stream_error(event.data)
                yield event
                deadline = loop.time() + timeout  # your time between two chunks does not count
        except EventTooLargeError as error:
            failure = self._error(ResponseTooLargeError,
                                  f"an event of the stream from {redact_url(url)} is larger than "
                                  f"{max_event:,} bytes ({error}); stopped reading.", limit=max_event)
        except Exception as error:
            failure = self.transport_failure(error, client, url, timeout, stream=True)
            if failure is None:
                raise
        finally:
            if response is not None:
                await response.aclose()
        if failure is not None:
            raise failure

    def _check_event_stream(self, response: Reply, url: str) -> None:
        content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "text/event-stream":
            raise self._error(ProviderInternalError, f"{redact_url(url)} did not answer with an event stream "
                                                     f"(content type {content_type!r}).")

    def _raise_stream_error(self, data: str) -> None:
        try:
            body: Any = wire.loads(data)
        except wire.WireValueError:
            body = data
        if isinstance(body, dict) and "error" not in body and body.get("type") != "error":
            return
        if not isinstance(body, (dict, str)):
            return
        error = body.get("error") if isinstance(body, dict) else None
        status = None
        if isinstance(error, dict):
            code = error.get("code") or error.get("status")
            status = code if isinstance(code, int) and not isinstance(code, bool) \
                else ERROR_TYPE_STATUS.get(str(error.get("type")))
        if status is not None and 400 <= status <= 599:
            raise error_from_status(status, body, {}, provider=self.provider, model=self.model,
                                    secrets=self.secrets)
        cls = ProviderInternalError
        message = error_message_from_body(body)
        if isinstance(error, dict) and "invalid" in str(error.get("type", "")).lower():
            cls = InvalidRequestError
        raise self._error(cls, f"error event in the stream: {message}")
