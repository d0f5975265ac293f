"""Framework overhead of synaplex, measured with a scripted language model that answers instantly.

Run it from anywhere (it puts the repository root on ``sys.path``)::

    python bench/overhead.py            # the table (about 10-20 s)
    python bench/overhead.py --profile  # also cProfile one-Generator program calls
    python bench/overhead.py --tracing  # only the OpenTelemetry tracing table (about 15 s)

Every scenario below is run N times per repeat, 7 repeats, after a warm-up and a
``gc.collect()``; the table shows the median per run of CPU time (``time.process_time``)
and wall time (``time.perf_counter``). Since the LM does no work, the time is the cost of
synaplex itself: the LanguageModel facade, the modules, the program graph and asyncio.

1. ``await lm(messages, schema=...)`` alone (the LM facade: the reference row);
2. ``await program(Query(...))`` for a functional program with one Generator;
3. a ``Sequential`` of Input + 10 Generators (Answer -> Answer);
4. a functional program with 10 Generators on the same input merged with ``&``
   (10 Generators + 9 And modules);
5. ``await program.predict(inputs, batch_size=32)`` over 1,000 inputs (one-Generator program);
6. ``import synaplex`` in a fresh interpreter, and the same plus the first use of
   ``synaplex.Program`` and ``synaplex.Generator`` (the public API is lazily imported).
7. OpenTelemetry tracing (``--tracing`` runs only this part): the 10-Generator Sequential (21
   spans a call: the program, 10 modules, 10 LM calls) with tracing never enabled; enabled
   with a ``BatchSpanProcessor`` whose exporter drops the spans (their cost in the calling
   thread), or encodes them to OTLP protobuf as ``enable_observability(endpoint=...)`` does
   before it sends (synaplex's encoder, ``synaplex.observability.otlp``: the export thread's CPU
   added); the same with ``record_content=True``; for scale, encoded by the OpenTelemetry OTLP
   exporter's own encoder (an ``OTLPSpanExporter`` passed as ``exporter=``); and disabled again.
   15 rounds interleaved, CPU of every thread. Per span: (on - off) / 21, where off is the
   median of both off rows' samples (the second off row against the first shows the noise). The off path is one
   global read per call, timed alone with ``timeit``; a bare SDK span is timed for scale.

Targets: <= 0.25 ms of CPU per module call; ``import synaplex`` < 300 ms (wall); tracing on
<= 30 us of CPU per span, tracing off: no measurable difference.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import platform
import pstats
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import synaplex  # noqa: E402

REPEATS = 7
MODULE_CPU_TARGET_MS = 0.25
IMPORT_TARGET_MS = 300.0
SPAN_TARGET_US = 30.0


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


def reply(messages, schema):
    """The scripted LM's answer: a callable, so it never runs out."""
    return {"answer": "Paris"}


async def measure(fn, calls: int, lm) -> tuple[float, float]:
    """Median (CPU ms, wall ms) per call of ``await fn()`` over REPEATS runs of ``calls`` calls."""
    for _ in range(min(calls, 50)):  # warm-up: caches, lazy imports, first build
        await fn()
    cpu, wall = [], []
    for _ in range(REPEATS):
        lm._adapter.requests.clear()  # the scripted LM records every request: keep memory flat
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            await fn()
        cpu.append((time.process_time() - c0) / calls)
        wall.append((time.perf_counter() - w0) / calls)
    lm._adapter.requests.clear()
    return statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3


async def build_programs(lm):
    x = synaplex.Input(data_model=Query)
    one = synaplex.Program(inputs=x, outputs=await synaplex.Generator(data_model=Answer, language_model=lm)(x),
                           name="one_generator")
    chain = synaplex.Sequential([synaplex.Input(data_model=Query)]
                                + [synaplex.Generator(data_model=Answer, language_model=lm) for _ in range(10)],
                                name="chain_of_10")
    branches = [await synaplex.Generator(data_model=Answer, language_model=lm)(x) for _ in range(10)]
    merged = branches[0]
    for branch in branches[1:]:
        merged = merged & branch
    parallel = synaplex.Program(inputs=x, outputs=merged, name="parallel_10")
    return one, chain, parallel


async def run_scenarios() -> list[tuple]:
    """Rows of (scenario, module calls per run, CPU ms per run, wall ms per run, target kind)."""
    lm = synaplex.LanguageModel(model="scripted", responses=reply)
    one, chain, parallel = await build_programs(lm)
    query = Query(query="What is the capital of France?")
    messages = one.get_module(index=1).format_messages(query)
    schema = Answer.get_schema()
    inputs = [Query(query=f"Question number {i}?") for i in range(1000)]

    scenarios = [
        ("LM facade only: await lm(messages, schema=...)", 1, 2000, lambda: lm(messages, schema=schema), "ref"),
        ("Program: Input -> 1 Generator", 1, 2000, lambda: one(query), "module"),
        ("Sequential: Input -> 10 Generators", 10, 300, lambda: chain(query), "module"),
        ("Program: 10 parallel Generators merged with & (+9 And)", 19, 300, lambda: parallel(query), "module"),
        ("predict(1,000 inputs, batch_size=32), 1 Generator", 1000, 1,
         lambda: one.predict(inputs, batch_size=32), "module"),
    ]
    rows = []
    for name, modules, calls, fn, kind in scenarios:
        cpu, wall = await measure(fn, calls, lm)
        rows.append((name, modules, cpu, wall, kind))
    return rows


