"""The driver kit: typed settings, open_driver, the error boundary, Backoff and the Portal."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from anker import Secret
from anker._drivers import (
    Backoff,
    Driver,
    DriverSettings,
    Seconds,
    boundary,
    open_driver,
    option_names,
    parse_settings,
    setting,
)
from anker._runtime import Portal
from anker._url import mask_secrets, parse_url
from anker.errors import (
    AnkerError,
    BlockingCallInEventLoop,
    CapabilityMissing,
    InvalidOption,
    Unavailable,
)

GROUP = "anker.test.kit"
WHERE = "the 'kit://' test driver"


@dataclass(frozen=True)
class KitSettings(DriverSettings):
    timeout: Seconds = setting(Seconds(5.0), help="seconds per call", min=0.001)
    durable: bool = False
    prefetch: int = setting(64, min=1)
    mode: Literal["fast", "safe"] = "safe"
    token: Secret[str] | None = None
    limit: Seconds | None = None


class KitUnavailable(Unavailable):
    """The test driver's outage."""

    what = "test backend"


class KitDriver(Driver):
    """A driver whose connect does what the URL's path says."""

    settings_class = KitSettings
    capabilities: ClassVar[frozenset[str]] = frozenset({"watch"})
    kind = "test driver"
    unavailable = KitUnavailable
    closed: ClassVar[list[str]] = []

    @property
    def connect_timeout(self) -> float:
        assert isinstance(self.settings, KitSettings)
        return self.settings.timeout

    async def connect(self) -> None:
        if self.url.path == "/refuse":
            raise ConnectionRefusedError(f"refused, password {self.url.password}")
        if self.url.path == "/leak":
            password = self.url.password.reveal() if self.url.password else ""
            raise OSError(f"login failed for secret {password}")
        if self.url.path == "/hang":
            await asyncio.sleep(3600)

    async def aclose(self) -> None:
        KitDriver.closed.append(self.url.path)


@pytest.fixture
def kit_installed(tmp_path: Path) -> Iterator[None]:
    """Register KitDriver under kit:// through a real entry point, as a package would."""
    dist_info = tmp_path / "anker_kit_test-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: anker-kit-test\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(f"[{GROUP}]\nkit = {__name__}:KitDriver\n")
    )
    sys.path.insert(0, str(tmp_path))
    KitDriver.closed.clear()
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))


def parse(url: str, **overrides: object) -> KitSettings:
    return parse_settings(KitSettings, parse_url(url), overrides, where=WHERE)


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("written", ["5s", "5", "5.0", "5000ms"])
def test_a_duration_means_the_same_written_any_way(written: str) -> None:
    assert parse(f"kit://h?timeout={written}").timeout == 5.0
    assert parse("kit://h", timeout=5.0).timeout == 5.0
    assert parse("kit://h", timeout=written).timeout == 5.0


def test_settings_are_typed_and_default() -> None:
    settings = parse("kit://h?durable=yes&prefetch=10&mode=fast")
    assert settings == KitSettings(
        timeout=Seconds(5.0), durable=True, prefetch=10, mode="fast", token=None
    )
    assert isinstance(settings.timeout, float)
    assert parse("kit://h", durable=True).durable is True
    assert parse("kit://h?limit=1m").limit == 60.0
    assert parse("kit://h").limit is None
    assert option_names(KitSettings) == {"timeout", "durable", "prefetch", "mode", "token", "limit"}


def test_an_unknown_option_names_the_driver_and_the_nearest_known_one() -> None:
    with pytest.raises(InvalidOption) as caught:
        parse("kit://h?timout=5")
    error = caught.value
    assert (error.option, error.where, error.suggestion) == ("timout", WHERE, "timeout")
    assert "did you mean 'timeout'?" in str(error)
    assert "known: durable, limit, mode, prefetch, timeout, token" in str(error)
    assert isinstance(error, ValueError)
    with pytest.raises(InvalidOption, match="'bogus'"):
        parse("kit://h", bogus=1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("timeout=soon", "a duration"),
        ("timeout=-1", "a duration"),
        ("timeout=0", "at least"),
        ("timeout=inf", "a duration"),
        ("durable=maybe", "a boolean"),
        ("prefetch=0", "at least 1"),
        ("prefetch=many", "an integer"),
        ("mode=quick", "one of 'fast', 'safe'"),
    ],
)
def test_a_bad_value_says_what_was_expected(query: str, expected: str) -> None:
    name = query.partition("=")[0]
    with pytest.raises(InvalidOption, match=expected) as caught:
        parse(f"kit://h?{query}")
    assert caught.value.option == name


