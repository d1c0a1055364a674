"""The few JOSE pieces that Tang bindings use: base64url, P-521 JWKs, thumbprints, ES512
signatures, and compact JWEs with A256GCM content encryption (``dir`` or ``ECDH-ES``).

Only what clevis produces and reads is supported, and everything parsed is checked: a
malformed input raises :class:`JOSEError` saying what is wrong, never a ``KeyError`` deep
inside. Headers are serialized as jose (clevis's library) does: keys sorted, no spaces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from anker.secrets import _p521
from anker.secrets._p521 import Point

__all__ = [
    "JSON",
    "CompactJWE",
    "JOSEError",
    "b64url_decode",
    "b64url_encode",
    "concat_kdf",
    "dumps",
    "ecdh_es_encrypt",
    "encrypt_compact",
    "jwk_from_point",
    "parse_compact",
    "point_from_jwk",
    "thumbprint",
    "verify_es512",
]

JSON = dict[str, Any]

#: Content encryption algorithms understood on decryption, with their key sizes in bytes.
GCM_KEY_BYTES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
_THUMBPRINT_HASHES = {"S256": "sha256", "S1": "sha1"}
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class JOSEError(ValueError):
    """A JOSE object is malformed, fails its checks, or does not decrypt."""


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """The inverse of :func:`b64url_encode`; ``what`` names the field in the error."""
    if not isinstance(text, str) or not _BASE64URL.issuperset(text) or len(text) % 4 == 1:
        raise JOSEError(f"{what} is not base64url text")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise JOSEError(f"{what} is not base64url text") from None


def dumps(value: object) -> str:
    """Compact JSON with sorted keys, as jose writes protected headers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads_object(data: bytes | str, what: str) -> JSON:
    """A JSON object, or :class:`JOSEError` naming ``what`` was not one."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise JOSEError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise JOSEError(f"{what} is not a JSON object")
    return value


# ---------------------------------------------------------------------------- keys
def jwk_from_point(point: Point) -> dict[str, str]:
    """The public JWK of a P-521 point, with only the members RFC 7638 hashes."""
    x, y = point
    return {
        "crv": "P-521",
        "kty": "EC",
        "x": b64url_encode(x.to_bytes(_p521.FIELD_BYTES, "big")),
        "y": b64url_encode(y.to_bytes(_p521.FIELD_BYTES, "big")),
    }


def point_from_jwk(jwk: object, what: str) -> Point:
    """The point of an EC P-521 JWK, checked: coordinates in the field, on the curve (so never
    the point at infinity)."""
    if not isinstance(jwk, dict):
        raise JOSEError(f"{what} is not a JWK object")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-521":
        raise JOSEError(
            f"{what} is not an EC P-521 key (kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r})"
        )
    coordinates = []
    for name in ("x", "y"):
        raw = b64url_decode(jwk.get(name), f"{what}'s {name}")  # type: ignore[arg-type]
        if not 0 < len(raw) <= _p521.FIELD_BYTES:
            raise JOSEError(f"{what}'s {name} has {len(raw)} bytes, not {_p521.FIELD_BYTES}")
        coordinates.append(int.from_bytes(raw, "big"))
    try:
        return _p521.check((coordinates[0], coordinates[1]), what)
    except ValueError as exc:
        raise JOSEError(str(exc)) from None


def thumbprint(jwk: JSON, algorithm: str = "S256") -> str:
    """The RFC 7638 thumbprint of an EC public key (``S256``: SHA-256, ``S1``: SHA-1)."""
    members = {name: jwk.get(name) for name in ("crv", "kty", "x", "y")}
    digest = hashlib.new(_THUMBPRINT_HASHES[algorithm], dumps(members).encode()).digest()
    return b64url_encode(digest)


def verify_es512(jwk: JSON, signing_input: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (r‖s, 66 bytes each) is an ES512 signature by ``jwk``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(signature) != 2 * _p521.FIELD_BYTES:
        return False
    x, y = point_from_jwk(jwk, "the signing key")
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP521R1()).public_key()
    r = int.from_bytes(signature[: _p521.FIELD_BYTES], "big")
    s = int.from_bytes(signature[_p521.FIELD_BYTES :], "big")
    try:
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA512()))
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------------------- JWE
class CompactJWE:
    """A parsed compact JWE: its header, and the raw parts needed to decrypt it."""

    __slots__ = ("ciphertext", "header", "iv", "protected", "tag")

    def __init__(self, protected: str, header: JSON, iv: bytes, ciphertext: bytes, tag: bytes):
        self.protected = protected  # base64url text, the additional authenticated data
        self.header = header
        self.iv = iv
        self.ciphertext = ciphertext
        self.tag = tag

    def __repr__(self) -> str:
        return f"CompactJWE(alg={self.header.get('alg')!r}, enc={self.header.get('enc')!r})"

    def decrypt(self, key: bytes) -> bytes:
        """The plaintext under content key ``key``; :class:`JOSEError` if it fails to
        authenticate (a wrong key, or a modified JWE)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != GCM_KEY_BYTES[self.header["enc"]]:
            raise JOSEError(f"the key has {len(key)} bytes, not as {self.header['enc']} needs")
        try:
            return AESGCM(key).decrypt(
                self.iv, self.ciphertext + self.tag, self.protected.encode("ascii")
            )
        except InvalidTag:
            raise JOSEError("the JWE failed authentication (modified, or a wrong key)") from None


