"""Flows the start-up benchmark runs: each checkpoint body notes when it started (wall
clock, in ``$KITARU_BENCH_MARKS/<name>``), so a launch can be timed to the body."""

from __future__ import annotations

import os
import time
from pathlib import Path

import kitaru
from kitaru import checkpoint, flow


def _mark(name: str) -> None:
    folder = os.environ.get("KITARU_BENCH_MARKS")
    if folder:
        with open(Path(folder) / name, "a") as marks:
            marks.write(f"{time.time()}\n")


@checkpoint
def before(topic: str) -> str:
    _mark("before")
    return f"notes on {topic}"


@checkpoint
def after(notes: str, ok: bool) -> str:
    _mark("after")
    return notes if ok else "rejected"


@flow
def approve(topic: str) -> str:
    notes = before(topic)
    ok = kitaru.wait(name="ok", schema=bool, question="Go on?")
    return after(notes, ok)


@checkpoint
def first(topic: str) -> str:
    _mark("first")
    return topic.upper()


@flow
def one_step(topic: str) -> str:
    return first(topic)
