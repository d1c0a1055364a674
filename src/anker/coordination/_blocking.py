"""The coordinator for threaded code: the same coroutines, run on anker's background loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from anker.coordination._errors import LockTimeout

if TYPE_CHECKING:
    from anker.coordination._coordinator import Coordinator
    from anker.coordination._lock import LockInfo, _QueuedLock

__all__ = ["BlockingCoordinator", "BlockingLock"]


def _run(coordinator: Coordinator, coroutine: Any) -> Any:
    """Run a coroutine of ``coordinator`` on the loop the coordinator lives on, and wait.

    A coordinator belongs to the loop it was connected on (its connections and tasks do), so
    its coroutines run there, whichever thread calls.
    """
    import asyncio

    from anker.errors import BlockingCallInEventLoop

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coroutine.close()
        raise BlockingCallInEventLoop("a blocking coordination call")
    loop = coordinator._loop
    if loop is None or loop.is_closed():
        coroutine.close()
        raise RuntimeError("the coordinator's event loop is not running")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


class BlockingLock:
    """A lock (or semaphore, or side of a read/write lock) for threaded code::

    with coordinator.blocking().lock("volume-42", timeout=10) as lock:
        write(data, fencing_token=lock.token)
    """

    __module__ = "anker.coordination"

    def __init__(self, lock: _QueuedLock) -> None:
        self.lock = lock

    def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        return _run(self.lock.coordinator, self.lock.acquire(blocking=blocking, timeout=timeout))  # type: ignore[no-any-return]

    def release(self) -> None:
        _run(self.lock.coordinator, self.lock.release())

    @property
    def held(self) -> bool:
        return self.lock.held

    @property
    def lost(self) -> bool:
        return self.lock.lost

    @property
    def token(self) -> int:
        return self.lock.token

    def check(self) -> None:
        self.lock.check()

    def __enter__(self) -> Self:
        if not self.acquire(timeout=self.lock.timeout):
            raise LockTimeout(self.lock.name, self.lock.timeout)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.lock._key is not None:
            self.release()


class BlockingCoordinator:
    """:class:`Coordinator` for threaded code: :meth:`connect` makes one on anker's background
    loop; ``coordinator.blocking()`` wraps one made on a loop of yours, which must keep
    running (calls are handed to it)."""

    __module__ = "anker.coordination"

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    @classmethod
    def connect(cls, url: str, **options: Any) -> BlockingCoordinator:
        from anker._runtime import run_blocking
        from anker.coordination._coordinator import Coordinator

        return cls(run_blocking(Coordinator.connect(url, **options)))

    def close(self) -> None:
        _run(self.coordinator, self.coordinator.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def lock(self, name: str, **options: Any) -> BlockingLock:
        return BlockingLock(self.coordinator.lock(name, **options))

    def semaphore(self, name: str, limit: int, **options: Any) -> BlockingLock:
        return BlockingLock(self.coordinator.semaphore(name, limit, **options))

    def locks(self) -> list[LockInfo]:
        return _run(self.coordinator, self.coordinator.locks())  # type: ignore[no-any-return]

    def leaders(self) -> dict[str, str]:
        return _run(self.coordinator, self.coordinator.leaders())  # type: ignore[no-any-return]
