"""A Secret never shows its value by accident."""

from __future__ import annotations

import logging

import pytest

from anker import Secret


def test_repr_str_and_format_mask_the_value() -> None:
    secret = Secret("hunter2")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret:>10}", f"{secret}"]
    shown += ["%s" % (secret,), f"{[secret]}"]  # noqa: UP031 (the %-formatting that logging uses)
    assert all("hunter2" not in text for text in shown), shown
    assert str(secret) == "****"
    assert repr(secret) == "Secret('****')"


def test_reveal_gives_the_value_back() -> None:
    assert Secret(b"\x00key").reveal() == b"\x00key"


def test_logging_a_secret_masks_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("anker.test").info(
            "connecting with %s / %r", Secret("pw1"), Secret("pw2")
        )
    assert "pw1" not in caplog.text
    assert "pw2" not in caplog.text
    assert "****" in caplog.text


def test_equality_and_hash_follow_the_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret(b"a") == Secret(b"a")
    assert Secret(1) == Secret(1)
    assert Secret("a") != "a", "a secret is not equal to its bare value"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert not Secret("")
    assert Secret("x")


def test_secret_has_no_instance_dict_to_leak_through_vars() -> None:
    with pytest.raises(TypeError):
        vars(Secret("x"))
