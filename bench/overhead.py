"""Framework overhead of synaplex, measured with a scripted language model that answers instantly.

Run it from anywhere (it puts the repository root on ``sys.path``)::

    python bench/overhead.py            # the table (about 10-20 s)
    python bench/overhead.py --profile  # also cProfile one-Generator program calls

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

Targets: <= 0.25 ms of CPU per module call; ``import synaplex`` < 300 ms (wall).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import synaplex  # noqa: E402

REPEATS = 7
MODULE_CPU_TARGET_MS = 0.25
IMPORT_TARGET_MS = 300.0


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


def main() -> None:
    rows = asyncio.run(run_scenarios())
    cpu, wall = time_import("import synaplex")
    rows.append(("import synaplex (fresh process)", 0, cpu, wall, "import"))
    cpu, wall = time_import("import synaplex; synaplex.Program; synaplex.Generator")
    rows.append(("import synaplex + first use of Program, Generator", 0, cpu, wall, "import"))
    print_table(rows)
    if "--profile" in sys.argv[1:]:
        profile_one_generator()


if __name__ == "__main__":
    main()
