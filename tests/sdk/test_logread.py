"""Reading logs from a cursor: only what is new is read, and the pieces join up to the
whole log (what ``executions logs`` prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitaru.errors import KitaruUsageError
from kitaru.journal import ExecutionStore
from kitaru.logread import read_new
from kitaru.records import RunStart
from tests.stores.counting import CountingStore


def _reads(store: CountingStore) -> list[str]:
    """The objects read since the last call (listings left out)."""
    reads = [c.removeprefix("read ").rsplit("/runs/", 1)[-1] for c in store.calls
             if c.startswith("read ")]
    store.calls.clear()
    return reads


def test_each_look_reads_only_what_is_new_and_the_pieces_join_to_the_whole_log(
    tmp_path: Path,
) -> None:
    store = CountingStore(str(tmp_path))
    journal = ExecutionStore(store, "e1")
    journal.claim_run(RunStart(run=1, pid=1, host="h"))
    journal.write_log_part(1, 0, "one\n")
    journal.write_log_part(1, 1, "two\n")
    store.calls.clear()

    first, cursor = read_new(journal)
    assert first == "--- run 1 ---\none\ntwo\n"
    assert "1/log/00000000.txt" in _reads(store)

    journal.write_log_part(1, 2, "three\n")
    store.calls.clear()
    second, cursor = read_new(journal, cursor)
    assert second == "three\n"
    assert [r for r in _reads(store) if "/log/" in r] == ["1/log/00000002.txt"]

    # The run ends: its whole log brings the rest, and the run is never read again.
    journal.write_log(1, "one\ntwo\nthree\nrun 1 ended\n")
    third, cursor = read_new(journal, cursor)
    assert third == "run 1 ended\n"
    journal.claim_run(RunStart(run=2, pid=1, host="h"))
    journal.write_log(2, "again\n")
    store.calls.clear()
    fourth, cursor = read_new(journal, cursor)
    assert fourth == "\n--- run 2 ---\nagain\n"
    assert _reads(store) == ["2/output.log"]

    assert read_new(journal, cursor) == ("", cursor)
    assert _reads(store) == []  # two ended runs: only the run listing is made
    assert first + second + third + fourth == read_new(journal)[0] == (
        "--- run 1 ---\none\ntwo\nthree\nrun 1 ended\n\n--- run 2 ---\nagain\n")


@pytest.mark.parametrize("cursor", ["nonsense", "1-2", "1e_", "-1e", "1e;drop"])
def test_a_cursor_not_made_by_kitaru_is_refused_with_how_to_start_again(
    tmp_path: Path, cursor: str,
) -> None:
    journal = ExecutionStore(CountingStore(str(tmp_path)), "e1")
    with pytest.raises(KitaruUsageError, match="read the logs again without it"):
        read_new(journal, cursor)
