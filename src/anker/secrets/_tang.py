"""Network-bound keys with Tang, wire-compatible with clevis.

:func:`bind` encrypts a (small) secret so that only the Tang servers it names can help decrypt
it; :func:`recover` gets it back by asking them. The JWE is exactly what ``clevis encrypt tang``
(one server) or ``clevis encrypt sss`` over tang pins (several, with a threshold) produces, so
clevis can decrypt what anker binds and anker recovers what clevis binds.

Binding is ECDH-ES to the exchange key a server advertises, after checking the advertisement's
ES512 signature: no secret ever leaves this process. A signature proves only that whoever
answered holds a signing key; pinning (``thumbprints``, clevis's ``thp``) says which key that
must be, so that a server in the middle cannot get a binding to a key of its own. Recovery
is the McCallum-Relyea exchange: the server multiplies a blinded point by its private key and
never learns the secret or the key. Several servers are combined by Shamir's secret sharing,
so any ``threshold`` of them suffice.

.. versionadded:: 0.1
"""

from __future__ import annotations

from anker._typing import TYPE_CHECKING
from anker.secrets._advertisement import Advertisement, parse_advertisement
from anker.secrets._errors import TangError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    import httpx

    from anker.secrets._jwe import JSON, CompactJWE

__all__ = [
    "Advertisement",
    "TangError",
    "bind",
    "bind_advertised",
    "bind_to",
    "fetch_advertisement",
    "fetch_advertisements",
    "parse_advertisement",
    "recover",
]

#: A Tang reply is a few kilobytes; anything much larger is not Tang.
MAX_REPLY_BYTES = 1 << 20


async def fetch_advertisement(
    url: str,
    *,
    thumbprints: Collection[str] = (),
    timeout: float = 10.0,
) -> Advertisement:
    """Fetch ``url``/adv and verify it: P-521 keys only, at least one signing and one
    exchange key, and an ES512 signature by every signing key. With ``thumbprints`` (RFC 7638,
    SHA-256 or SHA-1, as clevis's ``thp``), one of the signing keys must be a pinned one."""
    from anker.secrets._advertisement import check_thumbprints

    pins = check_thumbprints(thumbprints, "thumbprints")
    async with _Session(timeout) as session:
        return await _fetch(session, url, pins)


async def fetch_advertisements(
    servers: Sequence[str],
    *,
    thumbprints: Collection[str] | Mapping[str, Collection[str]] = (),
    timeout: float = 10.0,
) -> list[Advertisement]:
    """The verified advertisements of all ``servers``, fetched at once, in their order.

    ``thumbprints`` pins the signing keys: one collection for every server, or a mapping
    from each server's URL to its own. Pinning is all or nothing: a mapping must name every
    server. Raises :class:`TangError` listing every server that failed.
    """
    import asyncio

    from anker.secrets._advertisement import pins_per_server

    if isinstance(servers, str):
        raise TypeError("servers is a sequence of URLs, not one URL string")
    if not servers:
        raise ValueError("bind needs at least one Tang server")
    pins = pins_per_server(servers, thumbprints)
    async with _Session(timeout) as session:
        found = await asyncio.gather(
            *(_fetch(session, url, pins[url]) for url in servers), return_exceptions=True
        )
    failures = [result for result in found if isinstance(result, TangError)]
    if failures:
        raise TangError(
            f"cannot bind: {len(failures)} of {len(servers)} Tang servers failed",
            failures=failures,
        )
    advertisements = []
    for result in found:
        if isinstance(result, BaseException):
            raise result
        advertisements.append(result)
    return advertisements


def bind_to(secret: bytes, advertisement: Advertisement) -> str:
    """The compact JWE ``clevis encrypt tang`` makes of ``secret`` for a trusted advertisement
    (no network: it takes the advertisement's exchange key)."""
    from anker.secrets._jwe import ecdh_es_encrypt, point_from_jwk

    header = {
        "clevis": {"pin": "tang", "tang": {"adv": advertisement.payload, "url": advertisement.url}},
        "kid": advertisement.kid,
    }
    recipient = point_from_jwk(advertisement.exchange_key, "the exchange key")
    return ecdh_es_encrypt(header, recipient, secret)


