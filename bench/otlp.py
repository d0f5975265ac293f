"""Cost of encoding spans to OTLP protobuf: the official encoder against synaplex's.

Run it from anywhere (it puts the repository root on ``sys.path``)::

    python bench/otlp.py            # N = 2,100 spans (about 10 s)
    python bench/otlp.py --spans 500

The spans are those of 100 calls of a 10-Generator program, as synaplex traces them: per call
one program span, 10 module spans (3 attributes each) and 10 ``chat`` spans (about 15 GenAI
attributes each: provider, model, sampling parameters, server, usage, cost, finish reasons,
a response id that changes every call), made by a real ``TracerProvider`` and collected by an
in-memory exporter. Each encoder encodes all N spans in batches of 512 (the
``BatchSpanProcessor``'s default) to bytes, 7 repeats after a warm-up; the table shows the
median CPU time (``time.process_time``) per span. The official encoder is
``trace_encoder.encode_spans(batch).SerializeToString()`` (what ``OTLPSpanExporter`` sends);
ours is ``synaplex.observability.otlp.encode_spans(batch)``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console
from rich.table import Table

REPEATS = 7
BATCH = 512


def make_spans(n: int) -> list:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from synaplex.version import __version__

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "synaplex"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("synaplex", __version__)
    call = 0
    while len(memory.get_finished_spans()) < n:
        call += 1
        with tracer.start_as_current_span("synaplex.program chain_of_10", attributes={
                "synaplex.program.name": "chain_of_10", "synaplex.program.type": "Sequential",
                "openinference.span.kind": "CHAIN"}):
            for i in range(10):
                with tracer.start_as_current_span(f"synaplex.module generator_{i}", attributes={
                        "synaplex.module.name": f"generator_{i}", "synaplex.module.type": "Generator",
                        "openinference.span.kind": "CHAIN"}):
                    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                            "gen_ai.operation.name": "chat", "openinference.span.kind": "LLM",
                            "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
                            "gen_ai.request.temperature": 0.0, "gen_ai.request.max_tokens": 1024,
                            "gen_ai.output.type": "json", "server.address": "api.openai.com",
                            "server.port": 443}) as chat:
                        chat.set_attributes({
                            "gen_ai.usage.input_tokens": 120 + i, "gen_ai.usage.output_tokens": 12,
                            "synaplex.cost_usd": 0.0000252, "gen_ai.usage.cost": 0.0000252,
                            "gen_ai.response.finish_reasons": ("stop",),
                            "gen_ai.response.id": f"chatcmpl-{call:06d}{i:02d}"})
    return list(memory.get_finished_spans()[:n])


def as_light_spans(spans: list) -> list:
    """The same spans as ``ReadableSpan(...)`` with plain dict attributes and no events or links:
    how synaplex's light spans (``synaplex.observability.spans``) hand them to the exporter."""
    from opentelemetry.sdk.trace import ReadableSpan

    return [ReadableSpan(name=s.name, context=s.context, parent=s.parent, resource=s.resource,
                         attributes=dict(s.attributes), kind=s.kind, status=s.status, start_time=s.start_time,
                         end_time=s.end_time, instrumentation_scope=s.instrumentation_scope) for s in spans]


def per_span_us(encoders: list, spans: list) -> list[float]:
    """Median CPU microseconds per span of each ``encode(batch)`` over all batches, REPEATS runs,
    the encoders interleaved in every run (so a busy machine slows them alike)."""
    batches = [spans[i:i + BATCH] for i in range(0, len(spans), BATCH)]
    for encode in encoders:  # warm-up (and our caches)
        for batch in batches:
            encode(batch)
    times: list[list[float]] = [[] for _ in encoders]
    for _ in range(REPEATS):
        for encode, runs in zip(encoders, times):
            gc.collect()
            start = time.process_time()
            for batch in batches:
                encode(batch)
            runs.append((time.process_time() - start) / len(spans))
    return [statistics.median(runs) * 1e6 for runs in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2100, help="how many spans to encode (default 2100)")
    n = parser.parse_args().spans

    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from synaplex.observability.otlp import encode_spans

    sdk_spans = make_spans(n)
    table = Table(title=f"OTLP protobuf encoding of {n:,} spans (batches of {BATCH}), CPU us per span, "
                        f"median of {REPEATS}")
    table.add_column("spans")
    table.add_column("official", justify="right")
    table.add_column("synaplex", justify="right")
    table.add_column("ours / official", justify="right")
    table.add_column("speed-up", justify="right")
    for label, spans in (("SDK spans (TracerProvider)", sdk_spans),
                         ("ReadableSpan(...), dict attributes", as_light_spans(sdk_spans))):
        for batch in (spans[i:i + BATCH] for i in range(0, len(spans), BATCH)):
            if ExportTraceServiceRequest.FromString(encode_spans(batch)) != official_encode(batch):
                raise SystemExit("synaplex's encoding differs from the official one: fix it before timing it.")
        official, ours = per_span_us([lambda batch: official_encode(batch).SerializeToString(), encode_spans],
                                     spans)
        table.add_row(label, f"{official:.2f}", f"{ours:.2f}", f"{ours / official:.2f}", f"{official / ours:.1f}x")
    console = Console(width=110)
    console.print(table)
    console.print(f"official: trace_encoder.encode_spans(batch).SerializeToString(); synaplex: "
                  f"synaplex.observability.otlp.encode_spans(batch). {len(encode_spans(sdk_spans)) / n:.0f} bytes "
                  f"per span; both parse to equal messages.")


if __name__ == "__main__":
    main()
