"""OpenTelemetry tracing of program runs, module calls, LM calls, tools and knowledge searches.

Off by default, and then it costs one global read per call (``TRACER is None``).
``enable_observability()`` turns it on. The spans follow the OpenTelemetry GenAI semantic
conventions, so Phoenix, Langfuse, MLflow, Jaeger or any OTLP backend reads them:

=============================  =========================  ===========================
span name                      ``gen_ai.operation.name``  ``openinference.span.kind``
=============================  =========================  ===========================
``chat {model}``               ``chat``                   ``LLM``
``embeddings {model}``         ``embeddings``             ``EMBEDDING``
``execute_tool {tool}``        ``execute_tool``           ``TOOL``
``invoke_agent {agent}``       ``invoke_agent``           ``AGENT``
``retrieval {store}``          ``retrieval``              ``RETRIEVER``
``synaplex.program {name}``    (none)                     ``CHAIN``
``synaplex.module {name}``     (none)                     ``CHAIN``
=============================  =========================  ===========================

LM spans carry ``gen_ai.provider.name``, ``gen_ai.request.model`` and the request's sampling
parameters, ``gen_ai.output.type``, ``server.address``/``server.port`` of the endpoint,
``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.response.finish_reasons`` and
``gen_ai.response.id``, and the cost in USD (``synaplex.cost_usd`` and ``gen_ai.usage.cost``),
which is absent, never 0, when the model's price is unknown. A failed call records the
exception, sets the status to ERROR and ``error.type``. Phoenix derives its own attributes
(``llm.model_name``, ``llm.token_count.*``, the messages) from these, so they are not sent twice.

Prompts, replies, tool arguments and results, and search queries and hits are recorded only
with ``record_content=True`` (``gen_ai.input.messages``/``gen_ai.output.messages`` in the
conventions' JSON form, ``gen_ai.tool.call.arguments``/``result``, and OpenInference's
``input.value`` and ``retrieval.documents`` for searches). Keys, credential headers and URL
userinfo never are (an error recorded on a span has a redacted message).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.backend.redaction import strip_url_credentials
from synaplex.version import __version__

# The active tracer, or None when tracing is off. Read on every call: keep it a plain global.
TRACER: Any = None
RECORD_CONTENT = False
_CLIENT: Any = None  # opentelemetry.trace.SpanKind.CLIENT, set by enable_observability
_INTERNAL: Any = None  # SpanKind.INTERNAL
_attach: Any = None  # opentelemetry.context.attach, detach, and trace.set_span_in_context
_detach: Any = None
_in_context: Any = None
_ERROR: Any = None   # opentelemetry.trace.StatusCode.ERROR, set by enable_observability
_start: Any = None  # (name, kind, attributes) -> a started span: a light span, or the SDK's start_span

SPAN_KIND = "openinference.span.kind"
OPERATION = "gen_ai.operation.name"
COST_ATTRIBUTES = ("synaplex.cost_usd", "gen_ai.usage.cost")
_SAMPLING = {"temperature": "gen_ai.request.temperature", "max_tokens": "gen_ai.request.max_tokens",
             "top_p": "gen_ai.request.top_p", "top_k": "gen_ai.request.top_k", "seed": "gen_ai.request.seed",
             "frequency_penalty": "gen_ai.request.frequency_penalty",
             "presence_penalty": "gen_ai.request.presence_penalty"}


def enable_observability(exporter: Any = "console", tracer_provider: Any = None,
                         service_name: str = "synaplex", record_content: bool = False, *,
                         endpoint: str | None = None, headers: dict[str, str] | None = None,
                         project_name: str | None = None):
    """Trace synaplex with OpenTelemetry and return the tracer provider.

    Args:
        exporter: ``"console"`` (spans printed to stdout), ``None`` (no exporter: use your own
            processors on the returned provider), or any OpenTelemetry ``SpanExporter``.
        tracer_provider: an existing ``TracerProvider`` to use instead of a new one.
        service_name: the ``service.name`` resource of a new provider.
        record_content: also record prompts, replies, tool arguments and results, and search
            queries and hits. Off by default: they may hold personal data.
        endpoint: send the spans over OTLP/HTTP (protobuf) to this URL instead of ``exporter``,
            batched in a background thread and encoded by :mod:`synaplex.observability.otlp`
            (several times less CPU than the OpenTelemetry exporter's encoder). The URL of the
            traces endpoint; one with no path gets ``/v1/traces``. Phoenix:
            ``"http://localhost:6006/v1/traces"``; Langfuse:
            ``"https://cloud.langfuse.com/api/public/otel/v1/traces"`` with a Basic
            ``Authorization`` header; MLflow: ``"http://localhost:5000/v1/traces"`` with
            ``{"x-mlflow-experiment-id": "<id>"}``; an OpenTelemetry Collector or Jaeger:
            ``"http://localhost:4318"``.
        headers: HTTP headers sent with every export to ``endpoint`` (credentials go here; they
            are never put on a span). Without it, ``OTEL_EXPORTER_OTLP_HEADERS`` is read.
        project_name: the Phoenix project the spans go to (the ``openinference.project.name``
            resource) of a new provider.

    Example:
        >>> provider = synaplex.enable_observability(endpoint="http://localhost:6006/v1/traces")
        >>> ...
        >>> provider.force_flush()   # before a script exits (atexit does it too)
    """
    global TRACER, RECORD_CONTENT, _CLIENT, _INTERNAL, _ERROR, _attach, _detach, _in_context, _start
    try:
        from opentelemetry.context import attach, detach  # noqa: PLC0415 - optional: the otel extra
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - optional: the otel extra
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - optional: the otel extra
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 - optional: the otel extra
            BatchSpanProcessor,
            ConsoleSpanExporter,
        )
        from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context  # noqa: PLC0415 - the otel extra
    except ImportError:
        raise InvalidInputError(
            "enable_observability needs OpenTelemetry. Install it with: pip install \"synaplex[otel]\""
        ) from None
    if endpoint is not None:
        if exporter != "console" and exporter is not None:
            raise InvalidInputError("enable_observability takes endpoint= (OTLP) or exporter=, not both.")
        exporter = _otlp_exporter(endpoint, headers)
    elif headers is not None:
        raise InvalidInputError("enable_observability(headers=...) goes with endpoint=: the headers of the "
                                "OTLP exports.")
    if tracer_provider is None:
        resource = {"service.name": service_name}
        if project_name:
            resource["openinference.project.name"] = project_name
        provider = TracerProvider(resource=Resource.create(resource))
    else:
        provider = tracer_provider
    if exporter is not None and (tracer_provider is None or endpoint is not None):
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter() if exporter == "console" else exporter))
    _CLIENT, _INTERNAL, _ERROR = SpanKind.CLIENT, SpanKind.INTERNAL, StatusCode.ERROR
    _attach, _detach, _in_context = attach, detach, set_span_in_context
    from synaplex.observability.spans import light_tracer  # noqa: PLC0415 - imports the otel SDK

    tracer = provider.get_tracer("synaplex", __version__)
    light = light_tracer(tracer)
    _start = light.start_span if light is not None else (
        lambda name, kind, attributes: tracer.start_span(name, kind=kind, attributes=attributes))
    TRACER = tracer
    RECORD_CONTENT = bool(record_content)
    return provider


def _otlp_exporter(endpoint: Any, headers: dict | None):
    from synaplex.observability.otlp import OtlpSpanExporter  # noqa: PLC0415 - imports the otel SDK

    if not isinstance(endpoint, str):
        raise InvalidInputError(f"endpoint must be the URL of an OTLP/HTTP traces endpoint, got {endpoint!r:.100}.")
    try:
        parts = urllib.parse.urlsplit(endpoint)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"endpoint must be an http(s) URL such as http://localhost:6006/v1/traces, got "
                                f"{strip_url_credentials(endpoint)!r}.")
    if parts.path in ("", "/"):
        endpoint = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/v1/traces", parts.query, ""))
    if headers is not None and not (isinstance(headers, dict)
                                    and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
        raise InvalidInputError("headers must be a dict of strings (header name -> value).")
    return OtlpSpanExporter(endpoint, headers=headers)


def disable_observability() -> None:
    global TRACER
    TRACER = None


# --- spans ------------------------------------------------------------------------------
# Each span is a small class rather than a generator context manager, and its facts are set in
# one call. Spans are light spans (synaplex.observability.spans) where the provider allows: the
# SDK's own span costs 24-38 us, a light one 5-8 us.


class _Scope:
    """The current span for a ``with`` block; a failure sets ``error.type``, records the
    exception and sets the status to ERROR. ``with`` gives :meth:`record`."""

    __slots__ = ("span", "_token")

    def __init__(self, name: str, attributes: dict, kind: Any = None):
        self.span = _start(name, kind or _INTERNAL, attributes)

    def __enter__(self):
        self._token = _attach(_in_context(self.span))
        return self.record

    def __exit__(self, exc_type, error, traceback) -> bool:
        try:
            if isinstance(error, Exception):
                self.span.set_attribute("error.type", type(error).__qualname__)
                self.span.record_exception(error)
                self.span.set_status(_ERROR, f"{type(error).__name__}: {error}")
        finally:
            _detach(self._token)
            self.span.end()
        return False

    def record(self, *facts) -> None:
        """What the call gave (usage, reply, result, hits): each kind of span records its own."""


def _set_facts(span, facts: dict) -> None:
    """Attributes synaplex built: a light span takes them as they are, another span checks them."""
    getattr(span, "_facts", span.set_attributes)(facts)


# (module class, name) -> (span name, attributes): what a module span says depends on nothing else
_MODULE_SPANS: dict[tuple, tuple] = {}


def module_span(module) -> _Scope:
    """A span around one module (or program) call; an agent's is an ``invoke_agent`` span."""
    if getattr(module, "_traced_as_agent", False):
        return agent_span(module)
    known = _MODULE_SPANS.get((type(module), module.name))
    if known is None:
        kind = "program" if hasattr(module, "_graph") else "module"
        known = (f"synaplex.{kind} {module.name}", {
            f"synaplex.{kind}.name": module.name, f"synaplex.{kind}.type": type(module).__name__,
            SPAN_KIND: "CHAIN"})
        if len(_MODULE_SPANS) >= 1024:
            _MODULE_SPANS.clear()
        _MODULE_SPANS[type(module), module.name] = known
    return _Scope(known[0], known[1].copy())


def agent_span(agent) -> _Scope:
    attributes = {OPERATION: "invoke_agent", "gen_ai.agent.name": agent.name, SPAN_KIND: "AGENT",
                  "synaplex.module.type": type(agent).__name__}
    lm = getattr(agent, "language_model", None)
    if lm is not None and isinstance(getattr(lm, "model", None), str):
        attributes["gen_ai.provider.name"] = lm.provider
        attributes["gen_ai.request.model"] = lm.model
    return _Scope(f"invoke_agent {agent.name}", attributes)


_SERVERS: dict[str, dict] = {}  # endpoint URL -> its server.* attributes (an urlsplit a call is measurable)


def _server(attributes: dict, model: Any) -> None:
    """``server.address``/``server.port`` of the model's endpoint (never its userinfo)."""
    endpoint = getattr(model, "endpoint", None)
    if not isinstance(endpoint, str):
        return
    server = _SERVERS.get(endpoint)
    if server is None:
        server = {}
        try:
            parts = urllib.parse.urlsplit(endpoint)
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        except ValueError:
            parts, port = None, None
        if parts is not None and parts.hostname:
            server["server.address"] = parts.hostname
            if port:
                server["server.port"] = port
        if len(_SERVERS) > 256:
            _SERVERS.clear()
        _SERVERS[endpoint] = server
    attributes.update(server)


def _usage(facts: dict, usage, output: bool = True) -> dict:
    facts["gen_ai.usage.input_tokens"] = usage.input_tokens
    if output:
        facts["gen_ai.usage.output_tokens"] = usage.output_tokens
    if usage.cost is not None:  # unknown price: no cost attribute at all (0 would claim it was free)
        for name in COST_ATTRIBUTES:
            facts[name] = usage.cost
    return facts


class _Chat(_Scope):
    __slots__ = ()

    def __init__(self, lm, request):
        attributes = {OPERATION: "chat", SPAN_KIND: "LLM", "gen_ai.provider.name": lm.provider,
                      "gen_ai.request.model": lm.model}
        if request.schema is not None:  # the conventions set it when the request asks for a format
            attributes["gen_ai.output.type"] = "json"
        _server(attributes, lm)
        params = request.params
        for key, name in _SAMPLING.items():
            value = params.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[name] = value
        stop = params.get("stop")
        if isinstance(stop, str):
            attributes["gen_ai.request.stop_sequences"] = (stop,)
        elif isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
            attributes["gen_ai.request.stop_sequences"] = tuple(stop)
        if RECORD_CONTENT:
            attributes["gen_ai.input.messages"] = f"[{', '.join(map(_message_json, request.messages))}]"
        super().__init__(f"chat {lm.model}", attributes, _CLIENT)

    def record(self, usage, finish=None, response_id=None, reply=None) -> None:
        """The call's own outcome: its usage, finish reason, response id and (content) reply."""
        facts = _usage({}, usage)
        if isinstance(finish, str):
            facts["gen_ai.response.finish_reasons"] = (finish,)
        if isinstance(response_id, str):
            facts["gen_ai.response.id"] = response_id
        if RECORD_CONTENT and reply is not None:
            facts["gen_ai.output.messages"] = json.dumps([_reply_message(reply, finish)], ensure_ascii=False,
                                                         default=str)
        _set_facts(self.span, facts)


def lm_span(lm, request) -> _Chat:
    """A GenAI ``chat`` span around one LM call; ``with`` gives ``record(usage, finish_reason,
    response_id, reply)``, to call once the call answered."""
    return _Chat(lm, request)


class _Embeddings(_Scope):
    __slots__ = ()

    def record(self, usage) -> None:
        _set_facts(self.span, _usage({}, usage, output=False))


def embedding_span(model, texts: list[str]) -> _Embeddings:
    """A GenAI ``embeddings`` span around one embedding call; ``with`` gives ``record(usage)``."""
    attributes = {OPERATION: "embeddings", SPAN_KIND: "EMBEDDING", "gen_ai.provider.name": model.provider,
                  "gen_ai.request.model": model.model, "synaplex.texts": len(texts)}
    _server(attributes, model)
    if RECORD_CONTENT:
        attributes["input.value"] = json.dumps(texts, ensure_ascii=False)
        attributes["input.mime_type"] = "application/json"
    return _Embeddings(f"embeddings {model.model}", attributes, _CLIENT)


class _Tool(_Scope):
    __slots__ = ()

    def record(self, result) -> None:
        """``Tool.run``'s ``{"result"}`` or ``{"error"}``: an error marks the span as failed, as a raise does."""
        if isinstance(result, dict) and "error" in result and "result" not in result:
            self.span.set_attribute("error.type", "tool_error")
            self.span.set_status(_ERROR, str(result["error"])[:500])
        if RECORD_CONTENT:
            self.span.set_attribute("gen_ai.tool.call.result", json.dumps(result, ensure_ascii=False, default=str))


def tool_span(tool, arguments: Any, call_id: Any = None) -> _Tool:
    """A GenAI ``execute_tool`` span; ``with`` gives ``record(result)``."""
    attributes = {OPERATION: "execute_tool", SPAN_KIND: "TOOL", "gen_ai.tool.name": tool.name,
                  "gen_ai.tool.type": "function"}
    if isinstance(call_id, str):
        attributes["gen_ai.tool.call.id"] = call_id
    if RECORD_CONTENT:
        attributes["gen_ai.tool.call.arguments"] = (
            arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, default=str))
    return _Tool(f"execute_tool {tool.name}", attributes)


