"""The synaplex demo, on the embedded model: no key, no network.

    python scripts/install.py && python examples/quickstart.py

1. the seed's Quick Start: a typed Query -> Answer program;
2. two Generators run in parallel and merged with '&', shown with summary();
3. a batch prediction, with the tokens and time spent;
4. save the program to JSON, load it back, and run it.

SmolLM2-135M is tiny: its answers show the plumbing, not wisdom. Pass --model to use
another model (e.g. --model openai/gpt-4o-mini with OPENAI_API_KEY set).
"""

import argparse
import asyncio
import os
import tempfile
import time

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer, in one short sentence")


def step(text):
    print(f"\n\033[1m{text}\033[0m", flush=True)


async def main(model: str):
    started = time.perf_counter()
    step(f"Loading {model!r} (the embedded SmolLM2-135M when 'local')…")
    # A 135M model repeats itself: on the embedded model, penalize repeats and keep strings short.
    tuning = {"repeat_penalty": 1.3, "max_string_length": 160} if model.startswith("local") else {}
    lm = synaplex.LanguageModel(model=model, **tuning)

    with synaplex.track_usage() as usage:
        step("1. Quick Start: a functional program Query -> Answer")
        inputs = synaplex.Input(data_model=Query)
        outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
        program = synaplex.Program(inputs=inputs, outputs=outputs, name="simple_qa",
                                   description="A simple Q&A program")
        result = await program(Query(query="What is the capital of France?"))
        print(result.prettify_json())

        step("2. Two Generators in parallel, merged with '&'")
        synaplex.clear_session()
        inputs = synaplex.Input(data_model=Query)
        brief = await synaplex.Generator(data_model=Answer, language_model=lm,
                                         instructions="Answer in five words or fewer.")(inputs)
        careful = await synaplex.Generator(data_model=Answer, language_model=lm,
                                           instructions="Answer carefully, with one reason.")(inputs)
        parallel = synaplex.Program(inputs=inputs, outputs=inputs & brief & careful, name="parallel_qa")
        parallel.summary()

        step("3. Batch prediction (up to 4 examples at once; results in input order)")
        questions = [Query(query=q) for q in ("What is the capital of Japan?", "What color is the sky?",
                                              "How many legs does a spider have?")]
        batch_started = time.perf_counter()
        for prediction in await parallel.predict(questions, batch_size=4):
            print(" ", prediction.get_json())
        print(f"  {time.perf_counter() - batch_started:.1f} s for {len(questions)} questions")

        step("4. Save, load, and run the loaded program")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "parallel_qa.json")
            parallel.save(path)
            loaded = synaplex.Program.load(path)
            print(f"  saved {os.path.getsize(path)} bytes; loaded {loaded.name!r} with "
                  f"{len(loaded.trainable_variables)} trainable variables")
            print(" ", (await loaded(Query(query="What is the capital of Italy?"))).get_json())

    total = usage.total
    cost = "unknown" if total.cost is None else f"${total.cost:.4f}"
    step("Spent")
    print(f"  {total.calls} LM calls, {total.input_tokens} input + {total.output_tokens} output tokens, "
          f"cost {cost}, {time.perf_counter() - started:.1f} s in all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="a synaplex model string (default: local)")
    asyncio.run(main(parser.parse_args().model))
