import numpy as np
import pytest

from livetrack.evaluate import crlb_gaussian
from livetrack.infer._refine import photon_scale_from_camera, refine_gaussian
from livetrack.model import normalize_frame
from livetrack.simulate import Camera, GaussianPSF, ProfilePSF, RingPSF, render_frame


def spots_frame(rng, xs, ys, photons=2000.0, sigma=1.3, background=10.0, camera=None):
    camera = camera or Camera(offset_adu=100.0)
    frame = render_frame(
        (48, 48), xs, ys, photons, GaussianPSF(sigma), background, None, camera, rng
    )
    norm, _, noise = normalize_frame(camera.to_photons(frame))
    return norm, noise, camera


def test_fit_recovers_positions_near_the_bound(rng):
    xs, ys = np.array([10.3, 30.7, 20.1]), np.array([12.6, 15.2, 35.45])
    errors = []
    for _ in range(30):
        norm, _, _ = spots_frame(rng, xs, ys, photons=500.0)
        start_x, start_y = xs + rng.uniform(-0.4, 0.4, 3), ys + rng.uniform(-0.4, 0.4, 3)
        r = refine_gaussian(norm, start_x, start_y)
        assert r.ok.all()
        errors.append(np.concatenate([r.x - xs, r.y - ys]))
    rmse_x = np.sqrt(np.mean(np.square(errors)))
    bound = float(crlb_gaussian(500.0, 10.0, 1.3))
    assert rmse_x < 1.25 * bound
    assert np.isfinite(r.sigma_x).all() and (r.sigma_x > 0).all()


def test_camera_scale_and_estimated_scale_agree(rng):
    xs, ys = np.array([10.3, 30.7, 20.1, 35.0]), np.array([12.6, 15.2, 35.45, 30.0])
    norm, noise, camera = spots_frame(rng, xs, ys, photons=800.0)
    known = refine_gaussian(norm, xs, ys, scale=photon_scale_from_camera(camera, noise))
    estimated = refine_gaussian(norm, xs, ys)
    assert np.allclose(known.x, estimated.x, atol=0.02)
    assert np.allclose(known.sigma_x, estimated.sigma_x, rtol=0.35)
    expected = float(crlb_gaussian(800.0, 10.0, 1.3))
    assert known.sigma_x == pytest.approx(np.full(4, expected), rel=0.3)


def test_photon_scale_of_cameras():
    assert photon_scale_from_camera(Camera(), 4.0) == 4.0
    assert photon_scale_from_camera(Camera(em_gain=100.0), 4.0) == 2.0
    assert photon_scale_from_camera(Camera(quantum_efficiency=0.5), 4.0) == 2.0


def test_no_detections_and_border_detections(rng):
    norm, _, _ = spots_frame(rng, np.array([0.2, 2.2]), np.array([47.1, 20.0]))
    empty = refine_gaussian(norm, np.empty(0), np.empty(0))
    assert empty.x.size == 0
    r = refine_gaussian(norm, np.array([0.0, 2.0]), np.array([47.0, 20.0]))
    assert list(r.ok) == [False, True]  # cut spots keep the network's position
    assert abs(r.x[1] - 2.2) < 0.15 and abs(r.y[1] - 20.0) < 0.15


def test_fit_on_pure_noise_is_flagged_or_stays_close(rng):
    norm = rng.standard_normal((32, 32))
    start = np.array([10.0, 20.0])
    r = refine_gaussian(norm, start, start)
    moved = np.hypot(r.x - start, r.y - start)
    assert (~r.ok | (moved < 1.5)).all()


