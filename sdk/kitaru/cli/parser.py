"""The ``kitaru`` argument parser: subcommands, their options and how values are checked."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Any, NoReturn

import kitaru
from kitaru.cli import commands
from kitaru.status import STATUSES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kitaru: error: {message} (see {self.prog} --help)\n")


def version() -> str:
    """Return the installed distribution's version, else the source tree's."""
    try:
        return metadata.version("kitaru")
    except metadata.PackageNotFoundError:
        return f"{kitaru.__version__} (source tree, not installed)"


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the ``kitaru`` argument parser."""
    # Global options are accepted before or after the subcommand; the subcommands'
    # copies default to SUPPRESS so they never overwrite a value given earlier.
    parser = _Parser(prog="kitaru", description="Durable runtime for Python AI agents.")
    parser.add_argument("--version", action="version", version=f"kitaru {version()}")
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
    run.set_defaults(func=commands.run)

    _add_executions(sub, common)

    art = sub.add_parser("artifacts", parents=[common], help="read stored values")
    art_sub = art.add_subparsers(dest="command", required=True, parser_class=_Parser)
    als = art_sub.add_parser("list", parents=[common], help="an execution's stored values")
    als.add_argument("exec_id")
    als.set_defaults(func=commands.artifacts_list)
    aget = art_sub.add_parser("get", parents=[common],
                              help="print a checkpoint's stored value as JSON")
    aget.add_argument("exec_id")
    aget.add_argument("name", help="a checkpoint id, or the name of a saved artifact")
    aget.set_defaults(func=commands.artifacts_get)
    return parser


def _add_executions(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``kitaru executions ...`` subcommands."""
    ex = sub.add_parser("executions", parents=[common], help="inspect and drive executions")
    ex_sub = ex.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = ex_sub.add_parser("list", parents=[common], help="list executions, newest first")
    ls.add_argument("--flow")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--limit", type=_count, help="show at most this many (1 or more)")
    ls.set_defaults(func=commands.list_executions)
    lg = ex_sub.add_parser("logs", parents=[common], help="print what each run printed")
    lg.add_argument("exec_id")
    lg.add_argument("--follow", "-f", action="store_true",
                    help="keep printing what a running execution prints, until it stops")
    lg.set_defaults(func=commands.logs)
    for name, func, text in (("get", commands.get, "show one execution and its checkpoints"),
                             ("retry", commands.act, "retry a failed execution"),
                             ("resume", commands.act, "resume an answered, waiting execution"),
                             ("cancel", commands.act, "cancel an execution")):
        cmd = ex_sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("exec_id")
        cmd.set_defaults(func=func)
    inp = ex_sub.add_parser("input", parents=[common], help="answer a wait and resume")
    inp.add_argument("exec_id")
    inp.add_argument("--wait", help="the wait's name (default: the one it waits on)")
    inp.add_argument("--value", required=True, help="the answer as JSON: true, '\"text\"', ...")
    inp.set_defaults(func=commands.answer)
    abort = ex_sub.add_parser("abort-wait", parents=[common],
                              help="abort a wait: the flow's wait() raises")
    abort.add_argument("exec_id")
    abort.add_argument("--wait", help="the wait's name (default: the one it waits on)")
    abort.set_defaults(func=commands.abort_wait)
    dif = ex_sub.add_parser("diff", parents=[common],
                            help="compare two executions checkpoint by checkpoint")
    dif.add_argument("exec_a")
    dif.add_argument("exec_b")
    dif.set_defaults(func=commands.diff)
    rep = ex_sub.add_parser("replay", parents=[common], help="replay from a checkpoint")
    rep.add_argument("exec_id")
    rep.add_argument("--from", dest="at", help="the checkpoint id to replay from")
    rep.add_argument("--overrides", help="JSON object: input.<name>, checkpoint.<id>, ...")
    rep.add_argument("--skip", action="append", help="a checkpoint to reuse (repeatable)")
    rep.set_defaults(func=commands.replay)
