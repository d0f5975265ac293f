"""Decision, Branch, ChainOfThought and Identity with the scripted LM."""

import pytest

import synaplex
from synaplex.errors import InvalidInputError, StructuredOutputError
from tests.conftest import Answer, Query


class AnswerWithThinking(synaplex.DataModel):
    thinking: str
    answer: str


def routed(choice, answers):
    """A scripted LM: decisions choose ``choice``; generators answer from ``answers`` by title."""

    def reply(messages, schema):
        if schema.get("title") == "Decision":
            return {"thinking": "hmm", "choice": choice}
        return dict(answers[schema["title"]])

    return synaplex.LanguageModel(model="scripted", responses=reply)


async def test_decision_schema_is_an_enum_of_the_labels():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"thinking": "short query", "choice": "easy"},
                                                            {"thinking": "?", "choice": "medium"}])
    decision = synaplex.Decision(question="Evaluate query difficulty", labels=["easy", "difficult"],
                                 language_model=lm)
    result = await decision(Query(query="2+2?"))
    assert result.get_json() == {"thinking": "short query", "choice": "easy"}
    sent = lm.requests[0]["schema"]
    assert sent["properties"]["choice"] == {"type": "string", "enum": ["easy", "difficult"],
                                            "description": "Evaluate query difficulty"}
    assert sent["required"] == ["thinking", "choice"]
    assert "Evaluate query difficulty" in lm.requests[0]["messages"][0]["content"]
    with pytest.raises(StructuredOutputError, match="'medium' is not one of \\['easy', 'difficult'\\]"):
        await decision(Query(query="?"))


async def test_branch_runs_only_the_selected_branch():
    lm = routed("difficult", {"Answer": {"answer": "easy one"},
                              "AnswerWithThinking": {"thinking": "t", "answer": "hard one"}})
    easy_gen = synaplex.Generator(data_model=Answer, language_model=lm)
    hard_gen = synaplex.Generator(data_model=AnswerWithThinking, language_model=lm)
    inputs = synaplex.Input(data_model=Query)
    easy, hard = await synaplex.Branch(question="Evaluate query difficulty", labels=["easy", "difficult"],
                                       branches=[easy_gen, hard_gen], language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=[easy, hard, easy | hard])
    easy_out, hard_out, final = await program(Query(query="Prove Fermat's last theorem"))
    assert easy_out is None and hard_out.get_json() == {"thinking": "t", "answer": "hard one"}
    assert final.get_json() == hard_out.get_json()
    titles = [r["schema"]["title"] for r in lm.requests]
    assert titles == ["Decision", "AnswerWithThinking"]  # the easy branch never called the LM
    assert len(program.trainable_variables) == 3  # the decision's and each branch's, separately


async def test_inject_decision_and_return_decision():
    lm = routed("easy", {"Answer": {"answer": "4"}})
    gen = synaplex.Generator(data_model=Answer, language_model=lm)
    branch = synaplex.Branch(question="Difficulty?", labels=["easy", "hard"],
                             branches=[gen, synaplex.Generator(data_model=Answer, language_model=lm)],
                             language_model=lm, inject_decision=True, return_decision=True)
    selected, other = await branch(Query(query="2+2?"))
    assert other is None
    assert selected.get_json() == {"answer": "4", "thinking": "hmm", "choice": "easy"}
    branch_prompt = lm.requests[1]["messages"][-1]["content"]
    assert '"query": "2+2?"' in branch_prompt and '"choice": "easy"' in branch_prompt
    inputs = synaplex.Input(data_model=Query)
    symbolic = await branch(inputs)
    assert list(symbolic[0].get_schema()["properties"]) == ["answer", "thinking", "choice"]


def test_branch_and_decision_bad_input():
    lm = synaplex.LanguageModel(model="scripted", responses=[])
    gen = synaplex.Generator(data_model=Answer, language_model=lm)
    with pytest.raises(InvalidInputError, match="has 3 labels \\(a, b, c\\) but 2 branches"):
        synaplex.Branch(question="q", labels=["a", "b", "c"], branches=[gen, gen], language_model=lm)
    with pytest.raises(InvalidInputError, match="labels must be unique; repeated: \\['a'\\]"):
        synaplex.Branch(question="q", labels=["a", "a"], branches=[gen, gen], language_model=lm)
    with pytest.raises(InvalidInputError, match="needs a question"):
        synaplex.Decision(labels=["a"], language_model=lm)
    with pytest.raises(InvalidInputError, match="non-empty list of non-empty strings"):
        synaplex.Decision(question="q", labels=[], language_model=lm)


def easy_saved(messages, schema):
    if schema.get("title") == "Decision":
        return {"thinking": "hmm", "choice": "easy"}
    return {"answer": "saved"}


async def test_branch_program_saves_and_loads(tmp_path):
    lm = synaplex.LanguageModel(model="scripted", responses=easy_saved)  # given back on load by custom_objects
    inputs = synaplex.Input(data_model=Query)
    easy, hard = await synaplex.Branch(question="Difficulty?", labels=["easy", "hard"], language_model=lm,
                                       branches=[synaplex.Generator(data_model=Answer, language_model=lm),
                                                 synaplex.Generator(data_model=Answer, language_model=lm)])(inputs)
    synaplex.Program(inputs=inputs, outputs=easy | hard).save(tmp_path / "branch.json")
    loaded = synaplex.Program.load(tmp_path / "branch.json", custom_objects={"easy_saved": easy_saved})
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "saved"}


async def test_chain_of_thought_thinks_first_and_saves(tmp_path):
    lm = synaplex.LanguageModel(model="scripted",
                                responses=lambda m, s: {"thinking": "Paris is the capital.", "answer": "Paris"})
    cot = synaplex.ChainOfThought(data_model=Answer, language_model=lm)
    result = await cot(Query(query="Capital of France?"))
    assert list(result.get_json()) == ["thinking", "answer"] and result["answer"] == "Paris"
    assert list(lm.requests[0]["schema"]["properties"]) == ["thinking", "answer"]
    inputs = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=inputs, outputs=await cot(inputs))
    config = synaplex.saving.serialize_synaplex_object(cot)["config"]
    assert list(config["schema"]["properties"]) == ["answer"]  # saved without the added thinking
    del program


async def test_identity():
    inputs = synaplex.Input(data_model=Query)
    out = await synaplex.Identity()(inputs)
    assert out.get_schema() == Query.get_schema()
    program = synaplex.Program(inputs=inputs, outputs=out)
    assert (await program(Query(query="same"))).get_json() == {"query": "same"}
