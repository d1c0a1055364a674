"""Measurements anker's parts report as they work (a lock waited for, a quota claim, a
workflow run ended), for whoever listens: a service's Prometheus metrics, a test.

Reporting costs one check of an empty list when nobody listens, so the parts report
unconditionally and import nothing for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["Listener", "listen", "report"]

log = logging.getLogger("anker")

#: ``listener(name, value, labels)``: ``name`` says what was measured (``lock.wait``,
#: ``quota.claim``, ``workflow.run``), ``value`` the measurement (seconds, or a count)
Listener = Callable[[str, float, dict[str, str]], None]


class _Listeners:
    #: replaced whole, never changed in place: a listener that stops while called is safe
    now: tuple[Listener, ...] = ()


_listeners = _Listeners()


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` with every measurement from now on; returns what stops it."""
    _listeners.now = (*_listeners.now, listener)

    def stop() -> None:
        _listeners.now = tuple(each for each in _listeners.now if each is not listener)

    return stop


def report(name: str, value: float, **labels: str) -> None:
    """Hand one measurement to the listeners (a failing listener is logged, never raised)."""
    listeners = _listeners.now
    if not listeners:
        return
    for listener in listeners:
        try:
            listener(name, value, labels)
        except Exception:
            log.exception("a listener of anker's measurements failed on %s", name)
