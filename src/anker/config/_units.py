"""Numbers with units: durations (``30s``, ``1h30m``) and byte sizes (``10MiB``)."""

from __future__ import annotations

import math
from datetime import timedelta

from anker.config._kinds import BadValue, Kind, bounds, check_bounds

__all__ = ["ByteSize", "ByteSizeKind", "DurationKind", "format_bytes", "format_duration"]


class ByteSize(int):
    """A size in bytes, written with a unit: ``512``, ``64KiB``, ``10MB``, ``1.5GiB``."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_bytes(int(self))


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class DurationKind(Kind):
    """``30`` (seconds), ``30s``, ``250ms``, ``5m``, ``1h30m``, ``2d``; a ``timedelta``."""

    __slots__ = ("high", "low")

    def __init__(self, low: object, high: object) -> None:
        self.low = None if low is None else _as_timedelta(low)
        self.high = None if high is None else _as_timedelta(high)

    def describe(self) -> str:
        return "a duration such as 30s, 5m or 1h30m" + bounds(self.low, self.high, format_duration)  # type: ignore[arg-type]

    def convert(self, raw: object) -> object:
        try:
            value = _as_timedelta(raw)
        except BadValue:
            raise self.fail(raw) from None
        if value < timedelta(0):
            raise self.fail(raw)
        check_bounds(self, value, self.low, self.high, raw)
        return value

    def to_text(self, value: object) -> str:
        return format_duration(value)  # type: ignore[arg-type]


def _as_timedelta(raw: object) -> timedelta:
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise BadValue(raw)
    try:
        seconds = _duration_seconds(raw) if isinstance(raw, str) else float(raw)
    except OverflowError:
        raise BadValue(raw) from None
    if not math.isfinite(seconds):
        raise BadValue(raw)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise BadValue(raw) from None


def _duration_seconds(raw: str) -> float:
    """Seconds in ``90``, ``1.5``, ``250ms``, ``1h30m``, ``2d``: numbers each with a unit."""
    text = raw.strip().lower().replace(" ", "")
    try:
        return float(text)
    except ValueError:
        pass
    total, number, index = 0.0, "", 0
    while index < len(text):
        char = text[index]
        if char in "0123456789.":  # ASCII only: str.isdigit() also accepts '²'
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in _DURATION_UNITS or not number or number.count(".") > 1:
            raise BadValue(raw)
        total += float(number) * _DURATION_UNITS[unit]
        number = ""
        index += len(unit)
    if number or not text:
        raise BadValue(raw)
    return total


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


_BYTE_UNITS = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _BYTE_UNITS[_letter] = _BYTE_UNITS[_letter + "b"] = 1000**_power
    _BYTE_UNITS[_letter + "i"] = _BYTE_UNITS[_letter + "ib"] = 1024**_power


class ByteSizeKind(Kind):
    __slots__ = ("high", "low")

    def __init__(self, low: object, high: object) -> None:
        self.low = None if low is None else _as_bytes(low)
        self.high = None if high is None else _as_bytes(high)

    def describe(self) -> str:
        return "a size such as 512, 64KiB or 10MB" + bounds(self.low, self.high, format_bytes)

    def convert(self, raw: object) -> object:
        try:
            value = _as_bytes(raw)
        except BadValue:
            raise self.fail(raw) from None
        check_bounds(self, value, self.low, self.high, raw)
        return ByteSize(value)

    def to_text(self, value: object) -> str:
        return format_bytes(int(value))  # type: ignore[call-overload]

    def to_native(self, value: object) -> object:
        return self.to_text(value)


def _as_bytes(raw: object) -> int:
    if isinstance(raw, bool):
        raise BadValue(raw)
    if isinstance(raw, int):
        if raw < 0:
            raise BadValue(raw)
        return raw
    if not isinstance(raw, str):
        raise BadValue(raw)
    text = raw.strip().lower().replace(" ", "")
    split = len(text)
    while split and text[split - 1] not in "0123456789.":
        split -= 1
    number, unit = text[:split], text[split:]
    if unit not in _BYTE_UNITS or not number:
        raise BadValue(raw)
    try:
        value = float(number) * _BYTE_UNITS[unit]
    except (ValueError, OverflowError):
        raise BadValue(raw) from None
    if not math.isfinite(value) or value != int(value):
        raise BadValue(raw)
    return int(value)


def format_bytes(value: int) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)
