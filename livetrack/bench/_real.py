"""The ``real`` suite: real microscope videos against reference positions, and look-alikes.

Every figure elsewhere in the benchmarks comes from livetrack's own simulator. This suite
scores what ``livetrack.locate(frames)`` does by default on experimental videos nobody here
made (``<repo root>/../shared/realdata``, see its README), side by side with trackpy and the
classical localizers run with the parameters a careful user would set for each video.

A real video has no ground truth, only a reference: the particles a careful user marks,
good for counting and for positions to within a few pixels. So each video is scored by

- recall: the fraction of reference particles matched within the gate (4 px by default),
  frame by frame with the Hungarian matcher of :func:`livetrack.evaluate.score`;
- false detections per frame: detections matched to no reference particle and farther than
  the border margin from the image border (particles cut by the border are missing from
  the references, finding them is not an error). The margin is the video's feature radius,
  half the feature diameter in :data:`USER_PARAMS`;
- the median distance of matched pairs, the detections and reference particles per frame,
  and milliseconds per frame.

Simulated look-alikes of each kind of video (:mod:`livetrack.simulate._lookalike`) are
scored the same way against their ground truth, and with the Jaccard index and RMSE of
:func:`livetrack.evaluate.score` as well, since there the truth is exact.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from livetrack import evaluate
from livetrack._errors import InputError
from livetrack.registry import CLASSICAL, make_localizer, parse_localizer

__all__ = [
    "DEFAULT_GATE_PX",
    "REALDATA_ENV",
    "USER_PARAMS",
    "RealRow",
    "RealScore",
    "Source",
    "UserParams",
    "find_realdata",
    "lookalike_sources",
    "real_frame",
    "real_localizers",
    "real_markdown",
    "real_sources",
    "run_real",
    "score_real",
]

#: Environment variable naming the folder of real videos (overridden by ``--data``).
REALDATA_ENV = "LIVETRACK_REALDATA"
#: Matching gate in pixels: the references are good to a few pixels (their README).
DEFAULT_GATE_PX = 4.0
# File types read as videos; anything else in the folder (CSV, README, licence) is not.
_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".tif", ".tiff")
# Localizers every run compares; ``-m`` adds more.
BASELINES = ("defaults", "trackpy", "centroid", "radial")


@dataclass(frozen=True)
class UserParams:
    """What a careful user of trackpy sets for one video.

    Attributes
    ----------
    diameter_px
        Feature diameter (odd), a little larger than the bright part of a particle.
    minmass
        Smallest integrated brightness of a particle, in the video's grey levels.
    invert
        Particles darker than the background.
    """

    diameter_px: int
    minmass: float
    invert: bool = False

    @property
    def border_margin_px(self) -> float:
        """The feature radius: unmatched detections closer to the border are not counted."""
        return self.diameter_px / 2.0

    @property
    def polarity(self) -> Literal["bright", "dark"]:
        """The classical localizers' polarity for these particles."""
        return "dark" if self.invert else "bright"


# How these were chosen, for each video as a user would: the diameter from a line profile
# through a particle (the width of the bright core, rounded up to odd), with invert for
# dark particles; minmass from trackpy's mass histogram on five frames spread over the
# video, run with minmass 0, at the middle of the gap between the particles and the
# background clutter (trackpy's walkthrough). livetrack's classical localizers sum the
# same bandpassed disc and showed the gap at the same place, so one minmass serves both.
# None of them was tuned against the reference CSVs or the simulated truth.
USER_PARAMS: dict[str, UserParams] = {
    # Core about 22 px wide and faint (50 over 26 grey levels); masses 2580-2910 against
    # at most 480 for the compression blocks.
    "deeptrack_example2": UserParams(diameter_px=25, minmass=1200.0),
    # Core about 25 px wide inside the dark ring; masses 13600-14900 against at most 1480.
    "deeptrack_video1": UserParams(diameter_px=27, minmass=5000.0),
    # Cores about 16-20 px wide; masses 4250-5700 (a few cut by the border down to 2500)
    # against at most 750 for the background.
    "deeptrack_example3": UserParams(diameter_px=21, minmass=2000.0),
    # Microspheres about 8-10 px wide among bacteria; masses 550-1040 against a background
    # texture up to about 500 (the gap is narrow: this video has no reference).
    "deeptrack_example4": UserParams(diameter_px=11, minmass=600.0),
    # The look-alikes, chosen the same way on the suite's frames (seeds 2012-2014).
    # Cores 19 px: masses 4300-5100 against at most 700.
    "compressed spheres": UserParams(diameter_px=21, minmass=2000.0),
    # Bright centres 6 px inside 10 px rings: masses 400-560 against at most 150.
    "brightfield rings": UserParams(diameter_px=9, minmass=250.0),
    # Dark dips 3-4 px wide: masses (inverted) 52-200 against at most 40.
    "dark colloids": UserParams(diameter_px=5, minmass=45.0, invert=True),
    # Spots about 5 px wide among rods and blobs: the histogram thins out at 250-350
    # (20 features in five frames) between the noise below 200 and the spots and rods
    # above 350.
    "cluttered spots": UserParams(diameter_px=7, minmass=300.0),
}