@pytest.mark.parametrize("contrast", [1.0, -1.0])
def test_radial_refinement_centres_rings(rng, contrast):
    from livetrack.infer._refine import refine_radial
    from livetrack.simulate import RingPSF

    xs, ys = np.array([15.3, 30.8]), np.array([16.6, 31.2])
    camera = Camera(offset_adu=100.0)
    psf = RingPSF(radius_px=4.0, contrast=contrast)
    frame = render_frame((48, 48), xs, ys, 3000.0, psf, 1000.0, None, camera, rng)
    norm, _, _ = normalize_frame(camera.to_photons(frame))
    r = refine_radial(norm, np.rint(xs) + 0.3, np.rint(ys) - 0.3)
    assert r.ok.all()
    assert np.abs(r.x - xs).max() < 0.1 and np.abs(r.y - ys).max() < 0.1
    assert np.isnan(r.sigma_x).all()


def _pair_frame(rng, shape=(64, 64), smooth_px=0.0):
    """Six isolated spots and a pair 2.6 px apart, normalized; truth and detections."""
    from scipy import ndimage

    lone_x = np.array([10.0, 50.0, 12.0, 52.0, 30.0, 31.0])
    lone_y = np.array([10.0, 12.0, 50.0, 52.0, 9.0, 54.0])
    pair_x, pair_y = np.array([30.0, 32.4]), np.array([31.0, 32.0])
    xs, ys = np.r_[lone_x, pair_x], np.r_[lone_y, pair_y]
    camera = Camera(offset_adu=100.0)
    frame = render_frame(shape, xs, ys, 800.0, GaussianPSF(1.0), 10.0, None, camera, rng)
    photons = camera.to_photons(frame).astype(float)
    if smooth_px:
        photons = ndimage.gaussian_filter(photons, smooth_px)
    norm, _, _ = normalize_frame(photons)
    # What a detector with 2 px output cells reports: one position for the pair.
    det_x = np.r_[lone_x, pair_x.mean()] + rng.uniform(-0.2, 0.2, 7)
    det_y = np.r_[lone_y, pair_y.mean()] + rng.uniform(-0.2, 0.2, 7)
    return norm, xs, ys, det_x, det_y


def test_noise_correlation_tells_white_from_smoothed_noise_and_ignores_stripes(rng):
    from livetrack.infer._refine import WHITE_NOISE_CORRELATION, noise_correlation

    white = rng.standard_normal((200, 200))
    none = np.empty(0)
    assert abs(noise_correlation(white, none, none, 1.0)) < 0.05
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(white, 0.8)
    assert noise_correlation(smooth, none, none, 1.0) > 2 * WHITE_NOISE_CORRELATION
    stripes = white + rng.normal(0, 2, 200)[None, :] + rng.normal(0, 1, 200)[:, None]
    assert abs(noise_correlation(stripes, none, none, 1.0)) < 0.05


def test_crowded_refinement_splits_a_merged_pair_in_shot_noise(rng):
    from livetrack.infer._refine import refine_crowded

    norm, xs, ys, det_x, det_y = _pair_frame(rng)
    r, parent = refine_crowded(norm, refine_gaussian(norm, det_x, det_y))
    assert r.x.size == 8 and parent[-1] == 6
    assert r.ok.all()
    d = np.hypot(r.x[:, None] - xs[None], r.y[:, None] - ys[None]).min(axis=0)
    assert d.max() < 0.3


def test_crowded_refinement_does_not_split_in_smoothed_noise(rng):
    # Correlated camera noise breaks the shot-noise likelihood the pair test relies on.
    from livetrack.infer._refine import refine_crowded

    norm, _, _, det_x, det_y = _pair_frame(rng, smooth_px=0.8)
    r, parent = refine_crowded(norm, refine_gaussian(norm, det_x, det_y))
    assert r.x.size == 7 and (parent == np.arange(7)).all()


@pytest.fixture(scope="module")
def crowded_movie():
    """60 spots of sigma 1 px in 160 x 160 px at SNR 7: a few dozen pairs closer than 4 px."""
    from livetrack.simulate import simulate_movie

    return simulate_movie(
        n_frames=2,
        shape=(160, 160),
        n_particles=60,
        psf=GaussianPSF(1.0),
        snr=7.0,
        seed=5,
        background_photons=10.0,
    )


