import tomllib

import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.calibrate import (
    calibrate_camera,
    calibrate_model,
    calibrate_psf,
    closest_shipped_model,
    find_calibrations,
    model_recipe,
    read_calibration,
    recipe_toml,
)
from livetrack.simulate import Camera, GaussianPSF, RingPSF, simulate_movie

EMCCD = Camera(
    quantum_efficiency=0.9, gain_adu_per_e=0.05, offset_adu=400.0, read_noise_e=30.0, em_gain=200.0
)


def _camera(camera: Camera, shape, rng, em=False):
    stacks = [camera.expose(np.full((60, *shape), p), rng) for p in (0.0, 5.0, 20.0, 80.0)]
    return calibrate_camera(stacks, em=em)


@pytest.fixture(scope="module")
def spots_conditions():
    rng = np.random.default_rng(7)
    movie = simulate_movie(
        n_frames=4,
        shape=(96, 96),
        n_particles=12,
        psf=GaussianPSF(3.5),
        snr=(4.0, 10.0),
        background_photons=20.0,
        camera=EMCCD,
        min_separation_px=14,
        seed=3,
    )
    camera = _camera(EMCCD, (96, 96), rng, em=True)
    return camera, calibrate_psf(movie.frames, camera=camera)


def test_recipe_matches_the_measured_spots(spots_conditions):
    camera, psf = spots_conditions
    assert closest_shipped_model(psf) == "spots"
    cfg = model_recipe(psf, camera, name="mine", steps=100)
    lo, hi = cfg.data.sigma_px
    assert lo < 3.5 < hi and hi < 4.0  # around the measured width, outside spots' 0.7-3
    assert cfg.data.em_fraction == 1.0 and cfg.data.airy_fraction == 0.0
    from livetrack.model import load_model

    assert cfg.optim.init_from == "spots" and cfg.model == load_model("spots").net
    assert cfg.validation.sigma_px == pytest.approx(psf.sigma_px)
    bg_lo, bg_hi = cfg.data.background_photons_log
    assert bg_lo < 20.0 < bg_hi
    from livetrack.train import config_from_dict

    assert config_from_dict(tomllib.loads(recipe_toml(cfg))) == cfg  # what it saves reloads


def test_recipe_of_dark_rings_starts_from_the_ring_model(rng):
    camera = Camera(gain_adu_per_e=2.0, offset_adu=100.0, read_noise_e=2.0)
    movie = simulate_movie(
        n_frames=4,
        shape=(160, 160),
        n_particles=8,
        psf=RingPSF(9.0, -0.8, 8.0),
        snr=(6.0, 12.0),
        background_photons=100.0,
        camera=camera,
        min_separation_px=30,
        seed=4,
    )
    cal = _camera(camera, (160, 160), rng)
    psf = calibrate_psf(movie.frames, camera=cal)
    assert closest_shipped_model(psf) == "rings"
    cfg = model_recipe(psf, cal)
    assert cfg.data.psf == "ring" and cfg.data.dark_ring_fraction == 1.0
    lo, hi = cfg.data.ring_radius_px
    assert lo < 9.0 < hi
    lo, hi = cfg.data.ring_envelope_ratio
    assert lo < 8.0 / 9.0 < hi


def test_mismatched_camera_is_refused(spots_conditions, tmp_path, rng):
    _, psf = spots_conditions
    other = _camera(Camera(offset_adu=100.0), (32, 32), rng)
    with pytest.raises(InputError, match="for 32x32 frames, the particle") as info:
        calibrate_model(other, psf, tmp_path / "m", steps=2, quick=True, progress=False)
    assert "\n" not in str(info.value)