async def bind(
    secret: bytes,
    servers: Sequence[str],
    *,
    threshold: int = 1,
    thumbprints: Collection[str] | Mapping[str, Collection[str]] = (),
    timeout: float = 10.0,
) -> str:
    """Encrypt ``secret`` so that any ``threshold`` of the Tang ``servers`` can recover it.

    One server gives clevis's tang pin; several give its sss pin over tang pins. Every server
    must answer now (with its advertisement); ``timeout`` bounds each request in seconds.
    ``thumbprints`` pins the servers' signing keys, as :func:`fetch_advertisements` says;
    without it, whoever answers at those URLs is trusted.
    """
    if isinstance(servers, str):
        raise TypeError("servers is a sequence of URLs, not one URL string")
    if servers and not 1 <= threshold <= len(servers):
        raise ValueError(f"threshold must be in 1..{len(servers)}, got {threshold}")
    advertisements = await fetch_advertisements(servers, thumbprints=thumbprints, timeout=timeout)
    return bind_advertised(secret, advertisements, threshold=threshold)


def bind_advertised(
    secret: bytes, advertisements: Sequence[Advertisement], *, threshold: int = 1
) -> str:
    """The JWE :func:`bind` makes, from advertisements already fetched and trusted."""
    if not 1 <= threshold <= len(advertisements):
        raise ValueError(f"threshold must be in 1..{len(advertisements)}, got {threshold}")
    if len(advertisements) == 1:
        return bind_to(secret, advertisements[0])
    return _bind_shares(secret, advertisements, threshold)


async def recover(
    jwe: str,
    *,
    timeout: float = 10.0,
) -> bytes:
    """The secret of a JWE made by :func:`bind` or by clevis (tang pin, or sss over tang pins).

    Asks the servers named in it (all at once for sss, stopping as soon as ``threshold`` have
    answered). ``timeout`` bounds each server's exchange, in seconds. Raises
    :class:`TangError` naming every server that failed and why, or saying that the JWE is
    malformed or was modified; never returns bytes that did not authenticate.
    """
    parsed = _parse_jwe(jwe, "the JWE")
    async with _Session(timeout) as session:
        return await _open(parsed, session)


