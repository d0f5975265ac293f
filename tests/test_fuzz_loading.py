"""Property-based tests of the program and variables loaders (issue 11: fuzzing, and item 11
for program files).

Whatever a file holds (arbitrary JSON, a real program file with parts replaced, deleted,
moved or retyped, text cut or spliced, JSON nested 10,000 deep), ``Program.load`` either
returns a Program or raises a typed synaplex error, and in safe mode nothing happens on
the way: no file is created, and a module the file names is never imported.
``load_variables`` either assigns every variable or raises a typed error and changes
nothing. Each test runs a bounded, derandomized number of examples (thousands in all) so
that the suite stays fast and reproducible.
"""

import asyncio
import copy
import json
import os
import sys
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synaplex
from synaplex.errors import SavingError, SynaplexError
from synaplex.modules.mcp import MCPTool, MultiServerMCPClient
from tests.conftest import Answer, AnswerWithRationale, Query


def fuzz_settings(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


CANARY = "synaplex_fuzz_canary"  # a module the mutated files name; importing it would be a failure

# Keys and names the loader looks at, so that generated data reaches deep into it.
KEYS = ["format", "synaplex_version", "program", "variables", "compile", "build_input_schemas", "module",
        "class_name", "registered_name", "config", "name", "modules", "nodes", "inputs", "outputs", "args",
        "kwargs", "__node__", "__tuple__", "language_model", "model", "api_base", "api_key", "caching",
        "fallback", "responses", "responses_callable", "tools", "connection", "command", "url", "headers", "env",
        "transport", "server_name", "tool_name", "parameters", "schema", "data_model", "reward", "optimizer",
        "metrics", "optimizer_state", "function", "instructions", "examples", "type", "properties"]
STRINGS = ["synaplex.program", "synaplex.variables", "0.1.0", "99.0.0", "Program", "Sequential", "Generator",
           "InputModule", "LanguageModel", "MCPTool", "function", "synaplex>MCPTool", "synaplex.programs.program",
           "synaplex.modules.generator", "synaplex.lm.language_model", "synaplex.modules.mcp", "synaplex",
           "synaplex..x", "os", "system", "subprocess", "Popen", CANARY, f"{CANARY}:reply", "os:system",
           "scripted", "openai/gpt-4o-mini", "local", "disk", "memory", "stdio", "http://127.0.0.1:9/v1",
           "${HOME}", "Bearer ${OPENAI_API_KEY}", "sh", "object", "string", "generator/state", "cache.sqlite"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(STRINGS) | st.text(max_size=12))
keys = st.sampled_from(KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=12)


@pytest.fixture(scope="module")
def base_files():
    """Real program files (functional, with every kind of module config; sequential; compiled)
    and the functional program, to fuzz from."""

    async def build():
        lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}], caching="memory",
                                    fallback=synaplex.LanguageModel(model="scripted", responses=[]))
        inputs = synaplex.Input(data_model=Query)
        a = await synaplex.Generator(data_model=Answer, language_model=lm, instructions="Be brief.")(inputs)
        b = await synaplex.ChainOfThought(data_model=AnswerWithRationale, language_model=lm)(inputs)
        easy, hard = await synaplex.Branch(question="Difficulty?", labels=["easy", "hard"], language_model=lm,
                                           branches=[synaplex.Generator(data_model=Answer, language_model=lm),
                                                     synaplex.Generator(data_model=Answer, language_model=lm)])(
            inputs)
        client = MultiServerMCPClient({"math": {"url": "http://127.0.0.1:9/mcp"}})
        tool = MCPTool(client, "math", "add", parameters={"type": "object", "properties": {"a": {"type": "number"}}})
        agent = await synaplex.FunctionCallingAgent(data_model=Answer, tools=[tool], language_model=lm)(inputs)
        functional = synaplex.Program(inputs=inputs, outputs=[(a & b).in_mask(mask=["answer"]), easy | hard, agent],
                                      name="fuzzed")
        functional.compile(reward=synaplex.rewards.ExactMatch(in_mask=["answer"]),
                           optimizer=synaplex.optimizers.RandomFewShot())
        sequential = synaplex.Sequential([synaplex.Input(data_model=Query),
                                          synaplex.Generator(data_model=Answer, language_model=lm)])
        return functional, sequential

    functional, sequential = asyncio.run(build())
    files = {}
    for name, program in (("functional", functional), ("sequential", sequential)):
        payload = synaplex.saving.serialize_synaplex_object(program)
        files[name] = json.loads(json.dumps({
            "format": "synaplex.program", "synaplex_version": synaplex.__version__, "program": payload,
            "variables": {path: v.get_json() for path, v in program._variable_items()},
            **({"compile": program._compile_config()} if program._compiled else {})}))
    return files, functional


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """An empty working folder (a relative path in a file would land here), and the cache
    folder's environment variable pointed into it."""
    folder = tmp_path_factory.mktemp("fuzz")
    code = tmp_path_factory.mktemp("code")
    (code / f"{CANARY}.py").write_text("def reply(messages, schema):\n    return {'answer': 'canary'}\n")
    previous, cache = os.getcwd(), os.environ.get("SYNAPLEX_CACHE_DIR")
    os.chdir(folder)
    os.environ["SYNAPLEX_CACHE_DIR"] = str(folder / "cache")
    sys.path.insert(0, str(code))
    try:
        yield folder
    finally:
        sys.path.remove(str(code))
        sys.modules.pop(CANARY, None)
        os.chdir(previous)
        if cache is None:
            os.environ.pop("SYNAPLEX_CACHE_DIR", None)
        else:
            os.environ["SYNAPLEX_CACHE_DIR"] = cache


