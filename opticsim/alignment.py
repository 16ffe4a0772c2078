"""Misalignment of an element: its shift and rotation in its plane, and its defocus along z.

An element moved in its plane is a rigid motion of what it does to the sampled field: a
shift ``s`` (m) multiplies the spectrum of its samples by ``exp(−i2π ν·s)``, and a rotation
by θ is three shears ``R(θ) = X(α)·Y(β)·X(α)``, α = −tan(θ/2), β = sin θ, each a shift of
every row (column) by an amount proportional to its position (Unser, Thévenaz & Yaroslavsky,
IEEE Trans. Image Process. 4:1371, 1995). Both are exact for samples of a band-limited
function and circular over the window, and need no interpolation kernel: a sub-sample shift
moves the pixel apertures, dead frames and fringes of a rendered panel as one. A shift of a
whole number of samples is a roll of the samples. On an even number of samples the Nyquist
frequency −N/2 is moved as a negative frequency (an odd number has none).

An element moved by Δz along the axis of a 4f correlator sees the field propagated by Δz.
In the Fresnel approximation, the one the lens transform itself rests on (Goodman eq. 5-19),
that multiplies the field's spectrum by ``exp(−iπλΔz·ν²)``, and a lens of focal length f maps
the frequency ν to the position r = λf·ν of its other focal plane, so the defocus is the
quadratic phase ``exp(−iπΔz·r²/(λf²))`` there (:func:`defocus_phase`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.fft

from .checks import SamplingWarning
from .grid import coordinates
from .propagate import _quadratic_phase


def warp_steps(shape, pitch, shift=(0.0, 0.0), rotation: float = 0.0) -> list:
    """The steps that move samples on a centred ``shape`` grid of ``pitch`` ``(dy, dx)`` (m):
    rotate them by ``rotation`` (rad, from +x towards +y, about the axis sample ``n//2``),
    then shift them by ``shift`` ``(sy, sx)`` (m). Each step is ``(axes, factor)``: an FFT
    over ``axes``, the product with ``factor`` (complex128 ``(ny, nx)``, FFT order along
    ``axes``), the inverse FFT (:func:`warp`). No steps when nothing moves."""
    (ny, nx), (dy, dx) = shape, pitch
    y, x = coordinates(ny, dy)[:, None], coordinates(nx, dx)[None, :]
    fy, fx = np.fft.fftfreq(ny, dy)[:, None], np.fft.fftfreq(nx, dx)[None, :]
    steps = []
    if rotation:
        along_x = (-1,), np.exp(2j * np.pi * fx * y * math.tan(rotation / 2))   # X(−tan θ/2)
        along_y = (-2,), np.exp(-2j * np.pi * fy * x * math.sin(rotation))      # Y(sin θ)
        steps = [along_x, along_y, along_x]
    if shift[0] or shift[1]:
        steps.append(((-2, -1), np.exp(-2j * np.pi * (fy * shift[0] + fx * shift[1]))))
    return steps


def warp(samples: np.ndarray, steps) -> np.ndarray:
    """``samples`` ``(..., ny, nx)`` moved by the :func:`warp_steps` ``steps``, complex of
    their precision (complex64 stays single)."""
    dtype = np.result_type(samples.dtype, np.complex64)
    for axes, factor in steps:
        spectrum = scipy.fft.fftn(samples, axes=axes)
        spectrum *= factor.astype(dtype)
        samples = scipy.fft.ifftn(spectrum, axes=axes, overwrite_x=True)
    return samples.astype(dtype, copy=False)


def defocus_phase(shape, pitch, wavelength: float, focal_length: float, distance: float,
                  check: bool = True) -> np.ndarray:
    """``exp(−iπΔz·(x² + y²)/(λf²))`` on a centred ``shape`` grid of ``pitch`` (m), complex128:
    the Fresnel transfer function of a propagation by ``distance`` Δz (m) at wavelength λ (m),
    carried to the other focal plane of a lens of ``focal_length`` f (m).

    Warns with :class:`~opticsim.SamplingWarning` when the phase is undersampled: its local
    frequency ``|Δz|·x/(λf²)`` passes the Nyquist frequency ``1/(2d)`` inside the window, i.e.
    ``|Δz|·N·d² > λf²`` on an axis (the defocused field outgrows the conjugate window), unless
    ``check`` is False."""
    limit = wavelength * focal_length ** 2 / max(n * d * d for n, d in zip(shape, pitch))
    if check and abs(distance) > limit:
        warnings.warn(
            f"a defocus of {distance} m puts the quadratic phase exp(−iπΔz·r²/(λf²)) of "
            f"f = {focal_length} m above the Nyquist frequency of its {tuple(shape)}-sample grid "
            f"at pitch {tuple(pitch)} m, so it aliases; keep |defocus| <= λf²/(N·d²) = "
            f"{limit:.3g} m or sample that plane finer", SamplingWarning, stacklevel=3)
    return _quadratic_phase(shape, pitch, -wavelength * focal_length ** 2 / distance)
