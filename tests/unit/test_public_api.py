"""The public namespace is small, sorted and shows public paths."""

from __future__ import annotations

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