def time_import(statement: str, runs: int = REPEATS) -> tuple[float, float]:
    """Median (CPU ms, wall ms) of ``statement`` in fresh interpreters, timed inside the child."""
    code = ("import time; c=time.process_time(); t=time.perf_counter(); " + statement
            + "; print(time.process_time()-c, time.perf_counter()-t)")
    cpu, wall = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        c, w = map(float, out.stdout.split())
        cpu.append(c)
        wall.append(w)
    return statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3


def target_cell(kind: str, per_module_cpu: float, wall: float) -> str:
    if kind == "ref":
        return "reference (no module)"
    if kind == "import":
        ok = wall < IMPORT_TARGET_MS
        return f"< {IMPORT_TARGET_MS:.0f} ms wall: {'OK' if ok else 'MISSED'}"
    ok = per_module_cpu <= MODULE_CPU_TARGET_MS
    return f"<= {MODULE_CPU_TARGET_MS} ms/module: {'OK' if ok else 'MISSED'}"


def print_table(rows: list[tuple]) -> None:
    console = Console(width=160)
    console.print(f"synaplex {synaplex.__version__} framework overhead (scripted LM answering instantly)")
    console.print(f"Python {platform.python_version()} ({platform.python_implementation()}) on "
                  f"{platform.platform()}, {platform.machine()}")
    console.print(f"Note: the machine is noisy; every value is the median of {REPEATS} repeats, after a "
                  "warm-up and gc.collect(). CPU = time.process_time, wall = time.perf_counter.")
    table = Table(show_lines=False)
    for column, justify in [("scenario", "left"), ("module calls / run", "right"), ("CPU ms / run", "right"),
                            ("wall ms / run", "right"), ("CPU ms / module call", "right"), ("target", "left")]:
        table.add_column(column, justify=justify)
    for name, modules, cpu, wall, kind in rows:
        per_module = cpu / modules if modules else float("nan")
        table.add_row(name, str(modules) if modules else "-", f"{cpu:.3f}", f"{wall:.3f}",
                      f"{per_module:.4f}" if modules else "-", target_cell(kind, per_module, wall))
    console.print(table)
    predict = next(r for r in rows if r[0].startswith("predict"))
    console.print(f"predict: {predict[2]:.1f} ms CPU / {predict[3]:.1f} ms wall for 1,000 inputs = "
                  f"{predict[2] / 1000:.4f} ms CPU / {predict[3] / 1000:.4f} ms wall per example.")


def profile_one_generator(calls: int = 3000, top: int = 20) -> None:
    """cProfile ``calls`` one-Generator program calls; print the top functions by cumulative time."""
    async def main():
        lm = synaplex.LanguageModel(model="scripted", responses=reply)
        one, _, _ = await build_programs(lm)
        query = Query(query="What is the capital of France?")
        await one(query)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await one(query)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)

    asyncio.run(main())


