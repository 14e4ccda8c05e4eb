"""A test double of the ``Recorder`` protocol."""

from __future__ import annotations

import pandas as pd

from livetrack._errors import InputError


class MemoryRecorder:
    """Test double of :class:`~livetrack.protocols.Recorder`: keeps the tracks in memory.

    Attributes
    ----------
    frames : list of pandas.DataFrame
        A copy of each written frame's rows, in order.
    closed : bool
        True once :meth:`close` was called.
    """

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []
        self.closed = False

    def write(self, df: pd.DataFrame) -> None:
        """Keep a copy of one frame's rows.

        Raises
        ------
        InputError
            After :meth:`close`, as :class:`~livetrack.record.TrackWriter` does.
        """
        if self.closed:
            raise InputError("cannot write to a closed MemoryRecorder")
        self.frames.append(df.copy())

    def close(self) -> None:
        """Mark the recorder closed (further writes fail)."""
        self.closed = True

    def table(self) -> pd.DataFrame:
        """Return every written row as one DataFrame (empty if nothing was written)."""
        if not self.frames:
            return pd.DataFrame()
        return pd.concat(self.frames, ignore_index=True)
