"""OpenTelemetry across messages: the server's span of a call, a cast and a notification (and
a raw message's consumer's) is the child of the sender's, on memory://, RabbitMQ and NATS (W3C
trace context in the message's context, as ``_context_traceparent``; a raw message's in its
``traceparent`` header)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from servers import require_server

CHILD = Path(__file__).with_name("tracing_child.py")


def spans(url: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(CHILD), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines()]
    return {span["name"]: span for span in found}


def check(found: dict[str, dict[str, Any]]) -> None:
    request = found["request"]
    for sent, handled, kinds in (
        ("call echo", "handle echo", ("CLIENT", "SERVER")),
        ("cast poke", "handle poke", ("PRODUCER", "SERVER")),
        ("notify thing.done", "handle info", ("PRODUCER", "CONSUMER")),
        ("publish orders.new", "process orders.new", ("PRODUCER", "CONSUMER")),
    ):
        assert found[sent]["parent"] == request["id"], sent
        assert found[handled]["parent"] == found[sent]["id"], handled
        assert {found[sent]["trace"], found[handled]["trace"]} == {request["trace"]}
        assert (found[sent]["kind"], found[handled]["kind"]) == kinds


def test_a_trace_follows_messages_on_memory() -> None:
    check(spans("memory://tracing"))


@pytest.mark.integration
def test_a_trace_follows_messages_on_rabbitmq() -> None:
    check(spans(require_server("rabbitmq")))


@pytest.mark.integration
def test_a_trace_follows_messages_on_nats() -> None:
    check(spans(require_server("nats")))
