"""Run a coroutine to completion from synchronous code, even inside a running event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable
from typing import Any


def run_sync(awaitable: Awaitable[Any]) -> Any:
    """Block until ``awaitable`` is done and return its result.

    Outside an event loop this is ``asyncio.run``. Inside one (a notebook, an ``async def``
    that calls a blocking convenience), the coroutine runs on a fresh loop in a worker
    thread, so the caller's loop is never re-entered.
    """

    async def _main():
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _main()).result()


def run_now(make_coroutine) -> Any:
    """Run a coroutine that does not really suspend (symbolic tracing) synchronously.

    Tracing a program awaits ``build`` and ``compute_output_spec``, which are almost always
    pure. Driving the coroutine by hand avoids any event loop, so ``Sequential([...])`` and
    ``Program.load`` work from sync code and inside a running loop alike. A coroutine that
    does suspend is started again with :func:`run_sync`.
    """
    coroutine = make_coroutine()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    return run_sync(make_coroutine())
