"""Synalinks' program-state API: state trees, get_variable, Variable.path and ``in``,
Sequential.pop, input/output schemas, synaplex.modules.serialize/deserialize."""

import json

import pytest

import synaplex
from synaplex.errors import InvalidInputError, ModuleLookupError, UnsafeLoadError
from synaplex.modules.mcp import MCPTool, MultiServerMCPClient
from tests.conftest import Answer, AnswerWithRationale, Query


class Memory(synaplex.DataModel):
    notes: list[str] = []
    count: int = 0


class WithMemory(synaplex.Module):
    """A module with a trainable and a non-trainable variable."""

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.hint = self.add_variable(initializer=Memory(notes=["start"]), name="hint")
        self.memory = self.add_variable(initializer=Memory(), trainable=False, name="memory")
        self.built = True

    async def call(self, inputs, training=False) -> Answer:
        return Answer(answer=inputs.get("query"))


def scripted():
    return synaplex.LanguageModel(model="scripted", responses=[])


async def two_module_program():
    x = synaplex.Input(data_model=Query)
    generated = await synaplex.Generator(data_model=AnswerWithRationale, language_model=scripted(),
                                         instructions="Think.", name="generator")(x)
    remembered = await WithMemory(name="recall")(x)
    return synaplex.Program(inputs=x, outputs=[generated, remembered], name="qa")


# --- state trees ---------------------------------------------------------------------------

async def test_the_state_tree_nests_each_variable_at_its_path():
    program = await two_module_program()
    assert program.get_state_tree() == {
        "trainable_variables": {
            "generator": {"state": {"instructions": "Think.", "examples": []}},
            "recall": {"hint": {"notes": ["start"], "count": 0}},
        },
        "non_trainable_variables": {"recall": {"memory": {"notes": [], "count": 0}}},
    }


async def test_a_state_tree_round_trips_through_json_and_set_state_tree():
    program = await two_module_program()
    tree = program.get_state_tree()
    tree["trainable_variables"]["generator"]["state"]["instructions"] = "Answer briefly."
    tree["non_trainable_variables"]["recall"]["memory"] = {"notes": ["seen"], "count": 2}
    program.set_state_tree(json.loads(json.dumps(tree)))
    assert program.get_state_tree() == tree
    assert program.get_variable(name="generator/state")["instructions"] == "Answer briefly."

    copy = await two_module_program()
    copy.set_state_tree(json.loads(json.dumps(program.get_state_tree())))
    assert copy.get_state_tree() == program.get_state_tree()


async def test_the_tree_is_a_copy_and_a_partial_tree_changes_only_what_it_names():
    program = await two_module_program()
    tree = program.get_state_tree()
    tree["trainable_variables"]["recall"]["hint"]["notes"].append("not assigned")
    assert program.get_variable(name="recall/hint")["notes"] == ["start"]
    program.set_state_tree({"trainable_variables": {"recall": {"hint": {"count": 5}}}})
    assert program.get_variable(name="recall/hint").get_json() == {"notes": ["start"], "count": 5}
    assert program.get_variable(name="generator/state")["instructions"] == "Think."


async def test_a_nested_program_nests_its_variables_under_its_name():
    inner = await two_module_program()
    x = synaplex.Input(data_model=Query)
    outer = synaplex.Program(inputs=x, outputs=await inner(x), name="outer")
    tree = outer.get_state_tree()
    assert tree["trainable_variables"]["qa"]["generator"]["state"]["instructions"] == "Think."
    tree["trainable_variables"]["qa"]["generator"]["state"]["instructions"] = "Deeper."
    outer.set_state_tree(tree)
    assert inner.get_variable(name="generator/state")["instructions"] == "Deeper."


async def test_bad_state_trees_raise_and_change_nothing():
    program = await two_module_program()
    before = program.get_state_tree()
    cases = [
        ({"optimizer_trainable_variables": {}}, "unknown entry 'optimizer_trainable_variables'"),
        ({"trainable_variables": {"generatr": {"state": {}}}},
         "no variable at trainable_variables/generatr. Its trainable_variables: generator/state, recall/hint"),
        ({"trainable_variables": {"recall": {"memory": {}}}}, "no variable at trainable_variables/recall/memory"),
        ({"trainable_variables": {"generator": "x"}}, "trainable_variables/generator must be a dict, got str"),
        ({"trainable_variables": {"recall": {"hint": ["a"]}}},
         "the value of variable 'recall/hint' must be a JSON object, got list"),
        # the first variable is valid, the second is not: neither changes
        ({"trainable_variables": {"generator": {"state": {"instructions": "New."}},
                                  "recall": {"hint": {"count": "many"}}}}, "set_state_tree changed nothing: "),
        ({"trainable_variables": {"recall": {"hint": {"colour": "red"}}}}, "unknown field 'colour'"),
    ]
    for tree, message in cases:
        with pytest.raises(InvalidInputError) as info:
            program.set_state_tree(tree)
        assert message in str(info.value), (tree, str(info.value))
        assert program.get_state_tree() == before
    with pytest.raises(InvalidInputError, match="takes the dict that get_state_tree returns, got list"):
        program.set_state_tree([])


