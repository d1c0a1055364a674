"""The rules of ``strict-two-level`` (Keystone's), checked on a snapshot of the store.

:class:`~anker.limits.Quota` reads the store and checks before each ``set_project`` and
``set_limit``; an import reads it once and keeps the snapshot up to date as it writes, so
checking thousands of projects and limits costs what each of them touches, not the whole tree
every time.
"""

from __future__ import annotations

from collections.abc import Mapping

from anker.limits._errors import InvalidTree, UnknownProject
from anker.limits._model import UNLIMITED

__all__ = ["TwoLevel"]


class TwoLevel:
    """The tree, own limits and registered defaults the rules are checked against."""

    def __init__(
        self,
        tree: Mapping[str, str | None],
        own: Mapping[str, Mapping[str, int]] | None = None,
        registered: Mapping[str, int] | None = None,
    ) -> None:
        self.tree = dict(tree)
        self.own = {project: dict(limits) for project, limits in (own or {}).items()}
        self.registered = dict(registered or {})
        self.children: dict[str, set[str]] = {}
        for child, parent in self.tree.items():
            if parent is not None:
                self.children.setdefault(parent, set()).add(child)

    def check_project(self, project: str, parent: str | None) -> None:
        """Refuse ``project`` under ``parent`` if the tree would be more than two levels."""
        if parent is None:
            return
        if self.tree.get(parent) is not None:
            raise InvalidTree(
                f"project {project!r} under {parent!r}: strict-two-level allows two levels "
                f"and {parent!r} is already under {self.tree[parent]!r}"
            )
        if self.children.get(project):
            raise InvalidTree(
                f"project {project!r} has children: under strict-two-level it stays a root"
            )

    def apply_project(self, project: str, parent: str | None) -> None:
        """Check ``project`` under ``parent``, then note it (as the store will have it)."""
        self.check_project(project, parent)
        self.set_project(project, parent)

    def apply_limit(self, project: str, resource: str, limit: int | None) -> None:
        """Check ``project``'s own ``limit`` (None: none, nothing to check), then note it."""
        if limit is not None:
            self.check_limit(project, resource, limit)
        self.set_limit(project, resource, limit)

    def set_project(self, project: str, parent: str | None) -> None:
        """Note that the store now has ``project`` under ``parent``."""
        before = self.tree.get(project)
        if before is not None:
            self.children[before].discard(project)
        self.tree[project] = parent
        if parent is not None:
            self.children.setdefault(parent, set()).add(project)

    def check_limit(self, project: str, resource: str, limit: int) -> None:
        """Refuse a limit above the parent's, or below one of the children's own limits."""
        if project not in self.tree:
            raise UnknownProject(project)

        def limit_of(name: str) -> int | None:
            return self.own.get(name, {}).get(resource, self.registered.get(resource))

        parent = self.tree[project]
        if parent is not None:
            bound = limit_of(parent)
            if bound is not None and bound != UNLIMITED and (limit == UNLIMITED or limit > bound):
                raise InvalidTree(
                    f"limit {limit} of {resource!r} for {project!r} exceeds its parent "
                    f"{parent!r}'s limit {bound} (strict-two-level)"
                )
        if limit != UNLIMITED:
            # children's own limits only: one left at the default is bounded by the parent
            for child in sorted(self.children.get(project, ())):
                below = self.own.get(child, {}).get(resource)
                if below is not None and (below == UNLIMITED or below > limit):
                    raise InvalidTree(
                        f"limit {limit} of {resource!r} for {project!r} is below its child "
                        f"{child!r}'s limit {below} (strict-two-level)"
                    )

    def set_limit(self, project: str, resource: str, limit: int | None) -> None:
        """Note that the store now has ``project``'s own ``limit`` (None: none)."""
        if limit is None:
            self.own.get(project, {}).pop(resource, None)
        else:
            self.own.setdefault(project, {})[resource] = limit

    def set_default(self, resource: str, limit: int | None) -> None:
        """Note that the store now has the registered default ``limit`` (None: none)."""
        if limit is None:
            self.registered.pop(resource, None)
        else:
            self.registered[resource] = limit
