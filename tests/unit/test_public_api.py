"""The public namespace is small, sorted and shows public paths."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import anker
import anker.errors
from anker._exports import PUBLIC_NAMESPACES


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


NAMESPACES = PUBLIC_NAMESPACES


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


def test_the_list_of_public_namespaces_is_complete() -> None:
    """Every package or module without a private part in its path is a public namespace,
    except the drivers (loaded by entry point, documented by their subsystem's page), their
    migrations, and the ``anker`` command (docs/cli.md)."""
    root = Path(anker.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts) or parts[:2] == ("anker", "cli"):
            continue
        if {"backends", "transports", "stores"} & set(parts[:-1]) or "migrations" in parts:
            continue  # a driver module (anker.coordination.backends.redis) or a migration
        found.add(".".join(parts))
    assert found == set(PUBLIC_NAMESPACES)


def _members(cls: type) -> list[tuple[str, object]]:
    """The public methods and properties a class defines itself."""
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            found.append((name, value))
        elif inspect.isfunction(getattr(value, "__func__", value)):
            found.append((name, getattr(cls, name)))
    return found


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_public_method_and_property_is_documented(namespace: str) -> None:
    # the API reference is generated from these docstrings (make docs); a method that
    # implements a documented one of its base (Component.start) shares its docstring
    module = importlib.import_module(namespace)
    missing = [
        f"{namespace}.{name}.{member}"
        for name in module.__all__
        if isinstance(getattr(module, name), type)
        for member, value in _members(getattr(module, name))
        if not inspect.getdoc(value)
    ]
    assert missing == []


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
