"""Thin lens with a circular clear aperture and Zernike aberrations in its pupil."""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import checks
from .checks import SamplingWarning
from .field import Field
from .grid import coordinates, polar, radius_squared
from .propagate import lens_ft
from .zernike import wavefront


def circular_aperture(shape, pitch, diameter: float) -> np.ndarray:
    """Transmission of a disk of ``diameter`` metres, edge samples weighted by the fraction
    of a sample they cover (a one-sample linear ramp), float64 in [0, 1]."""
    radius = np.sqrt(radius_squared(shape, pitch))
    return np.clip(0.5 - (radius - diameter / 2) / math.sqrt(pitch[0] * pitch[1]), 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Lens:
    """Thin lens of ``focal_length`` (m) with an optional clear aperture ``diameter`` (m) and
    ``zernike`` aberrations ``{noll_index: coefficient in waves RMS}`` over that aperture.

    The pupil function is ``P(ρ, θ) = circ(ρ)·exp(i2π·Σ c_j Z_j(ρ, θ))`` with ρ = 2r/D. When the
    lens is used as a Fourier-transforming element (:meth:`fourier`), the pupil is applied in
    the front focal plane, which neglects vignetting by the finite distance from that plane to
    the lens (valid while the input is well inside the aperture); for the exact thin-lens
    plane use :meth:`transmittance` with :func:`~opticsim.propagate.angular_spectrum`.
    """

    focal_length: float
    diameter: float | None = None
    zernike: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "focal_length", checks.positive("focal_length", self.focal_length))
        if self.diameter is not None:
            object.__setattr__(self, "diameter", checks.positive("diameter", self.diameter))
        if self.zernike is not None and not isinstance(self.zernike, Mapping):
            raise checks.ArgumentTypeError(
                f"zernike must be a dict {{noll_index: waves RMS}} or None, got "
                f"{type(self.zernike).__name__}")
        terms = {}
        for index, coefficient in (self.zernike or {}).items():
            noll = checks.integer("zernike keys (Noll indices)", index, 1)
            terms[noll] = checks.finite(f"zernike[{index}]", coefficient, "waves RMS")
        if terms and self.diameter is None:
            raise ValueError("zernike aberrations need the lens diameter, which sets the "
                             "normalisation radius of the pupil")
        object.__setattr__(self, "zernike", types.MappingProxyType(terms))

    def __reduce__(self):           # a mappingproxy does not pickle; the constructor makes one
        return Lens, (self.focal_length, self.diameter, dict(self.zernike))

    @property
    def ideal(self) -> bool:
        """True when the pupil is unit everywhere (no aperture, no aberration)."""
        return self.diameter is None and not self.zernike

    def pupil(self, shape, pitch, dtype=np.complex64) -> np.ndarray | None:
        """Pupil function on a centred grid of ``shape`` and ``pitch`` (m); None if ideal."""
        if self.ideal:
            return None
        shape, pitch = checks.shape2("shape", shape), checks.pair("pitch", pitch)
        pupil = circular_aperture(shape, pitch, self.diameter).astype(np.complex128)
        if self.zernike:
            rho, theta = polar(shape, pitch, self.diameter / 2)
            inside = pupil.real > 0
            waves = wavefront(self.zernike, rho[inside], theta[inside])
            pupil[inside] *= np.exp(2j * np.pi * waves)
        return pupil.astype(dtype)

    def apply_pupil(self, field: Field) -> Field:
        """The field times the pupil function (clear aperture and aberrations)."""
        checks.instance("field", field, Field)
        pupil = self.pupil(field.shape, field.pitch, field.data.dtype)
        return field if pupil is None else field * pupil

    def transmittance(self, shape, pitch, wavelength: float, dtype=np.complex64) -> np.ndarray:
        """Thin-lens transmittance ``P·exp(−iπr²/(λf))`` on a centred grid.

        Warns with :class:`SamplingWarning` when the lens chirp's local frequency
        ``x/(λf)`` exceeds the Nyquist frequency ``1/(2dx)`` inside the window or the
        aperture, on either axis.
        """
        shape, pitch = checks.shape2("shape", shape), checks.pair("pitch", pitch)
        wavelength = checks.positive("wavelength", wavelength)
        r_sq = radius_squared(shape, pitch)
        edge = [float(np.abs(coordinates(n, d)).max()) for n, d in zip(shape, pitch)]
        if self.diameter is not None:
            edge = [min(e, self.diameter / 2) for e in edge]
        if any(2 * e * d > wavelength * self.focal_length for e, d in zip(edge, pitch)):
            warnings.warn(
                f"the lens phase of f = {self.focal_length} m is undersampled at pitch {pitch} m "
                f"(needs d <= λf/(2·e) on each axis, with the half-widths e = {tuple(edge)} m "
                "of the window or aperture)",
                SamplingWarning, stacklevel=2)
        phase = np.exp(-1j * np.mod(np.pi * r_sq / (wavelength * self.focal_length), 2 * np.pi))
        pupil = self.pupil(shape, pitch, np.complex128)
        return (phase if pupil is None else phase * pupil).astype(dtype)

    def apply(self, field: Field) -> Field:
        """Pass ``field`` through the thin lens in its own plane."""
        checks.instance("field", field, Field)
        return field * self.transmittance(field.shape, field.pitch, field.wavelength,
                                          field.data.dtype)

    def fourier(self, field: Field, out_pitch=None, out_shape=None) -> Field:
        """Field in the back focal plane for ``field`` in the front focal plane (pupil applied
        there), optionally sampled at ``out_pitch``/``out_shape``; see :func:`opticsim.propagate.lens_ft`."""
        return lens_ft(self.apply_pupil(field), self.focal_length, out_pitch, out_shape)
