import math

import numpy as np
import pytest
from scipy.special import erf

from livetrack._errors import InputError
from livetrack.evaluate import (
    crlb_gaussian,
    crlb_gaussian_params,
    fisher_information_gaussian,
    mortensen_precision,
)

ALL = ("x", "y", "N", "bg", "sigma")


@pytest.mark.parametrize("photons", [1e4, 1e5])
@pytest.mark.parametrize("background", [0.0, 1.0, 10.0, 100.0])
@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_crlb_agrees_with_mortensen_at_high_photon_counts(photons, background, sigma):
    crlb = crlb_gaussian(photons, background, sigma)
    assert crlb == pytest.approx(mortensen_precision(photons, background, sigma), rel=0.01)
    approx = mortensen_precision(photons, background, sigma, method="approx")
    assert crlb == pytest.approx(approx, rel=0.03)


def test_mortensen_closed_form_matches_quadrature_and_limits():
    from scipy.integrate import quad

    n, b, s, a = 800.0, 7.0, 1.3, 1.0
    sa2 = s**2 + a**2 / 12
    tau = 2 * math.pi * sa2 * b / (n * a**2)
    integral = quad(lambda t: math.log(t) / (1 + t / tau), 0, 1)[0]
    expected = math.sqrt(sa2 / n / (1 + integral))
    assert mortensen_precision(n, b, s) == pytest.approx(expected, rel=1e-9)
    # No background: sigma_a / sqrt(N); EMCCD doubles the variance.
    assert mortensen_precision(n, 0.0, s) == pytest.approx(math.sqrt(sa2 / n), rel=1e-12)
    assert mortensen_precision(n, b, s, em=True) == pytest.approx(
        math.sqrt(2) * mortensen_precision(n, b, s), rel=1e-12
    )
    # Physical units scale with the pixel size.
    assert mortensen_precision(n, b, s, pixel_size=100.0) == pytest.approx(
        100 * mortensen_precision(n, b, s), rel=1e-12
    )


def test_crlb_is_monotonic_in_photons_background_and_read_noise():
    photons = np.geomspace(50, 1e5, 12)
    by_photons = crlb_gaussian(photons, 10.0, 1.2, x0=0.2, y0=-0.1)
    assert np.all(np.diff(by_photons) < 0)
    background = np.linspace(0, 200, 12)
    by_background = crlb_gaussian(500.0, background, 1.2, x0=0.2, y0=-0.1)
    assert np.all(np.diff(by_background) > 0)
    read = np.linspace(0, 5, 6)
    assert np.all(np.diff(crlb_gaussian(500.0, 2.0, 1.2, read_noise_e=read)) > 0)


def test_more_unknowns_never_lower_the_bound():
    kw = dict(photons=400.0, background_photons=5.0, sigma_px=1.1, x0=0.3, y0=-0.2)
    only_x = crlb_gaussian(**kw, estimate=("x",))
    default = crlb_gaussian(**kw)
    free_sigma = crlb_gaussian(**kw, estimate=ALL)
    assert only_x <= default * (1 + 1e-12)
    assert default <= free_sigma * (1 + 1e-12)


def test_emccd_without_read_noise_halves_the_fisher_information():
    kw = dict(photons=300.0, background_photons=4.0, sigma_px=1.0, estimate=ALL)
    base = fisher_information_gaussian(**kw)
    emccd = fisher_information_gaussian(**kw, em_gain=200.0)
    np.testing.assert_allclose(emccd, base / 2, rtol=1e-12)
    assert crlb_gaussian(300.0, 4.0, 1.0, em_gain=200.0) == pytest.approx(
        math.sqrt(2) * crlb_gaussian(300.0, 4.0, 1.0), rel=1e-10
    )


def test_read_noise_acts_like_extra_background_variance():
    # Shifted Poisson: read noise r adds r**2 to every pixel variance, like a known
    # background b = r**2 would in the x-block of the Fisher matrix.
    with_read = fisher_information_gaussian(500.0, 3.0, 1.0, read_noise_e=2.0, estimate=("x",))
    as_bg = fisher_information_gaussian(500.0, 7.0, 1.0, estimate=("x",))
    np.testing.assert_allclose(with_read, as_bg, rtol=1e-12)


