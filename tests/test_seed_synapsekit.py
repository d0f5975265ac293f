"""Seed 002 (SynapseKit): LLMConfig, provider=, generate/stream, tokens_used, auto-detection."""

import pytest

import synaplex
from synaplex.errors import InvalidInputError, UnknownProviderError
from tests.test_provider_openai_compatible import KEY, Recorder, chat_reply


async def test_llmconfig_snippet_against_recorded_requests():
    config = synaplex.LLMConfig(model="gpt-4o-mini", api_key=KEY, provider="openai",
                                system_prompt="You are a helpful assistant.", temperature=0.2, max_tokens=1024,
                                cache=True, cache_maxsize=128, cache_backend="memory", max_retries=0,
                                retry_delay=1.0, requests_per_minute=None)
    recorder = Recorder(chat_reply(content="Hi there!", usage={"prompt_tokens": 12, "completion_tokens": 8}))
    llm = synaplex.LanguageModel(config=config, transport=recorder.transport())
    assert await llm.generate("Hello!") == "Hi there!"
    assert llm.tokens_used == {"input": 12, "output": 8}
    body = recorder.body
    assert str(recorder.requests[-1].url) == "https://api.openai.com/v1/chat/completions"
    assert body["messages"] == [{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": "Hello!"}]
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0.2, 1024, "gpt-4o-mini")
    assert await llm.generate("Hello!") == "Hi there!" and len(recorder.requests) == 1   # cache=True
    assert (llm.max_retries, llm.retry_delay, llm.cache_maxsize) == (0, 1.0, 128)
    assert KEY not in repr(config)


async def test_generate_with_messages_and_the_streams():
    llm = synaplex.LanguageModel(model="scripted", responses=["one two", "three four", "five"])
    messages = [{"role": "user", "content": "Count"}]
    assert await llm.generate_with_messages(messages) == "one two"
    pieces = [piece async for piece in llm.stream_with_messages(messages)]
    assert pieces == ["three ", "four"] and all(type(p) is str for p in pieces)
    printed = [str(chunk) async for chunk in llm.stream("Count")]   # print(chunk, end="") prints the text
    assert "".join(printed) == "five"


def test_provider_string_places_a_bare_model_name():
    assert synaplex.LanguageModel(model="llama3", provider="ollama").model == "ollama/llama3"
    assert synaplex.LanguageModel(config=synaplex.LLMConfig(model="llama3", provider="ollama")).model == \
        "ollama/llama3"
    with pytest.raises(InvalidInputError, match="provider='olama' is not a provider synaplex knows. Did you mean "
                                                "'ollama'"):
        synaplex.LanguageModel(model="llama3", provider="olama")


@pytest.mark.parametrize(("name", "provider"), [
    ("claude-3-5-haiku-latest", "anthropic"), ("gemini-2.0-flash", "gemini"), ("command-r-plus", "cohere"),
    ("mistral-small-latest", "mistral"), ("open-mistral-nemo", "mistral"), ("deepseek-chat", "deepseek"),
    ("llama-3.1-8b-instant", "groq"), ("mixtral-8x7b-32768", "groq"), ("gemma-7b-it", "groq"),
    ("meta-llama/llama-3.1-8b-instruct", "openrouter"), ("gpt-4o-mini", "openai")])
def test_auto_detection_table(name, provider):
    assert synaplex.LanguageModel(model=name, api_key=KEY).provider == provider


def test_a_bare_name_that_cannot_be_placed_is_a_clear_error():
    with pytest.raises(UnknownProviderError, match="Unknown provider 'llama3' in model 'llama3'.*api_base"):
        synaplex.LanguageModel(model="llama3")


async def test_llmconfig_bad_input():
    with pytest.raises(InvalidInputError, match="LLMConfig\\(model=...\\) must be a non-empty model name"):
        synaplex.LLMConfig(model="")
    with pytest.raises(InvalidInputError, match="cache=...\\) must be True or False"):
        synaplex.LLMConfig(model="gpt-4o-mini", cache="yes")
    config = synaplex.LLMConfig(model="scripted", provider="scripted")
    with pytest.raises(InvalidInputError, match="already sets max_retries, model; set them in the LLMConfig"):
        synaplex.LanguageModel(config=config, model="x", max_retries=3)
    with pytest.raises(InvalidInputError, match="takes a synaplex.LLMConfig, got dict.*LanguageModel.from_config"):
        synaplex.LanguageModel(config={"model": "scripted"})
    with pytest.raises(InvalidInputError, match="cache_backend must be one of"):
        synaplex.LanguageModel(config=synaplex.LLMConfig(model="scripted", cache=True, cache_backend="redis"))
    llm = synaplex.LanguageModel(model="scripted", responses=["x"])
    with pytest.raises(InvalidInputError, match="generate\\(prompt\\) takes a non-empty str, got list"):
        await llm.generate([{"role": "user", "content": "x"}])
