"""Reading an execution's logs a piece at a time: only what is new since a cursor.

A run streams its log into the store in parts while it goes and writes the whole log
when it ends. A reader that comes back every second (``executions logs --follow``, the
dashboard) would otherwise read every part of every run each time: for a run that has
printed for an hour, thousands of objects a second. With a cursor it reads nothing of a
run it saw end, and only the parts it has not seen of a run still going.

The cursor is text, safe in a URL, made only by :func:`read_new`: for each run seen,
``<run>e`` once it ended, else ``<run>-<parts read>-<characters shown>``, joined by
``_`` (``1e_2-14-5210``). The empty cursor starts from the beginning.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from kitaru.errors import KitaruUsageError
from kitaru.journal import ExecutionStore

_RUN = re.compile(r"(\d+)(?:(e)|-(\d+)-(\d+))")


class RunRead(NamedTuple):
    """How far a reader got in one run's log."""

    parts: int = 0  # streamed parts read
    chars: int = 0  # characters shown (of the parts, and so of the whole log)
    ended: bool = False  # its whole log was shown: nothing more will come


def parse_cursor(text: str) -> dict[int, RunRead]:
    """The runs a cursor says were read, and how far; a cursor not made here is refused."""
    runs: dict[int, RunRead] = {}
    for piece in text.split("_") if text else []:
        found = _RUN.fullmatch(piece)
        if found is None:
            raise KitaruUsageError(f"log cursor {text!r} was not made by Kitaru; read the "
                                   "logs again without it to start from the beginning")
        run, ended, parts, chars = found.groups()
        runs[int(run)] = (RunRead(ended=True) if ended
                          else RunRead(parts=int(parts), chars=int(chars)))
    return runs


def format_cursor(runs: dict[int, RunRead]) -> str:
    return "_".join(f"{run}e" if read.ended else f"{run}-{read.parts}-{read.chars}"
                    for run, read in sorted(runs.items()))


def read_new(journal: ExecutionStore, cursor: str = "") -> tuple[str, str]:
    """Return the log text written since ``cursor`` and the cursor to pass next time.

    Each run's text starts with a ``--- run N ---`` line the first time it is shown, so
    everything read from the empty cursor on, joined, is what ``executions logs`` shows.
    """
    runs = parse_cursor(cursor)
    pieces: list[str] = []
    for run in journal.run_numbers():
        read = runs.get(run)
        if read is not None and read.ended:
            continue
        header = ""
        if read is None:  # a run not shown yet: its heading, after a line break if not first
            header = ("\n" if runs or pieces else "") + f"--- run {run} ---\n"
            read = RunRead()
        whole = journal.read_whole_log(run)
        if whole is not None:  # the run ended: its whole log is the last word
            text = whole[read.chars:]
            runs[run] = RunRead(ended=True)
        else:
            new = journal.read_log_parts(run, start=read.parts)
            text = "".join(new)
            runs[run] = RunRead(read.parts + len(new), read.chars + len(text))
        pieces.append(header + text)
    return "".join(pieces), format_cursor(runs)