@dataclass(frozen=True, eq=False)
class Source:
    """One video of the suite: real with its reference, or simulated with its truth.

    Attributes
    ----------
    name
        Row label: the video's file stem, or the look-alike's kind.
    kind
        ``"real"`` or ``"simulated"``.
    frames
        ``(T, H, W)`` stack as read from disk or simulated.
    params
        The user's parameters for the classical localizers and the border margin; None for
        a video nobody chose them for.
    reference
        Positions to find (``frame, x, y``): the reference CSV, or the visible truth inside
        the frame; None for a video without a reference.
    truth
        The full simulated ground truth, scored with :func:`livetrack.evaluate.score`.
    """

    name: str
    kind: Literal["real", "simulated"]
    frames: np.ndarray
    params: UserParams | None
    reference: pd.DataFrame | None
    truth: pd.DataFrame | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.frames.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """Frame (height, width)."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


@dataclass(frozen=True)
class RealScore:
    """Scores of one localizer on one video (NaN where a video has no reference or truth).

    Attributes
    ----------
    recall
        Reference particles matched within the gate over all reference particles.
    false_per_frame
        Unmatched detections farther than ``border_margin_px`` from the border, per frame.
    median_distance_px
        Median distance of matched pairs.
    found_per_frame, reference_per_frame
        Detections and reference particles per frame.
    border_margin_px
        The margin used.
    jaccard, rmse_px
        Against simulated ground truth (:func:`livetrack.evaluate.score`, same gate).
    """

    recall: float
    false_per_frame: float
    median_distance_px: float
    found_per_frame: float
    reference_per_frame: float
    border_margin_px: float
    jaccard: float = math.nan
    rmse_px: float = math.nan


def _positions(df: pd.DataFrame | None, n_frames: int) -> pd.DataFrame:
    """``frame, x, y`` of the first ``n_frames`` frames, with a fresh index."""
    if df is None or len(df) == 0:
        return pd.DataFrame({"frame": pd.Series(dtype="int64"), "x": [], "y": []})
    missing = [c for c in ("frame", "x", "y") if c not in df.columns]
    if missing:
        raise InputError(f"positions lack column(s) {', '.join(missing)}")
    out = df.loc[df["frame"].to_numpy() < n_frames, ["frame", "x", "y"]]
    return out.reset_index(drop=True)


def border_distance(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Distance in px from each position to the nearest edge of the image area.

    The image area is ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` (pixel centres at integers).
    """
    h, w = shape
    return np.minimum.reduce([x + 0.5, (w - 0.5) - x, y + 0.5, (h - 0.5) - y])


