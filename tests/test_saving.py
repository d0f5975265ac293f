import errno
import json
import os
import stat
import subprocess
import sys
import time

import pytest

import synaplex
from synaplex.errors import InvalidInputError, SavingError, UnknownClassError, UnsafeLoadError
from synaplex.version import __version__
from tests.conftest import Answer, AnswerWithRationale, MixedQA, Query, scripted
from tests.reply_fns import constant_answer

# by_schema lives in this test module, importable as tests.test_saving


def lm_for(*answers):
    return scripted(*[{"answer": a} for a in answers])


def by_schema(messages, schema):
    if "rationale" in schema["properties"]:
        return {"rationale": "r", "answer": "y"}
    return {"answer": "x"}


async def functional_program():
    lm = synaplex.LanguageModel(model="scripted", responses=by_schema)
    inputs = synaplex.Input(data_model=Query)
    a = await synaplex.Generator(data_model=Answer, language_model=lm, instructions="Be brief.")(inputs)
    b = await synaplex.Generator(data_model=AnswerWithRationale, language_model=lm)(inputs)
    merged = (a & b).in_mask(mask=["answer", "answer_1"])
    return synaplex.Program(inputs=inputs, outputs=[merged, ~a, a ^ b], name="qa", description="d")


async def test_functional_round_trip_keeps_structure_and_variables(tmp_path):
    program = await functional_program()
    program.get_module(name="generator").state["instructions"] = "Trained instructions."
    path = tmp_path / "p.json"
    program.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "synaplex.program" and data["synaplex_version"] == __version__
    assert data["variables"]["generator/state"]["instructions"] == "Trained instructions."

    loaded = synaplex.Program.load(path, custom_objects={"by_schema": by_schema})
    assert loaded.name == "qa" and loaded.description == "d"
    assert [(m.name, type(m).__name__) for m in loaded.modules] == \
        [(m.name, type(m).__name__) for m in program.modules]
    assert loaded.get_module(name="generator").state["instructions"] == "Trained instructions."
    merged, nothing, xor = await loaded(Query(query="q"))
    assert merged.get_json() == {"answer": "x", "answer_1": "y"}  # the callable was restored
    assert nothing is None and xor is None
    # the reloaded program saves to the same file content
    loaded.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == data


async def test_sequential_round_trip(tmp_path):
    program = synaplex.Sequential([synaplex.Input(data_model=Query),
                                   synaplex.Generator(data_model=Answer, language_model=lm_for("s"))],
                                  name="seq")
    program.save(tmp_path / "s.json")
    loaded = synaplex.Program.load(tmp_path / "s.json")
    assert isinstance(loaded, synaplex.Sequential) and loaded.name == "seq"
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "s"}


@synaplex.saving.register_synaplex_serializable()
class SubclassedQA(synaplex.Program):
    def __init__(self, language_model, name=None):
        super().__init__(name=name)
        self.gen = synaplex.Generator(data_model=Answer, language_model=language_model)

    async def call(self, inputs, training=False):
        return await self.gen(inputs)

    def get_config(self):
        return {"name": self.name,
                "language_model": synaplex.saving.serialize_synaplex_object(self.language_model)}

    @classmethod
    def from_config(cls, config):
        lm = synaplex.saving.deserialize_synaplex_object(config.pop("language_model"))
        return cls(language_model=lm, **config)


async def test_subclassed_round_trip_through_registry(tmp_path):
    program = SubclassedQA(lm_for("sub"), name="mine")
    program.gen.state["instructions"] = "Changed."
    program.save(tmp_path / "sub.json")
    synaplex.clear_session()
    synaplex.Generator(data_model=Answer, language_model=lm_for())  # takes the name "generator"
    loaded = synaplex.Program.load(tmp_path / "sub.json")
    assert isinstance(loaded, SubclassedQA) and loaded.name == "mine"
    assert loaded.gen.state["instructions"] == "Changed."  # variables are found by attribute path
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "sub"}


