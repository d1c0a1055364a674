"""Notifications on RabbitMQ, pipelined, each confirmed by the broker, until all are received.

``count`` ``info`` notifications with payload ``{"x": 1}``, 64 in flight, timed from the first
send until the listener's endpoint has seen the last one: messages/s. The time to send them
all (every confirm in) is an extra.

Sides: anker (``Notifier.info``, confirmed, 64 tasks) to a ``NotificationListener`` with an
async endpoint and its defaults (8 in flight, prefetch 16); oslo.messaging (``Notifier`` with
the ``messagingv2`` driver from 16 threads) to a notification listener with the threading
executor; raw aio-pika, the floor: as in ``msg-casts``, to the queue ``TOPIC.info``.
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg import LIBS, deliveries, side

BENCHMARK = Benchmark(
    name="msg-notifications",
    description="confirmed notifications on RabbitMQ, 64 in flight, until all are received",
    unit="msgs/s",
    higher_is_better=True,
    sides=tuple(side(lib, "notify", deliveries("notify")) for lib in LIBS),
    count=10_000,
    smoke_count=50,
    reps=5,
)
