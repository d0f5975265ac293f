"""Importable reply callables (a saved scripted LM finds them again by import path)."""


def constant_answer(messages, schema):
    return {"answer": "from an importable callable"}
