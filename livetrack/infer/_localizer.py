"""The CNN localizer: normalize, run a backend, decode."""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack._stack import as_stack
from livetrack.infer import _rates
from livetrack.infer._backends import Backend, make_backend
from livetrack.model import (
    CausalStream,
    ModelSpec,
    adaptive_threshold,
    decode_maps,
    empty_table,
    frame_statistics,
    fuse_logits,
    load_model,
    neighbour_indices,
    soft_clip,
)

#: Lowest threshold ``threshold="adaptive"`` may choose.
_ADAPTIVE_LOWEST = 0.02
# Default of ``_prepare(camera=...)``: the localizer's own camera.
_OWN = object()
# Background-peak rates per (model folder, model name, backend), measured once per process.
_NULL_RATES: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
# False detections around bright particles, per confident detection, keyed the same way.
_CLUTTER: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}


class CNNLocalizer:
    """Locate particles with a trained CNN (satisfies the ``Localizer`` protocol).

    Parameters
    ----------
    model : str, path-like or ModelSpec
        ``"spots"`` (fluorescent spots), ``"rings"`` (brightfield/holographic microspheres),
        another model name or a model folder.
    backend : str or Backend
        ``"auto"`` (TensorRT > ONNX Runtime > PyTorch, whichever is available),
        ``"onnxruntime"``, ``"torch"``, or a :class:`Backend` instance.
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
        backend: str | Backend = "auto",
        threshold: float | str | None = None,
        camera: Any = None,
        batch_size: int = 4,
        refine: bool | None = None,
        noise_scale_px: float | None = None,
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
        self.backend = make_backend(self.spec, backend)
        self._null: tuple[np.ndarray, np.ndarray] | None = None
        self._net_input: np.ndarray | None = None
        # A causal model's live stream (the earlier frames' evidence).
        self._stream: CausalStream | None = None

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
        if self.temporal_frames > 1:
            return self._locate_streamed(stack, int(frame))
        return self._locate_batch(stack, [int(frame)])

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
            return self._locate_fused(stack, first_frame)
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
    def temporal_frames(self) -> int:
        """Frames whose evidence the model fuses for each detection (1: single frames)."""
        return self.spec.temporal.frames

    @property
    def frames_ahead(self) -> int:
        """Later frames each detection waits for (0: decided as the frame arrives)."""
        return self.spec.temporal.frames_ahead

    def _locate_streamed(self, stack: np.ndarray, frame: int) -> pd.DataFrame:
        shape = stack.shape[1:]
        batch, noise = self._prepare(stack)
        maps = self._run(batch, shape, fuse=False)
        if self._stream is None:
            self._stream = CausalStream(self.spec.temporal)
        maps[0, 0], complete = self._stream.push(frame, maps[0, 0])
        return self._tables(maps, batch, noise, [frame], shape, np.array([not complete]))

    def _locate_fused(self, stack: np.ndarray, first_frame: int) -> pd.DataFrame:
        # The network runs once per frame, in chunks; a frame is decoded as soon as the
        # frames it fuses have run, and their raw maps are kept until no later frame needs
        # them. Only the movie's ends are filled in (``neighbour_indices``).
        n, ahead = len(stack), self.frames_ahead
        back = self.spec.temporal.distances
        shape = stack.shape[1:]
        neighbours = neighbour_indices(n, self.temporal_frames, self.spec.temporal.causal)
        raw: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
        tables, done = [], 0
        for i in range(0, n, self.batch_size):
            part = stack[i : i + self.batch_size]
            batch, noise = self._prepare(part)
            maps = self._run(batch, shape, fuse=False)
            raw.update({i + j: (maps[j], batch[j], noise[j]) for j in range(len(part))})
            ready = n if i + len(part) == n else i + len(part) - ahead
            if ready <= done:
                continue
            lo = max(0, done - back)
            frames = range(lo, min(n, ready + ahead))
            logits = np.stack([raw[f][0][0] for f in frames])
            targets = np.arange(done, ready)
            near = neighbours[targets]
            near = np.where(near >= 0, near - lo, -1)  # -1: no such frame
            fused = fuse_logits(logits, self.spec.temporal, targets - lo, near)
            out = np.stack([raw[t][0] for t in targets])
            out[:, 0] = fused
            tables.append(
                self._tables(
                    out,
                    np.stack([raw[t][1] for t in targets]),
                    np.array([raw[t][2] for t in targets]),
                    [first_frame + int(t) for t in targets],
                    shape,
                    (near < 0).any(axis=1),
                )
            )
            done = ready
            for f in [f for f in raw if f < done - back]:
                del raw[f]
        tables = [t for t in tables if len(t)]
        return pd.concat(tables, ignore_index=True) if tables else empty_table()

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
        batch, noise = self._prepare(frames)
        return self._run(batch, frames.shape[1:]), batch, noise

    def _run(self, batch: np.ndarray, shape: tuple[int, int], fuse: bool = True) -> np.ndarray:
        net_in = soft_clip(batch, self.spec.net.input_softclip, out=self._scratch(batch))
        s = self.spec.stride
        h, w = shape
        maps = self.backend.run(net_in)[:, :, : -(-h // s), : -(-w // s)]
        if fuse and self.temporal_frames > 1:
            maps[:, 0] = fuse_logits(maps[:, 0], self.spec.temporal)
        return maps

    def _scratch(self, like: np.ndarray) -> np.ndarray:
        # The network input buffer is reused frame after frame (live tracking allocates
        # nothing per frame); the normalized batch itself is kept for mass and refinement.
        buf = self._net_input
        if buf is None or buf.shape != like.shape:
            buf = np.empty_like(like)
            self._net_input = buf
        return buf

    def _prepare(self, stack: np.ndarray, camera: Any = _OWN) -> tuple[np.ndarray, np.ndarray]:
        camera = self.camera if camera is _OWN else camera
        t, h, w = stack.shape
        norm = self.spec.normalization
        m = norm.pad_multiple
        batch = np.zeros((t, 1, h + (-h) % m, w + (-w) % m), dtype=np.float32)
        noise = np.empty(t)
        for i in range(t):
            frame = stack[i]
            if camera is not None:
                frame = np.asarray(camera.to_photons(frame), dtype=np.float32)
            bg, sd = frame_statistics(frame, norm.subsample, self.noise_scale_px)
            view = batch[i, 0, :h, :w]
            np.subtract(frame, np.float32(bg), out=view, dtype=np.float32, casting="unsafe")
            view *= np.float32(1.0 / sd)
            noise[i] = sd
        return batch, noise

    def _decode(
        self, maps: np.ndarray, normalized: np.ndarray, fno: int, threshold: float
    ) -> pd.DataFrame:
        return decode_maps(
            maps,
            threshold,
            self.spec.stride,
            normalized.shape,
            frame=fno,
            image=normalized,
            mass_radius_px=self.spec.mass_radius_px,
            merge_neighbours=self.spec.merge_neighbours,
            corner_profile=self.spec.corner_profile,
        )

    def _locate_batch(
        self, stack: np.ndarray, frame_numbers: list[int], detect_on: np.ndarray | None = None
    ) -> pd.DataFrame:
        maps, batch, noise = self.predict_maps(stack if detect_on is None else detect_on)
        if detect_on is not None:
            # Detection saw the temporal average; positions, sigmas, mass and refinement
            # come from each frame alone (a moving particle is not where its average is).
            batch, noise = self._prepare(stack)
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
        h, w = shape
        first = _ADAPTIVE_LOWEST if self.adaptive else self.threshold
        tables = [
            self._decode(maps[i], batch[i, 0, :h, :w], fno, first)
            for i, fno in enumerate(frame_numbers)
        ]
        if self.adaptive:
            # Frames short of earlier ones (a causal model's first frames) score otherwise
            # than the rates were measured on: they keep the calibrated threshold.
            partial = np.zeros(len(tables), bool) if partial is None else partial
            whole = [t for t, p in zip(tables, partial, strict=True) if not p]
            cut = self.threshold
            if whole:
                thresholds, rates = self.null_rates()
                cut = adaptive_threshold(
                    np.concatenate([t["prob"].to_numpy() for t in whole]),
                    thresholds,
                    rates,
                    h * w * len(whole),
                    self.threshold,
                    _ADAPTIVE_LOWEST,
                    clutter_per_confident=self._clutter_curve(whole),
                )
            tables = [
                t[t["prob"] >= (self.threshold if p else cut)].reset_index(drop=True)
                for t, p in zip(tables, partial, strict=True)
            ]
        for i, df in enumerate(tables):
            if self.refine and len(df):
                self._refine(df, batch[i, 0, :h, :w], noise[i])
            # Mass was summed on the normalized frame; scale back to input units.
            df["mass"] *= noise[i]
        if len(tables) == 1:
            return tables[0]
        return pd.concat(tables, ignore_index=True)

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
            key = self._rate_key()
            if key not in _NULL_RATES:
                _NULL_RATES[key] = _rates.null_rates(self, _ADAPTIVE_LOWEST)
            self._null = _NULL_RATES[key]
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
        key = self._rate_key()
        if key not in _CLUTTER:
            _CLUTTER[key] = _rates.clutter_rates(self, _ADAPTIVE_LOWEST)
        return _CLUTTER[key]

    def _clutter_curve(self, tables: list[pd.DataFrame]) -> np.ndarray:
        return _rates.clutter_curve(*self.clutter_rates(), tables)

    def _rate_key(self) -> tuple[str, str, str]:
        return (os.fspath(self.spec.folder or ""), self.spec.name, self.backend.name)

    def _refine(self, df: pd.DataFrame, normalized: np.ndarray, noise: float) -> None:
        from livetrack.infer import _refine

        x, y = df["x"].to_numpy(), df["y"].to_numpy()
        if self.spec.refine == "radial":
            r = _refine.refine_radial(normalized, x, y)
        else:
            cam = self.camera
            scale = None if cam is None else _refine.photon_scale_from_camera(cam, noise)
            r = _refine.refine_gaussian(normalized, x, y, scale=scale)
            # A single-Gaussian fit is pulled by a close neighbour: keep the network there.
            r = _refine.drop_crowded(r, x, y, _refine.CROWDED_PX)
        h, w = normalized.shape
        ok = r.ok & (r.x >= -0.5) & (r.x < w - 0.5) & (r.y >= -0.5) & (r.y < h - 0.5)
        df["x"] = np.where(ok, r.x, x)
        df["y"] = np.where(ok, r.y, y)
        # The radial-symmetry centre has no uncertainty of its own: keep the network's.
        ok_sigma = ok & np.isfinite(r.sigma_x) & np.isfinite(r.sigma_y)
        df["sigma_x"] = np.where(ok_sigma, r.sigma_x, df["sigma_x"].to_numpy())
        df["sigma_y"] = np.where(ok_sigma, r.sigma_y, df["sigma_y"].to_numpy())


@functools.lru_cache(maxsize=8)
def _cached_localizer(model: str, backend: str) -> CNNLocalizer:
    return CNNLocalizer(model=model, backend=backend)


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
    loc = _cached_localizer(os.fspath(model), backend)
    if threshold is not None or refine is not None:
        loc = CNNLocalizer(model=loc.spec, backend=loc.backend, threshold=threshold, refine=refine)
    return loc.locate_stack(frame_or_stack, temporal_window=temporal_window)
