"""One function per subcommand: parse its values, call the client, print the result.

Each returns the exit code, or raises :class:`~kitaru.errors.KitaruError` with the one
line the user should read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from kitaru.cli.loading import import_flow
from kitaru.cli.render import age, print_info, table, waiting_on
from kitaru.cli.streams import stdout_to_stderr
from kitaru.client import KitaruClient
from kitaru.errors import KitaruError
from kitaru.status import ExecutionInfo


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KitaruError(
            f"{what} is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}; "
            "quote strings, for example '\"yes\"'"
        ) from exc


def _emit(args: argparse.Namespace, info: ExecutionInfo, summary: str) -> None:
    if args.output == "json":
        print(info.model_dump_json(indent=2))
    else:
        print(summary)


def _failure(info: ExecutionInfo) -> KitaruError:
    error = info.error
    if error is None:
        return KitaruError(f"execution {info.exec_id} failed without recording why; "
                           f"see: kitaru executions logs {info.exec_id}")
    return KitaruError(
        f"execution {info.exec_id} failed: {error.type} (origin: {error.origin}): "
        f"{error.message}; once the cause is fixed: kitaru executions retry {info.exec_id}"
    )


def _wait_name(args: argparse.Namespace, client: KitaruClient) -> str:
    """The wait named by ``--wait``, else the one the execution is stopped at."""
    if args.wait is not None:
        return str(args.wait)
    pending = client.executions.pending_waits(args.exec_id)
    if not pending:
        raise KitaruError(f"execution {args.exec_id} is not waiting for input")
    return pending[0].name


def run(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru run``: run a flow in this process until it ends or waits."""
    inputs = _json_arg(args.input, "--input") if args.input else {}
    if not isinstance(inputs, dict):
        raise KitaruError(
            f"--input must be a JSON object of the flow's arguments, got {args.input}"
        )
    prints_aside = stdout_to_stderr() if args.output == "json" else contextlib.nullcontext()
    with prints_aside:
        handle = import_flow(args.entrypoint).options(store=client.store).run(**inputs)
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id} {info.status}" + (
        f" (waiting on {waiting_on(info)})" if info.status == "waiting" else ""))
    if info.status == "failed":
        raise _failure(info)
    return 0


def list_executions(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions list``: executions, newest first."""
    infos = client.executions.list(flow=args.flow, status=args.status, limit=args.limit)
    if args.output == "json":
        print(json.dumps([i.model_dump(mode="json") for i in infos], indent=2))
    elif not infos:
        which = (f" of flow {args.flow!r}" if args.flow else "") + (
            f" with status {args.status}" if args.status else "")
        print(f"no executions{which} in store {client.store.uri}", file=sys.stderr)
    else:
        rows = [[i.exec_id, i.flow, i.status, waiting_on(i), str(i.runs), age(i.created_at)]
                for i in infos]
        print(table(rows, ["EXECUTION", "FLOW", "STATUS", "WAITING ON", "RUNS", "AGE"]))
    return 0


def get(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions get``: one execution and its checkpoints."""
    info = client.executions.get(args.exec_id)
    if args.output == "json":
        print(info.model_dump_json(indent=2))
    else:
        print_info(info)
    return 0


def logs(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions logs``: what each run printed (``--follow``: as it prints)."""
    if not args.follow:
        print(client.executions.logs(args.exec_id), end="")
        return 0
    for text in client.executions.follow_logs(args.exec_id):
        print(text, end="", flush=True)
    return 0


def abort_wait(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions abort-wait``: the flow's wait() raises; the execution goes on."""
    wait = _wait_name(args, client)
    handle = client.executions.abort_wait(args.exec_id, wait=wait)
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id}: wait {wait!r} aborted; run {info.runs} started")
    return 0


def artifacts_list(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru artifacts list``: every checkpoint result and saved artifact."""
    found = client.artifacts.list(args.exec_id)
    if args.output == "json":
        print(json.dumps([{"id": a.id, "name": a.name, "kind": a.kind, "type": a.type,
                           "value_type": a.value.type, "size": a.value.size} for a in found],
                         indent=2))
    elif not found:
        print(f"execution {args.exec_id} has no stored values yet", file=sys.stderr)
    else:
        print(table([[a.name, a.kind, a.type, a.value.type, str(a.value.size)] for a in found],
                    ["NAME", "KIND", "TYPE", "VALUE TYPE", "BYTES"]))
    return 0


def artifacts_get(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru artifacts get``: a checkpoint's stored value (or a saved artifact's), as
    JSON read without the flow's code; text output prints a string as it is."""
    found = {a.name if a.kind == "checkpoint" else f"artifacts/{a.name}": a
             for a in client.artifacts.list(args.exec_id)}
    artifact = found.get(args.name) or found.get(f"artifacts/{args.name}")
    if artifact is None:
        known = ", ".join(sorted(found)) or "none yet"
        raise KitaruError(f"execution {args.exec_id} has no checkpoint or artifact "
                          f"{args.name!r}; it has: {known}")
    value = artifact.plain()
    if args.output == "text" and isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=2, ensure_ascii=False))
    return 0


