"""Time chunks of a movie whose positions together are those of one pass over it.

A chunk reads its *core* frames and ``overlap`` frames on either side, and keeps the
positions of its core only. The overlap covers what a frame's detections depend on besides
the frame itself: a temporal window (``temporal_window // 2`` frames each way), a model
that fuses neighbouring frames (``spots-t5``: 4 frames), and the frame batches in which
the adaptive threshold is chosen and a fusing model decodes (4 frames: starts and overlaps
are multiples of the batch, so a core frame lies in the same batch as in one pass).
Trajectories are not stitched chunk by chunk: the driver links the movie's positions once,
which is cheap next to localization, so they are those of one pass by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["BATCH_FRAMES", "Chunk", "core_positions", "overlap_frames", "plan_chunks"]

#: Frames per backend call of the CNN localizer (its ``batch_size``): chunk starts and
#: overlaps are multiples of it so that a core frame's batch is the one-pass batch.
BATCH_FRAMES = 4
#: Frames the widest temporal model of the shipped ones looks at on each side.
_MODEL_REACH = 4


@dataclass(frozen=True)
class Chunk:
    """A run of frames to localize and the part of it whose positions are kept.

    Attributes
    ----------
    index : int
        Position of the chunk in the movie (0 first).
    start, stop : int
        Frames read: ``[start, stop)``.
    core_start, core_stop : int
        Frames kept: ``[core_start, core_stop)``; the cores of a movie's chunks tile it.
    """

    index: int
    start: int
    stop: int
    core_start: int
    core_stop: int

    @property
    def core_frames(self) -> int:
        """Frames whose positions the chunk contributes."""
        return self.core_stop - self.core_start


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def overlap_frames(temporal_window: int = 1) -> int:
    """Return the frames a chunk reads beyond its core on each side.

    Parameters
    ----------
    temporal_window : int
        The CNN's temporal window (odd; 1: single frames).

    Returns
    -------
    int
        A multiple of :data:`BATCH_FRAMES` covering the temporal window, the fusing
        models' reach and one batch more (a fusing model decodes a batch's frames once the
        frames ahead of them have run, so its batches start up to one batch early).
    """
    reach = max(temporal_window // 2, _MODEL_REACH)
    return _round_up(reach, BATCH_FRAMES) + BATCH_FRAMES


def plan_chunks(n_frames: int, chunk_frames: int, overlap: int) -> list[Chunk]:
    """Split ``n_frames`` frames into chunks of about ``chunk_frames`` core frames.

    Parameters
    ----------
    n_frames : int
        Frames in the movie (>= 1).
    chunk_frames : int
        Core frames per chunk (rounded up to a multiple of :data:`BATCH_FRAMES`); 0 or
        at least ``n_frames``: one chunk, the whole movie.
    overlap : int
        Frames read beyond the core on each side (a multiple of :data:`BATCH_FRAMES`,
        :func:`overlap_frames`).

    Returns
    -------
    list of Chunk
        In frame order; their cores tile ``[0, n_frames)``.
    """
    if n_frames < 1:
        raise ValueError(f"a movie has at least one frame, got {n_frames}")
    if overlap % BATCH_FRAMES:
        raise ValueError(f"overlap must be a multiple of {BATCH_FRAMES}, got {overlap}")
    if chunk_frames <= 0 or chunk_frames >= n_frames:
        return [Chunk(0, 0, n_frames, 0, n_frames)]
    size = _round_up(chunk_frames, BATCH_FRAMES)
    chunks = []
    for i, core_start in enumerate(range(0, n_frames, size)):
        core_stop = min(core_start + size, n_frames)
        chunks.append(
            Chunk(
                i,
                max(0, core_start - overlap),
                min(n_frames, core_stop + overlap),
                core_start,
                core_stop,
            )
        )
    return chunks


def core_positions(table: pd.DataFrame, chunk: Chunk) -> pd.DataFrame:
    """Keep the rows of ``table`` (absolute ``frame`` numbers) in the chunk's core."""
    frames = table["frame"].to_numpy()
    keep = (frames >= chunk.core_start) & (frames < chunk.core_stop)
    return table[keep].reset_index(drop=True)
