"""Live tracking benchmark: the same as ``livetrack bench live`` (see its --help)."""

import sys

from livetrack.cli import main

if __name__ == "__main__":
    main(["bench", "live", *sys.argv[1:]])
