"""``python -m benchmarks.mocap``: the command line, :func:`benchmarks.mocap.main`."""

from benchmarks.mocap import main

if __name__ == "__main__":
    raise SystemExit(main())
