"""Reply functions for the Ray tests: Ray's worker processes import them by path (the actors
load the program from its file), so they live in a module, not in a test."""

import asyncio
import json
import os

import synaplex


def _query(messages) -> str:
    return json.loads(messages[-1]["content"])["query"]


def upper_reply(messages, schema):
    """``{"answer": QUERY}``; a query starting with ``fail`` gets a reply that is not an Answer
    (a typed StructuredOutputError for that row)."""
    query = _query(messages)
    if query.startswith("fail"):
        return {"wrong_field": query}
    return {"answer": query.upper()}


def crash_once_reply(messages, schema):
    """Kills its own process (the Ray actor) the first time it sees ``crash-once:<marker path>``;
    once the marker exists it answers like :func:`upper_reply`."""
    query = _query(messages)
    if query.startswith("crash-once:"):
        marker = query.split(":", 1)[1]
        if not os.path.exists(marker):
            with open(marker, "w") as handle:
                handle.write(str(os.getpid()))
            os._exit(1)
    return {"answer": query.upper()}


async def slow_reply(messages, schema):
    """50 ms of simulated latency, then ``{"answer": QUERY}`` (bench/scale.py)."""
    await asyncio.sleep(0.05)
    return {"answer": _query(messages).upper()}


@synaplex.saving.register_synaplex_serializable()
def share_correct(y_true, y_pred):
    """A batch reward that depends on the batch: every example of a batch scores the share of
    the batch answered right, so only the same batches give the same numbers."""
    right = [t is not None and p is not None and t.get("answer") == p.get("answer") for t, p in zip(y_true, y_pred)]
    share = sum(right) / len(right)
    return [share] * len(right)
