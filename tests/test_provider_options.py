"""Item 1 (strict options) and item 4's defaults: what LanguageModel/EmbeddingModel keywords mean,
checked on the recorded request (httpx2.MockTransport)."""

import asyncio

import httpx2
import pytest

import synaplex
from synaplex.errors import InvalidInputError, UnknownProviderError
from synaplex.lm.errors import UnknownOptionError
from tests.test_provider_openai_compatible import KEY, MESSAGES, Recorder, chat_reply, error


def lm_with(recorder, model="openai/gpt-4o-mini", **kwargs):
    kwargs.setdefault("api_key", KEY)
    return synaplex.LanguageModel(model=model, transport=recorder.transport(), **kwargs)


@pytest.mark.parametrize("keyword, value", [("temprature", 0.2), ("max_token", 10), ("foo", 1)])
def test_an_unknown_option_is_an_error_that_lists_the_valid_ones(keyword, value):
    with pytest.raises(UnknownOptionError) as caught:
        synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, **{keyword: value})
    message = str(caught.value)
    assert f"unknown option {keyword!r}" in message and "Valid options:" in message
    assert "temperature" in message and "extra_body={...}" in message
    assert caught.value.options == [keyword]
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, InvalidInputError)


def test_close_matches_are_named():
    with pytest.raises(UnknownOptionError, match=r"'temprature' \(did you mean 'temperature'\?\)"):
        synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, temprature=0.1)
    with pytest.raises(UnknownOptionError, match=r"'cache_max_size' \(did you mean 'cache_maxsize'"):
        synaplex.LanguageModel(model="scripted", cache_max_size=3)


async def test_unknown_keywords_of_a_call_are_refused_before_any_request():
    recorder = Recorder(chat_reply())
    lm = lm_with(recorder)
    with pytest.raises(UnknownOptionError, match=r"LanguageModel call\(model='openai/gpt-4o-mini'\) got unknown "
                                                 r"option 'temprature'"):
        await lm(MESSAGES, temprature=0.3)
    assert recorder.requests == []


async def test_synalinks_retry_counts_attempts_and_is_never_sent():
    recorder = Recorder(error(503, "overloaded"), error(503, "overloaded"), chat_reply())
    lm = lm_with(recorder, retry=3, retry_delay=0.0)
    assert lm.max_retries == 2 and lm.retry_delay == 0.0
    assert (await lm(MESSAGES))["content"] == "Paris"
    assert len(recorder.requests) == 3
    assert all("retry" not in r.content.decode() for r in recorder.requests)
    with pytest.raises(InvalidInputError, match="retry= and max_retries= are the same option"):
        lm_with(recorder, retry=5, max_retries=1)
    with pytest.raises(InvalidInputError, match="retry is the number of attempts"):
        lm_with(recorder, retry=0)


async def test_synapsekit_spellings_mean_what_they_say():
    recorder = Recorder(chat_reply(content="Bonjour"))
    lm = lm_with(recorder, provider="openai", system_prompt="You are a helpful assistant.", cache=True,
                 cache_maxsize=2, cache_backend="memory", retry_delay=1.0, max_retries=0, temperature=0.2,
                 max_tokens=1024, requests_per_minute=600)
    assert lm.model == "openai/gpt-4o-mini" and lm._cache.maxsize == 2 and lm.retry_delay == 1.0
    await lm([{"role": "user", "content": "Hi"}])
    await lm([{"role": "user", "content": "Hi"}])  # a cache hit
    assert len(recorder.requests) == 1
    body = recorder.body
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert set(body) == {"model", "messages", "temperature", "max_tokens"}
    # SynapseKit's cache=False keeps the cache off whatever the backend
    assert lm_with(recorder, cache=False, cache_backend="memory")._cache is None


def test_provider_name_picks_the_provider_of_a_bare_model():
    lm = synaplex.LanguageModel(model="llama3", provider="ollama")
    assert lm.model == "ollama/llama3" and lm.provider == "ollama"
    with pytest.raises(InvalidInputError, match="name different providers"):
        synaplex.LanguageModel(model="anthropic/claude-3-5-haiku-latest", provider="openai", api_key=KEY)
    with pytest.raises(InvalidInputError, match=r"provider='opena' is not a provider synaplex knows. Did you mean "
                                                r"'openai'"):
        synaplex.LanguageModel(model="gpt-4o", provider="opena", api_key=KEY)


def test_cache_options_that_cannot_work_are_errors():
    with pytest.raises(InvalidInputError, match="cache_maxsize=3 needs a cache"):
        synaplex.LanguageModel(model="scripted", cache_maxsize=3)
    with pytest.raises(InvalidInputError, match="cache_maxsize bounds the memory cache"):
        synaplex.LanguageModel(model="scripted", caching="sqlite", cache_maxsize=3)
    with pytest.raises(InvalidInputError, match="cache_backend must be one of"):
        synaplex.LanguageModel(model="scripted", cache_backend="redis")


