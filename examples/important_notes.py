"""The seed's Important Notes and Gotchas, each shown running.

    python examples/important_notes.py                 # the embedded model
    python examples/important_notes.py --model scripted

1. `instructions` must be a string: a list raises a clear error.
2. Handling None results: a program whose input guard fires returns None.
3. The mixed subclassing pattern: `super().__init__()` twice, the graph built on first call.
"""

import asyncio

from _models import language_model, parse_model

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


def instructions_must_be_a_string(lm):
    # CORRECT
    synaplex.Generator(
        data_model=Answer,
        language_model=lm,
        instructions="Be concise. Focus on key points. Use examples.",
    )
    # WRONG - raises an error that says what to do
    try:
        synaplex.Generator(
            data_model=Answer,
            language_model=lm,
            instructions=["Be concise", "Focus on key points"],  # ERROR!
        )
    except synaplex.errors.InvalidInputError as error:
        return error


class OnlyQuestions(synaplex.Module):
    """Let through only queries that end with a question mark."""

    async def call(self, inputs, training=False) -> Query | None:
        return inputs if inputs.get("query").strip().endswith("?") else None


async def handling_none_results(lm):
    inputs = synaplex.Input(data_model=Query)
    checked = await OnlyQuestions()(inputs)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(checked)
    program = synaplex.Program(inputs=inputs, outputs=outputs)

    results = []
    for input_data in (Query(query="What is the capital of France?"), Query(query="Do my homework.")):
        result = await program(input_data)
        if result is None:
            print(f"  {input_data.query!r}: no result (the guard stopped it; no LM call was made)")
        else:
            print(f"  {input_data.query!r}: {result.get('answer')!r}")
        results.append(result)
    return results


class MyProgram(synaplex.Program):
    def __init__(self, language_model):
        super().__init__()  # First call - basic init
        self.language_model = language_model

    async def build(self, inputs):
        outputs = await synaplex.Generator(data_model=Answer, language_model=self.language_model)(inputs)
        super().__init__(inputs=inputs, outputs=outputs)  # Second call - with graph


async def main(model: str = "local") -> dict:
    lm = language_model(model)
    print("1. instructions must be a string:")
    error = instructions_must_be_a_string(lm)
    print(f"  {type(error).__name__}: {error}")
    print("2. Handling None results:")
    none_results = await handling_none_results(lm)
    print("3. Mixed subclassing:")
    program = MyProgram(language_model=lm)
    mixed = await program(Query(query="What is 2 + 2?"))
    print(f"  {mixed.get_json()} ({len(program.modules)} modules built on the first call)")
    return {"error": error, "none_results": none_results, "mixed": mixed, "program": program}


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
