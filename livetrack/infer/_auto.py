"""``model="auto"``: the CNN set up from the data, for particles of any size and contrast.

The shipped networks were trained on spots with sigma 0.7--3 px in white noise. Real
videos show microspheres 20--60 px across, dark particles on bright backgrounds, rings,
burned-in timestamps, fixed-pattern stripes, and noise that compression and camera
smoothing have made spatially correlated. The auto mode paints over overlays and subtracts
stripes (:mod:`livetrack.localize`), measures the particles' size, polarity and ring shape
(:func:`livetrack.localize.measure_feature_scale`), bins the frames so that the particles
fall in the training range, inverts dark ones, picks the network (``spots``, ``rings``, or
``spots-t5`` for faint movies), measures the noise at the particles' scale when it is
correlated, runs the network, maps the positions back, and drops what does not stand out of
the measured clutter and false-alarm levels.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from livetrack._errors import InputError
from livetrack._stack import as_stack
from livetrack.infer._decoding import ADAPTIVE_LOWEST
from livetrack.infer._localizer import CNNLocalizer, _cached_localizer
from livetrack.infer._recover import LiveRecovery, recover_missed
from livetrack.localize import (
    FeatureScale,
    OverlayPlan,
    bin_frames,
    measure_feature_scale,
    plan_overlays,
    remove_overlays,
    stripe_profiles,
    window_stack,
)
from livetrack.model import (
    CORRELATED_NOISE_RATIO,
    adaptive_threshold,
    empty_table,
    frame_statistics,
    normalize_frame,
    scale_noise,
)

__all__ = [
    "PLAN_FRAMES",
    "AutoChoice",
    "AutoLocalizer",
    "AutoPlan",
    "choose_auto",
    "clutter_cut",
    "null_level",
    "plan_frames",
    "strength_cut",
]

log = logging.getLogger("livetrack.infer")

#: Largest particle scale (sigma, px) the network sees unbinned; the training range ends at 3.
_LARGEST_SIGMA = 2.5
#: Scale the network sees binned particles at: the middle of its training range.
_TARGET_SIGMA = 1.5
#: A gap in detection strength that separates clutter from particles: a ratio of at least
#: this between consecutive strengths ...
_GAP_RATIO = 3.0
#: ... whose lower side is no stronger than this (noise units): barely significant clutter.
_CLUTTER_MAX_Z = 10.0
#: Strength below which no detection counts where the particles are bright ...
_FLOOR_Z = 3.0
#: ... as a fraction of the strength of the brighter particles (the upper quartile).
_FLOOR_FRACTION = 0.2
#: Half side of the CNN's mass window (``decode_maps``' default): z is mass over its noise.
_MASS_HALF_PX = 3
#: A movie whose particles' median strength is below this (noise units) is faint ...
_FAINT_Z = 5.0
#: ... and its detections are decided on this many frames by this model, which
#: needs at least that many frames.
_FAINT_FRAMES = 5
_FAINT_MODEL = "spots-t5"
#: A live stream's faint model (causal: each frame and the four before it).
_LIVE_FAINT_MODEL = "spots-c5"
#: The faint movie's threshold policy: detections decided on their trajectories
#: (:func:`confirm_faint`), from candidates down to ``_TRACKS_FLOOR``.
TRACKS = "tracks"
_TRACKS_FLOOR = 0.005
_TRACKS_HIGH = 0.2
_TRACKS_SEED_FACTOR = 2.0
#: Linking distance: a diffusing particle's step (ISBI-like scenes: 1.4 px per axis)
#: within three of its standard deviations.
_TRACKS_SEARCH_PX = 4.0
_TRACKS_FILL_PX = 2.0
#: Path evidence (track-before-detect) of faint movies: frames on each side of the scored
#: one, the lowest peak kept, and how many times the network's trajectories it must find
#: before it decides.
_PATH_WINDOW = 4
_PATH_FLOOR = 2.0
_PATH_GAIN = 1.15
_NETWORK, _PATH, _PATH_NULL = "network", "path", "path-null"
#: The network for ring-shaped particles (bright- or dark-centred alike).
_RING_MODEL = "rings"
#: Frames of the single-frame pass that measures the particles' strength.
_STRENGTH_FRAMES = 3
#: Frames, spread over a movie, that the auto mode makes its one-time measurements on.
PLAN_FRAMES = 20
#: False detections per frame the null level lets through (the target is <= 0.1).
_NULL_RATE = 0.05
#: Factor on the measured noise level (an extreme of a sample, see `_null_strength`).
_NULL_MARGIN = 1.2
#: Inverted-frame detections within this many particle sigmas of a detection are its halo.
_NULL_EXCLUSION_SIGMAS = 5.0
#: Frames of detections a live stream pools to find the clutter gap.
_LIVE_POOL_FRAMES = 20


@dataclass(frozen=True)
class AutoChoice:
    """What the auto mode runs, chosen from the data.

    Attributes
    ----------
    model : str
        The network (a shipped model name).
    polarity : {"bright", "dark"}
        Dark particles are inverted before the network.
    sigma_px : float
        The particles' scale (Gaussian sigma) in the input's pixels.
    bin_factor : int
        Frames are averaged in ``bin_factor`` squares before the network.
    noise_scale_px : float or None
        Scale (binned pixels) the noise is measured at, where it is spatially correlated;
        None for white noise (the pixel noise, as in training).
    correlation : float
        Measured noise at the particles' scale over the pixel noise (1 for white noise).
    measured : bool
        Whether size and polarity were measured (False: both given as hints).
    ring_contrast : float
        Measured depth of the particles' opposite-contrast lobe over their centre's
        contrast (:class:`~livetrack.localize.FeatureScale`); NaN where not measured.
    strength : float or None
        Median strength (noise units) of the particles a single-frame pass found on a few
        frames, where it was measured (a movie: it decides single-frame or temporal).
    threshold : "tracks" or None
        The detection threshold policy chosen with the model (None: the model's own;
        ``"tracks"``: faint detections decided on their trajectories, :func:`confirm_faint`).
    """

    model: str
    polarity: Literal["bright", "dark"]
    sigma_px: float
    bin_factor: int
    noise_scale_px: float | None
    correlation: float
    measured: bool = True
    ring_contrast: float = float("nan")
    strength: float | None = None
    threshold: str | None = None

    @property
    def network_polarity(self) -> Literal["bright", "dark"]:
        """Polarity of the network's input: the ring model takes both, so it is not inverted."""
        return "bright" if self.model == _RING_MODEL else self.polarity

    @property
    def strength_half_px(self) -> int:
        """Half side of the square a detection's strength is summed over (network pixels).

        A ring's centre only: its ring, of the opposite contrast, would cancel it.
        """
        return 1 if self.model == _RING_MODEL else _MASS_HALF_PX

    def line(self) -> str:
        """One line saying what was chosen and why."""
        how = "measured" if self.measured else "given"
        binned = (
            f"frames binned {self.bin_factor}x{self.bin_factor} so they fall in the "
            f"network's range (sigma 0.7-3 px)"
            if self.bin_factor > 1
            else "in the network's range, frames as they are"
        )
        noise = (
            f"noise measured at the particle scale ({self.correlation:.1f}x the pixel noise: "
            "spatially correlated)"
            if self.noise_scale_px is not None
            else "white pixel noise"
        )
        if self.model == _RING_MODEL:
            model = (
                f"model {self.model!r} (rings: a lobe of opposite contrast "
                f"{-self.ring_contrast:.2f} times as deep as the centre)"
            )
        elif self.strength is None:
            model = f"model {self.model!r}"
        elif self.model in (_FAINT_MODEL, _LIVE_FAINT_MODEL):
            model = (
                f"model {self.model!r} (faint particles: median strength "
                f"{self.strength:.1f} < {_FAINT_Z:g} noise units, so detections are decided "
                f"on {_FAINT_FRAMES} consecutive frames and on their trajectories)"
            )
        else:
            model = f"model {self.model!r} (median strength {self.strength:.1f} noise units)"
        return (
            f"auto: {model}; {self.polarity} particles of sigma "
            f"{self.sigma_px:.1f} px ({how}), {binned}; {noise}"
        )


