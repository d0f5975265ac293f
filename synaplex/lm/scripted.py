"""The scripted provider: deterministic replies for users' own unit tests.

``LanguageModel(model="scripted", responses=[...])`` answers from a list (consumed in
order) or from a callable ``(messages, schema) -> dict | str`` (sync or async; a callable
with a third parameter also receives the tool definitions), and records
every request in ``lm.requests``. ``EmbeddingModel(model="scripted")`` gives a deterministic
vector per text (feature hashing of its words plus a hash of the whole text, so the same
text always gives the same vector, different texts different ones, and texts sharing words
are close).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import re
import warnings
from collections.abc import Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Capabilities, Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import MissingResponsesError, ScriptExhaustedError
from synaplex.serialization import find_callable, safe_mode


def _estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1 if text else 0


def _callable_path(fn: Callable) -> str:
    """Where ``fn`` lives, ``module:qualname``; a lambda or local function is recorded too,
    so that loading can say what to supply again even though it cannot import it."""
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{qualname}"


def _import_path(path: str) -> Callable | None:
    module_name, _, qualname = path.partition(":")
    if "<" in qualname:
        return None
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    return obj if callable(obj) else None


def _positional_arity(fn: Callable) -> int:
    """How many of (messages, schema, tools) a reply callable takes: 2, or 3 to see the tools."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return 3 if len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 3 else 2


class _Responses:
    """The replies of a scripted model: a list consumed in order, or a callable."""

    def __init__(self, responses: Any, kind: str):
        self.kind = kind
        self.calls = 0
        self.callable_path: str | None = None
        self.missing_reason: str | None = None
        self.set(responses)

    def set(self, responses: Any) -> None:
        if responses is None or isinstance(responses, (list, tuple)):
            self.items = None if responses is None else list(responses)
            self.fn = None
        elif callable(responses):
            self.items, self.fn = None, responses
            self.callable_path = _callable_path(responses)
            self.arity = _positional_arity(responses)
        else:
            raise InvalidInputError(
                f"A scripted {self.kind} takes responses=[...] (a list of replies) or a callable; "
                f"got {type(responses).__name__}: {responses!r:.100}."
            )
        self.missing_reason = None

    async def next(self, *args) -> Any:
        if self.fn is not None:
            reply = self.fn(*args[:self.arity])
            if inspect.isawaitable(reply):
                reply = await reply
            self.calls += 1
            return reply
        if self.items is None:
            raise MissingResponsesError(
                self.missing_reason
                or f"This scripted {self.kind} has no responses. Pass responses=[...] or a callable "
                "when you create it, or set them with .set_responses(...).",
                provider="scripted",
            )
        if self.calls >= len(self.items):
            raise ScriptExhaustedError(
                f"The scripted {self.kind} ran out of responses: it had {len(self.items)} and this is "
                f"call number {self.calls + 1}. Add replies to responses=[...] or pass a callable.",
                provider="scripted",
            )
        reply = self.items[self.calls]
        self.calls += 1
        return reply

    def get_config(self) -> dict:
        if self.fn is not None:
            return {"responses": None, "responses_callable": self.callable_path}
        return {"responses": self.items}

    def restore_from_config(self, config: dict) -> None:
        path = config.get("responses_callable")
        if path is None:
            return
        if not isinstance(path, str) or ":" not in path:
            raise InvalidInputError(f"responses_callable must be 'module:qualname', got {path!r:.100}.")
        # A registered function, or one in custom_objects, needs no import; anything else
        # does, which safe loading refuses (a lambda or a local function cannot be imported).
        fn = find_callable(path, safe_mode.custom_objects())
        module_name, _, qualname = path.partition(":")
        if fn is None and "<" not in qualname:
            short = qualname.rpartition(".")[2]
            safe_mode.require(
                "imports", "responses_callable",
                f"import the module {module_name!r} and call {qualname!r} for this scripted {self.kind}'s replies",
                hint=f"Pass custom_objects={{{short!r}: {short}}}, or register the function with "
                     "@synaplex.saving.register_synaplex_serializable().")
            fn = _import_path(path)
        if fn is not None:
            self.set(fn)
            return
        self.callable_path = path
        self.missing_reason = (
            f"This scripted {self.kind} was saved with a Python callable as responses ({path}), "
            "which could not be imported when it was loaded. Supply it again with "
            "lm.set_responses(your_callable)."
        )
        warnings.warn(self.missing_reason, stacklevel=4)


