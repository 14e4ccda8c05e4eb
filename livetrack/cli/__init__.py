"""The ``livetrack`` command line.

Each command group lives in its own private module that exposes ``register(app)``;
this module only assembles them, so ``livetrack --help`` stays fast and each
command imports its heavy dependencies when it runs.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from livetrack._errors import LivetrackError

app = typer.Typer(
    name="livetrack",
    help="Real-time deep-learning particle tracking for microscopy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, in the order they appear in --help.
_COMMAND_MODULES = ("_track", "_bench", "_train", "_models", "_calibrate", "_demo", "_view")

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"livetrack.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command group not yet written
        if exc.name != f"livetrack.cli.{_name}":
            raise
        continue
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the ``livetrack`` command; user errors print one line and exit 1.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: the process's command line).
    """
    _log_to_stderr()
    try:
        app(args=argv)
    except LivetrackError as exc:
        print(f"livetrack: error: {exc}", file=sys.stderr)
        sys.exit(1)


class _CliHandler(logging.StreamHandler):
    """The command line's handler: its type marks it, so ``main`` adds one only once."""


def _log_to_stderr() -> None:
    """Show livetrack's own log lines (what ``--model auto`` chose, lost frames) on stderr.

    Configured here, at the edge, never at import: a library user's logging stays theirs.
    """
    logger = logging.getLogger("livetrack")
    if not any(isinstance(h, _CliHandler) for h in logger.handlers):
        handler = _CliHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("livetrack: %(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