def load_text(workdir, text: str):
    """Load ``text`` as a program file: a Program or a typed error, and no side effect."""
    path = workdir / "fuzzed.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a lambda saved as a scripted model's replies warns
        try:
            loaded = synaplex.Program.load(path)
        except SynaplexError as error:
            assert str(error)
            loaded = error
    assert sorted(os.listdir(workdir)) == ["fuzzed.json"], "loading created a file"
    assert CANARY not in sys.modules, "loading imported a module the file names"
    assert isinstance(loaded, (synaplex.Program, SynaplexError))
    return loaded


def load_data(workdir, data):
    return load_text(workdir, json.dumps(data))


# --------------------------------------------------------------------------- generated files


@fuzz_settings(300)
@given(program=json_values, extra=st.dictionaries(keys, json_values, max_size=4),
       version=st.sampled_from(["0.1.0", "0.9", 1, None, "x"]))
def test_generated_program_files_give_a_program_or_a_typed_error(workdir, program, extra, version):
    data = {"format": "synaplex.program", "synaplex_version": version, "program": program, **extra}
    load_data(workdir, data)


@fuzz_settings(200)
@given(data=json_values)
def test_any_json_document_gives_a_program_or_a_typed_error(workdir, data):
    load_data(workdir, data)


# --------------------------------------------------------------------------- mutated files


def walk(data, choices: list[int]) -> tuple:
    """A path into ``data``: each choice picks a child, until the choices or the tree end."""
    path, node = (), data
    for choice in choices:
        children = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not children:
            break
        key = children[choice % len(children)]
        path, node = (*path, key), node[key]
    return path


def mutate(data, path, operation, value, other):
    """Apply one mutation at ``path`` (a key path into ``data``); ``other`` is another path."""
    if not path:
        return value
    *parent_path, key = path
    parent = data
    for part in parent_path:
        parent = parent[part]
    if operation == "replace":
        parent[key] = value
    elif operation == "delete":
        del parent[key]
    elif operation == "retype":
        current = parent[key]
        parent[key] = (json.dumps(current) if not isinstance(current, str)
                       else [current] if len(current) % 2 else {"value": current})
    elif operation == "move":  # a subtree where another belongs (a module config in a tool's place...)
        source = data
        for part in other:
            source = source[part]
        parent[key] = copy.deepcopy(source)
    elif operation == "insert":
        if isinstance(parent[key], dict):
            parent[key][str(value)[:10] if not isinstance(value, str) else value] = copy.deepcopy(value)
        elif isinstance(parent[key], list):
            parent[key].append(copy.deepcopy(value))
        else:
            parent[key] = value
    return data


paths = st.lists(st.integers(min_value=0, max_value=63), max_size=14)
mutations = st.lists(st.tuples(paths, st.sampled_from(["replace", "delete", "retype", "move", "insert"]),
                               json_values, paths), min_size=1, max_size=3)


@fuzz_settings(500)
@given(which=st.sampled_from(["functional", "sequential"]), steps=mutations)
def test_mutated_program_files_give_a_program_or_a_typed_error(workdir, base_files, which, steps):
    data = copy.deepcopy(base_files[0][which])
    for path, operation, value, other in steps:
        data = mutate(data, walk(data, path), operation, value, walk(data, other))
    load_data(workdir, data)


@fuzz_settings(300)
@given(which=st.sampled_from(["functional", "sequential"]), cut=st.floats(min_value=0, max_value=1),
       splice=st.text(max_size=6), drop=st.integers(min_value=0, max_value=8))
def test_cut_and_spliced_text_gives_a_program_or_a_typed_error(workdir, base_files, which, cut, splice, drop):
    text = json.dumps(base_files[0][which])
    position = int(cut * len(text))
    load_text(workdir, text[:position] + splice + text[position + drop:])


# --------------------------------------------------------------------------- nesting


def nested(depth: int, kind: str):
    return "[" * depth + "]" * depth if kind == "list" else '{"a": ' * depth + "1" + "}" * depth


