"""The ``kitaru`` command line: run flows and inspect or drive executions.

What a user of the command can rely on:

- stdout carries only the command's result: a table, a one-line summary, or JSON with
  ``--output json``. While ``run -o json`` runs the flow, what the flow prints goes to
  stderr, so stdout stays one JSON document.
- A refused request prints one line, ``kitaru: error: <reason>``, to stderr. No Python
  traceback is printed; the one exception is a flow module that fails to import, whose
  own frames (never the CLI's or importlib's) come before that line.
- Exit codes: 0 done; 1 refused, or the flow run failed; 2 a malformed command; 130
  interrupted by Ctrl-C; 141 stdout was closed early (``kitaru executions list | head``),
  the code a shell reports for a process ended by SIGPIPE.
- Reading commands (``list``, ``get``, ``logs``) never write to the store, not even a
  folder.
"""

from kitaru.cli.entry import main
from kitaru.cli.parser import build_parser

__all__ = ["build_parser", "main"]
