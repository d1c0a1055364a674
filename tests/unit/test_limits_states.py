"""The limits state machine (tests/limits_machine.py) against the embedded store."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

from limits_machine import SETTINGS, ClaimsMachine


class SQLiteClaims(ClaimsMachine):
    @contextlib.contextmanager
    def store(self) -> Iterator[str]:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite://{directory}/limits.db"


SQLiteClaims.TestCase.settings = SETTINGS
test_claims_against_a_model_on_sqlite = SQLiteClaims.TestCase
