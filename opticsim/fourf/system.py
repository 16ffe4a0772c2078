"""The 4f correlator as a whole: its elements, checked, and the constants they give."""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass

import numpy as np

from .. import checks, readout
from ..camera import Camera
from ..field import as_complex
from ..laser import Laser
from ..lens import Lens
from ..slm import SLM
from .convolution import Convolution
from .exposure import Exposure
from .fourier_plane import FourierPlane, _Shown, fourier_factor
from .frames import Frames, output_phase
from .input_plane import InputPlane, input_illumination
from .sampling import Sampling


@dataclass(frozen=True, eq=False)


class FourF(Sampling, InputPlane, FourierPlane, Frames, Convolution, Exposure):
    """A 4f correlator: ``laser`` → ``input_slm`` → ``lens1`` (f1) → ``fourier_slm`` →
    ``lens2`` (f2) → ``camera``.

    The simulation grid of the input plane has ``shape`` samples at ``pitch`` (m); with an
    ``input_slm`` they default to its panel at pitch/oversample (a smaller ``shape`` simulates
    a centred window of the panel). The Fourier plane is sampled at ``λ·f1/(N·dx)`` by one FFT
    when the Fourier SLM's pitch/oversample equals that; any other Fourier-SLM pitch is sampled
    exactly, at its own samples over its panel (light outside the panel is blocked), by
    Fourier transforms at arbitrary pitch to the panel and back to the output grid (matrix
    products for small grids, chirp-z transforms of ``O(N² log N)`` for large ones; see
    :func:`opticsim.propagate.lens_at_pitch`). Any element left ``None`` is ideal: a real amplitude input, any complex mask on the
    Fourier grid, the irradiance ``|E|²`` (W/m²) at pitch ``dx·f2/f1``. ``readout`` is
    ``"intensity"``, ``"field"`` or ``"differential"`` and ``multiplex`` ``"time"`` or
    ``"tiled"`` (see :mod:`opticsim.readout`); ``dtype`` is complex64 (default) or complex128.
    """

    laser: Laser
    lens1: Lens
    lens2: Lens
    shape: tuple[int, int] | None = None
    pitch: tuple[float, float] | None = None
    _: KW_ONLY
    input_slm: SLM | None = None
    fourier_slm: SLM | None = None
    camera: Camera | None = None
    readout: str = "intensity"
    multiplex: str = "time"
    dtype: type = np.complex64

    def __post_init__(self):
        checks.instance("laser", self.laser, Laser)
        checks.instance("lens1", self.lens1, Lens)
        checks.instance("lens2", self.lens2, Lens)
        checks.instance("input_slm", self.input_slm, SLM, optional=True)
        checks.instance("fourier_slm", self.fourier_slm, SLM, optional=True)
        checks.instance("camera", self.camera, Camera, optional=True)
        self._set_grid()
        if self.readout not in readout.READOUTS:
            raise ValueError(f"readout must be one of {readout.READOUTS}, got {self.readout!r}")
        if self.multiplex not in readout.MULTIPLEX:
            raise ValueError(f"multiplex must be one of {readout.MULTIPLEX}, "
                             f"got {self.multiplex!r}")
        dtype = np.dtype(self.dtype)
        if dtype not in (np.complex64, np.complex128):
            raise ValueError(f"dtype must be complex64 or complex128, got {dtype}")
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "_by_fft", self.fourier_slm is None or all(
            math.isclose(self.fourier_slm.sample_pitch, p, rel_tol=1e-6)
            for p in self.fft_pitch))
        if self.input_slm is not None and self.input_slm.defocus:
            raise ValueError(f"input_slm.defocus must be 0 (m): the input plane's defocus is "
                             f"not modelled, got {self.input_slm.defocus!r}")
        illumination = input_illumination(self)
        object.__setattr__(self, "_illumination", checks.representable(
            f"the field of laser power={self.laser.power!r} W", as_complex(illumination, dtype),
            illumination))
        factor = fourier_factor(self)
        object.__setattr__(self, "_fourier_pupil", None if factor is None else factor.astype(dtype))
        object.__setattr__(self, "_output_phase", output_phase(self, dtype))
        object.__setattr__(self, "_camera_steps", [] if self.camera is None else
                           self.camera.view_steps(self.shape, self.output_pitch))
        object.__setattr__(self, "_shown", _Shown())
        # A real beam through real amplitudes (no input SLM, or one of real levels, in place)
        # leaves a real field, whose spectrum the fused path takes by the half-size real
        # transform.
        levels = None if self.input_slm is None else self.input_slm.levels(self.wavelength)
        real = not np.any(self._illumination.imag) and (levels is None or not np.any(levels.imag)
                                                        and not self.input_slm.moved)
        object.__setattr__(self, "_real_input", real)
        object.__setattr__(self, "_real_illumination",
                           np.ascontiguousarray(self._illumination.real) if real else None)

    def _set_grid(self):
        shape, pitch = self.shape, self.pitch
        if self.input_slm is not None:
            sample = self.input_slm.sample_pitch
            if pitch is None:
                pitch = sample
            elif not all(math.isclose(p, sample, rel_tol=1e-9)
                         for p in checks.pair("pitch", pitch)):
                raise ValueError(f"pitch {pitch} m must equal input_slm pitch/oversample = "
                                 f"{sample} m")
            shape = self.input_slm.sample_shape if shape is None else shape
        elif shape is None or pitch is None:
            raise ValueError("shape and pitch of the simulation grid are required without an "
                             "input_slm")
        object.__setattr__(self, "shape", checks.shape2("shape", shape))
        object.__setattr__(self, "pitch", checks.pair("pitch", pitch))
