"""The public namespace is small, sorted and shows public paths."""

from __future__ import annotations

import importlib
import inspect

import pytest

import anker
import anker.errors


def test_top_level_exports_are_sorted_and_exist() -> None:
    assert anker.__all__ == sorted(anker.__all__)
    for name in anker.__all__:
        assert hasattr(anker, name), name


def test_error_module_exports_every_error_and_only_errors() -> None:
    assert anker.errors.__all__ == sorted(anker.errors.__all__)
    for name in anker.errors.__all__:
        error = getattr(anker.errors, name)
        assert issubclass(error, anker.AnkerError), name
        assert error.__doc__, f"{name} needs a docstring"


def test_every_error_is_also_the_builtin_it_behaves_like() -> None:
    assert issubclass(anker.errors.InvalidURL, ValueError)
    assert issubclass(anker.errors.DriverNotFound, LookupError)
    assert issubclass(anker.errors.MissingDependency, ImportError)
    assert issubclass(anker.errors.BlockingCallInEventLoop, RuntimeError)


def test_secret_shows_its_public_path() -> None:
    assert anker.Secret.__module__ == "anker"
    assert anker.__version__


#: Every public namespace: user namespaces, the driver interfaces, and the public modules.
NAMESPACES = (
    "anker",
    "anker.errors",
    "anker.drivers",
    "anker.config",
    "anker.messaging",
    "anker.messaging.transports",
    "anker.coordination",
    "anker.coordination.backends",
    "anker.coordination.fencing",
    "anker.secrets",
    "anker.secrets.stores",
    "anker.secrets.envelope",
    "anker.db",
    "anker.health",
    "anker.limits",
    "anker.limits.stores",
    "anker.service",
    "anker.workflow",
    "anker.workflow.stores",
)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_export_is_importable_documented_and_shows_its_public_path(namespace: str) -> None:
    module = importlib.import_module(namespace)
    names = module.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))  # constants first
    assert len(set(names)) == len(names)
    for name in names:
        obj = getattr(module, name)  # importable
        if not (isinstance(obj, type) or inspect.isfunction(obj)):
            continue  # constants and type aliases
        assert obj.__doc__, f"{namespace}.{name} needs a docstring"
        home = obj.__module__
        assert "._" not in f"{home}.", f"{namespace}.{name} shows its private path {home}"
        assert getattr(importlib.import_module(home), name) is obj, f"{home}.{name}"


def test_user_namespaces_hold_no_driver_interface() -> None:
    import anker.coordination
    import anker.limits
    import anker.messaging
    import anker.secrets
    import anker.workflow

    for namespace, driver_names in (
        (anker.coordination, {"Backend", "Entry", "EntryExists", "EventWatch", "Watch"}),
        (anker.messaging, {"Incoming", "Subscription", "TransportSettings", "PendingCalls"}),
        (anker.secrets, {"Store", "StoreSettings"}),
        (anker.limits, {"Store", "StoreSettings"}),
        (anker.workflow, {"Store", "StoreSettings", "Change"}),
    ):
        assert not driver_names & set(namespace.__all__), namespace.__name__


def test_importing_a_driver_interface_imports_no_driver() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, anker.coordination.backends, anker.messaging.transports, "
        "anker.secrets.stores, anker.limits.stores, anker.workflow.stores; "
        "print(sorted(m for m in sys.modules if '.backends.' in m or '.transports.' in m "
        "or '.stores.' in m))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
