"""The seed's Self-Consistency pattern: three Generators at temperature 1.0 in parallel, merged
with '&', and a final Generator that critically analyzes them.

    python examples/self_consistency.py                 # the embedded model
    python examples/self_consistency.py --model scripted
"""

import asyncio

from _models import language_model, parse_model

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class AnswerWithRationale(synaplex.DataModel):
    rationale: str = synaplex.Field(description="Why this is the answer")
    answer: str = synaplex.Field(description="The answer")


async def build_self_consistency_program(lm):
    inputs = synaplex.Input(data_model=Query)

    # Generate multiple answers with randomness
    b0 = await synaplex.Generator(data_model=AnswerWithRationale, language_model=lm, temperature=1.0)(inputs)
    b1 = await synaplex.Generator(data_model=AnswerWithRationale, language_model=lm, temperature=1.0)(inputs)
    b2 = await synaplex.Generator(data_model=AnswerWithRationale, language_model=lm, temperature=1.0)(inputs)

    # Merge all answers
    merged = b0 & b1 & b2

    # Final answer that critically analyzes all attempts
    outputs = await synaplex.Generator(
        data_model=AnswerWithRationale,
        language_model=lm,
        instructions="Critically analyze the given answers to produce the final answer.",
    )(inputs & merged)

    return synaplex.Program(inputs=inputs, outputs=outputs)


async def main(model: str = "local"):
    lm = language_model(model)
    program = await build_self_consistency_program(lm)
    result = await program(Query(query="How many days are there in a week?"))
    print(result.prettify_json())
    return result


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
