"""The window-stack refiners on their own (usable on detections from any detector)."""

import numpy as np
import pytest

from livetrack.localize import fit_gaussian_mle, radial_symmetry_center

from .conftest import render_gaussians


def _stack(offsets, sigma=1.3, photons=2000.0, bg=10.0, w=9):
    c = w // 2
    return np.stack(
        [render_gaussians((w, w), [c + dx], [c + dy], photons, sigma, bg) for dx, dy in offsets]
    )


OFFSETS = [(0.0, 0.0), (0.3, -0.2), (-0.45, 0.45), (0.1, 0.49)]


def test_radial_symmetry_center_offsets():
    dy, dx = radial_symmetry_center(_stack(OFFSETS))
    np.testing.assert_allclose(np.column_stack([dx, dy]), OFFSETS, atol=0.02)


def test_radial_symmetry_center_of_flat_window_is_nan():
    dy, dx = radial_symmetry_center(np.full((2, 7, 7), 5.0))
    assert np.isnan(dy).all() and np.isnan(dx).all()


def test_radial_symmetry_ignores_invalid_pixels():
    stack = _stack([(0.2, 0.1)])
    valid = np.ones(stack.shape, dtype=bool)
    valid[:, :, :3] = False
    garbage = stack.copy()
    garbage[:, :, :3] = 1e6  # must not matter
    a = radial_symmetry_center(stack, valid)
    b = radial_symmetry_center(garbage, valid)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose([a[1][0], a[0][0]], [0.2, 0.1], atol=0.1)


@pytest.mark.parametrize("fit_sigma", [True, False])
def test_fit_gaussian_mle_recovers_all_parameters(fit_sigma):
    fit = fit_gaussian_mle(_stack(OFFSETS), sigma_px=1.0 if fit_sigma else 1.3, fit_sigma=fit_sigma)
    np.testing.assert_allclose(np.column_stack([fit.dx, fit.dy]), OFFSETS, atol=1e-4)
    np.testing.assert_allclose(fit.photons, 2000.0, rtol=1e-4)
    np.testing.assert_allclose(fit.background, 10.0, rtol=1e-4)
    np.testing.assert_allclose(fit.sigma, 1.3, rtol=1e-4)
    assert fit.converged.all()
    assert fit.iterations < 15
    # Cramér-Rao bound grows as photons drop.
    dim = fit_gaussian_mle(_stack(OFFSETS, photons=200.0), sigma_px=1.3, fit_sigma=fit_sigma)
    assert (dim.crlb_x > 2 * fit.crlb_x).all()


def test_fit_gaussian_mle_empty_stack():
    fit = fit_gaussian_mle(np.zeros((0, 7, 7)))
    assert fit.dx.shape == (0,) and fit.crlb_x.shape == (0,)
