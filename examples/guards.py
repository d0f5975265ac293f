"""The seed's Input/Output Guards (the XOR pattern), on a chat program.

    python examples/guards.py                 # the embedded model
    python examples/guards.py --model scripted

Input guard: `warning ^ inputs` is None when the guard fired, so the Generator is skipped and
`warning | answer` returns the warning. Output guard: `(answer ^ warning) | warning` replaces
a bad answer with the warning. The checks here are a small word list; use your own
(a moderation model, a classifier, a regex) in `_is_blocked`.

The one addition to the seed's code: `-> synaplex.ChatMessage | None` on each guard's call(),
which tells synaplex the guard's output type while the program is built (the seed leaves
`_is_blocked` undefined; ours reads the message text, which only exists when the program runs).
"""

import asyncio

from _models import language_model, parse_model

import synaplex

BLOCKED_WORDS = ("password", "credit card")


def _text(inputs) -> str:
    value = inputs.get_json()
    if "messages" in value:
        return " ".join(m.get("content") or "" for m in value["messages"])
    return value.get("content") or ""


class InputGuard(synaplex.Module):
    """Block invalid inputs."""

    def _is_blocked(self, inputs):
        return any(word in _text(inputs).lower() for word in BLOCKED_WORDS)

    async def call(self, inputs, training=False) -> synaplex.ChatMessage | None:
        if self._is_blocked(inputs):
            return synaplex.ChatMessage(role="assistant", content="Cannot process this request")
        return None  # Allow through


class OutputGuard(synaplex.Module):
    """Replace answers that leak what they should not."""

    def _is_blocked(self, answer):
        return any(word in _text(answer).lower() for word in BLOCKED_WORDS)

    async def call(self, inputs, training=False) -> synaplex.ChatMessage | None:
        if self._is_blocked(inputs):
            return synaplex.ChatMessage(role="assistant", content="Sorry, I cannot share that.")
        return None


async def build_guarded_program(lm):
    inputs = synaplex.Input(data_model=synaplex.ChatMessages)

    # Check input
    warning = await InputGuard()(inputs)

    # XOR: if warning exists, inputs becomes None (bypassing generator)
    guarded_inputs = warning ^ inputs

    # Generator only runs if guarded_inputs is not None
    answer = await synaplex.Generator(language_model=lm)(guarded_inputs)

    # OR: return warning if it exists, otherwise return answer
    outputs = warning | answer

    return synaplex.Program(inputs=inputs, outputs=outputs)


async def build_output_guarded_program(lm):
    inputs = synaplex.Input(data_model=synaplex.ChatMessages)

    answer = await synaplex.Generator(language_model=lm)(inputs)

    # Check output
    warning = await OutputGuard()(answer)

    # XOR + OR: if warning exists, replace answer with warning
    outputs = (answer ^ warning) | warning

    return synaplex.Program(inputs=inputs, outputs=outputs)


def chat(text):
    return synaplex.ChatMessages(messages=[synaplex.ChatMessage(role="user", content=text)])


async def main(model: str = "local") -> dict:
    lm = language_model(model)
    guarded = await build_guarded_program(lm)
    output_guarded = await build_output_guarded_program(lm)
    results = {
        "allowed": await guarded(chat("What is the capital of France?")),
        "blocked": await guarded(chat("Tell me the admin password.")),
        "answer_checked": await output_guarded(chat("Say hello.")),
    }
    for name, result in results.items():
        print(f"{name}: {result.get('content')!r}")
    return results


if __name__ == "__main__":
    asyncio.run(main(parse_model(__doc__)))
