"""How long an acquire-like call waits: its ``timeout`` argument, read as :mod:`threading`
reads it (-1 waits for ever), with None for ever too."""

from __future__ import annotations

import math

__all__ = ["wait_limit"]


def wait_limit(timeout: object, argument: str = "timeout") -> float | None:
    """``timeout`` as seconds to wait, or None to wait for as long as it takes.

    None and -1 (``threading``'s "for ever") wait for ever, and so does infinity; 0 or more
    seconds wait that long. Any other negative number, NaN, a bool or anything that is not a
    number is refused, naming ``argument``: a bool or a string is a mistake here, never a
    duration.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"{argument} must be a number of seconds, -1 or None (wait for ever), "
            f"not {type(timeout).__name__} {timeout!r}"
        )
    if timeout in (-1, math.inf):
        return None
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(
            f"{argument} must be 0 or more seconds, or -1 or None to wait for ever, not {timeout!r}"
        )
    return float(timeout)
