"""Every secret store, for the conformance suite.

Each test that takes ``manager`` runs once per store (ids: local, barbican): ``local://`` in a
fresh directory (server-free, so it runs in `make unit`), Barbican in a project of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anker.secrets import KeyManager
from anker.secrets._master import generate_master_key_file
from servers import require_server

#: every store; barbican is an integration test, local runs in `make unit`
STORES = ("local", pytest.param("barbican", marks=pytest.mark.integration))


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty store of one kind (the test runs once for each)."""
    if request.param == "local":
        key = tmp_path / "master.key"
        generate_master_key_file(str(key))
        return f"local://{tmp_path}/store?master_key_file={key}"
    return f"{require_server('barbican')}?project={uuid.uuid4().hex}"


@pytest.fixture
async def manager(store_url: str) -> AsyncIterator[KeyManager]:
    async with await KeyManager.initialize(store_url) as km:
        yield km
