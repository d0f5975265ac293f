"""HTTP for the adapters: typed errors, a whole-request deadline, a reply-size cap, SSE streams.

Unit tests inject ``transport=httpx2.MockTransport(handler)``; nothing here knows any
provider, it maps statuses and network failures to typed errors from data.

Guarantees, whatever the server does:

* **Deadline.** ``timeout`` bounds a whole request, from connecting to the last byte of the
  reply (a server dripping one byte at a time cannot stretch it). For a stream it bounds the
  time to the first event, then the silence between two events (a keep-alive comment is not
  an event); the time your code spends between two chunks does not count.
* **Size cap.** A reply (or a whole stream) larger than ``max_response_bytes`` (default
  :data:`DEFAULT_MAX_RESPONSE_BYTES`, 64 MiB, after decompression) raises
  :class:`~synaplex.lm.errors.ResponseTooLargeError` as soon as the cap is passed; nothing
  beyond it is read. One server-sent event may hold at most 1 MiB.
* **Sockets.** One ``httpx2.AsyncClient`` per event loop, closed when that loop shuts down
  (``asyncio.run`` and ``asyncio.Runner`` do), so a loop per call never leaks descriptors.
* **No credentials in errors.** Messages are redacted (the key, every credential header by
  rule, URL userinfo), and no error keeps the ``httpx2`` request, with its headers, in its
  ``__context__`` or ``__cause__``.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import wire
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
from synaplex.lm.redaction import redact_url, secret_header_values, url_secrets

#: The largest reply read by default, in bytes (after decompression): 64 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: The largest server-sent event, in bytes.
MAX_EVENT_BYTES = 1024 * 1024
#: How much of an error reply (4xx, 5xx) is read for its message.
MAX_ERROR_BODY_BYTES = 64 * 1024

_SSL_CONTEXT: Any = None
_SSL_LOCK = threading.Lock()


def _ssl_context():
    """One verified SSL context for every client (loading the CA bundle costs milliseconds)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        with _SSL_LOCK:
            if _SSL_CONTEXT is None:
                _SSL_CONTEXT = httpx2.create_ssl_context(trust_env=False)
    return _SSL_CONTEXT


class _LoopClient:
    """An ``AsyncClient`` bound to one event loop, and the async generator that closes it
    when the loop shuts down its async generators (the end of ``asyncio.run``)."""

    __slots__ = ("loop", "client", "closer")

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx2.AsyncClient):
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


async def _close_at_shutdown(client: httpx2.AsyncClient, loop: asyncio.AbstractEventLoop):
    try:
        yield
    finally:
        if not loop.is_closed() and not client.is_closed:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001 - closing a half-dead pool must not break shutdown
                pass