def score_real(
    reference: pd.DataFrame | None,
    found: pd.DataFrame,
    *,
    shape: tuple[int, int],
    n_frames: int,
    gate_px: float = DEFAULT_GATE_PX,
    border_margin_px: float = 0.0,
    truth: pd.DataFrame | None = None,
) -> RealScore:
    """Score detections against a reference, frame by frame.

    Parameters
    ----------
    reference
        ``frame, x, y`` of the particles to find, or None (only counts are reported).
    found
        ``frame, x, y`` of the detections.
    shape
        Frame (height, width), for the border distance.
    n_frames
        Frames the detections cover (frames with nothing found count too); rows of later
        frames are ignored.
    gate_px
        Largest distance of a match.
    border_margin_px
        Unmatched detections at most this far from the image border are not false.
    truth
        Simulated ground truth for the Jaccard index and RMSE (same gate).

    Returns
    -------
    RealScore
    """
    if n_frames < 1:
        raise InputError(f"n_frames must be >= 1, got {n_frames}")
    found = _positions(found, n_frames)
    found_pf = len(found) / n_frames
    jaccard = rmse = math.nan
    if truth is not None:
        exact = evaluate.score(truth[truth["frame"] < n_frames], found, gate_px=gate_px)
        jaccard, rmse = exact.jaccard, exact.rmse
    if reference is None:
        nan = math.nan
        return RealScore(nan, nan, nan, found_pf, nan, border_margin_px, jaccard, rmse)
    reference = _positions(reference, n_frames)
    result = evaluate.score(reference, found, gate_px=gate_px)
    unmatched = found.drop(index=result.pred_index)
    away = border_distance(unmatched["x"].to_numpy(), unmatched["y"].to_numpy(), shape)
    distances = np.hypot(result.dx, result.dy)
    return RealScore(
        recall=result.recall,
        false_per_frame=int(np.count_nonzero(away > border_margin_px)) / n_frames,
        median_distance_px=float(np.median(distances)) if distances.size else math.nan,
        found_per_frame=found_pf,
        reference_per_frame=len(reference) / n_frames,
        border_margin_px=border_margin_px,
        jaccard=jaccard,
        rmse_px=rmse,
    )


def find_realdata(data: str | Path | None = None) -> Path | None:
    """Locate the folder of real videos.

    Parameters
    ----------
    data
        An explicit folder (``--data``); it must exist.

    Returns
    -------
    pathlib.Path or None
        ``data``, else ``$LIVETRACK_REALDATA``, else ``<repo root>/../shared/realdata``
        where CI and the development checkout keep it; None when neither of the last two
        exists.

    Raises
    ------
    InputError
        ``data`` or ``$LIVETRACK_REALDATA`` names something that is not a folder.
    """
    for given, what in ((data, "--data"), (os.environ.get(REALDATA_ENV) or None, REALDATA_ENV)):
        if given is not None:
            folder = Path(given)
            if not folder.is_dir():
                raise InputError(f"{what}: no such folder: {folder}")
            return folder
    # livetrack/bench/_real.py -> the repository root is two folders up from the package.
    default = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
    return default if default.is_dir() else None


def real_sources(
    folder: str | Path, videos: Sequence[str] | None = None, max_frames: int | None = None
) -> list[Source]:
    """Read the videos of ``folder`` and their ``<stem>_ref.csv`` references.

    Parameters
    ----------
    folder
        The realdata folder.
    videos
        Only these file stems; None for every video in the folder.
    max_frames
        Keep only the first frames of each video (and of its reference).

    Returns
    -------
    list of Source
        Videos with a reference first, then those without, each group by name.

    Raises
    ------
    InputError
        A requested video that is not in the folder, or a reference without
        ``frame, x, y`` columns.
    """
    from livetrack._stack import read_stack

    folder = Path(folder)
    paths = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in _VIDEO_SUFFIXES}
    if videos:
        unknown = sorted(set(videos) - set(paths))
        if unknown:
            raise InputError(
                f"no video named {', '.join(unknown)} in {folder}; have {', '.join(paths)}"
            )
        paths = {k: v for k, v in paths.items() if k in set(videos)}
    sources = []
    for stem, path in paths.items():
        frames = read_stack(path)
        if max_frames is not None:
            frames = frames[:max_frames]
        ref_path = folder / f"{stem}_ref.csv"
        reference = None
        if ref_path.is_file():
            reference = pd.read_csv(ref_path)
            missing = {"frame", "x", "y"} - set(reference.columns)
            if missing:
                raise InputError(f"{ref_path}: lacks column(s) {', '.join(sorted(missing))}")
            reference = reference[reference["frame"] < len(frames)].reset_index(drop=True)
        sources.append(Source(stem, "real", frames, USER_PARAMS.get(stem), reference))
    return sorted(sources, key=lambda s: (s.reference is None, s.name))


