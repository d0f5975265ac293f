"""Item 6: budgets checked before each call (synaplex.budget, a model's budget=), estimates."""

import asyncio
import time

import pytest

import synaplex
from synaplex.errors import BudgetExceededError, InvalidInputError, UnknownPriceError
from tests.conftest import Answer, Query
from tests.test_provider_openai_compatible import KEY, MESSAGES, Recorder, chat_reply

PRICED = {"input_price_per_token": 1e-6, "output_price_per_token": 2e-6}


def scripted(reply="ok", **kwargs):
    return synaplex.LanguageModel(model="scripted", responses=lambda messages, schema: reply, **kwargs)


def priced(recorder, **kwargs):
    return synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, transport=recorder.transport(),
                                  capabilities=PRICED, **kwargs)


async def test_max_calls_refuses_the_call_past_the_limit_before_any_request():
    recorder = Recorder(chat_reply())
    lm = priced(recorder)
    with synaplex.budget(max_calls=2) as spent:
        await lm(MESSAGES)
        await lm(MESSAGES)
        with pytest.raises(BudgetExceededError) as caught:
            await lm(MESSAGES)
    assert len(recorder.requests) == 2 and spent.calls == 2
    error = caught.value
    assert error.limit == "max_calls" and error.maximum == 2 and error.spent["calls"] == 2
    assert "call refused by the budget: max_calls=2" in str(error) and "Spent so far" in str(error)
    await lm(MESSAGES)  # outside the block: no budget
    assert len(recorder.requests) == 3


async def test_max_cost_is_checked_from_the_prompt_and_max_tokens_at_the_models_price():
    recorder = Recorder(chat_reply(usage={"prompt_tokens": 10, "completion_tokens": 10}))
    lm = priced(recorder)
    with synaplex.budget(max_cost=0.001) as spent:
        await lm(MESSAGES, max_tokens=100)       # estimate ~ 12 * 1e-6 + 100 * 2e-6: fits
        with pytest.raises(BudgetExceededError, match=r"max_cost=0.001 would be passed: this call is estimated at "
                                                      r"\$0.0010") as caught:
            await lm(MESSAGES, max_tokens=500)  # 500 output tokens at 2e-6 = $0.001: over with what was spent
    assert len(recorder.requests) == 1
    assert spent.cost == pytest.approx(10 * 1e-6 + 10 * 2e-6)
    assert caught.value.estimate["output_tokens"] == 500


async def test_max_tokens_and_a_models_own_budget():
    recorder = Recorder(chat_reply(usage={"prompt_tokens": 40, "completion_tokens": 10}))
    lm = priced(recorder, budget={"max_tokens": 120})
    await lm(MESSAGES, max_tokens=20)
    await lm(MESSAGES, max_tokens=20)
    with pytest.raises(BudgetExceededError, match="max_tokens=120 would be passed"):
        await lm(MESSAGES, max_tokens=20)
    assert lm.budget.tokens == 100 and len(recorder.requests) == 2


async def test_local_models_count_calls_tokens_and_time():
    lm = scripted()
    with synaplex.budget(max_calls=3, max_tokens=10_000) as spent:
        for _ in range(3):
            await lm("hello")
        with pytest.raises(BudgetExceededError):
            await lm("hello")
    assert spent.calls == 3 and spent.tokens > 0 and spent.cost == 0.0
    with synaplex.budget(max_seconds=0.05):
        await lm("hello")
        time.sleep(0.06)
        with pytest.raises(BudgetExceededError, match="max_seconds=0.05 has run out"):
            await lm("hello")


