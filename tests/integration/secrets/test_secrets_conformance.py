"""What every secret store promises, through the key manager, on every store.

Each test runs on ``local://`` (in `make unit`) and on the real Barbican server (see
secrets_support.py), so a third store is held to the same contract by adding it there.
"""

from __future__ import annotations

import uuid

import pytest

from anker.errors import InvalidOption
from anker.secrets import (
    Consumer,
    KeyManager,
    Secret,
    SecretInUse,
    SecretNotFound,
    SecretsError,
)

# Server-free stores run in `make unit`; the others are marked `integration` by their fixture.


async def test_an_object_comes_back_as_it_was_stored(manager: KeyManager) -> None:
    object_id = await manager.store(
        "passphrase", "s3cret", name="db-password", metadata={"owner": "nova"}
    )
    found = await manager.get(object_id)
    assert (found.kind, found.name, found.metadata) == (
        "passphrase",
        "db-password",
        {"owner": "nova"},
    )
    assert found.value == Secret(b"s3cret")
    assert "s3cret" not in repr(found)
    assert (await manager.find("db-password")).id == object_id
    assert (await manager.get(object_id, metadata_only=True)).value is None


async def test_versions_add_up_and_old_ones_stay_readable(manager: KeyManager) -> None:
    key_id = await manager.create_key(name="volumes")
    first = (await manager.get(key_id)).reveal()
    assert await manager.rotate(key_id) == 2
    newest = await manager.get(key_id)
    assert newest.versions == (1, 2)
    assert newest.reveal() != first
    assert (await manager.get(key_id, version=1)).reveal() == first
    assert newest.name == "volumes"  # a rotation keeps the name: it adds a version
    with pytest.raises(SecretNotFound):
        await manager.get(key_id, version=3)


async def test_listing_filters_and_never_returns_values(manager: KeyManager) -> None:
    key_id = await manager.create_key(name="k")
    password_id = await manager.store("passphrase", "p", name="p")
    listed = {o.id: o for o in await manager.list()}
    assert set(listed) == {key_id, password_id}
    assert all(o.value is None for o in listed.values())
    assert [o.id for o in await manager.list(kind="passphrase")] == [password_id]
    assert [o.id for o in await manager.list(name="k")] == [key_id]


async def test_names_are_unique(manager: KeyManager) -> None:
    await manager.store("passphrase", "one", name="shared")
    with pytest.raises(SecretsError, match="shared"):
        await manager.store("passphrase", "two", name="shared")
    assert (await manager.find("shared")).text() == "one"


async def test_consumers_guard_deletion(manager: KeyManager) -> None:
    key_id = await manager.create_key()
    volume = Consumer("cinder", "volume", uuid.uuid4().hex)
    await manager.add_consumer(key_id, volume)
    await manager.add_consumer(key_id, volume)  # idempotent
    assert (await manager.get(key_id)).consumers == (volume,)
    with pytest.raises(SecretInUse):
        await manager.delete(key_id)
    await manager.remove_consumer(key_id, volume)
    await manager.delete(key_id)
    with pytest.raises(SecretNotFound):
        await manager.get(key_id)


async def test_an_unknown_id_or_name_is_not_found(manager: KeyManager) -> None:
    with pytest.raises(SecretNotFound):
        await manager.get(str(uuid.uuid4()))
    with pytest.raises(SecretNotFound):
        await manager.find("no-such-secret")


async def test_values_over_the_limit_are_refused_before_anything_is_stored(
    store_url: str, manager: KeyManager
) -> None:
    async with await KeyManager.open(f"{store_url}&max_value_bytes=64") as small:
        assert small.driver.max_value_bytes == 64
        await small.store("opaque", bytes(64))
        with pytest.raises(SecretsError, match="limit of 64 bytes"):
            await small.store("opaque", bytes(65), name="too-big")
    assert await manager.list(name="too-big") == []


async def test_an_unknown_option_is_refused_with_the_nearest_name(store_url: str) -> None:
    with pytest.raises(InvalidOption, match="did you mean 'max_value_bytes'") as caught:
        await KeyManager.open(f"{store_url}&max_value_byte=5")
    assert caught.value.option == "max_value_byte"
    assert caught.value.where.endswith("secret store")


async def test_every_store_keeps_versions_and_consumers(manager: KeyManager) -> None:
    assert {"versions", "consumers"} <= manager.driver.capabilities


async def test_a_missing_capability_is_refused_at_open(store_url: str, manager: KeyManager) -> None:
    from anker.errors import CapabilityMissing

    async with await KeyManager.open(store_url, require=["versions", "consumers"]) as km:
        assert km.driver.capabilities >= {"versions", "consumers"}
    with pytest.raises(CapabilityMissing, match="secret store cannot do 'time-travel'"):
        await KeyManager.open(store_url, require=["time-travel"])
