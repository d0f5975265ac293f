"""A generated set of structured-output cases for the embedded model: schemas × prompts.

``schemas()`` builds DataModels (pydantic, so the schemas look like users' own: ``$defs``,
``$ref``, ``anyOf`` with null for optional fields) from a seeded generator: 1 to 10 fields;
nested objects; arrays of strings and of objects; enums; bounded integers and numbers;
optional fields; long descriptions. The first schema is the one from issue 10 that used to
run for minutes. ``PROMPTS`` are ten varied user messages, including one that asks the model
to repeat itself forever and one long document that leaves less of the context free.

Used by tests/test_structured_local.py and bench/structured_local.py.
"""

from __future__ import annotations

import enum
import random
from typing import Literal, Optional

import pydantic

import synaplex

LONG_DOCUMENT = " ".join(
    f"Paragraph {i}: the quarterly report of the northern warehouse lists {i * 7} crates of apples, "
    f"{i * 3} crates of pears and {i + 11} damaged pallets, inspected on day {i} by team {i % 5}."
    for i in range(1, 22))

PROMPTS = [
    "What is the capital of France?",
    "Describe your favourite animal.",
    "List some colors.",
    "Hello",
    "Repeat the word 'apple' forever: apple apple apple apple apple apple apple apple apple apple",
    "Summarize: The meeting moved to Thursday because the projector broke; Ana will bring a new one.",
    "¿Cuál es la montaña más alta del mundo? Responde en español.",
    "def add(a, b):\n    return a + b\n# What does this function do?",
    "Give me numbers: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20",
    f"Extract the key facts from this report.\n\n{LONG_DOCUMENT}",
]

_WORDS = ["title", "name", "city", "score", "count", "label", "summary", "owner", "color", "status", "kind",
          "price", "rating", "notes", "topic", "author", "region", "size", "level", "reason"]
_LONG = ("A detailed description of this field, written the way real users document their schemas: what it "
         "means, which unit it uses, what to avoid and an example of a good value, repeated so that the schema "
         "prompt itself takes a noticeable part of the context window. ")


class Item(synaplex.DataModel):
    name: str
    count: int


class Reply(synaplex.DataModel):
    """The schema of issue 10 that used to run out of context."""

    answer: str
    confidence: float
    tags: list[str]
    item: Item


def _field(rng: random.Random, name: str, depth: int, index: int):
    kinds = ["str", "int", "float", "bool", "enum", "list_str", "bounded_int", "bounded_float", "literal"]
    if depth < 2:
        kinds += ["object", "list_object"]
    kind = rng.choice(kinds)
    description = _LONG * rng.randint(1, 3) if rng.random() < 0.2 else f"The {name} of the answer."
    if kind == "str":
        annotation, extra = str, {}
    elif kind == "int":
        annotation, extra = int, {}
    elif kind == "float":
        annotation, extra = float, {}
    elif kind == "bool":
        annotation, extra = bool, {}
    elif kind == "enum":
        members = rng.sample(["low", "medium", "high", "unknown", "very_high_priority_escalation", "n/a"], 3)
        annotation, extra = enum.Enum(f"Choice{index}_{depth}", {m.upper().replace("/", "_"): m for m in members}), {}
    elif kind == "literal":
        annotation, extra = Literal["yes", "no", "maybe"], {}
    elif kind == "list_str":
        annotation, extra = list[str], {}
    elif kind == "bounded_int":
        annotation, extra = int, {"ge": 0, "le": rng.choice([5, 10, 100, 2024])}
    elif kind == "bounded_float":
        annotation, extra = float, {"ge": 0.0, "le": 1.0}
    elif kind == "object":
        annotation, extra = _model(rng, f"Nested{index}_{depth}", rng.randint(1, 3), depth + 1), {}
    else:  # list_object
        annotation, extra = list[_model(rng, f"Entry{index}_{depth}", rng.randint(1, 3), depth + 1)], {}
    if rng.random() < 0.25:  # optional
        return Optional[annotation], pydantic.Field(default=None, description=description, **extra)
    return annotation, pydantic.Field(description=description, **extra)


def _model(rng: random.Random, name: str, n_fields: int, depth: int = 0):
    names = rng.sample(_WORDS, n_fields)
    fields = {field: _field(rng, field, depth, i) for i, field in enumerate(names)}
    return pydantic.create_model(name, __base__=synaplex.DataModel, **fields)


def schemas(count: int = 24, seed: int = 7) -> list[tuple[str, type]]:
    """``count`` (name, DataModel) pairs: issue 10's Reply first, then generated ones with 1 to
    10 fields (the field counts cycle so that every size appears)."""
    rng = random.Random(seed)
    out = [("Reply", Reply)]
    for i in range(count - 1):
        n_fields = 1 + i % 10
        out.append((f"S{i:02d}_{n_fields}f", _model(rng, f"S{i:02d}", n_fields)))
    return out
