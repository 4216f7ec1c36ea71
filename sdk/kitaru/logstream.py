"""Streaming a run's log to the store while the run goes on.

Object stores cannot append, so the log goes up in numbered parts
(``runs/<n>/log/00000000.txt``, ...), each holding what was printed since the part
before. A background thread writes a part at least once a second when there is new
text, and soon after a checkpoint commits: the commit only signals, and parts are at
least :data:`MIN_GAP` apart, so a checkpoint never waits for its log and a burst of fast
checkpoints costs a few writes, not one each. A run killed with SIGKILL keeps
every part written up to then. When the run ends, the whole log is also written as one
object, which readers prefer.

The same thread keeps ``runs/<n>/progress.json`` (how many checkpoints are on record,
the last few) at most :data:`PROGRESS_GAP` stale, written first as the run starts: the
operator's periodic look at a run still going reads that one object instead of
listing a journal that may hold thousands of records.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from kitaru.errors import StoreError
from kitaru.journal import ExecutionStore
from kitaru.records import RunProgress

#: Seconds between two parts at most, while there is new text.
FLUSH_INTERVAL = 1.0
#: Seconds between two parts at least.
MIN_GAP = 0.2
#: Seconds between two progress writes at least.
PROGRESS_GAP = 1.0


class LogStreamer:
    """Writes the new text of ``lines`` (appended to by the run) as log parts."""

    def __init__(self, journal: ExecutionStore, run: int, lines: list[str], *,
                 interval: float = FLUSH_INTERVAL,
                 progress: Callable[[], RunProgress] | None = None) -> None:
        self.journal = journal
        self.run = run
        self.lines = lines
        self.interval = interval
        self._written = 0  # how many entries of lines are in parts already
        self._part = 0
        self.progress = progress
        self._progress_said: tuple[int, tuple[str, ...]] | None = None
        self._progress_at = float("-inf")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="kitaru-log", daemon=True)

    def start(self) -> None:
        """Start streaming."""
        self._thread.start()

    def nudge(self) -> None:
        """Ask for a part now (a checkpoint committed); returns at once."""
        self._wake.set()

    def stop(self) -> None:
        """Write what is left and stop the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def flush(self) -> None:
        """Write the text printed since the last part, if any, as the next part."""
        with self._lock:
            end = len(self.lines)
            if end == self._written:
                return
            text = "".join(self.lines[self._written:end])
            try:
                self.journal.write_log_part(self.run, self._part, text)
            except StoreError as exc:  # the next flush tries again with more text
                print(f"kitaru: cannot stream the log of run {self.run}: {exc}",
                      file=sys.__stderr__)
                return
            self._written = end
            self._part += 1

    def _write_progress(self) -> None:
        """Write the run's progress if it changed, and the last write is old enough."""
        if self.progress is None or time.monotonic() - self._progress_at < PROGRESS_GAP:
            return
        progress = self.progress()
        said = (progress.checkpoints, tuple(progress.last_checkpoints))
        if said == self._progress_said:
            return
        try:
            self.journal.write_progress(progress)
        except StoreError as exc:  # the next pass tries again
            print(f"kitaru: cannot record the progress of run {self.run}: {exc}",
                  file=sys.__stderr__)
            return
        self._progress_said, self._progress_at = said, time.monotonic()

    def _loop(self) -> None:
        self._write_progress()
        while not self._stop.is_set():
            self._wake.wait(max(self.interval - MIN_GAP, 0.0))
            self._stop.wait(MIN_GAP)  # gather what else is printed meanwhile
            self._wake.clear()
            self.flush()
            if not self._stop.is_set():  # the outcome says it all once the run ends
                self._write_progress()
        self.flush()
