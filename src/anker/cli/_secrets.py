"""``anker secrets``: keys and secrets in a store, Tang binding, envelope encryption of files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anker.cli._options import MACHINE_FORMATS, dump, output_format_option
from anker.cli._options import reported_errors as _reported
from anker.cli._progress import reading
from anker.secrets._objects import KINDS

if TYPE_CHECKING:
    from anker.secrets import KeyManager, ManagedObject

__all__ = ["secrets"]

T = TypeVar("T")
TEXT_KINDS = ("passphrase",)
TYPED_KINDS = ("passphrase", "opaque")  # the kinds a person can type at a terminal


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


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _typed_value(kind: str) -> bytes:
    """A value typed at the terminal: not echoed, asked twice, never empty. Runs in the main
    thread (before the store opens) so that Ctrl-C leaves the terminal as it was."""
    import getpass

    if kind not in TYPED_KINDS:
        raise click.UsageError(
            f"a {kind} is binary: give --file FILE, or pipe it on standard input"
        )
    try:
        first = getpass.getpass(f"{kind} (not shown): ")
        if not first:
            raise click.ClickException("nothing was typed; nothing stored")
        again = getpass.getpass(f"{kind} again: ")
    except EOFError:  # Ctrl-D
        raise click.ClickException("no value was typed (end of input); nothing stored") from None
    if again != first:
        raise click.ClickException("the two entries differ; nothing stored")
    return first.encode()


async def _given_value(kind: str, path: str | None, limit: int) -> bytes:
    """A value from --file or piped standard input; refused when empty."""
    value = await asyncio.to_thread(_read_value, path, limit)
    if path is None and kind in TEXT_KINDS:
        value = value.rstrip(b"\r\n")
    if not value:
        where = f"{path} is empty" if path else "nothing came on standard input"
        raise click.ClickException(f"the value is empty ({where}); nothing stored")
    return value


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
    click.echo(dump(output_format, data) if output_format in MACHINE_FORMATS else text)


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
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, created))
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
    """Store a value read from --file or standard input (never from the command line); at a
    terminal it is typed twice, not shown."""
    if algorithm is not None and kind != "symmetric":
        raise click.UsageError("--algorithm is for symmetric keys")
    typed = _typed_value(kind) if path is None and _stdin_is_terminal() else None

    async def use(manager: KeyManager) -> str:
        value = typed or await _given_value(kind, path, manager.driver.max_value_bytes)
        return await manager.store(kind, value, name=name, algorithm=algorithm)

    object_id = _run(ctx, use)
    click.echo(
        dump(output_format, {"id": object_id}) if output_format in MACHINE_FORMATS else object_id
    )


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
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, described))
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
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, [o.describe() for o in found]))
        return
    for obj in found:
        click.echo(f"{obj.id}  {obj.kind:<11} v{obj.version}  {obj.name or ''}".rstrip())


@secrets.command("rm")
@click.argument("ref", metavar="ID|NAME")
@click.option("--force", is_flag=True, help="Delete even while consumers use it.")
@output_format_option("text", "json")
@click.pass_context
def rm(ctx: click.Context, ref: str, force: bool, output_format: str) -> None:
    """Delete an object and all its versions."""

    async def use(manager: KeyManager) -> ManagedObject:
        found = await manager.find(ref)
        await manager.delete(found.id, force=force)
        return found

    found = _run(ctx, use)
    data = {"id": found.id, "name": found.name, "deleted": True}
    _say(output_format, data, f"deleted {_named(found)}")


def _named(obj: ManagedObject) -> str:
    return f"{obj.id} ({obj.name})" if obj.name else obj.id


@secrets.command("rotate")
@click.argument("ref", metavar="ID|NAME")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="The new value (default: standard input; keys get fresh material instead).",
)
@output_format_option("text", "json")
@click.pass_context
def rotate(ctx: click.Context, ref: str, path: str | None, output_format: str) -> None:
    """Add a new version: fresh key material for a symmetric key, else the value from --file
    or standard input (typed twice, not shown, at a terminal)."""
    typed: bytes | None = None
    if path is None and _stdin_is_terminal():
        found = _run(ctx, lambda manager: manager.find(ref))
        if found.kind != "symmetric":
            typed = _typed_value(found.kind)

    async def use(manager: KeyManager) -> tuple[ManagedObject, int]:
        found = await manager.find(ref)
        value = typed
        if value is None and (path is not None or found.kind != "symmetric"):
            value = await _given_value(found.kind, path, manager.driver.max_value_bytes)
        return found, await manager.rotate(found.id, value)

    found, version = _run(ctx, use)
    data = {"id": found.id, "name": found.name, "version": version}
    _say(output_format, data, f"{found.id} is now at version {version}")


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
    "--thumbprint",
    "thumbprints",
    multiple=True,
    metavar="THP|URL=THP",
    help="Trust only a server whose advertisement this signing key signed (its RFC 7638"
    " thumbprint, SHA-256 or SHA-1, as tang-show-keys prints it): THP for every --url,"
    " URL=THP for one (repeatable).",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The JWE to write."
)
@output_format_option("text", "json")
def bind_tang(
    *,
    master_key_file: str,
    urls: tuple[str, ...],
    threshold: int,
    thumbprints: tuple[str, ...],
    output: str,
    output_format: str,
) -> None:
    """Bind a master key to Tang servers; the store then opens with ?master_key_tang=OUTPUT.

    The JWE is the one clevis writes: `clevis decrypt < OUTPUT` recovers the key too. The
    servers' signing-key thumbprints are printed: pin them with --thumbprint.
    """
    from anker.secrets._master import read_master_key_file
    from anker.secrets._tang import bind_advertised, fetch_advertisements

    if not 1 <= threshold <= len(urls):
        raise click.UsageError(f"--threshold must be from 1 to {len(urls)} (the number of --url)")
    pins = _tang_pins(urls, thumbprints)
    with _reported():
        key = read_master_key_file(master_key_file)
        found = asyncio.run(fetch_advertisements(list(urls), thumbprints=pins))
        _write_new(output, bind_advertised(key, found, threshold=threshold).encode("ascii"))
    servers: list[dict[str, Any]] = [
        {"url": adv.url, "thumbprints": list(adv.thumbprints), "pinned": bool(pins[adv.url])}
        for adv in found
    ]
    if output_format in MACHINE_FORMATS:
        data = {"master_key_file": master_key_file, "output": output, "threshold": threshold}
        click.echo(dump(output_format, {**data, "servers": servers}))
        return
    click.echo(f"bound the key in {master_key_file} to {len(urls)} Tang server(s): {output}")
    for server in servers:
        how = "pinned" if server["pinned"] else "not pinned"
        click.echo(f"  {server['url']} signing key {', '.join(server['thumbprints'])} ({how})")
    if not any(server["pinned"] for server in servers):
        click.echo(
            "Check these thumbprints with each server's operator (tang-show-keys), then pin"
            " them with --thumbprint when binding."
        )


def _tang_pins(urls: tuple[str, ...], given: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """--thumbprint THP (every server) and URL=THP (one) as the pins of each server."""
    from anker.secrets._advertisement import pins_per_server

    shared: list[str] = []
    own: dict[str, list[str]] = {url: [] for url in urls}
    for value in given:
        url, _, pin = value.rpartition("=")
        if not url:
            shared.append(pin)
        elif url in own:
            own[url].append(pin)
        else:
            raise click.UsageError(f"--thumbprint {value}: {url} is not one of the --url servers")
    try:
        return pins_per_server(urls, {url: [*shared, *pins] for url, pins in own.items()})
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"--thumbprint: {exc}") from None


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


def _data_streams(source: str, target: str, *, sealed_out: bool) -> tuple[bool, bool]:
    """Whether SOURCE and OUTPUT are standard input and output (``-``); encrypted data is
    never written to a terminal."""
    to_stdout = target == "-"
    if to_stdout and sealed_out and sys.stdout.isatty():
        raise click.UsageError("refusing to write encrypted data to a terminal: use -o FILE")
    return source == "-", to_stdout


def _report(output_format: str, data: dict[str, Any], text: str, *, to_stdout: bool) -> None:
    """The closing line, on standard error when standard output carries the data."""
    click.echo(
        dump(output_format, data) if output_format in MACHINE_FORMATS else text, err=to_stdout
    )


@secrets.command("encrypt")
@click.argument("source", type=click.Path(exists=True, allow_dash=True, dir_okay=False))
@click.option("--key", "key_ref", required=True, metavar="ID|NAME", help="The key-encryption key.")
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True, dir_okay=False),
    help="Default: SOURCE.ake, or standard output when SOURCE is - (standard input).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@output_format_option("text", "json")
@click.pass_context
def encrypt(
    ctx: click.Context,
    *,
    source: str,
    key_ref: str,
    output: str | None,
    force: bool,
    output_format: str,
) -> None:
    """Encrypt a file (envelope format: a fresh data key wrapped by the named key)."""
    from anker.secrets._manager import check_envelope_key
    from anker.secrets.envelope import encrypt_file, encrypt_stream

    target = output or ("-" if source == "-" else f"{source}.ake")
    from_stdin, to_stdout = _data_streams(source, target, sealed_out=True)
    if not to_stdout:
        _refuse_existing(target, force)

    async def use(manager: KeyManager) -> ManagedObject:
        key = await manager.find(key_ref)
        check_envelope_key(key)
        if to_stdout:
            write: Callable[..., Any] = functools.partial(_to_stdout, encrypt_stream)
        else:
            write = functools.partial(encrypt_file, target=target, overwrite=force)
        with reading(source, f"encrypting {source}") as read_from:
            src: Any = sys.stdin.buffer if from_stdin else read_from
            await asyncio.to_thread(
                write, src, kek=key.reveal(), kek_id=key.id, kek_version=key.version
            )
        return key

    key = _run(ctx, use)
    data = {"source": source, "output": target, "key": key.id, "key_version": key.version}
    _report(output_format, data, f"encrypted {source} -> {target}", to_stdout=to_stdout)


def _to_stdout(stream_function: Callable[..., Any], source: Any, **arguments: Any) -> None:
    """Run an envelope ``*_stream`` function from a path or a stream to standard output."""
    with open(source, "rb") if isinstance(source, str) else contextlib.nullcontext(source) as src:
        stream_function(src, sys.stdout.buffer, **arguments)
    sys.stdout.buffer.flush()


@secrets.command("decrypt")
@click.argument("source", type=click.Path(exists=True, allow_dash=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True, dir_okay=False),
    help="Default: SOURCE without .ake, or standard output when SOURCE is - (standard input).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@output_format_option("text", "json")
@click.pass_context
def decrypt(
    ctx: click.Context, source: str, output: str | None, force: bool, output_format: str
) -> None:
    """Decrypt a file; the key (and its version) named in its header comes from the store.

    To standard output (-o -), every chunk is authenticated before it is written, but a
    stream cut short is found only at its end: on an error, discard what was written.
    """
    from anker._runtime import Portal
    from anker.secrets._manager import check_envelope_key
    from anker.secrets.envelope import decrypt_file, decrypt_stream

    if output is None:
        if source != "-" and not source.endswith(".ake"):
            raise click.UsageError("give --output (SOURCE does not end in .ake)")
        output = "-" if source == "-" else source[: -len(".ake")]
    target = output
    from_stdin, to_stdout = _data_streams(source, target, sealed_out=False)
    if not to_stdout:
        _refuse_existing(target, force)
    used: list[ManagedObject] = []

    async def use(manager: KeyManager) -> None:
        portal = Portal(asyncio.get_running_loop())

        async def find(kek_id: str, version: int) -> bytes:
            key = await manager.get(kek_id, version=version)
            check_envelope_key(key)
            used.append(key)
            return key.reveal()

        def kek(kek_id: str, version: int) -> bytes:  # called in the worker thread
            return portal.run(find(kek_id, version))

        with reading(source, f"decrypting {source}") as read_from:
            src: Any = sys.stdin.buffer if from_stdin else read_from
            if to_stdout:
                await asyncio.to_thread(_to_stdout, decrypt_stream, src, kek=kek)
            else:
                await asyncio.to_thread(decrypt_file, src, target, kek, overwrite=force)

    _run(ctx, use)
    key = used[0]
    data = {"source": source, "output": target, "key": key.id, "key_version": key.version}
    _report(output_format, data, f"decrypted {source} -> {target}", to_stdout=to_stdout)
