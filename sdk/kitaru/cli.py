"""The ``kitaru`` command line: run flows and inspect or drive executions.

Every failure prints one line, ``kitaru: error: <reason>``, and exits non-zero (2 for a
malformed command, 1 for a refused request).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from kitaru.client import KitaruClient
from kitaru.errors import KitaruError
from kitaru.flow import load_flow
from kitaru.status import STATUSES, ExecutionInfo


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kitaru: error: {message} (see {self.prog} --help)\n")


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KitaruError(
            f"{what} is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}; "
            "quote strings, for example '\"yes\"'"
        ) from exc


def _age(when: datetime) -> str:
    seconds = int((datetime.now(when.tzinfo) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def _waiting_on(info: ExecutionInfo) -> str:
    return info.pending_wait.name if info.status == "waiting" and info.pending_wait else ""


def _print_info(info: ExecutionInfo) -> None:
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
        print(f"schema:      {json.dumps(wait.schema_) if wait.schema_ else 'any value'}")
        print(f"answer with: kitaru executions input {info.exec_id} --wait {wait.name} "
              "--value <json>")
    if info.error:
        print(f"error:       {info.error.type} ({info.error.origin}): {info.error.message}")
    if info.status == "completed":
        print(f"output:      {json.dumps(info.output)}")
    if info.checkpoints:
        print()
        rows = [[str(c.seq + 1), c.id, c.type or "", c.source, str(c.run), str(c.attempts),
                 ", ".join(c.parents), c.value_type] for c in info.checkpoints]
        print(_table(rows, ["#", "CHECKPOINT", "TYPE", "SOURCE", "RUN", "ATTEMPTS",
                            "INPUTS FROM", "VALUE TYPE"]))


def _emit(args: argparse.Namespace, info: ExecutionInfo, summary: str) -> None:
    if args.output == "json":
        print(info.model_dump_json(by_alias=True, indent=2))
    else:
        print(summary)


def _cmd_run(args: argparse.Namespace, client: KitaruClient) -> int:
    inputs = _json_arg(args.input, "--input") if args.input else {}
    if not isinstance(inputs, dict):
        raise KitaruError(
            f"--input must be a JSON object of the flow's arguments, got {args.input}"
        )
    sys.path.insert(0, str(Path.cwd()))
    flow = load_flow(args.entrypoint, None).options(store=client.store)
    handle = flow.run(**inputs)
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id} {info.status}" + (
        f" (waiting on {_waiting_on(info)})" if info.status == "waiting" else ""))
    return 0 if info.status != "failed" else 1


def _cmd_list(args: argparse.Namespace, client: KitaruClient) -> int:
    infos = client.executions.list(flow=args.flow, status=args.status, limit=args.limit)
    if args.output == "json":
        print(json.dumps([json.loads(i.model_dump_json(by_alias=True)) for i in infos], indent=2))
        return 0
    rows = [[i.exec_id, i.flow, i.status, _waiting_on(i), str(i.runs), _age(i.created_at)]
            for i in infos]
    print(_table(rows, ["EXECUTION", "FLOW", "STATUS", "WAITING ON", "RUNS", "AGE"]))
    return 0


def _cmd_get(args: argparse.Namespace, client: KitaruClient) -> int:
    info = client.executions.get(args.exec_id)
    if args.output == "json":
        print(info.model_dump_json(by_alias=True, indent=2))
    else:
        _print_info(info)
    return 0


def _cmd_logs(args: argparse.Namespace, client: KitaruClient) -> int:
    print(client.executions.logs(args.exec_id), end="")
    return 0


def _cmd_input(args: argparse.Namespace, client: KitaruClient) -> int:
    value = _json_arg(args.value, "--value")
    wait = args.wait
    if wait is None:
        pending = client.executions.pending_waits(args.exec_id)
        if not pending:
            raise KitaruError(f"execution {args.exec_id} is not waiting for input")
        wait = pending[0].name
    handle = client.executions.input(args.exec_id, wait=wait, value=value)
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id}: answer to {wait!r} accepted; run {info.runs} started")
    return 0


def _cmd_action(args: argparse.Namespace, client: KitaruClient) -> int:
    actions = {"retry": client.executions.retry, "resume": client.executions.resume,
               "cancel": client.executions.cancel}
    handle = actions[args.command](args.exec_id)
    info = client.executions.get(handle.exec_id)
    verb = {"retry": "retrying", "resume": "resuming", "cancel": "cancel requested"}
    _emit(args, info, f"{info.exec_id}: {verb[args.command]} (status {info.status})")
    return 0


def _cmd_replay(args: argparse.Namespace, client: KitaruClient) -> int:
    overrides = _json_arg(args.overrides, "--overrides") if args.overrides else {}
    if not isinstance(overrides, dict):
        raise KitaruError("--overrides must be a JSON object such as "
                          "'{\"checkpoint.research\": \"new notes\"}'")
    handle = client.executions.replay(args.exec_id, at=args.at, overrides=overrides,
                                      skip=args.skip or [])
    info = client.executions.get(handle.exec_id)
    _emit(args, info, f"{info.exec_id}: replay of {args.exec_id} started")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the ``kitaru`` argument parser."""
    # Global options are accepted before or after the subcommand; the subcommands'
    # copies default to SUPPRESS so they never overwrite a value given earlier.
    parser = _Parser(prog="kitaru", description="Durable runtime for Python AI agents.")
    common = _Parser(add_help=False)
    for target, default_store, default_output in ((parser, None, "text"),
                                                  (common, argparse.SUPPRESS, argparse.SUPPRESS)):
        target.add_argument("--store", default=default_store,
                            help="store URI (default $KITARU_STORE or ./.kitaru)")
        target.add_argument("--output", "-o", choices=["text", "json"], default=default_output)
    sub = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)
    run = sub.add_parser("run", parents=[common], help="run a flow here until it ends or waits")
    run.add_argument("entrypoint", help="module:flow, importable from the current folder")
    run.add_argument("--input", help="the flow's arguments as a JSON object")
    run.set_defaults(func=_cmd_run)

    ex = sub.add_parser("executions", parents=[common], help="inspect and drive executions")
    ex_sub = ex.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = ex_sub.add_parser("list", parents=[common], help="list executions, newest first")
    ls.add_argument("--flow")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--limit", type=int)
    ls.set_defaults(func=_cmd_list)
    for name, func, text in (("get", _cmd_get, "show one execution and its checkpoints"),
                             ("logs", _cmd_logs, "print what each run printed"),
                             ("retry", _cmd_action, "retry a failed execution"),
                             ("resume", _cmd_action, "resume an answered, waiting execution"),
                             ("cancel", _cmd_action, "cancel an execution")):
        cmd = ex_sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("exec_id")
        cmd.set_defaults(func=func)
    inp = ex_sub.add_parser("input", parents=[common], help="answer a wait and resume")
    inp.add_argument("exec_id")
    inp.add_argument("--wait", help="the wait's name (default: the one it waits on)")
    inp.add_argument("--value", required=True, help="the answer as JSON: true, '\"text\"', ...")
    inp.set_defaults(func=_cmd_input)
    rep = ex_sub.add_parser("replay", parents=[common], help="replay from a checkpoint")
    rep.add_argument("exec_id")
    rep.add_argument("--from", dest="at", help="the checkpoint id to replay from")
    rep.add_argument("--overrides", help="JSON object: input.<name>, checkpoint.<id>, ...")
    rep.add_argument("--skip", action="append", help="a checkpoint to reuse (repeatable)")
    rep.set_defaults(func=_cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kitaru`` command; return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        client = KitaruClient(args.store)
        code: int = args.func(args, client)
    except KitaruError as exc:
        print(f"kitaru: error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
