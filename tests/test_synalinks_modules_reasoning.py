"""``reasoning_effort`` (Synalinks' setting) on Generator, ChainOfThought and the agent, checked
on the wire: each provider receives its own reasoning parameter (httpx2.MockTransport), and a
model without one warns, once, instead of dropping it silently."""

import json
import warnings

import httpx2
import pytest

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.lm.reasoning import ReasoningEffortIgnoredWarning
from tests.conftest import Answer, Query

KEY = "sk-test-0123456789abcdefghijklmnop"
QUERY = Query(query="Capital of France?")


class Wire:
    """A fake provider: answers every request with ``reply`` and records the JSON bodies."""

    def __init__(self, reply: dict):
        self.reply = reply
        self.bodies: list[dict] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.content))
        return httpx2.Response(200, json=self.reply)

    def lm(self, model: str, **kwargs) -> synaplex.LanguageModel:
        return synaplex.LanguageModel(model=model, api_key=KEY, transport=httpx2.MockTransport(self), **kwargs)


def openai_reply(content='{"answer": "Paris"}', tool_calls=None) -> dict:
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}


def anthropic_reply(answer: dict) -> dict:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "thinking", "thinking": "Easy.", "signature": "sig"},
                        {"type": "tool_use", "id": "toolu_1", "name": "structured_output", "input": answer}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 3}}


def gemini_reply(text='{"answer": "Paris"}') -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8}}


def ignored(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ReasoningEffortIgnoredWarning)]


# --- OpenAI ------------------------------------------------------------------------------


@pytest.mark.parametrize("model, effort, sent", [
    ("openai/o3-mini", "high", "high"),
    ("openai/o3-mini", "minimal", "low"),      # the o-series takes low..high
    ("openai/gpt-5-mini", "minimal", "minimal"),
])
async def test_openai_reasoning_models_get_reasoning_effort(model, effort, sent):
    wire = Wire(openai_reply())
    generator = synaplex.Generator(data_model=Answer, language_model=wire.lm(model), reasoning_effort=effort)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where the setting is sent
        assert (await generator(QUERY)).get_json() == {"answer": "Paris"}
    body = wire.bodies[0]
    assert body["reasoning_effort"] == sent
    assert "temperature" not in body  # reasoning models refuse it (the profile's data)


async def test_openai_model_without_reasoning_warns_once_and_sends_nothing():
    wire = Wire(openai_reply())
    generator = synaplex.Generator(data_model=Answer, language_model=wire.lm("openai/gpt-4o-mini"),
                                   reasoning_effort="low")
    with pytest.warns(ReasoningEffortIgnoredWarning) as record:
        await generator(QUERY)
        await generator(QUERY)
    assert ignored(record) == [
        "openai/gpt-4o-mini has no reasoning setting (synaplex's profile of 'openai' maps none for this model), so "
        "reasoning_effort='low' is not sent. Remove it, or use a model that reasons (ChainOfThought's 'thinking' "
        "field reasons on any model)."]
    assert all("reasoning_effort" not in body and "reasoning" not in body for body in wire.bodies)
    assert wire.bodies[0]["temperature"] == 0.0


async def test_openai_reasoning_model_cannot_disable_reasoning_and_says_so():
    wire = Wire(openai_reply())
    generator = synaplex.Generator(data_model=Answer, language_model=wire.lm("openai/o3"), reasoning_effort="disable")
    with pytest.warns(ReasoningEffortIgnoredWarning, match=r"openai/o3 cannot take reasoning_effort='disable' \(it "
                                                           r"takes 'minimal', 'low', 'medium', 'high'\)"):
        await generator(QUERY)
    assert "reasoning_effort" not in wire.bodies[0]


async def test_openrouter_gets_its_reasoning_object():
    wire = Wire(openai_reply())
    lm = wire.lm("openrouter/deepseek/deepseek-r1")
    await synaplex.Generator(data_model=Answer, language_model=lm, reasoning_effort="medium")(QUERY)
    assert wire.bodies[0]["reasoning"] == {"effort": "medium"}
    assert "reasoning_effort" not in wire.bodies[0]


# --- Anthropic ---------------------------------------------------------------------------


async def test_anthropic_chain_of_thought_gets_a_thinking_budget():
    wire = Wire(anthropic_reply({"thinking": "Paris is the capital.", "answer": "Paris"}))
    cot = synaplex.ChainOfThought(data_model=Answer, language_model=wire.lm("anthropic/claude-sonnet-4-5"),
                                  reasoning_effort="medium")
    result = await cot(QUERY)
    assert result.get_json() == {"thinking": "Paris is the capital.", "answer": "Paris"}
    body = wire.bodies[0]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 4096 + 2048  # room beyond the budget
    # extended thinking refuses a temperature and a forced tool: neither is sent
    assert "temperature" not in body and body["tool_choice"] == {"type": "auto"}


