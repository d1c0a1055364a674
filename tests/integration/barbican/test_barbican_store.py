"""The barbican:// store against a real Barbican API server, and castellan reading across."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from anker.errors import InvalidOption, InvalidURL
from anker.secrets import (
    Consumer,
    KeyManager,
    SecretInUse,
    SecretNotFound,
    StoreUnavailable,
)

pytestmark = pytest.mark.integration


def project_url(barbican_url: str, project: str) -> str:
    return f"{barbican_url}?project={project}"


@pytest.fixture
async def manager(barbican_url: str) -> Any:
    """A key manager in a project of its own, so tests never see each other's secrets."""
    async with await KeyManager.open(project_url(barbican_url, uuid.uuid4().hex)) as km:
        yield km


async def test_keys_secrets_and_versions(manager: KeyManager) -> None:
    key_id = await manager.create_key(name="volumes", metadata={"owner": "cinder"})
    key = await manager.get(key_id)
    assert (key.kind, key.algorithm, key.bit_length) == ("symmetric", "AES", 256)
    assert len(key.reveal()) == 32
    assert key.metadata == {"owner": "cinder"}
    assert await manager.rotate(key_id) == 2
    newest = await manager.get(key_id)
    assert newest.versions == (1, 2)
    assert newest.reveal() != key.reveal()
    assert (await manager.get(key_id, version=1)).reveal() == key.reveal()
    password_id = await manager.store("passphrase", "s3cret", name="rabbit-password")
    assert (await manager.find("rabbit-password")).text() == "s3cret"
    private_id, public_id = await manager.create_key_pair(algorithm="EC", bit_length=256)
    assert (await manager.get(private_id)).metadata["public_key"] == public_id
    listed = {o.id: o for o in await manager.list()}
    assert set(listed) == {key_id, password_id, private_id, public_id}, "versions stay hidden"
    assert listed[key_id].versions == (1, 2)
    assert all(o.value is None for o in listed.values())
    assert [o.id for o in await manager.list(kind="passphrase")] == [password_id]


async def test_consumers_guard_deletion(manager: KeyManager) -> None:
    key_id = await manager.create_key()
    await manager.rotate(key_id)
    volume = Consumer("cinder", "volume", uuid.uuid4().hex)
    await manager.add_consumer(key_id, volume)
    assert (await manager.get(key_id)).consumers == (volume,)
    with pytest.raises(SecretInUse, match="delete it with force=True"):
        await manager.delete(key_id)
    await manager.delete(key_id, force=True)
    with pytest.raises(SecretNotFound):
        await manager.get(key_id)
    assert await manager.list() == []


async def test_projects_are_separate(barbican_url: str, manager: KeyManager) -> None:
    key_id = await manager.create_key()
    async with await KeyManager.open(project_url(barbican_url, uuid.uuid4().hex)) as other:
        with pytest.raises((SecretNotFound, StoreUnavailable)):
            await other.get(key_id)


async def test_an_unreachable_barbican_says_where() -> None:
    with pytest.raises(StoreUnavailable, match=r"Barbican at http://127\.0\.0\.1:9 did not answer"):
        await KeyManager.open("barbican://127.0.0.1:9?project=p&timeout=2")


class _Castellan:
    """castellan's key manager against the same Barbican, without Keystone."""

    def __init__(self, endpoint: str, project: str) -> None:
        from castellan import key_manager, options
        from keystoneauth1 import plugin
        from oslo_config import cfg
        from oslo_context import context

        class ProjectAuth(plugin.FixedEndpointPlugin):  # type: ignore[misc]
            def get_headers(self, session: object, **kwargs: object) -> dict[str, str]:
                return {"X-Project-Id": project}

            def get_project_id(self, session: object, **kwargs: object) -> str:
                return project

        class Context(context.RequestContext):  # type: ignore[misc]
            def get_auth_plugin(self) -> ProjectAuth:
                return ProjectAuth(endpoint)

        conf = cfg.ConfigOpts()
        conf([])
        options.set_defaults(
            conf, backend="barbican", barbican_endpoint=endpoint, barbican_api_version="v1"
        )
        self.api = key_manager.API(configuration=conf)
        self.context = Context(project_id=project)


