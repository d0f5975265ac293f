"""Retries and rate limits for provider calls.

* :class:`RetryPolicy` retries a call that failed with a retryable :class:`LMError`,
  waiting an exponential backoff with jitter (``tenacity``) or the provider's
  ``Retry-After``, whichever is longer. One cap, ``max_wait``, bounds every wait: a
  ``Retry-After`` beyond it is not slept at all (the call fails at once with a retryable
  :class:`RateLimitError`, so a fallback model can answer), and ``wait_budget`` bounds the
  total of the waits of one call.
* :class:`RateLimiter` caps the requests per minute (``aiolimiter``'s leaky bucket) and the
  calls in flight (an :class:`asyncio.Semaphore`), and can be paused for a while.

This module is imported on the first model call only, so ``import synaplex`` stays cheap;
``tenacity`` and ``aiolimiter`` are imported here, not by the package.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.errors import LMError, RateLimitError, RetriesExhaustedError

T = TypeVar("T")

#: The longest single wait before a retry, in seconds (backoff, ``Retry-After``, a rate
#: limiter's pause). The official OpenAI and Anthropic SDKs draw the line at 60 s too.
DEFAULT_MAX_WAIT = 60.0
#: The most seconds one call may spend waiting between its attempts, all retries together.
DEFAULT_WAIT_BUDGET = 120.0


def _number(owner: str, name: str, value: Any, *, minimum: float, what: str, strict: bool = False) -> float:
    """``value`` as a float, or InvalidInputError if it is not a finite number >= (or >) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < minimum or (strict and value == minimum):
        raise InvalidInputError(f"{owner}: {name} must be a finite number {what}, got {value!r}.")
    return float(value)


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, LMError) and bool(error.is_retryable)


def requested_wait(error: BaseException) -> float | None:
    """The wait a :class:`RateLimitError` asks for (``inf`` stays ``inf``), or None when it
    asks for none or for something that is not a number of seconds >= 0 (NaN, negative)."""
    value = getattr(error, "retry_after", None) if isinstance(error, RateLimitError) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        return None
    return float(value)


def _seconds(value: float) -> str:
    return f"{value:g}" if value < 1e6 or math.isinf(value) else f"{value:.0f}"


