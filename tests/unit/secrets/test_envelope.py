"""Envelope encryption: round trips, every kind of tampering, re-wrapping, key chains, memory."""

from __future__ import annotations

import ast
import io
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anker.secrets import envelope
from anker.secrets.envelope import (
    EnvelopeError,
    EnvelopeTampered,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    encrypt_stream,
    read_header,
    rewrap_file,
    unwrap_key,
    wrap_key,
)

KEK = bytes(range(32))
SMALL = 16  # a tiny chunk size, so that short inputs span many chunks


def seal(data: bytes, chunk_size: int = SMALL, kek: bytes = KEK) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, kek, kek_id="kek-1", kek_version=3, chunk_size=chunk_size)
    return out.getvalue()


def open_(sealed: bytes, kek: bytes = KEK) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(sealed), out, kek)
    return out.getvalue()


def chunk_offsets(sealed: bytes) -> tuple[int, int]:
    """Where the first chunk starts, and the sealed size of a full chunk."""
    source = io.BytesIO(sealed)
    header = read_header(source)
    return source.tell(), header.chunk_size + 16


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, 3 * SMALL + 5])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    data = secrets.token_bytes(size)
    sealed = seal(data)
    start, full = chunk_offsets(sealed)
    chunks = size // SMALL + 1  # the last chunk is always short, possibly empty
    assert len(sealed) == start + chunks * 16 + size
    assert open_(sealed) == data
    assert full == SMALL + 16


@given(st.binary(max_size=500), st.integers(1, 64))
@settings(max_examples=60)
def test_round_trip_any_data_any_chunk_size(data: bytes, chunk_size: int) -> None:
    assert open_(seal(data, chunk_size)) == data


def test_the_header_names_the_wrapping_key() -> None:
    header = read_header(io.BytesIO(seal(b"x")))
    assert (header.kek_id, header.kek_version, header.chunk_size) == ("kek-1", 3, SMALL)
    seen: list[tuple[str, int]] = []

    def lookup(kek_id: str, version: int) -> bytes:
        seen.append((kek_id, version))
        return KEK

    decrypt_stream(io.BytesIO(seal(b"x")), io.BytesIO(), lookup)
    assert seen == [("kek-1", 3)]


def strict_lookup(kek_id: str, version: int) -> bytes:
    if (kek_id, version) != ("kek-1", 3):
        raise EnvelopeError(f"no key-encryption key {kek_id} version {version}")
    return KEK


def test_every_modified_byte_is_detected() -> None:
    data = secrets.token_bytes(3 * SMALL + 7)
    sealed = seal(data)
    for position in range(len(sealed)):
        broken = bytearray(sealed)
        broken[position] ^= 0x40
        with pytest.raises(EnvelopeError):  # EnvelopeTampered, or a damaged header
            decrypt_stream(io.BytesIO(bytes(broken)), io.BytesIO(), strict_lookup)


def test_truncation_at_every_length_is_detected() -> None:
    sealed = seal(secrets.token_bytes(2 * SMALL + 3))
    for length in range(len(sealed)):
        with pytest.raises(EnvelopeError):
            open_(sealed[:length])


def test_reordered_dropped_and_appended_chunks_are_detected() -> None:
    data = secrets.token_bytes(3 * SMALL + 2)
    sealed = seal(data)
    start, full = chunk_offsets(sealed)
    head, body = sealed[:start], sealed[start:]
    chunks = [body[i : i + full] for i in range(0, len(body), full)]
    assert len(chunks) == 4
    with pytest.raises(EnvelopeTampered, match="chunk 0 failed authentication"):
        open_(head + chunks[1] + chunks[0] + chunks[2] + chunks[3])
    with pytest.raises(EnvelopeTampered, match="chunk 1"):
        open_(head + chunks[0] + chunks[2] + chunks[3])
    with pytest.raises(EnvelopeTampered, match="chunk 3 failed authentication"):
        open_(sealed + b"\x00")  # appended data
    with pytest.raises(EnvelopeTampered):
        open_(head + chunks[0] + chunks[1] + chunks[2])  # the last chunk dropped
    other = seal(data)  # same data, another data key and nonce
    other_start, _ = chunk_offsets(other)
    with pytest.raises(EnvelopeTampered):
        open_(head + other[other_start:])


def test_wrong_key_and_not_an_envelope() -> None:
    with pytest.raises(EnvelopeTampered, match="does not unwrap"):
        open_(seal(b"data"), kek=bytes(32))
    with pytest.raises(EnvelopeError, match="not an anker envelope"):
        open_(b"plain text")
    with pytest.raises(EnvelopeError, match="32 bytes, not 16"):
        seal(b"data", kek=bytes(16))


def test_rewrapping_changes_only_the_header(tmp_path: Path) -> None:
    data = secrets.token_bytes(10_000)
    plain, sealed_path = tmp_path / "plain", tmp_path / "sealed"
    plain.write_bytes(data)
    encrypt_file(str(plain), str(sealed_path), KEK, kek_id="old", chunk_size=1024)
    before = sealed_path.read_bytes()
    new_kek = secrets.token_bytes(32)
    header = rewrap_file(str(sealed_path), KEK, new_kek, kek_id="new", kek_version=2)
    after = sealed_path.read_bytes()
    old_start, _ = chunk_offsets(before)
    new_start, _ = chunk_offsets(after)
    assert after[new_start:] == before[old_start:], "the data must not be re-encrypted"
    assert (header.kek_id, header.kek_version) == ("new", 2)
    with pytest.raises(EnvelopeTampered):
        open_(after, kek=KEK)
    assert open_(after, kek=new_kek) == data


