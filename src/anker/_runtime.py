"""The one place that runs anker's coroutines for synchronous callers.

anker is written once, as coroutines. Threaded code (a WSGI service, a script) calls the same
coroutines through a :class:`Portal`: a handle on the event loop an object lives on (a
coordinator, a transport or a key manager belongs to the loop it was opened on), which hands a
coroutine to that loop and waits for the result. :func:`run_blocking` is the portal of one event
loop per process, running in a daemon thread, on which the ``Blocking*`` classes open what they
open. There is never a second, synchronous copy of the logic.

The loop is started on first use, replaced in a forked child (threads do not survive ``fork``),
and stopped at interpreter exit. Calling :func:`run_blocking` from a thread that is itself
running an event loop raises :class:`~anker.errors.BlockingCallInEventLoop` at once: waiting there
would stall that loop, or deadlock it if it is the background loop itself.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from anker.errors import BlockingCallInEventLoop

__all__ = ["LoopThread", "Portal", "run_blocking"]

T = TypeVar("T")


class Portal:
    """Runs coroutines on one event loop for threads that do not run it.

    :meth:`run` refuses to be called from a thread with a running event loop (waiting there
    would stall that loop), times out, and cancels the coroutine when the caller gives up
    (timeout or ``KeyboardInterrupt``), so nothing keeps running for a caller that has gone.
    """

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    @classmethod
    def of_running_loop(cls) -> Portal:
        """The portal of the event loop running in this thread (where an object is opened)."""
        return cls(asyncio.get_running_loop())

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        timeout: float | None = None,
        from_other_loop: bool = False,
    ) -> T:
        """Run ``coro`` on the portal's loop and return its result (or raise its exception).

        If ``timeout`` seconds pass first, the coroutine is cancelled and ``TimeoutError`` is
        raised. A call from a thread running an event loop is refused, unless
        ``from_other_loop`` and that loop is not the portal's (then the calling loop waits,
        blocked, but cannot deadlock: for synchronous APIs such as a config reload).
        """
        _refuse_inside_event_loop(coro, self.loop if from_other_loop else None)
        if self.loop.is_closed() or not self.loop.is_running():
            coro.close()
            raise RuntimeError(
                f"cannot run {_describe(coro)}(): the event loop it belongs to is not running"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"{_describe(coro)} did not finish within {timeout} s") from None
        except BaseException:
            future.cancel()
            raise


class LoopThread:
    """An asyncio event loop running in its own daemon thread.

    Owns the loop and the thread: :meth:`stop` cancels whatever is still running on it, closes
    the loop and joins the thread.
    """

    def __init__(self, name: str = "anker-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the loop thread if it is not running, and return its loop.

        Idempotent and safe to call from many threads at once.
        """
        with self._lock:
            if self._loop is not None and self.running:
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._serve, args=(loop, ready), name=self._name, daemon=True
            )
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
            return loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop thread and return its result (or raise its exception).

        If ``timeout`` seconds pass first, the coroutine is cancelled and ``TimeoutError`` is
        raised. If the caller is interrupted (``KeyboardInterrupt``), the coroutine is
        cancelled too, so nothing keeps running on behalf of a caller that has gone.
        """
        _refuse_inside_event_loop(coro)
        return Portal(self.start()).run(coro, timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the tasks still on the loop, stop it and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return
        if thread is threading.current_thread():
            raise BlockingCallInEventLoop(f"stopping {self._name} from its own thread")
        asyncio.run_coroutine_threadsafe(_cancel_all_tasks(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _cancel_all_tasks() -> None:
    me = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _describe(coro: Coroutine[Any, Any, Any]) -> str:
    return getattr(coro, "__qualname__", None) or type(coro).__name__


def _refuse_inside_event_loop(
    coro: Coroutine[Any, Any, Any], target: asyncio.AbstractEventLoop | None = None
) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if target is not None and running is not target:
        return
    coro.close()  # never awaited by design: close it so Python does not warn about it
    raise BlockingCallInEventLoop(f"the blocking call to {_describe(coro)}()")


class _ProcessLoop:
    """The per-process :class:`LoopThread` behind :func:`run_blocking`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop_thread: LoopThread | None = None
        self._pid = 0
        self._hooks_installed = False

    def get(self) -> LoopThread:
        pid = os.getpid()
        with self._lock:
            if self._loop_thread is None or self._pid != pid:
                self._loop_thread = LoopThread("anker-blocking-loop")
                self._pid = pid
                if not self._hooks_installed:
                    self._hooks_installed = True
                    atexit.register(self.shutdown)
                    os.register_at_fork(after_in_child=self._forget_after_fork)
            return self._loop_thread

    def shutdown(self) -> None:
        with self._lock:
            loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is not None and self._pid == os.getpid():
            loop_thread.stop()

    def _forget_after_fork(self) -> None:
        # The parent's loop thread does not exist in the child, and the lock may have been held
        # by another parent thread at the moment of the fork: start both afresh.
        self._lock = threading.Lock()
        self._loop_thread = None


_process_loop = _ProcessLoop()


def run_blocking(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` on this process's background event loop and wait for its result.

    This is how anker's blocking wrappers call its async implementation. It is safe to call
    from any number of threads at once. Called from a thread with a running event loop, it
    raises :class:`~anker.errors.BlockingCallInEventLoop` instead of blocking that loop.
    """
    return _process_loop.get().run(coro, timeout)
