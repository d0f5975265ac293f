"""The shared prefix of a batch's prompts (what vLLM's and SGLang's prefix caches reuse):
a Generator puts what every example shares first. No Ray needed."""

import pytest

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.ray import prefix_share, render_prompt


class Query(synaplex.DataModel):
    query: str


class Answer(synaplex.DataModel):
    thinking: str
    answer: str


EXAMPLES = [{"inputs": {"query": f"A farmer has {n} cows and buys {n + 3} more. How many cows does he have now?"},
             "outputs": {"thinking": f"He starts with {n} cows. He buys {n + 3} more, so {n} + {n + 3} = {2 * n + 3}.",
                         "answer": str(2 * n + 3)}} for n in (4, 7, 12)]
QUERIES = [Query(query=f"Sam reads {i} pages a day for {i + 2} days. How many pages?") for i in range(50)]


def generator(examples):
    return synaplex.Generator(data_model=Answer, language_model="scripted", examples=examples,
                              instructions="Solve the problem. Think step by step, then give the number.")


def test_generator_with_examples_shares_over_80_percent_of_its_prompt_tokens():
    gen = generator(EXAMPLES)
    prompts = [gen.format_messages(x) for x in QUERIES]
    share = prefix_share(prompts)
    assert share.prompts == 50
    assert share.share >= 0.8 and share.cache_hit_share >= 0.8 * 49 / 50
    # everything before the example's own input (system prompt, the few-shot turns) is shared
    shared_messages = prompts[0].get_json()["messages"][:-1]
    assert share.shared_prefix_tokens >= (len(render_prompt(shared_messages)) + 3) // 4


def test_without_examples_the_shared_part_is_smaller_and_input_first_shares_nothing():
    prompts = [generator([]).format_messages(x) for x in QUERIES]
    assert prefix_share(prompts).share < 0.8
    reordered = [p.get_json()["messages"][::-1] for p in (generator(EXAMPLES).format_messages(x) for x in QUERIES)]
    assert prefix_share(reordered).share < 0.1  # the input first: every prompt differs from its first tokens


def test_identical_prompts_share_everything():
    prompt = [{"role": "user", "content": "same"}]
    result = prefix_share([prompt, prompt, prompt])
    assert result.share == 1.0 and result.shared_prefix_tokens == result.mean_prompt_tokens


@pytest.mark.parametrize("prompts, message", [
    ([[{"role": "user", "content": "x"}]], "at least 2 prompts"),
    ("not a list", "at least 2 prompts"),
    ([[{"role": "user", "content": "x"}], "text"], "A prompt must be a list of chat messages"),
    ([[{"role": "user", "content": "x"}], [1, 2]], "A prompt must be a list of chat messages"),
])
def test_bad_prompts(prompts, message):
    with pytest.raises(InvalidInputError, match=message):
        prefix_share(prompts)
