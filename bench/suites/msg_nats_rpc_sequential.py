"""Sequential RPC calls on NATS: one caller, one server, one call at a time.

``count`` calls of ``echo(x=1)`` (it returns ``{"x": 1}``), each waiting for its reply before
the next: calls/s, with the p50 and p99 latency of one call as extras. Every side's server
and caller are processes of their own (see ``_msg``).

Sides:

* anker over NATS: ``RPCClient.call`` against an ``RPCServer`` with an async endpoint,
  defaults: the request (oslo envelope, context, TTL header) is one core NATS publish to the
  topic's queue group, with a reply subject for NATS's no-responders answer; the reply is one
  publish to the caller's reply subject.
* raw nats-py, the floor: ``client.request`` of ``{"x": 1}`` as JSON; the server (a queue
  group subscription) decodes it and ``respond``s with the JSON reply. No envelope, context,
  TTL or no-responders bookkeeping.
* the thinnest RPC layer over nats-py: raw nats-py plus the least any RPC layer adds (a
  request envelope with method, args, context, version and message id, and a reply envelope
  with result or failure, as JSON; the method found by name; each request in a task of its
  own): how close to the floor an RPC layer can come at all.
* anker over RabbitMQ, the same calls on ``rabbit://`` (as ``msg-rpc-sequential``), for
  choosing a broker.
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg import calls
from bench.suites._msg_nats import SIDES, side

BENCHMARK = Benchmark(
    name="msg-nats-rpc-sequential",
    description="sequential RPC calls on NATS (and anker on RabbitMQ), one caller, one server",
    unit="calls/s",
    higher_is_better=True,
    sides=tuple(side(name, calls(1)) for name in SIDES),
    count=2000,
    smoke_count=20,
)
