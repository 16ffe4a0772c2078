"""Spatial light modulator: gray levels → pixelated complex transmittance at the field sampling.

A panel of ``shape`` pixels of ``pitch`` metres shows one gray level per pixel. Each gray level
displays a complex transmittance (its *level*): with the linear LUT, gray ``g`` of a phase panel
shows ``exp(i·g·δ/2^bits)`` with the phase stroke δ = 2π·d·Δn/λ, an amplitude panel
``g/(2^bits − 1)``, a DMD (``mode="binary"``) 0 or 1. Each pixel is an active square of side
√FF·pitch centred in a dead frame that transmits nothing, so a uniform pattern diffracts into
orders at multiples of λf/pitch under the envelope sinc²(m·√FF) per axis. Fringing fields
smooth the liquid-crystal phase across pixel edges (Persson et al., Opt. Express 20:22334, 2012).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from . import _kernels, alignment, checks, fft
from .checks import SamplingWarning
from .field import Field
from .grid import embed_centred, place_centred

MODES = ("phase", "amplitude", "binary")
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


def pixel_coverage(oversample: int, fill_factor: float) -> np.ndarray:
    """Active fraction of each of the ``oversample`` samples across one pixel, float64.

    The active side √FF·p is centred in the pixel: sample ``u`` covers [u, u + 1) and the
    active part [m, s − m], m = s·(1 − √FF)/2 (samples), so the fractions sum to s·√FF even
    when the edges fall inside a sample. A sample's transmittance is the area-weighted mean.
    """
    margin = oversample * (1 - math.sqrt(fill_factor)) / 2
    u = np.arange(oversample, dtype=np.float64)
    return np.clip(np.minimum(u + 1, oversample - margin) - np.maximum(u, margin), 0.0, 1.0)


def double_phase(mask) -> np.ndarray:
    """Phases (rad, one per pixel) with which a phase-only panel shows complex transmittances
    ``mask`` ``(..., h, w)`` of modulus ≤ 1: ``φ + θ`` on the pixels where row + column is
    even and ``φ − θ`` on the others, ``φ = arg M``, ``θ = arccos|M|`` (double-phase
    encoding, Hsueh & Sawchuk, Appl. Opt. 17:3874, 1978).

    The panel then shows ``exp(iP) = M + i·sin θ·e^{iφ}·(−1)^(row+column)``: the mask itself
    plus a term on the checkerboard carrier, whose light a 4f correlator sends half a replica
    period (:attr:`FourF.replica_period`) away from the optical axis in both axes. Fringing
    blurs the checkerboard, so it suits panels of little crosstalk.
    """
    mask = np.asarray(mask)
    checks.finite_array("mask", mask)
    modulus = np.abs(mask)
    if modulus.size and modulus.max() > 1 + 1e-6:
        raise ValueError(f"mask must have modulus <= 1 (a passive SLM), got {modulus.max():g}")
    rows, cols = np.indices(mask.shape[-2:])
    sign = np.where((rows + cols) % 2 == 0, 1.0, -1.0)
    return np.angle(mask) + sign * np.arccos(np.minimum(modulus, 1.0))


@dataclass(frozen=True, eq=False)
class SLM:
    """A pixelated modulator of ``shape`` ``(H, W)`` pixels at ``pitch`` (m, square pixels).

    Parameters
    ----------
    mode : ``"phase"`` (LCoS phase-only), ``"amplitude"`` or ``"binary"`` (DMD, on/off).
    bits : gray-level bit depth in [1, 16]; 2**bits levels. Default 8, and 1 (the only value
        allowed) for ``"binary"``.
    fill_factor : active area fraction FF of a pixel, in (0, 1].
    phase_range : phase stroke δ (rad, > 0) of the linear LUT, or a callable wavelength (m) →
        δ (rad) for a panel whose stroke is 2π·d·Δn/λ.
    lut : measured table of 2**bits values, gray → phase (rad, real, phase mode) or gray →
        complex transmittance (phase-coupled or amplitude panels; real values of a non-phase
        panel are amplitudes). It replaces the linear LUT and ``phase_range`` at its wavelength.
    crosstalk : fringing width in pixels (>= 0): the FWHM of the Gaussian that smooths the
        liquid-crystal phase (the complex transmittance for non-phase panels) across pixel
        edges; a phase step then rises 10–90 % over about ``crosstalk`` pixels.
    oversample : field samples per pixel and axis (integer >= 1); resolving a dead frame or
        fringing needs several.
    frame_rate : pattern update rate (Hz, > 0) or None.
    shift_x, shift_y : lateral offset (m, finite) of the panel's centre from the optical axis,
        towards +x (columns) and +y (rows) of the grid; sub-sample offsets move the rendered
        panel (pixels, dead frame, fringing) as one (:func:`opticsim.alignment.warp`). Default 0.
    rotation : in-plane rotation (rad) in [−π/2, π/2] of the panel about the optical axis, from
        +x towards +y. Default 0.
    defocus : axial offset Δz (m, finite) of a Fourier-plane panel from the back focal plane of
        lens 1, > 0 towards lens 2 (:class:`~opticsim.FourF` applies it; an input SLM must have
        0). Default 0.
    """

    shape: tuple[int, int]
    pitch: float
    mode: str = "phase"
    bits: int | None = None
    fill_factor: float = 1.0
    phase_range: float | Callable[[float], float] = 2 * math.pi
    lut: np.ndarray | None = None
    crosstalk: float = 0.0
    oversample: int = 1
    frame_rate: float | None = None
    shift_x: float = 0.0
    shift_y: float = 0.0
    rotation: float = 0.0
    defocus: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "shape", checks.shape2("shape", self.shape))
        set_(self, "pitch", checks.positive("pitch", self.pitch))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        bits = (1 if self.mode == "binary" else 8) if self.bits is None else self.bits
        set_(self, "bits", checks.integer("bits", bits, 1, 16))
        if self.mode == "binary" and self.bits != 1:
            raise ValueError(f"bits must be 1 for mode='binary' (on/off mirrors), got {bits!r}")
        set_(self, "fill_factor", checks.in_range("fill_factor", self.fill_factor, 0.0, 1.0,
                                                  low_open=True))
        if not callable(self.phase_range):
            set_(self, "phase_range", checks.positive("phase_range", self.phase_range))
        if self.lut is not None:
            set_(self, "lut", self._checked_lut(self.lut))
        set_(self, "crosstalk", checks.non_negative("crosstalk", self.crosstalk))
        set_(self, "oversample", checks.integer("oversample", self.oversample, 1))
        if self.frame_rate is not None:
            set_(self, "frame_rate", checks.positive("frame_rate", self.frame_rate))
        for name in ("shift_x", "shift_y", "defocus"):
            set_(self, name, checks.finite(name, getattr(self, name), "m"))
        set_(self, "rotation", checks.in_range("rotation", self.rotation, -math.pi / 2,
                                               math.pi / 2))
        coverage = pixel_coverage(self.oversample, self.fill_factor)
        if self.fill_factor < 1 and np.ptp(coverage) < 1e-12:
            warnings.warn(
                f"oversample={self.oversample} gives every sample of a pixel the same active "
                f"fraction, so the dead frame of fill_factor={self.fill_factor} only dims the "
                "field and its diffraction orders are missing; use oversample >= 3",
                SamplingWarning, stacklevel=3)

    def _checked_lut(self, lut) -> np.ndarray:
        lut = np.asarray(lut)
        if lut.ndim != 1 or lut.size != self.level_count:
            raise ValueError(f"lut must hold 2**bits = {self.level_count} values (gray 0 to "
                             f"{self.level_count - 1}), got shape {lut.shape}")
        if not np.issubdtype(lut.dtype, np.number) or not np.isfinite(lut).all():
            raise ValueError("lut must hold finite phases (rad) or complex transmittances")
        lut = lut.astype(np.complex128 if np.iscomplexobj(lut) else np.float64)
        lut.setflags(write=False)
        return lut

    # --- geometry and timing --------------------------------------------------------------

    @property
    def level_count(self) -> int:
        """Number of gray levels, 2**bits."""
        return 2 ** self.bits

    @property
    def extent(self) -> tuple[float, float]:
        """Panel size ``(H·pitch, W·pitch)`` in metres."""
        return (self.shape[0] * self.pitch, self.shape[1] * self.pitch)

    @property
    def frame_period(self) -> float | None:
        """Time per pattern, 1/frame_rate (s), or None."""
        return None if self.frame_rate is None else 1.0 / self.frame_rate

    @property
    def sample_pitch(self) -> float:
        """Field pitch the panel is sampled at, pitch/oversample (m)."""
        return self.pitch / self.oversample

    @property
    def sample_shape(self) -> tuple[int, int]:
        """Field samples covering the panel, ``(H·oversample, W·oversample)``."""
        return (self.shape[0] * self.oversample, self.shape[1] * self.oversample)

    @property
    def moved(self) -> bool:
        """True when the panel is shifted or rotated in its plane."""
        return bool(self.shift_x or self.shift_y or self.rotation)

    def on_grid(self, panel: np.ndarray, grid_shape) -> np.ndarray:
        """Panel samples ``(..., H·s, W·s)`` on a centred ``grid_shape`` grid at the panel's
        sample pitch: centred (:func:`grid.embed_centred`), then rotated by ``rotation`` and
        shifted by ``(shift_y, shift_x)`` (:func:`opticsim.alignment.warp`, circular over the
        grid)."""
        placed = embed_centred(panel, grid_shape)
        return alignment.warp(placed, self.warp_steps(grid_shape)) if self.moved else placed

    def warp_steps(self, grid_shape) -> list:
        """:func:`opticsim.alignment.warp_steps` of this panel's rotation and shift on a
        centred ``grid_shape`` grid at its sample pitch."""
        return alignment.warp_steps(grid_shape, (self.sample_pitch,) * 2,
                                    (self.shift_y, self.shift_x), self.rotation)

    @property
    def fringing_sigma(self) -> float:
        """Standard deviation of the fringing Gaussian in field samples, crosstalk·s/2.355."""
        return self.crosstalk * self.oversample / FWHM_PER_SIGMA

    # --- gray levels ----------------------------------------------------------------------

    def phase_stroke(self, wavelength: float | None = None) -> float:
        """Phase stroke δ (rad) of the linear LUT at ``wavelength`` (m; needed only when
        ``phase_range`` is a function of it)."""
        if not callable(self.phase_range):
            return self.phase_range
        if wavelength is None:
            raise ValueError("wavelength (m) must be given: this SLM's phase_range depends on it")
        stroke = self.phase_range(checks.positive("wavelength", wavelength))
        return checks.positive("phase_range(wavelength)", stroke)

    def phases(self, wavelength: float | None = None) -> np.ndarray | None:
        """Liquid-crystal phase (rad, as displayed, not wrapped) of each gray level of a
        phase-only panel; None for panels described by complex transmittance."""
        if self.mode != "phase" or np.iscomplexobj(self.lut):
            return None
        if self.lut is not None:
            return self.lut
        return np.arange(self.level_count) * (self.phase_stroke(wavelength) / self.level_count)

    def levels(self, wavelength: float | None = None) -> np.ndarray:
        """Complex transmittance of every gray level, ``(2**bits,)`` complex128."""
        phases = self.phases(wavelength)
        if phases is not None:
            return np.exp(1j * phases)
        if self.lut is not None:
            return self.lut.astype(np.complex128)
        return np.arange(self.level_count) / (self.level_count - 1) + 0j

    def _levels_as(self, wavelength, dtype) -> np.ndarray:
        """:meth:`levels` in ``dtype``: complex, or real for a panel whose levels are all real
        (it then modulates a real field); a ValueError for a real ``dtype`` otherwise."""
        levels = self.levels(wavelength)
        if np.dtype(dtype).kind == "c":
            return levels.astype(dtype)
        if np.any(levels.imag):
            raise ValueError(f"a real dtype {np.dtype(dtype)} needs a panel of real levels; "
                             f"this {self.mode} panel's are complex")
        return levels.real.astype(dtype)

    def displayed(self, gray, wavelength: float | None = None) -> np.ndarray:
        """Complex transmittance shown by each of the ``gray`` levels (one value per pixel)."""
        gray = self._gray(gray)
        if gray.size and (gray.min() < 0 or gray.max() >= self.level_count):
            raise ValueError(f"gray levels must be in [0, {self.level_count - 1}]")
        return self.levels(wavelength)[gray]

    def to_gray(self, values, wavelength: float | None = None) -> np.ndarray:
        """Gray levels (uint8 for bits <= 8, else uint16) displaying the nearest level to
        ``values``: phases (rad, wrapped modulo 2π, nearest on the circle) for a phase panel,
        amplitudes in [0, 1] otherwise, or complex transmittances (nearest in the complex
        plane, as for a complex LUT)."""
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"values must be numbers, got dtype {values.dtype}")
        dtype = np.uint8 if self.bits <= 8 else np.uint16
        search = self._search(wavelength)
        if np.iscomplexobj(values) or search is None:
            return self._nearest_complex(values, wavelength).astype(dtype)
        keys, order, period, low, high, tables = search
        flat = values.ravel() if values.dtype in (np.float32, np.float64) else \
            values.astype(np.float64).ravel()
        out = np.empty(flat.size, dtype)
        if not _kernels.quantize_nearest(flat, keys, order.astype(dtype), period, low, high,
                                         tables, out):
            raise ValueError(self._values_message())
        return out.reshape(values.shape)

    def _search(self, wavelength):
        """What :meth:`to_gray` searches for the nearest level to a real value: the sorted keys
        (phases wrapped into [0, 2π), or amplitudes), the gray level of each, the period of
        the circle they lie on (0 on a line), the range of valid values and the tables of
        :func:`_kernels.search_tables`; None when it searches the complex plane (a complex
        LUT). Kept per wavelength, as a displayed pattern changes every frame but not these."""
        searches = self.__dict__.setdefault("_searches", {})
        if wavelength not in searches:
            if len(searches) >= 8:
                searches.clear()
            searches[wavelength] = self._new_search(wavelength)
        return searches[wavelength]

    def _new_search(self, wavelength):
        phases = self.phases(wavelength)
        if phases is None and np.iscomplexobj(self.lut):
            return None
        if phases is not None:
            keys, period, low, high = np.mod(phases, 2 * np.pi), 2 * np.pi, -np.inf, np.inf
        else:
            keys, period, low, high = self.levels().real, 0.0, 0.0, 1.0
        order = np.argsort(keys, kind="stable")
        keys = np.ascontiguousarray(keys[order])
        return keys, order, period, low, high, _kernels.search_tables(keys, period)

    def _values_message(self) -> str:
        if self.mode == "phase":
            return "values must be finite phases (rad)"
        return "values must be finite amplitudes in [0, 1] (or complex transmittances)"

    def _nearest_complex(self, values, wavelength) -> np.ndarray:
        if values.size and not np.isfinite(values).all():
            raise ValueError(self._values_message())
        if np.iscomplexobj(values):
            targets = values
        elif self.mode == "phase":
            targets = np.exp(1j * values)
        elif values.size and (values.min() < 0 or values.max() > 1):
            raise ValueError(self._values_message())
        else:
            targets = values
        levels = self.levels(wavelength)
        tree = cKDTree(np.column_stack([levels.real, levels.imag]))
        _, index = tree.query(np.column_stack([targets.real.ravel(), targets.imag.ravel()]))
        return index.reshape(values.shape)

    # --- pixelation -----------------------------------------------------------------------

    def _gray(self, gray) -> np.ndarray:
        gray = np.asarray(gray)
        if not np.issubdtype(gray.dtype, np.integer):
            raise ValueError(f"gray must be integer gray levels in [0, {self.level_count - 1}], "
                             f"got dtype {gray.dtype}")
        return gray

    def transmittance(self, gray, field_pitch, wavelength: float | None = None, offset=None,
                      dtype=np.complex64) -> np.ndarray:
        """Transmittance ``(..., H·s, W·s)`` of the panel showing ``gray``, in ``dtype``
        (complex, or real for a panel of real levels).

        ``gray`` is ``(..., h, w)`` with h <= H, w <= W, placed at ``offset`` (default centred,
        ((H − h)//2, (W − w)//2)); the rest of the panel shows gray 0. ``field_pitch`` (m) must
        be pitch/oversample. Each pixel becomes s×s samples weighted by
        :func:`pixel_coverage`; with crosstalk the displayed phase is smoothed by a Gaussian of
        FWHM ``crosstalk`` pixels (edges extended) before ``exp(iφ)``.
        """
        gray = self._gray(gray)
        self._check_sampling(field_pitch, "gray", gray)
        stack = gray.reshape((-1,) + gray.shape[-2:])
        placed = place_centred(stack.shape[-2:], self.shape, offset)
        coverage = pixel_coverage(self.oversample, self.fill_factor)
        levels = self._levels_as(wavelength, dtype)        # refuses a real dtype it cannot fill
        out = fft.empty((stack.shape[0],) + self.sample_shape, dtype)
        if self.crosstalk == 0:
            coverage = coverage.astype(np.finfo(out.dtype).dtype)
            s = self.oversample                 # blocks of whole pixel rows
            valid = all(_kernels.run_tasks(
                partial(_kernels.pixelate, stack[b:b + 1], placed[0] - start // s, placed[1],
                        levels, coverage, out[b:b + 1, start:stop])
                for b, start, stop in _kernels.row_blocks(*out.shape, s)))
        else:
            valid = self._fringed(stack, placed, coverage, wavelength, out)
        if not valid:
            raise ValueError(f"gray levels must be in [0, {self.level_count - 1}]")
        return out.reshape(gray.shape[:-2] + self.sample_shape)

    def encode(self, values, illumination, field_pitch, wavelength: float | None = None,
               out=None) -> np.ndarray:
        """The field leaving the panel lit by ``illumination`` while it shows
        ``to_gray(values)``: ``(B, ny, nx)`` for values ``(B, h, w)`` and a complex
        ``illumination`` ``(ny, nx)`` on a centred grid of ``field_pitch`` (m), the panel
        centred on the grid (cropped or zero-padded as :func:`grid.embed_centred`), written
        into ``out`` when given. A panel of real levels also takes a real ``illumination``
        and gives a real field (``out`` of its dtype).

        The numbers of ``on_grid(transmittance(to_gray(values)), grid)·illumination``;
        with one sample per pixel, no fringing and real levels, in one pass
        (``_kernels.encode_levels``).
        """
        values = np.asarray(values)
        if out is None:
            out = fft.empty(values.shape[:-2] + illumination.shape, illumination.dtype)
        window = self._fused_window(values, illumination.shape, field_pitch)
        search = self._search(wavelength)
        if window is None or search is None or not np.isrealobj(values):
            gray = self.to_gray(values, wavelength)
            panel = self.transmittance(gray, field_pitch, wavelength, dtype=illumination.dtype)
            np.multiply(self.on_grid(panel, illumination.shape), illumination, out=out)
            return out
        keys, order, period, low, high, tables = search
        active = pixel_coverage(1, self.fill_factor).astype(np.finfo(out.dtype).dtype)[0]
        levels = (self._levels_as(wavelength, out.dtype) * active) * active
        stack = values.reshape((-1,) + values.shape[-2:])
        frames = out.reshape((-1,) + out.shape[-2:])
        top, left, (first, stop, start_column, stop_column) = window

        def rows(b, start, end):            # rows start:end of frame b
            return partial(
                _kernels.encode_levels, stack[b:b + 1], keys, period, low, high, tables,
                levels[order], levels[0], illumination[start:end], top - start, left,
                (first - start, stop - start, start_column, stop_column),
                frames[b:b + 1, start:end])

        blocks = _kernels.row_blocks(*frames.shape)
        if not all(_kernels.run_tasks(rows(*block) for block in blocks)):
            raise ValueError(self._values_message())
        return out

    def _fused_window(self, values, grid, field_pitch):
        """Where :meth:`encode` puts ``values`` in one pass: (top, left, (first and stop row,
        first and stop column of the panel on the grid)); None unless each pixel is one sample
        without fringing and the values lie on the grid. Raises ValueError for a
        ``field_pitch`` other than pitch/oversample or values larger than the panel."""
        self._check_sampling(field_pitch, "values", values)
        if self.oversample != 1 or self.crosstalk != 0 or self.moved:
            return None
        panel = [(n - p) // 2 for n, p in zip(grid, self.shape)]            # panel on the grid
        corner = [o + (p - v) // 2 for o, p, v in zip(panel, self.shape, values.shape[-2:])]
        if any(c < 0 or c + v > n for c, v, n in zip(corner, values.shape[-2:], grid)):
            return None
        rows, cols = [(max(o, 0), min(o + p, n)) for o, p, n in zip(panel, self.shape, grid)]
        return corner[0], corner[1], rows + cols

    def _check_sampling(self, field_pitch, name: str, pattern: np.ndarray) -> None:
        """Raise unless ``field_pitch`` (m) is pitch/oversample and ``pattern`` (``name``) is
        ``(..., h, w)`` no larger than the panel."""
        pitch = checks.pair("field_pitch", field_pitch)
        if not all(math.isclose(p, self.sample_pitch, rel_tol=1e-9) for p in pitch):
            raise ValueError(f"field_pitch {pitch} m must equal pitch/oversample = "
                             f"{self.sample_pitch} m (each pixel is oversample² samples)")
        if pattern.ndim < 2 or pattern.shape[-2] > self.shape[0] \
                or pattern.shape[-1] > self.shape[1]:
            raise ValueError(f"{name} must be (..., h, w) with h, w no larger than the panel "
                             f"{self.shape}, got shape {pattern.shape}")

    def _fringed(self, stack, placed, coverage, wavelength, out) -> bool:
        """Pixelate the liquid-crystal state, smooth it across pixel edges, then apply the
        dead frame; writes ``out`` and returns whether all gray levels were in range."""
        real = np.finfo(out.dtype).dtype
        phases = self.phases(wavelength)
        if phases is None:
            state_levels = self._levels_as(wavelength, out.dtype)
        else:
            state_levels = phases.astype(real)
        state = np.empty(out.shape, state_levels.dtype)
        valid = _kernels.pixelate(stack, *placed, state_levels, np.ones(self.oversample, real),
                                  state)
        state = gaussian_filter(state, self.fringing_sigma, mode="nearest", axes=(-2, -1))
        if phases is not None:
            state = np.exp(1j * state)
        s = self.oversample
        pixels = (out.shape[0], self.shape[0], s, self.shape[1], s)
        frame = np.outer(coverage, coverage).astype(real)[:, None, :]
        np.multiply(state.reshape(pixels), frame, out=out.reshape(pixels), casting="same_kind")
        return valid

    def modulate(self, field: Field, gray, offset=None) -> Field:
        """``field`` (possibly a batch) times the panel's transmittance for ``gray``.

        The panel's H·s × W·s samples sit centred on the field grid (moved by its shift and
        rotation, :meth:`on_grid`), which must be at least that large; outside the panel
        nothing is transmitted.
        """
        checks.instance("field", field, Field)
        rows, cols = self.sample_shape
        if field.shape[0] < rows or field.shape[1] < cols:
            raise ValueError(f"field grid {field.shape} is smaller than the panel's "
                             f"{self.sample_shape} samples")
        panel = self.transmittance(gray, field.pitch, field.wavelength, offset, field.data.dtype)
        if self.moved:
            return field.replace(field.data * self.on_grid(panel, field.shape))
        top, left = place_centred((rows, cols), field.shape)
        window = (..., slice(top, top + rows), slice(left, left + cols))
        out = fft.zeros(np.broadcast_shapes(field.data.shape[:-2], panel.shape[:-2])
                        + field.shape, field.data.dtype)
        np.multiply(field.data[window], panel, out=out[window])
        return field.replace(out)
