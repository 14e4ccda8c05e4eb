"""The run's record beside its outputs: ``OUT/manifest.json``.

It lists every movie done (input path and position, the input's size and modification
time and SHA-256, the model and the auto mode's choice, the output file, its rows and
trajectories, timings), the movies that failed with their one-line reason, the options
and the livetrack version. It is rewritten (atomically) after each movie, so an
interrupted run leaves a manifest of what is complete; a rerun with the same options skips
a movie whose input is unchanged and whose output is still there, whole.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from livetrack._errors import InputError
from livetrack._version import __version__

__all__ = ["MANIFEST_NAME", "Manifest", "write_atomic"]

MANIFEST_NAME = "manifest.json"


def write_atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` (no half-written file)."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Manifest:
    """``OUT/manifest.json``: what a batch run did, movie by movie.

    Parameters
    ----------
    folder : pathlib.Path
        The output folder.
    options : dict
        What decides the outputs (model, method, options, linking, format, channel, ...);
        a movie done with other options is done again.
    """

    def __init__(self, folder: Path, options: dict[str, Any]) -> None:
        self.path = folder / MANIFEST_NAME
        self.options = options
        self.movies: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, str] = {}
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
                movies = old.get("movies", {})
            except (OSError, ValueError, AttributeError) as exc:
                raise InputError(f"{self.path}: not a livetrack manifest ({exc})") from None
            # Only what was done with these options counts as done.
            self.movies = {k: v for k, v in movies.items() if v.get("options") == options}

    def is_done(self, name: str, fingerprint: dict[str, int]) -> bool:
        """Whether ``name`` was done from this very input and its output is there, whole."""
        entry = self.movies.get(name)
        if entry is None or entry.get("fingerprint") != fingerprint:
            return False
        output = self.path.parent / entry["output"]
        return output.is_file() and output.stat().st_size == entry.get("output_bytes")

    def record(self, name: str, entry: dict[str, Any]) -> None:
        """Record a completed movie (and forget an earlier failure of it), then save."""
        self.movies[name] = {**entry, "options": self.options}
        self.failed.pop(name, None)
        self.save()

    def record_failure(self, name: str, message: str) -> None:
        """Record a movie that failed, with its one-line reason, then save."""
        self.movies.pop(name, None)
        self.failed[name] = message
        self.save()

    def save(self) -> None:
        """Write the manifest (atomically)."""
        data = {
            "livetrack_version": __version__,
            "started": self.started,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "options": self.options,
            "movies": self.movies,
            "failed": self.failed,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
