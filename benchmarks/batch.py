"""track_many on a Dask cluster: scaling with workers, memory on a huge movie, overhead.

Run ``python benchmarks/batch.py scaling|memory|overhead [options]``; each prints its
numbers and the ratios against the baseline measured in the same run, and the machine's
load (contention from other processes spoils the ratios: run it on an idle machine).

- scaling: throughput (frames/s) of a warm ``distributed.LocalCluster`` (worker processes,
  one core each) with 1, 2, ... workers on the same movies; efficiency = throughput(n) /
  (n x throughput(1)); the target is >= 0.8 up to the core count.
- memory: one movie ``--factor`` (4) times the worker's memory limit, tracked by workers
  with that limit (Dask's nanny kills a worker above 95 % of it); the workers' resident
  memory is sampled every 50 ms and its peak compared with the limit.
- overhead: one small movie through a warm one-worker cluster against ``livetrack.track``
  in this process, both on one core, alternating, medians; the target is <= 1.10.
  ``--dask-defaults`` starts the cluster with Dask's own worker settings instead of
  livetrack's (MALLOC_TRIM_THRESHOLD_=65536, the profiler, 20 ms ticks): the cost of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import tifffile

from livetrack.bench import cpu_name


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def write_movie(path: Path, n_frames: int, shape: tuple[int, int], seed: int) -> None:
    """A movie of Gaussian spots in Poisson noise, written frame by frame (bounded memory)."""
    from livetrack import simulate

    base = simulate.simulate_movie(
        n_frames=min(n_frames, 16), shape=shape, n_particles=30, snr=6, seed=seed
    ).frames
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for i in range(n_frames):
            tif.write(base[i % len(base)], contiguous=True, photometric="minisblack")


def timed_run(paths: list[Path], out: Path, client, **options) -> float:
    import shutil

    from livetrack.batch import track_many

    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    report = track_many(paths, out, client=client, progress=False, **options)
    elapsed = time.perf_counter() - began
    assert report.ok, report.failed
    return elapsed


def scaling(args: argparse.Namespace, tmp: Path) -> None:
    from livetrack.batch import local_client

    paths = []
    for i in range(args.movies):
        paths.append(tmp / f"movie{i}.tif")
        write_movie(paths[-1], args.frames, (args.size, args.size), seed=i)
    total = args.movies * args.frames
    options = {"model": args.model, "chunk_frames": args.chunk_frames}
    print(
        f"scaling: {args.movies} movies x {args.frames} frames of {args.size}x{args.size}, "
        f"model {args.model}, chunks of {args.chunk_frames}; {cpu_name()}; {load()}"
    )
    rates = {}
    for n in args.workers:
        client = local_client(n_workers=n)
        try:
            timed_run(paths[:1], tmp / "warm", client, **options)  # models loaded on workers
            times = [timed_run(paths, tmp / "out", client, **options) for _ in range(args.repeats)]
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
        rates[n] = total / statistics.median(times)
        eff = rates[n] / (n * rates[args.workers[0]] / args.workers[0])
        print(
            f"  {n} worker(s): {rates[n]:7.1f} frames/s (median of {args.repeats}), "
            f"efficiency vs linear {eff:.2f}  [{load()}]"
        )


def memory(args: argparse.Namespace, tmp: Path) -> None:
    import psutil

    from livetrack.batch import local_client

    limit = int(args.limit_mb * 2**20)
    frame_bytes = args.size * args.size * 2
    n_frames = int(np.ceil(args.factor * limit / frame_bytes))
    path = tmp / "huge.tif"
    write_movie(path, n_frames, (args.size, args.size), seed=1)
    size = path.stat().st_size
    print(
        f"memory: movie {size / 2**20:.0f} MiB ({n_frames} frames {args.size}x{args.size} "
        f"uint16) = {size / limit:.1f} x the worker limit {args.limit_mb} MiB; "
        f"{args.workers[0]} worker(s), chunks of {args.chunk_frames}; {cpu_name()}; {load()}"
    )
    client = local_client(n_workers=args.workers[0], memory_limit=limit)
    peak: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in client.run(os.getpid).values():
                try:
                    rss = psutil.Process(pid).memory_info().rss
                except psutil.Error:
                    continue
                peak[pid] = max(peak.get(pid, 0), rss)
            time.sleep(0.05)

    try:
        pids_before = set(client.run(os.getpid).values())
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        elapsed = timed_run(
            [path],
            tmp / "out",
            client,
            model=args.model,
            chunk_frames=args.chunk_frames,
            refine=False,
        )
        stop.set()
        sampler.join()
        restarted = set(client.run(os.getpid).values()) != pids_before
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    top = max(peak.values())
    print(
        f"  tracked in {elapsed:.1f} s ({n_frames / elapsed:.1f} frames/s); peak worker RSS "
        f"{top / 2**20:.0f} MiB = {top / limit:.2f} x the limit; movie / peak RSS "
        f"{size / top:.1f}; workers restarted: {restarted}  [{load()}]"
    )


def overhead(args: argparse.Namespace, tmp: Path) -> None:
    import livetrack
    from livetrack._stack import read_stack
    from livetrack.batch import local_client

    path = tmp / "small.tif"
    write_movie(path, args.frames, (args.size, args.size), seed=3)
    settings = "livetrack's worker settings"
    if args.dask_defaults:
        from livetrack.batch import _cluster

        _cluster._WORKER_CONFIG = {}
        settings = "Dask's default worker settings"
    print(
        f"overhead: one movie of {args.frames} frames {args.size}x{args.size}, model "
        f"{args.model}, driver, scheduler, nanny and worker all on core "
        f"{sorted(os.sched_getaffinity(0))}, {settings}; {cpu_name()}; {load()}"
    )

    def in_process() -> float:
        began = time.perf_counter()
        table = livetrack.track(read_stack(path), args.model)
        table.to_csv(tmp / "inproc.csv", index=False)
        return time.perf_counter() - began

    started = time.perf_counter()
    client = local_client(n_workers=1)
    startup = time.perf_counter() - started
    try:
        options = {"model": args.model, "chunk_frames": args.chunk_frames}
        first = timed_run([path], tmp / "cold", client, **options)
        in_process()  # the model loaded here too
        local, cluster_times = [], []
        for _ in range(args.repeats):
            local.append(in_process())
            cluster_times.append(timed_run([path], tmp / "out", client, **options))
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    a, b = statistics.median(local), statistics.median(cluster_times)
    entry = json.loads((tmp / "out" / "manifest.json").read_text())["movies"]["small"]
    task = entry["seconds"]["locate_tasks"]
    print(
        f"  in-process {a:.3f} s, through the cluster {b:.3f} s (medians of {args.repeats}): "
        f"ratio {b / a:.3f} (of the fastest runs {min(cluster_times) / min(local):.3f}); "
        f"in the last cluster run the worker's read + locate took "
        f"{task:.3f} s of {cluster_times[-1]:.3f} s; the first run on the cluster (model "
        f"loading) {first:.2f} s, cluster start {startup:.2f} s  [{load()}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["scaling", "memory", "overhead"])
    parser.add_argument("--model", default="spots")
    parser.add_argument("--workers", type=int, nargs="+", default=None)
    parser.add_argument("--movies", type=int, default=4)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument(
        "--chunk-frames", type=int, default=None, help="default: 32; overhead: track_many's"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit-mb", type=float, default=400)
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument(
        "--dask-defaults",
        action="store_true",
        help="overhead: Dask's default worker settings instead of livetrack's",
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    if args.suite == "overhead":
        # Both sides on one core: the cluster's one worker inherits it.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.chunk_frames is None:
        from livetrack.batch import DEFAULT_CHUNK_FRAMES

        args.chunk_frames = DEFAULT_CHUNK_FRAMES if args.suite == "overhead" else 32
    if args.workers is None:
        args.workers = list(range(1, cores + 1)) if args.suite == "scaling" else [1]
    with tempfile.TemporaryDirectory(prefix="livetrack-bench-") as folder:
        {"scaling": scaling, "memory": memory, "overhead": overhead}[args.suite](args, Path(folder))


if __name__ == "__main__":
    main()
