"""What the viewer draws and measures, in plain numpy (no Qt): tails, MSD, track lengths.

:class:`TailBuffer` keeps the last N frames of every live track in one dense
``(tracks, N)`` array per coordinate, so drawing thousands of tails and the MSD of the
current tracks are a few vectorized operations per displayed frame, never a loop over
tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livetrack._errors import InputError

__all__ = [
    "PALETTE",
    "DiffusionFit",
    "TailBuffer",
    "Tails",
    "TrackLengths",
    "fit_diffusion",
    "msd",
]

#: Track colours (RGB), chosen by ``particle % len(PALETTE)``: Tableau's ten, which stay
#: apart from each other on a grey camera image.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (255, 187, 120),
)


@dataclass(frozen=True)
class Tails:
    """Every tail as one polyline set: points grouped by track, oldest first.

    Attributes
    ----------
    x, y
        Point coordinates (px).
    particle
        Track id of each point.
    connect
        ``connect[i]``: draw a segment from point ``i`` to point ``i + 1`` (same track);
        False at each track's last point (pyqtgraph's ``connect`` array).
    """

    x: np.ndarray
    y: np.ndarray
    particle: np.ndarray
    connect: np.ndarray

    def colour_groups(self, n_colours: int = len(PALETTE)) -> list[Tails]:
        """Split into one :class:`Tails` per colour (``particle % n_colours``).

        Points of one track share a colour, so a track's consecutive points stay
        consecutive within its group and ``connect`` carries over unchanged.
        """
        group = self.particle % n_colours
        out = []
        for k in range(n_colours):
            sel = group == k
            out.append(Tails(self.x[sel], self.y[sel], self.particle[sel], self.connect[sel]))
        return out


class TailBuffer:
    """The positions of the last ``length_frames`` frames of every track.

    Parameters
    ----------
    length_frames : int
        Frames a tail spans (the current one included).
    capacity : int
        Initial number of track slots; doubles when more tracks are live at once.

    Notes
    -----
    Column ``frame % length_frames`` of the ``(slots, length)`` arrays holds a frame's
    positions (NaN where a track was not detected). A slot is reused once its track has
    not been seen for ``length_frames`` frames, so memory follows the number of live
    tracks, not the number of tracks ever seen.
    """

    def __init__(self, length_frames: int = 30, capacity: int = 256) -> None:
        if length_frames < 1:
            raise InputError(f"length_frames must be >= 1, got {length_frames}")
        self._length = int(length_frames)
        self._capacity = max(int(capacity), 1)
        self.clear()

    @property
    def length_frames(self) -> int:
        """Frames a tail spans."""
        return self._length

    @property
    def last_frame(self) -> int | None:
        """The newest frame pushed (None when empty)."""
        return self._last

    def clear(self) -> None:
        """Forget every track."""
        shape = (self._capacity, self._length)
        self._x = np.full(shape, np.nan)
        self._y = np.full(shape, np.nan)
        self._slot_id = np.full(self._capacity, -1, dtype=np.int64)
        self._slot_seen = np.full(self._capacity, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self._slot_of: dict[int, int] = {}
        self._free: list[int] = list(range(self._capacity - 1, -1, -1))
        self._last: int | None = None

    def set_length(self, length_frames: int) -> None:
        """Change the tail length (clears the buffer)."""
        if length_frames < 1:
            raise InputError(f"length_frames must be >= 1, got {length_frames}")
        self._length = int(length_frames)
        self.clear()

    def push(self, frame: int, particle: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """Add one frame's linked positions.

        Parameters
        ----------
        frame : int
            Frame index; frames must come in increasing order (a gap clears the
            columns of the frames skipped; an older frame than the last clears the
            buffer first).
        particle, x, y : numpy.ndarray
            Track ids and positions (px), one per detection.
        """
        frame = int(frame)
        n = self._length
        if self._last is not None and frame <= self._last:
            self.clear()
        if self._last is not None:
            skipped = frame - self._last - 1
            if skipped >= n:
                self._x[:] = np.nan
                self._y[:] = np.nan
            for f in range(self._last + 1, self._last + 1 + min(skipped, n)):
                self._x[:, f % n] = np.nan
                self._y[:, f % n] = np.nan
        col = frame % n
        self._x[:, col] = np.nan
        self._y[:, col] = np.nan
        self._last = frame
        if len(particle) == 0:
            return
        slots = self._slots(np.asarray(particle, dtype=np.int64), frame)
        self._x[slots, col] = x
        self._y[slots, col] = y
        self._slot_seen[slots] = frame

    def _slots(self, ids: np.ndarray, frame: int) -> np.ndarray:
        slot_of = self._slot_of
        out = np.empty(ids.size, dtype=np.intp)
        for i, pid in enumerate(ids.tolist()):
            slot = slot_of.get(pid)
            if slot is None:
                slot = self._new_slot(frame)
                slot_of[pid] = slot
                self._slot_id[slot] = pid
            out[i] = slot
        return out

    def _new_slot(self, frame: int) -> int:
        if not self._free:
            # Tracks unseen for a whole tail length have nothing left to draw.
            expired = np.flatnonzero(
                (self._slot_id >= 0) & (self._slot_seen <= frame - self._length)
            )
            for slot in expired.tolist():
                del self._slot_of[int(self._slot_id[slot])]
                self._slot_id[slot] = -1
                self._x[slot] = np.nan
                self._y[slot] = np.nan
            self._free = expired[::-1].tolist()
        if not self._free:
            self._grow()
        return self._free.pop()

    def _grow(self) -> None:
        old = self._capacity
        self._capacity = 2 * old
        pad = np.full((old, self._length), np.nan)
        self._x = np.vstack([self._x, pad])
        self._y = np.vstack([self._y, pad.copy()])
        self._slot_id = np.concatenate([self._slot_id, np.full(old, -1, dtype=np.int64)])
        never = np.full(old, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self._slot_seen = np.concatenate([self._slot_seen, never])
        self._free = list(range(self._capacity - 1, old - 1, -1))

    def ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(particle, x, y)``: the live tracks' positions, oldest frame first.

        ``x`` and ``y`` are ``(tracks, length_frames)`` arrays (NaN where a track was not
        detected); the last column is the newest frame.
        """
        if self._last is None:
            live = np.empty(0, dtype=np.intp)
        else:  # slots not yet recycled whose track has left the window are not live
            live = np.flatnonzero(
                (self._slot_id >= 0) & (self._slot_seen > self._last - self._length)
            )
        if self._last is None or live.size == 0:
            empty = np.empty((0, self._length))
            return np.empty(0, dtype=np.int64), empty, empty.copy()
        order = (np.arange(self._length) + self._last + 1) % self._length
        rows = np.ix_(live, order)
        return self._slot_id[live], self._x[rows], self._y[rows]

    def tails(self) -> Tails:
        """Return every tail as one :class:`Tails` polyline set."""
        ids, x, y = self.ordered()
        rows, cols = np.nonzero(np.isfinite(x))  # row-major: by track, then time
        connect = np.zeros(rows.size, dtype=bool)
        connect[:-1] = rows[:-1] == rows[1:]
        return Tails(x[rows, cols], y[rows, cols], ids[rows], connect)


