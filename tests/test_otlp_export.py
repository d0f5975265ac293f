"""synaplex.observability.otlp: the hand-written OTLP protobuf encoder and the OTLP/HTTP exporter.

The encoder is checked against the official one (``opentelemetry-exporter-otlp-proto-common``):
our bytes, parsed with the official generated classes, must equal the official message, for
random spans made by a real TracerProvider and for ``ReadableSpan(...)`` built directly. The
exporter is checked against a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import logging
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from synaplex.backend.errors import InvalidInputError
from synaplex.observability import otlp
from synaplex.observability.otlp import OtlpSpanExporter, encode_spans

SECRET = "Bearer s3cret-t0ken-value"


def assert_same_as_official(spans) -> None:
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    official = official_encode(spans)
    assert ours == official, f"ours:\n{ours}\nofficial:\n{official}"


# --- the encoder, on spans of a real TracerProvider -----------------------------------------

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.one_of(st.floats(allow_nan=False), st.sampled_from([-0.0, 0.0, float("inf"), float("-inf")]))
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["", "héllo wörld ✓ 日本語 🚀", "x" * 256, "y" * 257]),
                 st.text(min_size=250, max_size=400))
SCALARS = st.one_of(TEXT, st.booleans(), INT64, st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63)]), FLOATS)
# the SDK keeps homogeneous sequences of str, bool, int or float only
LISTS = st.one_of(st.lists(TEXT, max_size=4), st.lists(st.booleans(), max_size=4), st.lists(INT64, max_size=4),
                  st.lists(FLOATS, max_size=4))
# keys from a small pool, so the same key comes with True, 1, 1.0, -0.0, ... across spans (the cache)
KEYS = st.one_of(st.sampled_from(["gen_ai.request.model", "n", "flag", "x", "ключ", "k" * 300]),
                 st.text(min_size=1, max_size=12))
ATTRIBUTES = st.dictionaries(KEYS, st.one_of(SCALARS, LISTS), max_size=8)
KINDS = st.sampled_from(list(SpanKind))
RESOURCES = st.sampled_from([{}, {"service.name": "a"}, {"service.name": "a", "deployment": 1},
                             {"service.name": "b", "flag": True, "ratio": 0.5, "tags": ("x", "y")}])

SPAN = st.fixed_dictionaries({
    "provider": st.integers(0, 2), "tracer": st.integers(0, 2), "name": st.one_of(TEXT, st.just("chat gpt-4o")),
    "kind": KINDS, "attributes": ATTRIBUTES,
    "events": st.lists(st.tuples(TEXT, ATTRIBUTES, st.integers(0, 2**62)), max_size=3),
    "links": st.lists(st.tuples(st.integers(0, 20), ATTRIBUTES, st.booleans()), max_size=3),
    "parent": st.one_of(st.none(), st.integers(0, 20), st.just("remote")),
    "status": st.one_of(st.none(), st.just(StatusCode.OK), st.tuples(st.just(StatusCode.ERROR), TEXT)),
    "start": st.integers(0, 2**63), "late_attributes": ATTRIBUTES,
})


def remote_context(remote: bool = True) -> SpanContext:
    return SpanContext(trace_id=0x0123456789ABCDEF0123456789ABCDEF, span_id=0xFEDCBA9876543210, is_remote=remote,
                       trace_flags=TraceFlags(TraceFlags.SAMPLED),
                       trace_state=TraceState([("vendor", "v1"), ("other", "x=y")]))


def build_spans(specs: list[dict], resources: list[dict]) -> list:
    memory = InMemorySpanExporter()
    providers = []
    for i in range(3):
        # the third provider's limits drop attributes, events and links: the dropped counts are encoded
        limits = SpanLimits(max_span_attributes=4, max_events=2, max_links=1, max_event_attributes=2,
                            max_link_attributes=2) if i == 2 else None
        provider = TracerProvider(resource=Resource.create(resources[i]), shutdown_on_exit=False, span_limits=limits)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        providers.append(provider)
    tracers = [[provider.get_tracer("synaplex", "1.0"),
                provider.get_tracer("other.lib", None, schema_url="https://opentelemetry.io/schemas/1.30.0"),
                provider.get_tracer("scoped", "2", attributes={"scope.attr": "v", "n": 3})]
               for provider in providers]
    made = []
    for spec in specs:
        tracer = tracers[spec["provider"]][spec["tracer"]]
        context = None
        if spec["parent"] == "remote":
            context = trace.set_span_in_context(NonRecordingSpan(remote_context()))
        elif spec["parent"] is not None and made:
            context = trace.set_span_in_context(made[spec["parent"] % len(made)])
        links = []
        for target, attributes, remote in spec["links"]:
            link_context = made[target % len(made)].get_span_context() if made and not remote else remote_context(remote)
            links.append(Link(link_context, attributes))
        span = tracer.start_span(spec["name"], context=context, kind=spec["kind"], attributes=spec["attributes"],
                                 links=links, start_time=spec["start"])
        for name, attributes, timestamp in spec["events"]:
            span.add_event(name, attributes, timestamp=timestamp)
        span.set_attributes(spec["late_attributes"])
        if spec["status"] is StatusCode.OK:
            span.set_status(Status(StatusCode.OK))
        elif spec["status"] is not None:
            span.set_status(Status(StatusCode.ERROR, spec["status"][1]))
        span.end(end_time=spec["start"] + 1000)
        made.append(span)
    return list(memory.get_finished_spans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(specs=st.lists(SPAN, min_size=1, max_size=8), resources=st.lists(RESOURCES, min_size=3, max_size=3))
def test_sdk_spans_encode_as_the_official_encoder(specs, resources):
    spans = build_spans(specs, resources)
    assert_same_as_official(spans)
    # twice: the second time from the caches, which must give the same bytes
    assert encode_spans(spans) == encode_spans(spans)
    assert_same_as_official(spans[::-1])


def test_equal_resources_of_different_providers_share_a_group_and_order_is_kept():
    spans = build_spans([{"provider": p, "tracer": t, "name": f"s{i}", "kind": SpanKind.INTERNAL, "attributes": {},
                          "events": [], "links": [], "parent": None, "status": None, "start": 10 + i,
                          "late_attributes": {}}
                         for i, (p, t) in enumerate([(0, 0), (1, 1), (2, 0), (0, 2), (1, 0), (2, 2)])],
                        [{"service.name": "same"}, {"service.name": "same"}, {"service.name": "other"}])
    request = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert len(request.resource_spans) == 2  # providers 0 and 1 have equal resources
    assert request == official_encode(spans)


def test_the_cache_never_mixes_true_one_and_one_point_zero():
    spans = build_spans([{"provider": 0, "tracer": 0, "name": "s", "kind": SpanKind.INTERNAL,
                          "attributes": {"v": value}, "events": [], "links": [], "parent": None, "status": None,
                          "start": 1, "late_attributes": {}}
                         for value in [True, 1, 1.0, 0.0, -0.0, False, 0, "1", ("1",), (True,), (1,)]],
                        [{}, {}, {}])
    for _ in range(2):  # cold, then cached
        assert_same_as_official(spans)
    values = [span.attributes[0].value for span in
              ExportTraceServiceRequest.FromString(encode_spans(spans)).resource_spans[0].scope_spans[0].spans]
    assert [v.WhichOneof("value") for v in values] == [
        "bool_value", "int_value", "double_value", "double_value", "double_value", "bool_value", "int_value",
        "string_value", "array_value", "array_value", "array_value"]
    assert str(values[4].double_value) == "-0.0"


def test_the_attribute_cache_is_bounded():
    otlp._KV_CACHE.clear()
    for i in range(otlp._KV_CACHE_MAX + 10):
        otlp._attributes({"k": i}, b"\x4a")
    assert 0 < len(otlp._KV_CACHE) <= otlp._KV_CACHE_MAX
    otlp._KV_CACHE.clear()
    otlp._attributes({"long": "z" * 257, "tags": ("a" * 200, "b" * 100), "list": ["x"], "short": ("a", "b")}, b"\x4a")
    assert list(otlp._KV_CACHE) == [("short", tuple, ("a", "b"))]


# --- the encoder, on ReadableSpan(...) built directly --------------------------------------

ANY_VALUE = st.recursive(
    st.one_of(st.none(), SCALARS, st.binary(max_size=10), st.integers(min_value=2**63, max_value=2**70)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)
PLAIN_ATTRIBUTES = st.dictionaries(KEYS, ANY_VALUE, max_size=6)


def readable_span(i: int, attributes: dict, *, resource=None, scope=None, parent=None, events=(), links=(),
                  status=None, kind=SpanKind.INTERNAL) -> ReadableSpan:
    context = SpanContext(trace_id=0xABCDEF + i, span_id=0x1000 + i, is_remote=False,
                          trace_flags=TraceFlags(TraceFlags.SAMPLED))
    kwargs = {"status": status} if status is not None else {}
    return ReadableSpan(name=f"synaplex.module m{i}", context=context, parent=parent, resource=resource,
                        attributes=attributes, events=events, links=links, kind=kind, start_time=1_700_000_000_000 + i,
                        end_time=1_700_000_000_500 + i, instrumentation_scope=scope, **kwargs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attributes=st.lists(PLAIN_ATTRIBUTES, min_size=1, max_size=4), event_attributes=PLAIN_ATTRIBUTES)
def test_readable_spans_with_plain_dict_attributes_encode_as_the_official_encoder(attributes, event_attributes):
    resource = Resource({"service.name": "synaplex", "host": "h"})
    scope = InstrumentationScope("synaplex", "0.1", None, {"a": 1})
    parent = SpanContext(trace_id=0xABCDEF, span_id=0x999, is_remote=True)
    spans = [readable_span(i, attrs, resource=resource if i % 2 else None, scope=scope if i % 3 else None,
                           parent=parent if i % 2 else None,
                           events=(Event("ev", event_attributes, timestamp=5),) if i == 0 else (),
                           links=(Link(parent, event_attributes),) if i == 0 else (),
                           status=Status(StatusCode.ERROR, "ValueError: bad") if i == 1 else None,
                           kind=SpanKind.CLIENT if i == 2 else SpanKind.INTERNAL)
             for i, attrs in enumerate(attributes)]
    assert_same_as_official(spans)


def test_values_the_official_encoder_cannot_encode_are_left_out_alike():
    spans = [readable_span(0, {"ok": "yes", "big": 2**64, "object": object(), "nested": [1, [2, {"k": None}]],
                               "bad_list": [1, object()], "none": None, "bytes": b"\x00\xff", "int_max": 2**63 - 1,
                               "int_min": -(2**63), "after": 7})]
    assert_same_as_official(spans)
    keys = [kv.key for kv in ExportTraceServiceRequest.FromString(encode_spans(spans))
            .resource_spans[0].scope_spans[0].spans[0].attributes]
    assert keys == ["ok", "nested", "none", "bytes", "int_max", "int_min", "after"]


def test_empty_batch_and_unended_span():
    assert encode_spans([]) == official_encode([]).SerializeToString() == b""
    span = ReadableSpan(name="open", context=SpanContext(1, 2, False), start_time=5)
    assert_same_as_official([span])


# --- the exporter against a real HTTP receiver ------------------------------------------------

class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1 that records each POST and answers from a script."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict]] = []  # popped in order; then 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "content_types": self.headers.get_all("Content-Type"), "body": body})
                status, headers = receiver.replies.pop(0) if receiver.replies else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def spans():
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "synaplex-test"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("synaplex", "0.1")
    with tracer.start_as_current_span("synaplex.program p", attributes={"synaplex.program.name": "p"}):
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT,
                                          attributes={"gen_ai.request.model": "gpt-4o"}):
            pass
    return list(memory.get_finished_spans())


def test_export_posts_the_protobuf_request(receiver, spans):
    exporter = OtlpSpanExporter(receiver.url, headers={"Authorization": SECRET, "x-custom": "yes",
                                                       "content-type": "text/plain"})
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    [request] = receiver.requests
    assert request["path"] == "/v1/traces"
    assert request["content_types"] == ["application/x-protobuf"]  # ours, once, whatever the headers given say
    assert request["headers"]["authorization"] == SECRET
    assert request["headers"]["x-custom"] == "yes"
    assert "content-encoding" not in request["headers"]
    message = ExportTraceServiceRequest.FromString(request["body"])
    assert message == official_encode(spans)
    assert [s.name for s in message.resource_spans[0].scope_spans[0].spans] == ["chat gpt-4o", "synaplex.program p"]
    exporter.shutdown()


def test_a_batch_span_processor_exports_through_it(receiver):
    exporter = OtlpSpanExporter(receiver.url, headers={})
    provider = TracerProvider(resource=Resource.create({"service.name": "batch"}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("synaplex")
    for i in range(5):
        with tracer.start_as_current_span(f"span {i}", attributes={"i": i}):
            pass
    assert provider.force_flush()
    provider.shutdown()
    names = [span.name for request in receiver.requests
             for span in ExportTraceServiceRequest.FromString(request["body"]).resource_spans[0].scope_spans[0].spans]
    assert sorted(names) == [f"span {i}" for i in range(5)]
    assert exporter.export([]) is SpanExportResult.FAILURE  # the provider's shutdown shut it down


def test_url_userinfo_is_sent_as_basic_auth_and_never_logged(receiver, spans, caplog):
    exporter = OtlpSpanExporter(receiver.url.replace("http://", "http://us%40er:pa55word@"), headers={})
    with caplog.at_level(logging.DEBUG):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert receiver.requests[0]["headers"]["authorization"] == "Basic " + base64.b64encode(b"us@er:pa55word").decode()
    assert "pa55word" not in caplog.text and "pa55word" not in repr(exporter)
    exporter.shutdown()


def test_gzip_compression(receiver, spans):
    exporter = OtlpSpanExporter(receiver.url, headers={}, compression="gzip")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    [request] = receiver.requests
    assert request["headers"]["content-encoding"] == "gzip"
    assert ExportTraceServiceRequest.FromString(gzip.decompress(request["body"])) == official_encode(spans)
    exporter.shutdown()


def test_a_503_with_retry_after_is_retried(receiver, spans):
    receiver.replies = [(503, {"Retry-After": "0"})]
    exporter = OtlpSpanExporter(receiver.url, headers={}, timeout=5)
    started = time.monotonic()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert time.monotonic() - started < 2  # Retry-After: 0, not the 1 s backoff
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    exporter.shutdown()


def test_retries_stop_after_a_bounded_number_of_attempts(receiver, spans, caplog):
    receiver.replies = [(429, {"Retry-After": "0"})] * 50
    exporter = OtlpSpanExporter(receiver.url, headers={}, timeout=5)
    with caplog.at_level(logging.WARNING, logger="synaplex.observability"):
        assert exporter.export(spans) is SpanExportResult.FAILURE
    assert len(receiver.requests) == otlp._MAX_ATTEMPTS
    assert "HTTP 429" in caplog.text
    exporter.shutdown()


def test_a_retry_after_past_the_timeout_is_not_waited_for(receiver, spans, caplog):
    receiver.replies = [(503, {"Retry-After": "30"})]
    exporter = OtlpSpanExporter(receiver.url, headers={}, timeout=1)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="synaplex.observability"):
        assert exporter.export(spans) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 1
    assert len(receiver.requests) == 1
    assert "HTTP 503" in caplog.text and "timeout" in caplog.text
    exporter.shutdown()


def test_a_400_fails_at_once_and_logs_no_secret(receiver, spans, caplog):
    receiver.replies = [(400, {})]
    endpoint = receiver.url.replace("http://", "http://user:pa55word@")
    exporter = OtlpSpanExporter(endpoint, headers={"Authorization": SECRET})
    with caplog.at_level(logging.DEBUG):
        assert exporter.export(spans) is SpanExportResult.FAILURE
    assert len(receiver.requests) == 1
    assert receiver.requests[0]["headers"]["authorization"] == SECRET  # the header given wins over the userinfo
    warnings = [r for r in caplog.records if r.name == "synaplex.observability" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 400" in warnings[0].getMessage()
    assert f"127.0.0.1:{receiver.port}/v1/traces" in warnings[0].getMessage()
    assert "s3cret" not in caplog.text and "pa55word" not in caplog.text
    exporter.shutdown()


def test_a_closed_port_fails_within_the_timeout(spans, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exporter = OtlpSpanExporter(f"http://127.0.0.1:{port}/v1/traces", headers={"Authorization": SECRET}, timeout=2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="synaplex.observability"):
        assert exporter.export(spans) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 2.5
    assert "ConnectError" in caplog.text and f"127.0.0.1:{port}" in caplog.text
    assert "s3cret" not in caplog.text
    exporter.shutdown()


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"])
def test_env_headers_are_used_when_headers_is_none(receiver, spans, monkeypatch, variable):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    monkeypatch.setenv(variable, "x-api-key=env%20s3cret,x-other=2")
    exporter = OtlpSpanExporter(receiver.url)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    headers = receiver.requests[0]["headers"]
    assert headers["x-api-key"] == "env s3cret" and headers["x-other"] == "2"
    assert "s3cret" not in repr(exporter)
    # the traces variable wins over the general one; headers={} means none at all
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=general")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=traces")
    for other in (OtlpSpanExporter(receiver.url), OtlpSpanExporter(receiver.url, headers={})):
        other.export(spans)
        other.shutdown()
    assert receiver.requests[1]["headers"]["x-api-key"] == "traces"
    assert "x-api-key" not in receiver.requests[2]["headers"]
    exporter.shutdown()


def test_bad_compression_raises_a_typed_error():
    with pytest.raises(InvalidInputError) as error:
        OtlpSpanExporter("http://127.0.0.1:4318/v1/traces", compression="zstd")
    assert "compression='zstd'" in str(error.value)
    assert "None" in str(error.value) and "'gzip'" in str(error.value)
    with pytest.raises(InvalidInputError, match="http"):
        OtlpSpanExporter("localhost:4318")
    with pytest.raises(InvalidInputError, match="http"):
        OtlpSpanExporter("http://[::1")
    with pytest.raises(InvalidInputError) as error:
        OtlpSpanExporter("http://127.0.0.1:4318/v1/traces", headers={"Authorization": SECRET, "x-n": 123})
    assert "'x-n': int" in str(error.value) and "s3cret" not in str(error.value)


def test_repr_hides_headers_and_userinfo():
    exporter = OtlpSpanExporter("https://me:pa55word@collector.example:4318/v1/traces", headers={"Authorization": SECRET})
    text = repr(exporter)
    assert "collector.example:4318/v1/traces" in text
    assert "s3cret" not in text and "pa55word" not in text and "Authorization" not in text
    exporter.shutdown()


def test_shutdown_then_export_fails(receiver, spans):
    exporter = OtlpSpanExporter(receiver.url, headers={})
    assert exporter.force_flush() is True
    exporter.shutdown()
    exporter.shutdown()  # twice is fine
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert receiver.requests == []


def test_a_receiver_answering_an_endless_body_is_not_read(spans):
    """A hostile or broken receiver that announces a huge body and trickles it: the exporter needs
    the status line only, so it neither waits for nor buffers the body."""
    sent = threading.Event()

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024**3))  # 10 GiB announced
            self.end_headers()
            try:
                for _ in range(600):  # a chunk every 50 ms for up to 30 s
                    self.wfile.write(b"x" * 65536)
                    self.wfile.flush()
                    sent.set()
                    time.sleep(0.05)
            except OSError:
                pass  # the client hung up: what it should do

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        exporter = OtlpSpanExporter(f"http://127.0.0.1:{server.server_address[1]}/v1/traces", timeout=20)
        started = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert time.monotonic() - started < 5  # not the 30 s of the trickle, nor the 20 s timeout
        exporter.shutdown()
    finally:
        server.shutdown()
        server.server_close()
