"""``python -m livetrack`` runs the ``livetrack`` command."""

from livetrack.cli import main

# Guarded: Dask's local workers start by spawning, which imports the main module again.
if __name__ == "__main__":
    main()
