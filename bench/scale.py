"""Throughput of batch prediction: in-process ``program.predict`` against ``synaplex.ray.predict``.

Run it from anywhere (it puts the repository root on ``sys.path``; needs ``synaplex[ray]``)::

    python bench/scale.py                         # the table (~2-3 min on 2 cores)
    python bench/scale.py --rows 2000 --concurrency 8 32 128 --actors 1 2
    python bench/scale.py --prefix-only           # only the prefix-cache table (no Ray)

First, the share of the prompt tokens a server's prefix cache can reuse over a batch
(``synaplex.ray.prefix_share``): a Generator on GSM8K's output model with 0, 1 and 3 few-shot
examples, over 200 test questions (GSM8K from ``SYNAPLEX_DATASETS_DIR`` or the cache).

The program is one Generator on a scripted model that sleeps ``--latency`` (50 ms) per call,
as a remote model would, and answers at once. A local Ray cluster is started with
``ray.init(num_cpus=2, include_dashboard=False)``.

For each setting the table shows the wall time and rows/s, and the bound
``rows × latency ÷ (actors × concurrency)``: with ``c`` calls in flight each taking
``latency``, no scheduler can do better. Ray's *fixed* cost (starting the actors, loading the
program in each, the job's planning) is measured with a job of one row per actor, after a
warm-up job; "rows/s after start" leaves it out, and the *per-row* overhead of Ray is
``(wall − fixed − bound) ÷ rows``, what is left: the driver's
batching, moving rows to the actors, asyncio in the actor, writing the Parquet shards,
and any CPU the 2 cores could not give.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import synaplex

LATENCY = 0.05


class Query(synaplex.DataModel):
    query: str


class Answer(synaplex.DataModel):
    answer: str


async def slow_reply(messages, schema):
    # defined in __main__, so Ray pickles it by value to the actors (custom_objects below)
    await asyncio.sleep(LATENCY)
    return {"answer": "ok"}


async def build_program():
    lm = synaplex.LanguageModel(model="scripted", responses=slow_reply)
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="bench")


def in_process(program, rows: int, concurrency: int) -> float:
    x = [Query(query=f"q{i}") for i in range(rows)]
    began = time.perf_counter()
    outputs = asyncio.run(program.predict(x, batch_size=concurrency))
    assert len(outputs) == rows
    return time.perf_counter() - began


def on_ray(ray, program, rows: int, actors: int, concurrency: int, batch_size: int) -> tuple[float, int]:
    import synaplex.ray

    dataset = ray.data.from_items([{"query": f"q{i}"} for i in range(rows)]).materialize()
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        result = synaplex.ray.predict(program, dataset, output_path=folder, batch_size=batch_size,
                                      concurrency=concurrency, num_actors=actors,
                                      custom_objects={"slow_reply": slow_reply})
        seconds = time.perf_counter() - began
    assert result.rows == rows and result.errors == 0 and result.usage.calls == rows
    return seconds, result.shards_written


def prefix_table(questions: int = 200) -> None:
    import synaplex.ray

    gsm8k = synaplex.datasets.gsm8k
    try:
        (x_train, y_train), (x_test, _) = gsm8k.load_data()
    except synaplex.errors.SynaplexError as error:
        print(f"(prefix table skipped: {error})")
        return
    print("| few-shot examples | shared prefix tokens | mean prompt tokens | shared share | cache-hit share |")
    print("|---|---|---|---|---|")
    for count in (0, 1, 3):
        examples = [{"inputs": x_train[i].get_json(), "outputs": y_train[i].get_json()} for i in range(count)]
        generator = synaplex.Generator(data_model=gsm8k.get_output_data_model(), language_model="scripted",
                                       examples=examples)
        share = synaplex.ray.prefix_share([generator.format_messages(x) for x in x_test[:questions]])
        print(f"| {count} | {share.shared_prefix_tokens} | {share.mean_prompt_tokens:.0f} | {share.share:.1%} | "
              f"{share.cache_hit_share:.1%} |", flush=True)
    print()


def main() -> None:
    global LATENCY
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--prefix-only", action="store_true")
    args = parser.parse_args()
    LATENCY = args.latency
    prefix_table()
    if args.prefix_only:
        return

    import logging

    import ray

    logging.getLogger("ray").setLevel(logging.WARNING)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    program = asyncio.run(build_program())

    lines = ["| runner | actors | concurrency (per actor) | wall s | rows/s | rows/s after start | bound s "
             "(rows×latency÷calls in flight) | bound rows/s | Ray overhead per row |",
             "|---|---|---|---|---|---|---|---|---|"]
    for concurrency in args.concurrency:
        seconds = in_process(program, args.rows, concurrency)
        bound = args.rows * LATENCY / concurrency
        lines.append(f"| in-process predict | — | {concurrency} | {seconds:.2f} | {args.rows / seconds:,.0f} | "
                     f"{args.rows / seconds:,.0f} | {bound:.2f} | {args.rows / bound:,.0f} | — |")
        print(lines[-1], flush=True)
    on_ray(ray, program, 1, 1, 1, 1)  # warm-up: worker processes and imports
    fixed_costs = {}
    for actors in args.actors:
        # the fixed cost of a job with this many actors: one row per actor
        fixed = fixed_costs[actors] = on_ray(ray, program, actors, actors, 1, 1)[0]
        print(f"Ray fixed cost with {actors} actor(s): {fixed:.2f} s", flush=True)
        for concurrency in args.concurrency:
            seconds, written = on_ray(ray, program, args.rows, actors, concurrency, args.batch_size)
            in_flight = actors * min(concurrency, args.batch_size)
            bound = args.rows * LATENCY / in_flight
            per_row = (seconds - fixed - bound) / args.rows * 1000
            steady = args.rows / max(seconds - fixed, 1e-9)
            lines.append(f"| synaplex.ray.predict | {actors} | {concurrency} | {seconds:.2f} | "
                         f"{args.rows / seconds:,.0f} | {steady:,.0f} | {bound:.2f} | {args.rows / bound:,.0f} | "
                         f"{per_row:.2f} ms |")
            print(lines[-1], flush=True)
    ray.shutdown()
    print()
    costs = ", ".join(f"{a} actor(s) {c:.2f} s" for a, c in fixed_costs.items())
    print(f"{args.rows} rows, {LATENCY * 1000:.0f} ms per call, batch_size={args.batch_size}; Ray's fixed cost per "
          f"job ({costs}) is in the Ray wall times, not in 'rows/s after start'")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