@dataclass(frozen=True, eq=False)
class AutoPlan:
    """What the auto mode measures once per movie, to locate any of its frames with.

    Made by :meth:`AutoLocalizer.plan` on the frames :func:`plan_frames` picks; small and
    picklable, so a movie tracked in parts on several workers is planned once and every
    part is located with the same plan (:meth:`AutoLocalizer.from_plan`).

    Attributes
    ----------
    choice : AutoChoice
        Network, scale, polarity, noise model and threshold policy.
    noise : float
        The noise level strengths are measured in (network input units).
    null : float
        Strength false alarms reach outside the training regime (-inf inside it).
    overlays : OverlayPlan or None
        Where burned-in overlays are.
    stripes : numpy.ndarray or None
        ``(H, W)`` fixed-pattern offsets subtracted from every frame.
    seed_rates : SeedRates or None
        The faint network's false-peak rates (:data:`TRACKS` only): how confident a
        trajectory's strongest detection must be is chosen from them on the whole movie.
    """

    choice: AutoChoice
    noise: float
    null: float
    overlays: OverlayPlan | None
    stripes: np.ndarray | None
    seed_rates: SeedRates | None = None

    def select(self, table: pd.DataFrame) -> pd.DataFrame:
        """Keep the detections that stand out of the movie's clutter and false alarms.

        Parameters
        ----------
        table : pandas.DataFrame
            :meth:`AutoLocalizer.detect`'s detections of the whole movie (the gap between
            clutter and particles is found on all of them together).

        Returns
        -------
        pandas.DataFrame
            The kept detections without the ``strength`` column.
        """
        if self.choice.threshold == TRACKS:
            # Weak particles are what the trajectories recover: no strength gap to find.
            return _faint_select(table, self.seed_rates)
        z = table["strength"].to_numpy(dtype=np.float64)
        keep = z > max(strength_cut(z), self.null)
        return table[keep].drop(columns="strength").reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class SeedRates:
    """What the adaptive threshold of a network needs, picklable (see :class:`AutoPlan`).

    Attributes
    ----------
    thresholds, null_per_px : numpy.ndarray
        :meth:`CNNLocalizer.null_rates`.
    levels, clutter : numpy.ndarray
        :meth:`CNNLocalizer.clutter_rates`.
    default : float
        The network's calibrated threshold.
    frame_area_px : int
        Pixels of one frame.
    """

    thresholds: np.ndarray
    null_per_px: np.ndarray
    levels: np.ndarray
    clutter: np.ndarray
    default: float
    frame_area_px: int

    def adaptive(self, table: pd.DataFrame) -> float:
        """Return the adaptive threshold of the whole movie's candidates."""
        from livetrack.infer._rates import clutter_curve

        frames = [t for _, t in table.groupby("frame")]
        return float(
            adaptive_threshold(
                table["prob"].to_numpy(),
                self.thresholds,
                self.null_per_px,
                self.frame_area_px * max(1, len(frames)),
                self.default,
                ADAPTIVE_LOWEST,
                clutter_per_confident=clutter_curve(self.levels, self.clutter, frames),
            )
        )


