"""A program served over HTTP: a Starlette app, run by uvicorn.

``POST /run`` (one input, validated against the program's input DataModel; Server-Sent
Events for a streaming program when the request accepts ``text/event-stream``),
``POST /batch``, ``GET /health``, ``GET /openapi.json``, ``GET /schema`` and the playground
page at ``GET /``. Optional bearer-token auth (compared in constant time, never logged), a
body size limit, and a concurrency limit (see :class:`~synaplex.serving.runner.ProgramRunner`).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from synaplex.serving.call_trace import CallTrace
from synaplex.serving.openapi import openapi_document
from synaplex.serving.playground import PLAYGROUND_HTML
from synaplex.serving.runner import InputValidationError, ProgramRunner, error_json, error_status

_log = logging.getLogger("synaplex.serving")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_BATCH = 256
#: Paths answered without a token: the liveness probe and the playground's page itself (the page
#: holds no data; it asks for the token and sends it with its requests).
PUBLIC_PATHS = frozenset({"/", "/health"})


class _BodyError(Exception):
    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _error(status: int, kind: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def _failure(error: BaseException) -> JSONResponse:
    status = error_status(error)
    headers = {"Retry-After": "1"} if status == 503 else None
    if isinstance(error, InputValidationError):
        return JSONResponse({"error": error_json(error), "detail": error.errors}, status_code=422)
    return JSONResponse({"error": error_json(error)}, status_code=status, headers=headers)


class BearerAuth:
    """ASGI middleware: HTTP requests need ``Authorization: Bearer <token>`` (except
    ``public_paths``); the comparison takes constant time and the token is never logged."""

    def __init__(self, app: Any, token: str, public_paths: frozenset = frozenset()):
        if not isinstance(token, str) or not token.strip():
            raise ValueError("The bearer token must be a non-empty string.")
        self.app = app
        self._expected = token.strip().encode()
        self.public_paths = public_paths

    def authorized(self, headers: list) -> bool:
        given = b""
        for name, value in headers:
            if name.lower() == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = credentials.strip()
        # compare_digest on bytes: constant time whatever the length or content of the guess
        return bool(given) and hmac.compare_digest(given, self._expected)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.public_paths or self.authorized(scope["headers"]):
            await self.app(scope, receive, send)
            return
        message = "Missing or wrong bearer token: send 'Authorization: Bearer <token>'."
        body = json.dumps({"error": {"type": "Unauthorized", "message": message}})
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body.encode()})


async def _read_json(request: Request, max_bytes: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _BodyError(413, "PayloadTooLarge", f"The body is {int(declared)} bytes; this server takes at most "
                                                 f"{max_bytes} bytes (--max-body-bytes).")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _BodyError(413, "PayloadTooLarge", f"The body is over {max_bytes} bytes, this server's limit "
                                                     "(--max-body-bytes).")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except UnicodeDecodeError:
        raise _BodyError(400, "InvalidJSON", "The body is not UTF-8 JSON.") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise _BodyError(400, "InvalidJSON", f"The body is not valid JSON: {error.msg} ({where}).") from None


def _wants_trace(request: Request) -> bool:
    return request.query_params.get("trace", "").lower() in ("1", "true", "yes")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def create_app(program: Any, *, token: str | None = None, max_concurrency: int = 64, queue_timeout: float = 30.0,
               batch_size: int = 32, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH) -> Any:
    """The ASGI app that serves ``program`` (a Starlette app, wrapped in bearer auth when
    ``token`` is given).

    Example:
        >>> app = create_app(synaplex.Program.load("program.json"))
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    runner = ProgramRunner(program, max_concurrency=max_concurrency, queue_timeout=queue_timeout,
                           batch_size=batch_size)
    document = openapi_document(program.name, getattr(program, "description", None), runner.input_schema,
                                runner.output_schema, auth=token is not None, max_batch=max_batch)
    schema_info = {"program": program.name, "description": getattr(program, "description", None),
                   "input_schema": runner.input_schema, "output_schema": runner.output_schema,
                   "multiple_inputs": runner.multiple_inputs, "auth": token is not None}

    async def run(request: Request) -> Response:
        try:
            value = runner.validate(await _read_json(request, max_body_bytes))
        except _BodyError as error:
            return _error(error.status, error.kind, error.message)
        except InputValidationError as error:
            return _failure(error)
        trace = CallTrace(program.name) if _wants_trace(request) else None
        if "text/event-stream" in request.headers.get("accept", ""):
            return _stream(value, trace)
        try:
            output = await runner.run(value, trace, validate=False)
        except Exception as error:  # noqa: BLE001 - every failure becomes a typed JSON answer
            return _failure(error)
        return JSONResponse(output if trace is None else {"output": output, "trace": trace.to_json()})

    def _stream(value: Any, trace: CallTrace | None) -> Response:
        async def events():
            try:
                async for event, data in runner.events(value, trace):
                    if event == "result":
                        data = {"output": data, "trace": trace.to_json() if trace is not None else None}
                    yield _sse(event, data)
            except Exception as error:  # noqa: BLE001 - the status line is sent: report in the stream
                yield _sse("error", {**error_json(error), "status": error_status(error)})

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def batch(request: Request) -> Response:
        try:
            body = await _read_json(request, max_body_bytes)
        except _BodyError as error:
            return _error(error.status, error.kind, error.message)
        if not isinstance(body, dict) or set(body) != {"inputs"} or not isinstance(body["inputs"], list):
            return JSONResponse({"error": {"type": "InputValidationError", "message": 'Send {"inputs": [...]}.'},
                                 "detail": [{"loc": ["body"], "msg": 'expected an object {"inputs": [...]}',
                                             "type": "type"}]}, status_code=422)
        if len(body["inputs"]) > max_batch:
            return _error(413, "PayloadTooLarge", f"The batch has {len(body['inputs'])} inputs; this server takes "
                                                  f"at most {max_batch} (--max-batch).")
        try:
            outputs, errors = await runner.run_batch(body["inputs"])
        except Exception as error:  # noqa: BLE001 - every failure becomes a typed JSON answer
            return _failure(error)
        return JSONResponse({"outputs": outputs, "errors": errors})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "program": program.name, "running": runner.running,
                             "max_concurrency": runner.max_concurrency})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def schema(request: Request) -> Response:
        return JSONResponse(schema_info)

    async def playground(request: Request) -> Response:
        return HTMLResponse(PLAYGROUND_HTML)

    app = Starlette(routes=[
        Route("/", playground, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/schema", schema, methods=["GET"]),
        Route("/run", run, methods=["POST"]),
        Route("/batch", batch, methods=["POST"]),
    ])
    app.state.runner = runner
    return BearerAuth(app, token, PUBLIC_PATHS) if token is not None else app


def serve_asgi(app: Any, host: str = "127.0.0.1", port: int = 8000, graceful_timeout: float = 30.0,
               log_level: str = "info", access_log: bool = True) -> None:
    """Serve an ASGI app with uvicorn until SIGINT/SIGTERM; in-flight requests finish first
    (up to ``graceful_timeout`` seconds)."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log,
                            timeout_graceful_shutdown=graceful_timeout, lifespan="auto")
    uvicorn.Server(config).run()