class RetryPolicy:
    """Retry a provider call on retryable errors, with exponential backoff and jitter.

    The wait before retry ``n`` (1, 2, ...) is
    ``min(initial_delay * multiplier ** (n - 1) + uniform(0, jitter), max_delay, max_wait)``,
    but never less than the ``retry_after`` of a :class:`RateLimitError` (the provider's
    Retry-After is honoured fully, even above ``max_delay``).

    Two limits keep a call from hanging: a Retry-After above ``max_wait`` is not slept at all
    (the :class:`RateLimitError` is raised at once, still retryable, saying why, so a fallback
    model answers instead), and when the next wait would bring the waits of this call above
    ``wait_budget``, :class:`RetriesExhaustedError` is raised instead of waiting.

    Args:
        max_retries: retries after the first attempt (0: no retry).
        initial_delay: the wait before the first retry, in seconds (before jitter).
        max_delay: the longest backoff, in seconds (jitter included).
        multiplier: how much each wait grows over the previous one (>= 1).
        jitter: a random ``uniform(0, jitter)`` seconds added to each wait.
        max_wait: the longest single wait, Retry-After included (:data:`DEFAULT_MAX_WAIT`).
        wait_budget: the most seconds of waiting per call (:data:`DEFAULT_WAIT_BUDGET`).
        sleep: the coroutine function that waits (``asyncio.sleep``); tests inject a fake.

    Raises:
        InvalidInputError: an argument is out of range.
    """

    def __init__(self, max_retries: int = 2, initial_delay: float = 0.5, max_delay: float = 30.0,
                 multiplier: float = 2.0, jitter: float = 0.5, max_wait: float = DEFAULT_MAX_WAIT,
                 wait_budget: float = DEFAULT_WAIT_BUDGET,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"RetryPolicy: max_retries must be an int >= 0, got {max_retries!r}.")
        self.max_retries = max_retries
        self.initial_delay = _number("RetryPolicy", "initial_delay", initial_delay, minimum=0, what=">= 0")
        self.max_delay = _number("RetryPolicy", "max_delay", max_delay, minimum=0, what=">= 0")
        self.multiplier = _number("RetryPolicy", "multiplier", multiplier, minimum=1, what=">= 1")
        self.jitter = _number("RetryPolicy", "jitter", jitter, minimum=0, what=">= 0")
        self.max_wait = _number("RetryPolicy", "max_wait", max_wait, minimum=0, what=">= 0")
        self.wait_budget = _number("RetryPolicy", "wait_budget", wait_budget, minimum=0, what=">= 0")
        if not callable(sleep):
            raise InvalidInputError(f"RetryPolicy: sleep must be a coroutine function, got {sleep!r}.")
        self.sleep = sleep
        self._backoff = (wait_exponential(multiplier=self.initial_delay, exp_base=self.multiplier)
                         + wait_random(0, self.jitter))

    def __repr__(self) -> str:
        return (f"RetryPolicy(max_retries={self.max_retries}, initial_delay={self.initial_delay}, "
                f"max_delay={self.max_delay}, multiplier={self.multiplier}, jitter={self.jitter}, "
                f"max_wait={self.max_wait}, wait_budget={self.wait_budget})")

    def _wait(self, state: RetryCallState) -> float:
        delay = min(self._backoff(state), self.max_delay, self.max_wait)
        error = state.outcome.exception() if state.outcome is not None else None
        asked = requested_wait(error)
        if asked is not None:
            delay = max(delay, asked)  # above max_wait: _stop refuses to sleep it
        return delay

    def too_long(self, error: BaseException) -> bool:
        """Whether ``error`` asks for a wait above ``max_wait`` (then it is raised at once)."""
        asked = requested_wait(error)
        return asked is not None and asked > self.max_wait

    def refuse(self, error: RateLimitError) -> RateLimitError:
        """The error raised when ``error``'s Retry-After is above ``max_wait``: the same error,
        retryable, saying that it was not waited for."""
        refused = RateLimitError(
            f"{error} (the provider asks to wait {_seconds(requested_wait(error))} s, more than "
            f"max_retry_wait={self.max_wait:g} s: not waiting; a fallback model, if any, is tried now).",
            retry_after=error.retry_after, provider=error.provider, model=error.model,
            status_code=error.status_code)
        return refused

    async def run(self, fn: Callable[[], Awaitable[T]],
                  on_retry: Callable[[LMError, int, float], None] | None = None) -> T:
        """Await ``fn()``, retrying it on retryable :class:`LMError`\\ s.

        ``on_retry(error, attempt, delay)`` is called before each wait: ``attempt`` is the
        number of the attempt that failed (1 for the first), ``delay`` the seconds about to be
        slept. Non-retryable errors and other exceptions propagate at once, unchanged.

        Raises:
            RetriesExhaustedError: every attempt failed with a retryable error (``attempts``
                is their number, ``original_error`` and ``__cause__`` the last error). With
                ``max_retries=0`` the error itself propagates instead.
        """
        if self.max_retries == 0:
            return await fn()
        why: dict[str, Any] = {}

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number > self.max_retries:
                return True
            error = state.outcome.exception()
            if self.too_long(error):
                why["refused"] = error
                return True
            if state.idle_for + state.upcoming_sleep > self.wait_budget + 1e-9:
                why["budget"] = (state.upcoming_sleep, state.idle_for)
                return True
            return False

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None:
                on_retry(state.outcome.exception(), state.attempt_number, state.next_action.sleep)

        retrying = AsyncRetrying(
            sleep=self.sleep, stop=stop, wait=self._wait,
            retry=retry_if_exception(_is_retryable), before_sleep=before_sleep, reraise=True)
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    result = await fn()
            return result
        except LMError as error:
            if not error.is_retryable:
                raise
            last = error
        if "refused" in why:
            raise self.refuse(last) from None
        plural = "retry" if self.max_retries == 1 else "retries"
        if "budget" in why:
            upcoming, waited = why["budget"]
            reason = (f"waiting {_seconds(upcoming)} s more would pass the wait budget of {self.wait_budget:g} s "
                      f"({_seconds(waited)} s waited already)")
        else:
            reason = None
        raise RetriesExhaustedError(
            f"Gave up after {attempts} attempts: {reason}: {type(last).__name__}: {last}" if reason else
            f"Gave up after {attempts} attempts ({self.max_retries} {plural}): {type(last).__name__}: {last}",
            original_error=last, attempts=attempts, provider=last.provider, model=last.model,
            status_code=last.status_code) from last


class _LoopState:
    """The primitives of one :class:`RateLimiter` that are bound to one event loop."""

    __slots__ = ("loop", "bucket", "semaphore")

    def __init__(self, loop: asyncio.AbstractEventLoop, bucket: AsyncLimiter | None,
                 semaphore: asyncio.Semaphore | None):
        self.loop = loop
        self.bucket = bucket
        self.semaphore = semaphore


