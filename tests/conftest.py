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


@pytest.fixture(autouse=True)
def _fresh_session():
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
