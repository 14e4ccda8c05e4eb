"""Render speed of livetrack.simulate, in ms per 512 x 512 frame on one core.

Run with ``python benchmarks/simulate_speed.py``. The target is a frame with 500 Gaussian
particles, Poisson noise included, well under 20 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

# One core, as in the requirement; must be set before numpy loads its BLAS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from livetrack.simulate import (  # noqa: E402
    AiryPSF,
    Camera,
    Dynamics,
    GaussianPSF,
    Illumination,
    RingPSF,
    render_frame,
    simulate_movie,
)

SHAPE = (512, 512)


def time_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm caches and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--particles", type=int, default=500)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.particles
    x, y = rng.uniform(-2, 514, n), rng.uniform(-2, 514, n)
    amp = rng.uniform(200, 2000, n)
    field = Illumination(ratio=3.0, structured_background=0.3).start(SHAPE, rng).multiplier(0)

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("gaussian s=1 render only", lambda: GaussianPSF(1.0).render(SHAPE, x, y, amp), 1),
        (
            "gaussian s=1 + Poisson (flat bg 10)",
            lambda: render_frame(SHAPE, x, y, amp, GaussianPSF(1.0), 10.0, None, Camera(), rng),
            1,
        ),
        (
            "gaussian s=1 + Poisson + read noise",
            lambda: render_frame(
                SHAPE, x, y, amp, GaussianPSF(1.0), 10.0, None, Camera(read_noise_e=1.5), rng
            ),
            1,
        ),
        (
            "gaussian s=2 + Poisson (flat bg 10)",
            lambda: render_frame(SHAPE, x, y, amp, GaussianPSF(2.0), 10.0, None, Camera(), rng),
            1,
        ),
        (
            "gaussian s=1 + Poisson, ratio-3 illumination",
            lambda: render_frame(SHAPE, x, y, amp, GaussianPSF(1.0), 10.0, field, Camera(), rng),
            1,
        ),
        (
            "gaussian s=1 + EMCCD (gain 300)",
            lambda: render_frame(
                SHAPE, x, y, amp, GaussianPSF(1.0), 10.0, None, Camera(em_gain=300.0), rng
            ),
            1,
        ),
        ("airy r=2 render only", lambda: AiryPSF(2.0).render(SHAPE, x, y, amp), 1),
        ("ring r=4 render only", lambda: RingPSF(4.0, -1.0).render(SHAPE, x, y, amp), 1),
        (
            "simulate_movie 10 frames, D=1, blinking",
            lambda: simulate_movie(
                n_frames=10,
                shape=SHAPE,
                n_particles=n,
                dynamics=Dynamics(diffusion_px2=1.0, blink_off_prob=0.05),
                seed=1,
            ),
            10,
        ),
    ]
    print(f"{n} particles, {SHAPE[0]}x{SHAPE[1]} frame, one thread; ms/frame (median, best)")
    for name, fn, frames in cases:
        median, best = time_ms(fn, max(3, args.repeats // frames))
        print(f"  {name:<46s} {median / frames:8.2f} {best / frames:8.2f}")


if __name__ == "__main__":
    main()
