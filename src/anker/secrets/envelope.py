"""Envelope encryption for large data, in constant memory.

Each object gets a fresh 256-bit data key. The data is encrypted with AES-256-GCM in chunks
(64 KiB by default), each authenticated on its own with a nonce made of a random prefix, the
chunk's number and a last-chunk flag, so a modified, reordered, dropped or truncated chunk, or
data added after the end, fails authentication. The data key travels in the header, wrapped
(AES key wrap, RFC 3394) by a key-encryption key that the header names by id and version. Re-
wrapping under another key rewrites only the header: the data is never re-encrypted.

Format (all integers big-endian)::

    b"AKE1"  magic and format version
    u32      length of the header
    header   UTF-8 JSON, compact, keys in this order (a header in any other form is refused):
             {"alg": "A256GCM-STREAM", "chunk": 65536, "nonce": b64(7 bytes),
              "kek": {"id": str, "version": int, "alg": "A256KW", "wrapped": b64(40 bytes)}}
    chunks   AES-256-GCM(data key, nonce = prefix || u32 index || u8 last, chunk, aad) + 16-byte tag

Every chunk but the last holds exactly ``chunk`` bytes; the last holds fewer (possibly none).
The associated data is the magic with the fields that re-wrapping never changes
(``alg``, ``chunk``, ``nonce``).

This module needs only the standard library and ``cryptography``, so SDKs and clients can use
it without the rest of anker.

.. versionadded:: 0.1
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets as random
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

try:  # within anker, envelope errors are SecretsErrors; alone, plain exceptions
    from anker.secrets._errors import SecretsError as _ErrorBase
except ImportError:  # pragma: no cover - the module copied on its own
    _ErrorBase = Exception  # type: ignore[assignment, misc]

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_CHUNK",
    "EnvelopeError",
    "EnvelopeHeader",
    "EnvelopeTampered",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "read_header",
    "rewrap_file",
    "rewrap_stream",
    "unwrap_key",
    "wrap_key",
]

MAGIC = b"AKE1"
ALGORITHM = "A256GCM-STREAM"
WRAP_ALGORITHM = "A256KW"
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 16 * 1024 * 1024
MAX_HEADER = 64 * 1024
TAG = 16
PREFIX = 7
KEY_BYTES = 32
MAX_CHUNKS = 2**32


class EnvelopeError(_ErrorBase):
    """The data or its key cannot be used: not an envelope, or no key for it."""


class EnvelopeTampered(EnvelopeError):
    """Authentication failed: the data (or its wrapped key) was modified, reordered or cut.

    Never raised after handing out plaintext that failed authentication: every chunk is
    checked before it is written.
    """


@dataclass(frozen=True)
class EnvelopeHeader:
    """What the header of an encrypted object says."""

    kek_id: str
    kek_version: int
    wrapped_key: bytes
    nonce_prefix: bytes
    chunk_size: int = DEFAULT_CHUNK

    def associated_data(self) -> bytes:
        """The bytes every chunk authenticates: the algorithm, chunk size and nonce prefix, so that
        none can be changed unnoticed.
        """
        fixed = {"alg": ALGORITHM, "chunk": self.chunk_size, "nonce": _b64(self.nonce_prefix)}
        return MAGIC + json.dumps(fixed, sort_keys=True, separators=(",", ":")).encode()

    def encode(self) -> bytes:
        """The header as written at the start of an envelope."""
        document = {
            "alg": ALGORITHM,
            "chunk": self.chunk_size,
            "nonce": _b64(self.nonce_prefix),
            "kek": {
                "id": self.kek_id,
                "version": self.kek_version,
                "alg": WRAP_ALGORITHM,
                "wrapped": _b64(self.wrapped_key),
            },
        }
        body = json.dumps(document, separators=(",", ":")).encode()
        return MAGIC + struct.pack(">I", len(body)) + body


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """Wrap a key under a key-encryption key (AES key wrap): a link of a key chain."""
    return aes_key_wrap(_check_key(kek, "key-encryption key"), key)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """Unwrap a key; a wrong key-encryption key or a modified wrapped key is EnvelopeTampered."""
    try:
        return aes_key_unwrap(_check_key(kek, "key-encryption key"), wrapped)
    except InvalidUnwrap:
        raise EnvelopeTampered(
            "the data key does not unwrap: wrong key-encryption key, or a modified header"
        ) from None


def encrypt_stream(
    source: BinaryIO,
    sink: BinaryIO,
    kek: bytes,
    *,
    kek_id: str,
    kek_version: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
) -> EnvelopeHeader:
    """Encrypt everything ``source`` yields into ``sink`` under a fresh data key."""
    if not 0 < chunk_size <= MAX_CHUNK:
        raise EnvelopeError(f"chunk_size must be from 1 to {MAX_CHUNK} bytes, not {chunk_size}")
    _check_kek_name(kek_id, kek_version)
    data_key = AESGCM.generate_key(bit_length=256)
    header = EnvelopeHeader(
        kek_id=kek_id,
        kek_version=kek_version,
        wrapped_key=wrap_key(kek, data_key),
        nonce_prefix=random.token_bytes(PREFIX),
        chunk_size=chunk_size,
    )
    sink.write(header.encode())
    aead, aad, prefix = AESGCM(data_key), header.associated_data(), header.nonce_prefix
    # Only a short read proves the end, so each full chunk waits for a look at the next one:
    # two buffers take turns, and nothing is copied.
    current, following = bytearray(chunk_size), bytearray(chunk_size)
    filled = _read_full(source, current)
    for index in range(MAX_CHUNKS):
        if filled < chunk_size:
            nonce = prefix + struct.pack(">IB", index, 1)
            sink.write(aead.encrypt(nonce, memoryview(current)[:filled], aad))
            return header
        next_filled = _read_full(source, following)
        sink.write(aead.encrypt(prefix + struct.pack(">IB", index, 0), current, aad))
        current, following, filled = following, current, next_filled
    raise EnvelopeError(f"more than {MAX_CHUNKS} chunks: use a larger chunk_size")


def read_header(source: BinaryIO) -> EnvelopeHeader:
    """Read and check the header; ``source`` is left at the first chunk."""
    start = source.read(8)
    if len(start) < 8 or start[:4] != MAGIC:
        raise EnvelopeError("not an anker envelope (no AKE1 header)")
    (length,) = struct.unpack(">I", start[4:])
    if length > MAX_HEADER:
        raise EnvelopeError(f"the header claims {length} bytes; at most {MAX_HEADER} are allowed")
    body = source.read(length)
    try:
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("kek"), dict):
            raise ValueError("not a header object")
        kek = document["kek"]
        header = EnvelopeHeader(
            kek_id=str(kek["id"]),
            kek_version=int(kek["version"]),
            wrapped_key=_unb64(kek["wrapped"]),
            nonce_prefix=_unb64(document["nonce"]),
            chunk_size=int(document["chunk"]),
        )
        algorithms = (document["alg"], kek["alg"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise EnvelopeError(f"the envelope header is damaged: {type(exc).__name__}") from None
    if algorithms != (ALGORITHM, WRAP_ALGORITHM):
        raise EnvelopeError(f"unsupported algorithms {algorithms}")
    if len(header.nonce_prefix) != PREFIX or not 0 < header.chunk_size <= MAX_CHUNK:
        raise EnvelopeError("the envelope header is damaged: bad nonce or chunk size")
    if header.encode() != start + body:  # one encoding per header: no byte changes unnoticed
        raise EnvelopeError("the envelope header is not in its canonical form")
    return header


def decrypt_stream(
    source: BinaryIO,
    sink: BinaryIO,
    kek: bytes | Callable[[str, int], bytes],
) -> EnvelopeHeader:
    """Decrypt an envelope from ``source`` into ``sink``.

    ``kek`` is the key-encryption key, or a function that finds it from the id and version the
    header names. Each chunk is authenticated before it is written; a stream that ends early,
    has chunks out of order or modified, or carries data after its end raises
    :class:`EnvelopeTampered`, after which what ``sink`` holds must be discarded (the file
    helpers do that).
    """
    header = read_header(source)
    key = kek(header.kek_id, header.kek_version) if callable(kek) else kek
    aead = AESGCM(unwrap_key(key, header.wrapped_key))
    aad, prefix, size = header.associated_data(), header.nonce_prefix, header.chunk_size + TAG
    buffer = bytearray(size)
    for index in range(MAX_CHUNKS):
        got = _read_full(source, buffer)
        last = got < size
        nonce = prefix + struct.pack(">IB", index, 1 if last else 0)
        try:
            sink.write(aead.decrypt(nonce, memoryview(buffer)[:got], aad))
        except InvalidTag:
            what = "cut short" if got < TAG else "modified, reordered or cut short"
            raise EnvelopeTampered(f"chunk {index} failed authentication: {what}") from None
        if last:  # a short read is the end: anything appended made it fail authentication
            return header
    raise EnvelopeTampered(f"no last chunk within {MAX_CHUNKS} chunks")


def rewrap_stream(
    source: BinaryIO,
    sink: BinaryIO,
    old_kek: bytes | Callable[[str, int], bytes],
    new_kek: bytes,
    *,
    kek_id: str,
    kek_version: int = 1,
) -> EnvelopeHeader:
    """Copy an envelope with its data key wrapped under ``new_kek``; the chunks are copied
    byte for byte, never decrypted or re-encrypted."""
    _check_kek_name(kek_id, kek_version)
    header = read_header(source)
    key = old_kek(header.kek_id, header.kek_version) if callable(old_kek) else old_kek
    data_key = unwrap_key(key, header.wrapped_key)
    new_header = EnvelopeHeader(
        kek_id=kek_id,
        kek_version=kek_version,
        wrapped_key=wrap_key(new_kek, data_key),
        nonce_prefix=header.nonce_prefix,
        chunk_size=header.chunk_size,
    )
    sink.write(new_header.encode())
    while block := source.read(1024 * 1024):
        sink.write(block)
    return new_header


def encrypt_file(
    source: str | BinaryIO, target: str, kek: bytes, *, overwrite: bool = True, **options: object
) -> EnvelopeHeader:
    """Encrypt a file (a path, or a binary stream such as standard input) into ``target``
    (written atomically: all of it, or nothing).

    With ``overwrite=False`` an existing ``target`` is left alone (EnvelopeError).
    """
    with _reading(source) as src:
        return _atomically(
            target,
            lambda out: encrypt_stream(src, out, kek, **options),  # type: ignore[arg-type]
            overwrite=overwrite,
        )


def decrypt_file(
    source: str | BinaryIO,
    target: str,
    kek: bytes | Callable[[str, int], bytes],
    *,
    overwrite: bool = True,
) -> EnvelopeHeader:
    """Decrypt a file (a path, or a binary stream) into ``target``; on any failure ``target``
    is not created.

    With ``overwrite=False`` an existing ``target`` is left alone (EnvelopeError).
    """
    with _reading(source) as src:
        return _atomically(target, lambda out: decrypt_stream(src, out, kek), overwrite=overwrite)


def rewrap_file(
    path: str, old_kek: bytes | Callable[[str, int], bytes], new_kek: bytes, **options: object
) -> EnvelopeHeader:
    """Re-wrap a file's data key in place (atomically), without re-encrypting its data."""
    mode = os.stat(path).st_mode & 0o7777  # the envelope keeps its mode
    with open(path, "rb") as src:
        return _atomically(
            path,
            lambda out: rewrap_stream(src, out, old_kek, new_kek, **options),  # type: ignore[arg-type]
            mode,
        )


