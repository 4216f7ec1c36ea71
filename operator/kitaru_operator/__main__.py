"""``python -m kitaru_operator``: run the operator.

Examples::

    python -m kitaru_operator --namespace agents --default-store s3://bucket/kitaru
    python -m kitaru_operator --all-namespaces
    python -m kitaru_operator -A --leader-election --leader-election-namespace kitaru-system
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import kopf

from kitaru_operator import metrics
from kitaru_operator.settings import SETTINGS

if TYPE_CHECKING:
    from kitaru_operator.leader import LeaseElector

logger = logging.getLogger("kitaru_operator")
_IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


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
    parser.add_argument("--leader-election", action="store_true",
                        help="act only while holding a Lease (for more than one replica)")
    parser.add_argument("--leader-election-name", default="kitaru-operator",
                        help="the Lease's name (default %(default)s)")
    parser.add_argument("--leader-election-namespace",
                        help="the Lease's namespace (default: the pod's own)")
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
    from kitaru_operator.cache import CACHE
    from kitaru_operator.handlers import queue_depth

    metrics.start(SETTINGS.metrics_port, CACHE.executions, queue_depth)
    elector = None
    if args.leader_election:
        elector = _elect(args)
        if elector is None:
            return 0  # stopped while standing by
    metrics.LEADER.set(1)
    try:
        kopf.run(standalone=True, clusterwide=not SETTINGS.namespaces,
                 namespaces=SETTINGS.namespaces, liveness_endpoint=args.liveness)
    finally:
        metrics.LEADER.set(0)
        from kitaru_operator.apply import EVENTS

        EVENTS.flush(timeout=5.0)  # what the last passes had to say
        if elector is not None:
            elector.release()
    return 0


def _elect(args: argparse.Namespace) -> LeaseElector | None:
    """Stand by until this replica holds the Lease, then keep renewing it."""
    from kubernetes import client, config

    from kitaru_operator.leader import LeaseElector, identity

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    namespace = args.leader_election_namespace or _own_namespace()
    elector = LeaseElector(client.CoordinationV1Api(), namespace,
                           args.leader_election_name, identity())
    stop = threading.Event()
    with _standby_liveness(args.liveness):
        try:
            if not elector.acquire(stop):
                return None
        except KeyboardInterrupt:
            return None

    def lost() -> None:
        # Another replica may act by now: stop at once; the pod restarts as a standby.
        metrics.LEADER.set(0)
        logging.shutdown()
        os._exit(1)

    elector.keep(lost, stop)
    return elector


def _own_namespace() -> str:
    try:
        with open(_IN_CLUSTER_NAMESPACE) as handle:
            return handle.read().strip()
    except OSError:
        raise SystemExit("--leader-election-namespace is needed outside a cluster") from None


@contextmanager
def _standby_liveness(url: str | None) -> Iterator[None]:
    """Answer the liveness probe while standing by (kopf serves it once acting)."""
    if not url:
        yield
        return
    parts = urlsplit(url)

    class Alive(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"standby": true}')

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((parts.hostname or "0.0.0.0", parts.port or 80), Alive)
    thread = threading.Thread(target=server.serve_forever, name="kitaru-standby", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
