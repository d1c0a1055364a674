"""The key manager: makes keys, stores and finds secrets, rotates them, tracks their consumers."""

from __future__ import annotations

import contextlib
import secrets as random
from typing import TYPE_CHECKING, Any, Self

from anker._runtime import Portal, run_blocking
from anker._secret import Secret
from anker.secrets._errors import SecretNotFound, SecretsError
from anker.secrets._objects import (
    KINDS,
    Consumer,
    Kind,
    ManagedObject,
    check_name,
    name_taken,
    new_id,
    utcnow,
)
from anker.secrets._store import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["BlockingKeyManager", "KeyManager"]

STORE_GROUP = "anker.secrets.stores"
SYMMETRIC_ALGORITHMS = {"AES": (128, 192, 256), "HMAC": (256, 384, 512)}
EC_CURVES = {256: "SECP256R1", 384: "SECP384R1", 521: "SECP521R1"}


class KeyManager:
    """Keys and secrets over one store (``local:///dir``, ``barbican://host:port``, ...).

    ::

        url = "local:///var/lib/svc/secrets?master_key_file=/etc/svc/master.key"
        async with await KeyManager.open(url) as km:
            key_id = await km.create_key(name="volume-key")
            key = await km.get(key_id)

    .. versionadded:: 0.1
    """

    def __init__(self, store: Store) -> None:
        #: the store driver this manager works through
        self.driver = store

    @classmethod
    async def open(cls, url: str, *, require: Iterable[str] = (), **options: object) -> Self:
        """Open the store a URL names. ``options`` (see the store's settings) may be given in
        the URL's query instead, but not in both places with different values; an unknown
        one is an :class:`~anker.errors.InvalidOption`. A capability in ``require`` (such as
        ``"versions"``) that the store lacks is a :class:`~anker.errors.CapabilityMissing`.
        Opening never makes a store."""
        from anker._drivers import open_driver

        return cls(await open_driver(STORE_GROUP, url, Store, options, require=require))

    @classmethod
    async def initialize(cls, url: str, **options: object) -> Self:
        """Make a new, empty store where the URL points, and open it (``anker secrets init``).

        :meth:`open` never makes one: a mistyped path is an error, not a new empty store.
        """
        from anker._drivers import open_driver

        store = await open_driver(
            STORE_GROUP, url, Store, options, start=lambda made: made.initialize()
        )
        return cls(store)

    async def aclose(self) -> None:
        """Close the store's connections."""
        await self.driver.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def blocking(self) -> BlockingKeyManager:
        """The same manager for threaded code: every method blocks until done."""
        return BlockingKeyManager(self)

    # ------------------------------------------------------------------ making and storing
    async def create_key(
        self,
        *,
        name: str | None = None,
        algorithm: str = "AES",
        bit_length: int = 256,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Generate a symmetric key; return its id."""
        _check_symmetric(algorithm, bit_length)
        _check_metadata(metadata)
        value = random.token_bytes(bit_length // 8)
        return await self._create(
            "symmetric",
            value,
            name=name,
            algorithm=algorithm,
            bit_length=bit_length,
            metadata=metadata,
        )

    async def create_key_pair(
        self,
        *,
        name: str | None = None,
        algorithm: str = "RSA",
        bit_length: int = 2048,
        metadata: Mapping[str, str] | None = None,
    ) -> tuple[str, str]:
        """Generate an RSA or EC key pair; return ``(private_id, public_id)``.

        The two halves name each other in their metadata (``public_key`` / ``private_key``);
        the public half of a pair called ``name`` is called ``name.pub`` (names are unique).
        """
        _check_metadata(metadata)
        private, public = _generate_pair(algorithm, bit_length)
        base = dict(metadata or {})
        made: list[str] = []
        try:
            private_id = await self._create(
                "private",
                private,
                name=name,
                algorithm=algorithm,
                bit_length=bit_length,
                metadata=base,
            )
            made.append(private_id)
            public_id = await self._create(
                "public",
                public,
                name=None if name is None else f"{name}.pub",
                algorithm=algorithm,
                bit_length=bit_length,
                metadata={**base, "private_key": private_id},
            )
            made.append(public_id)
            await self.driver.update_metadata(private_id, {**base, "public_key": public_id})
        except BaseException:  # no half of a pair is left behind
            for object_id in made:
                with contextlib.suppress(Exception):
                    await self.driver.delete(object_id, force=True)
            raise
        return private_id, public_id

    async def store(
        self,
        kind: Kind,
        value: bytes | str | Secret[bytes] | Secret[str],
        *,
        name: str | None = None,
        algorithm: str | None = None,
        bit_length: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Keep a value made elsewhere (a passphrase, a certificate, an imported key)."""
        if kind not in KINDS:
            raise SecretsError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
        _check_metadata(metadata)
        raw = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(raw, str | bytes):
            raise SecretsError(f"a value is bytes or text, not {type(raw).__name__}")
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        self._check_size(data)
        _check_content(kind, data)
        if kind == "symmetric":
            algorithm = algorithm or "AES"
            if bit_length is not None and bit_length != len(data) * 8:
                raise SecretsError(
                    f"the key has {len(data) * 8} bits, not the {bit_length} given as bit_length"
                )
            bit_length = len(data) * 8
            _check_symmetric(algorithm, bit_length)
        return await self._create(
            kind, data, name=name, algorithm=algorithm, bit_length=bit_length, metadata=metadata
        )

    def _check_size(self, value: bytes) -> None:
        limit = self.driver.max_value_bytes
        if len(value) > limit:  # the caller may have read only limit + 1 bytes: no size shown
            raise SecretsError(
                f"the value is larger than this store's limit of {limit} bytes per object"
                " (max_value_bytes in the store URL)"
            )

    async def _create(
        self,
        kind: Kind,
        value: bytes,
        *,
        name: str | None,
        algorithm: str | None,
        bit_length: int | None,
        metadata: Mapping[str, str] | None,
    ) -> str:
        check_name(name)
        if name is not None and self.driver.unique_names:
            taken = await self.driver.find(name=name)
            if taken:
                raise name_taken(name, taken[0].id)
        obj = ManagedObject(
            id=new_id(),
            kind=kind,
            value=Secret(value),
            name=name,
            algorithm=algorithm,
            bit_length=bit_length,
            metadata=dict(metadata or {}),
        )
        return await self.driver.create(obj)

    # ------------------------------------------------------------------ reading
    async def get(
        self, object_id: str, *, version: int | None = None, metadata_only: bool = False
    ) -> ManagedObject:
        """One object (its newest version unless ``version`` is given)."""
        return await self.driver.get(object_id, version=version, metadata_only=metadata_only)

    async def find(self, name: str) -> ManagedObject:
        """The one object called ``name`` (or with that id), at its newest version."""
        try:
            return await self.get(name)
        except SecretNotFound:
            pass
        found = await self.driver.find(name=name)
        if not found:
            raise SecretNotFound(f"no secret named {name!r}")
        if len(found) > 1:
            ids = ", ".join(o.id for o in found)
            raise SecretsError(f"{len(found)} secrets are named {name!r} ({ids}); use an id")
        return await self.get(found[0].id)

    async def list(
        self, *, kind: Kind | None = None, name: str | None = None
    ) -> list[ManagedObject]:
        """Objects of that kind and name (either None: any), without their values."""
        return await self.driver.find(kind=kind, name=name)

    # ------------------------------------------------------------------ changing
    async def rotate(self, object_id: str, value: bytes | str | None = None) -> int:
        """Add a new version: fresh key material for keys, ``value`` for anything else.

        Returns the new version's number; earlier versions stay readable, so data encrypted
        under them still decrypts.
        """
        current = await self.get(object_id)
        size = len(current.reveal())
        if current.kind == "symmetric":  # e.g. stored before sizes were checked
            try:
                _check_symmetric(current.algorithm or "AES", size * 8)
            except SecretsError as exc:
                raise SecretsError(f"{object_id} cannot be rotated: {exc}") from None
        if value is None:
            if current.kind != "symmetric":
                raise SecretsError(f"rotating a {current.kind} needs its new value")
            new_value = random.token_bytes(size)
        else:
            new_value = value.encode("utf-8") if isinstance(value, str) else value
            self._check_size(new_value)
            if current.kind == "symmetric" and len(new_value) != size:
                raise SecretsError(
                    f"{object_id} is a {size * 8}-bit key; its new version must be too,"
                    f" not {len(new_value) * 8} bits"
                )
            _check_content(current.kind, new_value)
        return await self.driver.add_version(object_id, new_value, utcnow())

    async def delete(self, object_id: str, *, force: bool = False) -> None:
        """Delete an object; refused (SecretInUse) while it has consumers, unless forced."""
        await self.driver.delete(object_id, force=force)

    async def add_consumer(self, object_id: str, consumer: Consumer) -> None:
        """Record that ``consumer`` uses the object, so it is not deleted from under it."""
        await self.driver.add_consumer(object_id, consumer)

    async def remove_consumer(self, object_id: str, consumer: Consumer) -> None:
        """Record that ``consumer`` no longer uses the object."""
        await self.driver.remove_consumer(object_id, consumer)

    # ------------------------------------------------------------------ for anker.config
    def resolver(self) -> Callable[[str], str]:
        """A resolver for ``Config.load(secrets=...)``: ``${secret:NAME}`` becomes the text of
        the secret called NAME (or with that id).

        It blocks, handing each lookup to the event loop the manager was opened on, so load
        and reload configuration outside that loop's thread, e.g.
        ``await asyncio.to_thread(conf.reload)``; or open the manager on anker's background
        loop (:meth:`BlockingKeyManager.open`), whose resolver also works from a service's
        event loop (``Service.reload`` on SIGHUP), blocking it for the lookups.
        """
        portal = _portal(self)

        def resolve(name: str) -> str:
            return portal.run(self.find(name), from_other_loop=True).text()

        return resolve


def _portal(manager: KeyManager) -> Portal:
    if manager.driver.loop is None:
        raise SecretsError("the key manager is not open")
    return Portal(manager.driver.loop)


class BlockingKeyManager:
    """:class:`KeyManager` for threaded code: the same coroutines, run on the loop the manager
    was opened on (:meth:`open` opens one on anker's background loop)::

        with BlockingKeyManager.open("local:///var/lib/svc/secrets?master_key_file=...") as km:
            key = km.get(km.create_key(name="volume-key"))
    """

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager
        self._portal = _portal(manager)

    @classmethod
    def open(
        cls, url: str, *, require: Iterable[str] = (), **options: object
    ) -> BlockingKeyManager:
        """Open a store as :meth:`KeyManager.open` does, on anker's background loop."""
        return cls(run_blocking(KeyManager.open(url, require=require, **options)))

    @classmethod
    def initialize(cls, url: str, **options: object) -> BlockingKeyManager:
        """Make a new store as :meth:`KeyManager.initialize` does, and open it."""
        return cls(run_blocking(KeyManager.initialize(url, **options)))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_key(
        self,
        *,
        name: str | None = None,
        algorithm: str = "AES",
        bit_length: int = 256,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Generate a symmetric key; return its id."""
        return self._portal.run(
            self.manager.create_key(
                name=name, algorithm=algorithm, bit_length=bit_length, metadata=metadata
            )
        )

    def create_key_pair(
        self,
        *,
        name: str | None = None,
        algorithm: str = "RSA",
        bit_length: int = 2048,
        metadata: Mapping[str, str] | None = None,
    ) -> tuple[str, str]:
        """Generate an RSA or EC key pair; return ``(private_id, public_id)``."""
        return self._portal.run(
            self.manager.create_key_pair(
                name=name, algorithm=algorithm, bit_length=bit_length, metadata=metadata
            )
        )

    def store(self, kind: Kind, value: bytes | str, **options: Any) -> str:
        """Store a secret of ``kind`` (see :meth:`KeyManager.store`); return its id."""
        return self._portal.run(self.manager.store(kind, value, **options))

    def get(
        self, object_id: str, *, version: int | None = None, metadata_only: bool = False
    ) -> ManagedObject:
        """One object by id (see :meth:`KeyManager.get`)."""
        return self._portal.run(
            self.manager.get(object_id, version=version, metadata_only=metadata_only)
        )

    def find(self, name: str) -> ManagedObject:
        """The object called ``name`` (or with that id)."""
        return self._portal.run(self.manager.find(name))

    def list(self, *, kind: Kind | None = None, name: str | None = None) -> list[ManagedObject]:
        """Every object, of a kind and name if given, without values."""
        return self._portal.run(self.manager.list(kind=kind, name=name))

    def rotate(self, object_id: str, value: bytes | str | None = None) -> int:
        """Add a new version; return its number."""
        return self._portal.run(self.manager.rotate(object_id, value))

    def delete(self, object_id: str, *, force: bool = False) -> None:
        """Delete an object (refused while it has consumers, unless forced)."""
        self._portal.run(self.manager.delete(object_id, force=force))

    def add_consumer(self, object_id: str, consumer: Consumer) -> None:
        """Record that ``consumer`` uses the object."""
        self._portal.run(self.manager.add_consumer(object_id, consumer))

    def remove_consumer(self, object_id: str, consumer: Consumer) -> None:
        """Forget a consumer."""
        self._portal.run(self.manager.remove_consumer(object_id, consumer))

    def close(self) -> None:
        """Close the store."""
        self._portal.run(self.manager.aclose())


def _check_symmetric(algorithm: str, bit_length: int) -> None:
    allowed = SYMMETRIC_ALGORITHMS.get(algorithm)
    if allowed is None:
        raise SecretsError(f"unknown symmetric algorithm {algorithm!r}; one of AES, HMAC")
    if bit_length not in allowed:
        raise SecretsError(
            f"{algorithm} keys have {', '.join(map(str, allowed))} bits, not {bit_length}"
        )


def check_envelope_key(key: ManagedObject) -> None:
    """Only AES-256 keys wrap the data keys of envelopes (A256KW); anything else a header or
    a command names is refused before it is used."""
    what = f"{key.kind} {key.id}" + (f" ({key.name})" if key.name else "")
    if key.kind != "symmetric":
        raise SecretsError(f"{what} is not a key: only AES-256 keys encrypt and decrypt data")
    if key.algorithm != "AES":
        raise SecretsError(
            f"{what} is an {key.algorithm} key: only AES-256 keys encrypt and decrypt data"
        )
    size = len(key.reveal()) * 8
    if size != 256:
        raise SecretsError(
            f"{what} is an AES-{size} key: envelopes wrap their data keys with AES-256 keys"
        )


def _generate_pair(algorithm: str, bit_length: int) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RSA":
        if bit_length < 2048 or bit_length % 1024:
            raise SecretsError(f"RSA keys have 2048, 3072, 4096... bits, not {bit_length}")
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=bit_length)
    elif algorithm == "EC":
        curve = EC_CURVES.get(bit_length)
        if curve is None:
            raise SecretsError(f"EC keys have 256, 384 or 521 bits, not {bit_length}")
        private_key = ec.generate_private_key(getattr(ec, curve)())
    else:
        raise SecretsError(f"unknown key pair algorithm {algorithm!r}; one of RSA, EC")
    private = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _check_metadata(metadata: Mapping[str, str] | None) -> None:
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SecretsError(f"metadata maps text to text, not {key!r}: {value!r}")
        if key.startswith("anker-"):
            raise SecretsError(f"metadata key {key!r}: keys starting with anker- are anker's own")


def _check_content(kind: str, data: bytes) -> None:
    """Refuse ``data`` that is no ``kind`` (a certificate or a passphrase) when stored."""
    if kind == "certificate":
        _check_certificate(data)
    elif kind == "passphrase":
        _check_passphrase(data)


def _check_certificate(data: bytes) -> None:
    from cryptography import x509

    try:
        x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise SecretsError(f"a certificate must be X.509 in DER: {exc}") from None


def _check_passphrase(data: bytes) -> None:
    """A passphrase is text (``${secret:NAME}`` reads it as such): UTF-8, or refused now rather
    than when it is first used."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretsError(
            f"a passphrase must be UTF-8 text; byte {data[exc.start]:#04x} at offset {exc.start}"
            " is not (store binary data as opaque)"
        ) from None
