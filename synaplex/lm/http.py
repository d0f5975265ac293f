"""HTTP for the adapters: one httpx2 client per event loop, typed errors, SSE streams.

Unit tests inject ``transport=httpx2.MockTransport(handler)``; nothing here knows any
provider, it maps statuses and network failures to typed errors from data.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import httpx2

from synaplex.lm.errors import (
    InvalidRequestError,
    LMError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    ERROR_TYPE_STATUS,
    error_from_status,
    error_message_from_body,
)


class HttpClient:
    """POSTs JSON and reads JSON or server-sent events, raising typed ``LMError``s.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``.
        headers: sent with every request (auth included; never logged nor put in errors).
        timeout: seconds for the whole request (a stream: between two chunks).
        transport: an ``httpx2`` async transport (tests pass ``httpx2.MockTransport``).
        provider, model: named in every error.
        secrets: strings removed from every error message (the API key).
    """

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout: float = 120.0,
                 transport: Any = None, provider: str, model: str, secrets: tuple[str, ...] = ()):
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = timeout
        self.transport = transport
        self.provider = provider
        self.model = model
        self.secrets = tuple(s for s in secrets if s)
        self._clients: dict[int, httpx2.AsyncClient] = {}

    @classmethod
    def for_profile(cls, profile, model_name: str, api_key: str | None, api_base: str | None, *,
                    timeout: float = 120.0, transport: Any = None, headers: dict | None = None) -> "HttpClient":
        """A client for one provider: its auth header (when there is a key), its fixed
        headers, then the user's ``headers``; the key and any auth-like header are secrets."""
        all_headers = {"content-type": "application/json", **dict(profile.extra_headers), **(headers or {})}
        if api_key:
            all_headers[profile.auth_header] = profile.auth_prefix + api_key
        secrets = tuple(v for k, v in (headers or {}).items()
                        if k.lower() in ("authorization", "api-key", "x-api-key", "x-goog-api-key"))
        return cls(api_base or profile.base_url, all_headers, timeout=timeout, transport=transport,
                   provider=profile.name, model=model_name, secrets=(api_key or "", *secrets))

    def _client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None or client.is_closed:
            # A client's connection pool belongs to the loop that made it.
            self._clients = {k: c for k, c in self._clients.items() if not c.is_closed}
            client = httpx2.AsyncClient(transport=self.transport, timeout=self.timeout, trust_env=False)
            self._clients[id(loop)] = client
        return client

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _error(self, cls: type[LMError], message: str, status: int | None = None) -> LMError:
        return cls(f"{self.provider}/{self.model}: {message}", provider=self.provider, model=self.model,
                   status_code=status, secrets=self.secrets)

    def _network_error(self, error: Exception, url: str) -> LMError:
        if isinstance(error, httpx2.TimeoutException):
            return self._error(ProviderTimeoutError, f"no answer from {url} within {self.timeout:g} s "
                                                     "(raise timeout= if the model is slow).")
        if isinstance(error, httpx2.ConnectError):
            return self._error(ProviderConnectionError,
                               f"cannot connect to {url} ({error}). Is the server running and is "
                               "api_base right?")
        return self._error(ProviderConnectionError, f"{type(error).__name__} talking to {url}: {error}")

    async def _raise_for_status(self, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        raw = await response.aread()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        raise error_from_status(response.status_code, body, response.headers, provider=self.provider,
                                model=self.model, secrets=self.secrets)

    def _parse(self, text: str, url: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise self._error(ProviderInternalError, f"{url} answered with a body that is not JSON: "
                                                     f"{text[:200]!r}") from None

    async def request_json(self, method: str, path: str, body: Any = None, params: dict | None = None,
                           headers: dict | None = None, timeout: float | None = None) -> Any:
        url = self.url(path)
        try:
            response = await self._client().request(
                method, url, json=body, params=params, headers={**self.headers, **(headers or {})},
                timeout=timeout or self.timeout)
        except httpx2.HTTPError as error:
            raise self._network_error(error, url) from None
        await self._raise_for_status(response)
        data = self._parse(response.text, url)
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            # Some providers answer 200 with an error object.
            raise self._error(ProviderInternalError, error_message_from_body(data), response.status_code)
        return data

    async def post_json(self, path: str, body: Any, **kwargs) -> Any:
        return await self.request_json("POST", path, body, **kwargs)

    async def get_json(self, path: str, **kwargs) -> Any:
        return await self.request_json("GET", path, **kwargs)

    async def stream_events(self, path: str, body: Any, params: dict | None = None,
                            timeout: float | None = None) -> AsyncIterator[httpx2.ServerSentEvent]:
        """Yield the server-sent events of a streamed POST (comments and keep-alives skipped).

        An ``event: error`` or a ``data`` object holding ``error`` raises a typed error, even
        inside a 200 stream.
        """
        url = self.url(path)
        headers = {**self.headers, "Accept": "text/event-stream"}
        try:
            async with self._client().stream("POST", url, json=body, params=params, headers=headers,
                                             timeout=timeout or self.timeout) as response:
                await self._raise_for_status(response)
                async for event in httpx2.EventSource(response):
                    if not event.data:
                        continue
                    if event.data.strip() == "[DONE]":
                        return
                    if event.event == "error" or '"error"' in event.data:
                        self._raise_stream_error(event.data)
                    yield event
        except httpx2.SSEError as error:
            raise self._error(ProviderInternalError, f"{url} did not answer with an event stream: {error}") from None
        except httpx2.HTTPError as error:
            raise self._network_error(error, url) from None

    def _raise_stream_error(self, data: str) -> None:
        try:
            body = json.loads(data)
        except ValueError:
            body = data
        if isinstance(body, dict) and "error" not in body and body.get("type") != "error":
            return
        error = body.get("error") if isinstance(body, dict) else None
        status = None
        if isinstance(error, dict):
            code = error.get("code") or error.get("status")
            status = code if isinstance(code, int) else ERROR_TYPE_STATUS.get(str(error.get("type")))
        if status is not None and status >= 400:
            raise error_from_status(status, body, {}, provider=self.provider, model=self.model,
                                    secrets=self.secrets)
        cls = ProviderInternalError
        message = error_message_from_body(body)
        if isinstance(error, dict) and "invalid" in str(error.get("type", "")).lower():
            cls = InvalidRequestError
        raise self._error(cls, f"error event in the stream: {message}")

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