def test_locate_resolves_close_pairs_of_a_crowded_field(crowded_movie):
    import livetrack
    from livetrack import evaluate

    movie = crowded_movie
    found = livetrack.locate(movie.frames)
    fast = livetrack.locate(movie.frames, refine=False)
    refined, network = (evaluate.score(movie.truth, t, gate_px=2.0) for t in (found, fast))
    assert refined.recall > network.recall
    assert refined.rmse < 0.8 * network.rmse


def _ring_frame(rng, psf, n_side=4, spacing=36.0, amplitude=150.0, background=100.0):
    g = np.arange(spacing / 2 + 4, n_side * spacing, spacing)
    xs, ys = (a.ravel() + rng.uniform(-0.5, 0.5, g.size**2) for a in np.meshgrid(g, g))
    shape = (int(n_side * spacing + 8),) * 2
    camera = Camera(offset_adu=100.0)
    frame = render_frame(shape, xs, ys, amplitude, psf, background, None, camera, rng)
    norm, _, _ = normalize_frame(camera.to_photons(frame))
    return norm, xs, ys


@pytest.mark.parametrize(
    "psf",
    [
        RingPSF(radius_px=4.0, contrast=1.0),
        RingPSF(radius_px=4.0, contrast=-1.0),
        ProfilePSF(
            tuple(np.linspace(0, 14, 57)),
            tuple(
                -np.cos(np.pi * (np.linspace(0, 14, 57) / 3.2) ** 2)
                * np.exp(-np.linspace(0, 14, 57) / 6)
            ),
        ),
    ],
    ids=["bright rings", "dark rings", "Fresnel-like profile"],
)
def test_profile_fit_beats_radial_symmetry(rng, psf):
    from livetrack.infer._refine import refine_profile, refine_radial

    radial_err, profile_err = [], []
    smoothing = None
    for _ in range(4):
        norm, xs, ys = _ring_frame(rng, psf)
        start_x, start_y = (
            xs + rng.uniform(-0.4, 0.4, xs.size),
            ys + rng.uniform(-0.4, 0.4, xs.size),
        )
        radial = refine_radial(norm, start_x, start_y)
        fitted, smoothing = refine_profile(norm, radial, smoothing=smoothing)
        assert fitted.ok.all() and smoothing is not None
        radial_err.append(np.hypot(radial.x - xs, radial.y - ys))
        profile_err.append(np.hypot(fitted.x - xs, fitted.y - ys))
    rmse_radial = np.sqrt(np.mean(np.square(radial_err)))
    rmse_profile = np.sqrt(np.mean(np.square(profile_err)))
    assert rmse_profile < 0.8 * rmse_radial


def test_profile_fit_needs_a_few_particles(rng):
    from livetrack.infer._refine import refine_profile, refine_radial

    norm, xs, ys = _ring_frame(rng, RingPSF(radius_px=4.0), n_side=1)
    fitted, smoothing = refine_profile(norm, refine_radial(norm, xs, ys))
    assert not fitted.ok.any() and smoothing is None
    assert np.array_equal(fitted.x, refine_radial(norm, xs, ys).x)


def test_live_localizers_skip_the_crowded_fits(crowded_movie):
    from livetrack.registry import make_localizer

    assert make_localizer("cnn", live=True).crowded is False
    assert make_localizer("auto", live=True).crowded is False
    assert make_localizer("cnn").crowded is True
    assert make_localizer("cnn", live=True, crowded=True).crowded is True
    movie = crowded_movie
    full = make_localizer("cnn").locate(movie.frames[0])
    live = make_localizer("cnn", live=True).locate(movie.frames[0])
    plain = make_localizer("cnn", refine=False).locate(movie.frames[0])
    # Live keeps one detection per network peak, as the network found them.
    assert len(live) == len(plain) < len(full)
