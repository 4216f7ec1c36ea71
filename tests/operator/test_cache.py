"""The operator's cache of watched objects: newest version wins, Jobs per incarnation."""

from __future__ import annotations

from typing import Any

from kitaru_operator.cache import ObjectCache


def _obj(name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version, **extra},
            "status": {"phase": f"at-{version}"}}


def _job(name: str, version: str, owner_uid: str) -> dict[str, Any]:
    return _obj(name, version, ownerReferences=[{"kind": "Execution", "uid": owner_uid}])


def test_an_older_event_never_replaces_a_newer_copy() -> None:
    cache = ObjectCache()
    cache.put_execution(_obj("a", "20"))  # e.g. the response to the operator's own write
    cache.put_execution(_obj("a", "19"))  # the watch catching up with an older version
    assert cache.execution("ns", "a") == _obj("a", "20")
    cache.put_execution(_obj("a", "21"))
    assert cache.execution("ns", "a") == _obj("a", "21")


def test_a_version_that_is_not_a_number_always_replaces() -> None:
    cache = ObjectCache()
    cache.put_flow_version(_obj("fv", "30"))
    cache.put_flow_version(_obj("fv", "opaque"))
    assert cache.flow_version("ns", "fv") == _obj("fv", "opaque")


def test_jobs_of_an_earlier_execution_with_the_same_name_are_not_its_jobs() -> None:
    cache = ObjectCache()
    cache.put_job("a", _job("a-r1", "5", owner_uid="old-uid"))
    cache.put_job("a", _job("a-r2", "6", owner_uid="new-uid"))
    assert [j["metadata"]["name"] for j in cache.jobs("ns", "a", "new-uid")] == ["a-r2"]
    assert [j["metadata"]["name"] for j in cache.jobs("ns", "a", "old-uid")] == ["a-r1"]


def test_deleted_objects_leave_the_cache() -> None:
    cache = ObjectCache()
    cache.put_job("a", _job("a-r1", "5", owner_uid="u"))
    cache.put_job("a", _job("a-r2", "6", owner_uid="u"))
    cache.drop_job("a", _job("a-r1", "7", owner_uid="u"))
    assert [j["metadata"]["name"] for j in cache.jobs("ns", "a", "u")] == ["a-r2"]
    cache.put_execution(_obj("a", "8"))
    cache.forget("ns", "a")
    assert cache.execution("ns", "a") is None
    assert cache.jobs("ns", "a", "u") == []
    cache.put_flow_version(_obj("fv", "1"))
    cache.drop_flow_version("ns", "fv")
    assert cache.flow_version("ns", "fv") is None
