"""A test double of the ``FrameSource`` protocol."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from livetrack._errors import InputError
from livetrack._stack import as_stack


class ReplaySource:
    """Test double of :class:`~livetrack.protocols.FrameSource`: replays a stack of frames.

    Parameters
    ----------
    frames : numpy.ndarray
        A ``(T, H, W)`` stack (a simulated movie's ``frames``) or one 2-D frame.
    repeat : int
        Times the stack is played, one after the other (a long run from a short movie).

    Attributes
    ----------
    delivered : int
        Frames handed out so far, over every iteration.
    """

    def __init__(self, frames: np.ndarray, repeat: int = 1) -> None:
        if repeat < 1:
            raise InputError(f"repeat must be >= 1, got {repeat}")
        self.frames = as_stack(frames, name="frames")
        self.repeat = int(repeat)
        self.delivered = 0

    def __len__(self) -> int:
        return len(self.frames) * self.repeat

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame, ``repeat`` times over."""
        for _ in range(self.repeat):
            for frame in self.frames:
                self.delivered += 1
                yield frame
