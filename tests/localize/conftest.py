from collections.abc import Callable

import numpy as np
import pytest
from scipy.special import erf


def _axis(n: int, centre: np.ndarray, sigma: float) -> np.ndarray:
    u = np.arange(n)[None, :] - np.asarray(centre, dtype=float)[:, None]
    s = np.sqrt(2.0) * sigma
    return 0.5 * (erf((u + 0.5) / s) - erf((u - 0.5) / s))


def render_gaussians(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    photons: float | np.ndarray,
    sigma: float,
    background: float = 0.0,
) -> np.ndarray:
    """Expected photons of pixel-integrated Gaussian spots (x = column, y = row)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    n = np.broadcast_to(np.asarray(photons, dtype=float), x.shape)
    ex = _axis(shape[1], x, sigma)
    ey = _axis(shape[0], y, sigma)
    return background + np.einsum("k,ki,kj->ij", n, ey, ex)


@pytest.fixture
def render() -> Callable[..., np.ndarray]:
    return render_gaussians


def grid_positions(rng: np.random.Generator, size: int, step: float, margin: float):
    g = np.arange(margin, size - margin + 1e-9, step)
    xx, yy = np.meshgrid(g, g)
    x = xx.ravel() + rng.uniform(-0.5, 0.5, xx.size)
    y = yy.ravel() + rng.uniform(-0.5, 0.5, xx.size)
    return x, y


@pytest.fixture
def grid() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    return grid_positions


def nearest_errors(truth_xy: np.ndarray, df) -> np.ndarray:
    """(dx, dy) of the detection nearest to every truth position."""
    pred = df[["x", "y"]].to_numpy()
    d = truth_xy[:, None, :] - pred[None, :, :]
    j = np.argmin((d**2).sum(axis=2), axis=1)
    return pred[j] - truth_xy