# ---------------------------------------------------------------------------- binding
def _bind_shares(secret: bytes, advertisements: Sequence[Advertisement], threshold: int) -> str:
    from anker.secrets import _sss
    from anker.secrets._jwe import b64url_encode, encrypt_compact

    prime = _sss.generate_prime()
    key, shares = _sss.split(threshold, len(advertisements), prime)
    inner = [
        bind_to(_sss.encode_share(share), advertisement)
        for share, advertisement in zip(shares, advertisements, strict=True)
    ]
    sss = {"jwe": inner, "p": b64url_encode(prime.to_bytes(_sss.KEY_BYTES, "big")), "t": threshold}
    header = {"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "sss", "sss": sss}}
    return encrypt_compact(header, key.to_bytes(_sss.KEY_BYTES, "big"), secret)


# ---------------------------------------------------------------------------- recovery
async def _open(jwe: CompactJWE, session: _Session) -> bytes:
    """Get the content key from the pin named in the header, then decrypt."""
    from anker.secrets._jwe import JOSEError

    clevis = jwe.header.get("clevis")
    if not isinstance(clevis, dict):
        clevis = {}
    pin = clevis.get("pin")
    where: str | None = None
    if pin == "tang" and jwe.header["alg"] == "ECDH-ES":
        key, where = await _tang_key(jwe, clevis["tang"], session)
    elif pin == "sss" and jwe.header["alg"] == "dir":
        key = await _sss_key(jwe, clevis["sss"], session)
    else:
        raise TangError(f"the JWE is not a clevis tang or sss binding (pin {pin!r})")
    try:
        return jwe.decrypt(key)
    except JOSEError as exc:
        raise TangError(f"cannot decrypt the JWE: {exc}", url=where) from None


async def _tang_key(jwe: CompactJWE, tang: object, session: _Session) -> tuple[bytes, str]:
    """The content key and the server's URL (for messages), by the McCallum-Relyea exchange:
    send X = epk + e·G, get Y = s·X, and K = Y - e·S = s·epk gives the ECDH-ES secret."""
    import asyncio

    from anker.secrets import _p521
    from anker.secrets._jwe import JOSEError, concat_kdf, dumps, jwk_from_point, point_from_jwk

    url, server_key, kid = _tang_fields(jwe.header, tang)
    try:
        epk = point_from_jwk(jwe.header.get("epk"), "the JWE's epk")
        server_point = point_from_jwk(server_key, f"the advertised key {kid}")
    except JOSEError as exc:
        raise TangError(f"the JWE is malformed: {exc}", url=_shown(url)) from None
    # the point arithmetic is CPU work: off the event loop, as every exchange's is
    try:
        blinded, unblinding = await asyncio.to_thread(_p521.blind, epk, server_point)
    except ValueError as exc:
        raise TangError(str(exc), url=_shown(url)) from None
    body = dumps(jwk_from_point(blinded)).encode()
    reply = await _request(session, "POST", url, f"/rec/{kid}", body=body)
    try:
        answer = point_from_jwk(_loads(reply, "the /rec reply"), "the /rec reply")
    except JOSEError as exc:
        raise TangError(f"bad reply to POST /rec/{kid}: {exc}", url=_shown(url)) from None
    shared = await asyncio.to_thread(_p521.subtract, answer, unblinding)
    if shared is None:  # the reply was e·S: not s·X for any point X we could have sent
        raise TangError(f"bad reply to POST /rec/{kid}: it unblinds to infinity", url=_shown(url))
    key = concat_kdf(shared[0].to_bytes(_p521.FIELD_BYTES, "big"), jwe.header["enc"])
    return key, _shown(url)


def _tang_fields(header: JSON, tang: object) -> tuple[str, JSON, str]:
    """The server URL, the advertised key named by ``kid``, and ``kid``, all checked."""
    import re

    from anker.secrets._jwe import thumbprint

    url = tang.get("url") if isinstance(tang, dict) else None
    if not isinstance(url, str) or not re.match(r"https?://[^\s]+$", url):
        raise TangError("the JWE names no http(s) Tang server URL (clevis.tang.url)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", kid):
        raise TangError("the JWE has no valid 'kid'", url=_shown(url))
    adv = tang.get("adv") if isinstance(tang, dict) else None
    keys = adv.get("keys") if isinstance(adv, dict) else None
    if not isinstance(keys, list):
        raise TangError("the JWE has no advertisement (clevis.tang.adv.keys)", url=_shown(url))
    for key in keys:
        if isinstance(key, dict) and kid in (thumbprint(key, "S256"), thumbprint(key, "S1")):
            return url, key, kid
    raise TangError(f"the JWE's kid {kid} is not in its advertisement", url=_shown(url))


async def _sss_key(jwe: CompactJWE, sss: object, session: _Session) -> bytes:
    """Open the inner bindings concurrently until ``t`` shares are in, then interpolate."""
    import asyncio

    from anker.secrets import _sss
    from anker.secrets._jwe import JOSEError, b64url_decode

    inner = sss.get("jwe") if isinstance(sss, dict) else None
    threshold = sss.get("t") if isinstance(sss, dict) else None
    try:
        raw_prime = b64url_decode(sss.get("p") if isinstance(sss, dict) else None, "sss 'p'")  # type: ignore[arg-type]
    except JOSEError as exc:
        raise TangError(f"the JWE is malformed: {exc}") from None
    prime, size = int.from_bytes(raw_prime, "big"), len(raw_prime)
    if not isinstance(inner, list) or not all(isinstance(item, str) for item in inner):
        raise TangError("the JWE has no list of inner bindings (clevis.sss.jwe)")
    if type(threshold) is not int or not 1 <= threshold <= len(inner):
        raise TangError(f"the JWE's threshold {threshold!r} does not fit its {len(inner)} pins")
    # a sanity check for a clear message; AES-GCM is what detects a modified JWE
    if size == 0 or size > 64 or not _sss.is_probable_prime(prime, rounds=16):
        raise TangError("the JWE's sss 'p' is not a prime of at most 64 bytes")

    async def share(number: int, text: str) -> _sss.Share:
        data = await _open(_parse_jwe(text, f"inner binding #{number + 1}"), session)
        try:
            return _sss.decode_share(data, prime, size)
        except ValueError as exc:
            raise TangError(f"inner binding #{number + 1} holds no share: {exc}") from None

    tasks = [asyncio.ensure_future(share(number, text)) for number, text in enumerate(inner)]
    shares: list[_sss.Share] = []
    failures: list[TangError] = []
    try:
        for done in asyncio.as_completed(tasks):
            try:
                shares.append(await done)
            except TangError as exc:
                failures.append(exc)
            if len(shares) == threshold or len(inner) - len(failures) < threshold:
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if len(shares) < threshold:
        raise TangError(
            f"cannot recover: {threshold} of {len(inner)} Tang servers needed,"
            f" {len(failures)} failed",
            failures=failures,
        )
    try:
        return _sss.combine(shares, prime).to_bytes(size, "big")
    except ValueError as exc:
        raise TangError(f"the shares do not combine: {exc}") from None


# ---------------------------------------------------------------------------- the network
class _Session:
    """The HTTP clients of one call, and the time each request may take.

    TLS is set up (loading CA certificates costs tens of milliseconds) only when an https://
    server is asked: plain http:// servers get a client that never makes a TLS connection.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def client(self, url: str) -> httpx.AsyncClient:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx comes with the secrets' users
            from anker.errors import MissingDependency

            raise MissingDependency("httpx", "tang", "binding keys to Tang servers") from None
        tls = url.startswith("https://")
        if tls not in self._clients:
            # redirects are not followed, so an http:// client never needs certificates
            self._clients[tls] = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, verify=tls
            )
        return self._clients[tls]

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for client in self._clients.values():
            await client.aclose()


async def _fetch(session: _Session, url: str, pins: frozenset[str]) -> Advertisement:
    from anker.secrets._advertisement import check_pinned

    advertisement = parse_advertisement(url, await _request(session, "GET", url, "/adv"))
    check_pinned(advertisement, pins)
    return advertisement


async def _request(
    session: _Session,
    method: str,
    url: str,
    path: str,
    *,
    body: bytes | None = None,
) -> bytes:
    """One request with an overall deadline, a size cap, and every failure as TangError."""
    import asyncio

    shown = _shown(url)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise TangError("not an http:// or https:// URL", url=shown)
    client, seconds = session.client(url), session.timeout

    import httpx

    headers = {"Content-Type": "application/jwk+json"} if body is not None else {}
    try:
        async with asyncio.timeout(seconds):
            request = client.build_request(
                method, url.rstrip("/") + path, content=body, headers=headers
            )
            response = await client.send(request, stream=True)
            try:
                if response.status_code != 200:
                    raise TangError(
                        f"{method} {path} answered HTTP {response.status_code}"
                        f"{_STATUS_HINTS.get((method, response.status_code), '')}",
                        url=shown,
                    )
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_REPLY_BYTES:
                        raise TangError(f"{method} {path} answered more than 1 MiB", url=shown)
                return bytes(data)
            finally:
                await response.aclose()
    except TimeoutError:
        raise TangError(f"{method} {path} got no answer within {seconds:g} s", url=shown) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise TangError(f"{method} {path} failed: {problem}", url=shown) from None


_STATUS_HINTS = {
    ("POST", 404): " (the server no longer has the binding's key: deleted after rotation?)",
    ("POST", 403): " (the binding names the server's signing key, not an exchange key)",
    ("POST", 400): " (the server rejected the exchange point)",
}


# ---------------------------------------------------------------------------- parsing
def _parse_jwe(text: object, what: str) -> CompactJWE:
    from anker.secrets._jwe import JOSEError, parse_compact

    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str (a compact JWE), not {type(text).__name__}")
    try:
        return parse_compact(text)
    except JOSEError as exc:
        raise TangError(f"{what} is malformed: {exc}") from None


def _loads(data: bytes, what: str) -> JSON:
    from anker.secrets._jwe import loads_object

    return loads_object(data, what)


def _shown(url: object) -> str:
    """The URL for messages, with any credential masked."""
    from anker._url import mask_urls

    return mask_urls(str(url))