def lookalike_sources(seed: int = 2012, n_frames: int = 20) -> list[Source]:
    """Simulate each look-alike (seed ``seed + i`` for the i-th) as a source with truth."""
    from livetrack.simulate import LOOKALIKES

    sources = []
    for i, (kind, make) in enumerate(LOOKALIKES.items()):
        movie = make(n_frames=n_frames, seed=seed + i)
        sources.append(
            Source(
                name=kind,
                kind="simulated",
                frames=movie.frames,
                params=USER_PARAMS.get(kind),
                reference=movie.visible_truth(),
                truth=movie.truth,
            )
        )
    return sources


#: ``builder(source)`` returns ``locate(frames) -> positions`` for that video, or None
#: where the localizer cannot run there (no user parameters for it).
StackLocate = Callable[[np.ndarray], pd.DataFrame]
RealLocalizer = Callable[[Source], StackLocate | None]


def _defaults(source: Source) -> StackLocate:
    # Exactly what `livetrack locate VIDEO` does: no option at all.
    defaults: Any = make_localizer("defaults")  # it has the optional locate_stack hook
    return defaults.locate_stack


def _per_frame(locate_one: Callable[[np.ndarray], pd.DataFrame]) -> StackLocate:
    def run(frames: np.ndarray) -> pd.DataFrame:
        parts = [locate_one(f).assign(frame=i) for i, f in enumerate(frames)]
        return pd.concat(parts, ignore_index=True)

    return run


def _trackpy(source: Source) -> StackLocate | None:
    p = source.params
    if p is None:
        return None
    import trackpy

    trackpy.quiet()
    # trackpy 0.7 uses pandas API that pandas 3 deprecates: not ours to fix, and not a
    # reason to fail a benchmark run under -W error.
    deprecation = getattr(pd.errors, "Pandas4Warning", FutureWarning)

    def locate_one(frame: np.ndarray) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", deprecation)
            return trackpy.locate(frame, p.diameter_px, minmass=p.minmass, invert=p.invert)

    return _per_frame(locate_one)


def _classical(method: str) -> RealLocalizer:
    def build(source: Source) -> StackLocate | None:
        p = source.params
        if p is None or (method == "mle" and p.invert):  # the Gaussian fit is bright-only
            return None
        # The Gaussian fit starts from the PSF width; a user fitting large particles sets
        # it from the feature size (the default of 1 px suits diffraction-limited spots).
        extra: dict[str, Any] = {"sigma_px": p.diameter_px / 4.0} if method == "mle" else {}
        loc = make_localizer(
            method, diameter_px=p.diameter_px, minmass=p.minmass, polarity=p.polarity, **extra
        )
        return _per_frame(loc.locate)

    return build


def _cnn(name: str) -> RealLocalizer:
    from livetrack.bench._accuracy import _locate_all
    from livetrack.bench._localizers import available_localizers
    from livetrack.bench._scenes import Scene

    (factory,) = available_localizers([name]).values()

    def build(source: Source) -> StackLocate:
        # The accuracy bench's factories take a scene (a CNN reads nothing from it) and a
        # camera: none here, real frames come in grey levels, not photons.
        scene = Scene(
            name=source.name,
            group="real",
            snr=math.nan,
            psf=None,
            shape=source.shape,
            n_particles=0,
            n_frames=source.n_frames,
            feature_diameter_px=source.params.diameter_px if source.params else 7,
        )
        locate = factory(scene, None)
        return lambda frames: _locate_all(locate, frames)[0]

    return build


def real_localizers(methods: Sequence[str] | None = None) -> dict[str, RealLocalizer]:
    """Build the baselines (defaults, trackpy, centroid, radial) and any ``-m`` names.

    Parameters
    ----------
    methods
        More localizers: ``mle``, or ``cnn:<model>[:int8][:fast][:adaptive][:t<k>]`` as
        ``livetrack bench accuracy -m`` takes them (parsed by its own code).

    Returns
    -------
    dict
        Name to builder, in table order.

    Raises
    ------
    InputError
        A name the accuracy bench does not know.
    """
    builders: dict[str, RealLocalizer] = {"defaults": _defaults, "trackpy": _trackpy}
    for name in (*BASELINES[2:], *(methods or ())):
        if name in builders:
            continue
        kind = parse_localizer(name).kind  # an unknown name fails here, before any run
        builders[name] = _classical(name) if kind in CLASSICAL else _cnn(name)
    return builders


