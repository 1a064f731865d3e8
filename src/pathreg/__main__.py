"""``python -m pathreg``: the same as the ``pathreg`` command."""

from pathreg.cli import main

raise SystemExit(main())
