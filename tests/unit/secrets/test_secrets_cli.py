"""`anker secrets ...` as an operator uses it, against a local store."""

from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from anker.cli import cli
from anker.config import Config, option
from anker.secrets import Secret


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key_file = tmp_path / "master.key"
    assert CliRunner().invoke(cli, ["secrets", "init", str(key_file)]).exit_code == 0
    monkeypatch.setenv("ANKER_SECRETS_URL", f"local://{tmp_path}/store?master_key_file={key_file}")
    assert CliRunner().invoke(cli, ["secrets", "init"]).exit_code == 0
    return tmp_path


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["secrets", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.usefixtures("store")
def test_put_get_list_rotate_rm() -> None:
    code, out, _ = run("put", "passphrase", "--name", "db-password", stdin=b"hunter2\n")
    assert code == 0
    object_id = out.strip()
    code, out, _ = run("get", "db-password")
    assert code == 0
    assert f"id: {object_id}" in out
    assert "hunter2" not in out, "a secret is printed only with --reveal"
    code, out, _ = run("get", "db-password", "--reveal", "--format", "json")
    assert json.loads(out)["value"] == "hunter2"
    code, out, _ = run("list", "--format", "json")
    assert [o["name"] for o in json.loads(out)] == ["db-password"]
    assert "hunter2" not in out
    code, out, _ = run("create-key", "--name", "k", "--format", "json")
    key_id = json.loads(out)["id"]
    assert run("rotate", key_id)[1].strip() == f"{key_id} is now at version 2"
    assert run("rm", key_id)[0] == 0
    code, _, err = run("get", key_id)
    assert code == 1
    assert "no secret named" in err


@pytest.mark.usefixtures("store")
def test_key_pairs() -> None:
    code, out, _ = run("create-key", "--algorithm", "EC", "--format", "json")
    assert code == 0
    pair = json.loads(out)
    assert set(pair) == {"private", "public"}


def test_encrypt_and_decrypt_a_file_through_a_rotated_key(store: Path) -> None:
    key_id = run("create-key", "--name", "images")[1].strip()
    plain = store / "image.raw"
    data = secrets.token_bytes(300_000)
    plain.write_bytes(data)
    assert run("encrypt", str(plain), "--key", "images")[0] == 0
    sealed = store / "image.raw.ake"
    assert data not in sealed.read_bytes()
    run("rotate", key_id)  # data encrypted under version 1 still decrypts
    plain.unlink()
    code, _, err = run("decrypt", str(sealed))
    assert code == 0, err
    assert plain.read_bytes() == data
    broken = store / "broken.ake"
    broken.write_bytes(sealed.read_bytes()[:-10])
    code, _, err = run("decrypt", str(broken), "-o", str(store / "never"))
    assert code == 1
    assert "failed authentication" in err
    assert not (store / "never").exists()


def test_a_missing_store_url_or_bad_master_key_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANKER_SECRETS_URL", raising=False)
    code, _, err = run("list")
    assert code == 2
    assert "--store URL or ANKER_SECRETS_URL" in err
    bad = tmp_path / "bad.key"
    bad.write_text("too short")
    bad.chmod(0o600)
    code, _, err = run("--store", f"local://{tmp_path}/s?master_key_file={bad}", "list")
    assert code == 1
    assert "is not 32 bytes" in err


class SecretsConf(Config):
    """A schema whose one option comes from the secret store."""

    db_password: Secret[str] = option(help="The database password.")


def test_config_validate_resolves_references_through_the_store(store: Path) -> None:
    run("put", "passphrase", "--name", "db", stdin=b"pw\n")
    conf = store / "svc.conf"
    conf.write_text("[DEFAULT]\ndb_password = ${secret:db}\n")
    schema = "test_secrets_cli:SecretsConf"
    result = CliRunner().invoke(
        cli, ["config", "validate", "--schema", schema, "--config-file", str(conf)]
    )
    assert result.exit_code == 0, result.output
    conf.write_text("[DEFAULT]\ndb_password = ${secret:nope}\n")
    result = CliRunner().invoke(
        cli, ["config", "validate", "--schema", schema, "--config-file", str(conf)]
    )
    assert result.exit_code == 1
    assert "cannot resolve ${secret:nope}: SecretNotFound: no secret named 'nope'" in result.stderr


def test_cli_misuse_is_an_error_message_not_a_traceback(store: Path) -> None:
    key_id = run("create-key", "--name", "k")[1].strip()
    plain = store / "plain"
    plain.write_bytes(b"data")
    code, _, err = run("encrypt", str(plain), "--key", "k", "-o", str(store / "missing" / "x"))
    assert code == 1
    assert "No such file or directory" in err
    assert run("encrypt", str(plain), "--key", "k")[0] == 0
    code, _, err = run("encrypt", str(plain), "--key", "k")
    assert code == 2
    assert "exists; pass --force" in err
    code, _, err = run("list", "--kind", "bogus")
    assert code == 2
    code, _, err = run(
        "bind-tang",
        "--master-key-file",
        str(plain),
        "--url",
        "http://h",
        "--threshold",
        "3",
        "-o",
        "x",
    )
    assert code == 2
    assert "--threshold must be from 1 to 1" in err
    run("rotate", key_id)
    code, out, _ = run("get", "k", "--version", "1", "--format", "json")
    assert code == 0
    assert json.loads(out)["version"] == 1


def test_a_binary_passphrase_is_refused_and_one_made_elsewhere_revealed_as_base64(
    store: Path,
) -> None:
    import asyncio

    from anker.secrets import KeyManager
    from anker.secrets._objects import ManagedObject, new_id

    path = store / "binary"
    path.write_bytes(b"\xff\xfe")
    code, out, err = run("put", "passphrase", "--name", "bin", "--file", str(path))
    assert (code, out) == (1, "")
    assert err == (
        "Error: a passphrase must be UTF-8 text; byte 0xff at offset 0 is not (store binary"
        " data as opaque)\n"
    )

    async def made_by_another_client() -> None:  # one that does not check
        async with await KeyManager.open(os.environ["ANKER_SECRETS_URL"]) as manager:
            value = Secret(b"\xff\xfe")
            await manager.driver.create(
                ManagedObject(id=new_id(), kind="passphrase", value=value, name="bin")
            )

    asyncio.run(made_by_another_client())
    code, out, _ = run("get", "bin", "--reveal", "--format", "json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["value"], shown["value_encoding"]) == ("//4=", "base64")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root (root included) with its mode and modification time."""
    paths = [root, *sorted(root.rglob("*"))] if root.exists() else []
    return {str(p): (p.lstat().st_mode, p.lstat().st_mtime_ns) for p in paths}


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["get", "x"],
        ["rm", "x"],
        ["rotate", "x"],
        ["create-key"],
        ["put", "opaque"],
    ],
)
def test_no_command_but_init_makes_or_changes_a_store(tmp_path: Path, command: list[str]) -> None:
    key_file = tmp_path / "master.key"
    assert run("init", str(key_file))[0] == 0
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "someone-elses-file").write_text("x")
    before = snapshot(tmp_path)
    for directory in (shared, tmp_path / "mistyped" / "path"):
        code, _, err = run(
            "--store", f"local://{directory}?master_key_file={key_file}", *command, stdin=b"v"
        )
        assert code == 1, err
        assert f"no store at {directory} (run anker secrets init" in err
    assert snapshot(tmp_path) == before


