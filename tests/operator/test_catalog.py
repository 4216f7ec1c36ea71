"""FlowVersion and Flow status, decided without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

from kitaru_operator.catalog import flow_status, flow_version_status

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPEC = {"flow": "research", "version": 2, "image": "agents:1",
        "entrypoint": "agents.research:research_agent",
        "store": {"uri": "s3://bucket/k", "credentialsSecret": {"name": "creds"}}}


def answers(ok: bool, reason: str, message: str):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str | None]] = []

    def check(uri: str, secret: str | None) -> tuple[bool, str, str]:
        calls.append((uri, secret))
        return ok, reason, message
    return check, calls


def test_a_usable_flow_version_is_ready_after_its_store_answered() -> None:
    check, calls = answers(True, "StoreAnswers", "store s3://bucket/k answers")
    status = flow_version_status(SPEC, generation=3, now=NOW, default_store=None,
                                 check_store=check)
    (ready,) = status.conditions
    assert (ready.type, ready.status, ready.reason) == ("Ready", "True", "StoreAnswers")
    assert ready.observed_generation == 3 and calls == [("s3://bucket/k", "creds")]
    again = flow_version_status(SPEC, generation=3, now=NOW.replace(hour=13),
                                default_store=None, check_store=check, old=status)
    assert again.conditions[0].last_transition_time == NOW  # unchanged: same time


def test_typos_say_what_to_fix_before_any_run() -> None:
    check, calls = answers(True, "StoreAnswers", "")
    bad = flow_version_status({**SPEC, "entrypoint": "agents.research"}, generation=1,
                              now=NOW, default_store=None, check_store=check)
    assert (bad.conditions[0].status, bad.conditions[0].reason) == ("False", "BadEntrypoint")
    assert "package.module:flow" in bad.conditions[0].message and calls == []
    storeless = flow_version_status({**SPEC, "store": None}, generation=1, now=NOW,
                                    default_store=None, check_store=check)
    assert storeless.conditions[0].reason == "NoStore"
    defaulted = flow_version_status({**SPEC, "store": None}, generation=1, now=NOW,
                                    default_store="s3://default/k", check_store=check)
    assert defaulted.conditions[0].status == "True" and calls == [("s3://default/k", None)]
    check, _ = answers(False, "SecretNotFound", "spec.store.credentialsSecret: no Secret")
    missing = flow_version_status(SPEC, generation=1, now=NOW, default_store=None,
                                  check_store=check)
    assert missing.conditions[0].reason == "SecretNotFound"


def test_a_flow_lists_its_versions_and_where_each_tag_points() -> None:
    status = flow_status("research", {"production": 1, "latest": 2},
                         {1: "research-v1", 2: "research-v2"}, generation=1, now=NOW)
    assert status.versions == [1, 2]
    assert status.tags == {"production": "research-v1", "latest": "research-v2"}
    assert status.conditions[0].status == "True"
    dangling = flow_status("research", {"canary": 9}, {1: "research-v1"}, generation=1,
                           now=NOW)
    assert dangling.conditions[0].reason == "TagWithoutVersion"
    assert "canary -> 9" in dangling.conditions[0].message