def _path_candidates(signed: np.ndarray, first_frame: int, plan: AutoPlan) -> pd.DataFrame:
    """Path-evidence peaks of frames of a faint movie and of their shuffled twins.

    Rows ``frame, x, y, mass``, ``score``, ``own`` (the peak's own frame's evidence) and
    ``source`` :data:`_PATH` or :data:`_PATH_NULL`
    (:func:`livetrack.localize.path_evidence`: every frame scored on the frames up to
    :data:`_PATH_WINDOW` on each side, so a chunk with that much overlap scores its own
    frames as the whole movie does).
    """
    from livetrack.localize import (
        evidence_peaks,
        frame_evidence,
        shuffled_frames,
        sum_along_paths,
    )
    from livetrack.model import normalize_frame, window_sums

    normalized = []
    noise = []
    for frame in signed:
        u, _, n = normalize_frame(np.asarray(frame, dtype=np.float32))
        normalized.append(u)
        noise.append(n)
    stack = np.stack(normalized)
    numbers = np.arange(first_frame, first_frame + len(stack))
    sigma = plan.choice.sigma_px / plan.choice.bin_factor
    parts = []
    for source, frames in ((_PATH, stack), (_PATH_NULL, shuffled_frames(stack, numbers))):
        own = frame_evidence(frames, sigma)
        scores = sum_along_paths(own, window=_PATH_WINDOW)
        peaks = evidence_peaks(scores, numbers, floor=_PATH_FLOOR, own=own)
        parts.append(peaks.assign(source=source))
    found = pd.concat(parts, ignore_index=True)
    mass = np.empty(len(found))
    for t, rows in found.groupby("frame").indices.items():
        i = int(t) - first_frame
        xy = found.iloc[rows]
        mass[rows] = window_sums(stack[i], xy["x"].to_numpy(), xy["y"].to_numpy(), 3) * noise[i]
    return found.assign(mass=mass, prob=np.nan, sigma_x=np.nan, sigma_y=np.nan, strength=np.nan)


def _faint_select(table: pd.DataFrame, rates: SeedRates | None) -> pd.DataFrame:
    """Return the faint movie's detections: the network's on trajectories, or path evidence.

    Where path evidence over neighbouring frames (:func:`_path_candidates`) finds
    :data:`_PATH_GAIN` times as many particles as the network's trajectories keep, the
    particles are past the network's reach (ISBI SNR 1) and the path-evidence peaks above
    the threshold their shuffled twins give are the detections (``prob`` NaN); otherwise
    the network's (:func:`confirm_faint`), with the particles it missed that path evidence
    shows (:func:`livetrack.infer._recover.recover_missed`).
    """
    from livetrack.localize import choose_evidence_threshold

    columns = [c for c in table.columns if c not in ("strength", "source", "score", "own")]
    source = table["source"] if "source" in table else pd.Series(_NETWORK, index=table.index)
    network = table[source == _NETWORK].drop(columns=["source", "score", "own"], errors="ignore")
    confirmed = confirm_faint(network, rates)
    path, null = table[source == _PATH], table[source == _PATH_NULL]
    q, true = choose_evidence_threshold(path["score"].to_numpy(), null["score"].to_numpy())
    if true > _PATH_GAIN * max(len(confirmed), 1):
        log.info(
            f"auto: path evidence finds {true:.0f} particles where the network's trajectories "
            f"keep {len(confirmed)}: detections decided on it"
        )
        chosen = path[path["score"] >= q]
        return chosen[columns].sort_values("frame", kind="stable").reset_index(drop=True)
    found = recover_missed(
        confirmed,
        path[path["score"] >= q],
        null[null["score"] >= q],
        _TRACKS_SEARCH_PX,
        _TRACKS_FILL_PX,
    )
    return found[columns].sort_values("frame", kind="stable").reset_index(drop=True)


def _seed_threshold(adaptive: float) -> float:
    """Return the score that confirms a trajectory.

    Twice the adaptive threshold, at most :data:`_TRACKS_HIGH`, never below the adaptive
    threshold itself (bright frames).
    """
    return max(adaptive, min(_TRACKS_HIGH, _TRACKS_SEED_FACTOR * adaptive))


def confirm_faint(table: pd.DataFrame, rates: SeedRates | None = None) -> pd.DataFrame:
    """Decide a faint movie's detections on their trajectories (:data:`TRACKS`).

    The network's candidates (down to :data:`_TRACKS_FLOOR`) are linked. A trajectory
    stays where its strongest detection scores ``high``: :data:`_TRACKS_SEED_FACTOR` times
    the movie's adaptive threshold (what one frame alone would ask), at most
    :data:`_TRACKS_HIGH`; its detections down to ``high / 10`` stay with it, and its
    one-frame gaps and ends are filled from the rest
    (:func:`livetrack.link.confirm_along_tracks`).
    """
    from livetrack.link import confirm_along_tracks

    if table.empty:
        return table.reset_index(drop=True)
    high = _TRACKS_HIGH if rates is None else _seed_threshold(rates.adaptive(table))
    frames = (int(table["frame"].min()), int(table["frame"].max()))
    return confirm_along_tracks(
        table,
        _TRACKS_SEARCH_PX,
        low=max(2.0 * _TRACKS_FLOOR, high / 10.0),
        high=high,
        fill_floor=_TRACKS_FLOOR,
        fill_px=_TRACKS_FILL_PX,
        memory=1,
        frames=frames,
    )


def plan_frames(n_frames: int) -> np.ndarray:
    """Return the frames of an ``n_frames`` movie the auto mode plans on (evenly spread).

    At most :data:`PLAN_FRAMES`; all of them for a movie that short, so planning on these
    frames alone plans the same as planning on the movie.
    """
    n = min(int(n_frames), PLAN_FRAMES)
    return np.unique(np.linspace(0, n_frames - 1, n).round().astype(np.intp))


