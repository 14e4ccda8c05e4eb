"""livetrack: real-time deep-learning particle tracking for microscopy."""

from livetrack._version import __version__

__all__ = ["__version__"]