class _CappedStream(httpx2.AsyncByteStream):
    """The decoded bytes of a response, counted: past ``limit`` it raises instead of reading on."""

    def __init__(self, response: httpx2.Response, limit: int, too_large):
        self._response = response
        self._limit = limit
        self._too_large = too_large
        self.size = 0

    async def __aiter__(self):
        async for chunk in self._response.aiter_bytes():
            self.size += len(chunk)
            if self.size > self._limit:
                raise self._too_large()
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpClient:
    """POSTs JSON and reads JSON or server-sent events, raising typed ``LMError``s.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``.
        headers: sent with every request (auth included; never logged nor put in errors).
        timeout: seconds for the whole request, connect to last byte (a stream: to the first
            event, then between two events).
        transport: an ``httpx2`` async transport (tests pass ``httpx2.MockTransport``).
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

    def _client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is not None and entry.loop is loop and not entry.client.is_closed:
            return entry.client
        self._forget_dead_loops()
        client = httpx2.AsyncClient(transport=self.transport, timeout=self.timeout, trust_env=False,
                                    verify=_ssl_context())
        self._clients[id(loop)] = _LoopClient(loop, client)
        return client

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

    def _network_error(self, error: Exception, url: str, timeout: float, stream: bool = False) -> LMError:
        shown = redact_url(url)
        if isinstance(error, httpx2.TimeoutException):
            return self._timeout_error(url, timeout, stream)
        if isinstance(error, httpx2.ConnectError):
            return self._error(ProviderConnectionError,
                               f"cannot connect to {shown} ({error}). Is the server running and is "
                               "api_base right?")
        if isinstance(error, (httpx2.InvalidURL, httpx2.UnsupportedProtocol)):
            return self._error(ProviderConnectionError, f"{shown} is not a usable URL ({error}); check api_base.")
        return self._error(ProviderConnectionError, f"{type(error).__name__} talking to {shown}: {error}")

    def _too_large(self, url: str, size: int | None = None) -> LMError:
        told = f" (it announces {size:,} bytes)" if size else ""
        return self._error(ResponseTooLargeError,
                           f"the reply from {redact_url(url)} is larger than max_response_bytes="
                           f"{self.max_response_bytes:,}{told}; stopped reading. Raise max_response_bytes "
                           "if such replies are expected.", limit=self.max_response_bytes)

    def _check_length(self, response: httpx2.Response, url: str) -> None:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_response_bytes \
                and not response.headers.get("content-encoding"):
            raise self._too_large(url, int(length))

    async def _raise_for_status(self, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        # Only the start of an error body is read: its message is all we need.
        raw = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= MAX_ERROR_BODY_BYTES:
                    break
        except httpx2.HTTPError:
            pass  # the status says enough
        try:
            body: Any = wire.loads(bytes(raw[:MAX_ERROR_BODY_BYTES]))
        except wire.WireValueError:
            body = bytes(raw[:2000]).decode("utf-8", "replace")
        raise error_from_status(response.status_code, body, response.headers, provider=self.provider,
                                model=self.model, secrets=self.secrets)

    def _parse(self, raw: bytes, url: str) -> Any:
        try:
            return wire.loads(raw)
        except wire.WireValueError as error:
            problem = str(error)
        raise self._error(ProviderInternalError, f"{redact_url(url)} answered with a body that is not JSON "
                                                 f"it can use ({problem}): {wire.excerpt(raw)}")

    async def _read(self, response: httpx2.Response, url: str) -> bytes:
        self._check_length(response, url)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_response_bytes:
                raise self._too_large(url)
        return bytes(body)

    # --- requests -----------------------------------------------------------------------

    async def request_json(self, method: str, path: str, body: Any = None, params: dict | None = None,
                           headers: dict | None = None, timeout: float | None = None) -> Any:
        url = self.url(path)
        timeout = timeout or self.timeout
        failure: LMError | None = None
        try:
            client = self._client()
            async with asyncio.timeout(timeout):
                async with client.stream(method, url, json=body, params=params,
                                         headers={**self.headers, **(headers or {})}, timeout=timeout) as response:
                    await self._raise_for_status(response)
                    raw = await self._read(response, url)
        except TimeoutError:
            failure = self._timeout_error(url, timeout, stream=False)
        except httpx2.HTTPError as error:
            failure = self._network_error(error, url, timeout)
        except httpx2.InvalidURL as error:
            failure = self._network_error(error, url, timeout)
        if failure is not None:
            # Raised outside the handler, so the httpx2 error, which holds the request and its
            # headers, is neither the __cause__ nor the __context__.
            raise failure
        data = self._parse(raw, url)
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            # Some providers answer 200 with an error object.
            raise self._error(ProviderInternalError, error_message_from_body(data), response.status_code)
        return data

    async def post_json(self, path: str, body: Any, **kwargs) -> Any:
        return await self.request_json("POST", path, body, **kwargs)

    async def get_json(self, path: str, **kwargs) -> Any:
        return await self.request_json("GET", path, **kwargs)

    async def stream_events(self, path: str, body: Any, params: dict | None = None,
                            timeout: float | None = None, until: str | None = None
                            ) -> AsyncIterator[httpx2.ServerSentEvent]:
        """Yield the server-sent events of a streamed POST (comments and keep-alives skipped).

        ``until`` (OpenAI's ``"[DONE]"``): the event whose data is this marker is yielded,
        and the stream ends there. An ``event: error`` or a ``data`` object holding
        ``error`` raises a typed error, even inside a 200 stream.
        """
        url = self.url(path)
        timeout = timeout or self.timeout
        loop = asyncio.get_running_loop()
        headers = {**self.headers, "Accept": "text/event-stream"}
        failure: LMError | None = None
        response: httpx2.Response | None = None
        try:
            client = self._client()
            request = client.build_request("POST", url, json=body, params=params, headers=headers, timeout=timeout)
            deadline = loop.time() + timeout  # to the first event
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
                await self._raise_for_status(response)
            self._check_event_stream(response, url)
            capped = httpx2.Response(response.status_code, headers={"content-type": "text/event-stream"},
                                     stream=_CappedStream(response, self.max_response_bytes,
                                                          lambda: self._too_large(url)),
                                     request=response.request)
            events = httpx2.EventSource(capped, max_event_size=min(MAX_EVENT_BYTES, self.max_response_bytes))
            iterator = events.__aiter__()
            while True:
                async with asyncio.timeout_at(deadline):
                    event = await anext(iterator, None)
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
        except TimeoutError:
            failure = self._timeout_error(url, timeout, stream=True)
        except httpx2.SSEError as error:
            failure = self._error(ResponseTooLargeError,
                                  f"an event of the stream from {redact_url(url)} is larger than "
                                  f"{min(MAX_EVENT_BYTES, self.max_response_bytes):,} bytes ({error}); "
                                  "stopped reading.", limit=min(MAX_EVENT_BYTES, self.max_response_bytes))
        except (httpx2.HTTPError, httpx2.InvalidURL) as error:
            failure = self._network_error(error, url, timeout, stream=True)
        finally:
            if response is not None:
                await response.aclose()
        if failure is not None:
            raise failure

    def _check_event_stream(self, response: httpx2.Response, url: str) -> None:
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
