"""The limits state machine (tests/limits_machine.py) against PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from limits_machine import SETTINGS, ClaimsMachine
from limits_support import fresh_postgres, fresh_redis
from servers import require_server

pytestmark = pytest.mark.integration


class PostgresClaims(ClaimsMachine):
    @contextlib.contextmanager
    def store(self) -> Iterator[str]:
        yield from fresh_postgres(require_server("postgresql"))


class RedisClaims(ClaimsMachine):
    in_order = False  # one script per claim, over several connections

    @contextlib.contextmanager
    def store(self) -> Iterator[str]:
        yield from fresh_redis(require_server("redis"), f"s{uuid.uuid4().hex[:12]}:")


PostgresClaims.TestCase.settings = SETTINGS
RedisClaims.TestCase.settings = SETTINGS
test_claims_against_a_model_on_postgresql = PostgresClaims.TestCase
test_claims_against_a_model_on_redis = RedisClaims.TestCase
