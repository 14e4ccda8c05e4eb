import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack._errors import InputError
from livetrack.simulate import (
    AiryPSF,
    Camera,
    GaussianPSF,
    RingPSF,
    photons_for_snr,
    render_frame,
    snr_of,
)

PSFS = [GaussianPSF(0.8), GaussianPSF(2.0), AiryPSF(2.0), RingPSF(4.0, 1.0), RingPSF(3.0, -1.0)]


@pytest.mark.parametrize("psf", PSFS, ids=repr)
@settings(max_examples=40, deadline=None)
@given(snr=st.floats(0.0, 50.0), background=st.floats(0.0, 1000.0))
def test_round_trip(psf, snr, background):
    if psf.peak_per_amplitude() < 0:
        background += 1.0  # a dark centre needs a background to be dark against
    amplitude = photons_for_snr(snr, background, psf)
    assert amplitude >= 0
    assert snr_of(amplitude, background, psf) == pytest.approx(snr, rel=1e-9, abs=1e-9)


def test_isbi_definition_for_gaussian():
    psf = GaussianPSF(1.0)
    amplitude, background = 400.0, 10.0
    peak = background + amplitude * psf.peak_per_amplitude()
    assert snr_of(amplitude, background, psf) == pytest.approx((peak - background) / np.sqrt(peak))


def test_arrays_broadcast():
    psf = GaussianPSF(1.0)
    snr = np.array([1.0, 2.0, 4.0, 7.0])
    amplitude = photons_for_snr(snr, 10.0, psf)
    assert amplitude.shape == (4,)
    assert np.all(np.diff(amplitude) > 0)
    np.testing.assert_allclose(snr_of(amplitude, np.full(4, 10.0), psf), snr)
    assert isinstance(photons_for_snr(4.0, 10.0, psf), float)


@pytest.mark.parametrize("psf", PSFS[:4], ids=repr)
def test_snr_measured_from_noiseless_image(psf):
    background, snr = 20.0, 4.0
    amplitude = photons_for_snr(snr, background, psf)
    image = render_frame((64, 64), 32.0, 32.0, amplitude, psf, background)
    peak = image.max()
    assert image[32, 32] == peak
    assert (peak - background) / np.sqrt(peak) == pytest.approx(snr, rel=1e-9)


def test_dark_ring_snr_uses_dark_centre_and_stays_physical():
    psf = RingPSF(4.0, contrast=-1.0)
    background = 100.0
    for snr in (1.0, 4.0, 30.0, 300.0):
        amplitude = photons_for_snr(snr, background, psf)
        image = render_frame((64, 64), 32.0, 32.0, amplitude, psf, background)
        centre = image[32, 32]
        assert centre == image.min()
        assert centre > 0  # never asks for negative photons
        assert (background - centre) / np.sqrt(centre) == pytest.approx(snr, rel=1e-9)


def test_snr_measured_from_noisy_frames(rng):
    # The ISBI SNR measured as (mean peak - mean background) / sqrt(mean peak) on camera data.
    psf, background, snr = GaussianPSF(1.0), 10.0, 3.0
    amplitude = photons_for_snr(snr, background, psf)
    camera = Camera(offset_adu=100.0, gain_adu_per_e=2.0)
    frames = np.stack(
        [
            camera.to_photons(
                render_frame(
                    (32, 32), 16.0, 16.0, amplitude, psf, background, camera=camera, rng=rng
                )
            )
            for _ in range(400)
        ]
    )
    peak = frames[:, 16, 16].mean()
    bg = frames[:, :5, :5].mean()
    assert (peak - bg) / np.sqrt(peak) == pytest.approx(snr, rel=0.03)
    assert frames[:, 16, 16].std() == pytest.approx(np.sqrt(peak), rel=0.1)


@pytest.mark.parametrize(
    ("snr", "background"), [(-1.0, 10.0), (2.0, -3.0), (np.nan, 1.0), ("x", 1.0)]
)
def test_bad_input_raises_input_error(snr, background):
    with pytest.raises(InputError):
        photons_for_snr(snr, background, GaussianPSF(1.0))
    with pytest.raises(InputError):
        snr_of(snr, background, GaussianPSF(1.0))


def test_dark_particle_without_background_raises_input_error():
    with pytest.raises(InputError, match="dark-centred"):
        photons_for_snr(2.0, 0.0, RingPSF(4.0, -1.0))
    assert photons_for_snr(0.0, 0.0, RingPSF(4.0, -1.0)) == 0.0


def test_zero_photons_give_zero_snr():
    assert snr_of(0.0, 0.0, GaussianPSF(1.0)) == 0.0
    assert photons_for_snr(0.0, 5.0, GaussianPSF(1.0)) == 0.0