async def test_concurrent_calls_overshoot_by_at_most_one_call():
    async def slow(messages, schema):
        await asyncio.sleep(0.01)
        return "ok"

    lm = synaplex.LanguageModel(model="scripted", responses=slow)
    with synaplex.budget(max_calls=5) as spent:
        results = await asyncio.gather(*(lm("hi") for _ in range(20)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert spent.calls == 5 and len(refused) == 15  # reservations: in-flight calls count


async def test_program_predict_and_agents_are_covered():
    lm = synaplex.LanguageModel(model="scripted", responses=lambda messages, schema: {"answer": "x"})
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    with synaplex.budget(max_calls=2):
        results = await program.predict([Query(query=str(i)) for i in range(4)], batch_size=1, on_error="return")
    assert sum(isinstance(r, BudgetExceededError) for r in results) == 2


async def test_retries_and_repairs_are_calls_checked_too():
    recorder = Recorder(chat_reply(content="not json"), chat_reply(content='{"answer": "Paris"}'))
    lm = priced(recorder)
    with synaplex.budget(max_calls=1), pytest.raises(BudgetExceededError, match="max_calls=1"):
        await lm(MESSAGES, schema=Answer.get_schema())  # the repair would be a second call
    assert len(recorder.requests) == 1


async def test_an_unknown_price_cannot_be_checked_against_max_cost():
    recorder = Recorder(chat_reply())
    lm = synaplex.LanguageModel(model="openai/my-finetune", api_key=KEY, api_base="http://127.0.0.1:9/v1",
                                transport=recorder.transport())
    with synaplex.budget(max_cost=1.0), pytest.raises(UnknownPriceError, match="price is unknown, so its calls "
                                                                               "cannot be checked"):
        await lm(MESSAGES)
    assert recorder.requests == []
    with synaplex.budget(max_cost=1.0, unknown_cost="warn") as spent:
        await lm(MESSAGES)
    assert spent.calls == 1 and spent.spent()["cost"] is None


async def test_streams_and_embeddings_are_budgeted():
    lm = scripted("one two three")
    em = synaplex.EmbeddingModel(model="scripted")
    with synaplex.budget(max_calls=2) as spent:
        [c async for c in lm.stream("hi")]
        await em(["a", "b"])
        with pytest.raises(BudgetExceededError):
            [c async for c in lm.stream("hi")]
        with pytest.raises(BudgetExceededError):
            await em(["c"])
    assert spent.calls == 2


@pytest.mark.parametrize("kwargs, message", [
    ({}, "A budget needs a limit"),
    ({"max_cost": -1}, "max_cost must be a positive number, got -1"),
    ({"max_calls": True}, "max_calls must be a positive number, got True"),
    ({"max_seconds": float("nan")}, "max_seconds must be a positive number"),
    ({"max_cost": 1, "unknown_cost": "ignore"}, "unknown_cost must be 'error' or 'warn'"),
])
def test_bad_budgets_are_errors(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        synaplex.budget(**kwargs)


def test_a_models_budget_must_be_a_budget_or_limits():
    with pytest.raises(InvalidInputError, match="budget= got unknown keys \\['max_dollars'\\]"):
        synaplex.LanguageModel(model="scripted", budget={"max_dollars": 1})
    with pytest.raises(InvalidInputError, match="budget must be a synaplex.Budget"):
        synaplex.LanguageModel(model="scripted", budget=3)


async def test_estimate_cost_runs_the_program_without_any_request():
    recorder = Recorder(chat_reply(content='{"answer": "Paris"}'))
    lm = priced(recorder)
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaplex.Program(inputs=inputs, outputs=outputs)
    estimate = await program.estimate_cost([Query(query="What is the capital of France?")] * 3)
    assert recorder.requests == [] and estimate.calls == 3
    assert estimate.input_tokens > 3 * 20 and estimate.output_tokens == 3 * 512  # no bound, no past reply
    assert estimate.cost == pytest.approx(estimate.input_tokens * 1e-6 + estimate.output_tokens * 2e-6)
    await program(Query(query="What is the capital of France?"))  # one real reply: 3 output tokens
    again = await program.estimate_cost([Query(query="q")])
    assert again.output_tokens == 3 and len(recorder.requests) == 1


def test_schema_bounds_bound_the_output_estimate():
    from synaplex.lm.budget import placeholder, schema_output_bound

    bounded = {"type": "object", "properties": {"label": {"enum": ["yes", "no"]},
                                                "score": {"type": "integer"}}, "required": ["label", "score"]}
    assert schema_output_bound(bounded) == 2 + (5 + 4 + 5) + (5 + 4 + 24)
    assert schema_output_bound(Answer.get_schema()) is None  # an unbounded string
    assert placeholder(bounded) == {"label": "yes", "score": 0}


async def test_budget_stopping_checks_each_call_so_one_large_batch_cannot_overshoot():
    from synaplex.training.callbacks import BudgetStopping
    from tests.test_training import compiled, data

    program = await compiled()
    x, y = data(12)
    # The first step alone takes 3 selection calls and then a batch of 4 plus its candidates:
    # the batch-level look-ahead cannot stop it, the per-call budget does.
    stopping = BudgetStopping(max_calls=5)
    history = await program.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=0, callbacks=[stopping])
    assert program.modules[-1].language_model.usage.calls == 5
    assert history.stop_reason == ("BudgetStopping: max_calls=5 calls reached: a call was refused before it could "
                                   "exceed it (after batch 1).")
    assert stopping.budget is None  # closed with the run: calls after it are not refused
    await program(x[0])
    assert program.modules[-1].language_model.usage.calls == 6
