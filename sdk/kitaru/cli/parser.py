"""The ``kitaru`` argument parser: subcommands, their options and how values are checked."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import kitaru
from kitaru.statuses import STATUSES


def _columns() -> int:
    """The terminal's width, as ``shutil.get_terminal_size`` finds it (``$COLUMNS``, else
    the terminal, else 80)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the width so that it does not import shutil for it
    (argparse makes one for every option it adds, so every command would pay for it)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kitaru: error: {message} (see {self.prog} --help)\n")


def version() -> str:
    """Return the installed distribution's version, else the source tree's."""
    from importlib import metadata

    try:
        return metadata.version("kitaru")
    except metadata.PackageNotFoundError:
        return f"{kitaru.__version__} (source tree, not installed)"


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked (it takes a scan of
    the installed distributions)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"kitaru {version()}")
        parser.exit()


def _later(module: str, name: str) -> Callable[[argparse.Namespace, Any], int]:
    """The command ``module.name``, imported when it runs: building the parser (and
    ``--help``) loads no command's module."""
    def run(args: argparse.Namespace, client: Any) -> int:
        import importlib

        command: Callable[[argparse.Namespace, Any], int] = getattr(
            importlib.import_module(module), name)
        return command(args, client)
    return run


def _command(name: str) -> Callable[[argparse.Namespace, Any], int]:
    return _later("kitaru.cli.commands", name)


def _cluster_command(name: str) -> Callable[[argparse.Namespace, Any], int]:
    return _later("kitaru.cli.cluster", name)


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return number


_CLUSTER = _Parser(add_help=False)
_CLUSTER.add_argument("--cluster", action="store_true", default=argparse.SUPPRESS,
                      help="act on Execution resources of the cluster (kube credentials)")
_CLUSTER.add_argument("--context", default=argparse.SUPPRESS, help="kube context "
                      "(default $KITARU_KUBE_CONTEXT, else the kubeconfig's current one)")
_CLUSTER.add_argument("--namespace", "-n", default=argparse.SUPPRESS, help="namespace "
                      "(default $KITARU_NAMESPACE, else the context's)")


def _clustered(local: Callable[[argparse.Namespace, Any], int]
               ) -> Callable[[argparse.Namespace, Any], int]:
    """The command, or its cluster form when ``--cluster`` (or ``$KITARU_CLUSTER=1``)."""
    def run(args: argparse.Namespace, client: Any) -> int:
        from kitaru.cluster.config import value

        if getattr(args, "cluster", False) or value("cluster") in ("1", "true"):
            from kitaru.cli import cluster

            return cluster.executions(args, local)
        return local(args, client)
    return run


def build_parser() -> argparse.ArgumentParser:
    """Return the ``kitaru`` argument parser."""
    # Global options are accepted before or after the subcommand; the subcommands'
    # copies default to SUPPRESS so they never overwrite a value given earlier.
    parser = _Parser(prog="kitaru", description="Durable runtime for Python AI agents.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the installed version and exit")
    common = _Parser(add_help=False)
    for target, default_store, default_output in ((parser, None, "text"),
                                                  (common, argparse.SUPPRESS, argparse.SUPPRESS)):
        target.add_argument("--store", default=default_store,
                            help="store URI (default $KITARU_STORE or ./.kitaru)")
        target.add_argument("--output", "-o", choices=["text", "json", "yaml"],
                            default=default_output,
                            help="text or json (yaml: for kitaru deploy --dry-run)")
    sub = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)
    run = sub.add_parser("run", parents=[common], help="run a flow here until it ends or waits")
    run.add_argument("entrypoint", help="module:flow, importable from the current folder")
    run.add_argument("--input", help="the flow's arguments as a JSON object")
    run.set_defaults(func=_command("run"))

    _add_executions(sub, common)

    art = sub.add_parser("artifacts", parents=[common, _CLUSTER], help="read stored values")
    art_sub = art.add_subparsers(dest="command", required=True, parser_class=_Parser)
    als = art_sub.add_parser("list", parents=[common, _CLUSTER],
                             help="an execution's stored values")
    als.add_argument("exec_id")
    als.set_defaults(func=_clustered(_command("artifacts_list")))
    aget = art_sub.add_parser("get", parents=[common, _CLUSTER],
                              help="print a checkpoint's stored value as JSON")
    aget.add_argument("exec_id")
    aget.add_argument("name", help="a checkpoint id, or the name of a saved artifact")
    aget.set_defaults(func=_clustered(_command("artifacts_get")))
    _add_cluster_commands(sub, common)
    _add_ui(sub, common)
    return parser