async def test_castellan_and_anker_read_each_others_secrets(barbican_url: str) -> None:
    from castellan.common.objects import passphrase

    project = uuid.uuid4().hex
    endpoint = "http://" + barbican_url.removeprefix("barbican://")
    castellan = _Castellan(endpoint, project)
    from_castellan = castellan.api.store(
        castellan.context, passphrase.Passphrase("written by castellan", name="c-pass")
    )
    castellan_key = castellan.api.create_key(castellan.context, "AES", 256, name="c-key")
    async with await KeyManager.open(project_url(barbican_url, project)) as km:
        assert (await km.get(from_castellan)).reveal() == b"written by castellan"
        key = await km.get(castellan_key)
        assert (key.kind, key.algorithm, key.bit_length, key.name) == (
            "symmetric",
            "AES",
            256,
            "c-key",
        )
        anker_pass = await km.store("passphrase", "written by anker", name="a-pass")
        anker_blob = await km.store("opaque", b"\x00\xffbinary", name="a-blob")
        anker_key = await km.create_key(name="a-key")
        anker_key_bytes = (await km.get(anker_key)).reveal()
    got_pass = castellan.api.get(castellan.context, anker_pass)
    assert (type(got_pass).__name__, got_pass.name) == ("Passphrase", "a-pass")
    assert got_pass.get_encoded() in (b"written by anker", "written by anker")
    got_blob = castellan.api.get(castellan.context, anker_blob)
    assert (type(got_blob).__name__, got_blob.get_encoded()) == ("OpaqueData", b"\x00\xffbinary")
    got_key = castellan.api.get(castellan.context, anker_key)
    assert type(got_key).__name__ == "SymmetricKey"
    assert (got_key.algorithm, got_key.bit_length) == ("AES", 256)
    assert got_key.get_encoded() == anker_key_bytes


async def test_bad_ids_metadata_and_options_are_clear_errors(
    barbican_url: str, manager: KeyManager
) -> None:
    from anker.secrets import SecretsError

    with pytest.raises(SecretNotFound, match=r"no object '\.\./orders'"):
        await manager.get("../orders")
    with pytest.raises(SecretsError, match="keeps metadata keys in lower case; Owner"):
        await manager.create_key(metadata={"Owner": "cinder"})
    assert await manager.list() == [], "the half-made key was undone"
    with pytest.raises(SecretsError, match="are anker's own"):
        await manager.create_key(metadata={"anker-versions": "x"})
    with pytest.raises(InvalidOption, match=r"'timeout' of the 'barbican://' .* a duration") as bad:
        await KeyManager.open(f"{barbican_url}?project=p&timeout=abc&token=SEKRET")
    assert "SEKRET" not in str(bad.value)
    with pytest.raises(InvalidURL, match="one server") as wrong:
        await KeyManager.open("barbican://h1:1,h2:2?token=SEKRET")
    assert "SEKRET" not in str(wrong.value)
    with pytest.raises(InvalidOption, match="did you mean 'token'") as typo:
        await KeyManager.open(f"{barbican_url}?tokn=SEKRET")
    assert "SEKRET" not in str(typo.value)


async def test_names_are_unique_in_a_barbican_project(manager: KeyManager) -> None:
    from anker.secrets import SecretsError

    first = await manager.store("passphrase", "one", name="db")
    with pytest.raises(SecretsError, match=f"a secret named 'db' exists already \\({first}\\)"):
        await manager.create_key(name="db")
    assert await manager.rotate(first, "two") == 2  # a version of its own, not a second "db"
    assert (await manager.find("db")).text() == "two"
    assert [o.id for o in await manager.list(name="db")] == [first]