async def test_opening_a_directory_without_a_store_changes_nothing(tmp_path: Path) -> None:
    from anker.secrets import KeyManager, StoreUnavailable

    key_file = tmp_path / "master.key"
    assert run("init", str(key_file))[0] == 0
    (tmp_path / "empty").mkdir(mode=0o755)
    before = snapshot(tmp_path)
    for directory in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(StoreUnavailable, match="no store at"):
            await KeyManager.open(f"local://{directory}?master_key_file={key_file}")
    assert snapshot(tmp_path) == before


def test_init_makes_a_store_only_where_there_is_none(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    assert run("init", str(key_file))[0] == 0
    url = f"local://{tmp_path}/new/store?master_key_file={key_file}"
    code, out, err = run("--store", url, "init", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {"store": f"{tmp_path}/new/store"}
    assert oct((tmp_path / "new" / "store").stat().st_mode & 0o777) == oct(0o700)
    assert run("--store", url, "list") == (0, "", "")
    code, _, err = run("--store", url, "init")
    assert code == 1
    assert "holds a store already" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "file").write_text("x")
    before = snapshot(other)
    code, _, err = run("--store", f"local://{other}?master_key_file={key_file}", "init")
    assert code == 1
    assert "holds other files already; a new store needs a new or empty directory" in err
    assert snapshot(other) == before


@pytest.mark.parametrize(
    ("spelled", "shown"), [("%0A", r"'\n'"), ("\n", r"'\n'"), ("%00", r"'\x00'")]
)
def test_control_characters_in_a_store_path_are_refused(
    tmp_path: Path, spelled: str, shown: str
) -> None:
    key_file = tmp_path / "master.key"
    assert run("init", str(key_file))[0] == 0
    before = snapshot(tmp_path)
    for command in (["init"], ["list"]):
        url = f"local://{tmp_path}/a{spelled}b?master_key_file={key_file}"
        code, _, err = run("--store", url, *command)
        assert code == 1, err
        assert f"contains the control character {shown}" in err
    assert snapshot(tmp_path) == before


def test_decrypt_and_encrypt_never_replace_a_file_without_force(store: Path) -> None:
    run("create-key", "--name", "k")
    plain = store / "doc"
    plain.write_bytes(b"the data")
    assert run("encrypt", str(plain), "--key", "k")[0] == 0
    plain.write_bytes(b"edited since")
    plain.chmod(0o644)
    for command in (["decrypt", f"{plain}.ake"], ["encrypt", str(plain), "--key", "k"]):
        target = plain if command[0] == "decrypt" else Path(f"{plain}.ake")
        before = (target.read_bytes(), target.stat().st_mode)
        code, _, err = run(*command)
        assert code == 2
        assert f"{target} exists; pass --force to replace it" in err
        assert (target.read_bytes(), target.stat().st_mode) == before
    code, _, err = run("decrypt", f"{plain}.ake", "--force")
    assert code == 0, err
    assert plain.read_bytes() == b"the data"


def test_an_output_in_a_missing_directory_is_named_not_a_temporary_file(store: Path) -> None:
    # the error named the temporary file ('.../.x.ake.59adf2be.tmp: No such file or directory')
    run("create-key", "--name", "k")
    plain = store / "doc"
    plain.write_bytes(b"the data")
    assert run("encrypt", str(plain), "--key", "k")[0] == 0
    for command in (
        ["encrypt", str(plain), "--key", "k", "-o", f"{store}/missing/x.ake"],
        ["decrypt", f"{plain}.ake", "-o", f"{store}/missing/x"],
    ):
        code, out, err = run(*command)
        assert (code, out) == (1, "")
        assert err == f"Error: {command[-1]}: No such file or directory\n"
    assert not (store / "missing").exists()


def test_the_envelope_file_helpers_do_not_replace_a_target_unless_asked(tmp_path: Path) -> None:
    from anker.secrets.envelope import EnvelopeError, decrypt_file, encrypt_file

    kek = secrets.token_bytes(32)
    plain, sealed = tmp_path / "plain", tmp_path / "sealed"
    plain.write_bytes(b"data")
    encrypt_file(str(plain), str(sealed), kek, overwrite=False, kek_id="k")
    with pytest.raises(EnvelopeError, match="exists; it is replaced only when asked"):
        encrypt_file(str(plain), str(sealed), kek, overwrite=False, kek_id="k")
    with pytest.raises(EnvelopeError, match="exists"):
        decrypt_file(str(sealed), str(plain), kek, overwrite=False)
    assert plain.read_bytes() == b"data"
    late = tmp_path / "late"

    def made_meanwhile(kek_id: str, version: int) -> bytes:
        late.write_bytes(b"made while decrypting")
        return kek

    with pytest.raises(EnvelopeError, match="late exists"):
        decrypt_file(str(sealed), str(late), made_meanwhile, overwrite=False)
    assert late.read_bytes() == b"made while decrypting"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late", "plain", "sealed"]


@pytest.mark.usefixtures("store")
def test_put_refuses_a_symmetric_key_of_no_usable_size() -> None:
    code, _, err = run("put", "symmetric", "--name", "k", stdin=bytes(7))
    assert code == 1
    assert "AES keys have 128, 192, 256 bits, not 56" in err
    assert run("list")[1] == ""


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["put", "symmetric"], b""),
        (["put", "opaque"], b""),
        (["put", "passphrase"], b"\n"),
        (["put", "passphrase", "--file", "{empty}"], b"ignored"),
    ],
)
def test_put_refuses_an_empty_value(store: Path, args: list[str], stdin: bytes) -> None:
    empty = store / "empty"
    empty.write_bytes(b"")
    args = [arg.format(empty=empty) for arg in args]
    code, _, err = run(*args, stdin=stdin)
    assert code == 1
    where = f"{empty} is empty" if "--file" in args else "nothing came on standard input"
    assert f"the value is empty ({where}); nothing stored" in err
    assert run("list")[1] == ""


