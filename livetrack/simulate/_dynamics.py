"""Particle motion, appearance/disappearance and blinking, with persistent identities."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from livetrack._errors import InputError

#: ``spawn(n, rng) -> (x, y, amplitude)`` places ``n`` new particles.
Spawner = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ParticleState:
    """Particles present in one frame.

    Parameters
    ----------
    x, y : np.ndarray
        Positions in pixels (trackpy convention).
    particle : np.ndarray
        Integer identities; a particle keeps its id for its whole life.
    on : np.ndarray
        Boolean emission state (False while blinked off).
    velocity : np.ndarray
        Directed velocity per particle ``(N, 2)`` as ``(vx, vy)`` in px/frame.
    amplitude : np.ndarray
        Nominal amplitude per particle (before illumination).
    next_id : int
        Identity the next new particle receives.
    """

    x: np.ndarray
    y: np.ndarray
    particle: np.ndarray
    on: np.ndarray
    velocity: np.ndarray
    amplitude: np.ndarray
    next_id: int


@dataclass(frozen=True)
class Dynamics:
    """Per-frame particle dynamics.

    Each frame every particle moves by a Brownian step (``N(0, 2 D)`` per axis, so that the
    mean squared displacement is ``4 D t`` in 2-D), a common drift, and for a fraction of
    particles a directed velocity of fixed speed along a random direction. Particles that
    leave the simulated area (frame plus margin) are removed; with ``keep_density`` new
    particles, with new ids, replace them to keep the count constant: placed uniformly in
    the area (particles entering the focal volume, as in the ISBI 2012 scenarios; this keeps
    the density uniform under any drift), or with ``spawn_at_edge`` uniformly in the margin
    band outside the frame, so that particles only enter across the frame border.
    Blinking is a two-state Markov chain with per-frame switching probabilities; particles
    start in its stationary state (on with probability ``on / (on + off)``).

    Parameters
    ----------
    diffusion_px2 : float
        Diffusion coefficient in px**2/frame.
    drift_px : tuple of float
        Common drift ``(dx, dy)`` in px/frame.
    directed_speed_px : float
        Speed of directed particles in px/frame.
    directed_fraction : float
        Fraction of particles in directed motion, in [0, 1].
    blink_off_prob : float
        Probability per frame that an emitting particle switches off.
    blink_on_prob : float
        Probability per frame that a dark particle switches back on.
    keep_density : bool
        Replace particles that leave the area by new ones.
    spawn_at_edge : bool
        Place new particles in the margin band outside the frame (needs a margin > 0).
    """

    diffusion_px2: float = 0.0
    drift_px: tuple[float, float] = (0.0, 0.0)
    directed_speed_px: float = 0.0
    directed_fraction: float = 0.0
    blink_off_prob: float = 0.0
    blink_on_prob: float = 1.0
    keep_density: bool = True
    spawn_at_edge: bool = False

    def __post_init__(self) -> None:
        for name, value, high in (
            ("diffusion_px2", self.diffusion_px2, 1e6),
            ("directed_speed_px", self.directed_speed_px, 1e6),
            ("directed_fraction", self.directed_fraction, 1.0),
            ("blink_off_prob", self.blink_off_prob, 1.0),
            ("blink_on_prob", self.blink_on_prob, 1.0),
        ):
            if not isinstance(value, int | float) or not 0.0 <= value <= high:
                raise InputError(f"{name} must be a number in [0, {high}], got {value!r}")
        drift = self.drift_px
        if (
            not isinstance(drift, tuple | list)
            or len(drift) != 2
            or not all(isinstance(d, int | float) and math.isfinite(d) for d in drift)
        ):
            raise InputError(f"drift_px must be a pair of finite numbers (dx, dy), got {drift!r}")
        object.__setattr__(self, "drift_px", (float(drift[0]), float(drift[1])))

    @property
    def on_fraction(self) -> float:
        """Stationary fraction of emitting particles."""
        total = self.blink_on_prob + self.blink_off_prob
        return 1.0 if self.blink_off_prob == 0 else self.blink_on_prob / total

    def start(
        self,
        x: np.ndarray,
        y: np.ndarray,
        amplitude: np.ndarray,
        rng: np.random.Generator,
        first_id: int = 0,
    ) -> ParticleState:
        """Give initial particles ids, blinking states and directed velocities.

        Parameters
        ----------
        x, y, amplitude : np.ndarray
            Initial positions and nominal amplitudes, shape ``(N,)``.
        rng : np.random.Generator
            Source of randomness.
        first_id : int
            Identity of the first particle.

        Returns
        -------
        ParticleState
            The state of the first frame.
        """
        n = len(x)
        on = rng.random(n) < self.on_fraction
        directed = rng.random(n) < self.directed_fraction
        angle = rng.uniform(0.0, 2 * math.pi, n)
        speed = np.where(directed, self.directed_speed_px, 0.0)
        velocity = np.stack([speed * np.cos(angle), speed * np.sin(angle)], axis=1)
        return ParticleState(
            x=np.asarray(x, dtype=np.float64),
            y=np.asarray(y, dtype=np.float64),
            particle=np.arange(first_id, first_id + n, dtype=np.int64),
            on=on,
            velocity=velocity,
            amplitude=np.asarray(amplitude, dtype=np.float64),
            next_id=first_id + n,
        )

    def step(
        self,
        state: ParticleState,
        rng: np.random.Generator,
        bounds: tuple[float, float, float, float],
        spawn: Spawner,
    ) -> ParticleState:
        """Advance all particles by one frame.

        Parameters
        ----------
        state : ParticleState
            The current frame.
        rng : np.random.Generator
            Source of randomness.
        bounds : tuple of float
            Simulated area ``(x_min, x_max, y_min, y_max)``; particles outside are removed.
        spawn : callable
            ``spawn(n, rng) -> (x, y, amplitude)`` placing new particles.

        Returns
        -------
        ParticleState
            The next frame.
        """
        n = state.x.size
        step_std = math.sqrt(2.0 * self.diffusion_px2)
        x = state.x + self.drift_px[0] + state.velocity[:, 0]
        y = state.y + self.drift_px[1] + state.velocity[:, 1]
        if step_std > 0:
            x = x + step_std * rng.standard_normal(n)
            y = y + step_std * rng.standard_normal(n)
        u = rng.random(n)
        on = np.where(state.on, u >= self.blink_off_prob, u < self.blink_on_prob)
        x_min, x_max, y_min, y_max = bounds
        keep = (x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)
        moved = ParticleState(
            x=x[keep],
            y=y[keep],
            particle=state.particle[keep],
            on=on[keep],
            velocity=state.velocity[keep],
            amplitude=state.amplitude[keep],
            next_id=state.next_id,
        )
        n_new = n - int(keep.sum()) if self.keep_density else 0
        if n_new == 0:
            return moved
        new = self.start(*spawn(n_new, rng), rng, first_id=state.next_id)
        return ParticleState(
            x=np.concatenate([moved.x, new.x]),
            y=np.concatenate([moved.y, new.y]),
            particle=np.concatenate([moved.particle, new.particle]),
            on=np.concatenate([moved.on, new.on]),
            velocity=np.concatenate([moved.velocity, new.velocity]),
            amplitude=np.concatenate([moved.amplitude, new.amplitude]),
            next_id=new.next_id,
        )
