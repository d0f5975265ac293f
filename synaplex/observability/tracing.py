"""OpenTelemetry tracing of program runs, module calls and LM calls.

Off by default, and then it costs one attribute check per call. ``enable_observability()``
turns it on: a span per program run and module call, and a span per LM call following the
OpenTelemetry GenAI conventions (``gen_ai.*`` attributes: provider, model, token usage;
``server.address``/``server.port`` of the endpoint). Message contents are not recorded unless
``record_content=True``; keys, credential headers and URL userinfo never are (an error recorded
on a span has a redacted message).
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.version import __version__

# The active tracer, or None when tracing is off. Read on every call: keep it a plain global.
TRACER: Any = None
RECORD_CONTENT = False


def enable_observability(exporter: Any = "console", tracer_provider: Any = None,
                         service_name: str = "synaplex", record_content: bool = False):
    """Trace synaplex with OpenTelemetry and return the tracer provider.

    Args:
        exporter: ``"console"`` (spans printed to stdout), ``None`` (no exporter: use your own
            processors on the returned provider), or any OpenTelemetry ``SpanExporter``
            (e.g. an OTLP exporter).
        tracer_provider: an existing ``TracerProvider`` to use instead of a new one.
        service_name: the ``service.name`` resource of a new provider.
        record_content: also record prompts and replies on LM spans.

    Example:
        >>> provider = synaplex.enable_observability(exporter=None)
    """
    global TRACER, RECORD_CONTENT
    try:
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - optional: the otel extra
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - optional: the otel extra
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 - optional: the otel extra
            BatchSpanProcessor,
            ConsoleSpanExporter,
        )
    except ImportError:
        raise InvalidInputError(
            "enable_observability needs OpenTelemetry. Install it with: pip install \"synaplex[otel]\""
        ) from None

    provider = tracer_provider or TracerProvider(resource=Resource.create({"service.name": service_name}))
    if tracer_provider is None and exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter() if exporter == "console" else exporter))
    TRACER = provider.get_tracer("synaplex", __version__)
    RECORD_CONTENT = record_content
    return provider


def disable_observability() -> None:
    global TRACER
    TRACER = None


def module_span(module):
    """A span around one module (or program) call."""
    kind = "program" if hasattr(module, "_graph") else "module"
    return TRACER.start_as_current_span(
        f"synaplex.{kind} {module.name}",
        attributes={f"synaplex.{kind}.name": module.name, f"synaplex.{kind}.type": type(module).__name__},
    )


@contextlib.contextmanager
def lm_span(lm, request):
    """A GenAI ``chat`` span around one LM call; yields a callback that records the usage."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": lm.provider,
        "gen_ai.request.model": lm.model,
        "synaplex.structured_output": request.schema is not None,
    }
    endpoint = getattr(lm, "endpoint", None)  # without credentials
    if isinstance(endpoint, str):
        try:
            parts = urllib.parse.urlsplit(endpoint)
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        except ValueError:
            parts, port = None, None
        if parts is not None and parts.hostname:
            attributes["server.address"] = parts.hostname
            if port:
                attributes["server.port"] = port
    for key in ("temperature", "max_tokens", "top_p"):
        value = request.params.get(key)
        if isinstance(value, (int, float)):
            attributes[f"gen_ai.request.{key}"] = value
    if RECORD_CONTENT:
        attributes["gen_ai.input.messages"] = json.dumps(request.messages, ensure_ascii=False)
    with TRACER.start_as_current_span(f"chat {lm.model}", attributes=attributes) as span:

        def record(usage, reply=None):
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            if usage.cost is not None:
                span.set_attribute("synaplex.cost_usd", usage.cost)
            if RECORD_CONTENT and reply is not None:
                span.set_attribute("gen_ai.output.messages", json.dumps(reply, ensure_ascii=False))

        yield record
