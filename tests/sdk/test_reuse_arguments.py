"""A recorded result is reused only for a call with the same arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruExecutionError, KitaruUsageError
from kitaru.journal import ExecutionStore, list_execution_ids
from kitaru.stores import open_store
from tests.sdk.sample_flows import (
    diamond,
    gate,
    label_from_file,
    runs_of,
    squares,
    summarize_flow,
)


def test_replay_reruns_a_call_whose_argument_was_derived_from_a_changed_result(
    store_uri: str, counters: Path
) -> None:
    source = summarize_flow.run(url="a.example/one")
    assert source.wait() == "summary of the document at a.example/one"

    replay = summarize_flow.replay(source.exec_id, url="b.example/two")

    assert replay.wait() == "summary of the document at b.example/two"
    assert (runs_of(counters, "fetch_doc"), runs_of(counters, "summarize")) == (2, 2)
    logs = KitaruClient().executions.logs(replay.exec_id)
    assert "checkpoint summarize: argument 'prompt' differs from execution" in logs


def test_replay_still_reuses_calls_whose_arguments_did_not_change(
    store_uri: str, counters: Path
) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    replay = diamond.replay(source.exec_id, overrides={"input.label": "yo"})

    assert replay.wait() == "YO:2"
    assert {n: runs_of(counters, n) for n in "abcd"} == {"a": 1, "b": 1, "c": 2, "d": 2}
    info = KitaruClient().executions.get(replay.exec_id)
    assert {c.id: c.source for c in info.checkpoints} == {
        "a": "replay", "b": "replay", "c": "run", "d": "run"}


def test_equal_small_scalars_do_not_make_a_replay_rerun_unrelated_calls(
    store_uri: str, counters: Path
) -> None:
    source = squares.run()
    assert source.wait() == 6
    parents = {c.id: c.parents for c in KitaruClient().executions.get(source.exec_id).checkpoints}
    assert parents["add"] == []  # 4 and the literal 1 are both too common to trace

    replay = squares.replay(source.exec_id, at="square_2")

    assert replay.wait() == 6
    assert (runs_of(counters, "square"), runs_of(counters, "add")) == (3, 1)


def test_a_resume_that_calls_a_finished_checkpoint_differently_is_a_divergence(
    store_uri: str, counters: Path
) -> None:
    gate("label").write_text("first label")
    handle = label_from_file.run()
    gate("label").write_text("another label")

    KitaruClient().executions.input(handle.exec_id, wait="go", value=True)

    with pytest.raises(KitaruExecutionError) as failed:
        handle.wait(timeout=60)
    assert failed.value.origin == "divergence"
    assert str(failed.value).count("checkpoint 'echo' is called with another 'label' than in "
                                   "run 1") == 1
    assert runs_of(counters, "echo") == 1


def test_an_unchanged_resume_reuses_its_checkpoints(store_uri: str, counters: Path) -> None:
    gate("label").write_text("the same label")
    handle = label_from_file.run()

    KitaruClient().executions.input(handle.exec_id, wait="go", value=True)

    assert handle.wait(timeout=60) == "the same label"
    assert runs_of(counters, "echo") == 1


@pytest.mark.parametrize(("override", "message"), [
    ("input.nope", "replay override 'input.nope': flow 'diamond' has no input 'nope'; its "
                   "inputs are: label, x"),
    ("checkpoint.b.inputs.nope", "replay override 'checkpoint.b.inputs.nope': checkpoint "
                                 "'b' has no parameter 'nope'; its parameters are: av"),
])
def test_a_replay_override_naming_nothing_is_refused_before_anything_starts(
    store_uri: str, counters: Path, override: str, message: str
) -> None:
    source = diamond.run(x=1, label="hi")
    source.wait()

    with pytest.raises(KitaruUsageError) as refused:
        diamond.replay(source.exec_id, overrides={override: 5})

    assert str(refused.value) == message
    assert list_execution_ids(open_store(store_uri)) == [source.exec_id]


def test_a_run_that_skips_recorded_checkpoints_says_so_in_the_log(
    store_uri: str, counters: Path
) -> None:
    from tests.sdk.sample_flows import stops_early

    handle = stops_early.run()
    gate("early").write_text("yes")

    KitaruClient().executions.input(handle.exec_id, wait="go", value=None)

    assert handle.wait(timeout=60) == 1
    logs = KitaruClient().executions.logs(handle.exec_id)
    assert "run 2 finished without calling 1 recorded checkpoint(s): step_2 (run 1)" in logs
    journal = ExecutionStore(open_store(store_uri), handle.exec_id)
    outcome = journal.run_outcome(2)
    assert outcome is not None
    assert outcome.metadata["kitaru.unreached_checkpoints"] == ["step_2"]
