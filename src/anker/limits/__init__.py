"""anker.limits: hierarchical quotas with atomic claims, and concurrency limits.

::

    from anker.limits import Quota

    async with await Quota.open("sqlite:///var/lib/svc/limits.db") as quota:
        async with await quota.claim("project-a", {"cores": 4, "instances": 1}) as claim:
            server = await create_server()  # released if this raises, committed if not

A tree of projects of any depth carries limits per resource (registered defaults, -1 for
unlimited), enforced ``flat``, ``strict-two-level`` or ``hierarchical``. A claim checks and
reserves against every level in one atomic step, and an uncommitted claim is given back when
its lease runs out. Stores, by URL scheme: ``sqlite:///file`` (embedded), ``postgresql://``
and ``redis://`` (for store authors: ``anker.limits.stores``). See ``docs/limits.md``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.limits._blocking import BlockingClaim, BlockingQuota
from anker.limits._claim import Claim
from anker.limits._concurrency import ConcurrencyLimit
from anker.limits._errors import (
    ClaimNotFound,
    ConcurrencyLimitReached,
    InvalidTree,
    LimitsError,
    OverQuota,
    StoreUnavailable,
    UnknownProject,
    UnknownResource,
)
from anker.limits._keystone import export_keystone, import_keystone
from anker.limits._model import MODELS, UNLIMITED, ClaimInfo, Usage
from anker.limits._quota import Drift, Quota

__all__ = [
    "MODELS",
    "UNLIMITED",
    "BlockingClaim",
    "BlockingQuota",
    "Claim",
    "ClaimInfo",
    "ClaimNotFound",
    "ConcurrencyLimit",
    "ConcurrencyLimitReached",
    "Drift",
    "InvalidTree",
    "LimitsError",
    "OverQuota",
    "Quota",
    "StoreUnavailable",
    "UnknownProject",
    "UnknownResource",
    "Usage",
    "export_keystone",
    "import_keystone",
]

show_public_paths(__name__, globals(), __all__)
