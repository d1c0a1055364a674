"""The etcd:// backend's watches: one ``/v3/watch`` stream per watch, reopened when it breaks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote

from anker._drivers import Backoff
from anker.coordination._backend import EventWatch
from anker.coordination.backends._etcd_gateway import (
    UNAUTHENTICATED,
    EtcdError,
    Json,
    _answer,
    _b64,
    _range_end,
    _unb64,
)

if TYPE_CHECKING:
    from anker.coordination.backends.etcd import EtcdBackend

__all__ = ["MAX_RETRY", "RETRY", "_EtcdWatch"]

log = logging.getLogger("anker.coordination")

#: a broken watch stream is reconnected after this delay, doubling up to MAX_RETRY
RETRY, MAX_RETRY = 0.05, 1.0


class _EtcdWatch(EventWatch):
    """One watch stream over a prefix, kept open (and reopened) by ``run``; without
    ``additions``, etcd leaves puts out of the stream (its NOPUT filter)."""

    def __init__(self, backend: EtcdBackend, prefix: bytes, *, additions: bool = True) -> None:
        self.backend = backend
        self.prefix = prefix
        self.additions = additions
        #: resolved once etcd confirmed the watch (or with the error that prevented it)
        self.created: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        super().__init__()
        #: the revision up to which every change was seen (0: none yet)
        self._revision = 0
        self._backoff = Backoff(first=RETRY, cap=MAX_RETRY)
        self._reauthenticated = False

    async def run(self) -> None:
        """Keep the stream open until cancelled; failing to open it the first time is final."""
        while True:
            token = self.backend._token
            try:
                await self._stream()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if (
                    isinstance(exc, EtcdError)
                    and exc.code == UNAUTHENTICATED
                    and not self._reauthenticated
                    and self.backend.url.password is not None
                ):
                    self._reauthenticated = True  # once per opening: the token had expired
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(self.backend.timeout):
                            await self.backend._authenticate(token)
                    continue
                if not self.created.done():
                    self.created.set_exception(exc)
                    return
                log.debug("etcd watch on %r broke (%r); reopening it", self.prefix, exc)
            await self._backoff.sleep()

    async def _stream(self) -> None:
        create: Json = {"key": _b64(self.prefix), "range_end": _b64(_range_end(self.prefix))}
        if self._revision:
            create["start_revision"] = self._revision + 1
        if not self.additions:
            create["filters"] = ["NOPUT"]
        async with asyncio.timeout(self.backend.timeout):
            response = await self.backend._send("/watch", {"create_request": create}, stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                _answer(response)  # raises the error it reports
            opened = False
            async with asyncio.timeout(self.backend.timeout) as opening:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    self._handle(line, opening=not opened)
                    if not opened:
                        opened = True
                        opening.reschedule(None)  # from now on the stream may be silent
                        self._backoff.reset()
                        self._reauthenticated = False
                        if self.created.done():
                            self.changed.set()  # reopened: look again at what happened since
                        else:
                            self.created.set_result(None)
            raise EtcdError(0, "etcd ended the watch stream")
        finally:
            await response.aclose()

    def _tell(self, event: Json) -> None:
        """Wake the waiter, saying what changed where the event says it exactly."""
        kv = event["kv"]
        name = _unb64(kv["key"])[len(self.prefix) :]
        if b"/" in name:  # not an entry of this namespace: let the waiter read again
            self.changed.set()
        elif event.get("type") == "DELETE":  # deleted, or its lease ran out
            self.removed_entry(unquote(name.decode(errors="replace")))
        elif kv.get("create_revision") == kv.get("mod_revision"):  # PUT (the default) of a new key
            self.added()
        else:
            self.changed.set()

    def _handle(self, line: str, *, opening: bool) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            raise EtcdError(0, "the watch stream sent something that is not JSON") from None
        if "error" in message:
            raise EtcdError.of(message, 200)
        result: Json = message.get("result", {})
        if result.get("canceled"):
            reason = str(result.get("cancel_reason") or "etcd canceled the watch")
            if int(result.get("compact_revision", 0)):
                # the history since _revision is gone: start from now (and wake the waiter)
                self._revision = 0
                reason = "the history to resume the watch from was compacted"
            code = UNAUTHENTICATED if "Unauthenticated" in reason else 0
            raise EtcdError(code, reason)
        if opening != bool(result.get("created")):
            raise EtcdError(0, "unexpected message on the watch stream")
        events = result.get("events")
        if events:
            self._revision = max(int(event["kv"]["mod_revision"]) for event in events)
            for event in events:
                self._tell(event)
        elif not (opening and self._revision):
            # created from now, or a progress report: every change up to it was seen
            self._revision = max(self._revision, int(result["header"]["revision"]))
