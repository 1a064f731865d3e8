"""The ``pathreg`` command line: ``pathreg demo``, ``pathreg benchmark NAME [options]`` and ``pathreg --version``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

BENCHMARKS = ("synthetic", "krumsiek11", "knockouts", "beeline", "bone_marrow", "mocap", "speed")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pathreg`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="pathreg", description="Sparse neural ODEs: benchmarks and tools.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subcommands = parser.add_subparsers(dest="command")
    benchmark = subcommands.add_parser("benchmark", help="run a benchmark; options after its name go to it")
    benchmark.add_argument("name", choices=BENCHMARKS)
    subcommands.add_parser(
        "demo", help="krumsiek11 from pseudotime to a scored network (options: pathreg demo -h)", add_help=False
    )
    args, rest = parser.parse_known_args(argv)
    if args.version:
        from pathreg import __version__

        sys.stdout.write(f"pathreg {__version__}\n")
        return 0
    if args.command == "demo":
        from pathreg._demo import main as demo_main

        return demo_main(rest)
    if args.command == "benchmark":
        module = importlib.import_module(f"pathreg.benchmarks.{args.name}")
        return module.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
