"""Things in real microscope images that are not the particles being tracked.

Real frames hold more than particles and noise: out-of-focus particles drift through as
wide faint blobs, bacteria and debris make elongated shapes, and acquisition software burns
timestamps, labels and scale bars into the pixels. A localizer trained only on clean spots
calls all of these particles. Each function here renders one kind, so training data and
benchmark scenes can add them beside the particles, never labelled as particles.

Blobs and rods are expected photons (they go through the camera with everything else);
overlays are drawn into the camera's output, as the software that burns them in does.
"""

from __future__ import annotations

import math

import numpy as np

from livetrack._errors import InputError

__all__ = ["blob_photons", "block_compress", "draw_overlay", "rod_photons"]


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise InputError(f"shape must be positive, got {shape}")
    return np.arange(h, dtype=np.float64)[:, None], np.arange(w, dtype=np.float64)[None, :]


def blob_photons(
    shape: tuple[int, int],
    rng: np.random.Generator,
    count: int,
    sigma_px: tuple[float, float] = (4.0, 10.0),
    peak_photons: tuple[float, float] = (1.0, 20.0),
) -> np.ndarray:
    """Render out-of-focus particles: wide isotropic Gaussian blobs.

    Parameters
    ----------
    shape
        Frame ``(height, width)``.
    rng
        Source of positions, widths and heights.
    count
        Number of blobs; their centres may lie up to one width outside the frame.
    sigma_px
        Range of the blobs' Gaussian standard deviation.
    peak_photons
        Range (log-uniform) of their peak, in expected photons per pixel.

    Returns
    -------
    numpy.ndarray
        ``shape`` float64 expected photons (zero where there is no blob).
    """
    rows, cols = _grid(shape)
    out = np.zeros((rows.size, cols.size))
    for _ in range(int(count)):
        s = float(rng.uniform(*sigma_px))
        x0 = float(rng.uniform(-s, cols.size - 1 + s))
        y0 = float(rng.uniform(-s, rows.size - 1 + s))
        peak = math.exp(rng.uniform(math.log(peak_photons[0]), math.log(peak_photons[1])))
        out += peak * np.exp(-((cols - x0) ** 2 + (rows - y0) ** 2) / (2 * s * s))
    return out


def rod_photons(
    shape: tuple[int, int],
    rng: np.random.Generator,
    count: int,
    length_sigma_px: tuple[float, float] = (4.0, 10.0),
    width_sigma_px: tuple[float, float] = (0.8, 1.6),
    peak_photons: tuple[float, float] = (2.0, 60.0),
) -> np.ndarray:
    """Render elongated distractors (bacteria, fibres, debris): rotated anisotropic Gaussians.

    The long axis is at least 3 times the short one, so no rod is a round particle seen
    slightly astigmatically, nor two overlapping spots (whose joint image is at most about
    twice as long as wide where a localizer can still separate them).

    Parameters
    ----------
    shape
        Frame ``(height, width)``.
    rng
        Source of positions, orientations, sizes and heights.
    count
        Number of rods.
    length_sigma_px, width_sigma_px
        Ranges of the standard deviation along and across the rod.
    peak_photons
        Range (log-uniform) of the peak, in expected photons per pixel.

    Returns
    -------
    numpy.ndarray
        ``shape`` float64 expected photons.
    """
    rows, cols = _grid(shape)
    out = np.zeros((rows.size, cols.size))
    for _ in range(int(count)):
        across = float(rng.uniform(*width_sigma_px))
        along = max(float(rng.uniform(*length_sigma_px)), 3.0 * across)
        angle = float(rng.uniform(0.0, math.pi))
        x0 = float(rng.uniform(-along, cols.size - 1 + along))
        y0 = float(rng.uniform(-along, rows.size - 1 + along))
        peak = math.exp(rng.uniform(math.log(peak_photons[0]), math.log(peak_photons[1])))
        u = (cols - x0) * math.cos(angle) + (rows - y0) * math.sin(angle)
        v = -(cols - x0) * math.sin(angle) + (rows - y0) * math.cos(angle)
        out += peak * np.exp(-0.5 * ((u / along) ** 2 + (v / across) ** 2))
    return out


