"""The key manager over the local store: keys, pairs, secrets, versions, consumers, integrity."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

from anker._url import parse_url
from anker.config import Config, ConfigError, option
from anker.errors import DriverNotFound, InvalidOption
from anker.secrets import (
    BlockingKeyManager,
    Consumer,
    KeyManager,
    Secret,
    SecretInUse,
    SecretNotFound,
    SecretsError,
    SecretTampered,
    WrongMasterKey,
)
from anker.secrets._master import generate_master_key_file
from anker.secrets.stores.local import LocalSettings, LocalStore

MASTER = bytes(range(32))
#: the variables that hold the test's master key, and another key (base64)
MASTER_ENV, OTHER_ENV = "ANKER_TEST_MASTER_KEY", "ANKER_TEST_OTHER_KEY"


@pytest.fixture(autouse=True)
def master_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_ENV, base64.b64encode(MASTER).decode())
    monkeypatch.setenv(OTHER_ENV, base64.b64encode(bytes(32)).decode())


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "secrets"


def local_url(store_dir: Path, key_env: str = MASTER_ENV) -> str:
    return f"local://{store_dir}?master_key_env={key_env}"


async def open_local(
    store_dir: Path, *, key_env: str = MASTER_ENV, create: bool = False, kind: type = LocalStore
) -> LocalStore:
    """A local store (of ``kind``, a LocalStore subclass) opened as KeyManager opens one."""
    store = kind(parse_url(f"local://{store_dir}"), LocalSettings(master_key_env=key_env))
    assert isinstance(store, LocalStore)
    await (store.initialize() if create else store.connect())
    return store


@pytest.fixture
async def manager(store_dir: Path) -> KeyManager:
    return await KeyManager.initialize(local_url(store_dir))


def object_files(store_dir: Path) -> list[Path]:
    return sorted((store_dir / "objects").glob("*.json"))


async def test_symmetric_keys(manager: KeyManager) -> None:
    key_id = await manager.create_key(name="volumes", metadata={"owner": "cinder"})
    key = await manager.get(key_id)
    assert key.kind == "symmetric"
    assert (key.algorithm, key.bit_length) == ("AES", 256)
    assert len(key.reveal()) == 32
    assert key.name == "volumes"
    assert key.metadata == {"owner": "cinder"}
    assert key.created.tzinfo is dt.UTC
    assert repr(key.value) == "Secret('****')"
    assert key.reveal().hex() not in repr(key)
    with pytest.raises(SecretsError, match="AES keys have 128, 192, 256 bits, not 100"):
        await manager.create_key(bit_length=100)


@pytest.mark.parametrize(("algorithm", "bits"), [("RSA", 2048), ("EC", 256), ("EC", 521)])
async def test_key_pairs_are_real_and_linked(
    manager: KeyManager, algorithm: str, bits: int
) -> None:
    private_id, public_id = await manager.create_key_pair(algorithm=algorithm, bit_length=bits)
    private = await manager.get(private_id)
    public = await manager.get(public_id)
    assert (private.kind, public.kind) == ("private", "public")
    assert private.metadata["public_key"] == public_id
    assert public.metadata["private_key"] == private_id
    private_key = serialization.load_der_private_key(private.reveal(), password=None)
    public_key = serialization.load_der_public_key(public.reveal())
    message = b"signed by anker"
    if algorithm == "RSA":
        signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    else:
        signature = private_key.sign(message, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr, call-arg]
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr, call-arg]


def self_signed_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "anker.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


async def test_passphrases_opaque_data_and_certificates(manager: KeyManager) -> None:
    password_id = await manager.store("passphrase", "rabbit s3cret", name="rabbit-password")
    blob_id = await manager.store("opaque", b"\x00\x01binary", name="blob")
    cert = self_signed_certificate()
    cert_id = await manager.store("certificate", cert, name="api-cert")
    assert (await manager.get(password_id)).text() == "rabbit s3cret"
    assert (await manager.get(blob_id)).reveal() == b"\x00\x01binary"
    assert (await manager.get(cert_id)).reveal() == cert
    with pytest.raises(SecretsError, match=r"a certificate must be X\.509 in DER"):
        await manager.store("certificate", b"not a certificate")
    with pytest.raises(SecretsError, match="unknown kind 'token'"):
        await manager.store("token", b"x")  # type: ignore[arg-type]


async def test_a_passphrase_that_is_not_text_is_refused(manager: KeyManager) -> None:
    # a passphrase is UTF-8 text (as the docs say and ${secret:NAME} reads it): binary data
    # was stored, and failed only when a configuration first used it
    with pytest.raises(SecretsError, match=r"byte 0xff at offset 3 is not \(store binary data as"):
        await manager.store("passphrase", b"abc\xff", name="binary")
    assert await manager.list() == []
    password_id = await manager.store("passphrase", "pässwört")
    with pytest.raises(SecretsError, match="a passphrase must be UTF-8 text"):
        await manager.rotate(password_id, b"\xe9t\xe9")
    assert (await manager.get(password_id)).versions == (1,)


async def test_metadata_only_and_listing(manager: KeyManager) -> None:
    key_id = await manager.create_key(name="a")
    await manager.store("passphrase", "p", name="b")
    await manager.store("passphrase", "q", name="c")
    meta = await manager.get(key_id, metadata_only=True)
    assert meta.value is None
    with pytest.raises(ValueError, match="metadata_only"):
        meta.reveal()
    everything = await manager.list()
    assert len(everything) == 3
    assert all(o.value is None for o in everything)
    assert [o.kind for o in await manager.list(name="a")] == ["symmetric"]
    assert sorted(o.name or "" for o in await manager.list(kind="passphrase")) == ["b", "c"]


async def test_rotation_keeps_old_versions(manager: KeyManager) -> None:
    key_id = await manager.create_key()
    first = (await manager.get(key_id)).reveal()
    assert await manager.rotate(key_id) == 2
    newest = await manager.get(key_id)
    assert newest.version == 2
    assert newest.versions == (1, 2)
    assert newest.reveal() != first
    assert (await manager.get(key_id, version=1)).reveal() == first
    with pytest.raises(SecretNotFound, match="has no version 3 \\(it has 1, 2\\)"):
        await manager.get(key_id, version=3)
    password_id = await manager.store("passphrase", "old")
    with pytest.raises(SecretsError, match="rotating a passphrase needs its new value"):
        await manager.rotate(password_id)
    await manager.rotate(password_id, "new")
    assert (await manager.get(password_id)).text() == "new"


async def test_consumers_guard_deletion(manager: KeyManager) -> None:
    key_id = await manager.create_key()
    volume = Consumer("cinder", "volume", "vol-1")
    await manager.add_consumer(key_id, volume)
    await manager.add_consumer(key_id, volume)  # idempotent
    assert (await manager.get(key_id)).consumers == (volume,)
    with pytest.raises(SecretInUse, match="used by cinder/volume/vol-1; delete it with force=True"):
        await manager.delete(key_id)
    await manager.remove_consumer(key_id, volume)
    await manager.delete(key_id)
    with pytest.raises(SecretNotFound):
        await manager.get(key_id)
    other = await manager.create_key()
    await manager.add_consumer(other, volume)
    await manager.delete(other, force=True)
    assert await manager.list() == []


async def test_files_are_private_and_hold_no_plaintext(
    manager: KeyManager, store_dir: Path
) -> None:
    await manager.store("passphrase", "plain-text-password", name="visible-name")
    key_id = await manager.create_key()
    raw = (await manager.get(key_id)).reveal()
    assert_private_without(
        store_dir, [b"plain-text-password", b"visible-name", raw, base64.b64encode(raw)]
    )


def assert_private_without(store_dir: Path, needles: list[bytes]) -> None:
    assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((store_dir / "objects").stat().st_mode) == 0o700
    files = object_files(store_dir)
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data


async def test_tampered_truncated_or_swapped_files_are_refused(
    manager: KeyManager, store_dir: Path
) -> None:
    first = await manager.store("passphrase", "one")
    second = await manager.store("passphrase", "two")
    path_one, path_two = (store_dir / "objects" / f"{i}.json" for i in (first, second))
    original = path_one.read_bytes()

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    path_one.write_bytes(bytes(flipped))
    with pytest.raises(SecretTampered):
        await manager.get(first)
    path_one.write_bytes(original[: len(original) // 2])
    with pytest.raises(SecretTampered, match="is damaged"):
        await manager.get(first)
    path_one.write_bytes(path_two.read_bytes())  # a valid file of another object
    with pytest.raises(SecretTampered, match="failed authentication"):
        await manager.get(first)
    path_one.write_bytes(original)
    assert (await manager.get(first)).text() == "one"


async def test_wrong_master_key_and_unknown_ids(store_dir: Path, manager: KeyManager) -> None:
    await manager.create_key()
    with pytest.raises(WrongMasterKey, match="does not open the store"):
        await KeyManager.open(local_url(store_dir, OTHER_ENV))
    with pytest.raises(SecretNotFound, match="not an id"):
        await manager.get("../../etc/passwd")
    with pytest.raises(SecretNotFound, match="no object 00000000-0000-0000-0000-000000000000"):
        await manager.get("00000000-0000-0000-0000-000000000000")


async def test_a_failed_write_leaves_nothing_behind(
    manager: KeyManager, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        await manager.store("passphrase", "never stored")
    monkeypatch.undo()
    assert list((store_dir / "objects").iterdir()) == []
    assert await manager.list() == []


async def test_open_by_url_with_master_key_file_or_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "master.key"
    generate_master_key_file(str(key_file))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(SecretsError, match="never overwritten"):
        generate_master_key_file(str(key_file))
    url = f"local://{tmp_path}/store?master_key_file={key_file}"
    async with await KeyManager.initialize(url) as km:
        key_id = await km.create_key()
    monkeypatch.setenv("SVC_MASTER_KEY", key_file.read_text().strip())
    async with await KeyManager.open(
        f"local://{tmp_path}/store", master_key_env="SVC_MASTER_KEY"
    ) as km:
        assert (await km.get(key_id)).kind == "symmetric"
    with pytest.raises(SecretsError, match="give exactly one master key source"):
        await KeyManager.open(f"local://{tmp_path}/store")
    with pytest.raises(DriverNotFound, match="did you mean 'local://'"):
        await KeyManager.open("locall:///x")


def test_the_blocking_manager_from_threads(store_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    km = BlockingKeyManager.initialize(local_url(store_dir))
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: km.store("passphrase", f"p{i}", name=f"n{i}"), range(16)))
    assert sorted(km.get(i).text() for i in ids) == sorted(f"p{i}" for i in range(16))
    assert km.find("n3").text() == "p3"


def test_config_resolves_secret_references_through_the_store(
    store_dir: Path, tmp_path: Path
) -> None:
    blocking = BlockingKeyManager.initialize(local_url(store_dir))
    blocking.store("passphrase", "mq-pass", name="rabbit-password")
    km = blocking.manager

    class Conf(Config):
        rabbit_password: Secret[str] = option(help="RabbitMQ password.")
        other: Secret[str] | None = option(None)

    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\nrabbit_password = ${secret:rabbit-password}\n")
    conf = Conf.load(files=[path], secrets=km.resolver())
    assert conf.rabbit_password == Secret("mq-pass")
    assert conf.values()["DEFAULT"]["rabbit_password"] == "${secret:rabbit-password}"
    path.write_text("[DEFAULT]\nrabbit_password = x\nother = ${secret:missing}\n")
    with pytest.raises(ConfigError) as caught:
        Conf.load(files=[path], secrets=km.resolver())
    assert str(caught.value.errors[0]) == (
        f"{path}:3: error: [DEFAULT] other: cannot substitute: the secret store cannot resolve"
        " ${secret:missing}: SecretNotFound: no secret named 'missing'"
    )


def test_a_service_reload_resolves_secrets_on_its_own_loop(store_dir: Path, tmp_path: Path) -> None:
    # a service reloads on SIGHUP from its event loop: a manager on anker's background loop
    # answers there (the loop waits for the lookup); one on the service's own loop cannot
    import asyncio

    blocking = BlockingKeyManager.initialize(local_url(store_dir))
    blocking.store("passphrase", "v1", name="token")
    blocking.store("passphrase", "v2", name="token2")

    class Conf(Config):
        token: Secret[str] = option(mutable=True, help="A token.")

    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\ntoken = ${secret:token}\n")
    conf = Conf.load(files=[path], secrets=blocking.manager.resolver())
    path.write_text("[DEFAULT]\ntoken = ${secret:token2}\n")

    async def reload_on_a_loop() -> None:
        conf.reload()

    asyncio.run(reload_on_a_loop())
    assert conf.token == Secret("v2")

    async def with_a_manager_on_this_loop() -> None:
        own = await KeyManager.open(local_url(store_dir))
        try:
            with pytest.raises(ConfigError, match="BlockingCallInEventLoop"):
                Conf.load(files=[path], secrets=own.resolver())
        finally:
            await own.aclose()

    asyncio.run(with_a_manager_on_this_loop())


async def test_a_failed_key_pair_leaves_no_half_behind(store_dir: Path) -> None:
    class FailingMetadata(LocalStore):
        async def update_metadata(self, object_id: str, metadata: Mapping[str, str]) -> None:
            raise OSError(5, "Input/output error")

    manager = KeyManager(await open_local(store_dir, create=True, kind=FailingMetadata))
    with pytest.raises(OSError, match="Input/output error"):
        await manager.create_key_pair(algorithm="EC", bit_length=256)
    assert await manager.list() == []


async def test_any_spelling_of_an_id_names_the_same_object(manager: KeyManager) -> None:
    key_id = await manager.create_key()
    for spelling in (key_id.upper(), key_id.replace("-", ""), "{" + key_id + "}"):
        assert (await manager.get(spelling)).id == key_id


async def test_a_missing_check_file_with_objects_is_refused(
    store_dir: Path, manager: KeyManager
) -> None:
    await manager.create_key()
    (store_dir / "store.json").unlink()
    with pytest.raises(SecretTampered, match=r"store\.json is missing"):
        await KeyManager.open(local_url(store_dir, OTHER_ENV))


async def test_listing_ignores_strays_and_objects_deleted_meanwhile(
    manager: KeyManager, store_dir: Path
) -> None:
    await manager.create_key()
    (store_dir / "objects" / "notes.json").write_text("{}")
    assert len(await manager.list()) == 1


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o666])
async def test_a_master_key_file_others_can_use_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "master.key"
    generate_master_key_file(str(key_file))
    url = f"local://{tmp_path}/store?master_key_file={key_file}"
    async with await KeyManager.initialize(url):
        pass
    key_file.chmod(mode)
    with pytest.raises(SecretsError) as caught:
        await KeyManager.open(url)
    assert str(caught.value) == (
        f"the master key file {key_file} can be read or written by others (mode {mode:04o});"
        f" run: chmod 600 {key_file}"
    )
    key_file.chmod(0o400)
    async with await KeyManager.open(url):
        pass


async def test_a_password_is_not_taken_for_a_raw_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "correct horse battery staple 123"
    assert len(password) == 32
    key_file = tmp_path / "master.key"
    key_file.write_text(password)
    key_file.chmod(0o600)
    monkeypatch.setenv("SVC_MASTER_KEY", password)
    for options in ({"master_key_file": str(key_file)}, {"master_key_env": "SVC_MASTER_KEY"}):
        with pytest.raises(SecretsError, match=r"holds 32 characters of text \(a password\?\)"):
            await KeyManager.initialize(f"local://{tmp_path}/store", **options)
    assert not (tmp_path / "store").exists()
    with pytest.raises(SecretsError, match="make a key with `anker secrets init FILE`"):
        await KeyManager.initialize(f"local://{tmp_path}/store", master_key_file=str(key_file))
    key_file.write_bytes(bytes(range(100, 132)))  # raw bytes, some outside printable ASCII
    async with await KeyManager.initialize(f"local://{tmp_path}/store?master_key_file={key_file}"):
        pass


@pytest.mark.parametrize(
    ("size", "algorithm", "message"),
    [
        (0, None, "AES keys have 128, 192, 256 bits, not 0"),
        (7, None, "AES keys have 128, 192, 256 bits, not 56"),
        (33, "AES", "AES keys have 128, 192, 256 bits, not 264"),
        (16, "HMAC", "HMAC keys have 256, 384, 512 bits, not 128"),
        (16, "DES", "unknown symmetric algorithm 'DES'"),
    ],
)
async def test_imported_symmetric_keys_must_have_a_size_their_algorithm_uses(
    manager: KeyManager, size: int, algorithm: str | None, message: str
) -> None:
    with pytest.raises(SecretsError, match=message):
        await manager.store("symmetric", bytes(size), algorithm=algorithm)
    assert await manager.list() == []


async def test_imported_symmetric_keys_record_their_algorithm_and_size(
    manager: KeyManager,
) -> None:
    aes = await manager.get(await manager.store("symmetric", os.urandom(24)))
    assert (aes.algorithm, aes.bit_length) == ("AES", 192)
    hmac = await manager.get(await manager.store("symmetric", os.urandom(64), algorithm="HMAC"))
    assert (hmac.algorithm, hmac.bit_length) == ("HMAC", 512)
    with pytest.raises(SecretsError, match="the key has 128 bits, not the 256 given"):
        await manager.store("symmetric", os.urandom(16), bit_length=256)
    assert await manager.rotate(aes.id) == 2
    assert len((await manager.get(aes.id)).reveal()) == 24


async def test_a_stored_key_of_no_usable_size_is_not_rotated(manager: KeyManager) -> None:
    from anker.secrets import ManagedObject

    for size in (0, 7):  # as an earlier anker stored them
        odd = ManagedObject(id=str(uuid.uuid4()), kind="symmetric", value=Secret(bytes(size)))
        await manager.driver.create(odd)
        with pytest.raises(SecretsError, match=f"cannot be rotated: AES keys .* not {size * 8}"):
            await manager.rotate(odd.id)
        assert (await manager.get(odd.id)).versions == (1,)


async def test_values_have_a_size_limit_per_store(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    generate_master_key_file(str(key_file))
    url = f"local://{tmp_path}/store?master_key_file={key_file}"
    async with await KeyManager.initialize(url) as km:
        assert km.driver.max_value_bytes == 1024 * 1024  # the default
        await km.store("opaque", bytes(1024 * 1024))
        with pytest.raises(SecretsError, match="larger than this store's limit of 1048576 bytes"):
            await km.store("opaque", bytes(1024 * 1024 + 1))
    async with await KeyManager.open(f"{url}&max_value_bytes=100") as km:
        blob = await km.store("opaque", bytes(100))
        with pytest.raises(SecretsError, match=r"limit of 100 bytes per object \(max_value_b"):
            await km.store("passphrase", "x" * 101)
        with pytest.raises(SecretsError, match="limit of 100 bytes"):
            await km.rotate(blob, bytes(101))
        assert (await km.get(blob)).versions == (1,)
    async with await KeyManager.open(f"{url}&max_value_bytes=2KiB") as km:
        assert km.driver.max_value_bytes == 2048
    for bad in ("0", "-1", "lots", ""):
        with pytest.raises(InvalidOption, match="'max_value_bytes' of the 'local://' secret"):
            await KeyManager.open(f"{url}&max_value_bytes={bad}")


async def test_names_are_unique_in_a_store(manager: KeyManager) -> None:
    first = await manager.store("passphrase", "one", name="db")
    for make in (
        manager.store("passphrase", "two", name="db"),
        manager.create_key(name="db"),
        manager.create_key_pair(algorithm="EC", bit_length=256, name="db"),
    ):
        with pytest.raises(SecretsError, match=f"a secret named 'db' exists already \\({first}\\)"):
            await make
    assert [o.id for o in await manager.list()] == [first]
    assert await manager.rotate(first, "two") == 2  # a new version keeps the name
    assert (await manager.find("db")).text() == "two"
    private_id, public_id = await manager.create_key_pair(
        algorithm="EC", bit_length=256, name="tls"
    )
    assert (await manager.find("tls")).id == private_id
    assert (await manager.find("tls.pub")).id == public_id


async def test_the_local_store_checks_names_under_its_lock(manager: KeyManager) -> None:
    from anker.secrets import ManagedObject

    await manager.store("passphrase", "one", name="db")
    twin = ManagedObject(id=str(uuid.uuid4()), kind="passphrase", value=Secret(b"x"), name="db")
    with pytest.raises(SecretsError, match="a secret named 'db' exists already"):
        await manager.driver.create(twin)  # as a racing writer that passed the manager's check


async def test_duplicate_names_where_a_store_allows_them(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    generate_master_key_file(str(key_file))
    url = f"local://{tmp_path}/store?master_key_file={key_file}&unique_names=false"
    async with await KeyManager.initialize(url) as km:
        ids = [await km.store("passphrase", v, name="db") for v in ("one", "two")]
        with pytest.raises(SecretsError, match=r"2 secrets are named 'db' \(.*\); use an id"):
            await km.find("db")
        assert (await km.find(ids[1])).text() == "two"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("two\nlines", r"contains the control character '\\n'"),
        ("nul\x00", r"contains the control character '\\x00'"),
        ("bell\x07", r"contains the control character '\\x07'"),
        ("", "a name is non-empty text"),
        ("x" * 256, "at most 255 characters"),
        ("00000000-0000-0000-0000-000000000000", "would read as an id"),
    ],
)
async def test_names_that_cannot_be_shown_or_told_from_ids_are_refused(
    manager: KeyManager, name: str, message: str
) -> None:
    with pytest.raises(SecretsError, match=message):
        await manager.store("passphrase", "p", name=name)
    with pytest.raises(SecretsError, match=message):
        await manager.create_key(name=name)
    assert await manager.list() == []


async def test_one_damaged_object_does_not_hide_the_others(
    manager: KeyManager, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = await manager.store("passphrase", "fine", name="good")
    bad = await manager.store("passphrase", "lost", name="bad")
    bad_file = store_dir / "objects" / f"{bad}.json"
    bad_file.write_text("{not json")
    with caplog.at_level("WARNING", logger="anker.secrets"):
        assert [o.id for o in await manager.list()] == [good]
        assert (await manager.find("good")).text() == "fine"
    assert f"left out of the listing: {bad_file} is damaged" in caplog.text
    with pytest.raises(SecretTampered, match="is damaged"):
        await manager.get(bad)
