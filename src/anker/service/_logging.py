"""Log lines for humans (text) and machines (JSON), with the request's ids and no secrets.

Everything goes through the stdlib's logging, so libraries' records get the same treatment:
:func:`configure_logging` puts one handler on the root logger whose formatter adds the ids
of the request being handled (the RPC call or notification's
:func:`~anker.messaging.current_context`, or what :func:`log_context` set) and masks
credentials (passwords in URLs, credential query options, and every secret value it was
given) in the whole line, traceback included.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import IO, Literal

from anker._secret import Secret
from anker._url import mask_secrets, mask_urls

__all__ = ["JSONFormatter", "TextFormatter", "configure_logging", "log_context"]

_NONE: Mapping[str, str] = MappingProxyType({})
_FIELDS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "anker.service.log_context", default=_NONE
)
#: the record attributes every log record has; anything else was passed in ``extra=``
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (``request_id=...``, ``project_id=...``) to every log line written in
    this block, in this task and the tasks and threads it starts (contextvars)::

        with log_context(request_id=request.headers["x-openstack-request-id"]):
            ...

    .. versionadded:: 0.1
    """
    merged = {**_FIELDS.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _FIELDS.set(merged)
    try:
        yield
    finally:
        _FIELDS.reset(token)


def _context_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    messaging = sys.modules.get("anker.messaging._context")  # read only if messaging is used
    context = messaging.current_context() if messaging is not None else None
    if context is not None:
        fields["request_id"] = context.request_id
        if context.global_request_id:
            fields["global_request_id"] = context.global_request_id
        if context.project_id:
            fields["project_id"] = context.project_id
        if context.user_id:
            fields["user_id"] = context.user_id
    fields.update(_FIELDS.get())
    return fields


class _Masking(logging.Formatter):
    def __init__(self, secrets: Iterable[Secret[str] | str] = ()) -> None:
        super().__init__()
        self.secrets: list[Secret[str] | str] = list(secrets)

    def mask(self, text: str) -> str:
        return mask_secrets(mask_urls(text), *self.secrets)


class TextFormatter(_Masking):
    """``2026-12-07 12:00:00.123 INFO anker.service [req-... project=...] message``, for
    people reading a terminal or a journal; credentials masked.

    .. versionadded:: 0.1
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = _context_fields()
        when = dt.datetime.fromtimestamp(record.created).isoformat(sep=" ", timespec="milliseconds")
        ids = ""
        if fields:
            shown = [fields.pop("request_id", "-")]
            shown += [f"{key.removesuffix('_id')}={value}" for key, value in fields.items()]
            ids = f" [{' '.join(shown)}]"
        line = f"{when} {record.levelname} {record.name}{ids} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        return self.mask(line)


class JSONFormatter(_Masking):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the request's ids, the record's ``extra=`` fields and ``exception``;
    credentials masked.

    .. versionadded:: 0.1
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": self.mask(record.getMessage()),
            "pid": record.process,
        }
        entry.update(_context_fields())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(entry, default=str))


def configure_logging(
    *,
    format: Literal["text", "json"] = "text",
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
    secrets: Iterable[Secret[str] | str] = (),
) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) as text or JSON, at ``level``.

    Replaces the handler a previous call installed (never others'); returns the handler.
    ``secrets`` are values masked wherever they appear, besides URL credentials.

    .. versionadded:: 0.1
    """
    if format not in ("text", "json"):
        raise ValueError(f"log format {format!r}: expected 'text' or 'json'")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_anker_service", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._anker_service = True  # type: ignore[attr-defined]
    handler.setFormatter(JSONFormatter(secrets) if format == "json" else TextFormatter(secrets))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
