"""MultiDecision (Synalinks' modules/core/multi_decision.py): one or more labels, constrained."""

import warnings

import pytest

import synaplex
from synaplex.errors import InvalidInputError, StructuredOutputError
from synaplex.lm.reasoning import ReasoningEffortIgnoredWarning
from tests.conftest import Query, scripted

LABELS = ["science", "politics", "sports", "health"]
ARTICLE = Query(query="Researchers have developed a new CRISPR technique that could revolutionize cancer treatment.")


async def test_multi_decision_answers_thinking_and_choices():
    reply = {"thinking": "CRISPR applied to cancer: science and health.", "choices": ["science", "health"]}
    lm = scripted(reply)
    x0 = synaplex.Input(data_model=Query)
    x1 = await synaplex.MultiDecision(question="Which topics does this article cover?", labels=LABELS,
                                      language_model=lm)(x0)
    assert list(x1.get_schema()["properties"]) == ["thinking", "choices"]
    program = synaplex.Program(inputs=x0, outputs=x1)
    assert (await program(ARTICLE)).get_json() == reply
    schema = lm.requests[0]["schema"]
    assert schema["properties"]["choices"]["items"] == {"type": "string", "enum": LABELS}
    assert schema["required"] == ["thinking", "choices"]
    system = lm.requests[0]["messages"][0]["content"]
    assert "Which topics does this article cover?" in system and "science, politics, sports, health" in system


@pytest.mark.parametrize("inline", [True, False])
async def test_a_label_outside_the_list_is_refused(inline):
    decision = synaplex.MultiDecision(question="Which topics?", labels=LABELS, inline=inline,
                                      language_model=scripted({"thinking": "t", "choices": ["science", "cooking"]}))
    with pytest.raises(StructuredOutputError, match="'cooking' is not one of"):
        await decision(ARTICLE)


def test_inline_false_refers_to_the_enum_in_defs():
    schema = synaplex.MultiDecision(question="Which topics?", labels=["x", "y"], inline=False,
                                    language_model="scripted").schema
    assert schema["properties"]["choices"]["items"] == {"$ref": "#/$defs/Choices"}
    assert schema["$defs"]["Choices"] == {"title": "Choices", "type": "string", "enum": ["x", "y"]}


