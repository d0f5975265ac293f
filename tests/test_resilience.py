"""RetryPolicy (tenacity) and RateLimiter (aiolimiter) of synaplex.lm.resilience."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderInternalError,
    ProviderTimeoutError,
    RateLimitError,
    RetriesExhaustedError,
)
from synaplex.lm.resilience import DEFAULT_MAX_WAIT, RateLimiter, RetryPolicy


class FakeSleep:
    """Records the delays instead of sleeping."""

    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def failing(*errors, result="ok"):
    """A zero-argument coroutine function raising ``errors`` in turn, then returning ``result``."""
    calls = []

    async def fn():
        calls.append(len(calls) + 1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    fn.calls = calls
    return fn


def server_error(text="boom"):
    return ProviderInternalError(f"openai/gpt: HTTP 500 {text}", provider="openai", model="gpt", status_code=500)


# --- RetryPolicy ------------------------------------------------------------------------------


async def test_succeeds_after_two_retryable_failures():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=2, initial_delay=0.5, multiplier=2.0, jitter=0.5, sleep=sleep)
    fn = failing(server_error(), ProviderTimeoutError("slow"), result={"x": 1})
    assert await policy.run(fn) == {"x": 1}
    assert fn.calls == [1, 2, 3]
    assert len(sleep.delays) == 2
    assert 0.5 <= sleep.delays[0] <= 1.0
    assert 1.0 <= sleep.delays[1] <= 1.5


async def test_delays_grow_exponentially_within_jitter_bounds():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=5, initial_delay=0.1, multiplier=3.0, jitter=0.05, max_delay=100, sleep=sleep)
    fn = failing(*[ProviderConnectionError("reset") for _ in range(5)])
    assert await policy.run(fn) == "ok"
    assert len(sleep.delays) == 5
    for n, delay in enumerate(sleep.delays):
        base = 0.1 * 3.0 ** n
        assert base <= delay <= base + 0.05 + 1e-9, (n, delay)
    assert all(later > earlier for earlier, later in zip(sleep.delays, sleep.delays[1:]))


async def test_zero_jitter_is_exact_and_max_delay_caps_backoff():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=4, initial_delay=1.0, multiplier=2.0, jitter=0.0, max_delay=3.0, sleep=sleep)
    await policy.run(failing(*[server_error() for _ in range(4)]))
    assert sleep.delays == [1.0, 2.0, 3.0, 3.0]


async def test_max_delay_includes_jitter():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=3, initial_delay=2.0, jitter=5.0, max_delay=2.5, sleep=sleep)
    await policy.run(failing(*[server_error() for _ in range(3)]))
    assert all(2.0 <= d <= 2.5 for d in sleep.delays), sleep.delays


async def test_rate_limit_retry_after_is_a_minimum_wait():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=2, initial_delay=0.5, sleep=sleep)
    assert await policy.run(failing(RateLimitError("429", retry_after=7))) == "ok"
    assert len(sleep.delays) == 1 and sleep.delays[0] >= 7


async def test_retry_after_above_max_delay_is_honoured():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=1, initial_delay=0.5, max_delay=2.0, sleep=sleep)
    await policy.run(failing(RateLimitError("429", retry_after=45.0)))
    assert sleep.delays == [45.0]


@pytest.mark.parametrize("retry_after", [60.5, 600, 86_400, math.inf])
async def test_a_retry_after_beyond_the_cap_is_not_slept_at_all(retry_after):
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=3, sleep=sleep)
    original = RateLimitError("openai/gpt: HTTP 429 RateLimitError: slow down", retry_after=retry_after,
                              provider="openai", model="gpt", status_code=429)
    fn = failing(original)
    with pytest.raises(RateLimitError) as caught:
        await policy.run(fn)
    assert sleep.delays == [] and fn.calls == [1]
    assert caught.value.is_retryable and caught.value.retry_after == retry_after
    assert caught.value.status_code == 429 and caught.value.provider == "openai"
    assert str(caught.value) == (f"openai/gpt: HTTP 429 RateLimitError: slow down (the provider asks to wait "
                                 f"{retry_after:g} s, more than max_retry_wait=60 s: not waiting; a fallback "
                                 "model, if any, is tried now).")
    assert DEFAULT_MAX_WAIT == 60.0


async def test_one_cap_governs_backoff_too():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=4, initial_delay=10, multiplier=10, jitter=0, max_delay=1000, max_wait=15,
                         wait_budget=1000, sleep=sleep)
    await policy.run(failing(*[server_error() for _ in range(4)]))
    assert sleep.delays == [10, 15, 15, 15]


async def test_the_total_wait_per_call_has_a_budget():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=10, initial_delay=1, multiplier=2, jitter=0, max_delay=100, max_wait=100,
                         wait_budget=10, sleep=sleep)
    errors = [server_error(f"boom {i}") for i in range(10)]
    fn = failing(*errors)
    with pytest.raises(RetriesExhaustedError) as caught:
        await policy.run(fn)
    assert sleep.delays == [1, 2, 4] and fn.calls == [1, 2, 3, 4]
    assert caught.value.attempts == 4 and caught.value.original_error is errors[3]
    assert str(caught.value) == ("Gave up after 4 attempts: waiting 8 s more would pass the wait budget of 10 s "
                                 "(7 s waited already): ProviderInternalError: openai/gpt: HTTP 500 boom 3")


async def test_retry_after_counts_against_the_budget():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=5, jitter=0, wait_budget=100, sleep=sleep)
    fn = failing(*[RateLimitError("429", retry_after=45) for _ in range(5)])
    with pytest.raises(RetriesExhaustedError, match="waiting 45 s more would pass the wait budget of 100 s "
                                                    r"\(90 s waited already\)"):
        await policy.run(fn)
    assert sleep.delays == [45, 45]


async def test_a_nan_retry_after_falls_back_to_the_backoff():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=1, initial_delay=0.5, jitter=0, sleep=sleep)
    assert await policy.run(failing(RateLimitError("429", retry_after=math.nan))) == "ok"
    assert sleep.delays == [0.5]


async def test_rate_limit_without_retry_after_uses_backoff():
    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=2, initial_delay=0.5, jitter=0.5, sleep=sleep)
    await policy.run(failing(RateLimitError("429"), RateLimitError("429", retry_after=0)))
    assert 0.5 <= sleep.delays[0] <= 1.0 and 1.0 <= sleep.delays[1] <= 1.5


@pytest.mark.parametrize("error", [
    AuthenticationError("bad key", provider="openai", model="gpt", status_code=401),
    InvalidRequestError("malformed", provider="openai", model="gpt", status_code=400),
    ContextWindowExceededError("too long", provider="openai", model="gpt", status_code=400),
])
async def test_non_retryable_errors_propagate_unchanged(error):
    sleep = FakeSleep()
    retried = []
    fn = failing(error)
    with pytest.raises(type(error)) as caught:
        await RetryPolicy(max_retries=3, sleep=sleep).run(fn, on_retry=lambda *a: retried.append(a))
    assert caught.value is error
    assert fn.calls == [1] and sleep.delays == [] and retried == []


async def test_plain_exceptions_are_not_retried():
    sleep = FakeSleep()
    error = ValueError("not an LMError")
    fn = failing(error)
    with pytest.raises(ValueError) as caught:
        await RetryPolicy(max_retries=3, sleep=sleep).run(fn)
    assert caught.value is error
    assert fn.calls == [1] and sleep.delays == []


async def test_cancellation_is_not_retried():
    sleep = FakeSleep()
    fn = failing(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await RetryPolicy(max_retries=3, sleep=sleep).run(fn)
    assert fn.calls == [1]


async def test_non_retryable_error_after_retries_propagates_unchanged():
    sleep = FakeSleep()
    error = AuthenticationError("revoked")
    fn = failing(server_error(), error)
    with pytest.raises(AuthenticationError) as caught:
        await RetryPolicy(max_retries=5, sleep=sleep).run(fn)
    assert caught.value is error
    assert fn.calls == [1, 2] and len(sleep.delays) == 1


async def test_exhaustion_raises_retries_exhausted_error():
    sleep = FakeSleep()
    errors = [server_error(f"boom {i}") for i in range(3)]
    fn = failing(*errors)
    with pytest.raises(RetriesExhaustedError) as caught:
        await RetryPolicy(max_retries=2, sleep=sleep).run(fn)
    exhausted = caught.value
    assert exhausted.attempts == 3 == len(fn.calls)
    assert exhausted.original_error is errors[-1]
    assert exhausted.__cause__ is errors[-1]
    assert "3 attempts" in str(exhausted)
    assert "boom 2" in str(exhausted)
    assert exhausted.provider == "openai" and exhausted.model == "gpt"
    assert exhausted.is_retryable is False
    assert len(sleep.delays) == 2


async def test_max_retries_zero_raises_the_original_error():
    sleep = FakeSleep()
    error = server_error()
    fn = failing(error)
    with pytest.raises(ProviderInternalError) as caught:
        await RetryPolicy(max_retries=0, sleep=sleep).run(fn)
    assert caught.value is error
    assert not isinstance(caught.value, RetriesExhaustedError)
    assert fn.calls == [1] and sleep.delays == []


async def test_max_retries_zero_returns_the_result():
    assert await RetryPolicy(max_retries=0).run(failing()) == "ok"


async def test_on_retry_gets_error_attempt_and_delay():
    sleep = FakeSleep()
    errors = [server_error(), RateLimitError("429", retry_after=3.0)]
    seen = []
    policy = RetryPolicy(max_retries=2, initial_delay=0.25, jitter=0.0, sleep=sleep)
    assert await policy.run(failing(*errors), on_retry=lambda *args: seen.append(args)) == "ok"
    assert seen == [(errors[0], 1, 0.25), (errors[1], 2, 3.0)]
    assert [delay for _, _, delay in seen] == sleep.delays


async def test_policy_is_reusable_and_uses_real_sleep_by_default():
    policy = RetryPolicy(max_retries=1, initial_delay=0.01, jitter=0.0)
    started = time.monotonic()
    assert await policy.run(failing(server_error())) == "ok"
    assert await policy.run(failing(server_error(), result=2)) == 2
    assert time.monotonic() - started >= 0.015


@pytest.mark.parametrize("kwargs, name", [
    (dict(max_retries=-1), "max_retries"),
    (dict(max_retries=1.5), "max_retries"),
    (dict(max_retries=True), "max_retries"),
    (dict(max_retries="2"), "max_retries"),
    (dict(initial_delay=-0.1), "initial_delay"),
    (dict(initial_delay=math.inf), "initial_delay"),
    (dict(max_delay=-1), "max_delay"),
    (dict(max_delay=math.nan), "max_delay"),
    (dict(multiplier=0.5), "multiplier"),
    (dict(multiplier=math.inf), "multiplier"),
    (dict(jitter=-0.5), "jitter"),
    (dict(jitter="0.5"), "jitter"),
    (dict(max_wait=-1), "max_wait"),
    (dict(max_wait=math.inf), "max_wait"),
    (dict(wait_budget=math.nan), "wait_budget"),
    (dict(wait_budget="120"), "wait_budget"),
])
def test_retry_policy_rejects_bad_arguments(kwargs, name):
    with pytest.raises(InvalidInputError) as caught:
        RetryPolicy(**kwargs)
    message = str(caught.value)
    assert name in message and repr(next(iter(kwargs.values()))) in message
    assert isinstance(caught.value, ValueError)


# --- RateLimiter ------------------------------------------------------------------------------


async def test_max_concurrency_caps_calls_in_flight():
    limiter = RateLimiter(max_concurrency=2)
    running = peak = 0

    async def call():
        nonlocal running, peak
        async with limiter:
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(call() for _ in range(10)))
    assert peak == 2 and running == 0


async def test_slot_is_released_when_the_body_raises():
    limiter = RateLimiter(max_concurrency=1)
    with pytest.raises(RuntimeError):
        async with limiter:
            raise RuntimeError("inside")
    await asyncio.wait_for(limiter.acquire(), timeout=5)
    await limiter.release()


async def test_cancelled_waiter_does_not_leak_a_slot():
    limiter = RateLimiter(max_concurrency=1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await limiter.release()
    await asyncio.wait_for(limiter.acquire(), timeout=5)
    await limiter.release()


async def test_requests_per_minute_spaces_requests_after_the_burst():
    limiter = RateLimiter(requests_per_minute=600)  # a burst of 600, then one every 0.1 s
    for _ in range(600):
        async with limiter:
            pass
    started = time.monotonic()
    for _ in range(12):
        async with limiter:
            pass
    assert time.monotonic() - started >= 0.1  # ~1.2 s expected; loose lower bound only


async def test_fractional_requests_per_minute_is_accepted():
    limiter = RateLimiter(requests_per_minute=0.5)
    async with limiter:  # the first request goes at once
        pass
    assert limiter.requests_per_minute == 0.5


async def test_pause_delays_the_next_acquisition():
    limiter = RateLimiter(max_concurrency=4)
    limiter.pause(0.3)
    started = time.monotonic()
    async with limiter:
        pass
    assert time.monotonic() - started >= 0.25


async def test_pause_applies_without_any_other_limit():
    limiter = RateLimiter()
    limiter.pause(0.2)
    started = time.monotonic()
    async with limiter:
        pass
    assert time.monotonic() - started >= 0.15


def test_pause_only_extends():
    limiter = RateLimiter(requests_per_minute=60)
    assert limiter.paused_until <= time.monotonic()
    limiter.pause(10)
    until = limiter.paused_until
    assert until >= time.monotonic() + 9
    limiter.pause(0.1)
    assert limiter.paused_until == until
    limiter.pause(0)
    assert limiter.paused_until == until
    limiter.pause(20)
    assert limiter.paused_until > until


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, "3", None])
def test_pause_rejects_bad_durations(seconds):
    with pytest.raises(InvalidInputError, match="seconds"):
        RateLimiter().pause(seconds)


@pytest.mark.parametrize("kwargs, name", [
    (dict(requests_per_minute=0), "requests_per_minute"),
    (dict(requests_per_minute=-5), "requests_per_minute"),
    (dict(requests_per_minute=math.inf), "requests_per_minute"),
    (dict(requests_per_minute=True), "requests_per_minute"),
    (dict(max_concurrency=0), "max_concurrency"),
    (dict(max_concurrency=1.5), "max_concurrency"),
    (dict(max_concurrency=-2), "max_concurrency"),
])
def test_rate_limiter_rejects_bad_arguments(kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        RateLimiter(**kwargs)


def test_works_across_event_loops():
    limiter = RateLimiter(requests_per_minute=600, max_concurrency=2)  # made outside any loop

    async def burst(n):
        running = peak = 0

        async def call():
            nonlocal running, peak
            async with limiter:
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0)
                running -= 1

        await asyncio.gather(*(call() for _ in range(n)))
        return peak

    assert asyncio.run(burst(600)) == 2
    # The second loop gets fresh primitives, and the bucket's fill carries over: the burst is
    # spent, so 5 more requests are spaced ~0.1 s apart.
    started = time.monotonic()
    assert asyncio.run(burst(5)) <= 2
    assert time.monotonic() - started >= 0.25


def test_pause_carries_across_event_loops():
    limiter = RateLimiter(max_concurrency=1)

    async def once():
        async with limiter:
            pass

    asyncio.run(once())
    limiter.pause(0.2)
    started = time.monotonic()
    asyncio.run(once())
    assert time.monotonic() - started >= 0.15


# --- Retry-After through the LanguageModel (MockTransport) -----------------------------------

import httpx2  # noqa: E402

import synaplex  # noqa: E402

KEY = "sk-resilience-0123456789abcdefghij"
MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def rate_limited(retry_after: str, then=None):
    calls = []

    def handler(request):
        calls.append(request)
        if then is not None and len(calls) > 1:
            return httpx2.Response(200, json=then)
        return httpx2.Response(429, headers={"Retry-After": retry_after},
                               json={"error": {"message": "Rate limit reached", "type": "rate_limit_error"}})

    handler.calls = calls
    return handler


def model_for(handler, **kwargs):
    return synaplex.LanguageModel(model="openai/gpt-4o-mini", api_key=KEY, transport=httpx2.MockTransport(handler),
                                  **kwargs)


async def test_a_day_long_retry_after_neither_sleeps_nor_pauses_the_shared_limiter():
    handler = rate_limited("86400")
    lm = model_for(handler, requests_per_minute=600, max_retries=2)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await lm(MESSAGES)
    assert time.monotonic() - started < 5 and len(handler.calls) == 1
    assert lm._limiter.paused_until <= time.monotonic()
    assert caught.value.is_retryable and caught.value.retry_after == 86400
    assert str(caught.value).endswith("(the provider asks to wait 86400 s, more than max_retry_wait=60 s: not "
                                      "waiting; a fallback model, if any, is tried now).")


async def test_a_long_retry_after_falls_back_at_once():
    fallback = model_for(lambda request: httpx2.Response(200, json=CHAT))
    lm = model_for(rate_limited("600"), fallback=fallback, max_retries=2)
    started = time.monotonic()
    assert (await lm(MESSAGES))["content"] == "Paris"
    assert time.monotonic() - started < 5 and lm.last_usage.fallbacks == 1


async def test_a_retry_after_under_the_cap_pauses_the_limiter_for_that_long():
    handler = rate_limited("0.2", then=CHAT)
    lm = model_for(handler, requests_per_minute=600, max_retries=1)
    started = time.monotonic()
    assert (await lm(MESSAGES))["content"] == "Paris"
    assert 0.2 <= time.monotonic() - started < 5 and len(handler.calls) == 2


async def test_max_retry_wait_and_retry_wait_budget_are_options_of_the_model():
    handler = rate_limited("0.1")
    lm = model_for(handler, max_retries=5, max_retry_wait=0.2, retry_wait_budget=0.3)
    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError) as caught:
        await lm(MESSAGES)
    assert time.monotonic() - started < 5
    assert caught.value.attempts == 2 and len(handler.calls) == 2
    assert "would pass the wait budget of 0.3 s" in str(caught.value)
    config = lm.get_config()
    assert config["max_retry_wait"] == 0.2 and config["retry_wait_budget"] == 0.3
    assert synaplex.LanguageModel.from_config({**config, "api_key": KEY}).retry_wait_budget == 0.3
    assert "max_retry_wait" not in model_for(handler).get_config()


@pytest.mark.parametrize("header, shown", [
    ("inf", "'inf'"), ("nan", "'nan'"), ("NaN", "'NaN'"), ("-5", "'-5'"), ("soon", "'soon'"),
    ("1e999", "'1e999'"), ("Infinity", "'Infinity'"), ("", None),
])
async def test_bad_retry_after_values_are_typed_lm_errors_and_use_the_backoff(header, shown):
    lm = model_for(rate_limited(header), max_retries=0)
    with pytest.raises(RateLimitError) as caught:
        await lm(MESSAGES)
    assert caught.value.is_retryable and caught.value.retry_after is None
    message = "openai/gpt-4o-mini: HTTP 429 RateLimitError: Rate limit reached [rate_limit_error]"
    if shown:
        message += (f" (ignored the invalid Retry-After {shown}: not a number of seconds >= 0 nor an HTTP date; "
                    "retrying with backoff)")
    assert str(caught.value) == message


async def test_a_retry_after_date_far_in_the_future_fails_at_once():
    lm = model_for(rate_limited("Wed, 21 Oct 2999 07:28:00 GMT"), max_retries=2)
    with pytest.raises(RateLimitError, match=r"asks to wait \d+ s, more than max_retry_wait=60 s") as caught:
        await lm(MESSAGES)
    assert caught.value.retry_after > 10 ** 10


async def test_a_retry_after_date_in_the_past_means_now():
    handler = rate_limited("Wed, 21 Oct 2015 07:28:00 GMT", then=CHAT)
    lm = model_for(handler, max_retries=1, max_retry_wait=0.1)
    assert (await lm(MESSAGES))["content"] == "Paris" and len(handler.calls) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_retry_wait=-1), "max_retry_wait must be a finite number >= 0, got -1."),
    (dict(max_retry_wait=math.inf), "max_retry_wait must be a finite number >= 0, got inf."),
    (dict(retry_wait_budget="2"), "retry_wait_budget must be a finite number >= 0, got '2'."),
    (dict(retry_wait_budget=math.nan), "retry_wait_budget must be a finite number >= 0, got nan."),
])
def test_bad_wait_options_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError) as caught:
        model_for(rate_limited("1"), **kwargs)
    assert str(caught.value) == f"LanguageModel: {message}"