def test_vectorised_over_broadcast_inputs():
    photons = np.array([[100.0], [1000.0]])
    background = np.array([0.0, 5.0, 50.0])
    out = crlb_gaussian(photons, background, 1.0)
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            single = crlb_gaussian(photons[i, 0], background[j], 1.0)
            assert isinstance(single, float)
            assert out[i, j] == pytest.approx(single, rel=1e-12)
    params = crlb_gaussian_params(photons, background, 1.0)
    assert set(params) == {"x", "y", "N", "bg"}
    np.testing.assert_allclose(params["x"], out, rtol=1e-12)
    np.testing.assert_allclose(params["y"], out, rtol=1e-12)


def test_small_window_loses_information():
    default = crlb_gaussian(1000.0, 20.0, 1.5)
    assert crlb_gaussian(1000.0, 20.0, 1.5, window_px=5) > default
    assert crlb_gaussian(1000.0, 20.0, 1.5, window_px=31) == pytest.approx(default, rel=1e-3)


def test_fisher_matrix_is_symmetric_positive_definite():
    fisher = fisher_information_gaussian(200.0, 10.0, 1.3, x0=0.4, y0=0.1, estimate=ALL)
    assert fisher.shape == (5, 5)
    np.testing.assert_allclose(fisher, fisher.T, rtol=0, atol=1e-12 * np.abs(fisher).max())
    assert np.all(np.linalg.eigvalsh(fisher) > 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(photons=0.0),
        dict(photons=-5.0),
        dict(background_photons=-1.0),
        dict(sigma_px=0.0),
        dict(read_noise_e=-1.0),
        dict(photons=np.nan),
        dict(em_gain=0.5),
        dict(window_px=2),
        dict(window_px=7.5),
        dict(estimate=("x", "z")),
        dict(estimate=("y", "N")),
        dict(estimate=("x", "x")),
        dict(photons=np.ones(3), background_photons=np.ones(2)),
    ],
)
def test_bad_input_raises_input_error(kwargs):
    args = dict(photons=100.0, background_photons=1.0, sigma_px=1.0) | kwargs
    with pytest.raises(InputError):
        crlb_gaussian(**args)


# -- Monte-Carlo check of the Fisher information -------------------------------------


def _expected(theta, width=11):
    """Independent re-implementation of the pixel-integrated Gaussian image model."""
    x0, y0, n, bg, s = theta
    c = np.arange(width) - (width - 1) / 2

    def integral(pos):
        return 0.5 * (
            erf((c - pos + 0.5) / (math.sqrt(2) * s)) - erf((c - pos - 0.5) / (math.sqrt(2) * s))
        )

    return n * np.outer(integral(y0), integral(x0)) + bg


def _numeric_gradient(theta, h=1e-5):
    grads = []
    for k in range(len(theta)):
        up, down = np.array(theta, float), np.array(theta, float)
        step = h * max(1.0, abs(theta[k]))
        up[k] += step
        down[k] -= step
        grads.append((_expected(up) - _expected(down)) / (2 * step))
    return np.stack(grads)


@pytest.mark.parametrize("read_noise", [0.0, 3.0])
def test_fisher_information_equals_covariance_of_the_score(rng, read_noise):
    # Fisher information is the covariance of the score d log L / d theta under the
    # model. Sample images, evaluate the (shifted) Poisson score with numerical
    # derivatives of an independent model, and compare with the analytic matrix.
    theta = (0.3, -0.2, 250.0, 4.0, 1.2)
    mu = _expected(theta)
    grads = _numeric_gradient(theta)
    offset = read_noise**2
    n_samples = 20_000
    counts = rng.poisson(mu + offset, size=(n_samples, *mu.shape)) - offset
    scores = np.einsum("sij,pij->sp", (counts - mu) / (mu + offset), grads)
    sample = np.cov(scores, rowvar=False)
    fisher = fisher_information_gaussian(
        theta[2],
        theta[3],
        theta[4],
        read_noise_e=read_noise,
        window_px=11,
        x0=theta[0],
        y0=theta[1],
        estimate=ALL,
    )
    scale = np.sqrt(np.outer(np.diag(fisher), np.diag(fisher)))
    # Sampling error of a variance from 20 000 draws is ~1 %.
    np.testing.assert_allclose(np.diag(sample), np.diag(fisher), rtol=0.05)
    np.testing.assert_allclose(sample / scale, fisher / scale, atol=0.05)
    # The analytic derivatives themselves must match the numerical ones tightly.
    exact = np.einsum("pij,qij->pq", grads / (mu + offset), grads)
    np.testing.assert_allclose(fisher, exact, rtol=1e-6, atol=1e-9 * scale.max())


