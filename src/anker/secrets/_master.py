"""Master keys for the local store: from a file, an environment variable, or bound to Tang."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets as random

from anker.secrets._errors import SecretsError, StoreUnavailable

__all__ = [
    "MASTER_KEY_BYTES",
    "decode_master_key",
    "generate_master_key_file",
    "read_master_key",
    "read_master_key_file",
]

MASTER_KEY_BYTES = 32


def decode_master_key(data: bytes, where: str) -> bytes:
    """A 32-byte key from its raw bytes or its base64 text."""
    if len(data) == MASTER_KEY_BYTES:
        if all(32 <= byte < 127 for byte in data):  # random bytes are never all printable
            raise SecretsError(
                f"{where} holds {MASTER_KEY_BYTES} characters of text (a password?), not a"
                f" key: make a key with `anker secrets init FILE` or `(umask 077; head -c"
                f" {MASTER_KEY_BYTES} /dev/urandom | base64 > FILE)`"
            )
        return data
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise SecretsError(
            f"the master key in {where} is not {MASTER_KEY_BYTES} bytes, raw or base64-encoded"
        )
    return key


def generate_master_key_file(path: str) -> None:
    """Write a new random master key (base64) to ``path``, mode 0600; never overwrite one."""
    key = base64.b64encode(random.token_bytes(MASTER_KEY_BYTES)) + b"\n"
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretsError(f"{path} exists already; a master key is never overwritten") from None
    with os.fdopen(handle, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())


async def read_master_key(
    *, file: str | None = None, env: str | None = None, tang: str | None = None
) -> bytes:
    """The master key from exactly one source: a file, an environment variable (base64), or
    a JWE file bound to Tang servers (recovered over the network)."""
    given = [name for name, value in (("file", file), ("env", env), ("tang", tang)) if value]
    if len(given) != 1:
        raise SecretsError(
            "give exactly one master key source: master_key_file, master_key_env or "
            f"master_key_tang (got {', '.join(given) or 'none'})"
        )
    if file:
        return await asyncio.to_thread(read_master_key_file, file)
    if env:
        value = os.environ.get(env)
        if not value:
            raise StoreUnavailable(f"the master key variable {env} is not set")
        return decode_master_key(value.encode(), f"${env}")
    assert tang is not None
    from anker.secrets._tang import recover

    try:
        jwe = (await asyncio.to_thread(_read_bytes, tang)).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreUnavailable(f"cannot read the Tang-bound master key {tang}: {exc}") from None
    return decode_master_key(await recover(jwe), tang)


def read_master_key_file(path: str) -> bytes:
    """The key in a file that only its owner can read (refused otherwise, as ssh refuses such
    a private key: whoever else can read it can open the store)."""
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise SecretsError(
                    f"the master key file {path} can be read or written by others (mode"
                    f" {mode:04o}); run: chmod 600 {path}"
                )
            data = handle.read(4096)  # a key is 32 bytes or 45 characters of base64
    except OSError as exc:
        raise StoreUnavailable(f"cannot read the master key file {path}: {exc.strerror}") from None
    except ValueError as exc:  # a NUL in the path
        raise SecretsError(f"cannot read the master key file {path!r}: {exc}") from None
    return decode_master_key(data, path)


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()
