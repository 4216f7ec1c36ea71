"""``main``: run one command and turn whatever it raises into one line and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from kitaru.cli.parser import build_parser
from kitaru.cli.streams import silence_stdout
from kitaru.errors import KitaruError

EXIT_REFUSED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports when the reader left


def _refuse(message: str) -> int:
    print(f"kitaru: error: {message}", file=sys.stderr)
    return EXIT_REFUSED


def _dispatch(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    # The client and the store, once the command is known (`--help` needs neither).
    from kitaru.cli.damage import ReadTrail, damaged_record
    from kitaru.cli.loading import FlowImportError
    from kitaru.client import KitaruClient
    from kitaru.model import ModelError
    from kitaru.stores import open_store

    if args.output == "yaml" and not (args.group == "deploy" and args.dry_run):
        return _refuse("-o yaml is for kitaru deploy --dry-run; use -o json here")
    try:
        trail = ReadTrail(open_store(args.store))
    except KitaruError as exc:
        return _refuse(str(exc))
    try:
        code: int = args.func(args, KitaruClient(trail))
    except FlowImportError as exc:
        print("".join(exc.frames), end="", file=sys.stderr)
        return _refuse(str(exc))
    except KitaruError as exc:
        return _refuse(str(exc))
    except (ModelError, json.JSONDecodeError) as exc:
        message = damaged_record(trail, exc)
        if message is None:
            raise
        return _refuse(message)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kitaru`` command; return its exit code."""
    try:
        try:
            return _dispatch(argv)
        finally:
            sys.stdout.flush()  # here, so a closed pipe is met while it can be handled
    except BrokenPipeError:
        silence_stdout()
        return EXIT_PIPE_CLOSED
    except KeyboardInterrupt:
        print("kitaru: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