class _Retrieval(_Scope):
    __slots__ = ()

    def record(self, hits: list) -> None:
        facts: dict[str, Any] = {"synaplex.search.results": len(hits)}
        if RECORD_CONTENT:  # OpenInference's retrieval documents, which Phoenix lists
            for index, hit in enumerate(hits):
                prefix = f"retrieval.documents.{index}.document."
                if isinstance(hit, dict) and isinstance(hit.get("score"), (int, float)):
                    facts[prefix + "score"] = hit["score"]
                if isinstance(hit, dict) and hit.get("key") is not None:
                    facts[prefix + "id"] = str(hit["key"])
                facts[prefix + "content"] = json.dumps(hit.get("data", hit) if isinstance(hit, dict) else hit,
                                                       ensure_ascii=False, default=str)
        _set_facts(self.span, facts)


def retrieval_span(store: str, query: str, k: int, mode: str, labels: Any) -> _Retrieval:
    """A ``retrieval`` span around one knowledge search; ``with`` gives ``record(hits)``."""
    attributes = {OPERATION: "retrieval", SPAN_KIND: "RETRIEVER", "gen_ai.data_source.id": store,
                  "db.system.name": store, "synaplex.search.mode": mode, "synaplex.search.k": k}
    if labels:
        attributes["synaplex.search.labels"] = tuple(str(label) for label in labels if label is not None)
    if RECORD_CONTENT:
        attributes["input.value"] = query
    return _Retrieval(f"retrieval {store}", attributes)


