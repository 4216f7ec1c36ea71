"""How executions look in a terminal: tables, ages and the detail of one execution."""

from __future__ import annotations

import json
from datetime import datetime

from kitaru.status import ExecutionInfo


def age(when: datetime) -> str:
    """Return how long ago ``when`` was, in its largest unit: ``3d``, ``5h``, ``12s``."""
    seconds = int((datetime.now(when.tzinfo) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Return ``rows`` under ``headers`` in left-aligned columns."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def waiting_on(info: ExecutionInfo) -> str:
    """The wait a waiting execution is stopped at (a timer with its time), else ``""``."""
    wait = info.pending_wait
    if info.status != "waiting" or wait is None:
        return ""
    if wait.deadline is None:
        return wait.name
    from kitaru.timers import now

    until = wait.deadline.strftime("%Y-%m-%d %H:%M:%SZ")
    due = " (due)" if now() >= wait.deadline else ""
    kind = "timer" if wait.kind == "timer" else "until"
    return f"{wait.name} ({kind} {until}){due}"


def print_info(info: ExecutionInfo) -> None:
    """Print one execution: status, pending wait and how to answer it, checkpoints."""
    print(f"execution:   {info.exec_id}")
    print(f"flow:        {info.flow}")
    print(f"status:      {info.status}")
    print(f"runs:        {info.runs}")
    print(f"created:     {info.created_at.isoformat(timespec='seconds')}")
    if info.replay_of:
        print(f"replay of:   {info.replay_of}")
    if info.pending_wait and info.status == "waiting":
        wait = info.pending_wait
        print(f"waiting on:  {wait.name}" + (f" ({wait.question})" if wait.question else ""))
        print(f"schema:      {json.dumps(wait.schema) if wait.schema else 'any value'}")
        print(f"answer with: kitaru executions input {info.exec_id} --wait {wait.name} "
              "--value <json>")
    if info.error:
        print(f"error:       {info.error.type} ({info.error.origin}): {info.error.message}")
    if info.status == "completed":
        print(f"output:      {json.dumps(info.output)}")
    if info.usage:
        used = info.usage
        cost = f", about ${used.cost_usd:.4f}" if used.cost_usd is not None else ""
        print(f"model usage: {used.calls} call(s), {used.input_tokens} tokens in, "
              f"{used.output_tokens} out{cost} ({', '.join(used.models)})")
    if info.checkpoints:
        print()
        rows = [[str(c.seq + 1), c.id, c.type or "", c.source, str(c.run), str(c.attempts),
                 ", ".join(c.parents), c.value_type] for c in info.checkpoints]
        print(table(rows, ["#", "CHECKPOINT", "TYPE", "SOURCE", "RUN", "ATTEMPTS",
                           "INPUTS FROM", "VALUE TYPE"]))
        logged = [c for c in info.checkpoints if c.metadata]
        if logged:
            print("\nlogged with kitaru.log():")
            for c in logged:
                values = ", ".join(f"{k}={json.dumps(v)}" for k, v in c.metadata.items())
                print(f"  {c.id}: {values}")
    if info.metadata:
        values = ", ".join(f"{k}={json.dumps(v)}" for k, v in info.metadata.items())
        print(f"\nexecution metadata: {values}")