async def test_mixed_round_trip_loads_as_a_working_program(tmp_path):
    program = MixedQA(lm_for("m1", "m2"))
    assert (await program(Query(query="q"))).get_json() == {"answer": "m1"}
    program.save(tmp_path / "m.json")
    loaded = synaplex.Program.load(tmp_path / "m.json")  # MixedQA is not registered: loads as a Program
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "m1"}
    assert [type(m).__name__ for m in loaded.modules] == ["InputModule", "Generator"]


async def test_save_and_load_variables(tmp_path):
    program = await functional_program()
    program.get_module(name="generator_1").state["examples"] = [{"inputs": {"query": "q"}, "outputs": {"answer": "a"}}]
    program.save_variables(tmp_path / "v.json")
    synaplex.clear_session()
    fresh = await functional_program()
    assert fresh.get_module(name="generator_1").state["examples"] == []
    fresh.load_variables(tmp_path / "v.json")
    assert fresh.get_module(name="generator_1").state["examples"][0]["outputs"] == {"answer": "a"}


async def test_load_variables_into_a_different_program_changes_nothing(tmp_path):
    program = await functional_program()
    program.save_variables(tmp_path / "v.json")
    other = SubclassedQA(lm_for())
    before = other.gen.state.get_json()
    with pytest.raises(SavingError, match="the file has variables the program lacks.*generator/state"):
        other.load_variables(tmp_path / "v.json")
    assert other.gen.state.get_json() is before


async def test_invalid_variable_value_changes_nothing(tmp_path):
    program = await functional_program()
    program.save_variables(tmp_path / "v.json")
    data = json.loads((tmp_path / "v.json").read_text())
    data["variables"]["generator/state"]["instructions"] = "new"
    data["variables"]["generator_1/state"]["instructions"] = 42
    (tmp_path / "v.json").write_text(json.dumps(data))
    with pytest.raises(SavingError, match="variable 'generator_1/state'.*instructions"):
        program.load_variables(tmp_path / "v.json")
    assert program.get_module(name="generator").state["instructions"] == "Be brief."


def test_register_and_round_trip_functions_and_objects():
    @synaplex.saving.register_synaplex_serializable(package="Tests")
    async def my_reward(y_true, y_pred):
        return 1.0

    assert synaplex.saving.get_registered_name(my_reward) == "Tests>my_reward"
    config = synaplex.saving.serialize_synaplex_object({"fn": my_reward, "lm": lm_for("a")})
    assert config["fn"] == {"class_name": "function", "registered_name": "Tests>my_reward"}
    back = synaplex.saving.deserialize_synaplex_object(json.loads(json.dumps(config)))
    assert back["fn"] is my_reward and back["lm"].model == "scripted"
    assert synaplex.utils.register_synaplex_serializable is synaplex.saving.register_synaplex_serializable


def test_unregistered_function_cannot_be_serialized():
    async def loose(y_true, y_pred):
        return 0.0

    with pytest.raises(SavingError, match="register_synaplex_serializable"):
        synaplex.saving.serialize_synaplex_object(loose)


def test_saved_files_never_contain_the_api_key(tmp_path):
    lm = synaplex.LanguageModel(model="scripted", responses=[], api_key="sk-secret-123456789012345678")
    assert "sk-secret" not in json.dumps(synaplex.saving.serialize_synaplex_object(lm))
    assert "sk-secret" not in repr(lm)


async def test_scripted_callable_is_restored_by_import_path(tmp_path):
    inputs = synaplex.Input(data_model=Query)
    out = await synaplex.Generator(data_model=Answer,
                                   language_model=synaplex.LanguageModel(model="scripted",
                                                                         responses=constant_answer))(inputs)
    synaplex.Program(inputs=inputs, outputs=out).save(tmp_path / "c.json")
    with pytest.raises(UnsafeLoadError, match="would import the module 'tests.reply_fns'"):
        synaplex.Program.load(tmp_path / "c.json")  # safe mode imports nothing (tests/test_safe_loading.py)
    loaded = synaplex.Program.load(tmp_path / "c.json", allow=("imports",))
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "from an importable callable"}


