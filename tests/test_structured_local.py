"""Bounded structured output on the embedded model: the JSON budget and the repetition guard.

Unit tests drive the guard with a made-up vocabulary; integration tests run the real embedded
model with default settings (no bounds tuned) on issue 10's schema, on schemas whose bounds
exceed the context, and on the generated set of tests/structured_cases.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import synaplex
from synaplex.errors import ContextWindowExceededError, InvalidInputError
from synaplex.lm.json_guard import (
    CLOSING_BONUS,
    ClosingTokens,
    JsonBudgetGuard,
    JsonScanner,
    closing_reserve,
)
from synaplex.lm.local import bounded
from tests.structured_cases import PROMPTS, Reply, schemas

ROOT = Path(__file__).resolve().parents[1]

# --- the guard on a made-up vocabulary ------------------------------------------------------

VOCAB = ['{', '}', '[', ']', '"', '""', '"]', '"}', '"]}', ',', ' "', 'apple', ' apple', ':', '1', '2', '0',
         'name', ' ', '}]', 'x']
TOKEN = {text: i for i, text in enumerate(VOCAB)}


def run_guard(guard: JsonBudgetGuard, texts: list[str]) -> np.ndarray:
    """Feed the guard ``texts`` one by one after what it saw before (first a 3-token prompt),
    as llama-cpp-python does: the whole sequence on every call. Return the last scores."""
    ids = guard.__dict__.setdefault("test_ids", [0, 0, 0])
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    out = guard(np.array(ids), scores) if guard.prompt_length is None else scores
    for text in texts:
        ids.append(TOKEN[text])
        out = guard(np.array(ids), scores)
    return out


def test_scanner_tracks_strings_numbers_and_containers():
    scanner = JsonScanner()
    scanner.feed('{"a": [1, "x\\"]')
    assert (scanner.stack, scanner.in_string, scanner.in_number) == (["{", "["], True, False)
    scanner.feed('", 12')
    assert (scanner.depth, scanner.in_number) == (3, True)
    scanner.feed("]}")
    assert scanner.depth == 0


def test_closing_tokens_rank_what_ends_values():
    closing = ClosingTokens(VOCAB)
    inside = dict(zip(*(a.tolist() for a in closing.in_string)))
    outside = dict(zip(*(a.tolist() for a in closing.outside)))
    # in a string: only tokens that start by closing it, the more closing the better
    assert set(inside) == {TOKEN['"'], TOKEN['"]'], TOKEN['"}'], TOKEN['"]}']}
    assert inside[TOKEN['"]}']] > inside[TOKEN['"]']] > inside[TOKEN['"']]
    # elsewhere: brackets before a comma before opening an (empty) string; never words
    assert outside[TOKEN['}]']] > outside[TOKEN[']']] > outside[TOKEN[',']]
    assert outside[TOKEN['""']] > outside[TOKEN['"']]
    assert TOKEN['apple'] not in outside and TOKEN['apple'] not in inside


def test_repeated_list_items_close_the_list():
    guard = JsonBudgetGuard(ClosingTokens(VOCAB), max_tokens=500, reserve=20)
    before = run_guard(guard, ['{', '"', 'name', '"', ':', '[', '"', 'apple', '"', ',', ' "', 'apple', '"', ','])
    assert guard.repetitions == 0 and guard.close_below is None and not before.any()
    scores = run_guard(guard, [' "', 'apple', '"', ',', ' "', 'apple'])
    assert guard.repetitions == 1
    assert guard.close_below == 2  # the list (depth 2), not just the string that repeats
    assert scores[TOKEN['"]}']] == CLOSING_BONUS * 5 and scores[TOKEN['apple']] == 0
    # once the list is closed the model writes freely again
    out = run_guard(guard, ['"]', ','])
    assert guard.close_below is None and not out.any()


def test_a_digit_repeated_closes_the_number_only():
    guard = JsonBudgetGuard(ClosingTokens(VOCAB), max_tokens=500, reserve=20)
    run_guard(guard, ['{', '"', 'name', '"', ':', '1'] + ['0'] * 6)
    assert guard.repetitions == 1 and guard.close_below == 2  # the number, inside the object


def test_a_run_of_closing_brackets_is_not_a_repetition():
    guard = JsonBudgetGuard(ClosingTokens(VOCAB), max_tokens=500, reserve=20)
    run_guard(guard, ['{', '"', 'name', '"', ':'] + ['['] * 7 + [']'] * 7)
    assert guard.repetitions == 0 and guard.close_below is None


def test_items_that_differ_only_in_a_counter_close_the_list():
    item = ['{', '"', 'name', '"', ':', 'DIGIT', '}', ',']
    tokens = ['[']
    for n in ('1', '2', '0'):
        tokens += [n if t == 'DIGIT' else t for t in item]
    guard = JsonBudgetGuard(ClosingTokens(VOCAB), max_tokens=500, reserve=20)
    run_guard(guard, tokens[:-9])
    assert guard.repetitions == 0  # two items are not yet a pattern
    run_guard(guard, tokens[-9:])
    assert guard.repetitions == 1 and guard.close_below == 1


def test_the_budget_closes_everything_from_max_tokens_minus_reserve():
    guard = JsonBudgetGuard(ClosingTokens(VOCAB), max_tokens=12, reserve=5)
    run_guard(guard, ['{', '"', 'name', '"', ':', ' "'])
    assert guard.close_below is None
    scores = run_guard(guard, ['x'])  # the 7th generated token: 12 - 5 reached
    assert guard.budget_closed and guard.close_below == 1
    assert scores[TOKEN['"}']] > scores[TOKEN['"']] > 0 == scores[TOKEN['x']]


def test_the_mask_is_kept_a_forbidden_closer_stays_forbidden():
    guard = JsonBudgetGuard(ClosingTokens(VOCAB), max_tokens=8, reserve=8)
    scores = np.full(len(VOCAB), -np.inf, dtype=np.float32)
    scores[TOKEN['x']] = 1.0
    out = guard(np.array([0, 0, 0]), scores)
    assert guard.budget_closed
    assert out[TOKEN['x']] == 1.0 and np.isneginf(np.delete(out, TOKEN['x'])).all()


def test_closing_reserve_counts_required_fields_and_survives_recursion():
    small = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    # the smallest object (2 brackets + '"a"' + 3 separators + '""'), then from inside "a" its
    # own smallest value again (2), then the margin of 16
    assert closing_reserve(small) == (2 + 3 + 3 + 2) + 2 + 16
    bigger = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"enum": ["a-long-enum-value"]}},
              "required": ["a", "b"]}
    assert closing_reserve(bigger) > closing_reserve(small)

    class Node(synaplex.DataModel):
        label: str
        children: list[Node] = []

    assert 0 < closing_reserve(Node.get_schema()) < 200


# --- the build recipe -----------------------------------------------------------------------

def _install_script():
    spec = importlib.util.spec_from_file_location("synaplex_install", ROOT / "scripts" / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wheelhouse_is_keyed_by_version_and_flags(monkeypatch, tmp_path):
    install = _install_script()
    monkeypatch.setenv("SYNAPLEX_WHEELHOUSE", str(tmp_path))
    portable, native = install.wheelhouse(), install.wheelhouse(native=True)
    assert portable.parent == tmp_path and portable != native
    assert install.LLAMA_CPP_PYTHON_VERSION in portable.name and "portable" in portable.name
    monkeypatch.setattr(install, "PORTABLE_CMAKE_ARGS", install.PORTABLE_CMAKE_ARGS + ("-DGGML_AVX512=ON",))
    assert install.wheelhouse() != portable  # other flags: another folder, never the old wheel
    monkeypatch.setattr(install, "LLAMA_CPP_PYTHON_VERSION", "0.0.1")
    assert "0.0.1" in install.wheelhouse().name


def test_recipe_is_portable():
    args = _install_script().PORTABLE_CMAKE_ARGS
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AVX2=ON" in args
    for flag in ("AVX512", "AMX_TILE", "AMX_INT8", "AMX_BF16", "AVX_VNNI", "CPU_ALL_VARIANTS"):
        assert f"-DGGML_{flag}=OFF" in args


@pytest.mark.integration
def test_installed_llama_cpp_is_the_portable_build():
    """The library CI and the demo run: no AMX or AVX-512 kernel compiled in, whatever this CPU claims."""
    import llama_cpp

    install = _install_script()
    info = llama_cpp.llama_print_system_info().decode()
    features = {k.strip(): v.strip() for part in info.split("|") if "=" in part
                for k, v in [part.split(":")[-1].split("=", 1)]}
    assert features.get("AVX2") == "1", info
    for feature in install.PORTABLE_FORBIDDEN_FEATURES:
        assert features.get(feature, "0") == "0", f"{feature} is compiled in: {info}"
    assert llama_cpp.__version__ == install.LLAMA_CPP_PYTHON_VERSION


# --- the real embedded model, default settings ----------------------------------------------

@pytest.fixture(scope="module")
def lm():
    return synaplex.LanguageModel(model="local")  # defaults: nothing tuned


@pytest.mark.integration
async def test_issue_schema_finishes_valid_with_defaults(lm):
    value = await lm([{"role": "user", "content": "What is the capital of France?"}], schema=Reply.get_schema())
    Reply.model_validate(value)
    guard = lm._adapter.last_guard
    assert lm.last_usage.output_tokens <= guard["max_tokens"] <= 1024
    assert guard["reserve"] == closing_reserve(bounded(Reply.get_schema(), 400, 16))


@pytest.mark.integration
async def test_repetition_is_cut_short(lm):
    class Words(synaplex.DataModel):
        words: list[str]

    value = await lm([{"role": "user", "content": PROMPTS[4]}], schema=Words.get_schema())
    guard = lm._adapter.last_guard["guard"]
    assert guard.repetitions >= 1
    assert len(value["words"]) < 16  # the array bound is not what ended it
    # no value repeats more than twice in a row: the guard closed the list at the repetition
    runs = [value["words"][i:i + 3] for i in range(len(value["words"]) - 2)]
    assert not any(len(set(run)) == 1 for run in runs), value


@pytest.mark.integration
async def test_a_schema_whose_bounds_exceed_the_context_still_ends_valid():
    class Essay(synaplex.DataModel):
        title: str
        paragraphs: list[str]
        summary: str

    # Bounds allow 50 strings of 4,000 characters: far more than the 512-token context holds.
    small = synaplex.LanguageModel(model="local", n_ctx=512, max_string_length=4000, max_items=50)
    prompt = "Write a very long essay about the history of Rome, with many long paragraphs. " * 4
    value = await small([{"role": "user", "content": prompt}], schema=Essay.get_schema())
    Essay.model_validate(value)
    guard = small._adapter.last_guard
    assert guard["max_tokens"] < 512 - 48  # the free context, not the schema's bounds
    assert small.last_usage.output_tokens <= guard["max_tokens"]


@pytest.mark.integration
async def test_a_small_budget_closes_the_json_in_time():
    class Essay(synaplex.DataModel):
        essay: str
        topic: str

    lm = synaplex.LanguageModel(model="local", json_max_tokens=40)
    value = await lm([{"role": "user", "content": "Write a long essay about the history of Rome."}],
                     schema=Essay.get_schema())
    Essay.model_validate(value)
    guard = lm._adapter.last_guard["guard"]
    assert guard.budget_closed and lm.last_usage.output_tokens <= 40


@pytest.mark.integration
async def test_the_guard_also_runs_with_the_llama_cpp_grammar():
    class Words(synaplex.DataModel):
        words: list[str]

    lm = synaplex.LanguageModel(model="local", constrained_decoding="llama.cpp")
    value = await lm([{"role": "user", "content": PROMPTS[4]}], schema=Words.get_schema())
    Words.model_validate(value)
    assert len(value["words"]) < 16 and lm._adapter.last_guard["guard"].repetitions >= 1


@pytest.mark.integration
async def test_a_prompt_that_leaves_no_room_for_the_schema_is_a_context_error():
    lm = synaplex.LanguageModel(model="local", n_ctx=256)
    with pytest.raises(ContextWindowExceededError,
                       match=r"a reply of this schema needs at least \d+: requested tokens exceed context window "
                             r"of 256.*larger n_ctx"):
        await lm([{"role": "user", "content": "word " * 200}], schema=Reply.get_schema())


def test_json_max_tokens_must_be_a_sensible_integer():
    with pytest.raises(InvalidInputError, match="json_max_tokens must be an integer >= 16, got 3"):
        synaplex.LanguageModel(model="local", json_max_tokens=3)


def test_json_max_tokens_is_saved():
    lm = synaplex.LanguageModel(model="local", json_max_tokens=300)
    assert lm.get_config()["json_max_tokens"] == 300
    assert synaplex.LanguageModel.from_config(lm.get_config())._adapter.json_max_tokens == 300


# The generated set: every schema, with three of the ten prompts each, so that the ten prompts
# are all used (bench/structured_local.py runs every schema with every prompt).
CASES = [(name, model, PROMPTS[(3 * i + k) % len(PROMPTS)])
         for i, (name, model) in enumerate(schemas()) for k in range(3)]


@pytest.mark.integration
@pytest.mark.parametrize("name,model,prompt", CASES, ids=[f"{c[0]}-p{PROMPTS.index(c[2])}" for c in CASES])
async def test_generated_schemas_are_always_valid(lm, name, model, prompt):
    schema = model.get_schema()
    value = await lm([{"role": "user", "content": prompt}], schema=schema)
    jsonschema.validate(value, schema)
    model.model_validate(value)
    assert lm.last_usage.output_tokens <= lm._adapter.last_guard["max_tokens"]
    json.dumps(value)
