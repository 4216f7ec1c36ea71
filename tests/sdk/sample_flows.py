"""Flows the SDK tests run. A module of its own, so new run processes can import them.

Each checkpoint body appends its name to a counter file under ``$KITARU_TEST_COUNTERS``;
the tests read those counts to prove how many times each body really ran, across
processes.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import kitaru
from kitaru import checkpoint, flow


def bump(name: str) -> None:
    """Record one execution of a checkpoint body."""
    folder = Path(os.environ["KITARU_TEST_COUNTERS"])
    with open(folder / name, "a") as counter:
        counter.write("x")


def runs_of(counters: Path, name: str) -> int:
    """How many times the checkpoint body ``name`` ran."""
    path = counters / name
    return len(path.read_text()) if path.exists() else 0


def gate(name: str) -> Path:
    """A file whose presence the test uses to steer a flow."""
    return Path(os.environ["KITARU_TEST_COUNTERS"]) / f"gate-{name}"


class Review(BaseModel):
    approved: bool
    comment: str = ""


@checkpoint
def research(topic: str) -> dict[str, str]:
    bump("research")
    return {"summary": f"notes on {topic}"}


@checkpoint(type="llm_call")
def draft(notes: dict[str, str]) -> str:
    bump("draft")
    return "Draft: " + notes["summary"]


@checkpoint(type="tool_call")
def publish(text: str) -> str:
    bump("publish")
    return f"published {text}"


@flow
def approval_flow(topic: str) -> str:
    notes = research(topic)
    text = draft(notes)
    ok = kitaru.wait(name="approve", schema=bool, question="Publish?")
    return publish(text) if ok else "rejected"


@flow
def review_flow(topic: str) -> str:
    text = draft(research(topic))
    review = kitaru.wait(name="review", schema=Review, question="Review the draft")
    return f"{text} | {review.approved} {review.comment}"


@checkpoint
def slow_step(n: int) -> int:
    bump(f"slow_step_{n}")
    if n == 2:
        started = gate("slow-started")
        started.write_text(str(os.getpid()))
        while not gate("slow-release").exists():
            time.sleep(0.05)
    return n * 10


@flow
def three_steps() -> list[int]:
    return [slow_step(1), slow_step(2), slow_step(3)]


@checkpoint
def fragile(x: int) -> int:
    bump("fragile")
    if not gate("fixed").exists():
        raise RuntimeError("the tool is down")
    return x + 1


@flow
def fails_until_fixed(x: int) -> int:
    first = slow_step(1)
    return fragile(x) + first


@checkpoint
def a(x: int) -> dict[str, int]:
    bump("a")
    return {"a": x}


@checkpoint
def b(av: dict[str, int]) -> dict[str, int]:
    bump("b")
    return {"b": av["a"] + 1}


@checkpoint
def c(label: str) -> str:
    bump("c")
    return label.upper()


@checkpoint
def d(bv: dict[str, int], cv: str) -> str:
    bump("d")
    return f"{cv}:{bv['b']}"


@flow
def diamond(x: int, label: str) -> str:
    av = a(x)
    bv = b(av)
    cv = c(label)
    return d(bv, cv)


@checkpoint(retries=2, retry_delay=0.01)
def flaky() -> str:
    bump("flaky")
    attempts = (Path(os.environ["KITARU_TEST_COUNTERS"]) / "flaky").read_text()
    if len(attempts) < 3:
        raise ConnectionError(f"attempt {len(attempts)} failed")
    return "ok"


@flow
def flaky_flow() -> str:
    return flaky()


@checkpoint
def step(i: int) -> dict[str, int]:
    return {"i": i}


@flow
def many_steps(n: int) -> int:
    total = 0
    for i in range(n):
        total += step(i)["i"]
    return total


@flow
def branching() -> str:
    first = step(1)
    if gate("branch").exists():
        other = c("changed")
        return f"{first} {other}"
    second = step(2)
    kitaru.wait(name="go")
    return f"{first} {second}"


def note_body_run(checkpoint_name: str, label: str) -> None:
    """Record that a body ran, for which execution, in which run (``$KITARU_RUN`` in pods)."""
    line = f"{label} {checkpoint_name} {os.environ.get('KITARU_RUN', '0')}\n"
    with open(Path(os.environ["KITARU_TEST_COUNTERS"]) / "bodies", "a") as bodies:
        bodies.write(line)  # one short append: atomic across processes


@checkpoint
def gather(label: str) -> str:
    note_body_run("gather", label)
    return f"notes for {label}"


@checkpoint
def conclude(notes: str) -> str:
    note_body_run("conclude", notes.rsplit(" ", 1)[-1])
    return notes.upper()


@flow
def approve_between(label: str) -> str:
    """A checkpoint, a wait, a checkpoint."""
    notes = gather(label)
    ok = kitaru.wait(name="approve", schema=bool, question=f"Conclude {label}?")
    return conclude(notes) if ok else "stopped"


@checkpoint
def fetch_doc(url: str) -> dict[str, str]:
    bump("fetch_doc")
    return {"text": f"the document at {url}"}


@checkpoint
def summarize(prompt: str) -> str:
    bump("summarize")
    return "summary of " + prompt.removeprefix("Summarize: ")


@flow
def summarize_flow(url: str) -> str:
    """A checkpoint whose argument is derived from an upstream result."""
    doc = fetch_doc(url)
    return summarize("Summarize: " + doc["text"])


@checkpoint
def square(n: int) -> int:
    bump("square")
    return n * n


@checkpoint
def add(a: int, b: int) -> int:
    bump("add")
    return a + b


@flow
def squares() -> int:
    four = square(2)
    one = square(1)  # square_2, whose value is 1
    total = add(four, 1)  # a literal 1, unrelated to square_2
    return total + one


@checkpoint
def echo(label: str) -> str:
    bump("echo")
    return label


@flow
def label_from_file() -> str:
    """A flow whose checkpoint argument comes from outside the flow: a file."""
    first = echo(gate("label").read_text())
    kitaru.wait(name="go")
    return first


@flow
def stops_early() -> int:
    """A flow that, once the gate exists, returns before the checkpoints it recorded."""
    first = step(1)
    if gate("early").exists():
        return first["i"]
    second = step(2)
    kitaru.wait(name="go")
    return first["i"] + second["i"]


@checkpoint
async def meet_async(i: int, barrier: Any) -> int:
    """Returns only once every call of the group is running at the same time."""
    bump("meet_async")
    await asyncio.wait_for(barrier.wait(), timeout=20)
    await asyncio.sleep(0.05 * (3 - i))  # finish in reverse call order
    return i * 10


@flow
async def gather_flow(n: int) -> list[int]:
    barrier = asyncio.Barrier(n)
    values = await asyncio.gather(*(meet_async(i, barrier) for i in range(n)))
    kitaru.wait(name="go")
    return list(values)


@checkpoint
def meet_threads(i: int, barrier: Any) -> int:
    """Returns only once every call of the group is running at the same time."""
    bump("meet_threads")
    barrier.wait(timeout=20)
    return i * 10


@flow
def map_flow(n: int) -> list[int]:
    barrier = threading.Barrier(n)
    futures = meet_threads.map(range(n), [barrier] * n)
    return [f.result() for f in futures]


class Gauge:
    """Counts bodies running at once, and the most seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