async def test_scripted_lambda_says_what_to_supply_again(tmp_path):
    inputs = synaplex.Input(data_model=Query)
    lm = synaplex.LanguageModel(model="scripted", responses=lambda m, s: {"answer": "λ"})
    out = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    synaplex.Program(inputs=inputs, outputs=out).save(tmp_path / "l.json")
    with pytest.warns(UserWarning, match="set_responses"):
        loaded = synaplex.Program.load(tmp_path / "l.json")
    with pytest.raises(synaplex.errors.MissingResponsesError, match="Python callable as responses"):
        await loaded(Query(query="q"))
    loaded.get_module(name="generator").language_model.set_responses(lambda m, s: {"answer": "back"})
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "back"}


# --- bad files ---------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(SavingError, match="nope.json.*does not exist") as info:
        synaplex.Program.load(path)
    assert info.value.path == str(path)


def test_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("this is not json")
    with pytest.raises(SavingError, match="bad.json.*not valid JSON.*line 1"):
        synaplex.Program.load(path)


async def test_truncated_file_is_reported_and_leaves_files_alone(tmp_path):
    program = await functional_program()
    program.save(tmp_path / "p.json")
    text = (tmp_path / "p.json").read_text()
    (tmp_path / "p.json").write_text(text[: len(text) // 2])
    with pytest.raises(SavingError, match="looks truncated"):
        synaplex.Program.load(tmp_path / "p.json")
    assert (tmp_path / "p.json").read_text() == text[: len(text) // 2]
    assert os.listdir(tmp_path) == ["p.json"]


def test_wrong_format(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps({"format": "synaplex.variables", "synaplex_version": "0.1.0"}))
    with pytest.raises(SavingError, match="not a synaplex.program file"):
        synaplex.Program.load(tmp_path / "v.json")


async def test_newer_major_version(tmp_path):
    program = await functional_program()
    program.save(tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    data["synaplex_version"] = "99.0.0"
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(SavingError, match="saved by synaplex 99.0.0, a newer major version"):
        synaplex.Program.load(tmp_path / "p.json")


async def test_unregistered_class(tmp_path):
    class NotRegistered(synaplex.Program):
        async def call(self, inputs, training=False):
            return inputs

    NotRegistered(name="nr").save(tmp_path / "u.json")
    with pytest.raises(UnknownClassError, match="u.json.*NotRegistered.*not registered.*custom_objects"):
        synaplex.Program.load(tmp_path / "u.json")
    loaded = synaplex.Program.load(tmp_path / "u.json", custom_objects={"NotRegistered": NotRegistered})
    assert isinstance(loaded, NotRegistered) and loaded.name == "nr"


async def test_failed_save_keeps_the_previous_file(tmp_path):
    program = await functional_program()
    program.save(tmp_path / "p.json")
    before = (tmp_path / "p.json").read_text()

    async def unregistered(y_true, y_pred):
        return 0.0

    program.get_module(name="generator").description = unregistered  # not serializable
    with pytest.raises(SavingError):
        program.save(tmp_path / "p.json")
    assert (tmp_path / "p.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["p.json"]


# --- durable writes (issue 11, item 15) --------------------------------------------------


def record_fsyncs(monkeypatch):
    """Record each fsync as ("file" or "folder", inode)."""
    synced, real = [], os.fsync

    def fsync(descriptor):
        info = os.fstat(descriptor)
        synced.append(("folder" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


async def test_save_fsyncs_the_file_then_its_folder(tmp_path, monkeypatch):
    program = await functional_program()
    synced = record_fsyncs(monkeypatch)
    program.save(tmp_path / "p.json")
    program.save_variables(tmp_path / "v.json")
    folder = os.stat(tmp_path).st_ino
    assert synced == [("file", os.stat(tmp_path / "p.json").st_ino), ("folder", folder),
                      ("file", os.stat(tmp_path / "v.json").st_ino), ("folder", folder)]


async def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    program = await functional_program()
    program.save(tmp_path / "p.json")
    before = (tmp_path / "p.json").read_text()

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SavingError) as caught:
        program.save(tmp_path / "p.json")
    assert str(caught.value) == (f"Cannot save {str(tmp_path / 'p.json')!r}: [Errno {errno.ENOSPC}] No space left on "
                                 "device. The previous file, if any, is unchanged.")
    assert caught.value.path == str(tmp_path / "p.json")
    assert os.listdir(tmp_path) == ["p.json"] and (tmp_path / "p.json").read_text() == before


KILLED_WRITER = """
import os, sys, time
from synaplex.saving import files

def hang(*args):
    print("written", flush=True)
    time.sleep(60)

os.replace = hang  # killed between the write and the rename
files.write_json_atomically(sys.argv[1], {"big": "x" * 100000})
"""


async def test_a_killed_save_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    program = await functional_program()
    program.save(tmp_path / "p.json")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "p.json")], cwd=root,
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"written\n"
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    (leftover,) = [name for name in os.listdir(tmp_path) if name != "p.json"]
    assert leftover.startswith(f".p.json.{writer.pid}.") and leftover.endswith(".synaplex-tmp")
    assert synaplex.saving.files.is_temporary(leftover)
    program.save(tmp_path / "other.json")  # any later save in the folder removes it
    assert sorted(os.listdir(tmp_path)) == ["other.json", "p.json"]


async def test_a_live_writers_temporary_file_is_left_alone_until_stale(tmp_path):
    program = await functional_program()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".p.json.{sleeper.pid}.abc_123.synaplex-tmp"
        mine = tmp_path / f".p.json.{os.getpid()}.def_456.synaplex-tmp"  # another thread's write
        live.write_text("half")
        mine.write_text("half")
        program.save(tmp_path / "p.json")
        assert live.exists() and mine.exists()
        two_hours_ago = time.time() - 7200
        os.utime(mine, (two_hours_ago, two_hours_ago))
        program.save(tmp_path / "p.json")
        assert live.exists() and not mine.exists()  # no write takes an hour
    finally:
        sleeper.kill()
        sleeper.wait()
    program.save(tmp_path / "p.json")
    assert os.listdir(tmp_path) == ["p.json"]  # its process is gone


async def test_temporary_files_of_older_versions_are_removed_once_stale(tmp_path):
    program = await functional_program()
    legacy = [tmp_path / ".synaplex-abcd1234.json.tmp", tmp_path / ".backup.k2j3h4g5.tmp"]  # no pid in the name
    for path in legacy:
        path.write_text("half")
    program.save(tmp_path / "p.json")
    assert all(path.exists() for path in legacy)  # maybe a write in progress
    two_hours_ago = time.time() - 7200
    for path in legacy:
        os.utime(path, (two_hours_ago, two_hours_ago))
    program.save(tmp_path / "p.json")
    assert os.listdir(tmp_path) == ["p.json"]


async def test_malformed_parts_of_a_program_file_are_named(tmp_path):
    program = await functional_program()
    program.compile(reward=synaplex.rewards.ExactMatch(), optimizer=synaplex.optimizers.RandomFewShot())
    program.save(tmp_path / "p.json")
    good = json.loads((tmp_path / "p.json").read_text())
    path = tmp_path / "bad.json"
    generator = "program.config.modules[1]"

    def load_with(change):
        data = json.loads(json.dumps(good))
        change(data)
        path.write_text(json.dumps(data))
        with pytest.raises(SavingError) as caught:
            synaplex.Program.load(path, custom_objects={"by_schema": by_schema})
        return str(caught.value)

    assert load_with(lambda d: d.update(compile=["exact_match"])) == (
        f"Cannot load {str(path)!r}: 'compile' must be an object.")
    assert load_with(lambda d: d["program"]["config"]["modules"][1].update(class_name=["Generator"])) == (
        f"Cannot load {str(path)!r}: {generator}: 'class_name', 'module' and 'registered_name' must be strings, got "
        "['Generator'], 'synaplex.modules.generator' and None.")
    assert load_with(lambda d: d["program"]["config"]["modules"][1]["config"].update(language_model=7)).startswith(
        f"Cannot load {str(path)!r}: {generator}: Could not rebuild Generator from its config:")
    with pytest.raises(InvalidInputError) as caught:
        synaplex.Program.load(123)
    assert str(caught.value) == "filepath must be a path, got int: 123."
    with pytest.raises(InvalidInputError) as caught:
        program.save(None)
    assert str(caught.value) == "filepath must be a path, got NoneType: None."
