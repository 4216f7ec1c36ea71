"""Run the process kubelet: `python -m kubelet --kubeconfig ... --node-name ...`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .kubelet import Kubelet, connect


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kubelet", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True, help="the node's identity")
    parser.add_argument(
        "--scheduler-kubeconfig",
        type=Path,
        required=True,
        help="an identity allowed to bind pods (there is no kube-scheduler)",
    )
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument(
        "--python", default=sys.executable, help="what a container's `python` command runs"
    )
    parser.add_argument("--ca-file", type=Path, required=True, help="the cluster CA, for pods")
    parser.add_argument("--api-host", default="127.0.0.1")
    parser.add_argument("--api-port", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
    )
    Kubelet(
        core=connect(args.kubeconfig),
        scheduler=connect(args.scheduler_kubeconfig),
        node_name=args.node_name,
        state_dir=args.state_dir,
        python=args.python,
        ca_file=args.ca_file,
        api_host=args.api_host,
        api_port=args.api_port,
    ).run()


if __name__ == "__main__":
    main()
