"""``barbican://host:port``: OpenStack's key manager, through its v1 REST API.

Objects are Barbican secrets, readable by castellan and python-barbicanclient and the other way
round: a secret written by another Barbican client is an anker object at version 1. Barbican
keeps no versions, so a rotation stores the new version as a secret of its own (named
``anker-version:<id>:<n>``, hidden from listings) and records it in the first secret's metadata
(``anker-versions``); the first secret's id stays the object's id.

URL options: ``project=ID`` (sent as ``X-Project-Id``, for Barbican without Keystone),
``token=...`` (held as a Secret, masked wherever the URL is shown) or ``token_env=NAME`` (sent
as ``X-Auth-Token``), ``tls=true`` for https, ``timeout`` (default 10 s), and the options of every
store.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from anker._drivers import DriverSettings, Seconds, setting
from anker._secret import Secret
from anker.errors import InvalidURL
from anker.secrets._errors import (
    SecretInUse,
    SecretNotFound,
    SecretsError,
    StoreUnavailable,
)
from anker.secrets._objects import KINDS, Consumer, Kind, ManagedObject
from anker.secrets._store import Store, StoreSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import httpx

    from anker._url import BackendURL

__all__ = ["BarbicanStore"]

VERSIONS_KEY = "anker-versions"
VERSION_NAME = "anker-version:"
PAGE = 100


@dataclass(frozen=True)
class BarbicanSettings(StoreSettings):
    """The options of ``barbican://host:port``."""

    project: str | None = setting(None, help="sent as X-Project-Id (Barbican without Keystone)")
    token: Secret[str] | None = setting(None, help="sent as X-Auth-Token")
    token_env: str | None = setting(None, help="a variable holding the token")
    tls: bool = setting(False, help="talk to Barbican over https")
    timeout: Seconds = setting(Seconds(10.0), min=0.001, help="seconds one request may take")


