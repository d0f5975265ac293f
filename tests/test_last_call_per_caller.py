"""What a call reports about itself (its usage, finish reason and request id) is its own, even
when other threads call the same model at the same moment: chat responses, LangChain messages,
the provider registry's responses, the router's accounting and the chat spans read the caller's
own outcome, not the model's shared ``last_*`` attributes."""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import synaplex
from synaplex.lm.router import Router

PROMPTS = [f"question {'word ' * (3 * i)}?" for i in range(1, 9)]  # different lengths: different usage


def echo(messages, schema):
    """A reply that names its own prompt, so each response can be matched to its request."""
    return {"content": messages[-1]["content"], "tool_calls": []}


@pytest.fixture(autouse=True)
def frequent_thread_switches():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the interpreter switches threads as often as it can
    yield
    sys.setswitchinterval(interval)


def expected_input_tokens(lm) -> dict[str, int]:
    alone = {}
    for prompt in PROMPTS:
        response = lm.chat_complete([{"role": "user", "content": prompt}])
        alone[prompt] = response.usage.input_tokens
    assert len(set(alone.values())) == len(PROMPTS)  # the check below can tell them apart
    return alone


def hammer(call, rounds=25):
    """``call(prompt)`` from 8 threads at once, ``rounds`` times each; every (prompt, result)."""
    barrier = threading.Barrier(len(PROMPTS))

    def worker(prompt):
        barrier.wait()
        return [(prompt, call(prompt)) for _ in range(rounds)]

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        return [pair for pairs in pool.map(worker, PROMPTS) for pair in pairs]


def test_chat_responses_carry_their_own_usage_under_concurrent_threads():
    lm = synaplex.LanguageModel(model="scripted", responses=echo)
    alone = expected_input_tokens(lm)
    results = hammer(lambda prompt: lm.chat_complete([{"role": "user", "content": prompt}]))
    assert all(response.content == prompt for prompt, response in results)
    wrong = [(prompt, response.usage.input_tokens) for prompt, response in results
             if response.usage.input_tokens != alone[prompt]]
    assert not wrong, f"{len(wrong)} of {len(results)} responses carried another call's usage: {wrong[:3]}"


def test_langchain_batch_messages_carry_their_own_usage():
    lm = synaplex.LanguageModel(model="scripted", responses=echo)
    alone = expected_input_tokens(lm)
    chat_model = lm.to_langchain()
    inputs = PROMPTS * 20
    messages = chat_model.batch(inputs, config={"max_concurrency": 8})
    assert [m.content for m in messages] == inputs
    wrong = [(p, m.usage_metadata["input_tokens"]) for p, m in zip(inputs, messages)
             if m.usage_metadata["input_tokens"] != alone[p]]
    assert not wrong, f"{len(wrong)} of {len(inputs)} messages carried another call's usage: {wrong[:3]}"


def test_a_routers_usage_adds_each_call_once():
    members = [synaplex.LanguageModel(model="scripted", responses=echo)]
    router = Router(members)
    alone = expected_input_tokens(members[0])
    before = router.usage.input_tokens
    results = hammer(lambda prompt: synaplex.backend.asyncio_utils.run_sync(
        router([{"role": "user", "content": prompt}])), rounds=10)
    assert router.usage.input_tokens - before == sum(alone[prompt] for prompt, _ in results)
