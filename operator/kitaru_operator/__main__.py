"""``python -m kitaru_operator``: run the operator.

Examples::

    python -m kitaru_operator --namespace agents --default-store s3://bucket/kitaru
    python -m kitaru_operator --all-namespaces
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import kopf

from kitaru_operator.settings import SETTINGS


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                           "level": record.levelname, "logger": record.name,
                           "message": record.getMessage()})


def main(argv: list[str] | None = None) -> int:
    """Parse flags, configure logging and run kopf until stopped."""
    parser = argparse.ArgumentParser(prog="python -m kitaru_operator")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=None,
                       help="namespace to watch (repeatable); default all, or "
                       "$KITARU_OPERATOR_NAMESPACES")
    scope.add_argument("--all-namespaces", "-A", action="store_true")
    parser.add_argument("--default-store", help="store URI for FlowVersions without spec.store")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", choices=["json", "text"], default="json")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here")
    parser.add_argument("--resync-seconds", type=float)
    parser.add_argument("--liveness", metavar="URL",
                        help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    args = parser.parse_args(argv)
    if args.all_namespaces:
        SETTINGS.namespaces = []
    elif args.namespace:
        SETTINGS.namespaces = args.namespace
    for name in ("default_store", "log_level", "metrics_port", "resync_seconds"):
        if getattr(args, name) is not None:
            setattr(SETTINGS, name, getattr(args, name))

    handler = logging.StreamHandler(sys.stderr)
    if args.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    # Libraries (botocore, urllib3) log at WARNING; Kitaru's own loggers at the chosen level.
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    for name in ("kitaru", "kitaru_operator"):
        logging.getLogger(name).setLevel(SETTINGS.log_level)
    # kopf reports every handler call at INFO; keep its own chatter to warnings unless
    # debugging. Kitaru's events (phase changes, rejected inputs) stay at INFO.
    kopf_level = logging.DEBUG if SETTINGS.log_level == "DEBUG" else logging.WARNING
    logging.getLogger("kopf").setLevel(kopf_level)

    import kitaru_operator.handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.run(standalone=True, clusterwide=not SETTINGS.namespaces,
             namespaces=SETTINGS.namespaces, liveness_endpoint=args.liveness)
    return 0


if __name__ == "__main__":
    sys.exit(main())
