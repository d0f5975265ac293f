"""The Quick Start of synaplex: a typed Q&A program, a parallel program, summary, save and load.

Run it with ``python examples/quickstart.py``. It runs on the scripted LanguageModel (no key,
no network) until the embedded local model lands; swap ``lm`` for any
``synaplex.LanguageModel(model="provider/model")`` to run it on a real model.
"""

import asyncio
import os
import tempfile
import time

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome"}


def reply(messages, schema):
    """A stand-in for a real model: looks the country up in the user's question."""
    question = messages[-1]["content"]
    country = next((c for c in CAPITALS if c in question), None)
    return {"answer": CAPITALS.get(country, "I don't know")}


async def main():
    lm = synaplex.LanguageModel(model="scripted", responses=reply)

    print("1. Quick Start: a functional program Query -> Answer")
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs, name="simple_qa",
                               description="A simple Q&A program")
    result = await program(Query(query="What is the capital of France?"))
    print(result.prettify_json())

    print("\n2. Two Generators run in parallel, merged with '&'")
    synaplex.clear_session()
    inputs = synaplex.Input(data_model=Query)
    first = await synaplex.Generator(data_model=Answer, language_model=lm, instructions="Answer briefly.")(inputs)
    second = await synaplex.Generator(data_model=Answer, language_model=lm, instructions="Answer carefully.")(inputs)
    parallel = synaplex.Program(inputs=inputs, outputs=inputs & first & second, name="parallel_qa")
    parallel.summary()

    print("\n3. Batch prediction (results in input order)")
    started = time.perf_counter()
    questions = [Query(query=f"What is the capital of {c}?") for c in CAPITALS]
    for prediction in await parallel.predict(questions, batch_size=8):
        print(" ", prediction.get_json())
    elapsed = time.perf_counter() - started
    print(f"  {lm.usage.calls} LM calls, {lm.usage.total_tokens} tokens (estimated), "
          f"cost ${lm.usage.cost:.4f}, {elapsed * 1000:.1f} ms")

    print("\n4. Save, load, and run the loaded program")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "parallel_qa.json")
        parallel.save(path)
        loaded = synaplex.Program.load(path)
        print(f"  saved {os.path.getsize(path)} bytes; loaded {loaded.name!r} with "
              f"{len(loaded.trainable_variables)} trainable variables")
        print(" ", (await loaded(Query(query="What is the capital of Japan?"))).get_json())


if __name__ == "__main__":
    asyncio.run(main())
