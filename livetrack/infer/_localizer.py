"""The CNN localizer: normalize, run a backend, decode; composed of one part per concept.

:class:`~livetrack.infer._normalize.InputNormalizer` turns frames into the network's batch,
the backend runs it, :class:`~livetrack.infer._stream.FrameFusion` fuses the evidence of
neighbouring frames for models that decide on several, and
:class:`~livetrack.infer._decoding.MapDecoder` decodes the maps under a
:class:`~livetrack.infer._decoding.ThresholdPolicy` and refines the positions.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack._stack import as_stack
from livetrack.infer import _rates
from livetrack.infer._decoding import ADAPTIVE_LOWEST, MapDecoder, ThresholdPolicy
from livetrack.infer._normalize import InputNormalizer
from livetrack.infer._stream import FrameFusion
from livetrack.model import ModelSpec, empty_table, fuse_logits, load_model
from livetrack.protocols import InferenceBackend
from livetrack.registry import make_backend

# Default of ``_normalize(camera=...)``: the localizer's own camera.
_OWN = object()


class CNNLocalizer:
    """Locate particles with a trained CNN (satisfies the ``Localizer`` protocol).

    Parameters
    ----------
    model : str, path-like or ModelSpec
        ``"spots"`` (fluorescent spots), ``"rings"`` (brightfield/holographic microspheres),
        another model name or a model folder.
    backend : str or Backend
        ``"auto"`` (TensorRT > CUDA > ONNX Runtime > PyTorch, the first that runs here),
        ``"tensorrt"``, ``"cuda"``, ``"onnxruntime"``, ``"onnxruntime-int8"``, ``"torch"``,
        or a :class:`Backend` instance. On the GPU backends, without refinement (the fast
        mode) and with a fixed threshold, frames go up as they are and only the positions
        come back.
    threshold : float or "adaptive", optional
        Detection score threshold in (0, 1]; defaults to the model's calibrated one.
        ``"adaptive"`` chooses it per call (per frame in :meth:`locate`, per batch in
        :meth:`locate_stack`) to maximize the expected Jaccard index, from the number of
        detections against the background-peak rate of the model measured on
        particle-free frames (:func:`livetrack.model.adaptive_threshold`): lower at low
        SNR, where every real particle scores low, higher at high SNR.
    camera : object, optional
        A ``livetrack.simulate.Camera`` (anything with ``to_photons``): frames are converted
        to photons first, so ``mass`` is in photons, and the refinement fit uses the
        camera's photon statistics instead of estimating them from the frame.
    batch_size : int
        Frames per backend call in :meth:`locate_stack`.
    refine : bool, optional
        Refine detections as the model's config says (``spots``: Gaussian maximum-likelihood
        fit, ``rings``: radial-symmetry centre); defaults to on where the model has a
        refinement. Off is the fast mode: positions straight from the network.
    noise_scale_px : float, optional
        For frames whose noise is spatially correlated (compressed video, camera smoothing):
        each frame is divided by the larger of its pixel noise and its noise at this scale
        (:func:`livetrack.model.scale_noise`), so texture at the particles' scale does not
        look significant. None (the default) uses the pixel noise, as in training.
    crowded : bool
        With the Gaussian refinement: fit detections within a few PSF widths of each other
        jointly, and split a detection that hides two particles
        (:func:`livetrack.localize.resolve_crowded`). Off, a crowded detection keeps the
        network's position: faster, the live default (:func:`livetrack.registry.make_localizer`
        with ``live=True``), where the frame rate counts more than pairs closer than 4 px.

    Notes
    -----
    A model that fuses detection evidence over ``K`` frames centred on each one
    (``spots-t5``; see :func:`livetrack.model.fuse_logits`) locates stacks only:
    :meth:`locate_stack` gives every frame its neighbours, and :meth:`locate` on one frame
    is an error. A causal model (``spots-c5``: the frame and the ``K - 1`` before it) also
    locates a live stream frame by frame: :meth:`locate` keeps the detection maps of the
    last frames it saw, so one localizer serves one stream, in frame order (a frame number
    at or below the previous one starts a new stream).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | ModelSpec = "spots",
        backend: str | InferenceBackend = "auto",
        threshold: float | str | None = None,
        camera: Any = None,
        batch_size: int = 4,
        refine: bool | None = None,
        noise_scale_px: float | None = None,
        crowded: bool = True,
    ) -> None:
        self.spec = model if isinstance(model, ModelSpec) else load_model(model)
        if noise_scale_px is not None and not noise_scale_px > 0:
            raise InputError(f"noise_scale_px must be positive, got {noise_scale_px}")
        self.noise_scale_px = noise_scale_px
        self.adaptive = isinstance(threshold, str)
        if self.adaptive and threshold != "adaptive":
            raise InputError(
                f"threshold must be a number in (0, 1] or 'adaptive', got {threshold!r}"
            )
        if self.adaptive:
            threshold = None
        elif threshold is not None and not 0.0 < float(threshold) <= 1.0:
            raise InputError(f"threshold must be in (0, 1], got {threshold}")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.threshold = float(threshold) if threshold is not None else self.spec.threshold
        self.camera = camera
        self.batch_size = int(batch_size)
        self.refine = (self.spec.refine != "none") if refine is None else bool(refine)
        self.crowded = bool(crowded)
        self.backend = make_backend(self.spec, backend)
        self._null: tuple[np.ndarray, np.ndarray] | None = None
        # One part per concept; the settings above stay here, read at every call.
        self._normalizer = InputNormalizer(self.spec)
        self._decoder = MapDecoder(self.spec)
        self._fusion = FrameFusion(self.spec.temporal, self.batch_size)

    def __repr__(self) -> str:
        return (
            f"CNNLocalizer(model={self.spec.name!r}, backend={self.backend.name!r}, "
            f"threshold={'adaptive' if self.adaptive else format(self.threshold, '.3g')}, "
            f"refine={self.refine})"
        )

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate the particles in one frame.

        Parameters
        ----------
        image : numpy.ndarray
            2-D frame (a stack of one frame is accepted too).
        frame : int
            Frame number written to the ``frame`` column.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x, y, prob, sigma_x, sigma_y, mass`` (x = column, y = row).

        Raises
        ------
        InputError
            Not a single 2-D real-valued frame, empty, or with NaN/inf values.
        """
        stack = as_stack(image, name="image")
        if self.frames_ahead:
            raise InputError(
                f"model {self.spec.name!r} fuses {self.temporal_frames} consecutive frames "
                "centred on each one, so it locates recorded movies (locate_stack, "
                "`livetrack track`), not single frames; use a single-frame model such as "
                "'spots' or a causal one such as 'spots-c5' for those"
            )
        if stack.shape[0] != 1:
            raise InputError(
                f"locate() takes one frame, got a stack of {stack.shape[0]}; use locate_stack()"
            )
        if self.temporal_frames == 1:
            return self._locate_batch(stack, [int(frame)])
        # A causal model: this frame's evidence fused with the frames before it.
        batch, noise = self._normalize(stack)
        maps = self._run(batch, stack.shape[1:], fuse=False)
        maps[0, 0], complete = self._fusion.live(int(frame), maps[0, 0])
        shape = stack.shape[1:]
        return self._tables(maps, batch, noise, [int(frame)], shape, np.array([not complete]))

    def locate_stack(
        self, frames: np.ndarray, first_frame: int = 0, temporal_window: int = 1
    ) -> pd.DataFrame:
        """Locate the particles in every frame of a ``(T, H, W)`` stack (or one frame).

        Parameters
        ----------
        frames : numpy.ndarray
            ``(T, H, W)`` stack or one 2-D frame.
        first_frame : int
            Frame number of ``frames[0]``.
        temporal_window : int
            Odd number of neighbouring frames averaged for detection (1: single frames).
            Averaging ``k`` frames raises the SNR of slow particles by up to ``sqrt(k)``,
            which is what finds particles at SNR ~1; a particle moving more than about its
            PSF width within the window is blurred instead. Positions, ``mass`` and the
            refinement still come from each frame alone. A model that fuses neighbouring
            frames itself (``spots-t5``) takes 1 here.
        """
        stack = as_stack(frames, name="frames")
        k = int(temporal_window)
        if k < 1 or k % 2 == 0:
            raise InputError(
                f"temporal_window must be a positive odd number, got {temporal_window}"
            )
        if self.temporal_frames > 1:
            if k != 1:
                raise InputError(
                    f"model {self.spec.name!r} fuses {self.temporal_frames} frames itself; "
                    "leave temporal_window at 1"
                )
            return self._fusion.stack(stack, first_frame, self._raw_maps, self._tables)
        tables = []
        for i in range(0, len(stack), self.batch_size):
            part = stack[i : i + self.batch_size]
            numbers = list(range(first_frame + i, first_frame + i + len(part)))
            if k == 1:
                tables.append(self._locate_batch(part, numbers))
                continue
            half = k // 2
            averaged = np.stack(
                [
                    stack[max(0, j - half) : j + half + 1].mean(axis=0, dtype=np.float64)
                    for j in range(i, i + len(part))
                ]
            ).astype(np.float32)
            tables.append(self._locate_batch(part, numbers, detect_on=averaged))
        tables = [t for t in tables if len(t)]
        if not tables:
            return empty_table()
        return pd.concat(tables, ignore_index=True)

    def prepare(self) -> None:
        """Do now the one-time work the first frame would otherwise pay for.

        Runs the backend once (sessions allocate on their first run) and, with
        ``threshold="adaptive"``, loads the model's background-peak and clutter rates: from
        its folder, where training stores them, else measured (1--5 s, once per model and
        process). The live :class:`~livetrack.pipeline.Tracker` calls it when it is built,
        before any frame arrives.
        """
        m = self.spec.normalization.pad_multiple
        self.backend.run(np.zeros((1, 1, 16 * m, 16 * m), dtype=np.float32))
        if self.adaptive:
            self.null_rates()
            self.clutter_rates()

    @property
    def on_device(self) -> bool:
        """Whether frames go to positions all on the backend's device (a GPU backend, fast mode).

        Only the positions then come back to the host; otherwise the maps do, for the host's
        decoding (see :meth:`_on_device`).
        """
        return self._on_device() is not None

    @property
    def temporal_frames(self) -> int:
        """Frames whose evidence the model fuses for each detection (1: single frames)."""
        return self.spec.temporal.frames

    @property
    def frames_ahead(self) -> int:
        """Later frames each detection waits for (0: decided as the frame arrives)."""
        return self.spec.temporal.frames_ahead

    def predict_maps(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the raw maps and the normalized padded batch for a validated stack.

        Parameters
        ----------
        frames : numpy.ndarray
            ``(T, H, W)`` stack (consecutive frames for a model that fuses neighbouring
            frames: its logit channel is then the fused one).

        Returns
        -------
        maps : numpy.ndarray
            ``(T, 5, h, w)`` raw network output, cropped to the frame.
        batch : numpy.ndarray
            ``(T, 1, H', W')`` normalized, zero-padded input.
        noise : numpy.ndarray
            Per-frame noise scale that was divided out (input units).
        """
        batch, noise = self._normalize(frames)
        return self._run(batch, frames.shape[1:]), batch, noise

    def null_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Background peaks per pixel scoring at least each threshold (particle-free frames).

        Measured on seeded Poisson backgrounds of 3 to 1000 photons per pixel, 2 megapixels
        in all (for a model fusing neighbouring frames, each the frame of a stack that holds
        its whole window), when the model is trained (stored in its folder, ``rates.json``);
        measured here, once per model and backend in a process, for a folder without them.

        Returns
        -------
        thresholds, rate_per_px : numpy.ndarray
        """
        if self._null is None:
            self._null = _rates.cached_null_rates(self, ADAPTIVE_LOWEST)
        return self._null

    def clutter_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the false detections around particles per confident one, by brightness.

        Bright particles raise faint false peaks around them (ghosts along their path for
        a model fusing neighbouring frames, texture within the network's field of view),
        more the brighter they are. Measured when the model is trained (stored in its
        folder; for a folder without them, once per model and backend in a process), on
        seeded movies of Brownian spots (sigma 1 px; for a ring model, rings of radius 4 px,
        one bright- and one dark-centred movie) moving 1 px^2 per frame on 10 background
        photons, through a camera with 1 e- read noise, at SNR 3, 5, 10 and 20: the false
        detections scoring at least each threshold of :meth:`null_rates`, less those the
        background alone explains, per detection scoring at least 0.8.

        Returns
        -------
        mass : numpy.ndarray
            ``(L,)`` median ``mass`` of the confident detections at each level, in units of
            the frame's noise, increasing.
        rate : numpy.ndarray
            ``(L, len(thresholds))`` false detections per confident one; each row is
            non-increasing and >= 0.
        """
        return _rates.cached_clutter_rates(self, ADAPTIVE_LOWEST)

    # -- the steps, shared by the paths above and the rates' measurements ----------------

    def _normalize(self, stack: np.ndarray, camera: Any = _OWN) -> tuple[np.ndarray, np.ndarray]:
        camera = self.camera if camera is _OWN else camera
        return self._normalizer.normalize(stack, camera, self.noise_scale_px)

    def _run(self, batch: np.ndarray, shape: tuple[int, int], fuse: bool = True) -> np.ndarray:
        s = self.spec.stride
        h, w = shape
        maps = self.backend.run(self._normalizer.network_input(batch))
        maps = maps[:, :, : -(-h // s), : -(-w // s)]
        if fuse and self.temporal_frames > 1:
            maps[:, 0] = fuse_logits(maps[:, 0], self.spec.temporal)
        return maps

    def _raw_maps(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch, noise = self._normalize(part)
        return self._run(batch, part.shape[1:], fuse=False), batch, noise

    def _on_device(self) -> Any:
        """Return the backend's device pipeline where every step of this localizer runs there.

        The GPU backends normalize and decode on the GPU; the refinement fit, the adaptive
        threshold, a camera's photon conversion, the noise at a scale and the fusion of
        several frames run on the host, so with any of them the maps come back instead.
        """
        pipeline = getattr(self.backend, "pipeline", None)
        if pipeline is None or self.refine or self.adaptive or self.camera is not None:
            return None
        if self.noise_scale_px is not None or self.temporal_frames > 1:
            return None
        return pipeline

    def _locate_batch(
        self, stack: np.ndarray, frame_numbers: list[int], detect_on: np.ndarray | None = None
    ) -> pd.DataFrame:
        pipeline = self._on_device() if detect_on is None else None
        if pipeline is not None:
            return pipeline.locate(stack, frame_numbers, self.threshold)
        maps, batch, noise = self.predict_maps(stack if detect_on is None else detect_on)
        if detect_on is not None:
            # Detection saw the temporal average; positions, sigmas, mass and refinement
            # come from each frame alone (a moving particle is not where its average is).
            batch, noise = self._normalize(stack)
            own = self._run(batch, stack.shape[1:])
            maps[:, 1:] = own[:, 1:]
        return self._tables(maps, batch, noise, frame_numbers, stack.shape[1:])

    def _tables(
        self,
        maps: np.ndarray,
        batch: np.ndarray,
        noise: np.ndarray,
        frame_numbers: list[int],
        shape: tuple[int, int],
        partial: np.ndarray | None = None,
    ) -> pd.DataFrame:
        policy = ThresholdPolicy(self.threshold, self.adaptive, self.null_rates, self.clutter_rates)
        return self._decoder.tables(
            maps,
            batch,
            noise,
            frame_numbers,
            shape,
            policy,
            refine=self.refine,
            crowded=self.crowded,
            camera=self.camera,
            partial=partial,
        )


# The localizers shared by the process, by (model, backend), most recently used last.
_SHARED: dict[tuple[str, str], CNNLocalizer] = {}
_SHARED_MAX = 8
_SHARED_LOCK = threading.Lock()


def _cached_localizer(model: str, backend: str) -> CNNLocalizer:
    """Return the process's localizer of ``model`` on ``backend``, built on first use.

    What costs is loading the model and starting the backend's session; callers build their
    own :class:`CNNLocalizer` around its ``spec`` and ``backend`` for their settings and
    per-stream state (backends' ``run`` may be called from several threads at once). The
    lock makes two threads asking at once share one, not build two sessions.
    """
    key = (model, backend)
    with _SHARED_LOCK:
        loc = _SHARED.pop(key, None)
        if loc is None:
            loc = CNNLocalizer(model=model, backend=backend)
            while len(_SHARED) >= _SHARED_MAX:
                del _SHARED[next(iter(_SHARED))]
        _SHARED[key] = loc
        return loc


def locate(
    frame_or_stack: np.ndarray,
    model: str | os.PathLike[str] = "auto",
    backend: str = "auto",
    threshold: float | str | None = None,
    temporal_window: int = 1,
    refine: bool | None = None,
    diameter_px: float | None = None,
    invert: bool | None = None,
) -> pd.DataFrame:
    """Locate particles in a frame or a ``(T, H, W)`` stack with a CNN model.

    Parameters
    ----------
    frame_or_stack : numpy.ndarray
        2-D frame or 3-D stack (frames, rows, columns).
    model : str or path-like
        ``"auto"`` (the default: the network's input scale, polarity and noise model chosen
        from the data, see :class:`~livetrack.infer.AutoLocalizer`), a model name
        (``"spots"``, ``"rings"``) or a model folder.
    backend : str
        ``"auto"``, ``"onnxruntime"`` or ``"torch"``.
    threshold : float or "adaptive", optional
        Detection threshold; the model's calibrated one by default (see
        :class:`CNNLocalizer`).
    temporal_window : int
        Odd number of neighbouring frames averaged for detection (see
        :meth:`CNNLocalizer.locate_stack`); 1 uses single frames.
    refine : bool, optional
        Refinement on or off (see :class:`CNNLocalizer`); the model's default if None.
    diameter_px : float, optional
        ``model="auto"`` only: the particles' diameter (about 4 sigma), instead of measuring it.
    invert : bool, optional
        ``model="auto"`` only: True for dark particles on a bright background, False for
        bright ones, instead of deciding from the data.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame, x, y, prob, sigma_x, sigma_y, mass``.
    """
    if os.fspath(model) == "auto":
        from livetrack.infer._auto import AutoLocalizer

        auto = AutoLocalizer(backend, threshold, refine, diameter_px=diameter_px, invert=invert)
        return auto.locate_stack(frame_or_stack, temporal_window=temporal_window)
    if diameter_px is not None or invert is not None:
        raise InputError(
            f"diameter and invert are hints for model 'auto'; model {os.fspath(model)!r} "
            "takes frames as they are"
        )
    shared = _cached_localizer(os.fspath(model), backend)
    # The shared model and session; the localizer, with its per-call state, is this call's.
    loc = CNNLocalizer(shared.spec, backend=shared.backend, threshold=threshold, refine=refine)
    return loc.locate_stack(frame_or_stack, temporal_window=temporal_window)
