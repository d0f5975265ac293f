"""The seed's Training Programs: compile, fit, evaluate, predict, plot_history, on a task where
few-shot examples matter to a small model: rewrite a date from YYYY-MM-DD to DD/MM/YYYY.

    python examples/training.py                 # the embedded model (a few minutes)
    python examples/training.py --model scripted

Instructions alone do not teach SmolLM2-135M the format; a few examples do. RandomFewShot
picks them from the program's own well-rewarded answers during fit. The data is generated
here (seeded), so the run needs no download.
"""

import asyncio
import os
import random
import tempfile

from _models import language_model, parse_model

import synaplex


class DateQuery(synaplex.DataModel):
    date: str = synaplex.Field(description="A date, as YYYY-MM-DD")


class DateAnswer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The same date, as DD/MM/YYYY")


def make_dates(n: int, seed: int):
    """``n`` dates and their rewritten form, the same for the same seed."""
    rng = random.Random(seed)
    x, y = [], []
    for _ in range(n):
        year, month, day = rng.randint(1950, 2049), rng.randint(1, 12), rng.randint(1, 28)
        x.append(DateQuery(date=f"{year}-{month:02d}-{day:02d}"))
        y.append(DateAnswer(answer=f"{day:02d}/{month:02d}/{year}"))
    return x, y


# Registered, so that a saved program (a checkpoint) finds it again in safe mode.
@synaplex.saving.register_synaplex_serializable(package="examples")
def scripted_dates(messages, schema):
    """The scripted model: right only when the prompt carries examples (as a small model)."""
    import json

    date = json.loads(messages[-1]["content"])["date"]
    year, month, day = date.split("-")
    if any(m["role"] == "assistant" for m in messages):
        return {"answer": f"{day}/{month}/{year}"}
    return {"answer": f"{month}/{day}/{year}" if int(day) % 2 else f"{day}/{month}/{year}"}


async def build_program(lm):
    inputs = synaplex.Input(data_model=DateQuery)
    outputs = await synaplex.Generator(
        data_model=DateAnswer, language_model=lm, instructions="Rewrite the date as DD/MM/YYYY.",
    )(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="date_rewriter")


async def main(model: str = "local", n_train: int = 20, n_test: int = 20, epochs: int = 2,
               folder: str | None = None) -> dict:
    lm = language_model(model, responses=scripted_dates if model == "scripted" else None)
    if model.startswith("local"):
        lm = synaplex.LanguageModel(model=model, max_string_length=24)
    folder = folder or tempfile.mkdtemp(prefix="synaplex_training_")
    x_train, y_train = make_dates(n_train, seed=1)
    x_test, y_test = make_dates(n_test, seed=2)

    program = await build_program(lm)
    # Compile with reward and optimizer
    program.compile(
        reward=synaplex.rewards.ExactMatch(in_mask=["answer"]),
        optimizer=synaplex.optimizers.RandomFewShot(),
        metrics=[synaplex.metrics.F1Score(in_mask=["answer"])],
    )
    before = await program.evaluate(x=x_test, y=y_test, batch_size=8, verbose=0)
    # Train
    checkpoint = os.path.join(folder, "best.json")
    history = await program.fit(
        x=x_train,
        y=y_train,
        validation_split=0.2,
        epochs=epochs,
        batch_size=8,
        callbacks=[synaplex.callbacks.ProgramCheckpoint(filepath=checkpoint, monitor="val_reward", mode="max")],
        seed=0,
    )
    # Evaluate
    metrics = await program.evaluate(x=x_test, y=y_test, batch_size=8, verbose=0)
    # Batch prediction
    predictions = await program.predict(x_test[:3], batch_size=8)
    plot = synaplex.utils.plot_history(history, to_folder=folder)

    print(f"test reward before training: {before['reward']:.2f}, after: {metrics['reward']:.2f} "
          f"(f1 {metrics['f1_score']:.2f})")
    for query, prediction in zip(x_test, predictions):
        print(f"  {query.date} -> {prediction.get('answer')}")
    print(f"few-shot examples kept: {len(program.trainable_variables[0]['examples'])}")
    print(f"checkpoint: {checkpoint}\nhistory plot: {plot}")
    return {"before": before, "after": metrics, "history": history, "checkpoint": checkpoint, "plot": plot,
            "program": program}


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