class BarbicanStore(Store):
    """Secrets in Barbican. Declares ``consumers``; versions are kept as described above."""

    settings_class: ClassVar[type[DriverSettings]] = BarbicanSettings
    settings: BarbicanSettings
    capabilities: ClassVar[frozenset[str]] = frozenset({"versions", "consumers"})

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        if len(url.endpoints) != 1:
            hosts = ",".join(e.host for e in url.endpoints) or "no host"
            raise InvalidURL(str(url), f"a Barbican URL names one server, not {hosts}")
        endpoint = url.endpoints[0]
        scheme = "https" if self.settings.tls else "http"
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        self._where = f"{scheme}://{host}:{endpoint.port or 9311}"
        self._client: httpx.AsyncClient | None = None

    @property
    def connect_timeout(self) -> float:
        return self.settings.timeout

    async def connect(self) -> None:
        from anker._drivers import require

        httpx = require("httpx", extra="barbican", needed_for="the barbican:// secret store")
        given = self.settings
        headers = {"Accept": "application/json"}
        if given.project:
            headers["X-Project-Id"] = given.project
        token = given.token.reveal() if given.token else ""
        if not token and given.token_env:
            token = os.environ.get(given.token_env, "")
        if token:
            headers["X-Auth-Token"] = token
        self._client = httpx.AsyncClient(
            base_url=f"{self._where}/v1", headers=headers, timeout=given.timeout
        )
        await self._request("GET", "/secrets", params={"limit": 1})  # reachable and allowed

    async def probe(self) -> None:
        """The smallest listing Barbican serves: reachable, and the token still accepted."""
        await self._request("GET", "/secrets", params={"limit": 1})

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def __repr__(self) -> str:
        return f"BarbicanStore({self._where!r})"

    # ------------------------------------------------------------------ the interface
    async def create(self, obj: ManagedObject) -> str:
        secret_id = await self._post_secret(
            obj.reveal(), obj.kind, obj.name, obj.algorithm, obj.bit_length
        )
        if obj.metadata:
            async with self._undone_on_failure(secret_id):
                await self._put_metadata(secret_id, dict(obj.metadata))
        return secret_id

    async def update_metadata(self, object_id: str, metadata: Mapping[str, str]) -> None:
        object_id = self._id(object_id)
        kept = {
            k: v for k, v in (await self._metadata(object_id)).items() if k.startswith("anker-")
        }
        await self._put_metadata(object_id, {**dict(metadata), **kept})

    async def add_version(self, object_id: str, value: bytes, created: dt.datetime) -> int:
        object_id = self._id(object_id)
        root = await self._secret(object_id)
        metadata = await self._metadata(object_id)
        versions = _versions(metadata, object_id)
        number = max(versions) + 1
        version_id = await self._post_secret(
            value,
            _kind(root),
            f"{VERSION_NAME}{object_id}:{number}",
            root.get("algorithm"),
            root.get("bit_length"),
        )
        versions[number] = version_id
        metadata[VERSIONS_KEY] = ",".join(f"{n}:{i}" for n, i in sorted(versions.items()) if n > 1)
        async with self._undone_on_failure(version_id):
            await self._put_metadata(object_id, metadata)
        return number

    async def get(
        self, object_id: str, *, version: int | None = None, metadata_only: bool = False
    ) -> ManagedObject:
        object_id = self._id(object_id)
        root = await self._secret(object_id)
        metadata = await self._metadata(object_id)
        versions = _versions(metadata, object_id)
        chosen = max(versions) if version is None else version
        if chosen not in versions:
            numbers = ", ".join(map(str, sorted(versions)))
            raise SecretNotFound(f"{object_id} has no version {version} (it has {numbers})")
        value = None
        if not metadata_only:
            value = Secret(await self._payload(versions[chosen]))
        found = _to_object(root, metadata, value, chosen, tuple(sorted(versions)))
        return replace(found, consumers=tuple(await self._consumers(object_id)))

    async def find(
        self, *, kind: Kind | None = None, name: str | None = None
    ) -> list[ManagedObject]:
        params: dict[str, Any] = {"limit": PAGE, "offset": 0}
        if kind is not None:
            params["secret_type"] = kind
        if name is not None:
            params["name"] = name
        found: list[ManagedObject] = []
        while True:
            page = (await self._request("GET", "/secrets", params=params)).json()
            for secret in page.get("secrets", []):
                if (secret.get("name") or "").startswith(VERSION_NAME):
                    continue
                if name is not None and secret.get("name") != name:
                    continue  # Barbican matches names loosely; anker exactly
                secret_id = _id_of(secret["secret_ref"])
                metadata = await self._metadata(secret_id)
                versions = _versions(metadata, secret_id)
                found.append(
                    _to_object(secret, metadata, None, max(versions), tuple(sorted(versions)))
                )
            params["offset"] += PAGE
            if params["offset"] >= page.get("total", 0):
                return found

    async def delete(self, object_id: str, *, force: bool = False) -> None:
        object_id = self._id(object_id)
        await self._secret(object_id)
        consumers = await self._consumers(object_id)
        if consumers and not force:
            users = ", ".join(f"{c.service}/{c.resource_type}/{c.resource_id}" for c in consumers)
            raise SecretInUse(f"{object_id} is used by {users}; delete it with force=True")
        for consumer in consumers:
            await self.remove_consumer(object_id, consumer)
        versions = _versions(await self._metadata(object_id), object_id)
        for number, version_id in sorted(versions.items()):
            if number > 1:
                await self._request("DELETE", f"/secrets/{version_id}", missing_ok=True)
        await self._request("DELETE", f"/secrets/{object_id}")

    async def add_consumer(self, object_id: str, consumer: Consumer) -> None:
        object_id = self._id(object_id)
        await self._request("POST", f"/secrets/{object_id}/consumers", json=consumer.as_dict())

    async def remove_consumer(self, object_id: str, consumer: Consumer) -> None:
        object_id = self._id(object_id)
        await self._request(
            "DELETE", f"/secrets/{object_id}/consumers", json=consumer.as_dict(), missing_ok=True
        )

    @contextlib.asynccontextmanager
    async def _undone_on_failure(self, secret_id: str) -> AsyncIterator[None]:
        """Delete a secret just made if what completes it fails: no half-made objects."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                await self._request("DELETE", f"/secrets/{secret_id}", missing_ok=True)
            raise

    # ------------------------------------------------------------------ Barbican calls
    async def _post_secret(
        self,
        value: bytes,
        kind: Kind,
        name: str | None,
        algorithm: str | None,
        bit_length: int | None,
    ) -> str:
        body: dict[str, Any] = {
            "secret_type": kind,
            "payload": base64.b64encode(value).decode("ascii"),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64",
        }
        if name:
            body["name"] = name
        if algorithm:
            body["algorithm"] = algorithm
        if bit_length:
            body["bit_length"] = bit_length
        answer = await self._request("POST", "/secrets", json=body)
        return _id_of(answer.json()["secret_ref"])

    def _id(self, object_id: str) -> str:
        """A Barbican secret id; anything else names nothing (and never reaches a URL)."""
        try:
            return str(uuid.UUID(object_id))
        except (ValueError, TypeError, AttributeError):
            raise SecretNotFound(f"no object {object_id!r} in Barbican at {self._where}") from None

    async def _secret(self, object_id: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self._request("GET", f"/secrets/{object_id}")).json()
        if (data.get("name") or "").startswith(VERSION_NAME):
            raise SecretNotFound(f"{object_id} is a version of another object, not an object")
        return data

    async def _payload(self, secret_id: str) -> bytes:
        answer = await self._request(
            "GET", f"/secrets/{secret_id}/payload", headers={"Accept": "application/octet-stream"}
        )
        return answer.content

    async def _metadata(self, object_id: str) -> dict[str, str]:
        answer = await self._request("GET", f"/secrets/{object_id}/metadata")
        return dict(answer.json().get("metadata") or {})

    async def _put_metadata(self, object_id: str, metadata: dict[str, str]) -> None:
        if changed := [key for key in metadata if key != key.lower()]:
            raise SecretsError(
                f"Barbican keeps metadata keys in lower case; {', '.join(changed)} would change"
            )
        await self._request("PUT", f"/secrets/{object_id}/metadata", json={"metadata": metadata})

    async def _consumers(self, object_id: str) -> list[Consumer]:
        answer = await self._request("GET", f"/secrets/{object_id}/consumers")
        return [
            Consumer(c["service"], c["resource_type"], c["resource_id"])
            for c in answer.json().get("consumers", [])
        ]

    async def _request(
        self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any
    ) -> httpx.Response:
        import httpx

        if self._client is None:
            raise StoreUnavailable(f"Barbican at {self._where} is not connected")
        try:
            answer = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(
                f"Barbican at {self._where} did not answer {method} {path}: {exc!r}"
            ) from exc
        if answer.status_code == 404:
            if missing_ok:
                return answer
            raise SecretNotFound(f"Barbican at {self._where} has no {path.removeprefix('/')}")
        if answer.status_code == 409:
            raise SecretInUse(
                f"Barbican at {self._where} refused {method} {path}: {_reason(answer)}"
            )
        if answer.status_code in (401, 403):
            raise StoreUnavailable(
                f"Barbican at {self._where} refused {method} {path} ({answer.status_code}):"
                f" check the project or token; {_reason(answer)}"
            )
        if answer.status_code >= 400:
            raise SecretsError(
                f"Barbican at {self._where} answered {answer.status_code} to {method} {path}:"
                f" {_reason(answer)}"
            )
        return answer


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    if isinstance(body, dict):
        return str(body.get("description") or body.get("title") or body)[:200]
    return str(body)[:200]


def _id_of(secret_ref: str) -> str:
    return secret_ref.rstrip("/").rsplit("/", 1)[-1]


def _versions(metadata: dict[str, str], object_id: str) -> dict[int, str]:
    """{version: Barbican secret id}; version 1 is the object's own secret."""
    versions: dict[int, str] = {1: object_id}
    for item in filter(None, metadata.get(VERSIONS_KEY, "").split(",")):
        number, _, secret_id = item.partition(":")
        if not number.isdigit() or not secret_id:
            raise SecretsError(
                f"the {VERSIONS_KEY} metadata of {object_id} was changed by hand: {item!r}"
            )
        versions[int(number)] = secret_id
    return versions


def _kind(secret: dict[str, Any]) -> Kind:
    kind = secret.get("secret_type")
    return kind if kind in KINDS else "opaque"


def _to_object(
    secret: dict[str, Any],
    metadata: dict[str, str],
    value: Secret[bytes] | None,
    version: int,
    versions: tuple[int, ...],
) -> ManagedObject:
    created = secret.get("created")
    algorithm = secret.get("algorithm")
    return ManagedObject(
        id=_id_of(secret["secret_ref"]),
        kind=_kind(secret),
        value=value,
        name=secret.get("name"),
        algorithm=algorithm.upper() if isinstance(algorithm, str) else None,
        bit_length=secret.get("bit_length"),
        metadata={k: v for k, v in metadata.items() if not k.startswith("anker-")},
        created=dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC)
        if created
        else dt.datetime.now(dt.UTC),
        version=version,
        versions=versions,
    )
