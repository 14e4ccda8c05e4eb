"""``python -m livetrack`` runs the ``livetrack`` command."""

from livetrack.cli import main

main()