@checkpoint
def gauged(i: int, gauge: Any) -> int:
    with gauge:
        time.sleep(0.05)
    return i


@flow
def bounded_map(n: int, limit: int) -> int:
    gauge = Gauge()
    results = [f.result() for f in gauged.map(range(n), [gauge] * n, max_concurrency=limit)]
    assert results == list(range(n))
    return gauge.most


@flow
def interrupted_once() -> str:
    """Stops as Ctrl-C would on its first run, after one checkpoint."""
    step(1)
    if not gate("interrupted").exists():
        gate("interrupted").write_text("yes")
        raise KeyboardInterrupt
    return "done"


@flow
def child_flow(n: int) -> int:
    return square(n)


@flow
def parent_flow(n: int) -> int:
    """Starts a child flow, then waits: its second run must find the same child."""
    child = child_flow.run(n=n)
    kitaru.wait(name="go")
    return int(child.wait()) + 1


def note_pid(what: str) -> None:
    """Record which process ran a body (or a flow body), one line each."""
    with open(Path(os.environ["KITARU_TEST_COUNTERS"]) / "pids", "a") as pids:
        pids.write(f"{what} {os.getpid()}\n")


@checkpoint(runtime="isolated")
def iso_step(n: int) -> int:
    note_pid(f"iso_step_{n}")
    return n * 10


