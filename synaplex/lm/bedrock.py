"""The AWS Bedrock Converse API adapter (``model="bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"``).

Translates the neutral formats of :mod:`synaplex.lm.base` to and from Bedrock Runtime's
``POST https://bedrock-runtime.{region}.amazonaws.com/model/{modelId}/converse`` (and
``/converse-stream``), one API for every model Bedrock serves:

* system messages become ``system`` text blocks; user and assistant messages ``messages``
  with content blocks (``text``, ``image`` from a data URL, ``toolUse``);
  tool messages ``toolResult`` blocks of a user turn (consecutive turns of one role merged, as
  Converse requires alternating roles);
* ``max_tokens``, ``temperature``, ``top_p``, ``stop`` go into ``inferenceConfig``
  (``maxTokens``, ``temperature``, ``topP``, ``stopSequences``); ``seed`` (not in Converse) is
  dropped; Converse's own fields (``additionalModelRequestFields``, ``guardrailConfig``…) go
  into the body as is;
* tools become ``toolConfig.tools[].toolSpec`` (``inputSchema: {json: ...}``), ``tool_choice``
  ``toolConfig.toolChoice`` (``auto``, ``any``, ``tool``; Converse has no ``none``: the tools are
  sent without a choice);
* structured output is a forced call of one extra tool, ``structured_output``, whose input
  schema is the answer's (wrapped as ``{"value": ...}`` when its top is not an object), as
  Converse has no JSON-schema mode for every model; the facade then validates and repairs;
* the reply's ``stopReason`` becomes the finish reason; ``guardrail_intervened`` and
  ``content_filtered`` raise :class:`~synaplex.lm.errors.ContentFilterError`; the request id
  is the ``x-amzn-RequestId`` header.

Requests are signed with AWS Signature Version 4 by botocore (the ``bedrock`` extra: ``pip
install "synaplex[bedrock]"``), service ``bedrock``, with credentials from the constructor or
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` and the region from
``aws_region=`` or ``AWS_REGION`` / ``AWS_DEFAULT_REGION``. The secret key and the session token
are never logged, saved nor put in an error message. ConverseStream answers in AWS's binary
event-stream framing (``application/vnd.amazon.eventstream``), decoded by botocore's
``EventStreamBuffer``, which checks both CRC32s of every frame; a corrupt frame raises
:class:`~synaplex.lm.errors.ProviderInternalError`.

The bytes travel through :class:`~synaplex.lm.http.HttpClient`'s per-loop client, deadline and
size cap; Bedrock's error shapes (``x-amzn-ErrorType``, ``__type``, ``message``) are mapped to
typed errors here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any

from synaplex.backend.errors import MissingDependencyError
from synaplex.backend.redaction import redact_url
from synaplex.lm import wire
from synaplex.lm.base import Capabilities, Completion, CompletionRequest, StreamChunk
from synaplex.lm.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    LMError,
    MissingAPIKeyError,
    ModelNotFoundError,
    PaymentRequiredError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
    error_from_status,
    read_retry_after,
)
from synaplex.lm.forced_tool import (
    DEFAULT_MAX_TOKENS,  # noqa: F401 - part of this module's names
    DEFAULT_TIMEOUT,
    HANDLED_PARAMS,
    STRUCTURED_TOOL,
    STRUCTURED_TOOL_DESCRIPTION,
    STRUCTURED_TOOL_INSTRUCTION,
    ForcedToolAdapter,
    StructuredStream,
    default_max_tokens,
    stop_sequences,
    thinking_enabled,
    tool_spec,
)
from synaplex.lm.http import DEFAULT_MAX_RESPONSE_BYTES, HttpClient, encode_json
from synaplex.lm.messages import split_data_url
from synaplex.lm.options import merge_extra_body
from synaplex.lm.tools import mark_cut_off, tool_call

INSTALL = 'pip install "synaplex[bedrock]"'
SERVICE = "bedrock"
EVENT_STREAM = "application/vnd.amazon.eventstream"

#: Where the credentials come from when not given to the constructor.
ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN_ENV = "AWS_SESSION_TOKEN"
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}

# --- AWS error shapes -> typed errors (data) -----------------------------------------------

#: An AWS error type (lower case, as ``x-amzn-ErrorType``, ``__type`` or a stream's
#: ``:exception-type`` names it) -> the typed error and the status it stands for.
AWS_ERRORS: dict[str, tuple[type[LMError], int]] = {
    "throttlingexception": (RateLimitError, 429),
    "servicequotaexceededexception": (RateLimitError, 429),
    "toomanyrequestsexception": (RateLimitError, 429),
    "accessdeniedexception": (AuthenticationError, 403),
    "unrecognizedclientexception": (AuthenticationError, 403),
    "invalidsignatureexception": (AuthenticationError, 403),
    "incompletesignatureexception": (AuthenticationError, 403),
    "missingauthenticationtokenexception": (AuthenticationError, 403),
    "expiredtokenexception": (AuthenticationError, 403),
    "validationexception": (InvalidRequestError, 400),
    "resourcenotfoundexception": (ModelNotFoundError, 404),
    "modelnotreadyexception": (ProviderInternalError, 429),
    "serviceunavailableexception": (ProviderInternalError, 503),
    "internalserverexception": (ProviderInternalError, 500),
    "modelerrorexception": (ProviderInternalError, 424),
    "modelstreamerrorexception": (ProviderInternalError, 424),
    "modeltimeoutexception": (ProviderTimeoutError, 408),
}

_CONTEXT_WINDOW = re.compile(r"too long|too many (?:input )?tokens|context (?:length|window)|maximum context|"
                             r"exceeds? the (?:model'?s )?(?:maximum|context)|input length", re.I)

_AWS_HINTS: dict[type, str] = {
    AuthenticationError: (f"Check {ACCESS_KEY_ENV}, {SECRET_KEY_ENV} (and {SESSION_TOKEN_ENV} for temporary "
                          "credentials), that the IAM identity may call bedrock:InvokeModel (and "
                          "InvokeModelWithResponseStream) on this model, and that access to the model is granted "
                          "in the Bedrock console for this region."),
    RateLimitError: "Bedrock throttled the request; it is retried with backoff (quotas: AWS Service Quotas).",
    ModelNotFoundError: ("Check the model id and the region (models are enabled per region; some need an "
                         "inference profile id such as 'us.anthropic.claude-...')."),
    ContextWindowExceededError: "Shorten the prompt or the inputs, or use a model with a larger context.",
    ProviderTimeoutError: "The model took too long on Bedrock's side; retry, or ask for fewer tokens.",
}

# botocore logs the canonical request (which holds the session token) at DEBUG: never let it through.
_SIGNER_RECORDS = ("CanonicalRequest", "StringToSign", "Signature")


class _NoSigningSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.lstrip().startswith(_SIGNER_RECORDS))


def _botocore():
    """botocore's signer and event-stream decoder, or a MissingDependencyError saying what to install."""
    try:
        import botocore.auth  # noqa: PLC0415 - optional: the bedrock extra
        import botocore.awsrequest  # noqa: PLC0415 - optional: the bedrock extra
        import botocore.credentials  # noqa: PLC0415 - optional: the bedrock extra
        import botocore.eventstream  # noqa: PLC0415 - optional: the bedrock extra
    except ImportError:
        raise MissingDependencyError(
            f"The bedrock provider signs its requests with botocore (AWS SigV4). Install it with: {INSTALL}"
        ) from None
    auth_logger = logging.getLogger("botocore.auth")
    if not any(isinstance(f, _NoSigningSecrets) for f in auth_logger.filters):
        auth_logger.addFilter(_NoSigningSecrets())
    return botocore


