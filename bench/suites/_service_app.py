"""The service the ``service-*`` benchmarks run, on anker.service or on oslo.service.

``python -m bench.suites._service_app SIDE INTERVAL WORKERS [WORK]``: SIDE is ``anker`` or
``oslo-eventlet`` (oslo.service 4.8's threading backend needs cotyledon, not installed
here); a periodic task runs every INTERVAL seconds (first run at start), taking WORK
seconds; WORKERS processes (1: no supervisor). It prints, flushed: ``WORKER <pid> <time>``
when a worker's service starts, ``TICK <pid> <time>`` at each run.
"""

from __future__ import annotations

import os
import sys
import time


def say(what: str) -> None:
    sys.stdout.write(f"{what} {os.getpid()} {time.time():.6f}\n")
    sys.stdout.flush()


def anker_main(interval: float, workers: int, work: float) -> int:
    import asyncio

    from anker.service import Service, run

    class Started:
        name = "started"

        async def start(self) -> None:
            say("WORKER")

        async def drain(self, deadline: float) -> None:
            return None

        def in_flight(self) -> list[str]:
            return []

        async def stop(self) -> None:
            return None

    def make() -> Service:
        service = Service("bench")
        service.add(Started())

        @service.periodic(interval=interval, immediately=True)
        async def tick() -> None:
            say("TICK")
            if work:
                await asyncio.sleep(work)

        return service

    return run(make, workers=workers)


def oslo_main(backend: str, interval: float, workers: int, work: float) -> int:
    if backend == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    from oslo_config import cfg
    from oslo_service import backend as backends

    backends.init_backend(backends.BackendType(backend))
    from oslo_service import service

    class Bench(service.Service):  # type: ignore[misc]
        def start(self) -> None:
            super().start()
            say("WORKER")
            self.tg.add_timer_args(interval, self.tick, initial_delay=None)

        def tick(self) -> None:
            say("TICK")
            if work:
                time.sleep(work)

    conf = cfg.CONF
    conf([], project="anker-bench")
    launcher = service.launch(conf, Bench(), workers=workers, restart_method="mutate")
    launcher.wait()
    return 0


def main() -> int:
    side, interval, workers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    work = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    if side == "anker":
        return anker_main(interval, workers, work)
    return oslo_main(side.removeprefix("oslo-"), interval, workers, work)


if __name__ == "__main__":
    sys.exit(main())
