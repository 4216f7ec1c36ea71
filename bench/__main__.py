"""Run every benchmark: ``python -m bench [--small]``.

``--small`` runs each at a size that proves it works in a minute or two (what CI does);
without it, at the sizes the targets are stated for.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = ["bench.checkpoint_overhead", "bench.store_throughput", "bench.operator_scale",
              "bench.checkpoint_pods", "bench.long_journal", "bench.dashboard",
              "bench.startup"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--small", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", help="run one benchmark module, e.g. checkpoint_overhead")
    args = parser.parse_args()
    failed = 0
    for name in BENCHMARKS:
        if args.only and not name.endswith(args.only):
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        print(f"\n== {name} ==", flush=True)
        failed += module.main(["--small"] if args.small else [])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