def test_a_secret_option_is_held_as_a_secret_and_never_shown() -> None:
    settings = parse("kit://h?token=S3CRET")
    assert settings.token == Secret("S3CRET")
    assert "S3CRET" not in repr(settings)
    with pytest.raises(InvalidOption) as caught:
        parse("kit://h?token=S3CRET", token="OTHER")
    assert "S3CRET" not in str(caught.value)
    assert "OTHER" not in str(caught.value)


def test_an_option_given_twice_must_agree() -> None:
    assert parse("kit://h?timeout=5", timeout=5.0).timeout == 5.0
    with pytest.raises(InvalidOption, match="given twice"):
        parse("kit://h?timeout=5", timeout=6)
    with pytest.raises(InvalidOption, match="more than once in the URL"):
        parse("kit://h?timeout=5&timeout=6")
    assert parse("kit://h?timeout=5&timeout=5s").timeout == 5.0


def test_settings_types_must_be_ones_an_option_can_have() -> None:
    @dataclass(frozen=True)
    class Bad(DriverSettings):
        thing: object = None

    with pytest.raises(TypeError, match=r"Bad.thing: object cannot be the type"):
        parse_settings(Bad, None, {}, where=WHERE)


# ------------------------------------------------------------------ open_driver
async def test_open_driver_parses_constructs_and_connects(kit_installed: None) -> None:
    driver = await open_driver(GROUP, "kit://h/ok?durable=1", KitDriver, require=["watch"])
    async with driver:
        assert isinstance(driver, KitDriver)
        assert isinstance(driver.settings, KitSettings)
        assert driver.settings.durable is True
    assert KitDriver.closed == ["/ok"]


async def test_a_missing_capability_is_refused_before_any_io(kit_installed: None) -> None:
    with pytest.raises(CapabilityMissing) as caught:
        await open_driver(GROUP, "kit://h/ok", KitDriver, require=["watch", "time-travel"])
    assert caught.value.capability == "time-travel"
    assert "the 'kit://' test driver cannot do 'time-travel'" in str(caught.value)
    assert KitDriver.closed == []  # never constructed, so nothing to close


async def test_a_failed_connect_is_mapped_from_the_original_and_closed(
    kit_installed: None,
) -> None:
    with pytest.raises(KitUnavailable) as caught:
        await open_driver(GROUP, "kit://u:pw-XYZ@h/leak", KitDriver)
    error = caught.value
    assert isinstance(error, Unavailable)
    assert isinstance(error.__cause__, OSError)
    assert error.operation == "connect"
    assert "pw-XYZ" not in str(error)
    assert str(error) == (
        "test backend kit://u:****@h/leak: connect failed: OSError: login failed for secret ****"
    )
    assert KitDriver.closed == ["/leak"]


async def test_connect_is_bounded_by_its_timeout(kit_installed: None) -> None:
    started = time.monotonic()
    with pytest.raises(KitUnavailable, match=r"no answer within 0.2 s"):
        await open_driver(GROUP, "kit://h/hang?timeout=200ms", KitDriver)
    assert time.monotonic() - started < 5  # bounded, not the hour the driver would wait
    assert KitDriver.closed == ["/hang"]


async def test_a_cancelled_connect_closes_the_driver(kit_installed: None) -> None:
    task = asyncio.create_task(open_driver(GROUP, "kit://h/hang", KitDriver))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert KitDriver.closed == ["/hang"]


async def test_the_boundary_lets_ankers_own_errors_through() -> None:
    url = parse_url("kit://h")
    with pytest.raises(InvalidOption):
        async with boundary(KitUnavailable, url, "put"):
            raise InvalidOption("x", WHERE, "bad")
    with pytest.raises(KitUnavailable, match="put failed: KeyError: 'k'") as caught:
        async with boundary(KitUnavailable, url, "put"):
            raise KeyError("k")
    assert isinstance(caught.value.__cause__, KeyError)


