"""Speed of CNN localization per backend and frame size: host frame -> positions, and memory.

Used by ``livetrack bench speed``. Timing is wall time from a host uint16 frame to its
positions table, after warm-up (which holds a GPU backend's one-time work: a TensorRT
engine's build or load, CUDA graph capture). Latency mode (batch 1) times
:meth:`CNNLocalizer.locate` frame by frame; throughput mode times
:meth:`CNNLocalizer.locate_stack` on batches and divides by the batch. The frames are a few
distinct simulated ones, cycled, so a 2048 x 2048 run needs no gigabyte of frames. Peak
memory is the resident set size of a fresh process that loaded the model and ran every
frame, measured in a subprocess so backends do not share it.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import asdict, dataclass, field

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
        Per-frame wall time (in throughput mode: each batch's time over its frames).
    normalize_ms, infer_ms, decode_ms : float
        Median per-stage times (NaN for non-CNN methods).
    peak_rss_mb : float
        Peak resident memory of the measuring process (NaN when not measured).
    n_frames : int
        Frames timed.
    mean_detections : float
        Mean detections per frame (a sanity check that the work was done).
    p99_ms : float
        99th percentile of the per-frame wall time.
    shape : tuple of int
        Frame shape ``(H, W)``.
    batch : int
        Frames per call: 1 is latency mode, more is throughput mode.
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
    p99_ms: float = float("nan")
    shape: tuple[int, int] = field(default=(512, 512))
    batch: int = 1

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


def _cycle(frames: np.ndarray, start: int, count: int) -> np.ndarray:
    """Return ``count`` frames from ``start`` on, cycling through ``frames``."""
    return frames[np.arange(start, start + count) % len(frames)]


def time_cnn(
    frames: np.ndarray,
    model: str = "spots",
    backend: str = "onnxruntime",
    refine: bool | None = None,
    warmup: int = 3,
    batch: int = 1,
    n_timed: int | None = None,
) -> SpeedResult:
    """Time :class:`CNNLocalizer` from host frames to positions, with a per-stage breakdown.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` frames, cycled through.
    model, backend : str
        The CNN and its backend.
    refine : bool, optional
        The refinement (None: the model's default).
    warmup : int
        Untimed calls first (a GPU backend's engine build or graph capture happens there).
    batch : int
        Frames per call: 1 times ``locate`` (latency), more times ``locate_stack``
        (throughput).
    n_timed : int, optional
        Frames timed (default: ``len(frames)``).

    Notes
    -----
    ``decode_ms`` covers peak finding and decoding only; the refinement fit (if on) is in
    ``median_ms`` but not in the stage columns. The stage columns are NaN in throughput mode
    and where the whole path runs on a GPU (its stages overlap on the device).
    """
    from livetrack.infer import CNNLocalizer, InputNormalizer
    from livetrack.model import decode_maps, soft_clip

    batch = max(1, int(batch))
    n_timed = len(frames) if n_timed is None else int(n_timed)
    loc = CNNLocalizer(model=model, backend=backend, refine=refine, batch_size=batch)
    normalizer = InputNormalizer(loc.spec)
    for i in range(warmup):
        if batch == 1:
            loc.locate(frames[i % len(frames)])
        else:
            loc.locate_stack(_cycle(frames, i * batch, batch))
    total: list[float] = []
    norm: list[float] = []
    infer: list[float] = []
    dec: list[float] = []
    counts: list[float] = []
    h, w = frames.shape[1:]
    staged = batch == 1 and not loc.on_device
    for i in range(0, n_timed, batch):
        if batch == 1:
            f = frames[i % len(frames)]
            t0 = time.perf_counter()
            df = loc.locate(f, frame=i)
            total.append(time.perf_counter() - t0)
            counts.append(len(df))
        else:
            part = _cycle(frames, i, batch)
            t0 = time.perf_counter()
            df = loc.locate_stack(part, first_frame=i)
            total.append((time.perf_counter() - t0) / batch)
            counts.append(len(df) / batch)
        if not staged:
            continue
        # Stage breakdown on the same frame (separate pass, so totals stay unperturbed).
        t0 = time.perf_counter()
        norm_batch, _ = normalizer.normalize(f[None], loc.camera, loc.noise_scale_px)
        net_in = soft_clip(norm_batch, loc.spec.net.input_softclip)
        t1 = time.perf_counter()
        maps = loc.backend.run(net_in)
        t2 = time.perf_counter()
        decode_maps(maps[0], loc.threshold, loc.spec.stride, (h, w), i, norm_batch[0, 0, :h, :w])
        t3 = time.perf_counter()
        norm.append(t1 - t0)
        infer.append(t2 - t1)
        dec.append(t3 - t2)
    ms = np.asarray(total) * 1e3
    nan = float("nan")

    def stage(times: list[float]) -> float:
        return float(np.median(times) * 1e3) if times else nan

    return SpeedResult(
        method=f"cnn:{loc.spec.name}/{loc.backend.name}" + ("" if loc.refine else " (fast)"),
        median_ms=float(np.median(ms)),
        p90_ms=float(np.percentile(ms, 90)),
        normalize_ms=stage(norm),
        infer_ms=stage(infer),
        decode_ms=stage(dec),
        peak_rss_mb=_peak_rss_mb(),
        n_frames=len(total) * batch,
        mean_detections=float(np.mean(counts)),
        p99_ms=float(np.percentile(ms, 99)),
        shape=(int(h), int(w)),
        batch=batch,
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
        p99_ms=float(np.percentile(ms, 99)),
        shape=(int(frames.shape[1]), int(frames.shape[2])),
    )


#: Distinct simulated frames per frame size; timing cycles through them.
DISTINCT_FRAMES = 8


def _frames_of(source: tuple | np.ndarray) -> np.ndarray:
    """Frames from a job: an array as it is, or ``("simulate", shape, n)`` simulated here."""
    if isinstance(source, np.ndarray):
        return source
    _, shape, n = source
    return benchmark_frames(tuple(shape), n)


def _time_job(kind: str, args: tuple) -> SpeedResult:
    frames = _frames_of(args[0])
    if kind == "trackpy":
        return time_trackpy(frames, *args[1:])
    return time_cnn(frames, *args[1:])


def _worker(kind: str, args: tuple, queue: multiprocessing.Queue) -> None:
    try:
        queue.put(("ok", _time_job(kind, args)))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        queue.put(("error", f"{type(exc).__name__}: {first}"))


def measure_speed(
    model: str | tuple[str, ...] = "spots",
    backends: tuple[str, ...] = ("onnxruntime", "torch"),
    shape: tuple[int, int] = (512, 512),
    n_frames: int = 20,
    include_trackpy: bool = True,
    isolate: bool = True,
    refine_modes: tuple[bool | None, ...] = (None, False),
    rounds: int = 1,
    shapes: tuple[tuple[int, int], ...] | None = None,
    batches: tuple[int, ...] = (1,),
) -> list[SpeedResult]:
    """Measure ms/frame (host frame -> positions) per backend and size, and trackpy.

    Parameters
    ----------
    model : str or tuple of str
        CNN model name(s) or folder(s).
    backends : tuple of str
        Backends to time; one that fails to start is skipped with a line saying why.
    shape : tuple of int
        Frame shape (where ``shapes`` is not given).
    n_frames : int
        Frames timed per method (cycling through at most :data:`DISTINCT_FRAMES`).
    include_trackpy : bool
        Also time ``trackpy.locate`` (needs trackpy installed; batch 1 only).
    isolate : bool
        Run each method in a fresh subprocess so peak memory is per method.
    refine_modes : tuple
        CNN refinement settings to time: None = the model's default (accurate), False =
        fast mode (network positions only; on a GPU backend, all on the GPU).
    rounds : int
        Time every method this many times, round-robin: a slow spell of a shared machine
        then falls on all methods alike. Each method's numbers are the medians over its
        rounds (peak memory: the largest).
    shapes : tuple of tuple of int, optional
        Frame shapes to time, e.g. ``((512, 512), (1024, 1024), (2048, 2048))``.
    batches : tuple of int
        Frames per call: 1 is latency mode, larger throughput mode.

    Returns
    -------
    list of SpeedResult
        One per method, size and batch, in order.
    """
    shapes = shapes or (shape,)
    models = (model,) if isinstance(model, str) else tuple(model)
    jobs: list[tuple[str, tuple]] = []
    for shp in shapes:
        n_distinct = max(1, min(n_frames, DISTINCT_FRAMES))
        source: tuple | np.ndarray = ("simulate", tuple(shp), n_distinct)
        if not isolate:
            source = _frames_of(source)
        jobs += [
            ("cnn", (source, m, b, r, 3, bt, n_frames))
            for bt in batches
            for m in models
            for b in backends
            for r in refine_modes
        ]
        if include_trackpy:
            jobs.append(("trackpy", (source,)))
    per_job: list[list[SpeedResult]] = [[] for _ in jobs]
    for _ in range(max(1, int(rounds))):
        for i, (kind, args) in enumerate(jobs):
            result = _run_job(kind, args, isolate)
            if result is not None:
                per_job[i].append(result)
    return [_combine(r) for r in per_job if r]


def _run_job(kind: str, args: tuple, isolate: bool) -> SpeedResult | None:
    if not isolate:
        return _time_job(kind, args)
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
        p99_ms=med("p99_ms"),
        shape=results[0].shape,
        batch=results[0].batch,
    )


def _reference(r: SpeedResult, results: list[SpeedResult]) -> SpeedResult | None:
    """Return a CNN row's CPU reference: fp32 ONNX Runtime, same model, mode, size, batch."""
    if not r.method.startswith("cnn:"):
        return None
    model, _, rest = r.method.partition("/")
    suffix = rest[len(rest.split(" ")[0]) :]
    name = f"{model}/onnxruntime{suffix}"
    return next(
        (q for q in results if q.method == name and q.shape == r.shape and q.batch == r.batch),
        None,
    )


def speed_markdown(results: list[SpeedResult]) -> str:
    """Render speed results as a markdown table with each method's ratio to trackpy.

    The ratio is trackpy's median time over the method's (above 1: faster than trackpy),
    both measured in the same run on the same frames (of the same size); "vs CPU" is the
    same ratio over fp32 ONNX Runtime, the CPU reference, in the same mode.
    """
    lines = [
        "| method | median ms | p90 ms | normalize ms | infer ms | decode ms "
        "| speed-up vs trackpy | peak RSS MB | detections/frame | p99 ms | frame | batch "
        "| frames/s | vs CPU |",
        "|" + "---|" * 14,
    ]

    def f(v: float) -> str:
        return "–" if v != v else f"{v:.1f}"

    def ms(v: float) -> str:
        return "–" if v != v else (f"{v:.2f}" if v < 10 else f"{v:.1f}")

    for r in results:
        base = next(
            (q.median_ms for q in results if q.method.startswith("trackpy") and q.shape == r.shape),
            None,
        )
        ratio = f"{base / r.median_ms:.2f}×" if base else "–"
        ref = _reference(r, results)
        vs_cpu = f"{ref.median_ms / r.median_ms:.2f}×" if ref is not None else "–"
        lines.append(
            f"| {r.method} | {ms(r.median_ms)} | {ms(r.p90_ms)} | {f(r.normalize_ms)} "
            f"| {f(r.infer_ms)} | {f(r.decode_ms)} | {ratio} | {f(r.peak_rss_mb)} "
            f"| {r.mean_detections:.0f} | {ms(r.p99_ms)} | {r.shape[1]}×{r.shape[0]} "
            f"| {r.batch} | {1e3 / r.median_ms:.0f} | {vs_cpu} |"
        )
    return "\n".join(lines) + "\n"
