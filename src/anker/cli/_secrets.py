"""``anker secrets``: keys and secrets in a store, Tang binding, envelope encryption of files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anker.cli._options import output_format_option
from anker.cli._options import reported_errors as _reported
from anker.secrets._objects import KINDS

if TYPE_CHECKING:
    from anker.secrets import KeyManager, ManagedObject

__all__ = ["secrets"]

T = TypeVar("T")
TEXT_KINDS = ("passphrase",)


def _read_value(path: str | None, limit: int) -> bytes:
    """A value from a file or standard input (never the command line, where shells and ps would
    keep it): at most ``limit + 1`` bytes, enough to tell that it is too large."""
    with (
        _reported(),
        open(path, "rb") if path else contextlib.nullcontext(sys.stdin.buffer) as source,
    ):
        chunks: list[bytes] = []
        wanted = limit + 1
        while wanted and (chunk := source.read(min(wanted, 1024 * 1024))):
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)


def _run(ctx: click.Context, use: Callable[[KeyManager], Awaitable[T]]) -> T:
    from anker.secrets import KeyManager

    url = _url(ctx)

    async def main() -> T:
        async with await KeyManager.open(url) as manager:
            return await use(manager)

    with _reported():
        return asyncio.run(main())


def _url(ctx: click.Context) -> str:
    url: str | None = ctx.obj
    if not url:
        raise click.UsageError("name the store with --store URL or ANKER_SECRETS_URL")
    return url


@click.group()
@click.option(
    "--store",
    envvar="ANKER_SECRETS_URL",
    metavar="URL",
    help="The store, e.g. local:///var/lib/svc/secrets?master_key_file=/etc/svc/master.key "
    "(default: $ANKER_SECRETS_URL).",
)
@click.pass_context
def secrets(ctx: click.Context, store: str | None) -> None:
    """Keys and secrets in a store; Tang binding; envelope encryption of files."""
    ctx.obj = store


@secrets.command("init")
@click.argument("master_key_file", required=False, type=click.Path(dir_okay=False))
@output_format_option("text", "json")
@click.pass_context
def init(ctx: click.Context, master_key_file: str | None, output_format: str) -> None:
    """Write a new master key to MASTER_KEY_FILE (mode 0600; never overwrites); without it,
    make the (new, empty) store that --store names. No other command makes a store."""
    if master_key_file is not None:
        from anker.secrets._master import generate_master_key_file

        with _reported():
            generate_master_key_file(master_key_file)
        _say(
            output_format,
            {"master_key_file": master_key_file},
            f"wrote a new master key to {master_key_file}",
        )
        return
    from anker.secrets import KeyManager

    url = _url(ctx)

    async def main() -> str:
        async with await KeyManager.initialize(url) as manager:
            where = getattr(manager.driver, "directory", None)
            return where if isinstance(where, str) else repr(manager.driver)

    with _reported():
        made = asyncio.run(main())
    _say(output_format, {"store": made}, f"made a new store: {made}")


def _say(output_format: str, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data) if output_format == "json" else text)


@secrets.command("create-key")
@click.option("--name", help="A name to find the key by.")
@click.option(
    "--algorithm",
    type=click.Choice(["AES", "HMAC", "RSA", "EC"]),
    default="AES",
    show_default=True,
    help="RSA and EC make a key pair.",
)
@click.option("--bits", type=int, help="Key size (AES 256, HMAC 256, RSA 2048, EC 256 by default).")
@output_format_option("text", "json")
@click.pass_context
def create_key(
    ctx: click.Context, name: str | None, algorithm: str, bits: int | None, output_format: str
) -> None:
    """Generate a symmetric key, or an RSA/EC key pair."""

    async def use(manager: KeyManager) -> dict[str, str]:
        if algorithm in ("RSA", "EC"):
            size = bits or (2048 if algorithm == "RSA" else 256)
            private_id, public_id = await manager.create_key_pair(
                name=name, algorithm=algorithm, bit_length=size
            )
            return {"private": private_id, "public": public_id}
        key_id = await manager.create_key(name=name, algorithm=algorithm, bit_length=bits or 256)
        return {"id": key_id}

    created = _run(ctx, use)
    if output_format == "json":
        click.echo(json.dumps(created))
    else:
        for role, object_id in created.items():
            click.echo(f"{role}: {object_id}" if len(created) > 1 else object_id)


@secrets.command("put")
@click.argument(
    "kind",
    type=click.Choice(KINDS),
)
@click.option("--name", help="A name to find it by (e.g. the one ${secret:NAME} uses).")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the value from a file.",
)
@click.option(
    "--algorithm",
    type=click.Choice(["AES", "HMAC"]),
    help="For a symmetric key (default AES); its size must suit the algorithm.",
)
@output_format_option("text", "json")
@click.pass_context
def put(
    ctx: click.Context,
    kind: Any,
    *,
    name: str | None,
    path: str | None,
    algorithm: str | None,
    output_format: str,
) -> None:
    """Store a value read from --file or standard input (never from the command line)."""
    if algorithm is not None and kind != "symmetric":
        raise click.UsageError("--algorithm is for symmetric keys")

    async def use(manager: KeyManager) -> str:
        value = await asyncio.to_thread(_read_value, path, manager.driver.max_value_bytes)
        if path is None and kind in TEXT_KINDS:
            value = value.rstrip(b"\r\n")
        return await manager.store(kind, value, name=name, algorithm=algorithm)

    object_id = _run(ctx, use)
    click.echo(json.dumps({"id": object_id}) if output_format == "json" else object_id)


@secrets.command("get")
@click.argument("ref", metavar="ID|NAME")
@click.option("--version", type=int, help="An earlier version.")
@click.option("--reveal", is_flag=True, help="Print the secret itself, not only what it is.")
@output_format_option("text", "json")
@click.pass_context
def get(
    ctx: click.Context, ref: str, version: int | None, reveal: bool, output_format: str
) -> None:
    """Show an object; its value only with --reveal."""

    async def use(manager: KeyManager) -> ManagedObject:
        found = await manager.find(ref)
        if version is not None:
            found = await manager.get(found.id, version=version)
        return found if reveal else found.without_value()

    obj = _run(ctx, use)
    described = obj.describe()
    if reveal:
        raw = obj.reveal()
        try:
            described["value"] = raw.decode() if obj.kind in TEXT_KINDS else None
        except UnicodeDecodeError:
            described["value"] = None
        if described["value"] is None:
            described["value"] = base64.b64encode(raw).decode()
            described["value_encoding"] = "base64"
    if output_format == "json":
        click.echo(json.dumps(described, indent=2))
        return
    for key, value in described.items():
        click.echo(f"{key}: {value}")


@secrets.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only objects of this kind.")
@click.option("--name", help="Only objects with this name.")
@output_format_option("text", "json")
@click.pass_context
def list_(ctx: click.Context, kind: Any, name: str | None, output_format: str) -> None:
    """List objects (never their values)."""
    found = _run(ctx, lambda manager: manager.list(kind=kind, name=name))
    if output_format == "json":
        click.echo(json.dumps([o.describe() for o in found], indent=2))
        return
    for obj in found:
        click.echo(f"{obj.id}  {obj.kind:<11} v{obj.version}  {obj.name or ''}".rstrip())


@secrets.command("rm")
@click.argument("object_id", metavar="ID")
@click.option("--force", is_flag=True, help="Delete even while consumers use it.")
@click.pass_context
def rm(ctx: click.Context, object_id: str, force: bool) -> None:
    """Delete an object and all its versions."""
    _run(ctx, lambda manager: manager.delete(object_id, force=force))
    click.echo(f"deleted {object_id}")


@secrets.command("rotate")
@click.argument("object_id", metavar="ID")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="The new value (not for keys).",
)
@click.pass_context
def rotate(ctx: click.Context, object_id: str, path: str | None) -> None:
    """Add a new version: fresh key material, or a value from --file."""

    async def use(manager: KeyManager) -> int:
        value = None
        if path is not None:
            value = await asyncio.to_thread(_read_value, path, manager.driver.max_value_bytes)
        return await manager.rotate(object_id, value)

    version = _run(ctx, use)
    click.echo(f"{object_id} is now at version {version}")


@secrets.command("bind-tang")
@click.option(
    "--master-key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The key to bind (raw or base64).",
)
@click.option("--url", "urls", multiple=True, required=True, help="A Tang server (repeatable).")
@click.option(
    "--threshold", type=int, default=1, show_default=True, help="Servers needed to recover."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The JWE to write."
)
def bind_tang(master_key_file: str, urls: tuple[str, ...], threshold: int, output: str) -> None:
    """Bind a master key to Tang servers; the store then opens with ?master_key_tang=OUTPUT.

    The JWE is the one clevis writes: `clevis decrypt < OUTPUT` recovers the key too.
    """
    from anker.secrets._master import read_master_key_file
    from anker.secrets._tang import bind

    if not 1 <= threshold <= len(urls):
        raise click.UsageError(f"--threshold must be from 1 to {len(urls)} (the number of --url)")
    with _reported():
        key = read_master_key_file(master_key_file)
        jwe = asyncio.run(bind(key, list(urls), threshold=threshold))
        _write_new(output, jwe.encode("ascii"))
    click.echo(f"bound the key in {master_key_file} to {len(urls)} Tang server(s): {output}")


def _refuse_existing(target: str, force: bool) -> None:
    if os.path.lexists(target) and not force:
        raise click.UsageError(f"{target} exists; pass --force to replace it")


def _write_new(path: str, data: bytes) -> None:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists already; it is never overwritten") from None
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


@secrets.command("encrypt")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_ref", required=True, metavar="ID|NAME", help="The key-encryption key.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Default: SOURCE.ake")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.pass_context
def encrypt(ctx: click.Context, source: str, key_ref: str, output: str | None, force: bool) -> None:
    """Encrypt a file (envelope format: a fresh data key wrapped by the named key)."""
    from anker.secrets._manager import check_envelope_key
    from anker.secrets.envelope import encrypt_file

    target = output or f"{source}.ake"
    _refuse_existing(target, force)

    async def use(manager: KeyManager) -> None:
        key = await manager.find(key_ref)
        check_envelope_key(key)
        await asyncio.to_thread(
            functools.partial(
                encrypt_file,
                source,
                target,
                key.reveal(),
                overwrite=force,
                kek_id=key.id,
                kek_version=key.version,
            )
        )

    _run(ctx, use)
    click.echo(f"encrypted {source} -> {target}")


@secrets.command("decrypt")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Default: SOURCE without .ake"
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.pass_context
def decrypt(ctx: click.Context, source: str, output: str | None, force: bool) -> None:
    """Decrypt a file; the key (and its version) named in its header comes from the store."""
    from anker.secrets._manager import check_envelope_key
    from anker.secrets.envelope import decrypt_file, read_header

    if output is None:
        if not source.endswith(".ake"):
            raise click.UsageError("give --output (SOURCE does not end in .ake)")
        output = source[: -len(".ake")]
    target = output
    _refuse_existing(target, force)
    with _reported(), open(source, "rb") as handle:
        header = read_header(handle)

    async def use(manager: KeyManager) -> None:
        key = await manager.get(header.kek_id, version=header.kek_version)
        check_envelope_key(key)
        await asyncio.to_thread(
            functools.partial(decrypt_file, source, target, key.reveal(), overwrite=force)
        )

    _run(ctx, use)
    click.echo(f"decrypted {source} -> {target}")