@checkpoint(runtime="inline")
def inline_step(x: int) -> int:
    note_pid("inline_step")
    return x + 1


@checkpoint
def iso_branch(i: int) -> int:
    """No runtime of its own: the FlowVersion's default (isolated) applies."""
    note_pid(f"iso_branch_{i}")
    folder = Path(os.environ["KITARU_TEST_COUNTERS"])
    with open(folder / "times", "a") as times:
        times.write(f"start {i} {time.time()}\n")
    if gate(f"slow-branch-{i}").exists():
        time.sleep(float(gate(f"slow-branch-{i}").read_text()))
    hold = gate(f"hold-branch-{i}")
    if hold.exists():  # the test kills this pod here, once
        gate(f"held-branch-{i}").write_text(str(os.getpid()))
        while hold.exists():
            time.sleep(0.05)
    with open(folder / "times", "a") as times:
        times.write(f"end {i} {time.time()}\n")
    return i * i


@flow
def pods_flow(width: int) -> dict[str, Any]:
    """Two sequential isolated checkpoints, an inline one, and a fan-out of ``width``.

    (Not ``n``: YAML 1.1 reads a key ``n`` as false, and kubectl speaks YAML 1.1.)
    """
    note_pid("flow")
    first = iso_step(1)
    second = iso_step(2)
    here = inline_step(second)
    squares = [f.result() for f in iso_branch.map(range(width))]
    return {"first": first, "second": second, "inline": here, "squares": squares}


@checkpoint
def empty(i: int) -> int:
    """An empty body: what a checkpoint pod costs, with nothing to do."""
    return i


@flow
def empty_steps(count: int) -> int:
    return sum(empty(i) for i in range(count))


@flow
def empty_fan(count: int) -> int:
    return sum(f.result() for f in empty.map(range(count)))


@checkpoint(retries=1, retry_delay=0.01)
def fragile_twice(x: int) -> int:
    bump("fragile_twice")
    note_pid("fragile_twice")
    if not gate("fixed").exists():
        raise RuntimeError("the tool is down")
    return x + 1


@flow
def retry_pods(x: int) -> int:
    """An isolated checkpoint that fails in user code until a gate says it is fixed."""
    first = slow_step(1)
    return fragile_twice(x) + first


@checkpoint(runtime="isolated")
async def iso_async(i: int) -> int:
    note_pid(f"iso_async_{i}")
    await asyncio.sleep(0)
    return i + 100


@flow
async def gather_pods() -> list[int]:
    return list(await asyncio.gather(*(iso_async(i) for i in range(3))))


@checkpoint(runtime="isolated", retries=1, retry_delay=0.01)
def flaky_branch(i: int) -> int:
    note_pid(f"flaky_branch_{i}")
    if i == 1 and not gate("fixed").exists():
        raise RuntimeError(f"branch {i}: the tool is down")
    return i * 10


@flow
def flaky_fan(width: int) -> list[int]:
    """A fan-out whose second branch fails in user code until a gate says it is fixed."""
    return [f.result() for f in flaky_branch.map(range(width))]


@checkpoint
def constant() -> str:
    return "always the same"


@checkpoint
def profile(name: str, score: int) -> dict[str, Any]:
    return {"name": name, "tags": ["new", name[:2]], "score": score, "ok": True}


@flow
def diff_flow(name: str, score: int, extra: bool) -> str:
    constant()
    profile(name, score)
    if extra:
        constant(id="bonus")
    return name


@checkpoint
def stamp(label: str) -> str:
    bump(f"stamp_{label}")
    return label


@flow
def nap_flow(seconds: float) -> str:
    """Sleep durably between two checkpoints, then wait for a go."""
    stamp("before")
    kitaru.sleep(seconds)
    kitaru.sleep(0)  # a no-op
    stamp("after")
    go = kitaru.wait(name="go", schema=bool, question="Go on?")
    return "went" if go else "stopped"


