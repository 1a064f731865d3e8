"""The ``pathreg`` command line: ``pathreg demo`` and ``pathreg --version``.

The paper-reproduction benchmarks are not part of the installed package; from a clone of the
repository they run as ``python -m benchmarks.<name>`` (see the repository's ``benchmarks/`` folder).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pathreg`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="pathreg",
        description="Sparse neural ODEs that read out which inputs drive which outputs.",
        epilog="The benchmarks run from the root of a clone of the repository: python -m benchmarks.<name>",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subcommands = parser.add_subparsers(dest="command")
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
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
