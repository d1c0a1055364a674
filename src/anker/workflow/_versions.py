"""Resuming a run under another release of its definition: compatible when its task names
match, or when the definition's ``migrate`` hook maps them; reported, never stranded, when not."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anker.workflow._model import Workflow
    from anker.workflow._store import RunInfo

__all__ = ["compatibility"]


def compatibility(
    workflow: Workflow, wanted: set[str], info: RunInfo
) -> tuple[dict[str, str], str | None]:
    """The task renames ``workflow``'s migrate hook asks for to resume ``info`` (a run of
    another version, perhaps), and why it cannot resume it (None: it can). ``wanted`` are the
    names of the tasks of ``workflow``."""
    if workflow.version == info.version:
        return {}, None
    renames: dict[str, str] = {}
    if workflow.migrate is not None:
        asked = workflow.migrate(info.version, sorted(info.tasks))
        renames = {old: new for old, new in asked.items() if old != new}
    recorded = {renames.get(name, name) for name in info.tasks}
    unknown = sorted(set(renames) - set(info.tasks))
    if recorded == wanted and not unknown and len(recorded) == len(info.tasks):
        return renames, None
    gone = ", ".join(sorted(recorded - wanted)) or "none"
    new = ", ".join(sorted(wanted - recorded)) or "none"
    return renames, (
        f"definition {info.name!r} version {workflow.version} cannot resume a run of "
        f"version {info.version}: tasks no longer defined: {gone}; tasks new: {new} "
        f"(give the workflow a migrate hook, or run version {info.version} to finish it)"
    )
