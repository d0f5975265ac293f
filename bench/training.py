"""Does training help the embedded model? Test reward before training, after RandomFewShot and
after OMEGA, over three seeds, with the LM calls, tokens and time each took.

    python bench/training.py                 # the embedded model, about 15 minutes on 2 cores
    python bench/training.py --seeds 1 --train 20 --test 20   # a quicker look

The task (examples/training.py): rewrite a date from YYYY-MM-DD to DD/MM/YYYY. It is a
fixed-format task where SmolLM2-135M fails from the instructions alone (it echoes the field
description or the input) and where a few examples show it the format, so it is where
few-shot learning should help a small model, and exact match measures it without a judge.
The data is generated from fixed seeds: 50 training and 100 test examples.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

from training import build_program, make_dates  # noqa: E402

import synaplex  # noqa: E402


def program_lm():
    return synaplex.LanguageModel(model="local", max_string_length=24)


async def run(optimizer_name: str | None, seed: int, train, test, epochs: int, batch_size: int) -> dict:
    synaplex.clear_session()
    program = await build_program(program_lm())
    optimizer = None
    if optimizer_name == "RandomFewShot":
        optimizer = synaplex.optimizers.RandomFewShot(nb_min_examples=1, nb_max_examples=3)
    elif optimizer_name == "OMEGA":
        optimizer = synaplex.optimizers.OMEGA(
            language_model=synaplex.LanguageModel(model="local", max_string_length=200),
            embedding_model=synaplex.EmbeddingModel(model="local"),
            few_shot_learning=True, nb_min_examples=1, nb_max_examples=3, population_size=6)
    program.compile(reward=synaplex.rewards.ExactMatch(in_mask=["answer"]), optimizer=optimizer)
    started = time.perf_counter()
    with synaplex.track_usage() as usage:
        if optimizer is not None:
            await program.fit(x=train[0], y=train[1], epochs=epochs, batch_size=batch_size, verbose=0, seed=seed,
                              validation_split=0.2)
        logs = await program.evaluate(x=test[0], y=test[1], batch_size=batch_size, verbose=0)
    return {"reward": logs["reward"], "calls": usage.total.calls, "tokens": usage.total.total_tokens,
            "seconds": time.perf_counter() - started,
            "examples": len(program.trainable_variables[0]["examples"])}


def spread(values):
    return statistics.pstdev(values) if len(values) > 1 else 0.0


async def main(args):
    train = make_dates(args.train, seed=1)
    test = make_dates(args.test, seed=2)
    print(f"date rewriting on local/smollm2: {args.train} train / {args.test} test examples, "
          f"{args.epochs} epochs, batch {args.batch_size}, seeds {list(range(args.seeds))}\n", flush=True)
    rows = []
    baseline = await run(None, 0, train, test, args.epochs, args.batch_size)  # temperature 0: one run is all runs
    rows.append(("no training", [baseline]))
    print(f"  no training: reward {baseline['reward']:.3f} ({baseline['seconds']:.0f} s)", flush=True)
    for name in ("RandomFewShot", "OMEGA"):
        results = []
        for seed in range(args.seeds):
            result = await run(name, seed, train, test, args.epochs, args.batch_size)
            results.append(result)
            print(f"  {name} seed {seed}: reward {result['reward']:.3f}, {result['calls']} calls, "
                  f"{result['examples']} examples kept ({result['seconds']:.0f} s)", flush=True)
        rows.append((name, results))
    print("\n| optimizer | test reward (mean ± sd) | min–max | LM calls | tokens | wall time |")
    print("|---|---|---|---|---|---|")
    for name, results in rows:
        rewards = [r["reward"] for r in results]
        calls = statistics.median(r["calls"] for r in results)
        tokens = statistics.median(r["tokens"] for r in results)
        seconds = statistics.median(r["seconds"] for r in results)
        print(f"| {name} | {statistics.mean(rewards):.3f} ± {spread(rewards):.3f} "
              f"| {min(rewards):.2f}–{max(rewards):.2f} | {calls:.0f} | {tokens:,.0f} | {seconds:.0f} s |")
    print("\n(calls, tokens and time: medians per run, training and the test evaluation together)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train", type=int, default=50)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