def _reading(source: str | BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    """A path opened for reading, or a stream as it is (left open for its owner)."""
    if isinstance(source, str):
        return open(source, "rb")
    return contextlib.nullcontext(source)


def _atomically(
    target: str,
    write: Callable[[BinaryIO], EnvelopeHeader],
    mode: int = 0o600,
    *,
    overwrite: bool = True,
) -> EnvelopeHeader:
    """Write ``target`` whole or not at all: a temporary file (``mode``, 0600 by default: it
    may hold plaintext), synced, renamed over the target, and the directory synced.

    Without ``overwrite`` the temporary file is hard-linked to the target instead, which fails
    if the target exists, even one made while the data was being written."""
    directory = os.path.dirname(os.path.abspath(target))
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{random.token_hex(4)}.tmp")
    if not overwrite and os.path.lexists(target):
        raise _exists(target)
    try:
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as exc:  # a missing or read-only directory: name the target
            raise OSError(exc.errno, exc.strerror, target) from None
        with os.fdopen(handle, "wb") as out:
            header = write(out)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)
            except FileExistsError:
                raise _exists(target) from None
            os.unlink(temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_handle)
    finally:
        os.close(directory_handle)
    return header


def _exists(target: str) -> EnvelopeError:
    return EnvelopeError(f"{target} exists; it is replaced only when asked to (--force)")


def _check_kek_name(kek_id: object, kek_version: object) -> None:
    if not isinstance(kek_id, str) or not kek_id:
        raise EnvelopeError(f"kek_id must be a non-empty string, not {kek_id!r}")
    if isinstance(kek_version, bool) or not isinstance(kek_version, int) or kek_version < 0:
        raise EnvelopeError(f"kek_version must be a whole number, not {kek_version!r}")


def _read_full(source: BinaryIO, buffer: bytearray) -> int:
    """Fill ``buffer`` unless the stream ends first; return how many bytes were read."""
    view = memoryview(buffer)
    readinto = getattr(source, "readinto", None)
    filled = 0
    while filled < len(buffer):
        if readinto is not None:
            got = readinto(view[filled:])
        else:
            block = source.read(len(buffer) - filled)
            got = len(block)
            view[filled : filled + got] = block
        if not got:
            break
        filled += got
    return filled


def _check_key(key: bytes, what: str) -> bytes:
    if len(key) != KEY_BYTES:
        raise EnvelopeError(f"a {what} has {KEY_BYTES} bytes, not {len(key)}")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
