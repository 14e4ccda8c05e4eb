import numpy as np
import pytest
from scipy import stats

from livetrack._errors import InputError
from livetrack.simulate import Camera
from livetrack.simulate._poisson import poisson_constant, poisson_image

SHAPE = (256, 256)


def flat(value: float) -> np.ndarray:
    return np.full(SHAPE, value)


@pytest.mark.parametrize("lam", [0.5, 4.0, 10.0, 60.0])
def test_poisson_shot_noise_mean_and_variance(lam, rng):
    camera = Camera(offset_adu=100.0)
    image = camera.expose(flat(lam), rng).astype(np.float64)
    n = image.size
    assert image.mean() == pytest.approx(100.0 + lam, abs=5 * np.sqrt(lam / n))
    # The variance of a sample variance of a Poisson is ~ (lam + 2 lam**2) / n.
    assert image.var() == pytest.approx(lam, abs=5 * np.sqrt((lam + 2 * lam**2) / n))


def test_read_noise_std(rng):
    camera = Camera(offset_adu=500.0, read_noise_e=3.0)
    image = camera.expose(flat(0.0), rng).astype(np.float64)
    # Rounding to integer ADU adds the variance of a unit box, 1/12.
    assert image.std() == pytest.approx(np.sqrt(9.0 + 1 / 12), rel=0.02)
    assert image.mean() == pytest.approx(500.0, abs=0.05)


def test_gain_offset_and_quantum_efficiency_set_mean_and_variance(rng):
    camera = Camera(quantum_efficiency=0.8, gain_adu_per_e=2.5, offset_adu=300.0)
    lam = 20.0
    image = camera.expose(flat(lam), rng).astype(np.float64)
    assert image.mean() == pytest.approx(300.0 + 2.5 * 0.8 * lam, abs=0.1)
    assert image.var() == pytest.approx(2.5**2 * 0.8 * lam + 1 / 12, rel=0.03)
    assert camera.total_gain_adu_per_photon == pytest.approx(2.0)


def test_emccd_excess_noise_factor_is_sqrt_two(rng):
    lam, em_gain, gain = 20.0, 300.0, 0.02
    camera = Camera(gain_adu_per_e=gain, offset_adu=200.0, em_gain=em_gain)
    image = camera.expose(flat(lam), rng).astype(np.float64)
    signal = image - 200.0
    assert signal.mean() == pytest.approx(gain * em_gain * lam, rel=0.01)
    excess = signal.var() / (gain**2 * em_gain**2 * lam)
    assert excess == pytest.approx(2.0, rel=0.05)
    photons = camera.to_photons(image)
    assert photons.mean() == pytest.approx(lam, rel=0.01)


def test_emccd_without_multiplication_matches_plain_ccd(rng):
    plain = Camera().expose(flat(5.0), np.random.default_rng(3))
    unity = Camera(em_gain=1.0).expose(flat(5.0), np.random.default_rng(3))
    np.testing.assert_array_equal(plain, unity)


@pytest.mark.parametrize(
    ("bit_depth", "dtype", "top"),
    [(8, np.uint8, 255), (12, np.uint16, 4095), (16, np.uint16, 65535)],
)
def test_clipping_and_dtype(bit_depth, dtype, top, rng):
    camera = Camera(offset_adu=10.0, bit_depth=bit_depth, read_noise_e=30.0)
    assert camera.dtype == np.dtype(dtype)
    assert camera.max_adu == top
    image = camera.expose(np.array([[0.0, 1e7], [5.0, 2e7]]), rng)
    assert image.dtype == np.dtype(dtype)
    assert image[0, 1] == top
    assert image[1, 1] == top
    dark = camera.expose(np.zeros((64, 64)), rng)
    assert dark.min() == 0  # read noise below the offset is clipped at zero


def test_negative_expected_photons_count_as_zero(rng):
    image = Camera(offset_adu=7.0).expose(np.full((8, 8), -3.0), rng)
    assert (image == 7).all()


def test_to_photons_inverts_mean_response():
    camera = Camera(quantum_efficiency=0.5, gain_adu_per_e=4.0, offset_adu=100.0, em_gain=10.0)
    photons = camera.to_photons(np.array([100, 120, 300], dtype=np.uint16))
    assert photons.dtype == np.float32
    np.testing.assert_allclose(photons, [0.0, 1.0, 10.0])


def test_expose_is_reproducible_with_seed():
    camera = Camera(read_noise_e=2.0, em_gain=50.0, gain_adu_per_e=0.1)
    a = camera.expose(flat(3.0), np.random.default_rng(11))
    b = camera.expose(flat(3.0), np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quantum_efficiency": 0.0},
        {"quantum_efficiency": 1.5},
        {"gain_adu_per_e": 0.0},
        {"offset_adu": -1.0},
        {"offset_adu": 300.0, "bit_depth": 8},
        {"read_noise_e": -1.0},
        {"em_gain": 0.5},
        {"bit_depth": 0},
        {"bit_depth": 17},
        {"bit_depth": 12.0},
        {"gain_adu_per_e": "2"},
    ],
)
def test_bad_camera_parameters_raise_input_error(kwargs):
    with pytest.raises(InputError):
        Camera(**kwargs)


def test_non_finite_expected_photons_raise_input_error(rng):
    with pytest.raises(InputError):
        Camera().expose(np.array([1.0, np.nan]), rng)


@pytest.mark.parametrize("lam", [0.2, 3.0, 10.0, 123.4])
def test_table_poisson_sampler_matches_poisson_pmf(lam, rng):
    counts = poisson_constant(lam, 200_000, rng)
    k = np.arange(counts.max() + 1)
    observed = np.bincount(counts, minlength=k.size)
    expected = stats.poisson.pmf(k, lam) * counts.size
    keep = expected > 20
    # Pool the tails so the chi-square cells are well populated.
    obs = np.append(observed[keep], counts.size - observed[keep].sum())
    exp = np.append(expected[keep], counts.size - expected[keep].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def test_poisson_image_split_is_exact_in_mean_and_variance(rng):
    # Flat background with a few bright pixels: the floor + residual path.
    lam = np.full((200, 200), 8.0)
    lam[:20, :20] = 50.0
    counts = np.stack([poisson_image(lam, rng) for _ in range(20)])
    bright, dark = counts[:, :20, :20], counts[:, 100:, 100:]
    assert bright.mean() == pytest.approx(50.0, rel=0.01)
    assert bright.var() == pytest.approx(50.0, rel=0.05)
    assert dark.mean() == pytest.approx(8.0, rel=0.01)
    assert dark.var() == pytest.approx(8.0, rel=0.03)


def test_poisson_image_non_flat_and_empty(rng):
    lam = np.linspace(0.0, 20.0, 40_000).reshape(200, 200)
    counts = poisson_image(lam, rng)
    assert counts.shape == lam.shape
    assert counts.sum() == pytest.approx(lam.sum(), rel=0.01)
    assert poisson_image(np.zeros((0, 3)), rng).shape == (0, 3)
    assert not poisson_constant(0.0, 5, rng).any()