def test_a_key_chain_rotates_without_touching_the_data() -> None:
    """user key -> project key -> container key -> data key: re-key one link only."""
    user, project, container = (secrets.token_bytes(32) for _ in range(3))
    wrapped_project = wrap_key(user, project)
    wrapped_container = wrap_key(project, container)
    data = secrets.token_bytes(5000)
    sealed = seal(data, chunk_size=512, kek=container)

    def container_key(chain_user: bytes, chain_project: bytes, chain_container: bytes) -> bytes:
        return unwrap_key(unwrap_key(chain_user, chain_project), chain_container)

    assert open_(sealed, kek=container_key(user, wrapped_project, wrapped_container)) == data
    # rotate the project key: only the container key's wrapping changes
    new_project = secrets.token_bytes(32)
    rewrapped_container = wrap_key(new_project, unwrap_key(project, wrapped_container))
    new_wrapped_project = wrap_key(user, new_project)
    key = container_key(user, new_wrapped_project, rewrapped_container)
    assert open_(sealed, kek=key) == data
    with pytest.raises(EnvelopeTampered):
        container_key(user, wrapped_project, rewrapped_container)


def test_a_failed_decryption_leaves_no_output_file(tmp_path: Path) -> None:
    plain, sealed, out = tmp_path / "plain", tmp_path / "sealed", tmp_path / "out"
    plain.write_bytes(secrets.token_bytes(5000))
    encrypt_file(str(plain), str(sealed), KEK, kek_id="k", chunk_size=1024)
    data = sealed.read_bytes()
    sealed.write_bytes(data[:-100])
    with pytest.raises(EnvelopeTampered):
        decrypt_file(str(sealed), str(out), KEK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "sealed"]


def test_the_module_needs_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(Path(envelope.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"cryptography", "__future__", "anker"}
    assert imported <= allowed
    # anker itself only optionally, for the error hierarchy:
    source = Path(envelope.__file__).read_text()
    assert source.count("from anker") == 1
    assert "except ImportError" in source


MEMORY_PROBE = textwrap.dedent(
    """
    import hashlib, io, os, resource, sys, tempfile
    from anker.secrets.envelope import decrypt_stream, encrypt_stream

    SIZE = 2 * 1024**3
    BLOCK = os.urandom(1024 * 1024)

    class Source(io.RawIOBase):
        def __init__(self):
            self.left = SIZE
        def readable(self):
            return True
        def readinto(self, buffer):
            at = (SIZE - self.left) % len(BLOCK)
            n = min(len(buffer), self.left, len(BLOCK) - at)
            buffer[:n] = BLOCK[at : at + n]
            self.left -= n
            return n

    class HashingSink(io.RawIOBase):
        def __init__(self):
            self.digest, self.size = hashlib.sha256(), 0
        def writable(self):
            return True
        def write(self, data):
            self.digest.update(data)
            self.size += len(data)
            return len(data)

    def peak_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    kek = os.urandom(32)
    before = peak_mib()
    with tempfile.TemporaryFile(dir=sys.argv[1]) as sealed:
        encrypt_stream(Source(), sealed, kek, kek_id="k")
        sealed.seek(0)
        sink = HashingSink()
        decrypt_stream(sealed, sink, kek)
    expected = hashlib.sha256()
    for _ in range(SIZE // len(BLOCK)):
        expected.update(BLOCK)
    assert sink.size == SIZE and sink.digest.digest() == expected.digest()
    print(f"{peak_mib() - before:.1f}")
    """
)


def test_a_2_gib_stream_in_constant_memory(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    growth_mib = float(done.stdout)
    assert growth_mib < 64, f"peak RSS grew by {growth_mib} MiB"


def test_output_files_are_private_and_rewrapping_keeps_the_mode(tmp_path: Path) -> None:
    plain, sealed, out = tmp_path / "plain", tmp_path / "sealed", tmp_path / "out"
    plain.write_bytes(b"secret data")
    encrypt_file(str(plain), str(sealed), KEK, kek_id="k")
    decrypt_file(str(sealed), str(out), KEK)
    assert out.stat().st_mode & 0o777 == 0o600, "decrypted data is private"
    assert sealed.stat().st_mode & 0o777 == 0o600
    sealed.chmod(0o640)
    rewrap_file(str(sealed), KEK, secrets.token_bytes(32), kek_id="k2")
    assert sealed.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("kek_id", "version"), [("k", "2"), ("k", 1.5), ("k", True), (123, 1), ("", 1)]
)
def test_key_names_that_could_not_be_read_back_are_refused(kek_id: object, version: object) -> None:
    with pytest.raises(EnvelopeError, match="must be"):
        encrypt_stream(io.BytesIO(b"x"), io.BytesIO(), KEK, kek_id=kek_id, kek_version=version)  # type: ignore[arg-type]


def test_a_deeply_nested_header_is_damaged_not_a_crash() -> None:
    body = b"[" * 60_000
    with pytest.raises(EnvelopeError, match="damaged"):
        read_header(io.BytesIO(b"AKE1" + len(body).to_bytes(4, "big") + body))