def _exporters():
    """Three SpanExporters that send nothing: one drops each batch (the cost of the spans in the
    calling thread); one encodes it to OTLP protobuf first with synaplex's encoder, as
    ``enable_observability(endpoint=...)`` does before it sends; one with the OpenTelemetry OTLP
    exporter's encoder (plus the export thread's encoding, the CPU of an export without the network)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415 - the otel extra
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: PLC0415 - the otel extra

    from synaplex.observability import otlp  # noqa: PLC0415 - only this part of the benchmark

    class Dropping(SpanExporter):
        def __init__(self):
            self.spans = 0

        def export(self, spans):
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    class Encoding(Dropping):
        def export(self, spans):
            otlp.encode_spans(spans)
            return super().export(spans)

    class OfficialEncoding(Dropping):
        def export(self, spans):
            encode_spans(spans).SerializeToString()
            return super().export(spans)

    return {"drop": Dropping(), "encode": Encoding(), "official": OfficialEncoding()}


SPANS_PER_CALL = 21  # the Sequential of 10 Generators: the program, 10 modules, 10 LM calls
TRACING_ROUNDS = 15  # more than REPEATS: a span costs a few us, the machine's noise is of that order


async def tracing_overhead(calls: int = 200) -> tuple[list[tuple], dict]:
    """Rows of (mode, CPU ms per call, wall ms per call) and facts (the off check's ns, a bare
    SDK span's us, spans exported)."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - the otel extra
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415 - the otel extra

    from synaplex.observability import tracing  # noqa: PLC0415 - only this part of the benchmark

    lm = synaplex.LanguageModel(model="scripted", responses=reply)
    _, chain, _ = await build_programs(lm)
    query = Query(query="What is the capital of France?")
    exporters = _exporters()
    providers = {}
    for name, exporter in exporters.items():
        providers[name] = TracerProvider()
        providers[name].add_span_processor(BatchSpanProcessor(exporter))
    modes = {"off (never enabled)": None, "on: spans made, dropped by the exporter": ("drop", False),
             "on: spans made and encoded to OTLP protobuf": ("encode", False),
             "on: encoded, record_content=True": ("encode", True),
             "for scale: encoded by the OTel OTLP exporter's encoder": ("official", False),
             "off (disabled again)": None}
    samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    for round_ in range(TRACING_ROUNDS + 1):  # round 0 warms every mode up; then the modes alternate
        for mode, setting in modes.items():
            if setting is None:
                synaplex.disable_observability()
            else:
                synaplex.enable_observability(tracer_provider=providers[setting[0]], record_content=setting[1])
            lm._adapter.requests.clear()
            gc.collect()
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await chain(query)
            if setting is not None:
                providers[setting[0]].force_flush()  # this round's export is counted in it
            if round_:
                samples[mode].append(((time.process_time() - c0) / calls, (time.perf_counter() - w0) / calls))
    synaplex.disable_observability()
    made = (TRACING_ROUNDS + 1) * calls * SPANS_PER_CALL * sum(setting is not None for setting in modes.values())
    exported = sum(exporter.spans for exporter in exporters.values())  # a full queue drops spans: none may be
    tracer = providers["drop"].get_tracer("bench")
    bare = []
    for _ in range(REPEATS):
        c0 = time.process_time()
        for _ in range(20_000):
            with tracer.start_as_current_span("bare"):
                pass
        providers["drop"].force_flush()
        bare.append((time.process_time() - c0) / 20_000)
    for provider in providers.values():
        provider.shutdown()
    rows = [(mode, statistics.median(c for c, _ in values) * 1e3, statistics.median(w for _, w in values) * 1e3)
            for mode, values in samples.items()]
    off = [c for mode, values in samples.items() if mode.startswith("off") for c, _ in values]
    check_ns = min(timeit.repeat("tracing.TRACER is not None", globals={"tracing": tracing}, number=1_000_000,
                                 repeat=5)) * 1e3
    return rows, {"off_ms": statistics.median(off) * 1e3, "check_ns": check_ns,
                  "bare_us": statistics.median(bare) * 1e6,
                  "made": made, "exported": exported}


def print_tracing(rows: list[tuple], facts: dict) -> None:
    console = Console(width=160)
    table = Table(title=f"OpenTelemetry tracing: Sequential of 10 Generators, {SPANS_PER_CALL} spans per call")
    for column in ("tracing", "CPU ms / call", "wall ms / call", "CPU us / span over off", "target"):
        table.add_column(column, justify="left" if column in ("tracing", "target") else "right")
    for mode, cpu, wall in rows:
        # "on" rows against both off rows pooled (the median of their 2 x TRACING_ROUNDS samples);
        # the off rows against each other: their difference is the machine's noise
        off = facts["off_ms"] if mode.startswith(("on", "for scale")) else rows[0][1]
        per_span = (cpu - off) * 1e3 / SPANS_PER_CALL
        if "record_content" in mode:
            target = "opt-in content: no target"
        elif mode.startswith("on"):
            target = f"<= {SPAN_TARGET_US:.0f} us/span: {'OK' if per_span <= SPAN_TARGET_US else 'MISSED'}"
        elif mode.startswith("for scale"):
            target = "not synaplex's path: for scale"
        else:
            target = "reference" if mode.startswith("off (never") else "off: the difference is noise"
        table.add_row(mode, f"{cpu:.3f}", f"{wall:.3f}", f"{per_span:+.1f}", target)
    console.print(table)
    console.print(f"A bare OpenTelemetry SDK span (start_as_current_span, no attribute, dropped): "
                  f"{facts['bare_us']:.1f} us CPU. The off path is one global read per program, module, LM or "
                  f"tool call: {facts['check_ns']:.0f} ns (timeit), {SPANS_PER_CALL * facts['check_ns'] / 1e3:.2f} "
                  f"us per call of this program. Spans made {facts['made']:,}, exported {facts['exported']:,}"
                  f"{'' if facts['exported'] == facts['made'] else ' (SPANS DROPPED: the on rows are too low)'}.")


def main() -> None:
    if "--tracing" in sys.argv[1:]:
        print_tracing(*asyncio.run(tracing_overhead()))
        return
    rows = asyncio.run(run_scenarios())
    cpu, wall = time_import("import synaplex")
    rows.append(("import synaplex (fresh process)", 0, cpu, wall, "import"))
    cpu, wall = time_import("import synaplex; synaplex.Program; synaplex.Generator")
    rows.append(("import synaplex + first use of Program, Generator", 0, cpu, wall, "import"))
    print_table(rows)
    print_tracing(*asyncio.run(tracing_overhead()))
    if "--profile" in sys.argv[1:]:
        profile_one_generator()


if __name__ == "__main__":
    main()
