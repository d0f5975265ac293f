"""The seed's snippets for the foundation's sections, as written (synalinks -> synaplex).

Only the language model differs: the seed uses ``ollama/mistral``; these use the scripted
LM so that they run offline and deterministically.
"""

import json

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


@synaplex.saving.register_synaplex_serializable()  # a loaded program finds it again (safe loading imports nothing)
def paris(messages, schema):
    return {"answer": "Paris"}


def make_lm():
    return synaplex.LanguageModel(model="scripted", responses=paris)


async def test_quick_start(capsys):
    lm = make_lm()

    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(
        data_model=Answer,
        language_model=lm,
    )(inputs)

    program = synaplex.Program(
        inputs=inputs,
        outputs=outputs,
        name="simple_qa",
        description="A simple Q&A program",
    )

    result = await program(Query(query="What is the capital of France?"))
    print(result.prettify_json())
    assert json.loads(capsys.readouterr().out) == {"answer": "Paris"}


async def test_four_ways_to_build_programs(tmp_path):
    lm = make_lm()

    # 1. Functional
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    assert (await program(Query(query="q"))).get_json() == {"answer": "Paris"}

    # 2. Sequential
    program = synaplex.Sequential([
        synaplex.Input(data_model=Query),
        synaplex.Generator(data_model=Answer, language_model=lm),
    ])
    assert (await program(Query(query="q"))).get_json() == {"answer": "Paris"}

    # 3. Subclassing (its get_config reads self.language_model: the one its modules share)
    class MyProgram(synaplex.Program):
        def __init__(self, language_model):
            super().__init__()
            self.gen = synaplex.Generator(data_model=Answer, language_model=language_model)

        async def call(self, inputs, training=False):
            return await self.gen(inputs)

        def get_config(self):
            return {"name": self.name, "language_model": synaplex.saving.serialize_synaplex_object(self.language_model)}

        @classmethod
        def from_config(cls, config):
            lm = synaplex.saving.deserialize_synaplex_object(config.pop("language_model"))
            return cls(language_model=lm)

    program = MyProgram(lm)
    assert (await program(Query(query="q"))).get_json() == {"answer": "Paris"}
    program.save(tmp_path / "sub.json")
    loaded = synaplex.Program.load(tmp_path / "sub.json", custom_objects={"MyProgram": MyProgram})
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "Paris"}

    # 4. Mixed
    class MyMixedProgram(synaplex.Program):
        def __init__(self, language_model):
            super().__init__()
            self.language_model = language_model

        async def build(self, inputs):
            outputs = await synaplex.Generator(data_model=Answer, language_model=self.language_model)(inputs)
            super().__init__(inputs=inputs, outputs=outputs)

    program = MyMixedProgram(lm)
    assert (await program(Query(query="q"))).get_json() == {"answer": "Paris"}


async def test_json_operators_and_module_alternatives():
    lm = make_lm()
    inputs = synaplex.Input(data_model=Query)
    x1 = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    x2 = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)

    combined = x1 + x2
    combined_and = inputs & x1
    result = x1 | x2
    guarded = x1 ^ inputs
    assert Query in (Query + Answer)
    assert not (Query in Answer)

    b0, b1, b2 = x1, x2, combined
    merged = await synaplex.And()([b0, b1, b2])
    result_or = await synaplex.Or()([b0, b1, b2])

    program = synaplex.Program(inputs=inputs, outputs=[combined, combined_and, result, guarded, merged, result_or])
    values = await program(Query(query="q"))
    assert values[0].get_json() == {"answer": "Paris", "answer_1": "Paris"}
    assert values[1].get_json() == {"query": "q", "answer": "Paris"}
    assert values[3] is None  # both present: xor is None
    assert list(values[4].get_json()) == ["answer", "answer_1", "answer_2", "answer_1_1"]


async def test_program_inspection_saving_and_configuration(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lm = make_lm()
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)

    print(f"Number of modules: {len(program.modules)}")
    module = program.get_module(index=0)
    module = program.get_module(name="generator")
    print(f"Total variables: {len(program.variables)}")
    print(f"Trainable variables: {len(program.trainable_variables)}")
    print(program.trainable_variables[0]["instructions"])
    program.summary()
    out = capsys.readouterr().out
    assert "Number of modules: 2" in out and "Trainable variables: 1" in out and "generator" in out
    assert module.name == "generator"

    program.save("my_program.json")
    program = synaplex.Program.load("my_program.json")
    program.save_variables("my_program.variables.json")
    program.load_variables("my_program.variables.json")
    assert (await program(Query(query="q"))).get_json() == {"answer": "Paris"}

    synaplex.enable_logging()
    synaplex.enable_observability(exporter=None)
    synaplex.clear_session()
    synaplex.disable_observability()
