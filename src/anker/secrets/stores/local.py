"""``local:///dir``: the embedded store. Every object is a file, encrypted at rest.

Layout: ``dir/store.json`` proves the master key (an AES-GCM encryption of a known text), and
``dir/objects/<id>.json`` holds one object with all its versions and consumers, encrypted as a
whole with AES-256-GCM under the master key (random 96-bit nonce, the object id as associated
data, so a file cannot be swapped for another's). Files are written to a temporary name, synced
and renamed, mode 0600, in a 0700 directory: a crash leaves the old file or the new one, never
half of one. A file that fails authentication is reported as tampered and never returned.

Only :meth:`LocalStore.initialize` (``anker secrets init``) makes a store; opening a directory
without one is an error and changes nothing on disk.

URL options (one master key source): ``master_key_file=PATH`` (raw or base64),
``master_key_env=NAME`` (base64), ``master_key_tang=PATH`` (a JWE bound to Tang servers);
and the options of every store: ``max_value_bytes`` (default 1 MiB), ``unique_names``
(default true).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import secrets as random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from anker._drivers import DriverSettings, setting
from anker._secret import Secret
from anker.errors import InvalidURL
from anker.secrets._errors import (
    SecretInUse,
    SecretNotFound,
    SecretsError,
    SecretTampered,
    StoreUnavailable,
    WrongMasterKey,
)
from anker.secrets._master import MASTER_KEY_BYTES, read_master_key
from anker.secrets._objects import Consumer, Kind, ManagedObject, b64, name_taken, unb64
from anker.secrets._store import Store, StoreSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anker._url import BackendURL

__all__ = ["LocalStore"]

log = logging.getLogger("anker.secrets")

FORMAT = "anker-local/1"
CHECK_TEXT = b"anker local secret store"
NONCE_BYTES = 12


@dataclass(frozen=True)
class LocalSettings(StoreSettings):
    """The options of ``local:///dir``: exactly one master key source."""

    master_key_file: str | None = setting(None, help="a file holding the master key")
    master_key_env: str | None = setting(None, help="a variable holding the master key (base64)")
    master_key_tang: str | None = setting(None, help="a JWE file bound to Tang servers")


