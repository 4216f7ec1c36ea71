"""The contract every store backend keeps; runs against each backend in ``store``."""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kitaru.errors import ArtifactCorruptedError, ObjectNotFoundError, StoreConfigError
from kitaru.stores import ObjectStore, sha256_hex
from tests.stores.conftest import Backend


def test_put_if_absent_creates_once_and_keeps_the_first_value(store: ObjectStore) -> None:
    assert store.put_if_absent("journal/a.json", b"first") is True
    assert store.put_if_absent("journal/a.json", b"second") is False
    assert store.get("journal/a.json") == b"first"


def test_put_replaces_an_existing_value(store: ObjectStore) -> None:
    store.put("outcome.json", b"one")
    store.put("outcome.json", b"two")
    assert store.get("outcome.json") == b"two"


def test_get_of_a_missing_key_raises_object_not_found_naming_the_key(
    store: ObjectStore,
) -> None:
    with pytest.raises(ObjectNotFoundError, match="missing/key"):
        store.get("missing/key")
    assert store.exists("missing/key") is False


def test_get_verifies_the_digest(store: ObjectStore) -> None:
    data = b"payload"
    store.put_if_absent("blobs/x", data)
    assert store.get("blobs/x", digest=sha256_hex(data)) == data
    with pytest.raises(ArtifactCorruptedError, match="blobs/x"):
        store.get("blobs/x", digest=sha256_hex(b"something else"))


def test_streamed_read_verifies_the_digest_at_end_of_file(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4096
    store.put_if_absent("blobs/big", io.BytesIO(data))
    with store.open("blobs/big", digest=sha256_hex(data)) as stream:
        assert stream.read() == data
    with pytest.raises(ArtifactCorruptedError), store.open("blobs/big", digest="0" * 64) as bad:
        while bad.read(65536):
            pass


def test_list_returns_keys_under_a_prefix_only(store: ObjectStore) -> None:
    for key in ("executions/e1/journal/a", "executions/e1/journal/b", "executions/e2/x", "top"):
        store.put(key, b"v")
    assert store.list("executions/e1/") == ["executions/e1/journal/a", "executions/e1/journal/b"]
    assert store.list("executions/e") == [
        "executions/e1/journal/a",
        "executions/e1/journal/b",
        "executions/e2/x",
    ]
    assert "top" in store.list()


def test_folders_are_the_names_one_level_below_a_prefix(store: ObjectStore) -> None:
    for key in ("executions/e1/execution.json", "executions/e1/runs/1/start.json",
                "executions/e2/journal/a.json", "executions/loose.json", "executionsX/e3/a",
                "blobs/sha256/ab"):
        store.put(key, b"v")
    assert store.folders("executions/") == ["e1", "e2"]
    assert store.folders("executions/e1/") == ["runs"]
    assert store.folders("nothing/here/") == []
    with pytest.raises(ValueError, match="ends with '/'"):
        store.folders("executions")


def test_folders_page_through_more_than_a_thousand_names(store: ObjectStore) -> None:
    names = [f"e{i:05d}" for i in range(1105)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: store.put(f"executions/{n}/execution.json", b"v"), names))
    assert store.folders("executions/") == names


def test_delete_removes_and_tolerates_absent_keys(store: ObjectStore) -> None:
    store.put("k", b"v")
    store.delete("k")
    store.delete("k")
    assert store.exists("k") is False


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_unsafe_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(StoreConfigError):
        store.put(key, b"v")


def test_racing_writers_of_one_key_commit_exactly_one_value(store: ObjectStore) -> None:
    results: dict[int, bool] = {}
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        results[i] = store.put_if_absent("journal/race.json", f"writer-{i}".encode())

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert store.get("journal/race.json") == f"writer-{winners[0]}".encode()


