"""A test double of the ``InferenceBackend`` protocol."""

from __future__ import annotations

import numpy as np

from livetrack.model import MAP_CHANNELS, ModelSpec

#: Detection logit of every cell of :class:`NullBackend`'s maps (score ~ 2e-9).
NULL_LOGIT = -20.0


class NullBackend:
    """Test double of :class:`~livetrack.protocols.InferenceBackend`: no network, no particles.

    Returns maps of the right shape and dtype whose every cell scores about 0, so a
    :class:`~livetrack.infer.CNNLocalizer` built on it finds nothing; it keeps the shape of
    every batch it was given. Pass it as ``backend=`` (or register it with
    :func:`~livetrack.registry.register_backend`) to test normalization, batching and
    decoding without loading an engine.

    Parameters
    ----------
    spec : ModelSpec
        The model whose output stride the maps have.

    Attributes
    ----------
    shapes : list of tuple
        The shape of every batch :meth:`run` was given, in order.
    """

    name = "null"

    def __init__(self, spec: ModelSpec) -> None:
        self.stride = spec.stride
        self.shapes: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Return ``(B, 5, ceil(H / stride), ceil(W / stride))`` float32 maps without particles."""
        b, _, h, w = batch.shape
        self.shapes.append(tuple(batch.shape))
        s = self.stride
        maps = np.zeros((b, len(MAP_CHANNELS), -(-h // s), -(-w // s)), dtype=np.float32)
        maps[:, 0] = NULL_LOGIT
        return maps
