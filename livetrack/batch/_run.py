"""``track_many``: many and long movies tracked on a Dask cluster.

The driver (this process) opens the movies' metadata, plans their chunks, submits one task
per chunk to the cluster (:func:`~livetrack.batch._locate.locate_chunk`), and, as a
movie's last chunk comes back, links its positions once and writes ``OUT/<movie>.csv``
(or ``.parquet``) and the manifest. Workers read their own frames from the files, so only
positions travel. A worker that dies mid-run loses nothing: the scheduler runs its tasks
again elsewhere (a nanny restarts it).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from livetrack._errors import InputError, LivetrackError
from livetrack._extras import MissingExtraError, require
from livetrack.batch._chunks import BATCH_FRAMES, Chunk, overlap_frames, plan_chunks
from livetrack.batch._cluster import (
    GPU_BACKENDS,
    GpuSpec,
    choose_gpus,
    local_client,
    visible_gpus,
)
from livetrack.batch._locate import LocateSpec, auto_plan, locate_chunk
from livetrack.batch._manifest import Manifest, write_atomic
from livetrack.batch._read import (
    Movie,
    content_hash,
    find_movies,
    fingerprint,
    open_movies,
)

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_CHUNK_FRAMES",
    "FORMATS",
    "BatchReport",
    "track_many",
]

#: Core frames per chunk by default: long enough that the overlap (8 frames each side)
#: costs ~6 % more localization ...
DEFAULT_CHUNK_FRAMES = 256
#: ... but fewer for large frames: a chunk's frames as float32 (the localizer's working
#: copy; the network's maps are a few times that) stay within this many bytes.
CHUNK_BYTES = 256 * 2**20
#: Output formats: file suffix by name.
FORMATS = {"csv": ".csv", "parquet": ".parquet"}


@dataclass
class BatchReport:
    """What :func:`track_many` did.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    done : list of str
        Movies tracked in this run.
    skipped : list of str
        Movies a previous run completed with the same options and input.
    failed : dict of str to str
        Movies (or input files) that failed, with the one-line reason.
    frames : int
        Frames localized in this run.
    seconds : float
        Wall time of the run (cluster start-up included when it started one).
    """

    out: Path
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every movie was tracked (or was already)."""
        return not self.failed

    def line(self) -> str:
        """One line: counts, frames and rate."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{len(self.done)} movies tracked, {len(self.skipped)} already done, "
            f"{len(self.failed)} failed; {self.frames} frames in {self.seconds:.1f} s "
            f"({rate:.1f} frames/s) -> {self.out}"
        )


@dataclass
class _MovieRun:
    movie: Movie
    chunks: list[Chunk]
    tables: dict[int, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    choice: str | None = None
    plan: Any = None
    sha256: str | None = None
    failed: bool = False


def track_many(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    client: Any = None,
    model: str = "auto",
    method: str | None = None,
    backend: str = "auto",
    search_range_px: float = 5.0,
    memory: int = 3,
    channel: str | int | None = None,
    position: str | int | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    format: str = "csv",
    n_workers: int | None = None,
    worker_memory: str | int | None = None,
    gpus: GpuSpec = "auto",
    progress: bool | None = None,
    on_chunk: Callable[[str, int], None] | None = None,
    **options: Any,
) -> BatchReport:
    """Track many movies, and long ones in time chunks, on a Dask cluster.

    Writes ``OUT/<movie>.csv`` (or ``.parquet``) per movie, as ``livetrack.track`` would
    return it for the whole movie, and ``OUT/manifest.json``.

    Parameters
    ----------
    paths
        Movies, folders of movies and glob patterns: TIFF / OME-TIFF files, OME-Zarr stores
        (as pymmcore-plus writes them), NDTiff datasets (as pycromanager writes them).
    out
        Output folder (created).
    client : distributed.Client, optional
        The cluster to run on (``Client("tcp://scheduler:8786")``, a dask-jobqueue
        cluster's client, ...); None starts a local cluster (:func:`local_client`) for the
        run and closes it after.
    model, method, backend, **options
        The localizer, as for :func:`livetrack.locate`.
    search_range_px, memory
        Linking, as for :func:`livetrack.track`; ``search_range_px=0`` writes positions
        without linking.
    channel, position
        The channel to track (name or index; needed where a file has several) and the
        position (name or index; None: every position, each as a movie of its own).
    chunk_frames
        Core frames per time chunk (fewer for frames so large that a chunk would exceed
        :data:`CHUNK_BYTES` as float32); 0: each movie in one piece.
    format : {"csv", "parquet"}
        Output format.
    n_workers, worker_memory, gpus
        For the local cluster started when ``client`` is None (:func:`local_client`):
        ``gpus="auto"`` starts one worker per NVIDIA GPU, each with the model on its own
        GPU, where there are GPUs and the CNN runs on a GPU backend (``backend`` "auto",
        "tensorrt", "cuda" or "torch"); CPU workers otherwise. An explicit count or list
        of GPUs with a classical ``method`` or a CPU backend is an error.
    progress : bool, optional
        Show a progress bar (movies and frames done, rate, ETA) on stderr; None: when
        stderr is a terminal.
    on_chunk : callable, optional
        Called as ``on_chunk(movie_name, frames)`` in the driver as each chunk comes back.

    Returns
    -------
    BatchReport
        What was tracked, skipped and failed. A file that cannot be read fails alone
        (its reason in ``failed``); the others are tracked.

    Raises
    ------
    InputError
        A path that does not exist, a folder or glob without movies, a bad option.
    """
    began = time.perf_counter()
    if format not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if chunk_frames < 0:
        raise InputError(f"chunk_frames must be >= 0, got {chunk_frames}")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output {out_dir} is a file; several movies need an output folder")
    if format == "parquet":
        require("pyarrow", "Parquet output (--format parquet)", "dask")
    spec = LocateSpec(model=model, method=method, backend=backend, options=dict(options))
    _check_spec(spec)
    gpus = _gpus_for(spec, gpus)
    if client is None and gpus is not None:
        choose_gpus(gpus, *visible_gpus())  # GPUs asked for that are not there: before any file
    report = BatchReport(out=out_dir)
    record = {
        "model": model if method is None else None,
        "method": method,
        "backend": backend,
        "options": {k: v for k, v in sorted(options.items())},
        "search_range_px": search_range_px,
        "memory": memory,
        "channel": channel,
        "position": position,
        "format": format,
        "chunk_frames": chunk_frames,
    }
    manifest = Manifest(out_dir, record)
    runs: list[_MovieRun] = []
    names: set[str] = set()
    for path in find_movies(paths):
        try:
            movies = open_movies(path, channel=channel, position=position)
        except MissingExtraError:
            raise  # no file of that format can be read: the install is what to fix
        except LivetrackError as exc:
            _fail(report, manifest, path.name, str(exc))
            continue
        stamp = fingerprint(path)
        for movie in movies:
            movie = _unique(movie, names)
            if manifest.is_done(movie.name, stamp):
                report.skipped.append(movie.name)
                continue
            chunks = plan_chunks(
                movie.n_frames,
                _chunk_size(movie, chunk_frames),
                overlap_frames(spec.temporal_window),
            )
            runs.append(_MovieRun(movie, chunks))
    if runs:
        own = client is None
        if own:
            client = local_client(n_workers, worker_memory, gpus)
        try:
            _run(
                client,
                runs,
                spec,
                out_dir,
                format,
                search_range_px,
                memory,
                manifest,
                report,
                progress,
                on_chunk,
            )
        finally:
            if own:
                cluster = client.cluster
                client.close()
                cluster.close()
    manifest.save()
    report.seconds = time.perf_counter() - began
    return report


def _chunk_size(movie: Movie, chunk_frames: int) -> int:
    """Core frames per chunk: ``chunk_frames``, fewer where the frames are large (0: whole)."""
    if chunk_frames == 0:
        return 0
    fitting = CHUNK_BYTES // (4 * movie.shape[0] * movie.shape[1])
    return max(BATCH_FRAMES, min(chunk_frames, fitting))


def _check_spec(spec: LocateSpec) -> None:
    from livetrack.registry import CLASSICAL

    if spec.method is not None and spec.method not in CLASSICAL:
        raise InputError(f"unknown method {spec.method!r}; choose from {', '.join(CLASSICAL)}")
    k = spec.temporal_window
    if k < 1 or k % 2 == 0:
        raise InputError(f"temporal_window must be a positive odd number, got {k}")


def _gpus_for(spec: LocateSpec, gpus: GpuSpec) -> GpuSpec:
    """``gpus`` where the localizer can use a GPU; None (CPU workers) where it cannot."""
    if spec.method is None and spec.backend in GPU_BACKENDS:
        return gpus
    if gpus is None or (isinstance(gpus, str) and gpus.strip().lower() in ("auto", "none")):
        return None
    if not isinstance(gpus, bool) and isinstance(gpus, int) and gpus == 0:
        return None
    what = f"method {spec.method!r}" if spec.method is not None else f"backend {spec.backend!r}"
    raise InputError(f"--gpus asks for GPU workers, but {what} runs on the CPU")


def _unique(movie: Movie, names: set[str]) -> Movie:
    # Two inputs with the same stem (a/movie.tif, b/movie.tif) get -2, -3, ... appended.
    name, n = movie.name, 1
    while name in names:
        n += 1
        name = f"{movie.name}-{n}"
    names.add(name)
    if name == movie.name:
        return movie
    from dataclasses import replace

    return replace(movie, name=name)


def _fail(report: BatchReport, manifest: Manifest, name: str, message: str) -> None:
    report.failed[name] = message
    manifest.record_failure(name, message)
    print(f"livetrack: error: {message}", file=sys.stderr)


def _run(
    client: Any,
    runs: list[_MovieRun],
    spec: LocateSpec,
    out_dir: Path,
    format: str,
    search_range_px: float,
    memory: int,
    manifest: Manifest,
    report: BatchReport,
    progress: bool | None,
    on_chunk: Callable[[str, int], None] | None,
) -> None:
    from distributed import as_completed
    from tqdm.auto import tqdm

    token = f"{os.getpid()}-{time.time_ns()}"
    # Future key -> what it is for: (kind, movie run, chunk index). A file's hash serves
    # every position of it, so one key may serve several runs.
    what: dict[str, list[tuple[str, _MovieRun, int]]] = {}
    futures: dict[str, Any] = {}

    def add(future: Any, kind: str, run: _MovieRun, index: int = 0) -> None:
        futures.setdefault(future.key, future)
        what.setdefault(future.key, []).append((kind, run, index))

    for run in runs:
        name = run.movie.name
        chunked = len(run.chunks) > 1
        plan = None
        if spec.is_auto and chunked:
            # Planned once; every chunk task waits for the plan and runs it.
            key = f"livetrack-auto-{name}-{token}"
            plan = client.submit(auto_plan, run.movie, spec, key=key)
            add(plan, "auto", run)
        for chunk in run.chunks:
            key = f"livetrack-locate-{name}-{chunk.index}-{token}"
            add(
                client.submit(locate_chunk, run.movie, chunk, spec, chunked, plan, key=key),
                "chunk",
                run,
                chunk.index,
            )
        key = f"livetrack-hash-{run.movie.path}-{token}"
        add(futures.get(key) or client.submit(content_hash, run.movie.path, key=key), "hash", run)
    total = sum(r.movie.n_frames for r in runs)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=total, unit="frame", disable=not show, file=sys.stderr, dynamic_ncols=True)
    done_movies = 0
    bar.set_description(f"movies 0/{len(runs)}")
    try:
        for future in as_completed(list(futures.values())):
            for kind, run, index in what[future.key]:
                if run.failed:
                    continue
                try:
                    # A result held by a worker that died is computed again: result() waits
                    # for it, where the future's status may read "lost" meanwhile.
                    result = future.result()
                except Exception as exc:  # the task's own error, or its cancellation
                    run.failed = True
                    client.cancel([futures[k] for k, uses in what.items() if uses[0][1] is run])
                    _fail(report, manifest, run.movie.name, _message(exc, run))
                    bar.update(run.movie.n_frames - sum(_core(run, i) for i in run.tables))
                    continue
                if kind == "hash":
                    run.sha256 = result
                elif kind == "auto":
                    run.plan = result
                    run.choice = result.choice.line()
                else:
                    table, seconds = result
                    run.tables[index] = table
                    run.seconds += seconds
                    frames = run.chunks[index].core_frames
                    bar.update(frames)
                    report.frames += frames
                    if on_chunk is not None:
                        on_chunk(run.movie.name, frames)
                if _complete(run, spec):
                    try:
                        _finish(run, out_dir, format, search_range_px, memory, manifest)
                    except OSError as exc:  # a full disk, a folder without write permission
                        run.failed = True
                        _fail(report, manifest, run.movie.name, f"{run.movie.name}: {exc}")
                        continue
                    report.done.append(run.movie.name)
                    done_movies += 1
                    bar.set_description(f"movies {done_movies}/{len(runs)}")
            future.release()
    finally:
        bar.close()


def _message(exc: BaseException | None, run: _MovieRun) -> str:
    """One line for a task's failure: a livetrack error as it is, anything else named."""
    if isinstance(exc, LivetrackError):
        text = str(exc)
    else:
        text = f"{run.movie.path}: {type(exc).__name__}: {exc}"
    lines = text.splitlines()
    return lines[0] if lines else text


def _core(run: _MovieRun, index: int) -> int:
    """Core frames of chunk ``index`` of ``run`` (those the progress bar counted)."""
    return run.chunks[index].core_frames


def _complete(run: _MovieRun, spec: LocateSpec) -> bool:
    needs_choice = spec.is_auto and len(run.chunks) > 1
    return (
        len(run.tables) == len(run.chunks)
        and run.sha256 is not None
        and (run.choice is not None or not needs_choice)
    )


def _finish(
    run: _MovieRun,
    out_dir: Path,
    format: str,
    search_range_px: float,
    memory: int,
    manifest: Manifest,
) -> None:
    """Link the movie's positions once, write its output and record it in the manifest."""
    from livetrack.link import link

    began = time.perf_counter()
    tables = [run.tables[i] for i in range(len(run.chunks))]
    # Empty chunks take no part, unless all are: their columns are the localizer's own.
    parts = [t for t in tables if len(t)] or tables[:1]
    positions = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if run.plan is not None:
        # The auto mode's cut between clutter and particles is the whole movie's.
        positions = run.plan.select(positions)
    table = (
        link(positions, search_range_px=search_range_px, memory=memory)
        if search_range_px > 0
        else positions
    )
    link_seconds = time.perf_counter() - began
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{run.movie.name}{FORMATS[format]}"
    if format == "csv":
        write_atomic(output, lambda tmp: table.to_csv(tmp, index=False))
    else:
        write_atomic(output, lambda tmp: table.to_parquet(tmp, index=False))
    movie = run.movie
    manifest.record(
        movie.name,
        {
            "input": movie.path,
            "format": movie.kind,
            "series": movie.series,
            "channel": movie.channel,
            "frames": movie.n_frames,
            "shape": list(movie.shape),
            "fingerprint": fingerprint(movie.path),
            "sha256": run.sha256,
            "auto_choice": run.choice,
            "chunks": len(run.chunks),
            "output": output.name,
            "output_bytes": output.stat().st_size,
            "rows": len(table),
            "trajectories": int(table["particle"].nunique()) if "particle" in table else 0,
            "seconds": {
                "locate_tasks": round(run.seconds, 3),
                "link_and_write": round(time.perf_counter() - began, 3),
                "link": round(link_seconds, 3),
                "wall": round(time.perf_counter() - run.started, 3),
            },
        },
    )
    run.tables.clear()
