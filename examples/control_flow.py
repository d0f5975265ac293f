"""The seed's Control Flow: parallel branches, a Decision, and a Branch merged with '|'.

    python examples/control_flow.py                 # the embedded model
    python examples/control_flow.py --model scripted

Only the branch the Decision picks runs; the other one outputs None and never calls its model.
"""

import asyncio

from _models import language_model, parse_model

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


class AnswerWithThinking(synaplex.DataModel):
    thinking: str = synaplex.Field(description="Your step by step thinking")
    answer: str = synaplex.Field(description="The answer")


async def build_parallel_program(lm):
    inputs = synaplex.Input(data_model=Query)
    x1 = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    x2 = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    # Both run in parallel via asyncio
    return synaplex.Program(inputs=inputs, outputs=x1 & x2, name="parallel")


async def build_decision_program(lm):
    inputs = synaplex.Input(data_model=Query)
    decision = await synaplex.Decision(
        question="Evaluate query difficulty",
        labels=["easy", "difficult"],
        language_model=lm,
    )(inputs)
    return synaplex.Program(inputs=inputs, outputs=decision, name="decision")


async def build_branch_program(lm):
    inputs = synaplex.Input(data_model=Query)
    (easy_answer, hard_answer) = await synaplex.Branch(
        question="Evaluate query difficulty",
        labels=["easy", "difficult"],
        branches=[
            synaplex.Generator(data_model=Answer, language_model=lm),
            synaplex.Generator(data_model=AnswerWithThinking, language_model=lm),
        ],
        language_model=lm,
        return_decision=False,   # If True, returns decision alongside branch outputs
        inject_decision=False,   # If True, injects decision into branch inputs
    )(inputs)
    # Merge with logical or - non-activated branches return None
    final = easy_answer | hard_answer
    return synaplex.Program(inputs=inputs, outputs=final, name="branching")


async def main(model: str = "local") -> dict:
    lm = language_model(model)
    query = Query(query="What is 2 + 2?")
    results = {}
    for build in (build_parallel_program, build_decision_program, build_branch_program):
        program = await build(lm)
        results[program.name] = await program(query)
        print(f"{program.name}: {results[program.name].prettify_json()}")
    return results


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
