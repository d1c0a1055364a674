"""The errors anker raises.

Every error anker raises on purpose derives from one root, so a service can catch
``AnkerError`` at its edge. Subclasses are named by what the caller can do about them and carry
the facts needed to act (the URL, the driver group, the missing package)::

    AnkerError
     ├── InvalidURL               (also ValueError)   a backend URL that cannot be parsed
     ├── InvalidOption            (also ValueError)   an unknown option, or a bad value for one
     ├── DriverNotFound           (also LookupError)  no driver is registered for a URL scheme
     ├── MissingDependency        (also ImportError)  a driver's client library is not installed
     ├── CapabilityMissing        (also LookupError)  a driver cannot do what the caller needs
     ├── BlockingCallInEventLoop  (also RuntimeError) a blocking wrapper called from async code
     └── Unavailable                                  a backend cannot be reached or used now
          ├── anker.coordination.BackendUnavailable
          ├── anker.messaging.TransportUnavailable
          └── anker.secrets.StoreUnavailable

Subsystems add their own branches (``ConfigError``, ``MessagingError``, ``CoordinationError``,
``SecretsError``) under the same root; each subsystem's ``*Unavailable`` is also an
:class:`Unavailable`, so one ``except Unavailable`` (what a readiness check needs) catches an
outage of any backend.

.. versionadded:: 0.1
"""

from __future__ import annotations

__all__ = [
    "AnkerError",
    "BlockingCallInEventLoop",
    "CapabilityMissing",
    "DriverNotFound",
    "InvalidOption",
    "InvalidURL",
    "MissingDependency",
    "Unavailable",
]


class AnkerError(Exception):
    """The root of every error anker raises on purpose."""


class InvalidURL(AnkerError, ValueError):
    """A backend URL could not be parsed.

    ``url`` is the offending URL with any password masked, so the error is safe to log.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"invalid URL {url!r}: {reason}")


class DriverNotFound(AnkerError, LookupError):
    """No driver is registered for a URL scheme in a driver group."""

    def __init__(
        self, group: str, scheme: str, available: tuple[str, ...], suggestion: str | None
    ) -> None:
        self.group = group
        self.scheme = scheme
        self.available = available
        self.suggestion = suggestion
        known = ", ".join(f"{name}://" for name in available) or "none"
        hint = f"; did you mean '{suggestion}://'?" if suggestion else ""
        super().__init__(
            f"no {group} driver for '{scheme}://' (registered: {known}){hint}",
        )


class MissingDependency(AnkerError, ImportError):
    """A driver needs a client library that is not installed.

    The message names the ``pip install`` command that fixes it.
    """

    def __init__(self, package: str, extra: str | None, needed_for: str) -> None:
        self.package = package
        self.extra = extra
        self.needed_for = needed_for
        fix = f"pip install 'anker[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{needed_for} needs the '{package}' package; install it with: {fix}")


class BlockingCallInEventLoop(AnkerError, RuntimeError):
    """A blocking wrapper was called from a thread that runs an event loop.

    Waiting there would stall (or deadlock) that loop; the async API is the one to use.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"{what} blocks and was called from a running event loop; "
            "await the async API instead (or call it from a worker thread)",
        )


class InvalidOption(AnkerError, ValueError):
    """An option that is not known where it was given, or whose value does not fit.

    ``option`` is the option's name, ``where`` what it was given to (``the 'redis://'
    coordination backend``), ``reason`` what is wrong, and ``suggestion`` the nearest known
    name for an unknown one. Values of secret options never appear in the message.
    """

    def __init__(
        self, option: str, where: str, reason: str, *, suggestion: str | None = None
    ) -> None:
        self.option = option
        self.where = where
        self.reason = reason
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(f"option {option!r} of {where}: {reason}{hint}")


class CapabilityMissing(AnkerError, LookupError):
    """A driver does not declare a capability the caller asked for when opening it."""

    def __init__(self, where: str, capability: str, available: frozenset[str]) -> None:
        self.where = where
        self.capability = capability
        self.available = available
        has = ", ".join(sorted(available)) or "none"
        super().__init__(f"{where} cannot do {capability!r} (its capabilities: {has})")


class Unavailable(AnkerError):
    """A backend (broker, coordination service, secret store, database) did not answer, or
    refused, within its timeout.

    ``url`` is the backend's URL with credentials masked, ``operation`` what was being done
    (``connect``, ``put``, ``send``), ``reason`` what went wrong. The original client error,
    if any, is the ``__cause__``. Each subsystem raises its own subclass; catch this one to
    handle an outage of any backend.
    """

    #: how the backend is named in the message
    what = "backend"

    def __init__(self, url: str, operation: str, reason: str) -> None:
        self.url = url
        self.operation = operation
        self.reason = reason
        super().__init__(f"{self.what} {url}: {operation} failed: {reason}")
