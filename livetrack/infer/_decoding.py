"""Decoding the CNN's maps into tables: the threshold policy and the refinement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from livetrack.infer import _refine
from livetrack.model import ModelSpec, adaptive_threshold, decode_maps, window_sums

#: Frames refined with one ring-profile smoothing before it is chosen again.
_PROFILE_REUSE = 50
#: Frames refined with one measurement of the noise's whiteness.
_NOISE_REUSE = 50
#: Lowest threshold ``threshold="adaptive"`` may choose.
ADAPTIVE_LOWEST = 0.02

# (thresholds, rate per px) and (mass levels, clutter per confident detection).
Rates = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ThresholdPolicy:
    """Which detections count: a fixed threshold, or one chosen per batch.

    Attributes
    ----------
    threshold : float
        The fixed (or the model's calibrated) threshold; an adaptive policy keeps it for
        frames short of the earlier frames a causal model fuses.
    adaptive : bool
        Choose the threshold per batch (:func:`livetrack.model.adaptive_threshold`).
    null_rates, clutter_rates : callable, optional
        The model's background-peak and clutter rates (adaptive only).
    """

    threshold: float
    adaptive: bool = False
    null_rates: Callable[[], Rates] | None = None
    clutter_rates: Callable[[], Rates] | None = None

    @property
    def first_pass(self) -> float:
        """Threshold the maps are decoded at, before the policy cuts."""
        return ADAPTIVE_LOWEST if self.adaptive else self.threshold

    def cut(
        self, tables: list[pd.DataFrame], partial: np.ndarray | None, area_px: int
    ) -> list[pd.DataFrame]:
        """Keep each table's detections at or above the policy's threshold.

        Parameters
        ----------
        tables : list of pandas.DataFrame
            One frame's detections each, decoded at :attr:`first_pass`.
        partial : numpy.ndarray, optional
            True for frames short of earlier ones: they score otherwise than the rates
            were measured on and keep :attr:`threshold`.
        area_px : int
            Pixels of one frame.
        """
        if not self.adaptive:
            return tables
        assert self.null_rates is not None and self.clutter_rates is not None  # adaptive
        partial = np.zeros(len(tables), bool) if partial is None else partial
        whole = [t for t, p in zip(tables, partial, strict=True) if not p]
        cut = self.threshold
        if whole:
            from livetrack.infer._rates import clutter_curve

            thresholds, rates = self.null_rates()
            cut = adaptive_threshold(
                np.concatenate([t["prob"].to_numpy() for t in whole]),
                thresholds,
                rates,
                area_px * len(whole),
                self.threshold,
                ADAPTIVE_LOWEST,
                clutter_per_confident=clutter_curve(*self.clutter_rates(), whole),
            )
        return [
            t[t["prob"] >= (self.threshold if p else cut)].reset_index(drop=True)
            for t, p in zip(tables, partial, strict=True)
        ]


class MapDecoder:
    """Turn a model's raw maps into detection tables.

    Parameters
    ----------
    spec : ModelSpec
        The model (stride, mass radius, neighbour merging, corner profile, refinement).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        # The ring profile's smoothing, chosen on one frame and kept for the next ones
        # (chosen again every _PROFILE_REUSE frames: the decoder may see another movie).
        self._profile_smoothing: float | None = None
        self._profile_frames = 0
        # Whether the camera's noise is white, likewise measured once in a while.
        self._white: bool | None = None
        self._noise_frames = 0

    def decode(
        self, maps: np.ndarray, normalized: np.ndarray, frame: int, threshold: float
    ) -> pd.DataFrame:
        """Decode one frame's ``(5, h, w)`` maps at ``threshold`` (no refinement)."""
        spec = self.spec
        return decode_maps(
            maps,
            threshold,
            spec.stride,
            normalized.shape,
            frame=frame,
            image=normalized,
            mass_radius_px=spec.mass_radius_px,
            merge_neighbours=spec.merge_neighbours,
            corner_profile=spec.corner_profile,
        )

    def tables(
        self,
        maps: np.ndarray,
        batch: np.ndarray,
        noise: np.ndarray,
        frame_numbers: list[int],
        shape: tuple[int, int],
        policy: ThresholdPolicy,
        *,
        refine: bool = False,
        crowded: bool = True,
        camera: Any = None,
        partial: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Decode a batch: threshold policy, refinement, ``mass`` back in input units.

        Parameters
        ----------
        maps : numpy.ndarray
            ``(T, 5, h, w)`` maps.
        batch : numpy.ndarray
            ``(T, 1, H', W')`` normalized batch the maps came from.
        noise : numpy.ndarray
            ``(T,)`` noise divided out of each frame.
        frame_numbers : list of int
            Frame number of each map.
        shape : tuple of int
            The frames' shape before padding.
        policy : ThresholdPolicy
            Which detections count.
        refine : bool
            Refine positions as the model's config says.
        crowded : bool
            With the Gaussian refinement, fit crowded detections jointly and split pairs.
        camera : object, optional
            The camera whose photon statistics the Gaussian refinement uses.
        partial : numpy.ndarray, optional
            See :meth:`ThresholdPolicy.cut`.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x, y, prob, sigma_x, sigma_y, mass``.
        """
        h, w = shape
        tables = [
            self.decode(maps[i], batch[i, 0, :h, :w], fno, policy.first_pass)
            for i, fno in enumerate(frame_numbers)
        ]
        tables = policy.cut(tables, partial, h * w)
        for i, df in enumerate(tables):
            if refine and len(df):
                df = tables[i] = self.refine(
                    df, batch[i, 0, :h, :w], noise[i], camera, crowded=crowded
                )
            # Mass was summed on the normalized frame; scale back to input units.
            df["mass"] *= noise[i]
        if len(tables) == 1:
            return tables[0]
        return pd.concat(tables, ignore_index=True)

    def refine(
        self,
        df: pd.DataFrame,
        normalized: np.ndarray,
        noise: float,
        camera: Any = None,
        crowded: bool = True,
    ) -> pd.DataFrame:
        """Refine one frame's detections (Gaussian fit or radial symmetry).

        The Gaussian refinement fits crowded detections jointly and may split a detection
        into two particles (:func:`~livetrack.infer._refine.refine_crowded`): the table it
        returns can be longer than ``df``; a split's second row copies the first's score.
        """
        x, y = df["x"].to_numpy(), df["y"].to_numpy()
        # A calibrated model knows its particles' size (livetrack.calibrate): the fit's
        # window and starting width follow it; other models keep the defaults.
        size = dict((self.spec.metadata or {}).get("refine") or {})
        if self.spec.refine == "radial":
            half = {"half_px": int(size["half_px"])} if "half_px" in size else {}
            r = _refine.refine_radial(normalized, x, y, **half)
            if self._profile_frames % _PROFILE_REUSE == 0:
                self._profile_smoothing = None
            self._profile_frames += 1
            fitted, self._profile_smoothing = _refine.refine_profile(
                normalized, r, smoothing=self._profile_smoothing
            )
            # Where the frame's profile could not be fitted, the radial centre stands.
            r = _refine.Refined(
                np.where(fitted.ok, fitted.x, r.x),
                np.where(fitted.ok, fitted.y, r.y),
                r.sigma_x,
                r.sigma_y,
                r.ok | fitted.ok,
            )
        else:
            scale = None if camera is None else _refine.photon_scale_from_camera(camera, noise)
            r = _refine.refine_gaussian(normalized, x, y, scale=scale, **size)
            if crowded:
                r, df = self._crowded(r, df, normalized)
                x, y = df["x"].to_numpy(), df["y"].to_numpy()
            else:
                # A single-Gaussian fit is pulled by a close neighbour: the network stays.
                r = _refine.drop_crowded(r, x, y, _refine.CROWDED_PX)
        h, w = normalized.shape
        ok = r.ok & (r.x >= -0.5) & (r.x < w - 0.5) & (r.y >= -0.5) & (r.y < h - 0.5)
        df["x"] = np.where(ok, r.x, x)
        df["y"] = np.where(ok, r.y, y)
        # The radial-symmetry centre has no uncertainty of its own: keep the network's.
        ok_sigma = ok & np.isfinite(r.sigma_x) & np.isfinite(r.sigma_y)
        df["sigma_x"] = np.where(ok_sigma, r.sigma_x, df["sigma_x"].to_numpy())
        df["sigma_y"] = np.where(ok_sigma, r.sigma_y, df["sigma_y"].to_numpy())
        return df

    def _crowded(
        self, r: _refine.Refined, df: pd.DataFrame, normalized: np.ndarray
    ) -> tuple[_refine.Refined, pd.DataFrame]:
        """Fit crowded detections jointly and split pairs (:func:`_refine.refine_crowded`)."""
        if self._noise_frames % _NOISE_REUSE == 0:
            self._white = None
        self._noise_frames += 1
        if self._white is None:
            self._white = _refine.noise_is_white(normalized, r)
        r, parent = _refine.refine_crowded(normalized, r, white=self._white)
        if parent.size > len(df):
            split = np.isin(parent, parent[len(df) :])
            df = df.iloc[parent].reset_index(drop=True)
            ok = r.ok & split
            mass = df["mass"].to_numpy().copy()
            # Each particle of a split pair gets the sum around its own position.
            mass[ok] = window_sums(normalized, r.x[ok], r.y[ok], self.spec.mass_radius_px)
            df["mass"] = mass
        return r, df