async def test_anthropic_disable_sends_nothing_silently_and_old_models_warn():
    wire = Wire(anthropic_reply({"answer": "Paris"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await synaplex.Generator(data_model=Answer, language_model=wire.lm("anthropic/claude-sonnet-4-5"),
                                 reasoning_effort="disable")(QUERY)   # thinking is off unless asked
    assert "thinking" not in wire.bodies[0] and wire.bodies[0]["temperature"] == 0.0
    with pytest.warns(ReasoningEffortIgnoredWarning, match="anthropic/claude-3-5-haiku-latest has no reasoning"):
        await synaplex.Generator(data_model=Answer, language_model=wire.lm("anthropic/claude-3-5-haiku-latest"),
                                 reasoning_effort="high")(QUERY)
    assert "thinking" not in wire.bodies[1]


async def test_an_explicit_provider_parameter_wins_over_the_effort():
    wire = Wire(anthropic_reply({"answer": "Paris"}))
    lm = wire.lm("anthropic/claude-opus-4-1", thinking={"type": "enabled", "budget_tokens": 5000})
    await synaplex.Generator(data_model=Answer, language_model=lm, reasoning_effort="low")(QUERY)
    assert wire.bodies[0]["thinking"] == {"type": "enabled", "budget_tokens": 5000}


# --- Gemini ------------------------------------------------------------------------------


@pytest.mark.parametrize("effort, budget", [("low", 1024), ("high", 4096), ("disable", 0)])
async def test_gemini_gets_a_thinking_config(effort, budget):
    wire = Wire(gemini_reply())
    lm = wire.lm("gemini/gemini-2.5-flash")
    await synaplex.Generator(data_model=Answer, language_model=lm, reasoning_effort=effort)(QUERY)
    generation = wire.bodies[0]["generationConfig"]
    assert generation["thinkingConfig"] == {"thinkingBudget": budget}
    assert "reasoning_effort" not in wire.bodies[0]


async def test_gemini_models_that_cannot_turn_thinking_off_or_do_not_think_warn():
    wire = Wire(gemini_reply())
    with pytest.warns(ReasoningEffortIgnoredWarning, match="gemini/gemini-2.5-pro cannot take "
                                                           "reasoning_effort='disable'"):
        await synaplex.Generator(data_model=Answer, language_model=wire.lm("gemini/gemini-2.5-pro"),
                                 reasoning_effort="disable")(QUERY)
    with pytest.warns(ReasoningEffortIgnoredWarning, match="gemini/gemini-2.0-flash has no reasoning setting"):
        await synaplex.Generator(data_model=Answer, language_model=wire.lm("gemini/gemini-2.0-flash"),
                                 reasoning_effort="low")(QUERY)
    assert all("thinkingConfig" not in body["generationConfig"] for body in wire.bodies)


# --- the agent, the scripted LM, bad values ----------------------------------------------


async def test_the_agent_sends_the_effort_with_every_turn():
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    answer = {"id": "c2", "type": "function", "function": {"name": "final_answer", "arguments": '{"answer": "5"}'}}

    class Turns(Wire):
        def __call__(self, request):
            self.reply = openai_reply(None, [call] if not self.bodies else [answer])
            return super().__call__(request)

    wire = Turns({})
    agent = synaplex.FunctionCallingAgent(data_model=Answer, tools=[add], language_model=wire.lm("openai/o4-mini"),
                                          reasoning_effort="high", return_inputs_with_trajectory=False)
    assert (await agent(QUERY)).get_json() == {"answer": "5"}
    assert [body["reasoning_effort"] for body in wire.bodies] == ["high", "high"]


async def test_the_scripted_model_warns_once_and_never_receives_the_setting():
    lm = synaplex.LanguageModel(model="scripted", responses=lambda m, s: {"thinking": "t", "answer": "a"})
    cot = synaplex.ChainOfThought(data_model=Answer, language_model=lm, reasoning_effort="high")
    with pytest.warns(ReasoningEffortIgnoredWarning) as record:
        await cot(QUERY)
        await cot(QUERY)
    assert len(ignored(record)) == 1 and ignored(record)[0].startswith("scripted has no reasoning setting")
    assert all("reasoning_effort" not in request["params"] for request in lm.requests)


def test_a_bad_effort_is_refused_where_it_is_given():
    expected = r"reasoning_effort must be one of 'minimal', 'low', 'medium', 'high', 'disable', 'none' or None, " \
               r"got 'max'\."
    with pytest.raises(InvalidInputError, match=expected):
        synaplex.Generator(data_model=Answer, language_model="scripted", reasoning_effort="max")
    with pytest.raises(InvalidInputError, match=expected):
        synaplex.ChainOfThought(data_model=Answer, language_model="scripted", reasoning_effort="max")
    with pytest.raises(InvalidInputError, match=expected):
        synaplex.FunctionCallingAgent(language_model="scripted", reasoning_effort="max")
    with pytest.raises(InvalidInputError, match=expected):
        synaplex.LanguageModel(model="scripted", reasoning_effort="max")
    with pytest.raises(InvalidInputError, match=r"got True\."):
        synaplex.Generator(data_model=Answer, language_model="scripted", reasoning_effort=True)


async def test_a_bad_effort_per_call_is_refused_before_any_request():
    wire = Wire(openai_reply())
    with pytest.raises(InvalidInputError, match="reasoning_effort must be one of"):
        await wire.lm("openai/o3")([{"role": "user", "content": "hi"}], reasoning_effort="extreme")
    assert wire.bodies == []


def test_reasoning_effort_is_saved_and_loaded():
    cot = synaplex.ChainOfThought(data_model=Answer, language_model="scripted", reasoning_effort="low",
                                  max_tokens=300, top_p=0.5, top_k=20)
    config = json.loads(json.dumps(synaplex.saving.serialize_synaplex_object(cot)))
    back = synaplex.saving.deserialize_synaplex_object(config)
    assert (back.reasoning_effort, back.max_tokens, back.top_p, back.top_k) == ("low", 300, 0.5, 20)