class ScriptedAdapter:
    provider = "scripted"
    repair_attempts = 0

    def __init__(self, model_name: str = "", responses: Any = None, profile=None, api_key=None,
                 api_base=None):
        self.model_name = model_name
        self._responses = _Responses(responses, "LanguageModel")
        self.requests: list[dict] = []

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(tools=True, vision=True, structured_output=True, streaming=True,
                            input_price_per_token=0.0, output_price_per_token=0.0)

    def set_responses(self, responses: Any) -> None:
        self._responses.set(responses)

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append({"messages": request.messages, "schema": request.schema,
                              "tools": request.tools, "params": request.params})
        reply = await self._responses.next(request.messages, request.schema, request.tools)
        input_tokens = sum(_estimate_tokens(m.get("content") or "") for m in request.messages)
        if isinstance(reply, dict) and request.schema is None and ("content" in reply or "tool_calls" in reply):
            text = reply.get("content") or ""
            completion = Completion(text=text, tool_calls=list(reply.get("tool_calls") or []))
        elif isinstance(reply, (dict, list)):
            text = json.dumps(reply)
            completion = Completion(text=text, parsed=reply if request.schema is not None else None)
        elif isinstance(reply, str):
            text = reply
            completion = Completion(text=reply)
        else:
            raise InvalidInputError(
                f"A scripted reply must be a dict or a string, got {type(reply).__name__}: {reply!r:.100}."
            )
        completion.usage = Usage(calls=1, input_tokens=input_tokens, output_tokens=_estimate_tokens(text),
                                 cost=0.0)
        completion.finish_reason = "stop"
        return completion

    async def stream(self, request: CompletionRequest):
        completion = await self.complete(request)
        for piece in re.findall(r"\S+\s*|\s+", completion.text):
            yield StreamChunk(text=piece)
        for index, call in enumerate(completion.tool_calls):
            yield StreamChunk(tool_call_deltas=[{"index": index, "id": call.get("id"), "name": call.get("name"),
                                                 "arguments_delta": json.dumps(call.get("arguments", {}))}])
        yield StreamChunk(usage=completion.usage, finish_reason=completion.finish_reason)

    async def list_models(self) -> list[dict]:
        return [{"id": self.model_name or "scripted", "provider": "scripted"}]

    def get_config(self) -> dict:
        return self._responses.get_config()

    def restore_from_config(self, config: dict) -> None:
        self._responses.restore_from_config(config)


class ScriptedEmbeddingAdapter:
    provider = "scripted"

    def __init__(self, model_name: str = "", responses: Any = None, dimensions: int = 64, profile=None,
                 api_key=None, api_base=None):
        if not isinstance(dimensions, int) or dimensions < 8:
            raise InvalidInputError(f"dimensions must be an integer >= 8, got {dimensions!r}.")
        self.model_name = model_name
        self.dimensions = dimensions
        self._responses = _Responses(responses, "EmbeddingModel") if responses is not None else None
        self.requests: list[list[str]] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.requests.append(list(texts))
        if self._responses is not None:
            vectors = await self._responses.next(list(texts))
            if (not isinstance(vectors, list) or len(vectors) != len(texts)
                    or not all(isinstance(v, list) for v in vectors)):
                raise InvalidInputError(
                    f"A scripted embedding reply must be a list of {len(texts)} vectors, got {vectors!r:.100}."
                )
            return vectors
        return [self.hash_embedding(text) for text in texts]

    def hash_embedding(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        digest = hashlib.blake2b(text.encode(), digest_size=32).digest()
        for i in range(self.dimensions):
            vector[i] += (digest[i % 32] / 255.0 - 0.5) * 0.2
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def get_config(self) -> dict:
        config = {"dimensions": self.dimensions}
        if self._responses is not None:
            config.update(self._responses.get_config())
        return config

    def restore_from_config(self, config: dict) -> None:
        if self._responses is not None:
            self._responses.restore_from_config(config)
