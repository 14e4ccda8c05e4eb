"""Speed of CNN localization per backend: 512x512 frame -> positions, and peak memory.

Used by ``livetrack bench speed``. Timing is
wall time of :meth:`CNNLocalizer.locate` (normalization + inference + decoding) per frame
after warm-up; peak memory is the resident set size of a fresh process that loaded the
model and ran every frame, measured in a subprocess so backends do not share it.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import asdict, dataclass

import numpy as np

from livetrack._extras import require


@dataclass(frozen=True)
class SpeedResult:
    """Timing of one localizer on one set of frames.

    Attributes
    ----------
    method : str
        ``"cnn:<model>/<backend>"`` or ``"trackpy"``.
    median_ms, p90_ms : float
        Per-frame wall time.
    normalize_ms, infer_ms, decode_ms : float
        Median per-stage times (NaN for non-CNN methods).
    peak_rss_mb : float
        Peak resident memory of the measuring process (NaN when not measured).
    n_frames : int
        Frames timed.
    mean_detections : float
        Mean detections per frame (a sanity check that the work was done).
    """

    method: str
    median_ms: float
    p90_ms: float
    normalize_ms: float
    infer_ms: float
    decode_ms: float
    peak_rss_mb: float
    n_frames: int
    mean_detections: float

    def to_dict(self) -> dict:
        """Return the result as a dict (one table row)."""
        return asdict(self)


def benchmark_frames(
    shape: tuple[int, int] = (512, 512), n_frames: int = 20, n_particles: int = 100, seed: int = 0
) -> np.ndarray:
    """Simulate ISBI-like frames (sigma 1 px spots, SNR 4) for speed measurements."""
    from livetrack.simulate import Dynamics, GaussianPSF, simulate_movie

    movie = simulate_movie(
        n_frames=n_frames,
        shape=shape,
        n_particles=n_particles,
        psf=GaussianPSF(1.0),
        snr=4.0,
        dynamics=Dynamics(diffusion_px2=1.0),
        seed=seed,
    )
    return movie.frames


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_cnn(
    frames: np.ndarray,
    model: str = "spots",
    backend: str = "onnxruntime",
    refine: bool | None = None,
    warmup: int = 3,
) -> SpeedResult:
    """Time :class:`CNNLocalizer` frame by frame, with a per-stage breakdown.

    ``decode_ms`` covers peak finding and decoding only; the refinement fit (if on) is in
    ``median_ms`` but not in the stage columns.
    """
    from livetrack.infer import CNNLocalizer, InputNormalizer
    from livetrack.model import decode_maps, soft_clip

    loc = CNNLocalizer(model=model, backend=backend, refine=refine)
    normalizer = InputNormalizer(loc.spec)
    for f in frames[:warmup]:
        loc.locate(f)
    total, norm, infer, dec, counts = [], [], [], [], []
    h, w = frames.shape[1:]
    for i, f in enumerate(frames):
        t0 = time.perf_counter()
        df = loc.locate(f, frame=i)
        total.append(time.perf_counter() - t0)
        counts.append(len(df))
        # Stage breakdown on the same frame (separate pass, so totals stay unperturbed).
        t0 = time.perf_counter()
        batch, _ = normalizer.normalize(f[None], loc.camera, loc.noise_scale_px)
        net_in = soft_clip(batch, loc.spec.net.input_softclip)
        t1 = time.perf_counter()
        maps = loc.backend.run(net_in)
        t2 = time.perf_counter()
        decode_maps(maps[0], loc.threshold, loc.spec.stride, (h, w), i, batch[0, 0, :h, :w])
        t3 = time.perf_counter()
        norm.append(t1 - t0)
        infer.append(t2 - t1)
        dec.append(t3 - t2)
    ms = np.asarray(total) * 1e3
    return SpeedResult(
        method=f"cnn:{loc.spec.name}/{loc.backend.name}" + ("" if loc.refine else " (fast)"),
        median_ms=float(np.median(ms)),
        p90_ms=float(np.percentile(ms, 90)),
        normalize_ms=float(np.median(norm) * 1e3),
        infer_ms=float(np.median(infer) * 1e3),
        decode_ms=float(np.median(dec) * 1e3),
        peak_rss_mb=_peak_rss_mb(),
        n_frames=len(frames),
        mean_detections=float(np.mean(counts)),
    )


def time_trackpy(frames: np.ndarray, diameter: int = 7, warmup: int = 2) -> SpeedResult:
    """Time ``trackpy.locate`` (numba engine when available) on the same frames."""
    trackpy = require("trackpy", "the trackpy baseline of bench speed")

    trackpy.quiet()
    engine = "numba"
    try:
        trackpy.locate(frames[0], diameter, engine=engine)
    except Exception:
        engine = "python"
    for f in frames[:warmup]:
        trackpy.locate(f, diameter, engine=engine)
    total, counts = [], []
    for f in frames:
        t0 = time.perf_counter()
        df = trackpy.locate(f, diameter, engine=engine)
        total.append(time.perf_counter() - t0)
        counts.append(len(df))
    ms = np.asarray(total) * 1e3
    nan = float("nan")
    return SpeedResult(
        method=f"trackpy.locate({engine})",
        median_ms=float(np.median(ms)),
        p90_ms=float(np.percentile(ms, 90)),
        normalize_ms=nan,
        infer_ms=nan,
        decode_ms=nan,
        peak_rss_mb=_peak_rss_mb(),
        n_frames=len(frames),
        mean_detections=float(np.mean(counts)),
    )


def _worker(kind: str, args: tuple, queue: multiprocessing.Queue) -> None:
    try:
        result = time_trackpy(*args) if kind == "trackpy" else time_cnn(*args)
        queue.put(("ok", result))
    except Exception as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def measure_speed(
    model: str | tuple[str, ...] = "spots",
    backends: tuple[str, ...] = ("onnxruntime", "torch"),
    shape: tuple[int, int] = (512, 512),
    n_frames: int = 20,
    include_trackpy: bool = True,
    isolate: bool = True,
    refine_modes: tuple[bool | None, ...] = (None, False),
    rounds: int = 1,
) -> list[SpeedResult]:
    """Measure ms/frame (512x512 -> positions) per backend, and trackpy for comparison.

    Parameters
    ----------
    model : str or tuple of str
        CNN model name(s) or folder(s).
    backends : tuple of str
        Backends to time; unavailable ones are skipped.
    shape : tuple of int
        Frame shape.
    n_frames : int
        Frames timed per method.
    include_trackpy : bool
        Also time ``trackpy.locate`` (needs trackpy installed).
    isolate : bool
        Run each method in a fresh subprocess so peak memory is per method.
    refine_modes : tuple
        CNN refinement settings to time: None = the model's default (accurate), False =
        fast mode (network positions only).
    rounds : int
        Time every method this many times, round-robin: a slow spell of a shared machine
        then falls on all methods alike. Each method's numbers are the medians over its
        rounds (peak memory: the largest).

    Returns
    -------
    list of SpeedResult
        One per method, in order.
    """
    frames = benchmark_frames(shape, n_frames)
    models = (model,) if isinstance(model, str) else tuple(model)
    jobs: list[tuple[str, tuple]] = [
        ("cnn", (frames, m, b, r)) for m in models for b in backends for r in refine_modes
    ]
    if include_trackpy:
        jobs.append(("trackpy", (frames,)))
    per_job: list[list[SpeedResult]] = [[] for _ in jobs]
    for _ in range(max(1, int(rounds))):
        for i, (kind, args) in enumerate(jobs):
            result = _run_job(kind, args, isolate)
            if result is not None:
                per_job[i].append(result)
    return [_combine(r) for r in per_job if r]


def _run_job(kind: str, args: tuple, isolate: bool) -> SpeedResult | None:
    if not isolate:
        return time_trackpy(*args) if kind == "trackpy" else time_cnn(*args)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(kind, args, queue))
    proc.start()
    status, payload = queue.get()
    proc.join()
    if status == "ok":
        return payload
    print(f"skipped {kind} {args[1] + '/' + args[2] if kind == 'cnn' else ''}: {payload}")
    return None


def _combine(results: list[SpeedResult]) -> SpeedResult:
    """Merge one method's rounds: median of each timing, largest memory, all frames."""
    if len(results) == 1:
        return results[0]

    def med(attr: str) -> float:
        return float(np.median([getattr(r, attr) for r in results]))

    return SpeedResult(
        method=results[0].method,
        median_ms=med("median_ms"),
        p90_ms=med("p90_ms"),
        normalize_ms=med("normalize_ms"),
        infer_ms=med("infer_ms"),
        decode_ms=med("decode_ms"),
        peak_rss_mb=max(r.peak_rss_mb for r in results),
        n_frames=sum(r.n_frames for r in results),
        mean_detections=med("mean_detections"),
    )


def speed_markdown(results: list[SpeedResult]) -> str:
    """Render speed results as a markdown table with each method's ratio to trackpy.

    The ratio is trackpy's median time over the method's (above 1: faster than trackpy),
    both measured in the same run on the same frames.
    """
    base = next((r.median_ms for r in results if r.method.startswith("trackpy")), None)
    lines = [
        "| method | median ms | p90 ms | normalize ms | infer ms | decode ms "
        "| speed-up vs trackpy | peak RSS MB | detections/frame |",
        "|" + "---|" * 9,
    ]

    def f(v: float) -> str:
        return "–" if v != v else f"{v:.1f}"

    for r in results:
        ratio = f"{base / r.median_ms:.2f}×" if base else "–"
        lines.append(
            f"| {r.method} | {f(r.median_ms)} | {f(r.p90_ms)} | {f(r.normalize_ms)} "
            f"| {f(r.infer_ms)} | {f(r.decode_ms)} | {ratio} | {f(r.peak_rss_mb)} "
            f"| {r.mean_detections:.0f} |"
        )
    return "\n".join(lines) + "\n"
