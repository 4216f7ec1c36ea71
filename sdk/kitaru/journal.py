"""One execution's documents in the store, and the only code that knows their keys.

Layout under the store root::

    blobs/sha256/<digest>                      values too big to inline (shared, by content)
    cache/<key>.json                           cache=True results, across executions
    executions/<id>/execution.json             ExecutionSpec (create-once)
    executions/<id>/runs/<n>/start.json        RunStart: which process owns run n (create-once)
    executions/<id>/runs/<n>/outcome.json      RunOutcome (create-once)
    executions/<id>/runs/<n>/output.log        what the run printed
    executions/<id>/journal/<checkpoint>.json  CheckpointRecord (create-once)
    executions/<id>/inputs/<wait>.json         Answer (create-once: an accepted answer is final)
    executions/<id>/artifacts/<name>.json      ArtifactRecord from kitaru.save
    executions/<id>/cancel.json                a cancel request

Invariant: journal records, run claims, outcomes and answers are written with
``put_if_absent``. A second writer (a zombie process, a racing retry) never replaces what
the first committed; it reads the winner back instead.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from kitaru.errors import ArtifactCorruptedError, ObjectNotFoundError
from kitaru.limits import check_name
from kitaru.model import Model
from kitaru.records import (
    Answer,
    ArtifactRecord,
    CheckpointRecord,
    ExecutionSpec,
    ReusableRecord,
    RunOutcome,
    RunProgress,
    RunStart,
    ValueRef,
)
from kitaru.serialization import Encoded
from kitaru.settled import SETTLED, Settled
from kitaru.stores.base import ObjectStore, sha256_hex

#: Values whose JSON is at most this many bytes live inside their record.
INLINE_LIMIT = 4096

M = TypeVar("M", bound=Model)


def store_value(store: ObjectStore, encoded: Encoded) -> ValueRef:
    """Write a serialized value (inline or as a blob) and return its reference."""
    digest = sha256_hex(encoded.data)
    ref = ValueRef(
        serializer=encoded.serializer,
        type=encoded.type_name,
        size=len(encoded.data),
        digest=digest,
    )
    if encoded.serializer in ("json", "pydantic", "typed-json") and len(
            encoded.data) <= INLINE_LIMIT:
        ref.inline = encoded.data.decode()
    else:
        # Content-addressed: an existing blob already holds exactly these bytes.
        store.put_if_absent(ref.blob_key, encoded.data)
    return ref


def read_value_bytes(store: ObjectStore, ref: ValueRef) -> bytes:
    """Return the serialized bytes of a value, verified against its digest."""
    if ref.inline is not None:
        data = ref.inline.encode()
        if sha256_hex(data) != ref.digest:
            raise ArtifactCorruptedError(
                f"inline value of type {ref.type} does not match its digest sha256:{ref.digest}"
            )
        return data
    return store.get(ref.blob_key, digest=ref.digest)


def _dump(model: Model) -> bytes:
    return model.model_dump_json().encode()


class ExecutionStore:
    """Reads and writes one execution's documents.

    Args:
        store: The object store holding the execution.
        exec_id: The execution's id.
        settled: Where a long-lived reader keeps the documents that never change once
            written (see :mod:`kitaru.settled`); None reads every one afresh.
    """

    def __init__(self, store: ObjectStore, exec_id: str,
                 settled: Settled | None = None) -> None:
        self.store = store
        self.exec_id = check_name("execution id", exec_id)
        self.prefix = f"executions/{exec_id}/"
        self.settled = settled

    def _key(self, rel: str) -> str:
        return self.prefix + rel

    def _read(self, rel: str, model: type[M]) -> M | None:
        try:
            return self._read_key(self._key(rel), model)
        except ObjectNotFoundError:
            return None

    def _read_key(self, key: str, model: type[M]) -> M:
        """Read and parse ``key``, or take it from :attr:`settled` when it is kept there."""
        settled = (self.settled if self.settled is not None
                   and SETTLED.fullmatch(key[len(self.prefix):]) else None)
        kept = settled.get(key) if settled is not None else None
        if kept is not None:
            return cast(M, kept)
        data = self.store.get(key)
        doc = model.model_validate_json(data)
        if settled is not None:
            settled.keep(key, doc, len(data))
        return doc

    def _create(self, rel: str, doc: M) -> tuple[bool, M]:
        """Create ``rel`` with ``doc`` unless present; return (created, the winner)."""
        if self.store.put_if_absent(self._key(rel), _dump(doc)):
            return True, doc
        winner = self._read(rel, type(doc))
        assert winner is not None  # put_if_absent lost, so the object exists
        return False, winner

    # -- the execution -----------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the execution has been created."""
        key = self._key("execution.json")
        return (self.settled is not None and self.settled.get(key) is not None) or (
            self.store.exists(key))

    def create(self, spec: ExecutionSpec) -> bool:
        """Create the execution; return False when the id is taken."""
        created, _ = self._create("execution.json", spec)
        return created

    def spec(self) -> ExecutionSpec:
        """Return the execution's spec; raise :class:`ObjectNotFoundError` when unknown."""
        spec = self._read("execution.json", ExecutionSpec)
        if spec is None:
            raise ObjectNotFoundError(
                f"no execution {self.exec_id!r} in store {self.store.uri}"
            )
        return spec

    # -- runs --------------------------------------------------------------------------

    def run_numbers(self) -> list[int]:
        """Return the numbers of every claimed run, in order."""
        return sorted(int(name) for name in self.store.folders(self._key("runs/"))
                      if name.isdigit())

    def claim_run(self, start: RunStart) -> bool:
        """Claim run ``start.run`` for one process; False when another claimed it first."""
        created, _ = self._create(f"runs/{start.run}/start.json", start)
        return created

    def run_start(self, run: int) -> RunStart | None:
        """Return who claimed ``run``."""
        return self._read(f"runs/{run}/start.json", RunStart)

    def finish_run(self, outcome: RunOutcome) -> RunOutcome:
        """Record how a run ended; return the outcome on record (the first one written)."""
        _, winner = self._create(f"runs/{outcome.run}/outcome.json", outcome)
        return winner

    def run_outcome(self, run: int) -> RunOutcome | None:
        """Return how ``run`` ended, if it did."""
        return self._read(f"runs/{run}/outcome.json", RunOutcome)

    def write_progress(self, progress: RunProgress) -> None:
        """Record how far run ``progress.run`` has got (replacing what it said before)."""
        self.store.put(self._key(f"runs/{progress.run}/progress.json"), _dump(progress))

    def run_progress(self, run: int) -> RunProgress | None:
        """Return how far ``run`` had got when it last said (None: it never did)."""
        return self._read(f"runs/{run}/progress.json", RunProgress)

    def write_log(self, run: int, text: str) -> None:
        """Store what run ``run`` printed."""
        self.store.put(self._key(f"runs/{run}/output.log"), text.encode())

    def write_branch_log(self, run: int, branch: str, text: str) -> None:
        """Store what a branch pod of run ``run`` printed (its checkpoints, joined)."""
        self.store.put(self._key(f"runs/{run}/branches/{branch}.log"), text.encode())

    def write_log_part(self, run: int, part: int, text: str) -> None:
        """Store part ``part`` of what run ``run`` has printed so far (while it runs)."""
        self.store.put(self._key(f"runs/{run}/log/{part:08d}.txt"), text.encode())

    def read_whole_log(self, run: int) -> str | None:
        """Return the log a run wrote when it ended, or None while it has not."""
        try:
            return self.store.get(self._key(f"runs/{run}/output.log")).decode(errors="replace")
        except ObjectNotFoundError:
            return None

    def read_log_parts(self, run: int, start: int = 0) -> list[str]:
        """Return the streamed parts of run ``run``'s log from part ``start`` on."""
        prefix = self._key(f"runs/{run}/log/")
        parts = []
        for key in sorted(self.store.list(prefix)):
            name = key[len(prefix):].removesuffix(".txt")
            if name.isdigit() and int(name) >= start:
                parts.append(self.store.get(key).decode(errors="replace"))
        return parts

    # -- the journal -------------------------------------------------------------------

    def records(self) -> dict[str, CheckpointRecord]:
        """Return every committed checkpoint record by id (one list, one read per record)."""
        records: dict[str, CheckpointRecord] = {}
        for key in self.store.list(self._key("journal/")):
            if key.endswith(".json"):
                record = self._read_key(key, CheckpointRecord)
                records[record.id] = record
        return records

    def record(self, checkpoint_id: str) -> CheckpointRecord | None:
        """Return one committed checkpoint record, read afresh (None: not committed)."""
        return self._read(f"journal/{checkpoint_id}.json", CheckpointRecord)

    def commit(self, record: CheckpointRecord) -> tuple[bool, CheckpointRecord]:
        """Commit a checkpoint record unless one exists; return (committed, record on file)."""
        return self._create(f"journal/{record.id}.json", record)

    # -- what a replay may reuse ---------------------------------------------------------

    def offer_reuse(self, offer: ReusableRecord) -> None:
        """Offer a replay source's record to this (replay) execution's runs.

        Offers stay apart from the journal: a run commits an offered record into its own
        journal only when its call matches, and runs the body otherwise.
        """
        self._create(f"reusable/{offer.record.id}.json", offer)

    def reusable(self) -> dict[str, ReusableRecord]:
        """Return the records offered to this replay execution, by checkpoint id."""
        offers: dict[str, ReusableRecord] = {}
        for key in self.store.list(self._key("reusable/")):
            if key.endswith(".json"):
                offer = ReusableRecord.model_validate_json(self.store.get(key))
                offers[offer.record.id] = offer
        return offers

    # -- waits and answers -------------------------------------------------------------

    def answers(self) -> dict[str, Answer]:
        """Return every accepted answer by wait name."""
        answers: dict[str, Answer] = {}
        for key in self.store.list(self._key("inputs/")):
            answer = Answer.model_validate_json(self.store.get(key))
            answers[answer.wait] = answer
        return answers

    def answer(self, answer: Answer) -> tuple[bool, Answer]:
        """Record an answer unless one was accepted already; return (recorded, on file)."""
        return self._create(f"inputs/{check_name('wait name', answer.wait)}.json", answer)

    # -- artifacts ---------------------------------------------------------------------

    def save_artifact(self, artifact: ArtifactRecord) -> None:
        """Create or replace a named artifact."""
        name = check_name("artifact name", artifact.name)
        self.store.put(self._key(f"artifacts/{name}.json"), _dump(artifact))

    def artifact(self, name: str) -> ArtifactRecord | None:
        """Return a named artifact, if saved."""
        return self._read(f"artifacts/{check_name('artifact name', name)}.json", ArtifactRecord)

    def artifacts(self) -> list[ArtifactRecord]:
        """Return every named artifact."""
        return [
            ArtifactRecord.model_validate_json(self.store.get(key))
            for key in self.store.list(self._key("artifacts/"))
        ]

    # -- cancel ------------------------------------------------------------------------

    def request_cancel(self) -> None:
        """Record that the execution must stop."""
        self.store.put(self._key("cancel.json"), json.dumps({"cancel": True}).encode())

    def cancel_requested(self) -> bool:
        """Whether a cancel was requested."""
        return self.store.exists(self._key("cancel.json"))


def list_execution_ids(store: ObjectStore) -> list[str]:
    """Return the id of every execution in the store, from its folder names alone.

    An execution being created may not have its spec yet: a reader that finds no spec
    (:meth:`ExecutionStore.spec` raises :class:`ObjectNotFoundError`) skips it.
    """
    return store.folders("executions/")


def cache_key_path(key: str) -> str:
    """Return the store key of a cross-execution cache entry."""
    return f"cache/{key}.json"


def read_json(store: ObjectStore, key: str) -> Any:
    """Return the parsed JSON at ``key``, or None when absent."""
    try:
        return json.loads(store.get(key))
    except ObjectNotFoundError:
        return None
