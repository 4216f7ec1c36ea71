"""The operator's cache of watched objects: newest version wins, Jobs per incarnation."""

from __future__ import annotations

from typing import Any

from kitaru_operator.cache import ObjectCache


def _obj(name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version, **extra},
            "status": {"phase": f"at-{version}"}}


def _job(name: str, version: str, owner_uid: str, **extra: Any) -> dict[str, Any]:
    return _obj(name, version, ownerReferences=[{"kind": "Execution", "uid": owner_uid}],
                **extra)


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


def test_only_the_version_the_operator_wrote_is_its_echo() -> None:
    cache = ObjectCache()
    cache.put_execution(_obj("a", "5"))  # a listing (the resync) is not a write of ours
    assert not cache.echo(_obj("a", "5"))
    cache.wrote(_obj("a", "6"))  # the answer to our status patch
    assert cache.echo(_obj("a", "6"))
    assert not cache.echo(_obj("a", "7"))  # someone else's change after ours
    cache.wrote(_job("a-r1", "8", "uid-1"), "a")
    assert cache.echo(_job("a-r1", "8", "uid-1"), "a")
    assert not cache.echo(_job("a-r1", "9", "uid-1"), "a")  # the Job controller's update
    cache.forget("ns", "a")  # the Execution was deleted: a new one under its name is new
    assert not cache.echo(_obj("a", "6")) and not cache.echo(_job("a-r1", "8", "uid-1"), "a")


def test_a_job_the_operator_deleted_stays_gone_whatever_its_deletion_still_brings() -> None:
    cache = ObjectCache()
    cache.put_job("a", _job("a-r1", "5", owner_uid="u", uid="job-1"))
    cache.put_job("a", _job("a-r2", "6", owner_uid="u", uid="job-2"))
    cache.deleting_job("ns", "a", "a-r1")
    # The Job controller updates it once more while its pod goes, before DELETED arrives.
    cache.put_job("a", _job("a-r1", "7", owner_uid="u", uid="job-1"))
    assert [j["metadata"]["name"] for j in cache.jobs("ns", "a", "u")] == ["a-r2"]
    cache.deleting_job("ns", "a", "a-r9")  # never seen: nothing to do


def test_a_tag_is_resolved_from_the_watched_flow_versions_first_by_name() -> None:
    cache = ObjectCache()

    def fv(name: str, flow: str, version: int, namespace: str = "ns") -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": "1"},
                "spec": {"flow": flow, "version": version}}

    for body in (fv("agent-v2b", "agent", 2), fv("agent-v2", "agent", 2),
                 fv("agent-v1", "agent", 1), fv("other-v2", "other", 2),
                 fv("agent-v3", "agent", 3, namespace="elsewhere")):
        cache.put_flow_version(body)
    found = cache.flow_version_of("ns", "agent", 2)
    assert found is not None and found["metadata"]["name"] == "agent-v2"  # as a listing
    assert cache.flow_version_of("ns", "agent", 3) is None  # another namespace's
    cache.drop_flow_version("ns", "agent-v2")
    assert cache.flow_version_of("ns", "agent", 2)["metadata"]["name"] == "agent-v2b"  # type: ignore[index]
