"""Burned-in overlays (timestamps, scale bars, labels) found and removed from a movie.

Videos from papers and acquisition software often carry text and scale bars drawn into the
pixels. They are the strongest small features of the frame, so a detector takes them for
particles and a size measurement takes their strokes for the particles' size. What sets
them apart from anything a microscope images: they do not change from frame to frame, their
edges are sharp to the pixel (an optical image is blurred by the point spread function),
and they are thin strokes or filled rectangles at the extreme grey levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

__all__ = [
    "OverlayPlan",
    "apply_overlay_plan",
    "overlay_mask",
    "plan_overlays",
    "remove_overlays",
]

# Frames the static test looks at, spread over the movie.
_SAMPLE_FRAMES = 8
# A static pixel changes over the sample by at most this fraction of the movie's grey-level
# range, or half the typical pixel's change, whichever is larger (an overlay drawn into the
# pixels does not change; anything imaged carries the camera's noise) ...
_STATIC = 0.01
# ... but never by more than this fraction.
_STATIC_MAX = 0.03
# A sharp pixel differs from a 4-neighbour by at least this fraction of the range: a pixel's
# neighbour in an optical image, blurred by the point spread function (sigma >= 1 px),
# keeps over 60 % of its contrast.
_SHARP = 0.4
# Connected static sharp pixels a glyph has at least.
_GLYPH_MIN_PX = 6
# Glyphs of one line of text are at most this far apart (px).
_GLYPH_GAP_PX = 11
# Strokes of changing text (a timestamp's digits) near static overlay pixels differ from
# their neighbourhood by this fraction ...
_STROKE = 0.1
# ... within this many pixels of the static overlay.
_TEXT_REACH_PX = 12
# A filled rectangle (scale bar) at the extreme grey levels: this much longer than wide ...
_BAR_ASPECT = 3.0
# ... at least this long, and filling its bounding box to this fraction.
_BAR_MIN_PX = 8
_BAR_FILL = 0.9
# Overlay pixels are grown by this much: anti-aliased edges, and the ringing that lossy
# compression (H.264, JPEG) leaves around sharp strokes.
_GROW_PX = 3
# Width of the Gaussian that continues the surroundings into the painted-over pixels.
_FILL_SIGMA_PX = 4.0
# Grey levels within this fraction of the movie's extremes count as extreme.
_EXTREME = 0.05


def _jump(image: np.ndarray) -> np.ndarray:
    """Largest absolute difference of each pixel to one of its 4 neighbours."""
    jump = np.zeros(image.shape, dtype=np.float32)
    for axis in (0, 1):
        step = np.abs(np.diff(image, axis=axis))
        lead = [slice(None)] * 2
        lead[axis] = slice(1, None)
        trail = [slice(None)] * 2
        trail[axis] = slice(None, -1)
        jump[tuple(lead)] = np.maximum(jump[tuple(lead)], step)
        jump[tuple(trail)] = np.maximum(jump[tuple(trail)], step)
    return jump


def _static_seeds(sample: np.ndarray, lo: float, span: float) -> np.ndarray:
    """Pixels that belong to a static overlay in every frame of ``sample``."""
    median = np.median(sample, axis=0)
    change = sample.max(axis=0) - sample.min(axis=0)
    tolerance = min(_STATIC_MAX * span, max(_STATIC * span, 0.5 * float(np.median(change))))
    static = change <= tolerance
    seeds = static & (_jump(median) >= _SHARP * span)
    # Text strokes are thin: what survives an opening by a 5x5 square is a blob, such as
    # the flat core of a trapped particle, not text.
    seeds &= ~ndimage.binary_opening(seeds, np.ones((5, 5), dtype=bool))
    # A glyph's strokes connect many pixels; a noisy pixel that happened to stay put over
    # the sample stands alone.
    labels, n = ndimage.label(seeds, structure=np.ones((3, 3), dtype=bool))
    if n:
        sizes = np.bincount(labels.ravel())
        seeds &= sizes[labels] >= _GLYPH_MIN_PX
    hi = lo + span
    extreme = static & ((median >= hi - _EXTREME * span) | (median <= lo + _EXTREME * span))
    labels, _ = ndimage.label(extreme)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        part = labels[box] == i
        long_side, short_side = max(h, w), min(h, w)
        if (
            long_side >= _BAR_MIN_PX
            and long_side >= _BAR_ASPECT * short_side
            and part.sum() >= _BAR_FILL * h * w
        ):
            seeds[box] |= part
    return seeds


@dataclass(frozen=True)
class OverlayPlan:
    """Where a movie's burned-in overlays are, measured once, applied to any of its frames.

    Attributes
    ----------
    span : float
        The movie's grey-level range, which the per-frame stroke tests scale with.
    colour : float
        Grey level of the static overlay's strokes (the text's colour).
    near : numpy.ndarray
        ``(H, W)`` bool: within reach of the static overlay, where changing strokes count.
    lines : numpy.ndarray
        ``(H, W)`` bool: the static overlay with the gaps of its text lines closed.
    text_rows : numpy.ndarray
        ``(H,)`` bool: the rows of its text lines.
    """

    span: float
    colour: float
    near: np.ndarray
    lines: np.ndarray
    text_rows: np.ndarray


def plan_overlays(frames: np.ndarray) -> OverlayPlan | None:
    """Find a movie's static overlays on up to ``_SAMPLE_FRAMES`` frames spread over it.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` movie, or a sample of its frames.

    Returns
    -------
    OverlayPlan or None
        None where there is no overlay, or fewer than two frames to tell static pixels by.
    """
    stack = np.asarray(frames)
    if stack.ndim != 3 or len(stack) < 2:
        return None
    index = np.unique(np.linspace(0, len(stack) - 1, min(_SAMPLE_FRAMES, len(stack))).astype(int))
    sample = stack[index].astype(np.float32)
    lo, hi = float(stack.min()), float(stack.max())
    span = hi - lo
    if span <= 0:
        return None
    seeds = _static_seeds(sample, lo, span)
    if not seeds.any():
        return None
    near = ndimage.binary_dilation(seeds, iterations=_TEXT_REACH_PX)
    # A line of text is one region: the gaps between its glyphs, where a timestamp's
    # changing digits sit, are closed.
    lines = ndimage.binary_closing(
        seeds, np.ones((_GLYPH_GAP_PX, _GLYPH_GAP_PX), dtype=bool), border_value=0
    )
    # Text is drawn in one colour, along the rows of its line: a changing glyph anywhere on
    # those rows (a timestamp's digits, its decimal point) is sharp pixels of that colour.
    colour = float(np.median(sample[:, seeds]))
    text_rows = ndimage.binary_dilation(seeds.any(axis=1), iterations=_GROW_PX)
    return OverlayPlan(span, colour, near, lines, text_rows)


def apply_overlay_plan(plan: OverlayPlan | None, frames: np.ndarray) -> np.ndarray:
    """Return the overlay pixels of each frame, given where the movie's overlays are.

    Parameters
    ----------
    plan : OverlayPlan or None
        From :func:`plan_overlays` on the movie (None: no overlay).
    frames : numpy.ndarray
        ``(T, H, W)`` frames of that movie, any of them.

    Returns
    -------
    numpy.ndarray
        Boolean ``(T, H, W)`` mask, as :func:`overlay_mask` describes; each frame's depends
        on that frame and the plan only.
    """
    stack = np.asarray(frames)
    mask = np.zeros(stack.shape, dtype=bool)
    if plan is None or stack.ndim != 3 or plan.near.shape != stack.shape[1:]:
        return mask
    span = plan.span
    rows, cols = np.nonzero(plan.near | plan.text_rows[:, None])
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    for t in range(len(stack)):
        part = stack[t][box].astype(np.float32)
        strokes = np.abs(part - ndimage.median_filter(part, 5)) > _STROKE * span
        glyphs = (_jump(part) >= _SHARP * span) & (np.abs(part - plan.colour) <= _STROKE * span)
        found = (
            (strokes & plan.near[box]) | (glyphs & plan.text_rows[box[0], None]) | plan.lines[box]
        )
        mask[t][box] = ndimage.binary_dilation(found, iterations=_GROW_PX)
    return mask


def overlay_mask(frames: np.ndarray) -> np.ndarray:
    """Return the pixels of burned-in overlays in every frame of a movie.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` movie; with fewer than two frames nothing can be told static and the
        mask is empty.

    Returns
    -------
    numpy.ndarray
        Boolean ``(T, H, W)`` mask: static sharp thin strokes and extreme filled bars (the
        same in every frame), plus the sharp strokes near them in each frame (a timestamp's
        changing digits), grown by ``_GROW_PX`` pixels for anti-aliased edges and the
        ringing of lossy compression.
    """
    return apply_overlay_plan(plan_overlays(frames), frames)


def remove_overlays(
    frames: np.ndarray, plan: OverlayPlan | Literal["measure"] | None = "measure"
) -> tuple[np.ndarray, np.ndarray]:
    """Return the movie with burned-in overlays painted over, and their mask.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` movie.
    plan : OverlayPlan or None or "measure"
        Where the movie's overlays are (:func:`plan_overlays`, made once for a movie tracked
        in parts); ``"measure"`` finds them on ``frames``.

    Returns
    -------
    cleaned : numpy.ndarray
        ``frames`` itself where no overlay was found; otherwise a float32 copy whose overlay
        pixels hold the smooth continuation of their surroundings (a normalized convolution:
        the Gaussian-weighted mean of the nearby pixels that are not overlay), so no edge
        is left where a detector could fire.
    mask : numpy.ndarray
        The overlay pixels of each frame (:func:`overlay_mask`).
    """
    if isinstance(plan, str):
        plan = plan_overlays(frames)
    mask = apply_overlay_plan(plan, frames)
    if not mask.any():
        return frames, mask
    cleaned = np.array(frames, dtype=np.float32)
    for frame, hidden in zip(cleaned, mask, strict=True):
        if hidden.any() and not hidden.all():
            seen = (~hidden).astype(np.float32)
            weight = ndimage.gaussian_filter(seen, _FILL_SIGMA_PX)
            fill = ndimage.gaussian_filter(frame * seen, _FILL_SIGMA_PX)
            frame[hidden] = np.where(
                weight[hidden] > 1e-3,
                fill[hidden] / np.maximum(weight[hidden], 1e-3),
                np.median(frame[~hidden]),
            )
    return cleaned, mask
