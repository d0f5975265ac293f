"""How much of a batch's prompts a server-side prefix cache can share.

vLLM's automatic prefix caching and SGLang's RadixAttention reuse the computation of a
prompt's leading tokens when another request starts with the same ones. A Generator puts
what is the same for every example first (the system prompt: instructions and schemas;
then the few-shot examples as user/assistant turns) and the example's own input last, so
every request of a batch shares that prefix. :func:`prefix_share` measures it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from synaplex.backend.errors import InvalidInputError


def _estimate_tokens(text: str) -> int:
    # ~4 characters a token, as the scripted model and the catalogue's estimates count
    return (len(text) + 3) // 4


def render_prompt(messages: Any) -> str:
    """The text a chat template sees, in order: each message's role and content (tool calls
    as JSON). Two requests share a prefix cache entry exactly as far as these texts agree."""
    if hasattr(messages, "get_json"):
        messages = messages.get_json()
    if isinstance(messages, dict) and "messages" in messages:
        messages = messages["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InvalidInputError(
            f"A prompt must be a list of chat messages (dicts with 'role' and 'content') or ChatMessages, "
            f"got {type(messages).__name__}: {messages!r:.100}.")
    parts = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False, sort_keys=True)
        parts.append(f"<|{message.get('role')}|>{content}")
        if message.get("tool_calls"):
            parts.append(json.dumps(message["tool_calls"], ensure_ascii=False, sort_keys=True))
    return "".join(parts)


@dataclasses.dataclass
class PrefixShare:
    """``shared_prefix_tokens``: the tokens every prompt of the batch starts with;
    ``mean_prompt_tokens``: a prompt's mean length; ``share``: the shared prefix's part of a
    prompt, ``shared_prefix_tokens / mean_prompt_tokens``; ``cache_hit_share``: the part of
    all the batch's prompt tokens a prefix cache can serve, ``shared_prefix_tokens × (n - 1)
    / total`` (the first request computes the prefix once). Tokens are estimated as 4
    characters each."""

    prompts: int
    shared_prefix_tokens: int
    mean_prompt_tokens: float
    share: float
    cache_hit_share: float


def prefix_share(prompts: list) -> PrefixShare:
    """Measure the shared prefix of a batch of prompts (lists of chat messages).

    Example:
        >>> prompts = [generator.format_messages(x) for x in batch]
        >>> synaplex.ray.prefix_share(prompts).share
        0.87
    """
    if not isinstance(prompts, (list, tuple)) or len(prompts) < 2:
        raise InvalidInputError(
            f"prefix_share needs a list of at least 2 prompts to compare, got {prompts!r:.100}.")
    texts = [render_prompt(p) for p in prompts]
    first, shared = texts[0], len(texts[0])
    for text in texts[1:]:
        limit = min(shared, len(text))
        index = 0
        while index < limit and first[index] == text[index]:
            index += 1
        shared = index
    prefix_tokens = _estimate_tokens(first[:shared])
    lengths = [_estimate_tokens(t) for t in texts]
    total = sum(lengths)
    mean = total / len(texts)
    return PrefixShare(prompts=len(texts), shared_prefix_tokens=prefix_tokens, mean_prompt_tokens=mean,
                       share=prefix_tokens / mean if mean else 0.0,
                       cache_hit_share=prefix_tokens * (len(texts) - 1) / total if total else 0.0)
