"""The seed's Agents with Tools: a FunctionCallingAgent with two tools, a price list and a
calculator that parses arithmetic safely (never `eval` on model output).

    python examples/agent_tools.py                 # the embedded model
    python examples/agent_tools.py --model scripted

On the embedded model the tool choice is grammar-constrained: every turn is a valid call of
one of the tools or of `final_answer`, with arguments that follow their schemas. (A 135M
model picks tools poorly; the plumbing is what this shows.)
"""

import ast
import asyncio
import json
import operator

from _models import language_model, parse_model, print_trajectory

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class FinalAnswer(synaplex.DataModel):
    answer: float = synaplex.Field(description="The correct numerical answer")


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
              ast.USub: operator.neg, ast.UAdd: operator.pos}


def evaluate_arithmetic(expression: str) -> float:
    """Numbers, + - * / // % ** and parentheses; anything else is refused."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.operand))
        raise ValueError(f"not plain arithmetic: {ast.dump(node)[:60]}")

    if len(expression) > 200:
        raise ValueError("expression too long")
    return walk(ast.parse(expression, mode="eval"))


PRICES = {"pen": 1.5, "notebook": 4.0, "eraser": 0.75}


@synaplex.saving.register_synaplex_serializable()
async def calculate(expression: str):
    """Calculate an arithmetic expression.

    Args:
        expression: Arithmetic with numbers, + - * / and parentheses, e.g. (2 + 3) * 4.
    """
    return {"result": evaluate_arithmetic(expression), "log": "Success"}


@synaplex.saving.register_synaplex_serializable()
async def get_price(item: str):
    """Look up the unit price of an item in the shop.

    Args:
        item: The item's name, e.g. pen.
    """
    key = item.strip().lower().rstrip("s")
    if key not in PRICES:
        raise ValueError(f"no item {item!r}; the shop sells {', '.join(PRICES)}")
    return {"item": key, "unit_price": PRICES[key]}


def scripted_agent(messages, schema, tools):
    """What the scripted model does: look up the price, multiply, answer."""
    results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    if not results:
        return {"tool_calls": [{"id": "c1", "name": "get_price", "arguments": {"item": "pen"}}]}
    if len(results) == 1:
        price = results[0]["result"]["unit_price"]
        return {"tool_calls": [{"id": "c2", "name": "calculate", "arguments": {"expression": f"12 * {price}"}}]}
    return {"tool_calls": [{"id": "c3", "name": "final_answer",
                            "arguments": {"answer": results[-1]["result"]["result"]}}]}


async def build_agent_program(lm):
    inputs = synaplex.Input(data_model=Query)

    tools = [synaplex.Tool(calculate), synaplex.Tool(get_price)]

    outputs = await synaplex.FunctionCallingAgent(
        data_model=FinalAnswer,
        tools=tools,
        language_model=lm,
        max_iterations=5,
        autonomous=True,
    )(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="shop_agent")


async def main(model: str = "local"):
    lm = language_model(model, responses=scripted_agent if model == "scripted" else None)
    program = await build_agent_program(lm)
    result = await program(Query(query="How much do 12 pens cost?"))
    print_trajectory(result)
    return result


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
