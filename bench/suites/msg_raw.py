"""Raw messages on RabbitMQ: confirmed publishes, 64 in flight, each consumed and acknowledged
in the same process, until the last is: messages/s (see ``_msg_raw`` for what each side does).

Sides: anker's ``Transport.publish`` and ``RawConsumer`` on ``rabbit://``, against raw
aio-pika (a topic exchange, publisher confirms, ``mandatory``, prefetch 128: the floor).
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg_raw import anker_side, pika_side, rabbit_url, side

BENCHMARK = Benchmark(
    name="msg-raw",
    description="raw messages on RabbitMQ: confirmed publish + consume + ack, 64 in flight",
    unit="msgs/s",
    higher_is_better=True,
    sides=(
        side("anker raw (rabbit://)", anker_side, rabbit_url, anker=True, needs=("anker",)),
        side("raw aio-pika (floor)", pika_side, rabbit_url, anker=False, needs=("aio_pika",)),
    ),
    count=10_000,
    smoke_count=50,
    reps=5,
)
