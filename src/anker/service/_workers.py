"""Pre-forked workers: a supervisor that forks N copies of a service, restarts a crashed one at
once (with backoff on a crash loop), forwards signals, is ready when every worker is, and
replaces the workers one at a time on SIGUSR2 (a rolling restart)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import secrets
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable

from anker.service._notify import notify

__all__ = ["Supervisor"]

log = logging.getLogger("anker.service")

#: a worker that dies sooner than this after it started counts as a crash loop
MIN_UPTIME = 1.0
#: the longest wait between restarts of a worker that keeps crashing
MAX_BACKOFF = 5.0
#: how long a rolling restart waits for a new worker to say it is ready
READY_TIMEOUT = 60.0
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_HANDLED = (*_FORWARDED, signal.SIGUSR2, signal.SIGCHLD)
_PR_SET_PDEATHSIG = 1


class _Slot:
    __slots__ = (
        "announced",
        "code",
        "crashes",
        "index",
        "pid",
        "ready",
        "restart_at",
        "retiring",
        "started",
        "successor",
        "successor_ready",
        "successor_started",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.pid = 0
        self.started = 0.0
        self.crashes = 0
        self.restart_at: float | None = None
        self.ready = False
        self.announced = False
        #: how its last process ended (a signal N as 128 + N)
        self.code = 0
        #: during a rolling restart: the new process, whether it said READY=1, since when
        self.successor = 0
        self.successor_ready = False
        self.successor_started = 0.0
        #: the current process was asked to drain, its successor ready to take its place
        self.retiring = False


class Supervisor:
    """Runs ``child()`` (which returns an exit code) in ``workers`` forked processes.

    - A worker that exits unasked is forked again at once and the exit status logged; one
      that keeps dying within a second of its start is restarted after 0.1 s, 0.2 s, ...
      (at most 5 s).
    - SIGTERM and SIGINT are forwarded to the workers (each drains) and the supervisor exits
      once they have, with the highest exit code among them; a second one is forwarded too
      (the workers then force their exit). SIGHUP is forwarded (each reloads).
    - The supervisor relays ``READY=1`` to systemd once every worker has sent it (the workers
      talk to the supervisor's own notify socket), and ``STOPPING=1`` at the first stop.
    - SIGUSR2 replaces the workers one at a time: a new worker is forked and, once it is
      ready, the old one drains; then the next. With the ports given to ``anker run
      --listen`` bound once and shared, no connection is refused meanwhile. A new worker
      that dies or is not ready within a minute ends the rollout and the old one carries
      on. New workers make their service anew: they read the configuration again,
      immutable options included.
    - A worker dies with the supervisor (``PR_SET_PDEATHSIG``).
    """

    def __init__(self, child: Callable[[], int], workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.child = child
        self.slots = [_Slot(index) for index in range(workers)]
        self.stopping = False
        self.all_ready = False
        self._reports: list[tuple[str, tuple[object, ...]]] = []
        self._notify: socket.socket | None = None
        self._notify_name = ""
        self._wake: tuple[int, int] | None = None
        #: the slots a rolling restart has yet to replace, in order (None: no rollout)
        self._rollout: list[_Slot] | None = None

    def run(self) -> int:
        """Fork the workers and supervise them until they have stopped; the exit code."""
        self._wake = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)
        previous = {signum: signal.signal(signum, _ignore) for signum in _HANDLED}
        old_wakeup = signal.set_wakeup_fd(self._wake[1], warn_on_full_buffer=False)
        self._notify_name = f"\0anker-supervisor-{os.getpid()}-{secrets.token_hex(4)}"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # senders' pids
        self._notify.bind(self._notify_name)
        self._notify.setblocking(False)
        try:
            log.info("supervisor (pid %d): starting %d workers", os.getpid(), len(self.slots))
            for slot in self.slots:
                self._spawn(slot)
            while any(slot.pid or slot.successor for slot in self.slots) or (
                not self.stopping and any(s.restart_at is not None for s in self.slots)
            ):
                self._wait()
            return max(slot.code for slot in self.slots)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._notify.close()
            for fd in self._wake:
                os.close(fd)

    # -- the loop ------------------------------------------------------------------------

    def _wait(self) -> None:
        assert self._wake is not None
        assert self._notify is not None
        now = time.monotonic()
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        due += [s.successor_started + READY_TIMEOUT for s in self.slots if s.successor]
        timeout = max(0.0, min(due) - now) if due else None
        wake, notified = self._wake[0], self._notify.fileno()
        readable, _, _ = select.select([wake, notified], [], [], timeout)
        if wake in readable:
            with contextlib.suppress(BlockingIOError):
                for signum in os.read(self._wake[0], 64):
                    self._on_signal(signum)
        if notified in readable:
            self._on_notify()
        self._reap()
        now = time.monotonic()
        for slot in self.slots:
            if slot.restart_at is not None and slot.restart_at <= now and not self.stopping:
                self._spawn(slot, quiet=True)
        self._roll()
        for message, args in self._reports:
            log.error(message, *args)
        self._reports.clear()
        for slot in self.slots:
            if slot.pid and not slot.announced:
                slot.announced = True
                log.info("supervisor: worker %d started (pid %d)", slot.index, slot.pid)

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            return  # reaped after every wake-up
        name = signal.Signals(signum).name
        if signum == signal.SIGUSR2:
            if self.stopping or self._rollout is not None:
                log.warning(
                    "supervisor: SIGUSR2 ignored: %s",
                    "stopping" if self.stopping else "a rolling restart is under way",
                )
                return
            log.info("supervisor: SIGUSR2 received: replacing the workers one at a time")
            self._rollout = list(self.slots)
            return
        if signum in (signal.SIGTERM, signal.SIGINT):
            if not self.stopping:
                log.info("supervisor: %s received: stopping the workers", name)
                notify("STOPPING=1")
            self.stopping = True
            self._rollout = None
            for slot in self.slots:
                slot.restart_at = None
        else:
            log.info("supervisor: %s received: forwarded to the workers", name)
        for slot in self.slots:
            for pid in (slot.pid, slot.successor):
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signum)

    def _on_notify(self) -> None:
        assert self._notify is not None
        while True:
            try:
                message, ancillary, _, _ = self._notify.recvmsg(4096, socket.CMSG_SPACE(12))
            except BlockingIOError:
                return
            pid = 0
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", data[:12])[0]
            if b"READY=1" not in message.split(b"\n"):
                continue
            successor = next((s for s in self.slots if s.successor and s.successor == pid), None)
            if successor is not None:
                successor.successor_ready = True
                continue
            slot = next((s for s in self.slots if s.pid and s.pid == pid), None)
            if slot is None:
                continue
            slot.ready = True
            if all(s.ready for s in self.slots) and not self.stopping and not self.all_ready:
                self.all_ready = True
                notify("READY=1")
                log.info("supervisor: all %d workers are ready", len(self.slots))

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            successor = next((s for s in self.slots if s.successor == pid), None)
            if successor is not None:
                self._successor_died(successor, code)
                continue
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is None:
                continue
            if slot.retiring:
                self._retired(slot, pid, code)
                continue
            slot.pid, slot.ready, self.all_ready = 0, False, False
            how = (
                f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
            )
            if self.stopping and -code in (signal.SIGTERM, signal.SIGINT):
                # the signal forwarded to it came before it could handle one (it was still
                # starting, a crash loop's replacement): nothing to drain, and no new failure;
                # the slot keeps the exit code of its last crash, if any
                log.info("supervisor: worker %d (pid %d) %s while starting", slot.index, pid, how)
                continue
            slot.code = code if code >= 0 else 128 - code
            if self.stopping:
                log.info("supervisor: worker %d (pid %d) %s", slot.index, pid, how)
                continue
            lived = time.monotonic() - slot.started
            slot.crashes = slot.crashes + 1 if lived < MIN_UPTIME else 0
            delay = 0.0 if slot.crashes <= 1 else min(MAX_BACKOFF, 0.1 * 2 ** (slot.crashes - 2))
            slot.restart_at = time.monotonic() + delay
            self._reports.append(  # logged once the replacement is forked: it comes first
                (
                    "supervisor: worker %d (pid %d) %s after %.1f s; restarting it%s",
                    (slot.index, pid, how, lived, f" in {delay:g} s (crash loop)" if delay else ""),
                )
            )

    # -- rolling restarts ----------------------------------------------------------------

    def _roll(self) -> None:
        """Move the rolling restart on: fork the next slot's successor, retire the old
        worker once the successor is ready, give up on one that is not ready in time."""
        if self._rollout is None or self.stopping:
            return
        if not self._rollout:
            self._rollout = None
            log.info("supervisor: rolling restart done: every worker was replaced")
            return
        slot = self._rollout[0]
        if slot.retiring:
            return  # waiting for the old worker to finish its drain
        if not slot.successor:
            if not slot.pid:  # crashed meanwhile: its restart is a new process already
                self._rollout.pop(0)
                return
            slot.successor = self._fork(slot.index)
            slot.successor_started, slot.successor_ready = time.monotonic(), False
            log.info("supervisor: worker %d: new process %d started", slot.index, slot.successor)
            return
        if slot.successor_ready:
            log.info(
                "supervisor: worker %d: pid %d is ready; pid %d drains",
                slot.index,
                slot.successor,
                slot.pid,
            )
            slot.retiring = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGTERM)
        elif time.monotonic() - slot.successor_started > READY_TIMEOUT:
            log.error(
                "supervisor: worker %d: new process %d not ready in %g s; rolling restart"
                " stopped, pid %d carries on",
                slot.index,
                slot.successor,
                READY_TIMEOUT,
                slot.pid,
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.successor, signal.SIGKILL)
            self._rollout = None  # the successor is reaped as an ordinary death of it

    def _successor_died(self, slot: _Slot, code: int) -> None:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        if slot.retiring:
            # the old worker is draining: the slot has no process of its own any more
            self._reports.append(
                ("supervisor: worker %d: new process %d %s", (slot.index, slot.successor, how))
            )
        elif not self.stopping:
            self._reports.append(
                (
                    "supervisor: worker %d: new process %d %s before it was ready; rolling"
                    " restart stopped, pid %d carries on",
                    (slot.index, slot.successor, how, slot.pid),
                )
            )
            self._rollout = None
        slot.successor, slot.successor_ready = 0, False

    def _retired(self, slot: _Slot, pid: int, code: int) -> None:
        """The old worker of ``slot`` ended its drain: its successor takes the slot."""
        slot.retiring = False
        log.info("supervisor: worker %d: pid %d drained and exited (%d)", slot.index, pid, code)
        slot.pid, slot.started = slot.successor, slot.successor_started
        slot.ready, slot.announced, slot.crashes = slot.successor_ready, True, 0
        slot.successor, slot.successor_ready = 0, False
        if not slot.pid and not self.stopping:
            slot.restart_at = time.monotonic()  # the successor died meanwhile: a new one
        if self._rollout and self._rollout[0] is slot:
            self._rollout.pop(0)

    def _spawn(self, slot: _Slot, *, quiet: bool = False) -> None:
        slot.restart_at = None
        pid = self._fork(slot.index)
        slot.pid, slot.started, slot.ready = pid, time.monotonic(), False
        slot.announced = quiet is False
        if not quiet:
            log.info("supervisor: worker %d started (pid %d)", slot.index, pid)

    def _fork(self, index: int) -> int:
        """A new worker process for slot ``index``; its pid."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 70  # EX_SOFTWARE, if the worker's own code never returns one
        try:
            self._become_worker(index)
            code = self.child()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _become_worker(self, index: int) -> None:
        assert self._wake is not None
        assert self._notify is not None
        signal.set_wakeup_fd(-1)
        for signum in _HANDLED:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in self._wake:
            os.close(fd)
        self._notify.close()
        os.environ["NOTIFY_SOCKET"] = "@" + self._notify_name[1:]
        # a process group of its own: Ctrl-C in a terminal reaches the supervisor only, which
        # forwards it once (twice would be a second signal: a forced exit)
        os.setpgid(0, 0)
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        if os.getppid() == 1:  # the supervisor died before prctl took effect
            os._exit(errno.ESRCH)


def _ignore(signum: int, frame: object) -> None:
    """A handler that does nothing: the wake-up fd carries the signal to the loop."""
