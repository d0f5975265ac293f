"""Seed 003 (Parlant): OpenRouter configured from the environment, as the README's section shows."""

import synaplex
from tests.test_provider_openai_compatible import KEY, MESSAGES, Recorder, chat_reply


async def test_openrouter_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    monkeypatch.setenv("OPENROUTER_MODEL", "anthropic/claude-3.5-sonnet")
    monkeypatch.setenv("OPENROUTER_MAX_TOKENS", "8192")
    monkeypatch.setenv("OPENROUTER_HTTP_REFERER", "https://myapp.com")
    monkeypatch.setenv("OPENROUTER_SITE_NAME", "My App")
    recorder = Recorder(chat_reply(content="Bonjour"))
    lm = synaplex.LanguageModel(model="openrouter", transport=recorder.transport())
    assert lm.model == "openrouter/anthropic/claude-3.5-sonnet"
    assert (await lm(MESSAGES))["content"] == "Bonjour"
    request = recorder.requests[-1]
    assert str(request.url) == "https://openrouter.ai/api/v1/chat/completions"
    assert recorder.body["model"] == "anthropic/claude-3.5-sonnet" and recorder.body["max_tokens"] == 8192
    assert request.headers["HTTP-Referer"] == "https://myapp.com"
    assert request.headers["X-OpenRouter-Title"] == "My App"
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_a_custom_model_and_max_tokens_override_the_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    monkeypatch.setenv("OPENROUTER_MODEL", "openai/gpt-4o")
    monkeypatch.setenv("OPENROUTER_MAX_TOKENS", "8192")
    recorder = Recorder(chat_reply())
    lm = synaplex.LanguageModel(model="openrouter/openai/gpt-4o-mini", max_tokens=4096, transport=recorder.transport())
    await lm(MESSAGES)
    assert (recorder.body["model"], recorder.body["max_tokens"]) == ("openai/gpt-4o-mini", 4096)
