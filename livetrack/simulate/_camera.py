"""Camera model: photons to digital numbers (ADU) with shot, EM and read noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from livetrack._errors import InputError
from livetrack.simulate._poisson import poisson_image


@dataclass(frozen=True)
class Camera:
    """A CCD / sCMOS / EMCCD camera turning expected photons into ADU.

    The chain, per pixel, is: photoelectrons ``n ~ Poisson(qe * photons)``; with an EM
    register, ``n ~ Gamma(shape=n, scale=em_gain)`` (the high-gain limit of the stochastic
    multiplication, whose excess noise factor is ``sqrt(2)``; Hirsch et al., PLoS ONE 8,
    e53671 (2013)); Gaussian read noise of ``read_noise_e`` electrons; then
    ``adu = round(gain_adu_per_e * n + offset_adu)`` clipped to ``[0, 2**bit_depth - 1]``.

    Parameters
    ----------
    quantum_efficiency : float
        Fraction of photons detected, in (0, 1].
    gain_adu_per_e : float
        Conversion gain in ADU per (post-multiplication) electron.
    offset_adu : float
        Constant offset (bias) added to every pixel, in ADU.
    read_noise_e : float
        Standard deviation of the Gaussian read noise, in electrons.
    em_gain : float or None
        Mean electron-multiplication gain (>= 1) of an EMCCD; ``None`` for no EM register.
    bit_depth : int
        Bits of the digitizer, 1--16; images are uint8 up to 8 bits, else uint16.
    """

    quantum_efficiency: float = 1.0
    gain_adu_per_e: float = 1.0
    offset_adu: float = 100.0
    read_noise_e: float = 0.0
    em_gain: float | None = None
    bit_depth: int = 16

    def __post_init__(self) -> None:
        for name in ("quantum_efficiency", "gain_adu_per_e", "offset_adu", "read_noise_e"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise InputError(f"{name} must be a number, got {value!r}")
        if self.em_gain is not None and not isinstance(self.em_gain, int | float | np.number):
            raise InputError(f"em_gain must be None or a number, got {self.em_gain!r}")
        if isinstance(self.bit_depth, bool) or not isinstance(self.bit_depth, int | np.integer):
            raise InputError(f"bit_depth must be an integer in [1, 16], got {self.bit_depth!r}")
        if not 1 <= self.bit_depth <= 16:
            raise InputError(f"bit_depth must be an integer in [1, 16], got {self.bit_depth!r}")
        if not 0.0 < self.quantum_efficiency <= 1.0:
            raise InputError(
                f"quantum_efficiency must be in (0, 1], got {self.quantum_efficiency!r}"
            )
        if not 0.0 < self.gain_adu_per_e < np.inf:
            raise InputError(f"gain_adu_per_e must be positive, got {self.gain_adu_per_e!r}")
        if not 0.0 <= self.offset_adu < 2**self.bit_depth:
            raise InputError(f"offset_adu must be in [0, 2**bit_depth), got {self.offset_adu!r}")
        if not 0.0 <= self.read_noise_e < np.inf:
            raise InputError(f"read_noise_e must be >= 0, got {self.read_noise_e!r}")
        if self.em_gain is not None and not 1.0 <= self.em_gain < np.inf:
            raise InputError(f"em_gain must be None or >= 1, got {self.em_gain!r}")

    @property
    def dtype(self) -> np.dtype:
        """Image dtype: uint8 for ``bit_depth <= 8``, else uint16."""
        return np.dtype(np.uint8 if self.bit_depth <= 8 else np.uint16)

    @property
    def max_adu(self) -> int:
        """Largest representable value, ``2**bit_depth - 1``."""
        return 2**self.bit_depth - 1

    @property
    def total_gain_adu_per_photon(self) -> float:
        """Mean ADU per incident photon: ``qe * em_gain * gain_adu_per_e``."""
        return self.quantum_efficiency * (self.em_gain or 1.0) * self.gain_adu_per_e

    def expose(self, expected_photons: ArrayLike, rng: np.random.Generator) -> np.ndarray:
        """Draw one noisy camera image from expected photons.

        Parameters
        ----------
        expected_photons : array_like
            Expected photons per pixel (negative values are treated as zero).
        rng : np.random.Generator
            Source of randomness.

        Returns
        -------
        np.ndarray
            Image in ADU, same shape, dtype :attr:`dtype`.
        """
        lam = np.asarray(expected_photons, dtype=np.float64)
        if not np.isfinite(lam.sum()):  # one cheap pass; NaN or inf anywhere makes it non-finite
            raise InputError("expected_photons must be finite")
        if self.quantum_efficiency != 1.0:
            lam = lam * self.quantum_efficiency
        counts = poisson_image(lam, rng)
        em_gain = self.em_gain if self.em_gain is not None and self.em_gain > 1.0 else None
        em = em_gain is not None
        integer_path = self.gain_adu_per_e == 1.0 and float(self.offset_adu).is_integer()
        if integer_path and not em and self.read_noise_e == 0.0:
            # Integer counts need no rounding: skip the float round trip (real-time path).
            counts += int(self.offset_adu)
            np.minimum(counts, self.max_adu, out=counts)
            return counts.astype(self.dtype)
        electrons = counts.astype(np.float64)
        if em_gain is not None:
            # Gamma(n, g) is 0 for n = 0, so dark pixels stay dark as in a real EM register.
            electrons = rng.gamma(electrons, em_gain)
        if self.read_noise_e > 0.0:
            electrons += self.read_noise_e * rng.standard_normal(electrons.shape, dtype=np.float32)
        adu = electrons
        if self.gain_adu_per_e != 1.0:
            adu *= self.gain_adu_per_e
        adu += self.offset_adu
        np.rint(adu, out=adu)
        np.clip(adu, 0, self.max_adu, out=adu)
        return adu.astype(self.dtype)

    def to_photons(self, adu: ArrayLike) -> np.ndarray:
        """Invert the mean response: ``(adu - offset) / gain / em_gain / qe``.

        Parameters
        ----------
        adu : array_like
            Camera image in ADU.

        Returns
        -------
        np.ndarray
            Float32 estimated photons per pixel (noisy, may be negative).
        """
        adu = np.asarray(adu, dtype=np.float32)
        return (adu - np.float32(self.offset_adu)) / np.float32(self.total_gain_adu_per_photon)