def test_fine_tune_resumes_and_writes_a_usable_model(spots_conditions, tmp_path, monkeypatch):
    from livetrack.train import _loop

    camera, psf = spots_conditions
    monkeypatch.setenv("LIVETRACK_MODEL_PATH", str(tmp_path))
    real_step = _loop._step

    def interrupted(run, config, lr):
        if run.step == 8:
            raise KeyboardInterrupt  # the user pressed Ctrl-C after 8 steps
        return real_step(run, config, lr)

    monkeypatch.setattr(_loop, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        calibrate_model(camera, psf, tmp_path / "mine", steps=12, quick=True, progress=False)
    assert (tmp_path / "mine" / "checkpoint.pt").is_file()  # saved at step 5
    monkeypatch.setattr(_loop, "_step", real_step)
    result = calibrate_model(
        camera, psf, tmp_path / "mine", steps=12, quick=True, progress=False, resume=True
    )
    assert result.steps == 12 and result.base_model == "spots"
    log = pd.read_csv(tmp_path / "mine" / "train_log.csv")
    assert log["step"].tolist() == [5, 10]  # one session continued, not restarted
    assert not (tmp_path / "mine" / "checkpoint.pt").exists()

    report = result.report.set_index("localizer")
    assert {"mine", "spots (shipped)", "centroid", "radial", "mle"} <= set(report.index)
    assert (report["crlb_px"] > 0).all() and report["jaccard"].between(0, 1).all()
    assert (tmp_path / "mine" / "calibration_report.md").read_text().count("|") > 20

    header, body, _ = read_calibration(tmp_path / "mine", "model")
    assert header.frame_shape == (96, 96) and body["base_model"] == "spots"
    assert any(e.path.parent.name == "mine" for e in find_calibrations())

    from livetrack.model import load_model

    spec = load_model("mine")  # usable by name from the model search path
    # The refinement that measured best on the conditions' movies is the one kept.
    tried = spec.metadata["refinement_measured_conditions"]
    assert set(tried) == {"none", "gaussian", "gaussian, measured size"}
    assert body["refinement"]["mode"] == spec.refine
    best = min(tried, key=tried.get)
    assert spec.refine == ("none" if best == "none" else "gaussian")
    assert spec.metadata["refine"] == (
        {"half_px": 11, "sigma_px": psf.sigma_px} if "size" in best else {}
    )
    # The threshold was chosen again on movies through the measured (EM) camera.
    chosen = spec.metadata["threshold_measured_conditions"]
    assert spec.threshold == chosen["threshold"] == body["threshold"]
    assert 0.1 <= spec.threshold <= 0.95 and 0 < chosen["mean_jaccard"] <= 1
    assert body["threshold_recipe_validation"] == spec.metadata["threshold_recipe_validation"]


def test_a_folder_of_something_else_is_not_overwritten(spots_conditions, tmp_path):
    camera, psf = spots_conditions
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a calibrated model"):
        calibrate_model(camera, psf, tmp_path / "data", steps=2, quick=True, progress=False)
    assert (tmp_path / "data" / "keep.txt").read_text() == "mine"


def test_particles_no_model_fits_train_as_their_measured_profile(spots_conditions):
    import dataclasses

    from livetrack.calibrate import measured_scene
    from livetrack.simulate import ProfilePSF
    from livetrack.train import config_from_dict
    from livetrack.train._data import make_batch

    camera, psf = spots_conditions
    dark = dataclasses.replace(psf, model="profile", polarity="dark")
    cfg = model_recipe(dark, camera, steps=10, quick=True)
    assert cfg.data.psf == "profile"
    r, values = cfg.data.profile_r_px, cfg.data.profile
    assert r[0] == 0.0 and len(r) == len(values) and values[0] == pytest.approx(-psf.profile[0])
    assert config_from_dict(tomllib.loads(recipe_toml(cfg))) == cfg
    # The training patches and the measured-condition movie render that profile.
    batch = make_batch(cfg.data, np.random.default_rng(0), 2, 2, 0.5)
    assert np.isfinite(batch.images).all()
    movie, image = measured_scene(dark, camera, n_frames=1, shape=(64, 64), n_particles=3)
    assert isinstance(image, ProfilePSF) and image.peak_per_amplitude() < 0
    assert len(movie.truth) == 3