def _port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535 (0: any "
                                         f"free one), got {text!r}")
    return number


def _add_ui(sub: Any, common: argparse.ArgumentParser) -> None:
    """``kitaru ui``: the dashboard."""
    from kitaru.ui import DEFAULT_PORT

    cmd = sub.add_parser("ui", parents=[common, _CLUSTER],
                         help="serve the dashboard in the browser (Ctrl-C stops)")
    cmd.add_argument("--port", type=_port, default=DEFAULT_PORT,
                     help=f"the port (default {DEFAULT_PORT}; 0 picks a free one)")
    cmd.add_argument("--host", default="127.0.0.1",
                     help="the address to listen on (default 127.0.0.1, this machine only)")
    cmd.add_argument("--open", action="store_true", help="open it in a browser")
    cmd.add_argument("--read-only", action="store_true",
                     help="only look: no answers, retries, cancels or replays")
    cmd.set_defaults(func=_later("kitaru.cli.ui", "ui"))


def _add_executions(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``kitaru executions ...`` subcommands."""
    ex = sub.add_parser("executions", parents=[common, _CLUSTER],
                        help="inspect and drive executions")
    ex_sub = ex.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = ex_sub.add_parser("list", parents=[common, _CLUSTER], help="list executions, newest first")
    ls.add_argument("--flow")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--limit", type=_count, help="show at most this many (1 or more)")
    ls.set_defaults(func=_clustered(_command("list_executions")))
    lg = ex_sub.add_parser("logs", parents=[common, _CLUSTER], help="print what each run printed")
    lg.add_argument("exec_id")
    lg.add_argument("--follow", "-f", action="store_true",
                    help="keep printing what a running execution prints, until it stops")
    lg.set_defaults(func=_clustered(_command("logs")))
    for name, func, text in (("get", _command("get"), "show one execution and its checkpoints"),
                             ("retry", _command("act"), "retry a failed execution"),
                             ("resume", _command("act"), "resume an answered, waiting execution"),
                             ("cancel", _command("act"), "cancel an execution")):
        cmd = ex_sub.add_parser(name, parents=[common, _CLUSTER], help=text)
        cmd.add_argument("exec_id")
        cmd.set_defaults(func=_clustered(func))
    inp = ex_sub.add_parser("input", parents=[common, _CLUSTER], help="answer a wait and resume")
    inp.add_argument("exec_id")
    inp.add_argument("--wait", help="the wait's name (default: the one it waits on)")
    inp.add_argument("--value", required=True, help="the answer as JSON: true, '\"text\"', ...")
    inp.set_defaults(func=_clustered(_command("answer")))
    abort = ex_sub.add_parser("abort-wait", parents=[common, _CLUSTER],
                              help="abort a wait: the flow's wait() raises")
    abort.add_argument("exec_id")
    abort.add_argument("--wait", help="the wait's name (default: the one it waits on)")
    abort.set_defaults(func=_clustered(_command("abort_wait")))
    due = ex_sub.add_parser("resume-due", parents=[common],
                            help="continue executions whose timer or wait deadline passed")
    due.add_argument("--watch", action="store_true",
                     help="keep checking in the foreground (Ctrl-C stops)")
    due.add_argument("--interval", type=float, default=1.0,
                     help="seconds between checks with --watch (default 1)")
    due.set_defaults(func=_command("resume_due"))
    dif = ex_sub.add_parser("diff", parents=[common, _CLUSTER],
                            help="compare two executions checkpoint by checkpoint")
    dif.add_argument("exec_a")
    dif.add_argument("exec_b")
    dif.set_defaults(func=_clustered(_command("diff")))
    rep = ex_sub.add_parser("replay", parents=[common, _CLUSTER], help="replay from a checkpoint")
    rep.add_argument("exec_id")
    rep.add_argument("--from", dest="at", help="the checkpoint id to replay from")
    rep.add_argument("--overrides", help="JSON object: input.<name>, checkpoint.<id>, ...")
    rep.add_argument("--skip", action="append", help="a checkpoint to reuse (repeatable)")
    rep.set_defaults(func=_clustered(_command("replay")))


def _add_cluster_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``deploy``, ``invoke`` and ``flows``: versioned, tag-routed deployments."""
    dep = sub.add_parser("deploy", parents=[common, _CLUSTER],
                         help="make a FlowVersion of a flow on the cluster and move its tags")
    dep.add_argument("entrypoint", help="module:flow, importable from the current folder")
    dep.add_argument("--image", help="the container image with the flow's code and kitaru")
    dep.add_argument("--version", type=_count, help="the version number (default: next)")
    dep.add_argument("--tag", help="a tag to point at it (latest always is)")
    dep.add_argument("--store-secret", help="a Secret with the store's credentials")
    dep.add_argument("--env", action="append", help="NAME=value for the run pods (repeatable)")
    dep.add_argument("--dry-run", action="store_true",
                     help="print the manifests (with -o yaml) instead of applying them")
    dep.set_defaults(func=_cluster_command("deploy"))
    inv = sub.add_parser("invoke", parents=[common, _CLUSTER],
                         help="start an execution of a deployed flow")
    inv.add_argument("flow")
    inv.add_argument("--tag", help="the tag to run (default latest)")
    inv.add_argument("--version", type=_count, help="a version number instead of a tag")
    inv.add_argument("--input", help="the flow's arguments as a JSON object")
    inv.add_argument("--wait", action="store_true",
                     help="follow it to the end: progress on stderr, output on stdout")
    inv.set_defaults(func=_cluster_command("invoke"))
    fl = sub.add_parser("flows", parents=[common, _CLUSTER], help="deployed flows and tags")
    fl_sub = fl.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fl_sub.add_parser("list", parents=[common, _CLUSTER], help="flows, their versions and tags"
                      ).set_defaults(func=_cluster_command("flows_list"))
    show = fl_sub.add_parser("show", parents=[common, _CLUSTER],
                             help="one flow: versions, images, tags, executions")
    show.add_argument("flow")
    show.set_defaults(func=_cluster_command("flows_show"))
    tg = fl_sub.add_parser("tag", parents=[common, _CLUSTER],
                           help="point a tag at a version (a rollback moves it back)")
    tg.add_argument("flow")
    tg.add_argument("tag")
    tg.add_argument("--version", type=_count, required=True)
    tg.set_defaults(func=_cluster_command("flows_tag"))
    ut = fl_sub.add_parser("untag", parents=[common, _CLUSTER], help="remove a tag")
    ut.add_argument("flow")
    ut.add_argument("tag")
    ut.set_defaults(func=_cluster_command("flows_untag"))
    sch = sub.add_parser("schedules", parents=[common, _CLUSTER],
                         help="Schedules on the cluster: list, show, trigger, suspend, resume")
    sch_sub = sch.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sch_sub.add_parser("list", parents=[common, _CLUSTER],
                       help="schedules, their last and next slots").set_defaults(
                           func=_cluster_command("schedules"))
    for verb, text in (("show", "one schedule's spec and status"),
                       ("trigger", "start one Execution now, outside the slots"),
                       ("suspend", "fire no slot until resumed"),
                       ("resume", "fire slots again")):
        one = sch_sub.add_parser(verb, parents=[common, _CLUSTER], help=text)
        one.add_argument("schedule")
        one.set_defaults(func=_cluster_command("schedules"))
    cfg = sub.add_parser("config", parents=[common],
                         help="defaults for the cluster commands (cluster, context, namespace)")
    cfg_sub = cfg.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cfg_sub.add_parser("list", parents=[common], help="the settings and where they come from"
                       ).set_defaults(func=_cluster_command("config_list"))
    cset = cfg_sub.add_parser("set", parents=[common], help="set a default")
    cset.add_argument("key", choices=["cluster", "context", "namespace"])
    cset.add_argument("value")
    cset.set_defaults(func=_cluster_command("config_set"))
    cun = cfg_sub.add_parser("unset", parents=[common], help="remove a default")
    cun.add_argument("key", choices=["cluster", "context", "namespace"])
    cun.set_defaults(func=_cluster_command("config_unset"))
