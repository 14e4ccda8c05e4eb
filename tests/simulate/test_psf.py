import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from livetrack._errors import InputError
from livetrack.simulate import PSF, AiryPSF, GaussianPSF, RingPSF

SHAPE = (48, 48)


def centroid(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    total = image.sum()
    return float((image * cols).sum() / total), float((image * rows).sum() / total)


def numerical_pixels(density, shape, x, y, nodes=41):
    """Midpoint-rule integral of a continuous density over every pixel (reference)."""
    sub = (np.arange(nodes) + 0.5) / nodes - 0.5
    cols = (np.arange(shape[1])[:, None] + sub).ravel()
    rows = (np.arange(shape[0])[:, None] + sub).ravel()
    values = density(cols[None, :] - x, rows[:, None] - y)
    return values.reshape(shape[0], nodes, shape[1], nodes).mean(axis=(1, 3))


@pytest.mark.parametrize("psf", [GaussianPSF(1.0), AiryPSF(2.0), RingPSF(4.0, -1.0)])
def test_models_satisfy_the_protocol(psf):
    assert isinstance(psf, PSF)
    assert isinstance(psf.half_width_px, int)
    assert psf.half_width_px >= 1


@pytest.mark.parametrize("sigma", [0.7, 1.0, 1.7, 3.0])
def test_gaussian_sums_to_amplitude_when_inside(sigma):
    image = GaussianPSF(sigma).render(SHAPE, 23.3, 24.8, 1234.0)
    assert image.sum() == pytest.approx(1234.0, rel=1e-4)
    assert image.dtype == np.float64
    assert image.min() >= 0.0


@pytest.mark.parametrize("sigma", [0.7, 1.3, 3.0])
def test_gaussian_erf_equals_numerical_integration(sigma):
    x, y = 20.37, 22.81

    def density(dx, dy):
        return np.exp(-(dx**2 + dy**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)

    reference = numerical_pixels(density, SHAPE, x, y)
    image = GaussianPSF(sigma).render(SHAPE, x, y, 1.0)
    inside = image > 0
    # Midpoint error with 41 nodes is ~1e-5 of the peak; the window is cut at 4 sigma,
    # beyond which every pixel is below exp(-8) = 3.4e-4 of the peak.
    assert np.abs(image - reference)[inside].max() < 1e-4 * reference.max()
    assert reference[~inside].max() < 3.5e-4 * reference.max()


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
def test_gaussian_width_matches_sigma_with_pixel_correction(sigma):
    x, y = 24.2, 23.6
    image = GaussianPSF(sigma).render(SHAPE, x, y, 1.0)
    rows, cols = np.indices(SHAPE)
    var_x = (image * (cols - x) ** 2).sum() / image.sum()
    var_y = (image * (rows - y) ** 2).sum() / image.sum()
    # Pixel integration adds the variance of a unit box, 1/12 (Sheppard's correction).
    assert var_x == pytest.approx(sigma**2 + 1 / 12, rel=2e-3)
    assert var_y == pytest.approx(sigma**2 + 1 / 12, rel=2e-3)


def test_gaussian_peak_per_amplitude_is_centre_pixel():
    psf = GaussianPSF(1.2)
    image = psf.render(SHAPE, 20.0, 21.0, 1.0)
    assert image.max() == pytest.approx(psf.peak_per_amplitude(), rel=1e-12)
    assert image[21, 20] == image.max()


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(13.0, 34.0),
    y=st.floats(13.0, 34.0),
    sigma=st.floats(0.7, 3.0),
)
def test_noiseless_gaussian_centroid_equals_position(x, y, sigma):
    image = GaussianPSF(sigma).render(SHAPE, x, y, 100.0)
    cx, cy = centroid(image)
    assert abs(cx - x) < 1e-3
    assert abs(cy - y) < 1e-3
    row, col = np.unravel_index(np.argmax(image), SHAPE)
    assert abs(col - x) <= 0.5 + 1e-9
    assert abs(row - y) <= 0.5 + 1e-9


@settings(max_examples=25, deadline=None)
@given(x=st.floats(15.0, 30.0), y=st.floats(15.0, 30.0), radius=st.floats(2.0, 4.0))
def test_noiseless_airy_centroid_equals_position(x, y, radius):
    image = AiryPSF(radius).render(SHAPE, x, y, 100.0)
    cx, cy = centroid(image)
    assert abs(cx - x) < 1e-3
    assert abs(cy - y) < 1e-3


@pytest.mark.parametrize("radius", [1.0, 2.0, 3.5])
def test_airy_sums_to_amplitude_when_inside(radius):
    image = AiryPSF(radius).render(SHAPE, 24.4, 23.9, 500.0)
    assert image.sum() == pytest.approx(500.0, rel=1e-12)
    assert image.min() >= 0.0


def test_airy_supersampling_matches_fine_numerical_integration():
    radius, x, y = 2.0, 20.3, 21.7
    k = 3.8317059702075125 / radius
    v_cut = 10.173468135062722

    def density(dx, dy):
        v = np.hypot(dx, dy) * k
        safe = np.where(v > 0, v, 1.0)
        airy = np.where(v > 0, (2 * special.j1(safe) / safe) ** 2, 1.0)
        return np.where(v <= v_cut, airy, 0.0)

    reference = numerical_pixels(density, SHAPE, x, y, nodes=61)
    reference /= reference.sum()
    image = AiryPSF(radius).render(SHAPE, x, y, 1.0)
    assert np.abs(image - reference).max() < 1e-3 * reference.max()


def test_airy_first_dark_ring_at_radius():
    radius = 6.0
    image = AiryPSF(radius).render((64, 64), 32.0, 32.0, 1.0)
    profile = image[32, 32:50]
    dark = int(np.argmin(profile[: int(1.3 * radius)]))
    assert abs(dark - radius) <= 1
    assert profile[dark] < 0.01 * profile[0]


def test_airy_is_close_to_equivalent_gaussian_core():
    # Best-fit Gaussian of an Airy core has sigma ~0.21 lambda/NA = 0.3437 radius.
    radius = 3.0
    airy = AiryPSF(radius).render(SHAPE, 24.0, 24.0, 1.0)
    gauss = GaussianPSF(0.3437 * radius).render(SHAPE, 24.0, 24.0, 1.0)
    assert airy.max() == pytest.approx(gauss.max(), rel=0.12)


@pytest.mark.parametrize("contrast", [1.0, 0.5, -1.0, -0.3])
def test_ring_sign_of_contrast(contrast):
    psf = RingPSF(radius_px=4.0, contrast=contrast)
    image = psf.render((64, 64), 32.0, 32.0, 100.0)
    centre = image[32, 32]
    assert np.sign(centre) == np.sign(contrast)
    assert abs(centre) == pytest.approx(np.abs(image).max())
    assert centre == pytest.approx(100.0 * psf.peak_per_amplitude())
    # The first ring has the opposite sign of the centre.
    ring = image[32, 36]
    assert np.sign(ring) == -np.sign(contrast)


def test_ring_negative_contrast_is_mirror_image():
    bright = RingPSF(3.0, 1.0).render(SHAPE, 20.4, 25.1, 50.0)
    dark = RingPSF(3.0, -1.0).render(SHAPE, 20.4, 25.1, 50.0)
    np.testing.assert_allclose(dark, -bright)


@pytest.mark.parametrize("radius", [3.0, 5.0])
def test_ring_radius_is_first_extremum(radius):
    size = 80
    image = RingPSF(radius_px=radius, contrast=-1.0, supersample=5).render(
        (size, size), 40.0, 40.0, 1.0
    )
    profile = image[40, 40:70]
    ring = int(np.argmax(profile[1:])) + 1  # bright ring of a dark-centred particle
    assert abs(ring - radius) <= 0.5
    assert RingPSF(radius).envelope_sigma_px == 1.5 * radius
    assert RingPSF(radius, envelope_px=2.0).envelope_sigma_px == 2.0


def test_ring_supersampling_matches_fine_numerical_integration():
    psf = RingPSF(radius_px=3.0, contrast=-1.0)
    x, y = 23.6, 24.2
    k = 3.8317059702075125 / 3.0
    env = psf.envelope_sigma_px

    def density(dx, dy):
        r = np.hypot(dx, dy)
        return np.where(r <= 3 * env, -special.j0(k * r) * np.exp(-(r**2) / (2 * env**2)), 0.0)

    reference = numerical_pixels(density, SHAPE, x, y, nodes=41)
    image = psf.render(SHAPE, x, y, 1.0)
    assert np.abs(image - reference).max() < 5e-3


@pytest.mark.parametrize("psf", [GaussianPSF(1.5), AiryPSF(2.0), RingPSF(3.0)])
def test_render_is_linear_in_particles(psf, rng):
    x, y = rng.uniform(5, 40, 7), rng.uniform(5, 40, 7)
    amp = rng.uniform(10, 100, 7)
    together = psf.render(SHAPE, x, y, amp)
    apart = sum(psf.render(SHAPE, xi, yi, ai) for xi, yi, ai in zip(x, y, amp, strict=True))
    np.testing.assert_allclose(together, apart, atol=1e-9)


def test_gaussian_on_frame_edge_keeps_inside_fraction():
    sigma, x = 1.3, -0.2
    image = GaussianPSF(sigma).render(SHAPE, x, 24.0, 1000.0)
    inside = 0.5 * (1 - special.erf((-0.5 - x) / (math.sqrt(2) * sigma)))
    assert image.sum() == pytest.approx(1000.0 * inside, rel=1e-4)


@pytest.mark.parametrize("psf", [GaussianPSF(1.0), AiryPSF(2.0), RingPSF(3.0)])
def test_particles_far_outside_or_absent_render_nothing(psf):
    far = psf.render(SHAPE, [-100.0, 200.0], [10.0, 10.0], [1.0, 1.0])
    assert far.shape == SHAPE
    assert not far.any()
    empty = psf.render(SHAPE, [], [], [])
    assert not empty.any()


def test_non_square_frame_keeps_axes():
    image = GaussianPSF(1.0).render((20, 50), 40.0, 5.0, 1.0)
    assert image.shape == (20, 50)
    assert np.unravel_index(np.argmax(image), image.shape) == (5, 40)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: GaussianPSF(0.0),
        lambda: GaussianPSF(-1.0),
        lambda: GaussianPSF(float("nan")),
        lambda: AiryPSF(0.0),
        lambda: AiryPSF(2.0, supersample=0),
        lambda: RingPSF(4.0, contrast=0.0),
        lambda: RingPSF(4.0, contrast=1.5),
        lambda: RingPSF(4.0, envelope_px=-1.0),
    ],
)
def test_bad_parameters_raise_input_error(factory):
    with pytest.raises(InputError):
        factory()


