"""The errors anker raises.

Every error anker raises on purpose derives from one root, so a service can catch
``AnkerError`` at its edge. Subclasses are named by what the caller can do about them and carry
the facts needed to act (the URL, the driver group, the missing package)::

    AnkerError
     ├── InvalidURL               (also ValueError)   a backend URL that cannot be parsed
     ├── DriverNotFound           (also LookupError)  no driver is registered for a URL scheme
     ├── MissingDependency        (also ImportError)  a driver's client library is not installed
     └── BlockingCallInEventLoop  (also RuntimeError) a blocking wrapper called from async code

Subsystems add their own branches (``ConfigError``, ``MessagingTimeout``, ``LockLost``, ...)
under the same root.

.. versionadded:: 0.1
"""

from __future__ import annotations

__all__ = [
    "AnkerError",
    "BlockingCallInEventLoop",
    "DriverNotFound",
    "InvalidURL",
    "MissingDependency",
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
