"""Replay: a new execution that re-runs a root and its dependants, reusing the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

import kitaru
from kitaru import KitaruClient, KitaruExecutionError, KitaruUsageError, checkpoint, flow
from tests.sdk.sample_flows import approval_flow, branching, diamond, gate, runs_of


def _bodies(counters: Path) -> dict[str, int]:
    return {name: runs_of(counters, name) for name in "abcd"}


def test_lineage_records_which_values_flowed_into_each_call(
    store_uri: str, counters: Path
) -> None:
    handle = diamond.run(x=1000, label="hi")
    assert handle.wait() == "HI:1001"
    parents = {c.id: c.parents for c in KitaruClient().executions.get(handle.exec_id).checkpoints}
    assert parents == {"a": ["input:x"], "b": ["a"], "c": ["input:label"], "d": ["b", "c"]}


def test_common_small_values_link_no_unrelated_calls(store_uri: str, counters: Path) -> None:
    # x=1 is the very object of every literal 1 in the program: no edge can be told apart.
    handle = diamond.run(x=1, label="hi")
    handle.wait()
    parents = {c.id: c.parents for c in KitaruClient().executions.get(handle.exec_id).checkpoints}
    assert parents["a"] == []


def test_replay_from_a_checkpoint_reruns_only_its_dependants(
    store_uri: str, counters: Path
) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    replay = diamond.replay(source.exec_id, at="b")

    assert replay.wait() == "HI:2"
    assert replay.exec_id != source.exec_id
    # b and d (downstream of b) ran again; a and c, before and after b in call order, did not.
    assert _bodies(counters) == {"a": 1, "b": 2, "c": 1, "d": 2}
    info = KitaruClient().executions.get(replay.exec_id)
    assert info.replay_of == source.exec_id
    assert {c.id: c.source for c in info.checkpoints} == {
        "a": "replay", "b": "run", "c": "replay", "d": "run"}


def test_output_override_reruns_its_consumers_only(store_uri: str, counters: Path) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    replay = diamond.replay(source.exec_id, overrides={"checkpoint.c": "EDITED"})

    assert replay.wait() == "EDITED:2"
    assert _bodies(counters) == {"a": 1, "b": 1, "c": 1, "d": 2}


def test_flow_input_override_reruns_the_inputs_consumers(
    store_uri: str, counters: Path
) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    replay = diamond.replay(source.exec_id, x=5)

    assert replay.wait() == "HI:6"
    assert _bodies(counters) == {"a": 2, "b": 2, "c": 1, "d": 2}


def test_argument_override_and_skip(store_uri: str, counters: Path) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    replay = diamond.replay(source.exec_id, overrides={"checkpoint.c.inputs.label": "yo"},
                            skip=["d"])
    assert replay.wait() == "HI:2"  # d was forced to reuse its old result
    assert _bodies(counters) == {"a": 1, "b": 1, "c": 2, "d": 1}


def test_replay_carries_recorded_wait_answers(store_uri: str, counters: Path) -> None:
    source = approval_flow.run(topic="tides")
    KitaruClient().executions.input(source.exec_id, wait="approve", value=True)
    source.wait(timeout=60)

    replay = approval_flow.replay(source.exec_id, at="draft")

    # The recorded answer is reused: the replay does not stop at the wait again.
    assert replay.wait() == "published Draft: notes on tides"
    assert KitaruClient().executions.get(replay.exec_id).runs == 1
    # publish consumes draft's output, so it is downstream of the root and runs again.
    assert (runs_of(counters, "research"), runs_of(counters, "draft"),
            runs_of(counters, "publish")) == (1, 2, 2)


def test_replay_names_unknown_checkpoints_and_bad_override_keys(
    store_uri: str, counters: Path
) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()
    with pytest.raises(KitaruUsageError, match="no checkpoint 'bb'; the source has: a, b, c, d"):
        diamond.replay(source.exec_id, at="bb")
    with pytest.raises(KitaruUsageError, match=r"keys are input\.<name>, checkpoint\.<id>"):
        diamond.replay(source.exec_id, overrides={"output.c": 1})
    with pytest.raises(KitaruUsageError, match="give a checkpoint to replay from"):
        diamond.replay(source.exec_id)


def test_calls_that_no_longer_line_up_fail_with_divergence(
    store_uri: str, counters: Path
) -> None:
    source = branching.run()
    assert source.status == "waiting"
    gate("branch").write_text("take the other path")

    KitaruClient().executions.input(source.exec_id, wait="go", value=None)

    with pytest.raises(KitaruExecutionError) as failed:
        source.wait(timeout=60)
    assert failed.value.origin == "divergence"
    assert "checkpoint call #2 is 'c' but the journal has 'step_2'" in str(failed.value)


@checkpoint
def send_email(to: str) -> str:
    return "skipped on replay" if kitaru.is_replay() else f"sent to {to}"


@flow
def emailer(to: str) -> str:
    return send_email(to)


def test_is_replay_guards_side_effects(store_uri: str) -> None:
    source = emailer.run(to="ops")
    assert source.wait() == "sent to ops"
    assert emailer.replay(source.exec_id, at="send_email").wait() == "skipped on replay"


def test_client_replay_runs_in_a_new_process(store_uri: str, counters: Path) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    replay = KitaruClient().executions.replay(source.exec_id, at="c")

    assert replay.wait(timeout=60) == "HI:2"
    assert _bodies(counters) == {"a": 1, "b": 1, "c": 2, "d": 2}
