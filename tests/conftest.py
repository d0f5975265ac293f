import pytest

import synaplex


class Query(synaplex.DataModel):
    query: str = synaplex.Field(description="The user query")


class Answer(synaplex.DataModel):
    answer: str = synaplex.Field(description="The answer")


class AnswerWithRationale(synaplex.DataModel):
    rationale: str = synaplex.Field(description="Why")
    answer: str = synaplex.Field(description="The answer")


class MixedQA(synaplex.Program):
    """The seed's mixed pattern: build() on first call, super().__init__ called twice."""

    def __init__(self, language_model):
        super().__init__()
        self.language_model = language_model

    async def build(self, inputs):
        outputs = await synaplex.Generator(data_model=Answer, language_model=self.language_model)(inputs)
        super().__init__(inputs=inputs, outputs=outputs)


@pytest.fixture(scope="session")
def llama_server():
    """The real OpenAI-compatible server (llama_cpp.server + the embedded model) on loopback."""
    from tests.servers import LlamaServer

    server = LlamaServer().start()
    yield server
    server.stop()


PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENROUTER_API_KEY",
                 "MISTRAL_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY", "SYNAPLEX_DEFAULT_MODEL",
                 "SYNAPLEX_DEFAULT_EMBEDDING_MODEL", "OPENROUTER_MODEL")


@pytest.fixture(autouse=True)
def _fresh_session(monkeypatch):
    # Tests never depend on the keys of whoever runs them.
    for variable in PROVIDER_KEYS:
        monkeypatch.delenv(variable, raising=False)
    synaplex.clear_session()
    yield
    synaplex.config.set_default_language_model(None)


def scripted(*replies, **kwargs):
    return synaplex.LanguageModel(model="scripted", responses=list(replies), **kwargs)


def echo_lm(field="answer", prefix=""):
    """A scripted LM that answers ``{field: prefix + <last user message>}``."""

    def reply(messages, schema):
        return {field: prefix + messages[-1]["content"]}

    return synaplex.LanguageModel(model="scripted", responses=reply)
