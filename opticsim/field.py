"""The optical field: complex samples that carry their own sampling.

A ``Field`` holds complex amplitudes in √(W/m²) on a centred grid, so ``|E|²`` is an
irradiance in W/m² and ``Σ|E|²·dy·dx`` a power in W. Every function of the engine takes a
``Field`` and returns a new one; nothing else carries a pitch that could disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from . import _kernels, checks, fft
from .grid import coordinates


def as_complex(data, dtype=None) -> np.ndarray:
    """Complex, C-contiguous, SIMD-aligned copy of ``data``: complex128 stays double,
    everything else becomes complex64 unless ``dtype`` asks otherwise. A value beyond the
    precision's range becomes inf without a warning; :func:`checks.representable` tells."""
    data = np.asarray(data)
    if dtype is None:
        dtype = np.complex128 if data.dtype == np.complex128 else np.complex64
    dtype = np.dtype(dtype)
    if dtype not in (np.complex64, np.complex128):
        raise ValueError(f"dtype must be complex64 or complex128, got {dtype}")
    out = fft.empty(data.shape, dtype)
    with np.errstate(over="ignore"):
        np.copyto(out, data, casting="unsafe")
    return out


@dataclass(frozen=True, eq=False)
class Field:
    """Complex field samples ``(..., ny, nx)`` with their sampling.

    Parameters
    ----------
    data : array_like
        Complex amplitude in √(W/m²); leading axes are a batch. Copied into an aligned
        complex64 array (complex128 is kept), so the field never aliases user memory. Every
        sample must be finite, and stay so in that precision with its ``|E|²``
        (``ValueError`` otherwise).
    pitch : float or (float, float)
        Sample spacing ``dy, dx`` in metres.
    wavelength : float
        Vacuum wavelength in metres.
    """

    data: np.ndarray
    pitch: tuple[float, float]
    wavelength: float

    def __post_init__(self):
        data = checks.sample_array("data", np.asarray(self.data))
        object.__setattr__(self, "data", checks.representable("data", as_complex(data), data))
        object.__setattr__(self, "pitch", checks.pair("pitch", self.pitch))
        object.__setattr__(self, "wavelength", checks.positive("wavelength", self.wavelength))

    @classmethod
    def _trusted(cls, data: np.ndarray, pitch: tuple[float, float], wavelength: float) -> Field:
        """Wrap engine-made samples without another validation pass over the data."""
        field = object.__new__(cls)
        object.__setattr__(field, "data", data)
        object.__setattr__(field, "pitch", pitch)
        object.__setattr__(field, "wavelength", wavelength)
        return field

    def replace(self, data: np.ndarray, pitch: tuple[float, float] | None = None) -> Field:
        """A field of the same wavelength holding engine-made ``data``."""
        return Field._trusted(data, self.pitch if pitch is None else pitch, self.wavelength)

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(ny, nx)``."""
        return self.data.shape[-2:]

    @property
    def extent(self) -> tuple[float, float]:
        """Window size ``(Ny·dy, Nx·dx)`` in metres."""
        return (self.shape[0] * self.pitch[0], self.shape[1] * self.pitch[1])

    @property
    def x(self) -> np.ndarray:
        """Column coordinates (metres), centred on the axis."""
        return coordinates(self.shape[1], self.pitch[1])

    @property
    def y(self) -> np.ndarray:
        """Row coordinates (metres), centred on the axis."""
        return coordinates(self.shape[0], self.pitch[0])

    @property
    def intensity(self) -> np.ndarray:
        """Irradiance ``|E|²`` in W/m² (float32 for a complex64 field): one pass over the
        samples, in parallel over row blocks, into a new array."""
        data = np.ascontiguousarray(self.data)
        out = fft.empty(data.shape, data.real.dtype)
        width = self.shape[1]
        rows, target = data.reshape(1, -1, width), out.reshape(1, -1, width)
        unit = out.dtype.type(1)
        _kernels.run_tasks(
            partial(_kernels.intensity_shift, rows[:, start:stop], unit, 0, 0,
                    target[:, start:stop])
            for _, start, stop in _kernels.row_blocks(1, rows.shape[1], width))
        return out

    @property
    def power(self):
        """Power ``Σ|E|²·dy·dx`` in W, one value per batch entry."""
        return self.intensity.sum(axis=(-2, -1), dtype=np.float64) * (self.pitch[0] * self.pitch[1])

    def __mul__(self, transmittance) -> Field:
        """Multiply by a complex transmittance broadcastable to the samples: one pass that
        also checks the transmittance is finite (in parallel over row blocks)."""
        transmittance = np.asarray(transmittance)
        if transmittance.ndim < 2 or transmittance.shape[-2:] != self.shape:
            raise ValueError(
                f"transmittance must end in the field's shape {self.shape}, "
                f"got {transmittance.shape}")
        out_shape = np.broadcast_shapes(self.data.shape, transmittance.shape)
        out = fft.empty(out_shape, self.data.dtype)        # the field keeps its precision
        if out_shape != self.data.shape or not np.issubdtype(transmittance.dtype, np.number) \
                or (transmittance.shape != out_shape and transmittance.ndim > 2):
            checks.finite_array("transmittance", transmittance)
            np.multiply(self.data, transmittance, out=out, casting="same_kind")
            return self.replace(out)
        width = self.shape[1]
        rows, factor = out.reshape(-1, width), transmittance.reshape(-1, width)
        data = self.data.reshape(-1, width)
        blocks = _kernels.row_blocks(1, rows.shape[0], width)
        if not all(_kernels.run_tasks(
                partial(_kernels.multiply_checked, data[start:stop], factor, start,
                        rows[start:stop]) for _, start, stop in blocks)):
            raise ValueError("transmittance contains NaN or infinite samples")
        return self.replace(out)

    __rmul__ = __mul__