class TrackLengths:
    """How many frames each track has been detected in, over the whole run."""

    def __init__(self) -> None:
        self._counts = np.zeros(1024, dtype=np.int64)

    def push(self, particle: np.ndarray) -> None:
        """Count one frame's track ids (each id at most once per frame)."""
        ids = np.asarray(particle, dtype=np.int64)
        if ids.size == 0:
            return
        top = int(ids.max())
        if top >= self._counts.size:
            grown = np.zeros(max(2 * self._counts.size, top + 1), dtype=np.int64)
            grown[: self._counts.size] = self._counts
            self._counts = grown
        self._counts[ids[ids >= 0]] += 1

    def lengths(self) -> np.ndarray:
        """Return the length (frames detected) of every track seen so far."""
        return self._counts[self._counts > 0]

    def clear(self) -> None:
        """Forget every track."""
        self._counts[:] = 0


def msd(
    x: np.ndarray, y: np.ndarray, max_lag: int, *, subtract_drift: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-squared displacement of the tracks against lag, over every pair of frames.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(tracks, frames)`` positions in px, NaN where a track was not detected
        (:meth:`TailBuffer.ordered`).
    max_lag : int
        Largest lag, in frames.
    subtract_drift : bool
        Subtract the mean displacement of all tracks per frame first: stage moves (a
        ``Recenter``) and sample drift shift every particle alike and are not diffusion.
        Subtracting the mean of N independent steps leaves ``1 - 1/N`` of each step's
        variance; the MSD is divided by that factor (N averaged over the frames), so
        a few tracks are not biased low.

    Returns
    -------
    lags, msd, counts : numpy.ndarray
        Lags (frames), MSD (px²) and the number of displacements averaged per lag; lags
        with no displacement are left out.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    scale = 1.0
    if subtract_drift and x.shape[1] > 1:
        x, y = x - _drift(x), y - _drift(y)
        n_steps = np.isfinite(x[:, 1:] - x[:, :-1]).sum(axis=0)
        n_steps = n_steps[n_steps >= 2]
        if n_steps.size:
            scale = 1.0 / float(np.mean(1.0 - 1.0 / n_steps))
    lags, means, counts = [], [], []
    for lag in range(1, min(max_lag, x.shape[1] - 1) + 1):
        d2 = (x[:, lag:] - x[:, :-lag]) ** 2 + (y[:, lag:] - y[:, :-lag]) ** 2
        ok = np.isfinite(d2)
        n = int(ok.sum())
        if n:
            lags.append(lag)
            means.append(scale * float(d2[ok].mean()))
            counts.append(n)
    return np.array(lags, dtype=float), np.array(means), np.array(counts, dtype=np.int64)


def _drift(v: np.ndarray) -> np.ndarray:
    """Cumulative mean step of all tracks, frame by frame, as a ``(1, frames)`` row."""
    step = v[:, 1:] - v[:, :-1]
    ok = np.isfinite(step)
    n = ok.sum(axis=0)
    mean = np.where(n > 0, np.where(ok, step, 0.0).sum(axis=0) / np.maximum(n, 1), 0.0)
    return np.concatenate([[0.0], np.cumsum(mean)])[None, :]


@dataclass(frozen=True)
class DiffusionFit:
    """A straight-line fit ``MSD = 4 D lag + offset`` (2-D Brownian motion).

    Attributes
    ----------
    d_px2_per_frame
        Diffusion coefficient in px² per frame.
    offset_px2
        Intercept: about 4x the localization variance (minus a motion-blur term).
    lags
        Lags (frames) the fit used.
    """

    d_px2_per_frame: float
    offset_px2: float
    lags: np.ndarray

    def d_um2_per_s(self, pixel_size_um: float | None, frame_interval_s: float | None) -> float:
        """Return D in µm²/s, or NaN unless both the pixel size and frame interval are known."""
        if not pixel_size_um or not frame_interval_s:
            return float("nan")
        return self.d_px2_per_frame * pixel_size_um**2 / frame_interval_s

    def label(self, pixel_size_um: float | None, frame_interval_s: float | None) -> str:
        """Return ``"D = … µm²/s"`` when the units are known, else ``"D = … px²/frame"``."""
        d = self.d_um2_per_s(pixel_size_um, frame_interval_s)
        if np.isfinite(d):
            return f"D = {d:.3g} µm²/s"
        return f"D = {self.d_px2_per_frame:.3g} px²/frame"


def fit_diffusion(
    lags: np.ndarray, values: np.ndarray, counts: np.ndarray, max_fit_lag: int = 10
) -> DiffusionFit | None:
    """Fit ``MSD = 4 D lag + offset`` to the short lags, weighted by the displacements counted.

    Short lags carry the most independent displacements and the least bias from tracks
    that leave; the fit stops at ``max_fit_lag``. None when fewer than two lags are usable.
    """
    sel = (lags <= max_fit_lag) & (counts > 0) & np.isfinite(values)
    if sel.sum() < 2:
        return None
    lag, val, w = lags[sel], values[sel], np.sqrt(counts[sel].astype(float))
    a = np.stack([4.0 * lag, np.ones_like(lag)], axis=1)
    (d, offset), *_ = np.linalg.lstsq(a * w[:, None], val * w, rcond=None)
    return DiffusionFit(float(d), float(offset), lag)