def aws_error_type(headers: Mapping[str, str], body: Any) -> str | None:
    """The AWS error type of an error reply: ``x-amzn-ErrorType`` (``"ThrottlingException:http://..."``)
    or the body's ``__type`` (``"com.amazon.coral.validate#ValidationException"``), without prefix or suffix."""
    raw = headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType")
    if not raw and isinstance(body, dict):
        raw = body.get("__type") or body.get("code") or body.get("Code")
    if not isinstance(raw, str) or not raw:
        return None
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip() or None


def aws_error_message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "Message", "errorMessage"):
            if isinstance(body.get(key), str):
                return body[key][:2000]
        return wire.excerpt(body, 500)
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body[:2000]).decode("utf-8", "replace")
    return str(body)[:2000]


class _Credentials:
    """AWS credentials; its repr shows the access key id's last four characters, never the secret."""

    __slots__ = ("access_key", "secret_key", "token")

    def __init__(self, access_key: str, secret_key: str, token: str | None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token

    def __repr__(self) -> str:
        return f"<AWS credentials ...{self.access_key[-4:]}{' + session token' if self.token else ''}>"


class BedrockAdapter(ForcedToolAdapter):
    """Speaks the Bedrock Runtime Converse API. Built by the ``LanguageModel`` facade.

    Args:
        profile: the ``bedrock`` provider profile.
        model_name: a Bedrock model id or inference profile id, e.g.
            ``anthropic.claude-3-5-sonnet-20240620-v1:0`` or ``us.amazon.nova-pro-v1:0``.
        api_key: not used (Bedrock signs requests with AWS credentials).
        api_base: the runtime endpoint; ``https://bedrock-runtime.{region}.amazonaws.com`` by
            default (a VPC endpoint or a proxy otherwise).
        aws_access_key_id, aws_secret_access_key, aws_session_token: the credentials, else
            ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``. Never
            logged, saved nor put in an error message.
        aws_region: the region, else ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (saved with the
            model when given here).
        transport, timeout, headers, max_response_bytes: as for the other adapters.
    """

    provider = "bedrock"
    REPLY_SHAPE = "Converse"
    STREAM_SHAPE = "ConverseStream"
    FINISH_REASONS = _FINISH_REASONS
    STOP_REASON_KEY = "stopReason"
    USAGE_KEYS = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")

    def __init__(self, profile, model_name: str, api_key: str | None, api_base: str | None, transport=None,
                 timeout: float = DEFAULT_TIMEOUT, headers: dict | None = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, aws_access_key_id: str | None = None,
                 aws_secret_access_key: str | None = None, aws_session_token: str | None = None,
                 aws_region: str | None = None):
        self._init_options(profile, model_name, timeout, headers, max_response_bytes)
        self._region_given = aws_region
        name = f"{profile.name}/{model_name}"
        access_key = aws_access_key_id or os.environ.get(ACCESS_KEY_ENV)
        secret_key = aws_secret_access_key or os.environ.get(SECRET_KEY_ENV)
        token = aws_session_token if aws_access_key_id else (aws_session_token or os.environ.get(SESSION_TOKEN_ENV))
        if not access_key or not secret_key:
            missing = [v for v, value in ((ACCESS_KEY_ENV, access_key), (SECRET_KEY_ENV, secret_key)) if not value]
            raise MissingAPIKeyError(
                f"No AWS credentials for {name}: set the environment variables {' and '.join(missing)} (and "
                f"{SESSION_TOKEN_ENV} for temporary credentials), or pass aws_access_key_id=... and "
                "aws_secret_access_key=... to the model.", provider=profile.name, model=model_name)
        region = aws_region or next((os.environ[v] for v in REGION_ENV if os.environ.get(v)), None)
        if not region or not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
            raise MissingAPIKeyError(
                f"No usable AWS region for {name} (got {region!r:.40}): set {' or '.join(REGION_ENV)} "
                "(e.g. us-east-1), or pass aws_region=... to the model.", provider=profile.name, model=model_name)
        self.region = region
        self._credentials = _Credentials(access_key, secret_key, token or None)
        self._botocore = _botocore()
        base = (api_base or profile.base_url or "").replace("{region}", region)
        self._http = HttpClient(base, {**self.extra_headers}, timeout=timeout, transport=transport,
                                provider=profile.name, model=model_name,
                                secrets=tuple(s for s in (secret_key, token, access_key) if s),
                                max_response_bytes=max_response_bytes)

    def __repr__(self) -> str:
        return f"BedrockAdapter(model={self.model_name!r}, region={self.region!r})"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(tools=self.profile.tools, structured_output=True, streaming=True, embeddings=False,
                            tool_choice=True, streaming_tool_calls=True, system_messages=True)

    def _extra_config(self) -> dict:
        return {"aws_region": self._region_given} if self._region_given else {}

    # --- signing --------------------------------------------------------------------------

    def _path(self, action: str) -> str:
        # The model id as both transports send it (aiohttp's yarl would decode a %3A back to ":"),
        # so that the path signed is the path the server sees; "/" of an ARN stays %2F.
        return f"/model/{urllib.parse.quote(self.model_name, safe=':')}/{action}"

    def sign(self, method: str, url: str, content: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary credentials) and the
        SigV4 ``Authorization`` over the method, URL, the signed headers and the body."""
        botocore = self._botocore
        credentials = botocore.credentials.Credentials(self._credentials.access_key, self._credentials.secret_key,
                                                       self._credentials.token)
        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=content or b"", headers=dict(headers))
        botocore.auth.SigV4Auth(credentials, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())

    # --- request -------------------------------------------------------------------------

    def _error(self, cls: type[LMError], message: str) -> LMError:
        return cls(f"{self.profile.name}/{self.model_name}: {message}", provider=self.profile.name,
                   model=self.model_name, secrets=self._http.secrets)

    def _blocks(self, content: Any) -> list[dict]:
        if content is None:
            return []
        if isinstance(content, str):
            return [{"text": content}] if content else []
        blocks: list[dict] = []
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" or (kind is None and "text" in part):
                blocks.append({"text": part.get("text") or ""})
            elif kind == "image_url":
                blocks.append(self._image(part["image_url"]["url"]))
            else:  # already a Converse block (image, document, toolUse, cachePoint...)
                blocks.append({k: v for k, v in part.items() if k != "type"} if kind is None else part)
        return blocks

    def _image(self, url: str) -> dict:
        data = split_data_url(url)
        if data is not None:
            image_format = _IMAGE_FORMATS.get(data[0].lower())
            if image_format is None:
                raise self._error(InvalidRequestError, f"Bedrock takes png, jpeg, gif or webp images, not "
                                                       f"{data[0]!r:.40}.")
            return {"image": {"format": image_format, "source": {"bytes": data[1]}}}
        raise self._error(InvalidRequestError, "Converse takes images as bytes (a data: URL), not a web "
                                               f"URL ({redact_url(url)[:120]!r}); download it first.")

    _system_part = _blocks

    @staticmethod
    def _system_out(system: list[dict]) -> list[dict]:
        return system

    @staticmethod
    def _tool_result(call_id: Any, content: Any) -> dict:
        result = content if isinstance(content, str) else json.dumps(content) if content is not None else ""
        return {"toolResult": {"toolUseId": call_id, "content": [{"text": result}]}}

    @staticmethod
    def _tool_use(call_id: Any, name: Any, arguments: Any) -> dict:
        return {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}}

    _turn_content = _blocks

    @staticmethod
    def _merged(previous: list, content: list) -> list:
        return previous + content

    def _role_error(self, role: Any) -> LMError:
        return self._error(InvalidRequestError, f"a message's role must be system, user, assistant or tool, "
                                                f"got {role!r:.40}.")

    @staticmethod
    def _tool(tool: dict) -> dict:
        name, description, schema = tool_spec(tool)
        spec = {"name": name}
        if description:
            spec["description"] = description
        spec["inputSchema"] = {"json": schema}
        return {"toolSpec": spec}

    @staticmethod
    def _tool_choice(choice: Any) -> dict | None:
        if choice is None or choice == "none":
            return None
        if isinstance(choice, dict):
            name = choice.get("name")
            function = choice.get("function")
            if name is None and isinstance(function, dict):
                name = function.get("name")
            if name is None and isinstance(choice.get("tool"), dict):
                return dict(choice)  # already Converse's shape
            return {"tool": {"name": name}} if name else dict(choice)
        return {"auto": {"auto": {}}, "required": {"any": {}}, "any": {"any": {}}}.get(choice, {"auto": {}})

    def _body(self, request: CompletionRequest, stream: bool = False) -> tuple[dict, float | None, bool]:
        """The request body (the same for a stream), the request timeout and whether a structured
        answer is wrapped."""
        params = dict(request.params or {})
        system, messages = self._messages(request.messages)
        body: dict = {"messages": messages}
        if system:
            body["system"] = system
        body.update(dict(self.profile.extra_body))
        for key, value in params.items():
            if key not in HANDLED_PARAMS and key not in self.profile.rejected_params:
                body[key] = value
        config: dict = {}
        max_tokens = params.get("max_tokens")
        additional = body.get("additionalModelRequestFields")
        thinking = additional.get("thinking") if isinstance(additional, dict) else None
        if max_tokens is None and thinking_enabled(thinking):
            max_tokens = default_max_tokens(thinking)
        if max_tokens is not None:
            config["maxTokens"] = max_tokens
        if params.get("temperature") is not None:
            config["temperature"] = params["temperature"]
        if params.get("top_p") is not None:
            config["topP"] = params["top_p"]
        stop = stop_sequences(params.get("stop"))
        if stop:
            config["stopSequences"] = stop
        if config:
            body["inferenceConfig"] = {**config, **(body.get("inferenceConfig") or {})}

        tools = [self._tool(t) for t in request.tools or []]
        choice = self._tool_choice(params.get("tool_choice"))
        wrapped = False
        if request.schema is not None:
            input_schema, wrapped, forced = self._structured_tool(request, thinking)
            tools.append({"toolSpec": {"name": STRUCTURED_TOOL, "description": STRUCTURED_TOOL_DESCRIPTION,
                                       "inputSchema": {"json": input_schema}}})
            if forced:
                choice = {"tool": {"name": STRUCTURED_TOOL}}
            else:  # extended thinking does not allow forcing a tool: ask for it instead
                choice = {"auto": {}}
                body.setdefault("system", []).append({"text": STRUCTURED_TOOL_INSTRUCTION})
        if tools:
            tool_config: dict = {"tools": tools}
            if choice is not None:
                tool_config["toolChoice"] = choice
            body["toolConfig"] = tool_config
        merge_extra_body(body, params.get("extra_body"))
        timeout = params.get("timeout")
        return body, (float(timeout) if timeout else None), wrapped

    # --- HTTP ------------------------------------------------------------------------------

    def _status_error(self, status: int, headers: Mapping[str, str], raw: bytes) -> LMError:
        try:
            body: Any = wire.loads(raw) if raw else {}
        except wire.WireValueError:
            body = raw[:2000].decode("utf-8", "replace")
        return self.aws_error(aws_error_type(headers, body), aws_error_message(body), status, headers)

    def aws_error(self, error_type: str | None, message: str, status: int | None,
                  headers: Mapping[str, str] | None = None) -> LMError:
        """The typed error of an AWS error (an HTTP error reply or an exception event of a stream)."""
        headers = headers or {}
        known = AWS_ERRORS.get((error_type or "").lower())
        if known is None:
            if status is None:
                status = 500
            fallback = error_from_status(status, {"message": message}, headers, provider=self.profile.name,
                                         model=self.model_name, secrets=self._http.secrets)
            cls = type(fallback)
        else:
            cls, known_status = known
            status = status or known_status
        if cls is InvalidRequestError and _CONTEXT_WINDOW.search(message):
            cls = ContextWindowExceededError
        request_id = headers.get("x-amzn-requestid") or headers.get("x-amzn-RequestId")
        text = f"{self.profile.name}/{self.model_name}: HTTP {status} {error_type or 'error'} ({cls.__name__}): " \
               f"{message}"
        if request_id:
            text += f" [request id {request_id}]"
        hint = _AWS_HINTS.get(cls)
        if hint:
            text += f" {hint}"
        kwargs = dict(provider=self.profile.name, model=self.model_name, status_code=status,
                      secrets=self._http.secrets)
        if cls is RateLimitError:
            return RateLimitError(text, retry_after=read_retry_after(headers)[0], **kwargs)
        if cls is PaymentRequiredError:
            return PaymentRequiredError(text, **kwargs)
        return cls(text, **kwargs)

    async def _send(self, client, method: str, url: str, content: bytes | None, accept: str, timeout: float):
        """Sign and send one request; the reply (status < 400), else the typed error."""
        headers = {"Content-Type": "application/json", "Accept": accept} if content is not None \
            else {"Accept": accept}
        signed = self.sign(method, url, content, headers)
        response = await client.send(method, url, {**self._http.headers, **signed}, content, None, timeout)
        if response.status >= 400:
            try:
                raw = await response.read(64 * 1024)
            except client.errors:
                raw = b""
            finally:
                await response.aclose()
            raise self._status_error(response.status, response.headers, raw)
        return response

    async def _request(self, method: str, url: str, body: Any, timeout: float | None) -> tuple[Any, Mapping]:
        """A signed JSON request: the parsed reply and its headers."""
        http = self._http
        timeout = timeout or http.timeout
        content = None if body is None else encode_json(body)
        failure: LMError | None = None
        client = http._client()
        try:
            async with asyncio.timeout(timeout):
                response = await self._send(client, method, url, content, "application/json", timeout)
                try:
                    raw = await http._read(response, url)
                finally:
                    await response.aclose()
        except Exception as error:
            failure = http.transport_failure(error, client, url, timeout)
            if failure is None:
                raise
        if failure is not None:
            raise failure  # outside the handler: the library's error (with the headers) is not kept
        return http._parse(raw, url), response.headers

    async def _frames(self, url: str, body: Any, timeout: float | None) -> AsyncIterator[tuple[Any, Mapping]]:
        """The decoded event-stream messages of a ConverseStream reply, with the reply's headers."""
        http = self._http
        timeout = timeout or http.timeout
        loop = asyncio.get_running_loop()
        content = encode_json(body)
        failure: LMError | None = None
        client = http._client()
        response = None
        eventstream = self._botocore.eventstream
        try:
            deadline = loop.time() + timeout
            async with asyncio.timeout_at(deadline):
                response = await self._send(client, "POST", url, content, EVENT_STREAM, timeout)
            kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
            if kind != EVENT_STREAM:
                raise self._error(ProviderInternalError, f"{redact_url(url)} did not answer with an AWS event stream "
                                                         f"(content type {kind!r:.80}).")
            buffer = eventstream.EventStreamBuffer()
            size = 0
            framed = 0  # bytes of the complete frames decoded
            while True:
                async with asyncio.timeout_at(deadline):
                    chunk = await response.next_chunk()
                if not chunk:
                    if size > framed:
                        raise self._error(ProviderInternalError,
                                          f"the event stream ended inside a frame ({size - framed} bytes left).")
                    return
                size += len(chunk)
                if size > http.max_response_bytes:
                    raise http._too_large(url)
                buffer.add_data(chunk)
                try:
                    messages = list(buffer)
                except eventstream.ParserError as error:
                    raise self._error(ProviderInternalError,
                                      f"the event stream is corrupt ({type(error).__name__}: {error}); "
                                      "stopped reading. Retry the call.") from None
                for message in messages:
                    framed += message.prelude.total_length
                    yield message, response.headers
                deadline = loop.time() + timeout
        except Exception as error:
            failure = http.transport_failure(error, client, url, timeout, stream=True)
            if failure is None:
                raise
        finally:
            if response is not None:
                await response.aclose()
        if failure is not None:
            raise failure

    # --- response ------------------------------------------------------------------------

    def _filtered(self, stop_reason: str, text: str) -> ContentFilterError:
        detail = f" The model's or guardrail's reply: {text!r:.200}" if text else ""
        return ContentFilterError(f"{self.profile.name}/{self.model_name}: Bedrock stopped the reply (stopReason "
                                  f"{stop_reason!r}).{detail} Check the prompt, or the guardrail's policy.",
                                  provider=self.profile.name, model=self.model_name)

    async def complete(self, request: CompletionRequest) -> Completion:
        body, timeout, wrapped = self._body(request)
        data, headers = await self._request("POST", self._http.url(self._path("converse")), body, timeout)
        return self.completion(data, request, wrapped, headers.get("x-amzn-requestid"))

    def completion(self, data: Any, request: CompletionRequest, wrapped: bool = False,
                   request_id: str | None = None) -> Completion:
        """The Completion of a Converse reply; ProviderInternalError when it is malformed."""
        return self._read(data, request, wrapped, request_id)

    def _read_completion(self, data: Any, request: CompletionRequest, wrapped: bool,
                         request_id: str | None) -> Completion:
        message = (data.get("output") or {}).get("message") if isinstance(data, dict) else None
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            raise self._unexpected("the reply is not a Converse reply (no output.message.content)", data)
        texts: list[str] = []
        reasoning: list[str] = []
        tool_calls: list[dict] = []
        structured: Any = None
        for block in message["content"]:
            if not isinstance(block, dict):
                continue
            if "text" in block:
                texts.append(wire.text(block["text"], "a text block"))
            elif isinstance(block.get("toolUse"), dict):
                use = block["toolUse"]
                if request.schema is not None and use.get("name") == STRUCTURED_TOOL and structured is None:
                    structured = use.get("input") if isinstance(use.get("input"), dict) else {}
                else:
                    tool_calls.append(tool_call(use.get("toolUseId"), use.get("name"), use.get("input")))
            elif isinstance(block.get("reasoningContent"), dict):
                reasoning_text = block["reasoningContent"].get("reasoningText")
                if isinstance(reasoning_text, dict):
                    reasoning.append(wire.text(reasoning_text.get("text"), "a reasoning block"))
        stop_reason = data.get("stopReason")
        finish_reason = self._finish_reason(stop_reason)
        if tool_calls and stop_reason == "max_tokens":
            mark_cut_off(tool_calls[-1])
        text = "".join(texts)
        if finish_reason == "content_filter":
            raise self._filtered(stop_reason, text)
        return self._answer(text, tool_calls, self._usage(data.get("usage")), finish_reason, request_id or None,
                            reasoning, structured, wrapped)

    async def _stream(self, request: CompletionRequest, body: dict, timeout: float | None,
                      wrapped: bool) -> AsyncIterator[StreamChunk]:
        usage: dict = {}
        request_id: str | None = None
        stop_reason: str | None = None
        tools = StructuredStream(request, wrapped)
        texts: list[str] = []
        stopped = False
        url = self._http.url(self._path("converse-stream"))
        async for message, headers in self._frames(url, body, timeout):
            request_id = request_id or headers.get("x-amzn-requestid")
            frame_headers = message.headers
            message_type = frame_headers.get(":message-type")
            if message_type == "exception":
                error_type = str(frame_headers.get(":exception-type") or "")
                raise self.aws_error(error_type, self._event_message(message.payload), None, headers)
            if message_type == "error":
                raise self.aws_error(str(frame_headers.get(":error-code") or ""),
                                     str(frame_headers.get(":error-message") or ""), None, headers)
            if message_type != "event":
                continue
            kind = frame_headers.get(":event-type")
            try:
                data = wire.loads(message.payload) if message.payload else {}
            except wire.WireValueError as error:
                raise self._unexpected(f"a stream event is not JSON it can use ({error})",
                                       message.payload[:300]) from None
            if not isinstance(data, dict):
                raise wire.WireValueError(f"the {kind} event is a {type(data).__name__}, not an object")
            index = data.get("contentBlockIndex", 0)
            if kind == "contentBlockStart":
                use = (data.get("start") or {}).get("toolUse")
                if isinstance(use, dict):
                    chunk = tools.start(index, use.get("toolUseId"), use.get("name"))
                    if chunk is not None:
                        yield chunk
            elif kind == "contentBlockDelta":
                delta = data.get("delta") or {}
                if "text" in delta:
                    piece = wire.text(delta["text"], "a text delta")
                    if piece:
                        texts.append(piece)
                        yield StreamChunk(text=piece)
                elif isinstance(delta.get("toolUse"), dict):
                    chunk = tools.delta(index, wire.text(delta["toolUse"].get("input"), "a toolUse input delta"))
                    if chunk is not None:
                        yield chunk
                # reasoningContent deltas are not part of the neutral reply
            elif kind == "contentBlockStop":
                chunk = tools.stop(index)
                if chunk is not None:
                    yield chunk
            elif kind == "messageStop":
                stop_reason = data.get("stopReason")
                stopped = True
            elif kind == "metadata":
                usage = data.get("usage") or {}
            # messageStart and unknown events carry nothing for the neutral reply
        if not stopped:
            raise self._unexpected("the stream ended before messageStop", f"usage={usage!r:.100}")
        finish_reason = self._finish_reason(stop_reason)
        if finish_reason == "content_filter":
            raise self._filtered(stop_reason, "".join(texts))
        finish_reason = tools.finish_reason(finish_reason)
        yield StreamChunk(usage=self._usage(usage), finish_reason=finish_reason, request_id=request_id)

    @staticmethod
    def _event_message(payload: bytes) -> str:
        try:
            data = wire.loads(payload) if payload else {}
        except wire.WireValueError:
            return bytes(payload[:500]).decode("utf-8", "replace")
        return aws_error_message(data)

    async def list_models(self) -> list[dict]:
        """The foundation models of the region (Bedrock's control plane, ``ListFoundationModels``)."""
        url = f"https://bedrock.{self.region}.amazonaws.com/foundation-models"
        data, _ = await self._request("GET", url, None, None)
        summaries = data.get("modelSummaries") if isinstance(data, dict) else None
        if not isinstance(summaries, list):
            raise self._unexpected("the model list is not a ListFoundationModels reply", data)
        return [{"id": item.get("modelId"), "display_name": item.get("modelName") or item.get("modelId"),
                 "provider": self.profile.name} for item in summaries if isinstance(item, dict)]