@dataclass(frozen=True)
class RealRow:
    """One (video, localizer) result of the ``real`` suite."""

    source: str
    kind: str
    localizer: str
    n_frames: int
    shape: tuple[int, int]
    score: RealScore
    ms_per_frame: float
    note: str = ""


def run_real(
    sources: Sequence[Source],
    localizers: dict[str, RealLocalizer],
    gate_px: float = DEFAULT_GATE_PX,
    progress: Callable[[str], None] | None = None,
) -> list[RealRow]:
    """Run every localizer on every source and score it.

    Each localizer first runs once on the first frame, untimed (model loading, JIT
    compilation), then on the whole stack, timed. A localizer that raises is recorded with
    its error in ``note`` and NaN scores, and the suite goes on.

    Parameters
    ----------
    sources
        From :func:`real_sources` and :func:`lookalike_sources`.
    localizers
        From :func:`real_localizers`.
    gate_px
        Matching gate in px.
    progress
        Called with a short message before each run.

    Returns
    -------
    list of RealRow
    """
    evaluate.match(np.zeros((0, 2)), np.zeros((0, 2)), gate_px)  # a bad gate fails now
    rows = []
    for source in sources:
        margin = source.params.border_margin_px if source.params else gate_px
        for name, build in localizers.items():
            if progress is not None:
                progress(f"{source.name} · {name}")
            note, seconds = "", math.nan
            found = pd.DataFrame({"frame": [], "x": [], "y": []})
            try:
                locate = build(source)
                if locate is None:
                    note = "no parameters"
                else:
                    locate(source.frames[:1])
                    start = time.perf_counter()
                    found = locate(source.frames)
                    seconds = time.perf_counter() - start
            except Exception as exc:  # one broken localizer must not hide the others
                note = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
            if note:
                nan = math.nan
                ref_pf = (
                    nan if source.reference is None else len(source.reference) / source.n_frames
                )
                score = RealScore(nan, nan, nan, nan, ref_pf, margin)
            else:
                score = score_real(
                    source.reference,
                    found,
                    shape=source.shape,
                    n_frames=source.n_frames,
                    gate_px=gate_px,
                    border_margin_px=margin,
                    truth=source.truth,
                )
            rows.append(
                RealRow(
                    source=source.name,
                    kind=source.kind,
                    localizer=name,
                    n_frames=source.n_frames,
                    shape=source.shape,
                    score=score,
                    ms_per_frame=1e3 * seconds / source.n_frames,
                    note=note,
                )
            )
    return rows


def real_frame(rows: Sequence[RealRow]) -> pd.DataFrame:
    """One row per (video, localizer) with every number, for ``real.csv``."""
    return pd.DataFrame.from_records(
        [
            {
                "source": r.source,
                "kind": r.kind,
                "localizer": r.localizer,
                "frames": r.n_frames,
                "height": r.shape[0],
                "width": r.shape[1],
                "recall": r.score.recall,
                "false_per_frame": r.score.false_per_frame,
                "median_distance_px": r.score.median_distance_px,
                "found_per_frame": r.score.found_per_frame,
                "reference_per_frame": r.score.reference_per_frame,
                "border_margin_px": r.score.border_margin_px,
                "jaccard": r.score.jaccard,
                "rmse_px": r.score.rmse_px,
                "ms_per_frame": r.ms_per_frame,
                "note": r.note,
            }
            for r in rows
        ]
    )