# --- get_variable ----------------------------------------------------------------------------

async def test_get_variable_by_name_path_and_index():
    program = await two_module_program()
    state = program.get_variable(name="generator/state")
    assert program.get_variable(name="state") is state
    assert program.get_variable(index=0) is state
    assert program.get_variable(index=-1) is program.get_variable(name="memory")
    assert [v.path for v in program.variables] == ["generator/state", "recall/hint", "recall/memory"]
    generator = program.get_module(name="generator")
    assert generator.get_variable(name="state") is state and generator.get_variable(index=0) is state


async def test_get_variable_errors_say_what_exists():
    program = await two_module_program()
    with pytest.raises(ModuleLookupError) as info:
        program.get_variable(name="nope")
    assert str(info.value) == ("Program 'qa' has no variable named 'nope'. Its variables: generator/state, "
                               "recall/hint, recall/memory.")
    assert isinstance(info.value, ValueError)  # what Synalinks raises
    with pytest.raises(ModuleLookupError, match=r"get_variable\(index=3\) is out of range: Program 'qa' has 3 "):
        program.get_variable(index=3)
    with pytest.raises(InvalidInputError, match="not both"):
        program.get_variable(name="state", index=0)
    with pytest.raises(InvalidInputError, match="takes a variable's name or path"):
        program.get_variable()
    with pytest.raises(InvalidInputError, match="takes an integer, got '0'"):
        program.get_variable(index="0")
    with pytest.raises(InvalidInputError, match="takes a string, got 3"):
        program.get_variable(name=3)
    with pytest.raises(ModuleLookupError, match="has no variable named 'x'. Its variables: none"):
        synaplex.Identity().get_variable(name="x")


async def test_a_name_several_variables_share_asks_for_a_path():
    x = synaplex.Input(data_model=Query)
    first = await synaplex.Generator(data_model=Answer, language_model=scripted(), name="first")(x)
    second = await synaplex.Generator(data_model=Answer, language_model=scripted(), name="second")(x)
    program = synaplex.Program(inputs=x, outputs=[first, second])
    with pytest.raises(ModuleLookupError, match="has 2 variables named 'state', at first/state, second/state: "
                                                "pass one of these paths"):
        program.get_variable(name="state")
    assert program.get_variable(name="second/state") is program.get_module(name="second").state


# --- Variable --------------------------------------------------------------------------------

def test_variable_path_and_contains():
    module = WithMemory(name="keeper")
    assert module.hint.path == "keeper/hint" and module.hint.name == "hint"
    assert synaplex.Variable(initializer=Memory(), name="free").path == "free"
    assert "notes" in module.hint and "count" in module.hint
    assert "colour" not in module.hint
    assert Memory in module.hint and Memory(count=3) in module.hint
    assert Answer not in module.hint
    untyped = synaplex.Variable(initializer={"a": 1}, name="raw")
    assert "a" in untyped and "b" not in untyped
    with pytest.raises(synaplex.errors.DataModelTypeError, match="takes a field name or a data model, got int"):
        3 in module.hint  # noqa: B015 - the error is the point


def test_variable_names_cannot_hold_a_path_separator():
    with pytest.raises(InvalidInputError, match="without '/'"):
        synaplex.Variable(initializer=Memory(), name="a/b")
    with pytest.raises(InvalidInputError, match="non-empty string"):
        synaplex.Variable(initializer=Memory(), name="")


# --- Sequential.pop and the schemas ------------------------------------------------------------

async def test_sequential_pop_removes_the_last_module_and_rebuilds():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}])
    generator = synaplex.Generator(data_model=Answer, language_model=lm)
    program = synaplex.Sequential([synaplex.Input(data_model=Query), synaplex.Identity(name="same"), generator])
    assert program.output_schema == Answer.get_schema()
    assert program.pop() is generator
    assert [m.name for m in program.modules][1:] == ["same"]
    assert program.output_schema == Query.get_schema() and program.variables == []
    assert (await program(Query(query="q"))).get_json() == {"query": "q"}
    program.add(generator)
    assert (await program(Query(query="q"))).get_json() == {"answer": "a"}


