"""The blocking bridge: one loop per process, safe from many threads, never a deadlock."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from anker._runtime import LoopThread, run_blocking
from anker.errors import BlockingCallInEventLoop


async def where_am_i(value: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return value, threading.get_native_id()


async def fail_with(error: Exception) -> None:
    await asyncio.sleep(0)
    raise error


def test_returns_the_result_and_runs_on_a_background_thread() -> None:
    value, thread_id = run_blocking(where_am_i(7))
    assert value == 7
    assert thread_id != threading.get_native_id()


def test_raises_the_coroutines_own_exception() -> None:
    with pytest.raises(KeyError, match="boom"):
        run_blocking(fail_with(KeyError("boom")))


def test_many_threads_at_once_share_one_loop() -> None:
    threads, calls = 32, 25

    def caller(offset: int) -> list[tuple[int, int]]:
        return [run_blocking(where_am_i(offset + i)) for i in range(calls)]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(caller, range(0, threads * calls, calls)))
    values = [value for batch in results for value, _ in batch]
    loop_threads = {thread_id for batch in results for _, thread_id in batch}
    assert sorted(values) == list(range(threads * calls))
    assert len(loop_threads) == 1, "every call must run on the one process loop"


async def test_called_from_a_running_loop_raises_instead_of_blocking() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BlockingCallInEventLoop, match="await the async API instead"):
            run_blocking(where_am_i(1))
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_called_from_the_background_loop_itself_raises_instead_of_deadlocking() -> None:
    async def nested() -> int:
        return run_blocking(where_am_i(2))[0]

    with pytest.raises(BlockingCallInEventLoop):
        run_blocking(nested(), timeout=10)


def test_timeout_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match=r"forever did not finish within 0.1 s"):
        run_blocking(forever(), timeout=0.1)
    assert cancelled.wait(10), "the timed-out coroutine must be cancelled, not left running"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_loop() -> None:
    _, parent_loop_thread = run_blocking(where_am_i(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+ warns on fork with threads
        pid = os.fork()
    if pid == 0:  # the child: the parent's loop thread does not exist here
        try:
            value, child_loop_thread = run_blocking(where_am_i(41), timeout=10)
            ok = value == 41 and child_loop_thread != parent_loop_thread
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_stop_cancels_what_is_still_running_and_joins_the_thread() -> None:
    loop_thread = LoopThread("test-loop")
    cancelled = threading.Event()
    started = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.run_coroutine_threadsafe(forever(), loop_thread.start())
    assert started.wait(10)
    assert loop_thread.running
    loop_thread.stop()
    assert cancelled.is_set()
    assert not loop_thread.running
    loop_thread.stop()  # idempotent
    assert loop_thread.run(where_am_i(3))[0] == 3, "a stopped LoopThread starts again on use"
    loop_thread.stop()


def test_stop_from_its_own_thread_is_refused() -> None:
    loop_thread = LoopThread("test-loop")

    async def stop_myself() -> None:
        loop_thread.stop()

    try:
        with pytest.raises(BlockingCallInEventLoop):
            loop_thread.run(stop_myself(), timeout=10)
    finally:
        loop_thread.stop()