def choose_auto(
    frames: np.ndarray,
    *,
    diameter_px: float | None = None,
    invert: bool | None = None,
    model: str | None = None,
) -> AutoChoice:
    """Choose the network's input scale, polarity and noise model for a movie.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` stack or one frame.
    diameter_px : float, optional
        The feature diameter, as a trackpy user gives it (about 4 sigma); measured if None.
    invert : bool, optional
        True: dark particles on a bright background; False: bright ones; measured if None.
    model : str, optional
        The network to run; None chooses: ``"rings"`` for ring-shaped particles the network
        sees unbinned (its training range: ring radii 2.5--6 px), else ``"spots"``. Binned
        microspheres in halos look like spots with a dark rim and ``spots`` finds them
        best (measured on the DeepTrack videos).

    Returns
    -------
    AutoChoice
    """
    stack = as_stack(frames)
    if diameter_px is not None and not diameter_px > 0:
        raise InputError(f"diameter must be positive, got {diameter_px}")
    measured: FeatureScale | None = None
    if diameter_px is None or invert is None:
        measured = measure_feature_scale(stack)
    if diameter_px is not None:
        sigma = diameter_px / 4.0
    else:
        assert measured is not None  # measured whenever a hint is missing
        sigma = measured.sigma_px
    polarity: Literal["bright", "dark"]
    if invert is not None:
        polarity = "dark" if invert else "bright"
    else:
        assert measured is not None  # measured whenever a hint is missing
        polarity = measured.polarity
    factor = 1 if sigma <= _LARGEST_SIGMA else max(1, round(sigma / _TARGET_SIGMA))
    sample = _network_input(stack[:: max(1, len(stack) // 3)][:3], factor, polarity)
    net_sigma = sigma / factor
    ratios = [scale_noise(f, net_sigma) / frame_statistics(f, 1)[1] for f in sample if f.size >= 64]
    correlation = float(np.median(ratios)) if ratios else 1.0
    ring = measured is not None and measured.is_ring
    if model is None:
        model = _RING_MODEL if ring and factor == 1 else "spots"
    return AutoChoice(
        model=model,
        polarity=polarity,
        sigma_px=float(sigma),
        bin_factor=int(factor),
        noise_scale_px=net_sigma if correlation > CORRELATED_NOISE_RATIO else None,
        correlation=correlation,
        measured=measured is not None,
        ring_contrast=measured.ring_contrast if measured is not None else float("nan"),
    )


def _network_threshold(policy: str | None, given: float | str | None) -> float | str | None:
    """Return the network's own threshold: the candidates' floor under :data:`TRACKS`."""
    if policy == TRACKS:
        return _TRACKS_FLOOR
    return policy if policy is not None else given


def _network_input(stack: np.ndarray, factor: int, polarity: str) -> np.ndarray:
    """Binned, polarity-corrected frames (the input unchanged where nothing needs doing)."""
    if factor == 1 and polarity == "bright":
        return stack
    binned = bin_frames(stack, factor)
    return -binned if polarity == "dark" else binned


def clutter_cut(z: np.ndarray) -> float:
    """Return the strength below which detections are clutter, or -inf if none stands apart.

    A careful trackpy user sets ``minmass`` in the valley of the mass histogram between
    the faint clutter and the particles. Here the valley must be a clear gap: consecutive
    strengths (sorted) at least ``_GAP_RATIO`` apart, the lower of them barely significant
    (``z <= _CLUTTER_MAX_Z``). Faint particles in white noise form a continuum of strengths
    and are never cut; the faint peaks that compression blocks, halos and texture raise
    beside bright particles are.

    Parameters
    ----------
    z : numpy.ndarray
        Detection strengths in noise units.

    Returns
    -------
    float
        Keep detections with ``z > cut``.
    """
    # Strengths below 1 noise unit are all equally insignificant: a gap is measured from 1.
    s = np.sort(np.maximum(np.asarray(z, dtype=np.float64), 1.0))
    if s.size < 2:
        return -np.inf
    ratios = s[1:] / s[:-1]
    ratios[s[:-1] > _CLUTTER_MAX_Z] = 0.0
    i = int(np.argmax(ratios))
    return float(s[i]) if ratios[i] >= _GAP_RATIO else -np.inf


def strength_cut(z: np.ndarray) -> float:
    """Return the strength at or below which detections are dropped (-inf: none).

    Two rules, the stricter wins. Where the particles are bright, a detection at the noise
    level is not one of them: the floor is ``_FLOOR_Z`` noise units, lowered to a fifth
    of the upper quartile's strength for faint scenes, so faint particles in white noise
    keep every detection the network makes. And a clear gap in strength
    (:func:`clutter_cut`) separates clutter from particles.

    Parameters
    ----------
    z : numpy.ndarray
        Detection strengths in noise units.

    Returns
    -------
    float
        Keep detections with ``z > cut``.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0:
        return -np.inf
    floor = min(_FLOOR_Z, _FLOOR_FRACTION * float(np.percentile(z, 75)))
    return max(floor, clutter_cut(z))


def null_level(z: np.ndarray, n_frames: int) -> float:
    """Return the strength noise detections exceed about ``_NULL_RATE`` times per frame.

    With ``1 / _NULL_RATE`` frames or more, that is the strongest of them. With fewer (a
    live stream's first frame), the tail above the strongest ten is taken as exponential
    (the peaks of smooth noise have a tail no heavier) and extrapolated to that rate.

    Parameters
    ----------
    z : numpy.ndarray
        Strengths of the detections made on noise alone.
    n_frames : int
        Frames they were found in.

    Returns
    -------
    float
        The level (-inf without noise detections).
    """
    z = np.sort(np.asarray(z, dtype=np.float64))
    if z.size == 0:
        return -np.inf
    if n_frames * _NULL_RATE >= 1.0 or z.size < 4:
        return float(z[-1])
    top = z[-10:]
    scale = float((top[1:] - top[0]).mean())
    per_frame = (top.size - 1) / max(1, n_frames)
    return max(float(z[-1]), top[0] + scale * np.log(max(per_frame / _NULL_RATE, 1.0)))


class AutoLocalizer:
    """The CNN with its input scale, polarity and noise model chosen from the data.

    Satisfies the ``Localizer`` protocol. The one-time measurements (:meth:`plan`: overlays,
    stripes, the choice of :func:`choose_auto`, noise and false-alarm levels) are made on
    the first frames it sees (up to 20 spread over the stack in :meth:`locate_stack`, the
    first frame of a live stream in :meth:`locate`) and the choice is logged in one line;
    :meth:`configure` makes them beforehand. A movie tracked in parts is planned once, and
    each part run with :meth:`detect` by a localizer :meth:`from_plan`; :meth:`select` on
    all the parts' detections gives what :meth:`locate_stack` gives on the whole movie.

    Parameters
    ----------
    backend, threshold, refine, batch_size
        As for :class:`CNNLocalizer`.
    diameter_px : float, optional
        Feature diameter hint (about 4 sigma), instead of measuring it.
    invert : bool, optional
        Polarity hint: True for dark particles, False for bright ones.
    model : str, optional
        The network to run; None (the default) chooses ``spots``, ``rings`` or, for faint
        movies, ``spots-t5`` (see :func:`choose_auto` and :attr:`AutoChoice.strength`).
    crowded : bool
        Fit crowded detections jointly and split pairs (see :class:`CNNLocalizer`); off
        for live streams by default.
    """

    def __init__(
        self,
        backend: str = "auto",
        threshold: float | str | None = None,
        refine: bool | None = None,
        *,
        diameter_px: float | None = None,
        invert: bool | None = None,
        batch_size: int = 4,
        model: str | os.PathLike[str] | None = None,
        crowded: bool = True,
    ) -> None:
        self.backend_name = backend
        self.crowded = bool(crowded)
        self.threshold = threshold
        self.refine = refine
        self.diameter_px = diameter_px
        self.invert = invert
        self.batch_size = batch_size
        self.model = None if model is None else os.fspath(model)
        self.choice: AutoChoice | None = None
        self.cnn: CNNLocalizer | None = None
        self._noise = 1.0
        self._plan: AutoPlan | None = None
        self._pool: list[np.ndarray] = []
        # A faint live stream: its trajectories, frames seen, and the single-frame network
        # of its first frames.
        self._confirmer: Any = None
        self._recovery: LiveRecovery | None = None
        self._seen = 0
        self._last: int | None = None
        self._single: CNNLocalizer | None = None
        self._warm_strength: list[np.ndarray] = []

    def __repr__(self) -> str:
        return f"AutoLocalizer({self.choice.line() if self.choice else 'not yet configured'})"

    @property
    def spec(self) -> Any:
        """The model spec of the network (after :meth:`configure`)."""
        return None if self.cnn is None else self.cnn.spec

    @classmethod
    def from_plan(
        cls,
        plan: AutoPlan,
        backend: str = "auto",
        threshold: float | str | None = None,
        refine: bool | None = None,
        *,
        batch_size: int = 4,
    ) -> AutoLocalizer:
        """Build a localizer that runs a plan made elsewhere (another process, a worker).

        A movie tracked in parts is planned once (:meth:`plan`) and every part is located
        with the same plan; :meth:`detect` per part and :meth:`select` on all of them
        together then give exactly what :meth:`locate_stack` gives on the whole movie.
        """
        loc = cls(backend, threshold, refine, batch_size=batch_size, model=plan.choice.model)
        loc._adopt(plan)
        return loc

    @property
    def auto_plan(self) -> AutoPlan | None:
        """What the auto mode measured on the movie (None before :meth:`configure`)."""
        return self._plan

    def configure(self, frames: np.ndarray) -> AutoChoice:
        """Make the one-time measurements (:meth:`plan`) on ``frames`` and build the network.

        Parameters
        ----------
        frames : numpy.ndarray
            A frame or a ``(T, H, W)`` stack of the movie to track.

        Returns
        -------
        AutoChoice
        """
        return self.plan(frames).choice

    def plan(self, frames: np.ndarray, *, live: bool = False) -> AutoPlan:
        """Measure what the auto mode needs once per movie, on up to 20 frames spread over it.

        Overlays and fixed-pattern stripes, the particles' size, polarity and shape (the
        network, the scale and the noise model: :func:`choose_auto`), the noise level, and,
        outside the networks' training regime, the false-alarm level. Only the frames
        :func:`plan_frames` picks are looked at, so the plan of a movie and the plan of
        those frames alone are the same.

        Parameters
        ----------
        frames : numpy.ndarray
            The movie (``(T, H, W)``) or one frame; or just its :func:`plan_frames`.
        live : bool
            The first frame of a live stream (:meth:`locate`): faint particles run the
            causal ``spots-c5``, confirmed on their trajectories frame by frame.

        Returns
        -------
        AutoPlan
            Also adopted by this localizer, which builds its network.
        """
        stack = as_stack(frames, name="frames")
        sample = stack[plan_frames(len(stack))]
        overlays = plan_overlays(sample)
        sample, hidden = remove_overlays(sample, overlays)
        if hidden.any():
            log.info(
                "auto: paints over burned-in overlays (timestamps, scale bars, labels): "
                f"{hidden.sum() / len(hidden):.0f} px per frame"
            )
        rows, columns = stripe_profiles(sample)
        stripes = None
        if rows.any() or columns.any():
            stripes = rows[:, None] + columns[None, :]
            sample = sample - stripes
            log.info("auto: subtracts fixed-pattern stripes (row and column offsets)")
        choice = choose_auto(
            sample, diameter_px=self.diameter_px, invert=self.invert, model=self.model
        )
        self.choice = choice
        self._build_network(choice)
        net, signed = self._inputs(sample)
        self._noise = float(
            np.median([frame_statistics(f, 4, choice.noise_scale_px)[1] for f in signed])
        )
        # The temporal model's adaptive threshold counts false peaks at the rates measured
        # on white noise at the network's own scale: only there is it a choice.
        faint_possible = (
            choice.model == "spots"
            and self.model is None
            and choice.noise_scale_px is None
            and choice.bin_factor == 1
        )
        if faint_possible and self.threshold is None and (live or len(sample) >= _FAINT_FRAMES):
            step = max(1, len(net) // _STRENGTH_FRAMES)
            self._choose_window(
                net[::step], signed[::step], _LIVE_FAINT_MODEL if live else _FAINT_MODEL
            )
        choice = self.choice
        null = -np.inf
        if choice.noise_scale_px is not None or choice.bin_factor > 1:
            # Outside the networks' training regime: the false-alarm level, measured.
            assert self.cnn is not None  # built above
            found = self.cnn.locate_stack(net)
            null = self._null_strength(net, signed, found, 0)
        seed_rates = None
        if choice.threshold == TRACKS:
            assert self.cnn is not None  # built above
            seed_rates = SeedRates(
                *self.cnn.null_rates(),
                *self.cnn.clutter_rates(),
                default=float(self.cnn.spec.threshold),
                frame_area_px=int(net.shape[1] * net.shape[2]),
            )
        plan = AutoPlan(choice, self._noise, null, overlays, stripes, seed_rates)
        self._adopt(plan)
        log.info(choice.line())
        return plan

    def _build_network(self, choice: AutoChoice) -> None:
        # The model and its backend session are loaded once per process (the session is
        # what costs); the localizer itself, with its per-stream state, is this one's own.
        shared = _cached_localizer(choice.model, self.backend_name)
        self.cnn = CNNLocalizer(
            model=shared.spec,
            backend=shared.backend,
            threshold=_network_threshold(choice.threshold, self.threshold),
            batch_size=self.batch_size,
            refine=self.refine,
            noise_scale_px=choice.noise_scale_px,
            crowded=self.crowded,
        )

    def _adopt(self, plan: AutoPlan) -> None:
        if self.cnn is None or self.choice != plan.choice:
            self._build_network(plan.choice)
        self.choice = plan.choice
        self._noise = plan.noise
        self._plan = plan
        self._pool = []
        self._confirmer, self._seen, self._last = None, 0, None

    def _inputs(self, stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the network's input and the frames strengths are measured on (bright)."""
        choice = self.choice
        assert choice is not None  # set by plan()
        net = _network_input(stack, choice.bin_factor, choice.network_polarity)
        return net, (net if choice.network_polarity == choice.polarity else -net)

    def _choose_window(self, sample: np.ndarray, signed: np.ndarray, model: str) -> None:
        """Decide detections on single frames, or on five for faint particles.

        A single-frame pass on a few frames measures how strong the particles are. Where
        they are faint, the network that fuses each frame's evidence with its neighbours'
        (``spots-t5``), its candidates then decided on their trajectories
        (:func:`confirm_faint`), finds far more of them (ISBI-like scenes at SNR 2: Jaccard
        about 0.9 against 0.37); where they are bright, single frames are as good and
        follow fast particles better. A live stream runs the causal twin (``spots-c5``).
        """
        assert self.cnn is not None and self.choice is not None  # set by plan()
        found = self.cnn.locate_stack(sample)
        strength = float(np.median(self._strength(found, signed, 0))) if len(found) else 0.0
        choice = replace(self.choice, strength=strength)
        if strength < _FAINT_Z:
            choice = replace(choice, model=model, threshold=TRACKS)
            self._build_network(choice)
        self.choice = choice

    def _null_strength(
        self, net: np.ndarray, signed: np.ndarray, table: pd.DataFrame, first_frame: int
    ) -> float:
        """Return the strength false detections reach, measured on the inverted frames.

        The network's threshold was calibrated on white noise; correlated noise raises more
        and stronger false peaks. Its noise is as likely dark as bright, the particles are
        not: on the inverted frames, away from the particles (their halos and rings turn
        bright there), every detection is noise (:func:`null_level` turns them into a
        level). Measured on up to ``PLAN_FRAMES`` frames spread over ``net``, the
        detections ``table`` made on them (network pixels) marking the particles.
        """
        assert self.cnn is not None and self.choice is not None  # set by plan()
        index = np.arange(len(net))[:: max(1, len(net) // PLAN_FRAMES)][:PLAN_FRAMES]
        sample, signed = net[index], signed[index]
        rows = table["frame"].to_numpy() - first_frame
        found = table[np.isin(rows, index)].copy()
        found["frame"] = np.searchsorted(index, found["frame"].to_numpy() - first_frame)
        # Only how strong the false detections are matters here, not where exactly.
        probe = CNNLocalizer(
            model=self.cnn.spec,
            backend=self.cnn.backend,
            threshold=self.threshold,
            batch_size=self.batch_size,
            refine=False,
            noise_scale_px=self.choice.noise_scale_px,
        )
        null = probe.locate_stack(-sample)
        if null.empty:
            return -np.inf
        reach = _NULL_EXCLUSION_SIGMAS * self.choice.sigma_px / self.choice.bin_factor
        away = np.ones(len(null), dtype=bool)
        for t, rows in null.groupby("frame").indices.items():
            near = found[found["frame"] == t][["x", "y"]].to_numpy()
            if len(near):
                xy = null[["x", "y"]].to_numpy()[rows]
                d2 = ((xy[:, None, :] - near[None, :, :]) ** 2).sum(axis=2)
                away[rows] = d2.min(axis=1) > reach**2
        z = self._strength(null, -signed, 0)[away]
        # The strongest of a sample is an estimate of the noise's extreme, and as likely
        # below the extreme of the frames tracked as above: a margin keeps it above.
        return _NULL_MARGIN * null_level(z, len(sample))

    def prepare(self) -> None:
        """Load the network and warm it up (:meth:`CNNLocalizer.prepare`) before any frame.

        The live :class:`~livetrack.pipeline.Tracker` calls it when it is built; the choice
        itself waits for the first frame.
        """
        cnn = self.cnn or _cached_localizer(self.model or "spots", self.backend_name)
        cnn.prepare()

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate the particles in one frame of a live stream.

        The plan is made on the first frame (a camera's fixed-pattern stripes are the same
        in every frame: measured on the first, subtracted from all); the clutter gap is
        found on the detections of the recent frames together.

        Parameters
        ----------
        image : numpy.ndarray
            2-D frame.
        frame : int
            Frame number written to the ``frame`` column.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x, y, prob, sigma_x, sigma_y, mass`` in the input's pixels.
        """
        stack = as_stack(image, name="image")
        if stack.shape[0] != 1:
            raise InputError(
                f"locate() takes one frame, got a stack of {stack.shape[0]}; use locate_stack()"
            )
        if self._plan is None:
            self.plan(stack, live=True)
        plan, cnn = self._plan, self.cnn
        assert plan is not None and cnn is not None  # set by plan()
        if plan.stripes is not None:
            stack = stack - plan.stripes
        net_input, signed = self._inputs(stack)
        if plan.choice.threshold == TRACKS:
            faint = self._locate_faint(net_input[0], signed[0], frame)
            if faint is not None:
                return self._to_input_pixels(faint)
            plan, cnn = self._plan, self.cnn  # bright after all: the single-frame plan
            assert plan is not None and cnn is not None
        table = cnn.locate(net_input[0], frame)
        z = self._strength(table, signed, frame)
        self._pool = [*self._pool[-(_LIVE_POOL_FRAMES - 1) :], z]
        keep = z > max(strength_cut(np.concatenate(self._pool)), plan.null)
        return self._to_input_pixels(table[keep].reset_index(drop=True))

    def _locate_faint(
        self, frame_input: np.ndarray, signed: np.ndarray, frame: int
    ) -> pd.DataFrame | None:
        """One frame of a faint live stream: ``spots-c5`` candidates kept on trajectories.

        Until the causal network has its four earlier frames, the stream's first frames are
        located by the single-frame ``spots``, whose detections start the trajectories; the
        causal network sees those frames too. Then a candidate stays where it scores twice
        the frame's adaptive threshold (at most :data:`_TRACKS_HIGH`) or a tenth of that on
        a trajectory confirmed before (:class:`livetrack.link.TrackConfirmer`).

        The first frame alone decided that the particles are faint; the first four decide
        again (their median strength, as a movie's is measured on several frames). Returns
        None where they are bright after all: the plan is then the single-frame one.
        """
        plan, cnn = self._plan, self.cnn
        assert plan is not None and cnn is not None and plan.seed_rates is not None
        if self._confirmer is None or (self._last is not None and frame <= self._last):
            from livetrack.link import TrackConfirmer

            self._confirmer = TrackConfirmer(
                _TRACKS_SEARCH_PX, _TRACKS_FLOOR, _TRACKS_HIGH, memory=2
            )
            self._recovery = LiveRecovery(
                plan.choice.sigma_px / plan.choice.bin_factor, _PATH_WINDOW, _PATH_FLOOR
            )
            self._seen = 0
            self._warm_strength = []
        self._last = frame
        candidates = cnn.locate(frame_input, frame)
        self._seen += 1
        if self._seen < cnn.temporal_frames:
            if self._single is None:
                shared = _cached_localizer("spots", self.backend_name)
                self._single = CNNLocalizer(
                    model=shared.spec,
                    backend=shared.backend,
                    batch_size=self.batch_size,
                    refine=self.refine,
                    crowded=self.crowded,
                )
            table = self._single.locate(frame_input, frame)
            self._warm_strength.append(self._strength(table, signed[None], frame))
            # Everything single frames find starts a trajectory.
            self._confirmer.step(frame, table, low=0.0, high=0.0)
            assert self._recovery is not None  # made with the confirmer
            self._recovery.push(normalize_frame(np.asarray(signed, dtype=np.float32))[0])
            return table
        if self._warm_strength:
            z = np.concatenate(self._warm_strength)
            self._warm_strength = []
            strength = float(np.median(z)) if z.size else 0.0
            if strength >= _FAINT_Z:
                choice = replace(plan.choice, model="spots", threshold=None, strength=strength)
                self._adopt(replace(plan, choice=choice, seed_rates=None))
                log.info(choice.line())
                return None
        high = _seed_threshold(plan.seed_rates.adaptive(candidates))
        low = max(2.0 * _TRACKS_FLOOR, high / 10.0)
        kept = self._confirmer.step(frame, candidates, low=low, high=high)
        return self._recover_live(kept, signed, frame)

    def _recover_live(self, kept: pd.DataFrame, signed: np.ndarray, frame: int) -> pd.DataFrame:
        """Add the lone path-evidence peaks the kept detections miss (:class:`LiveRecovery`)."""
        from livetrack.model import window_sums

        assert self._recovery is not None
        normalized, _, noise = normalize_frame(np.asarray(signed, dtype=np.float32))
        found = self._recovery.step(normalized, frame, kept)
        if found.empty:
            return kept
        x, y = found["x"].to_numpy(), found["y"].to_numpy()
        added = pd.DataFrame(
            {
                "frame": found["frame"].to_numpy(),
                "x": x,
                "y": y,
                "prob": np.nan,
                "sigma_x": np.nan,
                "sigma_y": np.nan,
                "mass": window_sums(normalized, x, y, _MASS_HALF_PX) * noise,
            }
        )
        return pd.concat([kept, added[kept.columns]], ignore_index=True)

    def locate_stack(
        self, frames: np.ndarray, first_frame: int = 0, temporal_window: int = 1
    ) -> pd.DataFrame:
        """Locate the particles in every frame of a ``(T, H, W)`` stack.

        The same as :meth:`select` of :meth:`detect`, with the movie planned first
        (:meth:`plan`) unless it was.

        Parameters
        ----------
        frames : numpy.ndarray
            ``(T, H, W)`` stack or one 2-D frame.
        first_frame : int
            Frame number of ``frames[0]``.
        temporal_window : int
            As for :meth:`CNNLocalizer.locate_stack`.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x, y, prob, sigma_x, sigma_y, mass`` in the input's pixels.
        """
        stack = as_stack(frames, name="frames")
        if self._plan is None:
            self.plan(stack)
        return self.select(self.detect(stack, first_frame, temporal_window))

    def detect(
        self, frames: np.ndarray, first_frame: int = 0, temporal_window: int = 1
    ) -> pd.DataFrame:
        """Run the planned network on frames of the movie, before the movie-wide cut.

        Parameters
        ----------
        frames, first_frame, temporal_window
            As for :meth:`locate_stack`; ``frames`` may be any consecutive part of the
            movie that was planned (a temporal model wants its neighbours on both sides).

        Returns
        -------
        pandas.DataFrame
            :meth:`locate_stack`'s columns plus ``strength``: each detection's brightness
            above its local background in noise units, which :meth:`select` cuts on.
            Nothing under a burned-in overlay.
        """
        plan, cnn = self._plan, self.cnn
        if plan is None or cnn is None:
            raise InputError("AutoLocalizer.detect() needs a plan: call plan() first")
        stack, hidden = remove_overlays(as_stack(frames, name="frames"), plan.overlays)
        if plan.stripes is not None:
            if plan.stripes.shape != stack.shape[1:]:
                raise InputError(
                    f"frames of shape {stack.shape[1:]} do not belong to the planned movie "
                    f"({plan.stripes.shape})"
                )
            stack = stack - plan.stripes
        net_input, signed = self._inputs(stack)
        table = cnn.locate_stack(
            net_input, first_frame=first_frame, temporal_window=temporal_window
        )
        if table.empty:
            table = empty_table()
            table["strength"] = np.empty(0)
        else:
            table = table.assign(strength=self._strength(table, signed, first_frame))
        if plan.choice.threshold == TRACKS:
            table = pd.concat(
                [table.assign(source=_NETWORK), _path_candidates(signed, first_frame, plan)],
                ignore_index=True,
            )
        if table.empty:
            return table
        table = self._to_input_pixels(table)
        if hidden.any():
            # What lay under an overlay was painted over, not seen: nothing is found there.
            rows = np.clip(np.rint(table["y"].to_numpy()).astype(int), 0, hidden.shape[1] - 1)
            cols = np.clip(np.rint(table["x"].to_numpy()).astype(int), 0, hidden.shape[2] - 1)
            under = hidden[table["frame"].to_numpy() - first_frame, rows, cols]
            table = table[~under]
        return table.reset_index(drop=True)

    def select(self, table: pd.DataFrame) -> pd.DataFrame:
        """Keep the detections of the whole movie that stand out (:meth:`AutoPlan.select`)."""
        if self._plan is None:
            raise InputError("AutoLocalizer.select() needs a plan: call plan() first")
        return self._plan.select(table)

    def _strength(self, table: pd.DataFrame, frames: np.ndarray, first_frame: int) -> np.ndarray:
        """Each detection's brightness above its local background, in noise units.

        The sum over a ``2 * half + 1`` square (:attr:`AutoChoice.strength_half_px`) less
        the local background, the median of the ring ``2 * _MASS_HALF_PX`` to
        ``4 * _MASS_HALF_PX`` pixels away (the frame median the network's ``mass``
        subtracts is not the local background under uneven illumination). For white noise
        of unit variance the sum spreads by ``2 * half + 1``.
        """
        h = self.choice.strength_half_px if self.choice else _MASS_HALF_PX
        outer = 4 * _MASS_HALF_PX
        span = np.abs(np.arange(-outer, outer + 1))
        box = np.maximum(span[:, None], span[None, :]).ravel()
        annulus = np.flatnonzero(box > 2 * _MASS_HALF_PX)
        side = 2 * outer + 1
        z = np.empty(len(table))
        for t, rows in table.groupby("frame").indices.items():
            frame = np.asarray(frames[int(t) - first_frame], dtype=np.float32)
            r = np.clip(np.rint(table["y"].to_numpy()[rows]).astype(int), 0, frame.shape[0] - 1)
            c = np.clip(np.rint(table["x"].to_numpy()[rows]).astype(int), 0, frame.shape[1] - 1)
            # The median of a ring beyond the particle's halo: neither the halo nor a
            # neighbour pulls it, and a smooth illumination gradient cancels. Mirrored at the
            # border, so every ring is whole and the median vectorizes.
            mirrored = np.pad(frame, outer, mode="symmetric")
            ring = sliding_window_view(mirrored, (side, side))[r, c].reshape(len(rows), -1)
            background = np.median(ring[:, annulus], axis=1)
            # The sum counts the pixels in the frame only: a mirror would count them twice.
            core, inside = window_stack(frame, r, c, h)
            z[rows] = (core * inside).sum(axis=(1, 2)) - background * inside.sum(axis=(1, 2))
        return z / (self._noise * (2 * h + 1))

    def _to_input_pixels(self, table: pd.DataFrame) -> pd.DataFrame:
        f = self.choice.bin_factor if self.choice else 1
        if f == 1:
            return table
        # Binned pixel i covers input pixels i*f .. i*f + f - 1, centred on i*f + (f - 1)/2.
        table = table.copy()
        for col in ("x", "y"):
            table[col] = table[col] * f + (f - 1) / 2.0
        for col in ("sigma_x", "sigma_y"):
            table[col] = table[col] * f
        # A binned pixel is the mean of f*f input pixels: mass as a sum over input pixels.
        table["mass"] = table["mass"] * (f * f)
        return table
