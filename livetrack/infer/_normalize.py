"""The CNN's input normalization: frames in, the network's normalized and padded batch out."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from livetrack.model import ModelSpec, frame_statistics, soft_clip


class InputNormalizer:
    """Turn frames into the batch a model's network reads.

    Each frame (in photons first, where a camera is given) has its robust background
    subtracted and is divided by its noise (:func:`~livetrack.model.frame_statistics`), then
    padded with zeros to the network's multiple. The network's input is that batch
    soft-clipped (:func:`~livetrack.model.soft_clip`); the batch itself is kept for the
    ``mass`` and the refinement.

    Parameters
    ----------
    spec : ModelSpec
        The model (its normalization settings and soft-clip scale).

    Notes
    -----
    The soft-clipped input goes into a buffer reused call after call, so live tracking
    allocates nothing per frame for it; there is one buffer per thread, so threads that share
    a localizer do not overwrite each other's input.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.config = spec.normalization
        self.softclip = spec.net.input_softclip
        self._local = threading.local()

    def normalize(
        self, stack: np.ndarray, camera: Any = None, noise_scale_px: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalize a ``(T, H, W)`` stack.

        Parameters
        ----------
        stack : numpy.ndarray
            ``(T, H, W)`` frames.
        camera : object, optional
            Anything with ``to_photons``: frames are converted to photons first.
        noise_scale_px : float, optional
            Divide by the larger of the pixel noise and the noise at this scale (see
            :class:`~livetrack.infer.CNNLocalizer`).

        Returns
        -------
        batch : numpy.ndarray
            ``(T, 1, H', W')`` float32, zero-padded to the network's multiple.
        noise : numpy.ndarray
            ``(T,)`` noise scale divided out of each frame (input units, or photons).
        """
        t, h, w = stack.shape
        m = self.config.pad_multiple
        batch = np.zeros((t, 1, h + (-h) % m, w + (-w) % m), dtype=np.float32)
        noise = np.empty(t)
        for i in range(t):
            frame = stack[i]
            if camera is not None:
                frame = np.asarray(camera.to_photons(frame), dtype=np.float32)
            bg, sd = frame_statistics(frame, self.config.subsample, noise_scale_px)
            view = batch[i, 0, :h, :w]
            np.subtract(frame, np.float32(bg), out=view, dtype=np.float32, casting="unsafe")
            view *= np.float32(1.0 / sd)
            noise[i] = sd
        return batch, noise

    def network_input(self, batch: np.ndarray) -> np.ndarray:
        """Return ``batch`` soft-clipped, in this thread's reused buffer."""
        buf = getattr(self._local, "buffer", None)
        if buf is None or buf.shape != batch.shape:
            buf = np.empty_like(batch)
            self._local.buffer = buf
        return soft_clip(batch, self.softclip, out=buf)