# --- messages in the GenAI conventions' JSON form ---------------------------------------------


def _tool_call_part(call: Any) -> dict:
    if not isinstance(call, dict):
        return {"type": "tool_call", "arguments": str(call)}
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    return {"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
            "arguments": function.get("arguments")}


_MESSAGES: dict[tuple, str] = {}  # (role, text) -> its JSON: a module's system prompt repeats on every call


def _message_json(message: Any) -> str:
    """One input message in the conventions' JSON; plain text messages are remembered."""
    if type(message) is dict and len(message) == 2 and type(message.get("content")) is str:
        key = (message.get("role"), message["content"])
        text = _MESSAGES.get(key)
        if text is None:
            text = json.dumps(_message_parts(message), ensure_ascii=False)
            if len(_MESSAGES) > 256:
                _MESSAGES.clear()
            _MESSAGES[key] = text
        return text
    return json.dumps(_message_parts(message), ensure_ascii=False, default=str)


def _message_parts(message: Any) -> dict:
    """One chat message as ``{"role", "parts": [...]}`` (images are named, not copied)."""
    if not isinstance(message, dict):
        return {"role": "user", "parts": [{"type": "text", "content": str(message)}]}
    role = message.get("role") or "user"
    content = message.get("content")
    if role == "tool":
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                                           "response": content}]}
    parts: list[dict] = []
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text", "")})
            else:
                parts.append({"type": part.get("type", "unknown") if isinstance(part, dict) else "unknown"})
    elif content is not None:
        parts.append({"type": "text", "content": json.dumps(content, ensure_ascii=False, default=str)})
    parts.extend(_tool_call_part(call) for call in message.get("tool_calls") or ())
    return {"role": role, "parts": parts}


def _reply_message(reply: Any, finish: str | None) -> dict:
    """The LM's answer as an output message: a reply message, or a structured value as text."""
    if isinstance(reply, dict) and reply.get("role") == "assistant":
        message = _message_parts(reply)
    else:
        message = {"role": "assistant",
                   "parts": [{"type": "text", "content": json.dumps(reply, ensure_ascii=False, default=str)}]}
    message["finish_reason"] = finish or "stop"
    return message
