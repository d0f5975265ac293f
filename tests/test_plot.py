import os
import shutil

import pytest

import synaplex
from synaplex.errors import InvalidInputError, ProgramBuildError, SynaplexError
from synaplex.visualization import plot

PNG_MAGIC = b"\x89PNG"


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str


def scripted_lm():
    return synaplex.LanguageModel(model="scripted", responses=[])


async def parallel_program():
    lm = scripted_lm()
    inputs = synaplex.Input(data_model=Query)
    x1 = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    x2 = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    return synaplex.Program(inputs=inputs, outputs=x1 & x2, name="parallel")


def read(path) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


@pytest.fixture
def no_dot(tmp_path, monkeypatch):
    empty = tmp_path / "empty_path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


async def test_dot_file_has_every_module_and_exact_edges(tmp_path, no_dot):
    synaplex.clear_session()
    program = await parallel_program()
    assert [m.name for m in program.modules] == ["input", "generator", "generator_1", "and"]

    with pytest.warns(UserWarning):
        path = synaplex.utils.plot_program(program, to_folder=tmp_path / "plots")

    assert path == os.path.join(tmp_path / "plots", "parallel.dot")
    text = read(path)
    assert text.startswith('digraph "parallel" {')
    for name, type_name in [("input", "InputModule"), ("generator", "Generator"),
                            ("generator_1", "Generator"), ("and", "And")]:
        assert f'"{name}" [label="{name}\\n({type_name})"];' in text
    edges = [line.strip() for line in text.splitlines() if "->" in line]
    assert edges == [
        '"input" -> "generator";',
        '"input" -> "generator_1";',
        '"generator" -> "and";',
        '"generator_1" -> "and";',
    ]
    assert "rankdir=TB" in text
    assert "Answer(answer)" not in text and "trainable variables" not in text


async def test_options_change_labels_and_layout(tmp_path, no_dot):
    synaplex.clear_session()
    program = await parallel_program()

    with pytest.warns(UserWarning):
        path = plot.plot_program(program, to_folder=tmp_path, show_module_names=False,
                                 show_schemas=True, show_trainable=True, filename="custom.png",
                                 rankdir="LR")

    assert path == os.path.join(tmp_path, "custom.dot")
    text = read(path)
    assert "rankdir=LR" in text
    assert ('"input" [label="InputModule\\nQuery(query)\\ntrainable variables: 0"];') in text
    assert ('"generator" [label="Generator\\nAnswer(answer)\\ntrainable variables: 1", '
            'style="rounded,filled,bold"') in text
    assert '"and" [label="And\\nAnswerAnswer(answer, answer_1)\\ntrainable variables: 0"];' in text
    assert text.count("filled") == 2
    # Node identifiers stay the module names, so edges are unchanged.
    assert '"generator_1" -> "and";' in text


async def test_renders_png_when_dot_is_installed(tmp_path):
    synaplex.clear_session()
    program = await parallel_program()

    path = synaplex.utils.plot_program(program, to_folder=tmp_path, show_schemas=True, show_trainable=True)

    assert path == os.path.join(tmp_path, "parallel.png")
    with open(path, "rb") as file:
        assert file.read(4) == PNG_MAGIC
    assert '"input" -> "generator";' in read(tmp_path / "parallel.dot")


async def test_without_dot_warns_how_to_render_and_returns_dot_path(tmp_path, no_dot):
    synaplex.clear_session()
    program = await parallel_program()

    with pytest.warns(UserWarning) as record:
        path = synaplex.utils.plot_program(program, to_folder=tmp_path)

    dot_path = os.path.join(tmp_path, "parallel.dot")
    png_path = os.path.join(tmp_path, "parallel.png")
    assert path == dot_path and os.path.exists(dot_path) and not os.path.exists(png_path)
    message = str(record[0].message)
    assert f"dot -Tpng {dot_path} -o {png_path}" in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message


async def test_special_characters_are_escaped_and_still_render(tmp_path):
    synaplex.clear_session()
    schema = {"title": 'Say "hi" \\N {x} <y>', "type": "object",
              "properties": {"a": {"type": "string"}}, "required": ["a"]}
    inputs = synaplex.Input(data_model=Query, name='in"put\\')
    outputs = await synaplex.Generator(schema=schema, language_model=scripted_lm(), name="gen {1}")(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs, name='odd "name"/x')

    path = synaplex.utils.plot_program(program, to_folder=tmp_path, show_schemas=True)

    # The program name's slash does not escape to_folder.
    assert path == os.path.join(tmp_path, "odd__name__x.png")
    with open(path, "rb") as file:
        assert file.read(4) == PNG_MAGIC
    text = read(tmp_path / "odd__name__x.dot")
    assert 'digraph "odd \\"name\\"/x" {' in text
    assert 'Say \\"hi\\" \\\\N {x} <y>(a)' in text
    assert '"in\\"put\\\\" -> "gen {1}";' in text


async def test_dot_failure_raises_synaplex_error_with_command_and_stderr(tmp_path, monkeypatch):
    synaplex.clear_session()
    program = await parallel_program()
    monkeypatch.setattr(plot, "program_to_dot", lambda *args, **kwargs: "digraph { this is not dot")

    with pytest.raises(SynaplexError) as info:
        plot.plot_program(program, to_folder=tmp_path)

    message = str(info.value)
    assert "-Tpng" in message and "parallel.dot" in message and "syntax error" in message


async def test_nested_program_is_one_node(tmp_path, no_dot):
    synaplex.clear_session()
    inner = await parallel_program()
    inputs = synaplex.Input(data_model=Query, name="outer_input")
    outputs = await inner(inputs)
    outer = synaplex.Program(inputs=inputs, outputs=outputs, name="outer")

    with pytest.warns(UserWarning):
        text = read(plot.plot_program(outer, to_folder=tmp_path))

    assert '"parallel" [label="parallel\\n(Program)"];' in text
    assert '"outer_input" -> "parallel";' in text
    assert '"generator"' not in text


async def test_sequential_program(tmp_path, no_dot):
    synaplex.clear_session()
    program = synaplex.Sequential([
        synaplex.Input(data_model=Query),
        synaplex.Generator(data_model=Answer, language_model=scripted_lm()),
    ], name="chain")

    with pytest.warns(UserWarning):
        text = read(plot.plot_program(program, to_folder=tmp_path))

    assert [line.strip() for line in text.splitlines() if "->" in line] == ['"input" -> "generator";']


async def test_subclassed_program_raises_program_build_error(tmp_path):
    synaplex.clear_session()

    class Custom(synaplex.Program):
        def __init__(self):
            super().__init__(name="custom")
            self.generator = synaplex.Generator(data_model=Answer, language_model=scripted_lm())

        async def call(self, inputs, training=False):
            return await self.generator(inputs, training=training)

    with pytest.raises(ProgramBuildError, match="functional, sequential or mixed program that has been built"):
        plot.plot_program(Custom(), to_folder=tmp_path)
    assert not os.path.exists(tmp_path / "custom.dot")


async def test_invalid_rankdir(tmp_path):
    synaplex.clear_session()
    program = await parallel_program()
    with pytest.raises(InvalidInputError, match="rankdir"):
        plot.plot_program(program, to_folder=tmp_path, rankdir="sideways")
