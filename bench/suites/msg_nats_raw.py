"""Raw messages on NATS JetStream: confirmed publishes, 64 in flight, each consumed and
acknowledged in the same process, until the last is: messages/s (see ``_msg_raw``).

Sides: anker's ``Transport.publish`` and ``RawConsumer`` on ``nats://``, against raw nats-py
JetStream (an interest stream in memory, a durable pull consumer, ``js.publish`` and
``fetch``: the floor).
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg_raw import anker_side, jetstream_side, nats_url, side

BENCHMARK = Benchmark(
    name="msg-nats-raw",
    description="raw messages on NATS JetStream: confirmed publish + consume + ack, 64 in flight",
    unit="msgs/s",
    higher_is_better=True,
    sides=(
        side("anker raw (nats://)", anker_side, nats_url, anker=True, needs=("anker",)),
        side(
            "raw nats-py JetStream (floor)", jetstream_side, nats_url, anker=False, needs=("nats",)
        ),
    ),
    count=10_000,
    smoke_count=50,
    reps=5,
)