@pytest.mark.parametrize("where", ["document", "program", "module config", "variables", "compile"])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_json_nested_10000_deep_is_a_typed_error(workdir, base_files, where, kind):
    placeholder = "\"__DEEP__\""
    data = copy.deepcopy(base_files[0]["functional"])
    if where == "program":
        data["program"] = "__DEEP__"
    elif where == "module config":
        data["program"]["config"]["modules"][1]["config"]["instructions"] = "__DEEP__"
    elif where == "variables":
        data["variables"]["generator/state"]["examples"] = "__DEEP__"
    elif where == "compile":
        data["compile"]["reward"]["config"] = "__DEEP__"
    text = nested(10_000, kind) if where == "document" else json.dumps(data).replace(placeholder,
                                                                                     nested(10_000, kind), 1)
    error = load_text(workdir, text)
    assert isinstance(error, SavingError)
    assert str(error) == (f"Cannot load {str(workdir / 'fuzzed.json')!r}: its JSON is nested more than 100 levels "
                          "deep, deeper than any synaplex file.")


@fuzz_settings(40)
@given(depth=st.integers(min_value=1, max_value=20_000), kind=st.sampled_from(["list", "dict"]),
       where=st.sampled_from(["program", "instructions", "schema", "examples"]))
def test_any_nesting_depth_gives_a_program_or_a_typed_error(workdir, base_files, depth, kind, where):
    data = copy.deepcopy(base_files[0]["functional"])
    generator = data["program"]["config"]["modules"][1]["config"]
    target = {"program": (data, "program"), "instructions": (generator, "instructions"),
              "schema": (generator, "schema"), "examples": (data["variables"]["generator/state"], "examples")}
    holder, key = target[where]
    holder[key] = "__DEEP__"
    load_text(workdir, json.dumps(data).replace("\"__DEEP__\"", nested(depth, kind), 1))


# --------------------------------------------------------------------------- variables files


@pytest.fixture(scope="module")
def variables_target(base_files):
    program = base_files[1]
    return program, {path: json.dumps(v.get_json(), sort_keys=True) for path, v in program._variable_items()}


def load_variables_text(workdir, program, before, text):
    path = workdir / "fuzzed.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        program.load_variables(path)
    except SynaplexError as error:
        assert str(error)
        after = {p: json.dumps(v.get_json(), sort_keys=True) for p, v in program._variable_items()}
        assert after == before, "a failed load_variables changed the program"
        return error
    finally:
        assert sorted(os.listdir(workdir)) == ["fuzzed.json"]
    for variable_path, variable in program._variable_items():  # it loaded: put the originals back
        variable._value = json.loads(before[variable_path])
    return None


@fuzz_settings(300)
@given(variables=json_values, extra=st.dictionaries(keys, json_values, max_size=3))
def test_generated_variables_files_give_a_typed_error_and_change_nothing(workdir, variables_target, variables,
                                                                         extra):
    program, before = variables_target
    data = {"format": "synaplex.variables", "synaplex_version": "0.1.0", "variables": variables, **extra}
    load_variables_text(workdir, program, before, json.dumps(data))


@fuzz_settings(400)
@given(steps=mutations, cut=st.none() | st.floats(min_value=0, max_value=1))
def test_mutated_variables_files_load_whole_or_change_nothing(workdir, variables_target, steps, cut):
    program, before = variables_target
    data = {"format": "synaplex.variables", "synaplex_version": "0.1.0",
            "variables": {path: json.loads(value) for path, value in before.items()}}
    for path, operation, value, other in steps:
        data = mutate(data, walk(data, path), operation, value, walk(data, other))
    text = json.dumps(data)
    if cut is not None:
        text = text[:int(cut * len(text))]
    load_variables_text(workdir, program, before, text)


def test_variables_nested_10000_deep_are_a_typed_error_and_change_nothing(workdir, variables_target):
    program, before = variables_target
    text = json.dumps({"format": "synaplex.variables", "synaplex_version": "0.1.0",
                       "variables": {p: json.loads(v) for p, v in before.items()}})
    text = text.replace('"examples": []', '"examples": ' + nested(10_000, "list"), 1)
    error = load_variables_text(workdir, program, before, text)
    assert isinstance(error, SavingError) and "nested more than 100 levels deep" in str(error)


@pytest.mark.parametrize("loader", ["program", "variables"])
def test_a_number_too_long_to_read_is_a_typed_error(workdir, variables_target, loader):
    digits = "7" * 5000  # past Python's int conversion limit: json.loads raises a bare ValueError
    if loader == "program":
        error = load_text(workdir, '{"format": "synaplex.program", "synaplex_version": "0.1.0", "program": '
                          + digits + "}")
    else:
        program, before = variables_target
        error = load_variables_text(workdir, program, before, '{"format": "synaplex.variables", '
                                    '"synaplex_version": "0.1.0", "variables": ' + digits + "}")
    assert isinstance(error, SavingError)
    assert str(error) == (f"Cannot load {str(workdir / 'fuzzed.json')!r}: it is not valid JSON (Exceeds the limit "
                          "(4300 digits) for integer string conversion: value has 5000 digits; use "
                          "sys.set_int_max_str_digits() to increase the limit).")