async def test_sequential_pop_down_to_nothing():
    program = synaplex.Sequential([synaplex.Input(data_model=Query), synaplex.Identity()])
    program.pop()
    assert program.input_schema == Query.get_schema()
    with pytest.raises(AttributeError, match="has no output schema yet"):
        program.output_schema  # noqa: B018 - the error is the point
    assert isinstance(program.pop(), synaplex.InputModule)
    with pytest.raises(ModuleLookupError, match="Sequential '.*' is empty: there is no module to pop"):
        program.pop()
    unbuilt = synaplex.Sequential([synaplex.Input(data_model=Query), synaplex.Identity()])
    unbuilt.pop(rebuild=False)
    assert not unbuilt.built


async def test_input_and_output_schemas():
    program = await two_module_program()
    assert program.input_schema == Query.get_schema()
    assert program.output_schema == [AnswerWithRationale.get_schema(), Answer.get_schema()]
    x, y = synaplex.Input(data_model=Query), synaplex.Input(data_model=Answer)
    two = synaplex.Program(inputs=[x, y], outputs=await synaplex.And()([x, y]))
    assert two.input_schema == [Query.get_schema(), Answer.get_schema()]
    assert list(two.output_schema["properties"]) == ["query", "answer"]
    assert x._history[0].module.input_schema == Query.get_schema()

    class Subclassed(synaplex.Program):
        async def call(self, inputs, training=False):
            return inputs

    with pytest.raises(AttributeError, match="Program 'sub' has no input schema yet: it has no graph"):
        Subclassed(name="sub").input_schema  # noqa: B018 - the error is the point


# --- synaplex.modules.serialize / deserialize ---------------------------------------------------

async def test_modules_serialize_and_deserialize_round_trip():
    module = synaplex.Generator(data_model=Answer, language_model=scripted(), instructions="Be exact.",
                                name="exact")
    config = synaplex.modules.serialize(module)
    assert config["class_name"] == "Generator" and config["config"]["name"] == "exact"
    rebuilt = synaplex.modules.deserialize(json.loads(json.dumps(config)))
    assert isinstance(rebuilt, synaplex.Generator) and rebuilt is not module
    assert rebuilt.get_variable(name="state")["instructions"] == "Be exact."
    assert synaplex.modules.serialize(rebuilt) == config
    program = await two_module_program()
    with pytest.raises(synaplex.errors.SavingError, match="WithMemory"):
        synaplex.modules.deserialize(synaplex.modules.serialize(program))
    loaded = synaplex.modules.deserialize(synaplex.modules.serialize(program), custom_objects={"WithMemory": WithMemory})
    assert loaded.get_state_tree() == program.get_state_tree()


def test_modules_deserialize_is_safe_by_default():
    client = MultiServerMCPClient({"math": {"transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}})
    tool = MCPTool(client, "math", "add", parameters={"type": "object", "properties": {"a": {"type": "number"}}})
    agent = synaplex.FunctionCallingAgent(data_model=Answer, tools=[tool], language_model=scripted())
    config = synaplex.modules.serialize(agent)
    config["config"]["tools"][0]["config"]["connection"] = {"transport": "stdio", "command": "sh"}
    with pytest.raises(UnsafeLoadError) as info:
        synaplex.modules.deserialize(config)
    assert info.value.field == "config.tools[0].config.connection.command"
    assert info.value.capability == "processes"
    assert isinstance(synaplex.modules.deserialize(config, allow=("processes",)), synaplex.FunctionCallingAgent)
    assert isinstance(synaplex.modules.deserialize(config, safe_mode=False), synaplex.FunctionCallingAgent)


def test_modules_serialize_and_deserialize_take_modules_only():
    with pytest.raises(InvalidInputError, match="takes a synaplex.Module, got Answer"):
        synaplex.modules.serialize(Answer(answer="a"))
    lm_config = synaplex.saving.serialize_synaplex_object(scripted())
    with pytest.raises(InvalidInputError, match="was given the config of a LanguageModel, not of a synaplex.Module"):
        synaplex.modules.deserialize(lm_config)
    with pytest.raises(InvalidInputError, match="takes a module's config .*got str"):
        synaplex.modules.deserialize("Generator")
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        synaplex.modules.nothing  # noqa: B018 - the error is the point
