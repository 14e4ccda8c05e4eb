"""Burned-in timestamps and scale bars are found, painted over, and never taken for particles."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

import livetrack
from livetrack import evaluate, simulate
from livetrack.localize import overlay_mask, remove_overlays


def _with_overlay(frames: np.ndarray, fill: int = 255) -> np.ndarray:
    font = ImageFont.load_default(size=16)
    out = []
    h, w = frames.shape[1:]
    for t, frame in enumerate(frames):
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        draw.text((w - 110, h - 24), f"t = {t * 0.05:05.2f} s", fill=fill, font=font)
        draw.rectangle([8, h - 10, 60, h - 6], fill=fill)  # scale bar
        draw.text((12, h - 32), "10 um", fill=fill, font=font)
        out.append(np.asarray(image))
    return np.stack(out)


def _clear_of(movie, marked, reach_px=12.0):
    """Truth rows of particles whose centre is over ``reach_px`` from any drawn pixel."""
    drawn = (marked != movie.frames).any(axis=0)
    distance = ndimage.distance_transform_edt(~drawn)
    t = movie.truth
    rows = np.clip(np.rint(t["y"]).astype(int), 0, drawn.shape[0] - 1)
    cols = np.clip(np.rint(t["x"]).astype(int), 0, drawn.shape[1] - 1)
    return t[distance[rows, cols] > reach_px]


@pytest.fixture(scope="module")
def spheres():
    return simulate.compressed_spheres(n_frames=8, shape=(256, 256), n_particles=5, seed=11)


def test_timestamp_and_scale_bar_are_masked(spheres):
    marked = _with_overlay(spheres.frames)
    mask = overlay_mask(marked)
    drawn = marked != spheres.frames
    # Every drawn pixel that stands out is covered, in every frame (digits change).
    strong = drawn & (np.abs(marked.astype(int) - spheres.frames.astype(int)) > 60)
    assert mask[strong].all()
    # No particle centre clear of the drawing is hidden.
    clear = _clear_of(spheres, marked)
    assert len(clear) > 0.5 * len(spheres.truth)
    for t, x, y in clear[["frame", "x", "y"]].itertuples(index=False):
        assert not mask[int(t), round(y), round(x)]


def test_no_overlay_no_mask(spheres, rng):
    assert not overlay_mask(spheres.frames).any()
    # Still, bright spots barely above their photon noise do not look drawn.
    still = simulate.simulate_movie(n_frames=6, n_particles=20, shape=(96, 96), snr=50, seed=3)
    assert not overlay_mask(still.frames).any()
    assert not overlay_mask(spheres.frames[:1]).any()  # one frame: nothing is static
    frames, mask = remove_overlays(spheres.frames)
    assert frames is spheres.frames and not mask.any()


@pytest.mark.parametrize("compressed", [False, True])
def test_particles_found_and_overlays_ignored(spheres, compressed):
    marked = _with_overlay(spheres.frames)
    clear = _clear_of(spheres, marked)
    if compressed:
        marked = simulate.h264_roundtrip(marked, crf=28)
    found = livetrack.locate(marked)
    assert evaluate.score(clear, found, gate_px=3).recall >= 0.98
    # Nothing is found on the overlays: every detection is a particle.
    assert evaluate.score(spheres.truth, found, gate_px=3).fp <= 1


def test_dark_text_on_a_bright_background():
    movie = simulate.brightfield_rings(n_frames=8, seed=2)
    marked = _with_overlay(movie.frames, fill=0)
    assert overlay_mask(marked).any()
    found = livetrack.locate(marked)
    assert evaluate.score(_clear_of(movie, marked), found, gate_px=3).recall >= 0.98
    assert evaluate.score(movie.truth, found, gate_px=3).fp <= 1
