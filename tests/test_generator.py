import json

import pytest

import synaplex
from synaplex.errors import DataModelTypeError, InvalidInputError
from tests.conftest import Answer, Query, scripted


def test_instructions_must_be_a_string():
    with pytest.raises(InvalidInputError, match="instructions=...\\) must be a string, got list"):
        synaplex.Generator(data_model=Answer, language_model=scripted(),
                           instructions=["Be concise", "Focus on key points"])


def test_data_model_must_be_a_data_model_class():
    with pytest.raises(DataModelTypeError, match="expects a synaplex.DataModel subclass"):
        synaplex.Generator(data_model=dict, language_model=scripted())


async def test_prompt_has_instructions_examples_and_inputs():
    gen = synaplex.Generator(
        data_model=Answer, language_model=scripted({"answer": "4"}),
        instructions="Be concise.",
        examples=[{"inputs": {"query": "1+1?"}, "outputs": {"answer": "2"}}],
        use_outputs_schema=True,
    )
    formatted = gen.format_messages(Query(query="2+2?"))
    assert isinstance(formatted, synaplex.ChatMessages)  # as in Synalinks
    messages = [{"role": m["role"], "content": m["content"]} for m in formatted.get_json()["messages"]]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("Be concise.")
    assert json.dumps(Answer.get_schema()) in messages[0]["content"]
    assert messages[1:] == [
        {"role": "user", "content": '{"query": "1+1?"}'},
        {"role": "assistant", "content": '{"answer": "2"}'},
        {"role": "user", "content": '{"query": "2+2?"}'},
    ]
    result = await gen(Query(query="2+2?"))
    assert result.get_json() == {"answer": "4"}
    assert gen.language_model.requests[0]["messages"] == messages
    assert gen.language_model.requests[0]["params"] == {"temperature": 0.0}


async def test_changing_the_variable_changes_the_prompt():
    gen = synaplex.Generator(data_model=Answer, language_model=scripted(), instructions="Old.")
    assert gen.format_messages(Query(query="q")).messages[0].content == "Old."
    gen.state["instructions"] = "New."
    assert gen.format_messages(Query(query="q")).messages[0].content == "New."
    assert gen.trainable_variables == [gen.state]


async def test_custom_prompt_template_and_bad_template():
    gen = synaplex.Generator(data_model=Answer, language_model=scripted(), instructions="Do it.",
                             prompt_template="TASK: {instructions}{input_schema_section}",
                             use_inputs_schema=True)
    content = gen.format_messages(Query(query="q")).messages[0].content
    assert content.startswith("TASK: Do it.") and "The user query" in content
    bad = synaplex.Generator(data_model=Answer, language_model=scripted(), prompt_template="{oops}")
    with pytest.raises(InvalidInputError, match="prompt_template of 'generator_1' is invalid"):
        bad.format_messages(Query(query="q"))


async def test_return_inputs_concatenates():
    gen = synaplex.Generator(data_model=Answer, language_model=scripted({"answer": "a"}), return_inputs=True)
    inputs = synaplex.Input(data_model=Query)
    symbolic = await gen(inputs)
    assert list(symbolic.get_schema()["properties"]) == ["query", "answer"]
    assert (await gen(Query(query="q"))).get_json() == {"query": "q", "answer": "a"}


async def test_chat_mode_without_data_model():
    gen = synaplex.Generator(language_model=scripted("Hi there"), instructions="Be nice.")
    messages = synaplex.ChatMessages(messages=[synaplex.ChatMessage(role="user", content="Hello")])
    reply = await gen(messages)
    assert reply.get_json() == {"role": "assistant", "content": "Hi there", "tool_call_id": None, "tool_calls": []}
    assert gen.language_model.requests[0]["messages"] == [
        {"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hello"}]
    assert gen.language_model.requests[0]["schema"] is None
    with pytest.raises(InvalidInputError, match="without data_model a Generator chats"):
        await gen(Query(query="q"))


async def test_generator_skips_none():
    lm = scripted()
    assert await synaplex.Generator(data_model=Answer, language_model=lm)(None) is None
    assert lm.requests == []


async def test_streaming_generator_yields_text_pieces_then_holds_the_message():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"content": "Paris is the capital."},
                                                            {"content": "Again."}])
    inputs = synaplex.Input(data_model=synaplex.ChatMessages)
    outputs = await synaplex.Generator(language_model=lm, streaming=True)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    response = await program(synaplex.ChatMessages(messages=[{"role": "user", "content": "Capital of France?"}]))
    pieces = [piece async for piece in response]
    assert pieces == ["Paris ", "is ", "the ", "capital."]
    assert response.message.get("content") == "Paris is the capital."
    assert response.usage.calls == 1 and lm.usage.calls == 1
    with pytest.raises(synaplex.errors.InvalidInputError, match="already read"):
        [p async for p in response]
    # training runs (rewards need the whole message) do not stream
    whole = await program(synaplex.ChatMessages(messages=[{"role": "user", "content": "?"}]), training=True)
    assert whole.get("content") == "Again."


async def test_streaming_generator_output_cannot_feed_another_module_unread():
    lm = synaplex.LanguageModel(model="scripted", responses=[{"content": "a"}, {"content": "b"}])
    inputs = synaplex.Input(data_model=synaplex.ChatMessages)
    streamed = await synaplex.Generator(language_model=lm, streaming=True)(inputs)
    after = await synaplex.Generator(data_model=Answer, language_model=lm)(streamed)
    program = synaplex.Program(inputs=inputs, outputs=after)
    with pytest.raises(synaplex.errors.InvalidInputError, match="a stream must be the program's output"):
        await program(synaplex.ChatMessages(messages=[{"role": "user", "content": "?"}]))


def test_streaming_needs_chat_mode():
    with pytest.raises(synaplex.errors.InvalidInputError, match=r"streaming=True\) streams text, so it needs chat mode"):
        synaplex.Generator(data_model=Answer, language_model="scripted", streaming=True)
