"""The contract every store backend keeps; runs against each backend in ``store``."""

from __future__ import annotations

import io
import threading

import pytest

from kitaru.errors import ArtifactCorruptedError, ObjectNotFoundError, StoreConfigError
from kitaru.stores import ObjectStore, sha256_hex


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