def _glyph(rng: np.random.Generator, height: int, width: int, stroke: int) -> np.ndarray:
    """Draw a random character-like bitmap: strokes along a grid, as a pixel font does."""
    glyph = np.zeros((height, width), bool)
    for _ in range(int(rng.integers(2, 5))):
        if rng.random() < 0.5:  # a horizontal stroke at the top, middle or bottom
            r = int(rng.choice([0, (height - stroke) // 2, height - stroke]))
            c0, c1 = sorted(int(v) for v in rng.integers(0, width + 1, size=2))
            glyph[r : r + stroke, c0 : max(c1, c0 + stroke)] = True
        else:  # a vertical one at the left, middle or right
            c = int(rng.choice([0, (width - stroke) // 2, width - stroke]))
            r0, r1 = sorted(int(v) for v in rng.integers(0, height + 1, size=2))
            glyph[r0 : max(r1, r0 + stroke), c : c + stroke] = True
    return glyph


def draw_overlay(
    image: np.ndarray, rng: np.random.Generator, level: float | None = None
) -> np.ndarray:
    """Burn a text label or a scale bar into a frame, as acquisition software does.

    Parameters
    ----------
    image
        2-D frame in the camera's units; not modified.
    rng
        Source of the overlay's kind, place, size and text.
    level
        Grey value of the overlay's pixels; None draws it at the frame's maximum or
        minimum (white or black text), at random.

    Returns
    -------
    numpy.ndarray
        A copy of ``image`` (same dtype) with the overlay's pixels set to ``level``.
    """
    out = np.array(image, copy=True)
    if out.ndim != 2 or out.size == 0:
        raise InputError(f"image must be a non-empty 2-D frame, got shape {out.shape}")
    h, w = out.shape
    if level is None:
        level = float(out.max() if rng.random() < 0.7 else out.min())
    mask = np.zeros((h, w), bool)
    if rng.random() < 0.3:  # a scale bar: a filled bar, often near a corner
        bar_h = int(rng.integers(2, 7))
        bar_w = int(rng.integers(min(w, 12), max(min(w, 12) + 1, w // 2)))
        r = int(rng.integers(0, max(1, h - bar_h)))
        c = int(rng.integers(0, max(1, w - bar_w)))
        mask[r : r + bar_h, c : c + bar_w] = True
    else:  # a line of text: a timestamp, a frame number, a label
        scale = int(rng.integers(1, 3))
        gh, gw = 7 * scale, 5 * scale
        n = int(rng.integers(3, 12))
        r = int(rng.integers(0, max(1, h - gh)))
        c = int(rng.integers(0, max(1, w - gw)))
        for _ in range(n):
            if c + gw > w:
                break
            # A frame lower than the font cuts the glyphs, as a label at the edge is cut.
            mask[r : r + gh, c : c + gw] |= _glyph(rng, gh, gw, scale)[: h - r]
            c += gw + scale
    out[mask] = np.asarray(level).astype(out.dtype)
    return out


def block_compress(image: np.ndarray, step: float) -> np.ndarray:
    """Quantize 8x8 blocks in the DCT domain, as JPEG and intra-coded video frames do.

    The coefficients of each block are rounded to multiples of ``step`` times a weight that
    grows with spatial frequency, which leaves the block edges and the loss of fine texture
    that compressed video shows. It is a cheap stand-in for a codec, fast enough to apply to
    every training patch.

    Parameters
    ----------
    image
        2-D frame; its height and width need not be multiples of 8 (the edge is padded).
    step
        Quantization step of the lowest frequencies, in the image's units (0 returns a
        float copy).

    Returns
    -------
    numpy.ndarray
        float64 frame of the same shape.
    """
    from scipy.fft import dctn, idctn

    frame = np.asarray(image, dtype=np.float64)
    if frame.ndim != 2 or frame.size == 0:
        raise InputError(f"image must be a non-empty 2-D frame, got shape {frame.shape}")
    if not (math.isfinite(step) and step >= 0):
        raise InputError(f"step must be a finite number >= 0, got {step!r}")
    if step == 0:
        return frame.copy()
    h, w = frame.shape
    ph, pw = -h % 8, -w % 8
    padded = np.pad(frame, ((0, ph), (0, pw)), mode="edge")
    blocks = padded.reshape(padded.shape[0] // 8, 8, padded.shape[1] // 8, 8).swapaxes(1, 2)
    coeffs = dctn(blocks, axes=(2, 3), norm="ortho")
    freq = np.arange(8)
    weight = 1.0 + 0.35 * (freq[:, None] + freq[None, :])
    q = step * weight
    coeffs = np.rint(coeffs / q) * q
    out = idctn(coeffs, axes=(2, 3), norm="ortho").swapaxes(1, 2).reshape(padded.shape)
    return out[:h, :w]