def test_maximum_likelihood_fit_attains_the_bound(rng):
    # The bound is only useful if an efficient estimator reaches it: fit x, y, N, bg by
    # Poisson MLE to simulated spots and compare the spread of x with the CRLB.
    from scipy.optimize import minimize

    theta = np.array([0.2, -0.1, 2000.0, 5.0])
    sigma = 1.2
    mu = _expected((*theta, sigma))
    images = rng.poisson(mu, size=(200, *mu.shape))

    def negloglik(p, img):
        # log-parametrised photons and background keep the model positive.
        m = _expected((p[0], p[1], np.exp(p[2]), np.exp(p[3]), sigma))
        return float(np.sum(m - img * np.log(m)))

    start = np.array([0.5, 0.4, np.log(1500.0), np.log(8.0)])
    fits = np.array([minimize(negloglik, start, args=(img,), method="BFGS").x for img in images])
    bound = crlb_gaussian(theta[2], theta[3], sigma, window_px=11, x0=theta[0], y0=theta[1])
    # 200 fits give the spread to ~5 %; both axes pooled give ~3.5 %.
    spread = np.sqrt(np.mean(np.var(fits[:, :2], axis=0, ddof=1)))
    assert spread == pytest.approx(bound, rel=0.12)
    assert np.abs(fits[:, 0].mean() - theta[0]) < 4 * bound / np.sqrt(len(fits))


def test_bound_model_is_the_simulated_gaussian_psf():
    # The Fisher tests above use _expected; pin it to what livetrack.simulate renders, so
    # the bound refers to the same image model the benchmarks simulate.
    from livetrack.simulate import GaussianPSF

    sigma, x, y = 1.3, 5.3, 4.8  # window of 11 px centred on pixel (5, 5)
    rendered = GaussianPSF(sigma).render((11, 11), [x], [y], [1000.0])
    model = _expected((x - 5.0, y - 5.0, 1000.0, 0.0, sigma))
    inside = rendered > 0  # the simulator truncates its window at 4 sigma
    assert inside.sum() > 50
    np.testing.assert_allclose(rendered[inside], model[inside], rtol=1e-9)


def test_numerical_crlb_of_any_psf_matches_the_gaussian_closed_form():
    from livetrack.evaluate import crlb_gaussian, crlb_psf
    from livetrack.simulate import GaussianPSF

    for photons, x0 in ((100.0, 0.2), (2000.0, 0.45)):
        sx, sy = crlb_psf(GaussianPSF(1.3), photons, 10.0, x0=x0, y0=0.1)
        assert sx == pytest.approx(crlb_gaussian(photons, 10.0, 1.3, x0=x0, y0=0.1), rel=1e-3)
        assert sy == pytest.approx(crlb_gaussian(photons, 10.0, 1.3, x0=0.1, y0=x0), rel=1e-3)


def test_ring_crlb_scales_with_signal_and_rejects_no_background():
    from livetrack.evaluate import crlb_psf
    from livetrack.simulate import RingPSF

    weak = crlb_psf(RingPSF(4.0, -1.0), 20.0, 100.0)[0]
    strong = crlb_psf(RingPSF(4.0, -1.0), 80.0, 100.0)[0]
    assert strong < weak / 3.0  # background-limited: close to 1/amplitude
    with pytest.raises(ValueError, match="background"):
        crlb_psf(RingPSF(4.0, 1.0), 50.0, 0.0)
    with pytest.raises(ValueError, match="zero photons"):
        crlb_psf(RingPSF(4.0, -1.0), 200.0, 100.0)  # a dark centre below zero photons