class RateLimiter:
    """Cap the request rate and the calls in flight; ``async with limiter:`` around each call.

    Entering waits for any pause set with :meth:`pause`, for a free slot when
    ``max_concurrency`` is set, and for room in the requests-per-minute bucket
    (``aiolimiter.AsyncLimiter(requests_per_minute, 60)``, which allows a burst of a minute's
    worth of requests, then one every ``60 / requests_per_minute`` s). Leaving frees the slot.

    When a provider answers 429 with a Retry-After, call ``pause(retry_after)`` so every
    caller sharing this limiter waits, not just the one that was refused; the LanguageModel
    facade does this.

    The limiter may be created outside an event loop and used from several loops one after
    the other (``asyncio.run`` twice): the loop-bound primitives are made lazily for each
    running loop, and the bucket's fill carries over from one loop to the next. Loops running
    at the same time in different threads share the pause but each has its own bucket and
    slots.

    Args:
        requests_per_minute: the most requests started per minute (None: no cap).
        max_concurrency: the most calls inside ``async with`` at once (None: no cap).

    Raises:
        InvalidInputError: an argument is not positive.
    """

    def __init__(self, requests_per_minute: float | None = None, max_concurrency: int | None = None):
        if requests_per_minute is not None:
            requests_per_minute = _number("RateLimiter", "requests_per_minute", requests_per_minute,
                                          minimum=0, what="> 0", strict=True)
        if max_concurrency is not None and (isinstance(max_concurrency, bool)
                                            or not isinstance(max_concurrency, int) or max_concurrency < 1):
            raise InvalidInputError(f"RateLimiter: max_concurrency must be an int >= 1, got {max_concurrency!r}.")
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._states: dict[int, _LoopState] = {}
        # The bucket's fill as of a time (time.monotonic), to seed the bucket of the next loop.
        self._level = 0.0
        self._level_at = 0.0

    def __repr__(self) -> str:
        return f"RateLimiter(requests_per_minute={self.requests_per_minute}, max_concurrency={self.max_concurrency})"

    # --- pause ------------------------------------------------------------------------------

    @property
    def paused_until(self) -> float:
        """When new acquisitions may start again, on the :func:`time.monotonic` clock."""
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """Block new acquisitions for ``seconds`` from now; a pause is only ever extended.

        Raises:
            InvalidInputError: ``seconds`` is negative or not finite.
        """
        seconds = _number("RateLimiter.pause", "seconds", seconds, minimum=0, what=">= 0")
        until = time.monotonic() + seconds
        with self._lock:
            if until > self._paused_until:
                self._paused_until = until

    async def _wait_pause(self) -> None:
        while (left := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(left)

    # --- per-loop primitives ----------------------------------------------------------------

    def _bucket_shape(self) -> tuple[float, float]:
        """(max_rate, time_period) of the bucket; at least 1 request per period."""
        rpm = self.requests_per_minute
        return (rpm, 60.0) if rpm >= 1 else (1.0, 60.0 / rpm)

    def _carried_level(self, now: float) -> float:
        """The shadow bucket's fill now (it leaks at the same rate as the real one)."""
        max_rate, period = self._bucket_shape()
        return min(max(self._level - (now - self._level_at) * max_rate / period, 0.0), max_rate)

    async def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is not None and state.loop is loop:
            return state
        bucket = AsyncLimiter(*self._bucket_shape()) if self.requests_per_minute else None
        semaphore = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
        with self._lock:
            for key in [key for key, old in self._states.items() if old.loop.is_closed()]:
                del self._states[key]
            state = self._states.setdefault(id(loop), _LoopState(loop, bucket, semaphore))
            seed = self._carried_level(time.monotonic()) if state.bucket is bucket and bucket else 0.0
        if seed > 0:
            await bucket.acquire(seed)  # the bucket is empty: this returns at once
        return state

    def _record(self) -> None:
        """Mirror one acquisition in the shadow bucket that carries the fill across loops."""
        now = time.monotonic()
        with self._lock:
            self._level = self._carried_level(now) + 1.0
            self._level_at = now

    # --- acquire / release ------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for the pause, a slot and room in the bucket; pair with :meth:`release`."""
        state = await self._state()
        await self._wait_pause()
        if state.semaphore is not None:
            await state.semaphore.acquire()
        try:
            if state.bucket is not None:
                await state.bucket.acquire()
                self._record()
            await self._wait_pause()  # a 429 may have paused everyone while this one waited
        except BaseException:
            if state.semaphore is not None:
                state.semaphore.release()
            raise

    async def release(self) -> None:
        """Free the slot taken by :meth:`acquire`."""
        state = await self._state()
        if state.semaphore is not None:
            state.semaphore.release()

    async def __aenter__(self) -> RateLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.release()


__all__ = ["DEFAULT_MAX_WAIT", "DEFAULT_WAIT_BUDGET", "RateLimiter", "RetryPolicy", "requested_wait"]