class _OneWayStream(io.RawIOBase):
    """A readable stream that cannot seek, like a pipe or a socket."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._inner.readinto(buffer)


def _large_value(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@pytest.mark.parametrize("seekable", [True, False], ids=["file-like", "one-way"])
def test_a_large_value_streams_in_and_out_with_its_digest_verified(
    store: ObjectStore, seekable: bool
) -> None:
    data = _large_value(20 * 1024 * 1024 + 17)
    source = io.BytesIO(data) if seekable else _OneWayStream(data)
    assert store.put_if_absent("blobs/large", source) is True  # type: ignore[arg-type]

    sizes = []
    digest = hashlib.sha256()
    with store.open("blobs/large", digest=sha256_hex(data)) as stream:
        while chunk := stream.read(1024 * 1024):
            sizes.append(len(chunk))
            digest.update(chunk)
    assert digest.hexdigest() == sha256_hex(data)
    assert max(sizes) <= 1024 * 1024 and len(sizes) >= 20
    assert store.get("blobs/large", digest=sha256_hex(data)) == data
    assert store.put_if_absent("blobs/large", io.BytesIO(b"other")) is False


def test_an_empty_value_round_trips(store: ObjectStore) -> None:
    assert store.put_if_absent("empty", b"") is True
    assert store.get("empty", digest=sha256_hex(b"")) == b""
    with store.open("empty", digest=sha256_hex(b"")) as stream:
        assert stream.read() == b""


def test_listing_pages_through_more_than_a_thousand_keys(store: ObjectStore) -> None:
    keys = [f"many/{i:05d}" for i in range(1105)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: store.put(k, b"v"), keys))
    store.put("other/x", b"v")
    assert store.list("many/") == keys
    assert len(store.list()) == 1106


def test_stores_on_two_prefixes_of_one_bucket_do_not_see_each_other(
    backend: Backend,
) -> None:
    left, right = backend.store("tenant-a"), backend.store("tenant-b")
    left.put("journal/1.json", b"left")
    right.put("journal/1.json", b"right")
    assert left.get("journal/1.json") == b"left"
    assert right.get("journal/1.json") == b"right"
    assert left.list() == ["journal/1.json"] == right.list()
    left.put("executions/e1/execution.json", b"left")
    assert (left.folders("executions/"), right.folders("executions/")) == (["e1"], [])
    left.delete("journal/1.json")
    assert right.exists("journal/1.json") is True
    assert left.exists("journal/1.json") is False


def test_racing_writers_of_one_record_leave_one_value_and_the_losers_get_false(
    store: ObjectStore,
) -> None:
    rounds, writers = 5, 12
    for r in range(rounds):
        barrier = threading.Barrier(writers)
        key = f"journal/race-{r}.json"

        def write(i: int, key: str = key, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return store.put_if_absent(key, f"writer-{i}".encode() * 100)

        with ThreadPoolExecutor(max_workers=writers) as pool:
            results = list(pool.map(write, range(writers)))
        assert results.count(True) == 1, results
        winner = results.index(True)
        assert store.get(key) == f"writer-{winner}".encode() * 100


def test_an_object_changed_behind_the_store_fails_its_digest_check(
    backend: Backend,
) -> None:
    store = backend.store("root")
    data = b"the checkpoint result" * 1000
    store.put_if_absent("blobs/v", data)
    backend.raw_put("root/blobs/v", data[:-1] + b"!")
    with pytest.raises(ArtifactCorruptedError, match="root/blobs/v"):
        store.get("blobs/v", digest=sha256_hex(data))
    with pytest.raises(ArtifactCorruptedError), store.open("blobs/v",
                                                           digest=sha256_hex(data)) as s:
        s.read()


def test_an_empty_folder_left_by_a_write_that_died_holds_no_keys(tmp_path: Path) -> None:
    from kitaru.stores.filesystem import FilesystemStore

    store = FilesystemStore(str(tmp_path))
    store.put("executions/e1/runs/1/start.json", b"v")
    (tmp_path / "executions" / "e1" / "runs" / "2").mkdir()  # died before its first file
    assert store.folders("executions/e1/runs/") == ["1"]