# ------------------------------------------------------------------ masking
def test_every_credential_of_a_url_is_masked() -> None:
    url = parse_url("barbican://admin:pw1@kms:9311?token=S3CRET&project=p1&sentinel_password=pw2")
    shown = f"{url} {url!r}"
    for secret in ("pw1", "S3CRET", "pw2"):
        assert secret not in shown
    assert "project=p1" in shown
    assert parse_url("redis://h?key_prefix=abc").render() == "redis://h?key_prefix=abc"
    text = "auth with pw1 and S3CRET (url-encoded: S3CRET) failed; pw2"
    assert mask_secrets(text, url) == "auth with **** and **** (url-encoded: ****) failed; ****"
    assert mask_secrets("a p%40ss b", parse_url("x://u:p%40ss@h")) == "a **** b"


# ------------------------------------------------------------------ Backoff
def test_backoff_grows_with_full_jitter_up_to_its_cap() -> None:
    backoff = Backoff(first=0.1, cap=1.0)
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert delays[0] <= 0.1
    assert max(delays[10:]) > 0.5  # reaches towards the cap
    assert len(set(delays)) > 150  # jittered, not a fixed schedule
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() <= 0.1
    assert not backoff.expired


def test_backoff_stops_at_its_deadline_and_never_sleeps_past_it() -> None:
    backoff = Backoff(first=5.0, cap=5.0, deadline=0.05)
    assert backoff.next_delay() <= 0.05
    time.sleep(0.06)
    assert backoff.expired
    assert backoff.next_delay() == 0.0
    with pytest.raises(ValueError, match="0 < first <= cap"):
        Backoff(first=0, cap=1)


# ------------------------------------------------------------------ Portal
def test_a_portal_runs_on_its_loop_times_out_and_cancels() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        portal = Portal(loop)

        async def where() -> asyncio.AbstractEventLoop:
            return asyncio.get_running_loop()

        assert portal.run(where()) is loop
        cancelled = threading.Event()

        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        with pytest.raises(TimeoutError, match=r"did not finish within 0\.05 s"):
            portal.run(forever(), timeout=0.05)
        assert cancelled.wait(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    with pytest.raises(RuntimeError, match="is not running"):
        Portal(loop).run(asyncio.sleep(0))


async def test_a_portal_refuses_to_block_an_event_loop() -> None:
    with pytest.raises(BlockingCallInEventLoop):
        Portal.of_running_loop().run(asyncio.sleep(0))


# ------------------------------------------------------------------ the error tree
def test_every_subsystems_outage_is_an_unavailable() -> None:
    from anker.coordination import BackendUnavailable
    from anker.messaging import TransportUnavailable

    for error in (BackendUnavailable, TransportUnavailable):
        assert issubclass(error, Unavailable)
        assert issubclass(error, AnkerError)
        made = error("x://h", "connect", "refused")
        assert (made.url, made.operation, made.reason) == ("x://h", "connect", "refused")


async def test_backoff_sleep_stops_at_the_deadline() -> None:
    backoff = Backoff(first=0.01, cap=0.02, deadline=0.1)
    slept = 0
    while await backoff.sleep():
        slept += 1
    assert slept >= 3
    assert backoff.expired


def test_urls_in_free_text_are_masked() -> None:
    from anker._url import mask_urls

    text = "cannot reach http://admin:pw9@tang:80/adv and barbican://kms?project=p&auth_token=T0K"
    assert mask_urls(text) == (
        "cannot reach http://admin:****@tang:80/adv and barbican://kms?project=p&auth_token=****"
    )
    assert mask_urls("rabbit://u1:p1@h1,u2:p2@h2/") == "rabbit://u1:****@h1,u2:****@h2/"


def _every_driver() -> list[tuple[str, str]]:
    from anker._drivers import GROUPS, available_drivers

    return [
        (group, scheme)
        for group in (GROUPS["coordination"], GROUPS["messaging"], GROUPS["secrets"])
        for scheme in sorted(available_drivers(group))
    ]


@pytest.mark.parametrize(("group", "scheme"), _every_driver())
def test_every_registered_driver_refuses_an_unknown_option_naming_the_nearest(
    group: str, scheme: str
) -> None:
    from anker._drivers import load_driver, prepare_driver

    driver, _ = load_driver(group, f"{scheme}://h", Driver)
    known = sorted(option_names(driver.settings_class))
    assert known, f"{scheme}:// declares no options"
    for option in known:
        typo = option[:-1] + ("x" if option[-1] != "x" else "y")  # one letter off
        with pytest.raises(InvalidOption) as caught:
            prepare_driver(group, f"{scheme}://h/x?{typo}=1", Driver)
        assert caught.value.option == typo
        assert caught.value.suggestion == option, (scheme, typo)
        assert caught.value.where == f"the '{scheme}://' {driver.kind}"
