"""Laser source: the illuminating field with a stated wavelength and total power."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from . import checks
from .checks import SamplingWarning
from .field import Field, as_complex
from .grid import radius_squared


@dataclass(frozen=True, eq=False)
class Laser:
    """Continuous-wave laser of ``wavelength`` (m) and ``power`` (W).

    ``profile="flat"`` illuminates the whole window uniformly (an expanded, collimated beam);
    ``"gaussian"`` is a TEM00 beam at its waist, amplitude ``exp(−r²/w²)`` with ``waist`` w the
    1/e² intensity radius (m). Either way the samples are normalised so that
    ``Σ|E|²·dy·dx = power`` on the grid, amplitudes in √(W/m²).
    """

    wavelength: float
    power: float
    profile: str = "flat"
    waist: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "wavelength", checks.positive("wavelength", self.wavelength))
        object.__setattr__(self, "power", checks.positive("power", self.power))
        if self.profile not in ("flat", "gaussian"):
            raise ValueError(f"profile must be 'flat' or 'gaussian', got {self.profile!r}")
        if self.profile == "gaussian":
            if self.waist is None:
                raise ValueError("waist must be given (1/e² intensity radius in m, > 0) for a "
                                 "gaussian profile")
            object.__setattr__(self, "waist", checks.positive("waist", self.waist))
        elif self.waist is not None:
            raise ValueError("waist applies only to profile='gaussian'")

    def amplitude(self, shape, pitch) -> np.ndarray:
        """Real amplitude (√(W/m²)) on a centred grid, float64, carrying ``power`` watts.

        Warns (:class:`SamplingWarning`) when a Gaussian ``waist`` is below the pitch: the
        beam then covers a few samples or one, and its profile is lost."""
        shape, pitch = checks.shape2("shape", shape), checks.pair("pitch", pitch)
        if self.profile == "flat":
            amplitude = np.ones(shape)
        else:
            if self.waist < max(pitch):
                warnings.warn(
                    f"waist {self.waist} m is below the grid pitch {pitch} m, so the Gaussian "
                    "beam is undersampled (its power lands on a few samples); use a pitch "
                    "below the waist or a larger waist", SamplingWarning, stacklevel=2)
            with np.errstate(over="ignore"):     # r²/w² → inf far out: exp gives 0
                amplitude = np.exp(-radius_squared(shape, pitch) / self.waist / self.waist)
        grid_power = np.sum(amplitude ** 2) * pitch[0] * pitch[1]
        return amplitude * (np.sqrt(self.power) / np.sqrt(grid_power))

    def field(self, shape, pitch, dtype=np.complex64) -> Field:
        """The illuminating field on a centred ``shape`` grid of ``pitch`` (m), ``dtype``
        complex64 or complex128; ``ValueError`` when its amplitude or irradiance overflows
        ``dtype`` (an absurd ``power`` for the grid)."""
        amplitude = self.amplitude(shape, pitch)
        data = checks.representable(f"the field of power={self.power!r} W",
                                    as_complex(amplitude, dtype), amplitude)
        return Field._trusted(data, checks.pair("pitch", pitch), self.wavelength)
