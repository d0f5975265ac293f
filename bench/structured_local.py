"""Structured output on the embedded model, with default settings: validity and latency.

    python bench/structured_local.py                      # 24 schemas x 10 prompts (~5-10 minutes on 2 cores)
    python bench/structured_local.py --schemas 8 --prompts 3
    python bench/structured_local.py --no-guard --repeat-penalty 1.3   # the alternatives, for comparison

Every call is ``await LanguageModel(model="local")(messages, schema=...)`` with no tuning: the
default token budget, string and array bounds and repetition guard. The cases come from
``tests/structured_cases.py``: generated schemas (1 to 10 fields; nested objects, arrays of
strings and of objects, enums, bounded numbers, optional fields, long descriptions; the first
one is issue 10's ``Reply``) crossed with ten varied prompts (one asks for endless repetition,
one is a long document that fills part of the context).

A call is valid when it returns a value that validates against the DataModel's own schema;
any exception (a StructuredOutputError, a context error) counts as invalid and is listed.
Printed: per schema (fields, closing reserve, valid/total, latency p50/p95/max, output tokens
p50/max, how many calls the repetition guard or the budget closed), then the totals with
the targets (100% valid, p95 <= 10 s, max <= 30 s on 2 cores). The first call (loading the
model, building the vocabulary tables) is a warm-up and not timed.

``--no-guard`` makes the JSON guard inert (the same token budget, but nothing closes the JSON
early: a reply that reaches it is cut) and ``--repeat-penalty`` passes llama.cpp's repeat
penalty: together they measure the alternatives the guard was chosen over.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jsonschema
from rich.console import Console
from rich.table import Table

import synaplex
from synaplex.lm.json_guard import JsonBudgetGuard
from tests.structured_cases import PROMPTS, schemas

GUARD_CALL = JsonBudgetGuard.__call__


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(n_schemas: int, n_prompts: int, threads: int | None, params: dict) -> None:
    lm = synaplex.LanguageModel(model="local", n_threads=threads, **params)
    cases = schemas(n_schemas)
    await lm([{"role": "user", "content": "warm up"}], schema=cases[0][1].get_schema())
    settings = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
    if JsonBudgetGuard.__call__ is not GUARD_CALL:
        settings += ", guard off"
    table = Table(title=f"Structured output, embedded model, {settings} ({n_schemas} schemas x {n_prompts} prompts)")
    for column in ("schema", "fields", "reserve", "valid", "p50 s", "p95 s", "max s", "tokens p50", "tokens max",
                   "repeats closed", "budget closed"):
        table.add_column(column, justify="right" if column != "schema" else "left")
    latencies, tokens, failures, valid_total, total = [], [], [], 0, 0
    for name, model in cases:
        schema = model.get_schema()
        row_lat, row_tok, row_valid, repeats, budget = [], [], 0, 0, 0
        for prompt in PROMPTS[:n_prompts]:
            start = time.perf_counter()
            try:
                value = await lm([{"role": "user", "content": prompt}], schema=schema)
                jsonschema.validate(value, schema)
                row_valid += 1
            except Exception as error:  # counted and listed, never hidden
                failures.append((name, prompt[:40], f"{type(error).__name__}: {str(error)[:160]}"))
            row_lat.append(time.perf_counter() - start)
            row_tok.append(lm.last_usage.output_tokens)
            guard = (lm._adapter.last_guard or {}).get("guard")
            repeats += bool(guard and guard.repetitions)
            budget += bool(guard and guard.budget_closed)
        latencies += row_lat
        tokens += row_tok
        valid_total += row_valid
        total += len(row_lat)
        reserve = (lm._adapter.last_guard or {}).get("reserve", "-")
        print(f"{name}: {row_valid}/{len(row_lat)} valid, max {max(row_lat):.1f} s, tokens max {max(row_tok)}",
              file=sys.stderr, flush=True)  # progress, and what survives an interrupted run
        table.add_row(name, str(len(schema.get("properties", {}))), str(reserve), f"{row_valid}/{len(row_lat)}",
                      f"{statistics.median(row_lat):.2f}", f"{percentile(row_lat, 0.95):.2f}", f"{max(row_lat):.2f}",
                      f"{statistics.median(row_tok):.0f}", str(max(row_tok)), str(repeats), str(budget))
    console = Console(width=140)
    console.print(table)
    p95, worst = percentile(latencies, 0.95), max(latencies)
    summary = Table(title="Totals and targets (2 cores)")
    for column in ("calls", "valid", "p50 s", "p95 s (target <= 10)", "max s (target <= 30)", "tokens p50",
                   "tokens p95", "tokens max"):
        summary.add_column(column, justify="right")
    summary.add_row(str(total), f"{valid_total}/{total} ({100 * valid_total / total:.1f}%)",
                    f"{statistics.median(latencies):.2f}", f"{p95:.2f}", f"{worst:.2f}",
                    f"{statistics.median(tokens):.0f}", f"{percentile(tokens, 0.95):.0f}", str(max(tokens)))
    console.print(summary)
    for name, prompt, error in failures:
        console.print(f"[red]invalid[/red] {name} / {prompt!r}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", type=int, default=24)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-guard", action="store_true", help="the same budget, but never close early")
    parser.add_argument("--repeat-penalty", type=float, default=None, help="llama.cpp's repeat penalty")
    opts = parser.parse_args()
    if opts.no_guard:
        JsonBudgetGuard.__call__ = lambda self, input_ids, scores: scores
    params = {} if opts.repeat_penalty is None else {"repeat_penalty": opts.repeat_penalty}
    asyncio.run(run(opts.schemas, min(opts.prompts, len(PROMPTS)), opts.threads, params))


if __name__ == "__main__":
    main()
