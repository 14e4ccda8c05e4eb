import livetrack.simulate as simulate

PUBLIC = {
    "PSF",
    "TRUTH_COLUMNS",
    "AiryPSF",
    "Camera",
    "Dynamics",
    "GaussianPSF",
    "Illumination",
    "IlluminationState",
    "Movie",
    "ParticleState",
    "ProfilePSF",
    "RingPSF",
    "photons_for_snr",
    "read_movie",
    "render_frame",
    "simulate_movie",
    "snr_of",
    "write_movie",
    # Real-video look-alikes and the degradations they are made with.
    "DarkPSF",
    "LOOKALIKES",
    "add_correlated_noise",
    "brightfield_rings",
    "compressed_spheres",
    "dark_colloids",
    "h264_roundtrip",
    "lookalike_movie",
    "quantize_8bit",
    "cluttered_spots",
    # What real frames hold beside the particles.
    "blob_photons",
    "block_compress",
    "draw_overlay",
    "rod_photons",
}


def test_public_names_are_pinned():
    assert set(simulate.__all__) == PUBLIC
    for name in PUBLIC - {"TRUTH_COLUMNS", "LOOKALIKES"}:
        assert getattr(simulate, name).__module__.startswith("livetrack.simulate._")


def test_options_are_frozen_dataclasses():
    import dataclasses

    import pytest

    for cls in (simulate.GaussianPSF, simulate.AiryPSF, simulate.RingPSF, simulate.Camera):
        obj = cls()
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.__setattr__(dataclasses.fields(obj)[0].name, 2.0)
    for cls in (simulate.Illumination, simulate.Dynamics):
        obj = cls()
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.__setattr__(dataclasses.fields(obj)[0].name, 0.5)