class LocalStore(Store):
    """Secrets in a local directory, each file encrypted with AES-256-GCM under a master key."""

    settings_class: ClassVar[type[DriverSettings]] = LocalSettings
    settings: LocalSettings
    capabilities: ClassVar[frozenset[str]] = frozenset({"versions", "consumers"})

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        if url.endpoints or not url.path:
            hosts = ",".join(e.host for e in url.endpoints)
            raise InvalidURL(str(url), f"a local store is local:///absolute/dir, not {hosts!r}")
        self.directory = _checked_directory(url.path)
        self._objects = os.path.join(self.directory, "objects")

    async def connect(self) -> None:
        """Open the store in the directory; it must exist (nothing is written)."""
        await self._open(create=False)

    async def initialize(self) -> None:
        """Make a new store in the directory (new or empty) and open it."""
        await self._open(create=True)

    async def _open(self, *, create: bool) -> None:
        given = self.settings
        key = await read_master_key(
            file=given.master_key_file, env=given.master_key_env, tang=given.master_key_tang
        )
        await asyncio.to_thread(self._start, key, create)

    def _start(self, master_key: bytes, create: bool) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise SecretsError(f"a master key has {MASTER_KEY_BYTES} bytes, not {len(master_key)}")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(master_key)
        if create:
            self._make()
        self._check_master_key()

    def __repr__(self) -> str:
        return f"LocalStore({self.directory!r})"

    async def probe(self) -> None:
        """The store is open and its objects folder can still be read (a lost mount, a
        changed permission)."""
        if getattr(self, "_aead", None) is None:
            raise StoreUnavailable(f"the local store {self.directory} is not open")
        try:
            await asyncio.to_thread(os.listdir, self._objects)
        except OSError as exc:
            raise StoreUnavailable(
                f"the local store {self.directory} cannot be read: {exc.strerror}"
            ) from exc

    # ------------------------------------------------------------------ the interface
    async def create(self, obj: ManagedObject) -> str:
        await asyncio.to_thread(self._create, obj)
        return obj.id

    async def update_metadata(self, object_id: str, metadata: Mapping[str, str]) -> None:
        await asyncio.to_thread(self._update_metadata, object_id, dict(metadata))

    async def add_version(self, object_id: str, value: bytes, created: dt.datetime) -> int:
        return await asyncio.to_thread(self._add_version, object_id, value, created)

    async def get(
        self, object_id: str, *, version: int | None = None, metadata_only: bool = False
    ) -> ManagedObject:
        record = await asyncio.to_thread(self._read, object_id)
        return _to_object(record, version, metadata_only)

    async def find(
        self, *, kind: Kind | None = None, name: str | None = None
    ) -> list[ManagedObject]:
        records = await asyncio.to_thread(self._read_all)
        found = [_to_object(r, None, True) for r in records]
        return [
            o
            for o in found
            if (kind is None or o.kind == kind) and (name is None or o.name == name)
        ]

    async def delete(self, object_id: str, *, force: bool = False) -> None:
        await asyncio.to_thread(self._delete, object_id, force)

    async def add_consumer(self, object_id: str, consumer: Consumer) -> None:
        await asyncio.to_thread(self._update_consumers, object_id, consumer, True)

    async def remove_consumer(self, object_id: str, consumer: Consumer) -> None:
        await asyncio.to_thread(self._update_consumers, object_id, consumer, False)

    # ------------------------------------------------------------------ files
    def _make(self) -> None:
        """A new store: the directory (0700, made if missing, else empty), its check file and
        ``objects/``. Only ``anker secrets init`` comes here; opening never writes."""
        try:
            os.makedirs(os.path.dirname(self.directory), exist_ok=True)
            try:
                os.mkdir(self.directory, 0o700)
            except FileExistsError:
                if os.listdir(self.directory):
                    what = "a store" if os.path.exists(self._check) else "other files"
                    raise SecretsError(
                        f"{self.directory} holds {what} already; a new store needs a new or"
                        " empty directory"
                    ) from None
            os.chmod(self.directory, 0o700)  # mkdir's mode obeys the umask
            os.mkdir(self._objects, 0o700)
            os.chmod(self._objects, 0o700)
        except OSError as exc:
            raise StoreUnavailable(f"cannot make a store in {self.directory}: {exc}") from None
        with self._locked():
            self._write(self._check, {"format": FORMAT, "check": self._seal(CHECK_TEXT, "store")})

    @property
    def _check(self) -> str:
        return os.path.join(self.directory, "store.json")

    def _check_master_key(self) -> None:
        check = self._check
        if not os.path.isfile(check):
            if os.path.isdir(self._objects) and any(
                n.endswith(".json") for n in os.listdir(self._objects)
            ):
                raise SecretTampered(
                    f"{check} is missing but {self._objects} holds objects: restore it"
                    " from a backup (without it a wrong master key cannot be told apart)"
                )
            raise StoreUnavailable(
                f"no store at {self.directory} (run anker secrets init to make one)"
            )
        try:
            with open(check, encoding="utf-8") as handle:
                sealed = json.load(handle)["check"]
            opened = self._open_sealed(sealed, "store", check)
        except SecretTampered:
            raise WrongMasterKey(
                f"the master key does not open the store in {self.directory}"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SecretTampered(f"{check} is damaged: {exc}") from None
        if opened != CHECK_TEXT:
            raise WrongMasterKey(f"the master key does not open the store in {self.directory}")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time, across processes (reads need no lock: files are replaced whole)."""
        handle = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)

    def _path(self, object_id: str) -> str:
        return os.path.join(self._objects, f"{self._canonical(object_id)}.json")

    def _canonical(self, object_id: str) -> str:
        """Ids in any spelling of a UUID name the same object; anything else names none."""
        try:
            return str(uuid.UUID(object_id))
        except (ValueError, TypeError, AttributeError):
            raise SecretNotFound(
                f"no object {object_id!r} in {self.directory}: not an id"
            ) from None

    def _seal(self, plaintext: bytes, object_id: str) -> dict[str, str]:
        nonce = random.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, f"{FORMAT}:{object_id}".encode())
        return {"nonce": b64(nonce), "ciphertext": b64(sealed)}

    def _open_sealed(self, sealed: dict[str, str], object_id: str, path: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            nonce, ciphertext = unb64(sealed["nonce"]), unb64(sealed["ciphertext"])
            return self._aead.decrypt(nonce, ciphertext, f"{FORMAT}:{object_id}".encode())
        except (InvalidTag, KeyError, ValueError, TypeError, AttributeError):
            raise SecretTampered(
                f"{path} failed authentication: modified, truncated or moved"
            ) from None

    def _write(self, path: str, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        temporary = f"{path}.{random.token_hex(4)}.tmp"
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _save(self, record: dict[str, Any]) -> None:
        sealed = self._seal(json.dumps(record).encode(), record["id"])
        self._write(self._path(record["id"]), {"format": FORMAT, **sealed})

    def _read(self, object_id: str) -> dict[str, Any]:
        object_id = self._canonical(object_id)
        path = self._path(object_id)
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except FileNotFoundError:
            raise SecretNotFound(f"no object {object_id} in {self.directory}") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise SecretTampered(f"{path} is damaged: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise SecretTampered(f"{path} is not a {FORMAT} file")
        record: dict[str, Any] = json.loads(self._open_sealed(document, object_id, path))
        return record

    def _read_all(self) -> list[dict[str, Any]]:
        records = []
        for name in sorted(os.listdir(self._objects)):
            stem, _, suffix = name.partition(".")
            if suffix != "json":
                continue  # temporary files of a write under way, or not ours
            try:
                records.append(self._read(stem))
            except SecretNotFound:
                continue  # deleted since it was listed, or not an object file
            except SecretTampered as exc:  # one bad file does not hide the rest of the store
                log.warning("left out of the listing: %s", exc)
        return records

    def _create(self, obj: ManagedObject) -> None:
        record = {
            "id": obj.id,
            "kind": obj.kind,
            "name": obj.name,
            "algorithm": obj.algorithm,
            "bit_length": obj.bit_length,
            "metadata": obj.metadata,
            "created": obj.created.isoformat(),
            "consumers": [c.as_dict() for c in obj.consumers],
            "versions": [
                {"version": 1, "created": obj.created.isoformat(), "value": b64(obj.reveal())}
            ],
        }
        with self._locked():
            if os.path.exists(self._path(obj.id)):
                raise SecretsError(f"an object {obj.id} exists already in {self.directory}")
            if self.unique_names and obj.name is not None:  # checked again under the lock
                for other in self._read_all():
                    if other["name"] == obj.name:
                        raise name_taken(obj.name, other["id"])
            self._save(record)

    def _add_version(self, object_id: str, value: bytes, created: dt.datetime) -> int:
        with self._locked():
            record = self._read(object_id)
            number = record["versions"][-1]["version"] + 1
            record["versions"].append(
                {"version": number, "created": created.isoformat(), "value": b64(value)}
            )
            self._save(record)
        return int(number)

    def _delete(self, object_id: str, force: bool) -> None:
        with self._locked():
            record = self._read(object_id)
            if record["consumers"] and not force:
                users = ", ".join(
                    f"{c['service']}/{c['resource_type']}/{c['resource_id']}"
                    for c in record["consumers"]
                )
                raise SecretInUse(f"{object_id} is used by {users}; delete it with force=True")
            os.unlink(self._path(object_id))

    def _update_metadata(self, object_id: str, metadata: dict[str, str]) -> None:
        with self._locked():
            record = self._read(object_id)
            record["metadata"] = metadata
            self._save(record)

    def _update_consumers(self, object_id: str, consumer: Consumer, add: bool) -> None:
        with self._locked():
            record = self._read(object_id)
            entry = consumer.as_dict()
            consumers = [c for c in record["consumers"] if c != entry]
            if add:
                consumers.append(entry)
            if consumers != record["consumers"]:
                record["consumers"] = consumers
                self._save(record)


def _to_object(record: dict[str, Any], version: int | None, metadata_only: bool) -> ManagedObject:
    versions = record["versions"]
    if version is None:
        chosen = versions[-1]
    else:
        matching = [v for v in versions if v["version"] == version]
        if not matching:
            numbers = ", ".join(str(v["version"]) for v in versions)
            raise SecretNotFound(f"{record['id']} has no version {version} (it has {numbers})")
        chosen = matching[0]
    value = None if metadata_only else Secret(unb64(chosen["value"]))
    return ManagedObject(
        id=record["id"],
        kind=record["kind"],
        value=value,
        name=record["name"],
        algorithm=record["algorithm"],
        bit_length=record["bit_length"],
        metadata=dict(record["metadata"]),
        created=dt.datetime.fromisoformat(record["created"]),
        version=chosen["version"],
        versions=tuple(v["version"] for v in versions),
        consumers=tuple(Consumer(**c) for c in record["consumers"]),
    )


def _checked_directory(path: str) -> str:
    """An absolute directory path without control characters (a newline or NUL in a path is
    a mistake, never a directory anyone meant)."""
    bad = [c for c in path if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise SecretsError(
            f"the local store path {path!r} contains the control character {bad[0]!r}"
        )
    if not os.path.isabs(path):
        raise SecretsError(f"a local store path is absolute, not {path!r}")
    return os.path.normpath(path)