@pytest.mark.parametrize(
    ("shape", "x", "y", "amp"),
    [
        ((10, 10), [1.0, 2.0], [1.0, 2.0, 3.0], 1.0),
        ((10,), 1.0, 1.0, 1.0),
        ((10, 10), float("nan"), 1.0, 1.0),
        ((10, 10), "a", 1.0, 1.0),
        ((0, 10), 1.0, 1.0, 1.0),
    ],
)
def test_bad_render_input_raises_input_error(shape, x, y, amp):
    with pytest.raises(InputError):
        GaussianPSF(1.0).render(shape, x, y, amp)


def test_profile_psf_renders_the_profile_it_is_given():
    from livetrack.simulate import ProfilePSF

    r = np.arange(0.0, 8.01, 0.25)
    measured = ProfilePSF(tuple(r), tuple(np.exp(-(r**2) / (2 * 1.5**2))))
    spot = GaussianPSF(1.5).render((21, 21), 10.3, 9.8, 1.0)
    image = measured.render((21, 21), 10.3, 9.8, 1.0)
    np.testing.assert_allclose(image / image.max(), spot / spot.max(), atol=0.005)
    dark = ProfilePSF(tuple(r), tuple(-np.exp(-(r**2) / (2 * 1.5**2))), scale=1.2)
    assert dark.peak_per_amplitude() < 0 and dark.half_width_px == 10
    for radii, values in [((0.0,), (1.0,)), ((0.5, 1.0), (1.0, 0.0)), ((0.0, 1.0), (0.0, 1.0))]:
        with pytest.raises(InputError):
            ProfilePSF(radii, values)
