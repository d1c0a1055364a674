"""``Claim``: resources reserved against every level of a project's quota, until committed
(the resource exists) and then released (the resource is gone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

    from anker.limits._model import ClaimInfo
    from anker.limits._store import Store

__all__ = ["Claim"]


class Claim:
    """Resources granted to a project by :meth:`Quota.claim <anker.limits.Quota.claim>`.

    A claim starts *pending*: its reservation counts against every limit at once, and is
    given back by itself when its lease runs out, so a caller that crashes before creating the
    resource leaks nothing. :meth:`commit` once the resource exists makes it permanent;
    :meth:`release` when the resource is deleted (or creating it failed) gives it back.
    Releasing twice gives back once. As an async context manager, a claim is released if the
    block raises and committed if it does not::

        async with await quota.claim("project-a", {"cores": 4}) as claim:
            server = await create_server()
        # committed: keep claim.id with the server, release it when the server is deleted
    """

    def __init__(self, store: Store, info: ClaimInfo) -> None:
        self._store = store
        self.info = info

    @property
    def id(self) -> str:
        """The claim's id: keep it with the resource, to release it when that is deleted."""
        return self.info.id

    @property
    def project(self) -> str:
        """The project the resources were claimed for."""
        return self.info.project

    @property
    def resources(self) -> Mapping[str, int]:
        """What was claimed, by resource."""
        return self.info.resources

    @property
    def committed(self) -> bool:
        """Whether :meth:`commit` made the claim permanent."""
        return self.info.committed

    @property
    def expires(self) -> float | None:
        """When an uncommitted claim's lease runs out (the store's clock), None once
        committed."""
        return self.info.expires

    async def commit(self) -> None:
        """Make the claim permanent (idempotent). Raises
        :class:`~anker.limits.ClaimNotFound` if it is gone: released, or its lease ran out
        and the reservation was given back (then claim again)."""
        self.info = await self._store.commit(self.id)

    async def release(self) -> bool:
        """Give the resources back; False if the claim was already gone (released, or
        expired)."""
        return await self._store.release(self.id) is not None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.commit()
        else:
            await self.release()

    def __repr__(self) -> str:
        state = "committed" if self.committed else "pending"
        amounts = ", ".join(f"{k}={v}" for k, v in sorted(self.resources.items()))
        return f"<Claim {self.id} {self.project!r} {amounts} {state}>"