def _fmt(value: float, digits: int) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def cpu_name() -> str:
    """Return the processor's model name (``lscpu``'s), for the timing footnote."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def real_markdown(rows: Sequence[RealRow], gate_px: float = DEFAULT_GATE_PX) -> str:
    """Render the suite as one markdown table: a row per (video, metric), a column per localizer.

    Below the table: the user parameters and border margin of each video, the machine that
    timed it, and the error of any localizer that failed.
    """
    names = list(dict.fromkeys(r.localizer for r in rows))
    by_source: dict[str, dict[str, RealRow]] = {}
    for r in rows:
        by_source.setdefault(r.source, {})[r.localizer] = r
    header = ["video", "metric", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for source, cells in by_source.items():
        first = next(iter(cells.values()))
        ref_pf = first.score.reference_per_frame
        has_ref = math.isfinite(ref_pf)
        simulated = first.kind == "simulated"
        h, w = first.shape
        label = f"{source}{', simulated' if simulated else ''} ({first.n_frames} frames, {h}×{w})"
        trackpy_ms = cells["trackpy"].ms_per_frame if "trackpy" in cells else math.nan
        metrics: list[tuple[str, Callable[[RealRow], str]]] = []
        if has_ref:
            metrics += [
                (f"recall ({gate_px:g} px)", lambda r: _fmt(r.score.recall, 3)),
                (
                    f"false / frame (> {first.score.border_margin_px:g} px from border)",
                    lambda r: _fmt(r.score.false_per_frame, 2),
                ),
                ("median distance, px", lambda r: _fmt(r.score.median_distance_px, 2)),
            ]
        if simulated:
            metrics += [
                ("Jaccard", lambda r: _fmt(r.score.jaccard, 3)),
                ("RMSE, px", lambda r: _fmt(r.score.rmse_px, 3)),
            ]
        found_label = f"found / frame (reference {_fmt(ref_pf, 1)})" if has_ref else "found / frame"
        metrics += [
            (found_label, lambda r: _fmt(r.score.found_per_frame, 1)),
            (
                "ms / frame (trackpy's ms / this)",
                functools.partial(_ms_cell, trackpy_ms=trackpy_ms),
            ),
        ]
        for i, (metric, cell) in enumerate(metrics):
            row = [label if i == 0 else "", metric]
            row += [_cell(cells.get(n), cell) for n in names]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += _footnotes(rows, by_source)
    return "\n".join(lines) + "\n"


def _cell(row: RealRow | None, cell: Callable[[RealRow], str]) -> str:
    if row is None:
        return "–"
    if row.note:
        return "failed" if row.note.startswith("failed") else "n/a"
    return cell(row)


def _ms_cell(row: RealRow, trackpy_ms: float) -> str:
    text = _fmt(row.ms_per_frame, 1)
    if row.localizer == "trackpy" or not (math.isfinite(trackpy_ms) and row.ms_per_frame > 0):
        return text
    return f"{text} ({trackpy_ms / row.ms_per_frame:.2f}×)"


def _footnotes(rows: Sequence[RealRow], by_source: dict[str, dict[str, RealRow]]) -> list[str]:
    lines = ["User parameters of trackpy and the classical localizers (border margin: the radius):"]
    for source, cells in by_source.items():
        p = USER_PARAMS.get(source)
        margin = next(iter(cells.values())).score.border_margin_px
        text = (
            f"none set, classical methods not run; border margin {margin:g} px (the gate)"
            if p is None
            else f"diameter {p.diameter_px} px, minmass {p.minmass:g}, "
            f"{'invert (dark particles)' if p.invert else 'bright particles'}; "
            f"border margin {margin:g} px"
        )
        lines.append(f"- {source}: {text}")
    lines.append("")
    lines.append(
        f"Timed on {cpu_name()} ({os.cpu_count()} logical CPUs), after one untimed frame; "
        "`defaults` is `livetrack.locate(frames)` with no options "
        f"(model {_default_model()!r} in this run). The real references "
        "were made with trackpy.locate (see their README), so trackpy's distances to them "
        "are near zero by construction; only the simulated rows measure accuracy."
    )
    failed = [r for r in rows if r.note.startswith("failed")]
    if failed:
        lines.append("")
        lines += [f"- {r.localizer} on {r.source}: {r.note}" for r in failed]
    return lines


def _default_model() -> str:
    """Return the model ``livetrack.locate`` uses when given none, as this checkout has it."""
    import inspect

    from livetrack._api import locate

    default = inspect.signature(locate).parameters["model"].default
    return str(default)
