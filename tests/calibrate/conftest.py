"""Synthetic inputs with known truth for the calibration tests."""

import numpy as np
import pytest

from livetrack.simulate import Camera


def light_levels(camera: Camera, photons, frames: int, shape, rng) -> list[np.ndarray]:
    """Stacks of ``frames`` frames at each constant photon level (0 = dark frames)."""
    return [camera.expose(np.full((frames, *shape), float(p)), rng) for p in photons]


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path, monkeypatch):
    # A test never reads or writes the real user's calibrations or models.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.delenv("LIVETRACK_MODEL_PATH", raising=False)