@flow
def deadline_flow(with_default: bool, seconds: float = 60) -> str:
    """A wait with a timeout: its default, or the timeout error the flow catches."""
    try:
        if with_default:
            answer = kitaru.wait(name="ok", schema=bool, timeout=seconds, default=False)
        else:
            answer = kitaru.wait(name="ok", schema=bool, timeout=seconds)
    except kitaru.KitaruTimeoutError:
        return "timed out"
    return f"answered {answer}"


@checkpoint
def chaos_part(label: str, i: int) -> dict[str, Any]:
    """Notes its start (execution label, checkpoint id, a token) and returns the token: the
    committed value names the body that committed it, so any start noted after that one
    is a body that ran again after its result was committed (or beside it)."""
    from kitaru.context import current_scope

    scope = current_scope()
    token = os.urandom(6).hex()
    line = f"{label} {scope.checkpoint_id if scope else '?'} {token}\n"
    with open(Path(os.environ["KITARU_TEST_COUNTERS"]) / "chaos-bodies", "a") as bodies:
        bodies.write(line)  # one short append: atomic across processes
    time.sleep(float(os.environ.get("KITARU_TEST_BODY_SECONDS", "0.5")))
    return {"i": i, "token": token}


@flow
def chaos_flow(label: str, width: int) -> int:
    """What the fault scenarios run: a checkpoint, a fan-out, a wait, a checkpoint."""
    total = chaos_part(label, 0)["i"]
    total += sum(f.result()["i"] for f in chaos_part.map([label] * width, range(1, width + 1)))
    if not kitaru.wait(name="approve", schema=bool, question=f"Finish {label}?"):
        return -1
    return total + chaos_part(label, 100)["i"]


@checkpoint
def zombie_a(label: str) -> str:
    """Blocks until the test opens this run's gate, so two runs can be inside it at once."""
    run = os.environ.get("KITARU_RUN", "0")
    note_body_run("zombie_a", label)
    opened = gate(f"{label}-a-{run}")
    while not opened.exists():
        time.sleep(0.05)
    return f"a from run {run}"


@checkpoint
def zombie_b(label: str, a: str) -> str:
    run = os.environ.get("KITARU_RUN", "0")
    note_body_run("zombie_b", label)
    return f"b({a}) in run {run}"


@flow
def zombie_flow(label: str) -> str:
    """Two checkpoints, the second fed by the first: what a run left running (a zombie)
    beside a newer run must not make inconsistent."""
    return zombie_b(label, zombie_a(label))


@checkpoint(runtime="inline")
def tiny_step(i: int) -> int:
    return i


@flow
def long_flow(steps: int) -> int:
    """``steps`` checkpoints one after another, then a wait: a long journal, at rest."""
    total = sum(tiny_step(i) for i in range(steps))
    kitaru.wait(name="done", schema=bool)
    return total


@checkpoint
def held_step(text: str) -> str:
    """Notes its pid and waits for the test to release it."""
    bump("held_step")
    gate("held-started").write_text(str(os.getpid()))
    while not gate("held-release").exists():
        time.sleep(0.05)
    return text.upper()


@flow
def wait_then_hold(topic: str) -> str:
    notes = research(topic)
    go = kitaru.wait(name="go", schema=bool)
    return held_step(notes["summary"]) if go else "stopped"


@checkpoint
def leaves_a_thread(text: str) -> str:
    """Starts a thread that outlives the body and registers an exit function, as a
    tracing exporter does: the run's process must end as an interpreter would."""
    def later() -> None:
        time.sleep(0.3)
        gate("thread-done").write_text(str(os.getpid()))

    def at_exit() -> None:
        gate("atexit-ran").write_text("after the thread" if gate("thread-done").exists()
                                      else "before the thread")

    threading.Thread(target=later).start()  # not a daemon: the process waits for it
    atexit.register(at_exit)
    return text


@flow
def wait_then_thread(topic: str) -> str:
    go = kitaru.wait(name="go", schema=bool)
    return leaves_a_thread(topic) if go else "stopped"