@pytest.mark.parametrize("kwargs, message", [
    ({"labels": ["a", "b"]}, r"MultiDecision needs a question \(a non-empty string\), got None"),
    ({"question": "  ", "labels": ["a"]}, r"MultiDecision needs a question \(a non-empty string\), got '  '"),
    ({"question": "Pick"}, r"MultiDecision: labels must be a non-empty list of non-empty strings, got None"),
    ({"question": "Pick", "labels": "a,b"}, r"labels must be a non-empty list of non-empty strings, got 'a,b'"),
    ({"question": "Pick", "labels": ["a", ""]}, r"labels must be a non-empty list of non-empty strings"),
    ({"question": "Pick", "labels": ["a", "b", "a"]}, r"MultiDecision: labels must be unique; repeated: \['a'\]"),
    ({"question": "Pick", "labels": ["a"], "inline": "yes"}, r"MultiDecision\(inline=...\) must be True or False"),
    ({"question": "Pick", "labels": ["a"], "reasoning_effort": "huge"}, r"reasoning_effort must be one of"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        synaplex.MultiDecision(language_model="scripted", **kwargs)


async def test_multi_decision_saves_and_loads(tmp_path):
    lm = scripted({"thinking": "t", "choices": ["sports"]})
    x0 = synaplex.Input(data_model=Query)
    decision = synaplex.MultiDecision(question="Which topics?", labels=LABELS, inline=False, language_model=lm,
                                      instructions="Tag the article.", examples=[({"query": "Goal!"},
                                                                                  {"thinking": "football",
                                                                                   "choices": ["sports"]})],
                                      temperature=0.3, reasoning_effort="low")
    program = synaplex.Program(inputs=x0, outputs=await decision(x0))
    program.save(tmp_path / "multi.json")
    loaded = synaplex.Program.load(tmp_path / "multi.json")
    back = loaded.get_module(decision.name)
    assert isinstance(back, synaplex.MultiDecision)
    assert (back.question, back.labels, back.inline, back.temperature, back.reasoning_effort) == (
        "Which topics?", LABELS, False, 0.3, "low")
    assert back.state["instructions"] == "Tag the article."
    assert back.state["examples"] == [{"inputs": {"query": "Goal!"},
                                       "outputs": {"thinking": "football", "choices": ["sports"]}}]
    back.language_model.set_responses([{"thinking": "a match", "choices": ["sports"]}])
    with pytest.warns(ReasoningEffortIgnoredWarning):
        assert (await loaded(Query(query="Olympic records"))).get_json() == {"thinking": "a match",
                                                                           "choices": ["sports"]}


@pytest.mark.integration
async def test_the_embedded_model_keeps_every_choice_within_the_labels():
    lm = synaplex.LanguageModel(model="local", max_string_length=60, max_items=4)
    decision = synaplex.MultiDecision(question="Which topics does this article cover?", labels=LABELS,
                                      language_model=lm, reasoning_effort="low", max_tokens=120)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", ReasoningEffortIgnoredWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="llama_cpp")
        result = (await decision(ARTICLE)).get_json()
    ignored = [str(w.message) for w in record if w.category is ReasoningEffortIgnoredWarning]
    assert len(ignored) == 1 and ignored[0].startswith("local has no reasoning setting")
    assert set(result) == {"thinking", "choices"} and isinstance(result["thinking"], str)
    assert isinstance(result["choices"], list) and set(result["choices"]) <= set(LABELS)


# --- Branch(decision_type=MultiDecision) ------------------------------------------------------


class Summary(synaplex.DataModel):
    summary: str = synaplex.Field(description="A summary")


async def test_branch_with_multi_decision_runs_every_chosen_branch():
    decision_lm = scripted({"thinking": "science and health", "choices": ["health", "science"]})
    branches = [synaplex.Generator(data_model=Summary, language_model=scripted({"summary": label}),
                                   name=f"{label}_summary") for label in LABELS]
    x0 = synaplex.Input(data_model=Query)
    outputs = await synaplex.Branch(question="Which topics?", labels=LABELS, branches=branches,
                                    decision_type=synaplex.MultiDecision, language_model=decision_lm,
                                    return_decision=True, reasoning_effort="none")(x0)
    program = synaplex.Program(inputs=x0, outputs=list(outputs))
    science, politics, sports, health = await program(ARTICLE)
    assert (politics, sports) == (None, None)
    assert science.get_json() == {"summary": "science", "thinking": "science and health",
                                  "choices": ["health", "science"]}
    assert health.get_json()["summary"] == "health"
    assert [len(b.language_model.requests) for b in branches] == [1, 0, 0, 1]  # the others never ran
    assert decision_lm.requests[0]["schema"]["properties"]["choices"]["items"]["enum"] == LABELS

    config = synaplex.saving.serialize_synaplex_object(_branch_of(program))["config"]
    assert config["decision_type"] == "MultiDecision" and config["reasoning_effort"] == "none"
    back = synaplex.saving.deserialize_synaplex_object(
        synaplex.saving.serialize_synaplex_object(_branch_of(program)))
    assert isinstance(back.decision, synaplex.MultiDecision) and back.decision.reasoning_effort == "none"


def _branch_of(program):
    return next(m for m in program.modules if isinstance(m, synaplex.Branch))


def test_branch_refuses_another_decision_type():
    branches = [synaplex.Generator(data_model=Summary, language_model="scripted") for _ in range(2)]
    with pytest.raises(InvalidInputError, match=r"decision_type must be synaplex.Decision or synaplex.MultiDecision, "
                                                 r"got 'Vote'"):
        synaplex.Branch(question="Which?", labels=["a", "b"], branches=branches, decision_type="Vote",
                        language_model="scripted")
    with pytest.raises(InvalidInputError, match=r"decision_type must be"):
        synaplex.Branch(question="Which?", labels=["a", "b"], branches=branches, decision_type=[Summary],
                        language_model="scripted")
