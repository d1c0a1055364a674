"""Drivers are found through real entry points, by URL scheme, with helpful errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from anker._drivers import available_drivers, load_driver, require
from anker._url import BackendURL
from anker.errors import DriverNotFound, InvalidURL, MissingDependency

GROUP = "anker.test.drivers"


class Backend:
    """The base class the dummy drivers must derive from."""


@pytest.fixture
def installed_dummy_drivers(tmp_path: Path) -> Iterator[None]:
    """Install a dummy distribution that registers drivers, the way a real package would."""
    module = f"anker_dummy_driver_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            from {__name__} import Backend

            class DummyBackend(Backend):
                pass

            class NotABackend:
                pass
            """
        )
    )
    (tmp_path / f"{module}_needs_client.py").write_text("import anker_no_such_client_lib\n")
    dist_info = tmp_path / "anker_dummy_driver-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: anker-dummy-driver\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""
            [{GROUP}]
            dummy = {module}:DummyBackend
            wrong = {module}:NotABackend
            needsclient = {module}_needs_client:Thing [dummyextra]
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith(module)]:
            del sys.modules[name]


@pytest.mark.usefixtures("installed_dummy_drivers")
def test_the_scheme_selects_the_registered_driver() -> None:
    assert {"dummy", "wrong", "needsclient"} <= set(available_drivers(GROUP))
    driver, url = load_driver(GROUP, "dummy://h1:1,h2:2/x?opt=1", Backend)
    assert driver.__name__ == "DummyBackend"
    assert issubclass(driver, Backend)
    assert isinstance(url, BackendURL)
    assert [e.host for e in url.endpoints] == ["h1", "h2"]
    assert url.param("opt") == "1"


@pytest.mark.usefixtures("installed_dummy_drivers")
def test_an_unknown_scheme_lists_the_known_ones_and_suggests_one() -> None:
    with pytest.raises(DriverNotFound) as caught:
        load_driver(GROUP, "dumy://h", Backend)
    error = caught.value
    assert error.scheme == "dumy"
    assert error.suggestion == "dummy"
    assert "dummy" in error.available
    assert "did you mean 'dummy://'?" in str(error)


@pytest.mark.usefixtures("installed_dummy_drivers")
def test_a_missing_client_library_names_the_extra_to_install() -> None:
    with pytest.raises(MissingDependency) as caught:
        load_driver(GROUP, "needsclient://h", Backend)
    assert caught.value.package == "anker_no_such_client_lib"
    assert caught.value.extra == "dummyextra"
    assert "pip install 'anker[dummyextra]'" in str(caught.value)


@pytest.mark.usefixtures("installed_dummy_drivers")
def test_an_entry_point_that_is_not_a_driver_is_refused() -> None:
    with pytest.raises(TypeError, match="is not a Backend"):
        load_driver(GROUP, "wrong://h", Backend)


def test_an_empty_group_says_none_are_registered() -> None:
    with pytest.raises(DriverNotFound, match=r"registered: none"):
        load_driver("anker.test.no-such-group", "x://h", Backend)


def test_a_bad_url_is_reported_before_any_lookup() -> None:
    with pytest.raises(InvalidURL):
        load_driver(GROUP, "not a url", Backend)


def test_require_imports_an_installed_library() -> None:
    assert require("json", extra="none", needed_for="a test").dumps([1]) == "[1]"


def test_require_names_the_extra_for_a_missing_library() -> None:
    with pytest.raises(MissingDependency) as caught:
        require("anker_missing_lib.sub", extra="redis", needed_for="the redis:// driver")
    assert str(caught.value) == (
        "the redis:// driver needs the 'anker_missing_lib' package; "
        "install it with: pip install 'anker[redis]'"
    )


def test_require_does_not_blame_the_extra_for_a_broken_library(tmp_path: Path) -> None:
    (tmp_path / "anker_broken_lib.py").write_text("import anker_its_own_missing_dependency\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError) as caught:
            require("anker_broken_lib", extra="x", needed_for="a test")
        assert not isinstance(caught.value, MissingDependency)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("anker_broken_lib", None)
