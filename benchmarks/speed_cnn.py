"""CNN speed benchmark: the same as ``livetrack bench speed`` (see its --help)."""

import sys

from livetrack.cli import main

if __name__ == "__main__":
    main(["bench", "speed", *sys.argv[1:]])