def parse_compact(text: str) -> CompactJWE:
    """Split and check a compact JWE with direct or ECDH-ES key agreement and AES-GCM."""
    parts = text.strip().split(".")
    if len(parts) != 5:
        raise JOSEError(f"a compact JWE has 5 dot-separated parts, this has {len(parts)}")
    protected, encrypted_key, iv, ciphertext, tag = parts
    header = loads_object(b64url_decode(protected, "the JWE's protected header"), "the JWE header")
    if encrypted_key:
        raise JOSEError(f"the JWE has an encrypted key, which {header.get('alg')!r} forbids")
    if header.get("alg") not in ("dir", "ECDH-ES"):
        raise JOSEError(f"unsupported JWE alg {header.get('alg')!r} (dir or ECDH-ES expected)")
    if header.get("enc") not in GCM_KEY_BYTES:
        raise JOSEError(f"unsupported JWE enc {header.get('enc')!r} (AES-GCM expected)")
    if "zip" in header or "crit" in header:
        raise JOSEError("the JWE header asks for 'zip' or 'crit', which are not supported")
    parsed = CompactJWE(
        protected,
        header,
        b64url_decode(iv, "the JWE's IV"),
        b64url_decode(ciphertext, "the JWE's ciphertext"),
        b64url_decode(tag, "the JWE's tag"),
    )
    if len(parsed.iv) != 12 or len(parsed.tag) != 16:
        raise JOSEError("the JWE's IV or tag has the wrong length for AES-GCM")
    return parsed


def encrypt_compact(header: JSON, key: bytes, plaintext: bytes) -> str:
    """A compact JWE of ``plaintext`` under content key ``key`` (no encrypted-key part)."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    protected = b64url_encode(dumps(header).encode())
    iv = os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, plaintext, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return f"{protected}..{b64url_encode(iv)}.{b64url_encode(ciphertext)}.{b64url_encode(tag)}"


def concat_kdf(shared_secret: bytes, enc: str) -> bytes:
    """The ECDH-ES content key (RFC 7518, 4.6.2): Concat KDF with SHA-256, the ``enc`` name
    as AlgorithmID and empty PartyUInfo and PartyVInfo, as jose computes it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

    size = GCM_KEY_BYTES[enc]
    other_info = (
        len(enc).to_bytes(4, "big")
        + enc.encode("ascii")
        + (0).to_bytes(4, "big")  # PartyUInfo
        + (0).to_bytes(4, "big")  # PartyVInfo
        + (8 * size).to_bytes(4, "big")  # SuppPubInfo: the key length in bits
    )
    return ConcatKDFHash(hashes.SHA256(), size, other_info).derive(shared_secret)


def ecdh_es_encrypt(header: JSON, recipient: Point, plaintext: bytes) -> str:
    """A compact ECDH-ES + A256GCM JWE to the P-521 public key ``recipient``.

    ``header`` gets ``alg``, ``enc`` and a fresh ephemeral ``epk``.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    ephemeral = ec.generate_private_key(ec.SECP521R1())
    public = ephemeral.public_key().public_numbers()
    peer = ec.EllipticCurvePublicNumbers(*recipient, ec.SECP521R1()).public_key()
    key = concat_kdf(ephemeral.exchange(ec.ECDH(), peer), "A256GCM")
    full = {
        **header,
        "alg": "ECDH-ES",
        "enc": "A256GCM",
        "epk": jwk_from_point((public.x, public.y)),
    }
    return encrypt_compact(full, key, plaintext)
