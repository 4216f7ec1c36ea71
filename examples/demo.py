"""The Kitaru demo: a research agent that survives a wait and is replayed from the middle.

Run it with ``make demo`` (or ``python examples/demo.py`` in the project's virtual
environment). It needs no network and no API key: the "model" is a deterministic stand-in,
so the demo shows the runtime, not an LLM. What it does, step by step:

1. runs the flow locally against the embedded default store (``./.kitaru``): two
   checkpoints run, then the flow stops at ``kitaru.wait()``; no process is left running;
2. answers the wait with the CLI, as a person would (``kitaru executions input``), which
   resumes the execution at once in a new process; the finished checkpoints are reused;
3. replays the finished execution from its middle checkpoint with the CLI
   (``kitaru executions replay --from draft``): ``research`` is reused, ``draft`` and
   everything downstream of it run again.
"""

from __future__ import annotations

import json
import subprocess
import sys

import kitaru
from kitaru import KitaruClient, checkpoint, flow


def fake_model(prompt: str) -> str:
    """A stand-in for an LLM call: deterministic, free, offline."""
    words = prompt.split()
    return " ".join(w.capitalize() for w in words[:12]) + "."


@checkpoint(type="tool_call")
def research(topic: str) -> dict[str, str]:
    print(f"  researching {topic!r} (this would be a paid search call)")
    return {"topic": topic, "notes": f"{topic} matter because they store carbon and shelter life"}


@checkpoint(type="llm_call", retries=2)
def draft(notes: dict[str, str], tone: str) -> str:
    print(f"  drafting in a {tone} tone (this would be a paid LLM call)")
    kitaru.log(model="fake-model", prompt_tokens=len(notes["notes"].split()))
    return fake_model(f"a {tone} post: {notes['notes']}")


@checkpoint(type="tool_call")
def publish(text: str) -> str:
    if kitaru.is_replay():
        return f"(replay, not published) {text}"
    return f"published: {text}"


@flow
def research_agent(topic: str, tone: str = "friendly") -> str:
    notes = research(topic)
    text = draft(notes, tone)
    approved = kitaru.wait(name="approve", schema=bool, question=f"Publish this? {text}")
    return publish(text) if approved else "not published"


def cli(*args: str, capture: bool = False) -> str:
    """Run the kitaru CLI the way a user would, echoing the command."""
    shown = " ".join(f"'{a}'" if " " in a or "{" in a else a for a in args)
    print(f"\n$ kitaru {shown}")
    done = subprocess.run([sys.executable, "-m", "kitaru.cli", *args], check=True,
                          capture_output=capture, text=True)
    return done.stdout if capture else ""


def main() -> None:
    store = KitaruClient().store.uri
    print(f"store: {store}\n\n1. run the flow until it waits")
    handle = research_agent.run(topic="kelp forests")
    print(f"execution {handle.exec_id} is {handle.status}")
    assert handle.status == "waiting"
    cli("executions", "get", handle.exec_id)

    print("\n2. answer the wait; the execution resumes in a new process")
    cli("executions", "input", handle.exec_id, "--wait", "approve", "--value", "true")
    print(f"\nresult: {handle.wait(timeout=120)}")
    cli("executions", "get", handle.exec_id)

    print("\n3. replay from the middle checkpoint with another tone")
    client = KitaruClient()
    started = cli("executions", "replay", handle.exec_id, "--from", "draft", "--overrides",
                  json.dumps({"checkpoint.draft.inputs.tone": "formal"}), "--output", "json",
                  capture=True)
    replay = client.executions.handle(json.loads(started)["exec_id"])
    print(f"replay {replay.exec_id}: {replay.wait(timeout=120)}")
    cli("executions", "get", replay.exec_id)
    sources = {c.id: c.source for c in client.executions.get(replay.exec_id).checkpoints}
    assert sources == {"research": "replay", "draft": "run", "publish": "run"}, sources
    print("\nresearch was reused from the first execution; draft and publish ran again.")
    cli("executions", "list", "--limit", "5")


if __name__ == "__main__":
    main()
