"""A test double of the ``Linker`` protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livetrack._errors import InputError


class FreshIdLinker:
    """Test double of :class:`~livetrack.protocols.Linker`: every detection starts a track.

    Each row gets a new ``particle`` id (0, 1, 2, ... over the whole run, never reused), so
    code downstream of linking can be tested without the linking itself deciding anything.
    It checks what the real :class:`Linker` checks of its calls (frames increase) and keeps
    the frame numbers it was given.

    Attributes
    ----------
    frames : list of int
        The ``frame`` of every :meth:`step` call, in order.
    next_id : int
        The id the next detection gets.
    """

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.next_id = 0

    def step(self, frame: int, positions: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``positions`` with a new ``particle`` id per row.

        Raises
        ------
        InputError
            If ``frame`` does not increase from call to call.
        """
        if self.frames and frame <= self.frames[-1]:
            raise InputError(f"frame {frame} does not follow frame {self.frames[-1]}")
        self.frames.append(int(frame))
        out = positions.copy()
        out["particle"] = np.arange(self.next_id, self.next_id + len(out), dtype=np.int64)
        self.next_id += len(out)
        return out