def answer(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions input``: answer a wait; the next run starts at once."""
    value = _json_arg(args.value, "--value")
    wait = _wait_name(args, client)
    handle = client.executions.input(args.exec_id, wait=wait, value=value)
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id}: answer to {wait!r} accepted; run {info.runs} started")
    return 0


def act(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions retry|resume|cancel``."""
    actions = {"retry": client.executions.retry, "resume": client.executions.resume,
               "cancel": client.executions.cancel}
    handle = actions[args.command](args.exec_id)
    info = client.executions.get(handle.exec_id)
    verb = {"retry": "retrying", "resume": "resuming", "cancel": "cancel requested"}
    _emit(args, info, f"{info.exec_id}: {verb[args.command]} (status {info.status})")
    return 0


def replay(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions replay``: a new execution from a checkpoint of this one."""
    overrides = _json_arg(args.overrides, "--overrides") if args.overrides else {}
    if not isinstance(overrides, dict):
        raise KitaruError("--overrides must be a JSON object such as "
                          "'{\"checkpoint.research\": \"new notes\"}'")
    handle = client.executions.replay(args.exec_id, at=args.at, overrides=overrides,
                                      skip=args.skip or [])
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id}: replay of {args.exec_id} started")
    return 0


def diff(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions diff A B``: checkpoints that match, differ or only one has."""
    found = client.executions.diff(args.exec_a, args.exec_b)
    if args.output == "json":
        print(found.model_dump_json(indent=2))
        return 0
    label = {"same": "same", "changed": "changed", "only_a": f"only in {found.a}",
             "only_b": f"only in {found.b}"}
    print(table([[c.id, label[c.state]] for c in found.checkpoints], ["CHECKPOINT", "STATE"]))
    for c in found.checkpoints:
        if c.state != "changed":
            continue
        print(f"\n{c.id}:")
        for change in c.changes:
            left = json.dumps(change.a) if change.in_a else "(absent)"
            right = json.dumps(change.b) if change.in_b else "(absent)"
            print(f"  {change.path}: {left} -> {right}")
        if c.more_changes:
            print(f"  ... and {c.more_changes} more")
    print(f"\n{found.count('same')} same, {found.count('changed')} changed, "
          f"{found.count('only_a')} only in {found.a}, {found.count('only_b')} only in "
          f"{found.b}")
    return 0


def resume_due(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru executions resume-due``: continue executions whose timer or wait deadline
    has passed (``--watch``: keep doing so in the foreground until Ctrl-C)."""
    import time

    while True:
        for exec_id in client.executions.resume_due():
            print(f"{exec_id}: due; resuming", flush=True)
        if not args.watch:
            return 0
        time.sleep(args.interval)
