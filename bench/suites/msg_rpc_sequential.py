"""Sequential RPC calls on RabbitMQ: one caller, one server, one call at a time.

``count`` calls of ``echo(x=1)`` (it returns ``{"x": 1}``), each waiting for its reply before
the next: calls/s, with the p50 and p99 latency of one call as extras. Every side's server
and caller are processes of their own (see ``_msg``).

Sides:

* anker: ``RPCClient.call`` against an ``RPCServer`` with an async endpoint, defaults, on
  oslo.messaging's wire: the request (oslo envelope, context, TTL) goes through the topic
  exchange ``openstack``, confirmed; the server publishes the reply to the caller's reply
  queue (consumed without acks) with ``mandatory`` and waits for its confirm, then acks the
  request.
* oslo.messaging: ``RPCClient.call`` against an RPC server with ``executor="threading"``
  (its default executor), rabbit driver, defaults (it confirms every publish, replies too).
* raw aio-pika, the floor: the client publishes ``{"x": 1}`` as JSON to the server's queue
  through the default exchange, with ``correlation_id`` and ``reply_to`` naming its exclusive
  reply queue, on a channel with publisher confirms, and awaits the confirm, then the reply
  (consumed with ``no_ack``, matched by correlation id in a dict of futures). The server
  (prefetch 128, manual acks) decodes the JSON, publishes the reply to ``reply_to`` through
  the default exchange on a channel without confirms, then acks the request. No oslo
  envelope, context, timeout or TTL, no topic exchange.
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg import LIBS, calls, side

BENCHMARK = Benchmark(
    name="msg-rpc-sequential",
    description="sequential RPC calls on RabbitMQ, one caller and one server",
    unit="calls/s",
    higher_is_better=True,
    sides=tuple(side(lib, "rpc", calls(1)) for lib in LIBS),
    count=2000,
    smoke_count=20,
)
