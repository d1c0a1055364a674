"""OpenTelemetry across messages: W3C ``traceparent`` and ``tracestate`` ride in the message
context (``_context_traceparent``, which oslo.messaging peers carry as an unknown context key
and ignore), so a trace follows a request from the caller to the server and on.

Optional and free when unused: spans are made only if the process has imported OpenTelemetry
(``opentelemetry.trace`` is loaded, as it is in any service that set up tracing); anker never
imports it itself.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["consumer_span", "producer_span"]

#: the W3C trace-context keys carried in a message's context
KEYS = ("traceparent", "tracestate")
_PREFIX = "_context_"


def _opentelemetry() -> tuple[Any, Any] | None:
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    import importlib

    return trace, importlib.import_module("opentelemetry.propagate")


_UNTRACED = contextlib.nullcontext()


def producer_span(
    name: str, kind: str, entries: MutableMapping[str, Any]
) -> contextlib.AbstractContextManager[None]:
    """A span around sending a message (``kind``: ``client`` for calls, ``producer`` for
    casts and notifications), its trace context written into the message's ``entries``;
    without OpenTelemetry, a context that does nothing (every call and cast asks)."""
    found = _opentelemetry()
    if found is None:
        return _UNTRACED
    return _producer_span(*found, name, kind, entries)


@contextlib.contextmanager
def _producer_span(
    trace: Any, propagate: Any, name: str, kind: str, entries: MutableMapping[str, Any]
) -> Iterator[None]:
    tracer = trace.get_tracer("anker.messaging")
    with tracer.start_as_current_span(name, kind=getattr(trace.SpanKind, kind.upper())):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        for key in KEYS:
            if key in carrier:
                entries[_PREFIX + key] = carrier[key]
        yield


@contextlib.contextmanager
def consumer_span(name: str, kind: str, extras: Mapping[str, Any]) -> Iterator[None]:
    """A span around handling a message (``kind``: ``server`` for RPC requests,
    ``consumer`` for notifications), the child of the sender's span when its trace context
    came with the message."""
    found = _opentelemetry()
    if found is None:
        yield
        return
    trace, propagate = found
    carrier = {key: extras[key] for key in KEYS if isinstance(extras.get(key), str)}
    parent = propagate.extract(carrier) if carrier else None
    tracer = trace.get_tracer("anker.messaging")
    with tracer.start_as_current_span(
        name, context=parent, kind=getattr(trace.SpanKind, kind.upper())
    ):
        yield
