"""Encrypt then decrypt a stream with the envelope format, against raw AES-GCM in a loop.

Both sides work on 64 KiB buffers of the same data and keep every ciphertext in memory (as a
list of pieces); the raw side does only the AES-GCM calls (no header, nonces, stream reads or
writes), which is the floor.
The figure is MiB of plaintext per second through encrypt plus decrypt.
"""

from __future__ import annotations

import io
import os
import time

from bench._harness import Benchmark, Side, fixed

CHUNK = 64 * 1024
BLOCK = os.urandom(1024 * 1024)
BLOCK_VIEW = memoryview(BLOCK)


class _Source(io.RawIOBase):
    """``size`` bytes of BLOCK repeated, without holding them."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        at = self.left % len(BLOCK)
        n = min(len(buffer), self.left, len(BLOCK) - at)
        buffer[:n] = BLOCK_VIEW[at : at + n]
        self.left -= n
        return n


class _Kept(io.RawIOBase):
    """Keeps what is written as separate pieces (no growing buffer), and reads them back."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.reading: list[memoryview] = []

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        self.pieces.append(data)  # type: ignore[arg-type]
        return len(data)  # type: ignore[arg-type]

    def rewind(self) -> None:
        self.reading = [memoryview(piece) for piece in reversed(self.pieces)]

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self.reading:
            return 0
        piece = self.reading.pop()
        n = min(len(buffer), len(piece))
        buffer[:n] = piece[:n]
        if n < len(piece):
            self.reading.append(piece[n:])
        return n


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return len(data)  # type: ignore[arg-type]


def envelope_mib_s(mib: int) -> float:
    from anker.secrets.envelope import decrypt_stream, encrypt_stream

    kek = os.urandom(32)
    sealed = _Kept()
    began = time.perf_counter()
    encrypt_stream(_Source(mib * 1024 * 1024), sealed, kek, kek_id="bench", chunk_size=CHUNK)
    sealed.rewind()
    decrypt_stream(sealed, _Discard(), kek)
    return mib / (time.perf_counter() - began)


def raw_aesgcm_mib_s(mib: int) -> float:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    chunks = [BLOCK[i : i + CHUNK] for i in range(0, len(BLOCK), CHUNK)]
    began = time.perf_counter()
    sealed = [aead.encrypt(nonce, chunk, b"") for _ in range(mib) for chunk in chunks]
    for ciphertext in sealed:
        aead.decrypt(nonce, ciphertext, b"")
    return mib / (time.perf_counter() - began)


BENCHMARK = Benchmark(
    name="envelope",
    description="encrypt + decrypt a stream in 64 KiB chunks",
    unit="MiB/s",
    higher_is_better=True,
    sides=(
        Side("anker envelope", fixed(envelope_mib_s), is_anker=True),
        Side("raw AES-GCM loop (floor)", fixed(raw_aesgcm_mib_s), requires=("cryptography",)),
    ),
    count=1024,
    smoke_count=1,
    reps=5,
)