def test_only_aes_256_keys_encrypt_or_decrypt(store: Path) -> None:
    from anker.secrets.envelope import encrypt_file

    plain = store / "plain"
    plain.write_bytes(b"data")
    run("create-key", "--name", "mac", "--algorithm", "HMAC")
    run("create-key", "--name", "aes128", "--bits", "128")
    code, out, _ = run("put", "passphrase", "--name", "pw", stdin=b"p" * 32)
    passphrase_id = out.strip()
    for key, what in (
        ("mac", "is an HMAC key: only AES-256 keys"),
        ("aes128", "is an AES-128 key: envelopes wrap their data keys with AES-256 keys"),
        ("pw", "is not a key: only AES-256 keys"),
    ):
        code, _, err = run("encrypt", str(plain), "--key", key, "-o", str(store / key))
        assert code == 1
        assert what in err
        assert not (store / key).exists()
    # a header naming a passphrase (whose 32 bytes would unwrap the data key) is refused
    sealed = store / "sealed.ake"
    encrypt_file(str(plain), str(sealed), b"p" * 32, kek_id=passphrase_id)
    code, _, err = run("decrypt", str(sealed), "-o", str(store / "out"))
    assert code == 1
    assert f"passphrase {passphrase_id} (pw) is not a key" in err
    assert not (store / "out").exists()