async def test_extra_body_is_the_escape_hatch_and_provider_fields_are_data():
    recorder = Recorder(chat_reply(), chat_reply())
    lm = lm_with(recorder, model="openrouter/anthropic/claude-3.5-sonnet",
                 provider={"only": ["anthropic"]}, extra_body={"transforms": ["middle-out"], "custom_flag": True})
    await lm(MESSAGES, extra_body={"custom_flag": False})
    body = recorder.body
    assert body["provider"] == {"only": ["anthropic"]} and body["custom_flag"] is False
    assert body["transforms"] == ["middle-out"] and "extra_body" not in body
    # OpenRouter's routing field is not a field of OpenAI's API
    with pytest.raises(UnknownOptionError, match="unknown option 'provider'"):
        lm_with(recorder, provider={"only": ["azure"]})
    with pytest.raises(InvalidInputError, match="extra_body must be a dict"):
        lm_with(recorder, extra_body=["x"])


async def test_extra_body_reaches_anthropic_and_gemini_bodies():
    seen = []

    def anthropic(request):
        seen.append(request)
        return httpx2.Response(200, json={"id": "msg_1", "type": "message", "role": "assistant",
                                          "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                                          "usage": {"input_tokens": 3, "output_tokens": 1}})

    lm = synaplex.LanguageModel(model="anthropic/claude-3-5-haiku-latest", api_key=KEY,
                                transport=httpx2.MockTransport(anthropic), extra_body={"service_tier": "auto"},
                                thinking={"type": "enabled", "budget_tokens": 1024})
    await lm(MESSAGES)
    import json
    body = json.loads(seen[-1].content)
    assert body["service_tier"] == "auto" and body["thinking"]["budget_tokens"] == 1024


def test_embedding_model_options_are_strict_too():
    with pytest.raises(UnknownOptionError, match="EmbeddingModel\\(model='openai/text-embedding-3-small'\\) got "
                                                 "unknown option 'temperature'"):
        synaplex.EmbeddingModel(model="openai/text-embedding-3-small", api_key=KEY, temperature=0.1)
    em = synaplex.EmbeddingModel(model="openrouter/qwen/qwen3-embedding-8b", api_key=KEY,
                                 provider={"only": ["nebius"], "allow_fallbacks": False}, retry=5)
    assert em.max_retries == 4 and em.defaults == {"provider": {"only": ["nebius"], "allow_fallbacks": False}}


def test_esperanto_config_keys_and_streaming_default():
    lm = synaplex.create_language_model("openai", "gpt-4o-mini", config={
        "temperature": 0.7, "max_tokens": 1000, "top_p": 0.9, "streaming": True, "timeout": 60.0, "api_key": KEY})
    assert lm.streaming is True
    scripted = synaplex.LanguageModel(model="scripted", responses=["one two"], streaming=True)
    chunks = list(scripted.chat_complete(MESSAGES))  # streams by default
    assert "".join(c.text for c in chunks) == "one two" and chunks[-1].finish_reason == "stop"
    with pytest.raises(InvalidInputError, match="streaming must be True or False"):
        synaplex.LanguageModel(model="scripted", streaming="yes")


def test_saved_options_load_back():
    lm = synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, retry=4, retry_delay=2.0,
                                system_prompt="Be brief.", caching=True, cache_maxsize=8,
                                budget={"max_cost": 1.5}, extra_body={"store": False})
    config = lm.get_config()
    assert KEY not in str(config)
    assert config["max_retries"] == 3 and config["retry_delay"] == 2.0 and config["system_prompt"] == "Be brief."
    assert config["cache_maxsize"] == 8 and config["budget"] == {"max_cost": 1.5}
    again = synaplex.LanguageModel.from_config({**config, "api_key": KEY})
    assert again.get_config() == config and again.budget.max_cost == 1.5


# --- item 4/7: default and blank model names ---------------------------------------------------


def test_openrouter_alone_uses_parlants_default_model(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    lm = synaplex.LanguageModel(model="openrouter")
    assert lm.model == "openrouter/openai/gpt-4o" and lm._adapter.model_name == "openai/gpt-4o"
    monkeypatch.setenv("OPENROUTER_MODEL", "anthropic/claude-3.5-sonnet")
    assert synaplex.LanguageModel(model="openrouter").model == "openrouter/anthropic/claude-3.5-sonnet"
    # the configured provider (its key is the only one set) honours OPENROUTER_MODEL
    assert synaplex.LanguageModel().model == "openrouter/anthropic/claude-3.5-sonnet"
    monkeypatch.delenv("OPENROUTER_MODEL")
    assert synaplex.LanguageModel().model == "openrouter/openai/gpt-4o-mini"


@pytest.mark.parametrize("model", ["openai/", "openai", "anthropic/", "gemini"])
def test_a_blank_model_name_is_an_error(model):
    with pytest.raises(UnknownProviderError, match=r"names no model of provider .*: write it as"):
        synaplex.LanguageModel(model=model, api_key=KEY)


def test_the_request_carries_the_default_model_name(monkeypatch):
    recorder = Recorder(chat_reply())
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    lm = synaplex.LanguageModel(model="openrouter", transport=recorder.transport())
    asyncio.run(lm(MESSAGES))
    assert recorder.body["model"] == "openai/gpt-4o"
