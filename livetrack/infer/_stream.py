"""Models that fuse several frames' evidence: a live causal stream, and whole stacks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from livetrack.model import (
    CausalStream,
    TemporalConfig,
    empty_table,
    fuse_logits,
    neighbour_indices,
)

# part -> (raw maps, normalized batch, noise) of those frames, their logits not yet fused.
RawMaps = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
# (maps, batch, noise, frame numbers, frame shape, partial) -> the frames' table.
Decode = Callable[
    [np.ndarray, np.ndarray, np.ndarray, list[int], tuple[int, int], np.ndarray], pd.DataFrame
]


class FrameFusion:
    """Decide each frame's detections on the evidence of its window of frames.

    Parameters
    ----------
    temporal : TemporalConfig
        The model's window (``frames``, ``causal``, how far evidence may move).
    batch_size : int
        Frames per backend call of :meth:`stack`.

    Notes
    -----
    :meth:`live` keeps the detection maps of the last frames it saw, so one instance serves
    one stream, in frame order (a frame number at or below the previous one starts a new
    stream).
    """

    def __init__(self, temporal: TemporalConfig, batch_size: int) -> None:
        self.temporal = temporal
        self.batch_size = batch_size
        self._stream: CausalStream | None = None

    def live(self, frame: int, logits: np.ndarray) -> tuple[np.ndarray, bool]:
        """Fuse the newest frame's ``(h, w)`` logits with the frames before it.

        Returns
        -------
        fused : numpy.ndarray
            The frame's fused logits.
        complete : bool
            Whether the frame had all the earlier frames its window holds.
        """
        if self._stream is None:
            self._stream = CausalStream(self.temporal)
        return self._stream.push(frame, logits)

    def stack(
        self, stack: np.ndarray, first_frame: int, raw_maps: RawMaps, decode: Decode
    ) -> pd.DataFrame:
        """Locate every frame of a ``(T, H, W)`` stack.

        The network runs once per frame, in chunks; a frame is decoded as soon as the
        frames it fuses have run, and their raw maps are kept until no later frame needs
        them. Only the movie's ends are filled in (``neighbour_indices``).

        Parameters
        ----------
        stack : numpy.ndarray
            ``(T, H, W)`` frames.
        first_frame : int
            Frame number of ``stack[0]``.
        raw_maps : callable
            ``raw_maps(part) -> (maps, batch, noise)`` of consecutive frames.
        decode : callable
            ``decode(maps, batch, noise, frame_numbers, shape, partial) -> DataFrame`` with
            the fused logits in ``maps[:, 0]``; ``partial`` marks frames short of neighbours.
        """
        n, ahead = len(stack), self.temporal.frames_ahead
        back = self.temporal.distances
        neighbours = neighbour_indices(n, self.temporal.frames, self.temporal.causal)
        raw: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
        tables, done = [], 0
        for i in range(0, n, self.batch_size):
            part = stack[i : i + self.batch_size]
            maps, batch, noise = raw_maps(part)
            raw.update({i + j: (maps[j], batch[j], noise[j]) for j in range(len(part))})
            ready = n if i + len(part) == n else i + len(part) - ahead
            if ready <= done:
                continue
            lo = max(0, done - back)
            logits = np.stack([raw[f][0][0] for f in range(lo, min(n, ready + ahead))])
            targets = range(done, ready)
            near = neighbours[done:ready]
            near = np.where(near >= 0, near - lo, -1)  # -1: no such frame
            out = np.stack([raw[t][0] for t in targets])
            out[:, 0] = fuse_logits(logits, self.temporal, np.arange(done, ready) - lo, near)
            tables.append(
                decode(
                    out,
                    np.stack([raw[t][1] for t in targets]),
                    np.array([raw[t][2] for t in targets]),
                    [first_frame + t for t in targets],
                    stack.shape[1:],
                    np.asarray((near < 0).any(axis=1)),
                )
            )
            done = ready
            for f in [f for f in raw if f < done - back]:
                del raw[f]
        tables = [t for t in tables if len(t)]
        return pd.concat(tables, ignore_index=True) if tables else empty_table()
