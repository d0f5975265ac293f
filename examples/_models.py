"""Shared by the examples: pick a language model from --model.

``local`` is the embedded SmolLM2-135M (no key, no network); ``scripted`` answers instantly
with placeholder values that follow each schema (to see the plumbing, and in tests); any
other synaplex model string works too (e.g. ``openai/gpt-4o-mini`` with its key set).
"""

from __future__ import annotations

import argparse
import json

import synaplex


def placeholder(schema: dict, name: str = "value", defs: dict | None = None):
    """A value that follows ``schema``: what the scripted model answers."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return placeholder(defs[schema["$ref"].split("/")[-1]], name, defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return placeholder(schema[key][0], name, defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        return {key: placeholder(sub, key, defs) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"(scripted {name})"


# Registered, so that a saved program (a checkpoint) finds it again in safe mode.
@synaplex.saving.register_synaplex_serializable(package="examples")
def scripted_reply(messages, schema):
    if schema is None:
        return {"content": "(scripted reply)"}
    return placeholder(schema)


def language_model(model: str, responses=None) -> synaplex.LanguageModel:
    if model == "scripted":
        return synaplex.LanguageModel(model="scripted", responses=responses or scripted_reply)
    # A 135M model repeats itself: on the embedded model, penalize repeats and keep strings short.
    tuning = {"repeat_penalty": 1.3, "max_string_length": 160} if model.startswith("local") else {}
    return synaplex.LanguageModel(model=model, **tuning)


def parse_model(doc: str) -> str:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", default="local",
                        help="local (the embedded model, default), scripted, or any synaplex model string")
    return parser.parse_args().model


def print_trajectory(result) -> None:
    """An agent's messages, one line each (tool calls shown as calls), then its answer."""
    for message in result.get("messages"):
        calls = ", ".join(f"{c['name']}({json.dumps(c['arguments'])})" for c in message["tool_calls"])
        print(f"{message['role']:>9}: {calls or message['content']}")
    print("answer:", result.get("answer"))
