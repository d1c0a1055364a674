"""Keystone unified limits in and out, on the embedded store, in Keystone's API shapes."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event

from anker.limits import (
    InvalidTree,
    OverQuota,
    Quota,
    UnknownProject,
    export_keystone,
    import_keystone,
)

#: as GET /v3/domains, /v3/projects, /v3/registered_limits and /v3/limits return them (trimmed)
KEYSTONE = {
    "domains": [{"id": "default", "name": "Default", "enabled": True}],
    "projects": [
        {"id": "p-a", "name": "a", "domain_id": "default", "parent_id": "default",
         "is_domain": False},
        {"id": "p-a1", "name": "a1", "domain_id": "default", "parent_id": "p-a",
         "is_domain": False},
        {"id": "d-2", "name": "other", "domain_id": None, "parent_id": None, "is_domain": True},
        {"id": "p-b", "name": "b", "domain_id": "d-2", "parent_id": None, "is_domain": False},
    ],
    "registered_limits": [
        {"id": "r1", "service_id": "nova", "region_id": "RegionOne", "resource_name": "cores",
         "default_limit": 10, "description": None},
        {"id": "r2", "service_id": "nova", "region_id": None, "resource_name": "instances",
         "default_limit": 5, "description": None},
        {"id": "r3", "service_id": "glance", "region_id": None, "resource_name": "images",
         "default_limit": 3, "description": None},
        {"id": "r4", "service_id": "nova", "region_id": "RegionTwo", "resource_name": "ram",
         "default_limit": 1, "description": None},
    ],
    "limits": [
        {"id": "l1", "project_id": None, "domain_id": "default", "service_id": "nova",
         "region_id": "RegionOne", "resource_name": "cores", "resource_limit": 6},
        {"id": "l2", "project_id": "p-a1", "domain_id": None, "service_id": "nova",
         "region_id": "RegionOne", "resource_name": "cores", "resource_limit": 4},
        {"id": "l3", "project_id": "p-b", "domain_id": None, "service_id": "glance",
         "region_id": None, "resource_name": "images", "resource_limit": 1},
    ],
}  # fmt: skip


@pytest.fixture
async def quota(tmp_path: Path) -> AsyncIterator[Quota]:
    opened = await Quota.open(f"sqlite://{tmp_path}/limits.db", upgrade=True)
    yield opened
    await opened.aclose()


async def test_keystone_limits_are_enforced_through_the_tree(quota: Quota) -> None:
    done = await import_keystone(quota, KEYSTONE, service_id="nova", region_id="RegionOne")
    assert (done.projects, done.defaults, done.limits) == (5, 2, 2)
    assert await quota.projects() == {
        "default": None,
        "p-a": "default",
        "p-a1": "p-a",
        "d-2": None,
        "p-b": "d-2",
    }
    assert await quota.defaults() == {"cores": 10, "instances": 5}  # not glance's, not RegionTwo's
    assert await quota.limits() == {"default": {"cores": 6}, "p-a1": {"cores": 4}}
    await quota.claim("p-a1", {"cores": 4})
    with pytest.raises(OverQuota) as refused:
        await quota.claim("p-a", {"cores": 3})  # the domain's 6 binds
    assert refused.value.binding == "default"
    await quota.claim("p-b", {"cores": 10})  # another domain, the registered default


async def test_export_writes_keystone_s_shape_and_imports_back(
    quota: Quota, tmp_path: Path
) -> None:
    await import_keystone(quota, KEYSTONE, service_id="glance")
    exported = await export_keystone(quota, service_id="glance")
    assert exported["registered_limits"] == [
        {"resource_name": "images", "default_limit": 3, "service_id": "glance", "region_id": None}
    ]
    assert exported["limits"] == [
        {
            "project_id": "p-b",
            "domain_id": None,
            "resource_name": "images",
            "resource_limit": 1,
            "service_id": "glance",
            "region_id": None,
        }
    ]
    by_id = {p["id"]: p for p in exported["projects"]}
    assert by_id["p-a1"] == {
        "id": "p-a1", "parent_id": "p-a", "domain_id": "default", "is_domain": False,
    }  # fmt: skip
    assert by_id["d-2"]["is_domain"] is True
    other = await Quota.open(f"sqlite://{tmp_path}/other.db", upgrade=True)
    await import_keystone(other, exported)
    assert await export_keystone(other, service_id="glance") == exported
    await other.aclose()


#: a project and a default, written before the bad entries below if an import were not checked
GOOD = {
    "projects": [{"id": "p"}],
    "registered_limits": [{"resource_name": "cores", "default_limit": 4}],
}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"projects": [{"id": "a", "parent_id": "ghost"}]}, "unknown parent 'ghost'"),
        ({"projects": "nope"}, "'projects' must be a list"),
        ({"registered_limits": [{"resource_name": "cores"}]}, "no 'default_limit'"),
        ({"limits": [{"resource_name": "cores", "resource_limit": 1}]}, "names no project"),
        (
            {"projects": [{"id": "a", "parent_id": "b"}, {"id": "b", "parent_id": "a"}]},
            "cycle",
        ),
        (
            {
                **GOOD,
                "limits": [{"project_id": "p", "resource_name": "cores", "resource_limit": "x"}],
            },
            r"resource_limit of 'cores' is not a whole number: 'x'",
        ),
        (
            {
                **GOOD,
                "limits": [{"project_id": "p", "resource_name": "cores", "resource_limit": 1.5}],
            },
            "not a whole number: 1.5",  # was cut to 1
        ),
        (
            {
                "projects": [{"id": "p"}],
                "registered_limits": [{"resource_name": "ram", "default_limit": True}],
            },
            "not a whole number: True",  # was taken as 1
        ),
        (
            {
                "projects": [{"id": "p"}],
                "registered_limits": [{"resource_name": "ram", "default_limit": 10**30}],
            },
            "keystone limits: limit of 'ram'",
        ),
        (
            {
                **GOOD,
                "limits": [{"project_id": "ghost", "resource_name": "cores", "resource_limit": 1}],
            },
            "no project 'ghost'",
        ),
    ],
)
async def test_bad_keystone_data_is_named(quota: Quota, data: dict, message: str) -> None:
    with pytest.raises((ValueError, InvalidTree, UnknownProject), match=message):
        await import_keystone(quota, data)
    # what came before the bad entry was not written either
    assert (await quota.projects(), await quota.defaults()) == ({}, {})


def many_projects(count: int) -> dict[str, list[dict[str, object]]]:
    """A domain with ``count`` projects, each with a limit of its own."""
    return {
        "domains": [{"id": "d"}],
        "projects": [{"id": f"p{i}", "parent_id": "d"} for i in range(count)],
        "registered_limits": [{"resource_name": "cores", "default_limit": 20}],
        "limits": [
            {"project_id": f"p{i}", "resource_name": "cores", "resource_limit": 8}
            for i in range(count)
        ],
    }


async def database_work(path: Path, model: str, count: int) -> int:
    """What importing ``count`` projects costs SQLite, in tens of its VM instructions (a
    figure no load changes)."""
    steps = itertools.count()

    def step() -> int:
        next(steps)
        return 0  # go on

    def watch(dbapi_connection: sqlite3.Connection, _record: object, _proxy: object) -> None:
        dbapi_connection.set_progress_handler(step, 10)

    async with await Quota.open(f"sqlite://{path}?model={model}", upgrade=True) as quota:
        event.listen(quota.store.engine, "checkout", watch)
        done = await import_keystone(quota, many_projects(count))
        assert (done.projects, done.limits) == (count + 1, count)
        event.remove(quota.store.engine, "checkout", watch)
    return next(steps)


@pytest.mark.parametrize("model", ["hierarchical", "strict-two-level"])
async def test_an_import_costs_the_same_per_project_however_many_there_are(
    tmp_path: Path, model: str
) -> None:
    # every project and limit read the whole tree (strict-two-level: and every limit) as it
    # was set: 3,000 projects took 33 s, 66 s under strict-two-level. Four times the projects
    # is four times the work (it was more than ten times)
    small = await database_work(tmp_path / "small.db", model, 100)
    large = await database_work(tmp_path / "large.db", model, 400)
    assert large < 6 * small, (small, large)