class ManyZeros(io.RawIOBase):
    """A standard input far larger than the limit (16 MiB), counting what was read of it."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 1 << 20, (16 << 20) - self.served)
        buffer[:size] = bytes(size)
        self.served += size
        return size


def test_put_reads_no_more_than_the_limit_allows(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "ANKER_SECRETS_URL", os.environ["ANKER_SECRETS_URL"] + "&max_value_bytes=1000"
    )
    endless = ManyZeros()
    result = CliRunner().invoke(cli, ["secrets", "put", "opaque"], input=endless)
    assert result.exit_code == 1
    assert "larger than this store's limit of 1000 bytes per object" in result.stderr
    assert endless.served <= 1001
    big = store / "big"
    big.write_bytes(bytes(1001))
    code, _, err = run("put", "opaque", "--file", str(big))
    assert "limit of 1000 bytes" in err
    code, out, _ = run("put", "opaque", "--name", "fits", stdin=bytes(1000))
    assert code == 0
    code, _, err = run("rotate", out.strip(), "--file", str(big))
    assert "limit of 1000 bytes" in err


def run_bytes(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, ["secrets", *args], input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.mark.usefixtures("store")
def test_rm_and_rotate_take_a_name_or_an_id() -> None:
    passphrase_id = run("put", "passphrase", "--name", "pw", stdin=b"one\n")[1].strip()
    key_id = run("create-key", "--name", "k")[1].strip()
    code, out, err = run("rotate", "pw", stdin=b"two\n")
    assert (code, out) == (0, f"{passphrase_id} is now at version 2\n"), err
    assert json.loads(run("get", "pw", "--reveal", "--format", "json")[1])["value"] == "two"
    code, out, err = run("rotate", passphrase_id, "--format", "json", stdin=b"three")
    assert json.loads(out) == {"id": passphrase_id, "name": "pw", "version": 3}, err
    assert json.loads(run("get", "pw", "--reveal", "--format", "json")[1])["value"] == "three"
    # a key gets fresh material: standard input is not read
    first = json.loads(run("get", "k", "--reveal", "--format", "json")[1])["value"]
    assert run("rotate", "k", stdin=b"not read")[0] == 0
    second = json.loads(run("get", "k", "--reveal", "--format", "json")[1])
    assert (second["version"], len(second["value"])) == (2, len(first))
    assert second["value"] != first
    code, _, err = run("rotate", "pw", stdin=b"")
    assert code == 1
    assert "the value is empty (nothing came on standard input); nothing stored" in err
    code, out, _ = run("rm", "pw")
    assert (code, out) == (0, f"deleted {passphrase_id} (pw)\n")
    code, out, _ = run("rm", key_id, "--format", "json")
    assert json.loads(out) == {"id": key_id, "name": "k", "deleted": True}
    assert run("list") == (0, "", "")
    code, _, err = run("rm", "pw")
    assert code == 1
    assert "no secret named 'pw'" in err


def test_encrypt_and_decrypt_through_pipes(store: Path) -> None:
    key_id = run("create-key", "--name", "images")[1].strip()
    data = secrets.token_bytes(200_000)
    code, sealed, err = run_bytes("encrypt", "-", "--key", "images", stdin=data)
    assert code == 0, err
    assert sealed.startswith(b"AKE1")
    assert err == "encrypted - -> -\n", "the report goes to standard error"
    code, plain, err = run_bytes("decrypt", "-", "--format", "json", stdin=sealed)
    assert code == 0, err
    assert plain == data
    assert json.loads(err) == {"source": "-", "output": "-", "key": key_id, "key_version": 1}
    # a file to standard output, and standard input to a file
    source = store / "data"
    source.write_bytes(data)
    code, sealed, _ = run_bytes("encrypt", str(source), "--key", key_id, "-o", "-")
    assert code == 0
    code, out, _ = run_bytes("decrypt", "-", "-o", str(store / "copy"), stdin=sealed)
    assert (code, out) == (0, f"decrypted - -> {store / 'copy'}\n".encode())
    assert (store / "copy").read_bytes() == data
    code, _, err = run_bytes("decrypt", "-", "-o", str(store / "never"), stdin=sealed[:-1])
    assert code == 1
    assert "failed authentication" in err
    assert not (store / "never").exists()
    code, _, err = run_bytes("decrypt", str(source))
    assert code == 2
    assert "give --output (SOURCE does not end in .ake)" in err


def test_encrypt_and_decrypt_report_in_json(store: Path) -> None:
    key_id = run("create-key", "--name", "k")[1].strip()
    plain = store / "doc"
    plain.write_bytes(b"the data")
    code, out, err = run("encrypt", str(plain), "--key", "k", "--format", "json")
    assert code == 0, err
    sealed = f"{plain}.ake"
    expected = {"source": str(plain), "output": sealed, "key": key_id, "key_version": 1}
    assert json.loads(out) == expected
    run("rotate", "k")
    plain.unlink()
    code, out, err = run("decrypt", sealed, "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {**expected, "source": sealed, "output": str(plain)}
    assert plain.read_bytes() == b"the data"
