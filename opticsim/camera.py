"""Camera: the EMVA 1288 linear model of an image sensor (EMVA 1288 Release 4.0 Linear).

Light to digital numbers, per pixel: the irradiance is integrated over the pixel's active area
(a centred square of side √FF·p), giving ``μ_p = A·E·t·λ/(hc)`` photons; ``η·μ_p`` photo-electrons
plus ``μ_I·t`` dark electrons with Poisson shot noise (its skewed normal approximation from
20 e⁻), Gaussian read noise, full-well clipping, system gain ``K`` (DN/e⁻), black-level
offset, ADC rounding and clipping to ``0 … 2^bits − 1``.
The camera grid is centred on the optical axis like every grid (pixel ``n // 2`` is on axis).
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from functools import cached_property, lru_cache, partial

import numpy as np

from . import _kernels, alignment, checks
from .field import Field
from .grid import coordinates
from .propagate import fresnel

PLANCK = 6.62607015e-34  # J·s (exact, SI 2019)
SPEED_OF_LIGHT = 299792458.0  # m/s (exact)
QUANTIZATION_VARIANCE = 1 / 12  # σ_q² of a uniform rounding error, DN²


def photon_energy(wavelength: float) -> float:
    """Energy of one photon ``hc/λ`` (J) at vacuum ``wavelength`` (m)."""
    return PLANCK * SPEED_OF_LIGHT / wavelength


def _snap(edges: np.ndarray) -> np.ndarray:
    """Edges within 1e-9 of an integer, set to that integer."""
    nearest = np.round(edges)
    return np.where(np.abs(edges - nearest) < 1e-9, nearest, edges)


def pixel_overlaps(samples: int, sample_pitch: float, pixels: int, pixel_pitch: float,
                   active_width: float, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact overlap lengths (m) of the cells of a centred sample axis with the active
    windows of a centred pixel axis, as a band: ``(start, weight)``.

    Sample ``i`` covers ``[(i − N//2 − ½)·dx, (i − N//2 + ½)·dx]``; pixel ``j`` is active over
    ``(j − C//2)·p + shift ± active_width/2`` (``shift`` in m). Pixel ``j`` overlaps sample
    ``start[j] + u`` by ``weight[j, u]`` metres (int64 ``(C,)`` and float64 ``(C, w)``, every
    ``start[j] + u`` a valid sample). The overlap matrix is ``W[j, start[j] + u] = weight[j, u]``, and the power on a
    pixel is ``Σ W_y[J, i]·E[i, k]·W_x[K, k]`` for an irradiance constant over each sample cell.
    Edges closer than 1e-9 sample to a cell boundary are snapped to it, so commensurate
    pitches give bands without empty ends.
    """
    centres = coordinates(pixels, pixel_pitch) + shift
    # edges in units of sample cells: cell i spans [i, i + 1)
    left = _snap((centres - active_width / 2) / sample_pitch + samples // 2 + 0.5)
    right = _snap((centres + active_width / 2) / sample_pitch + samples // 2 + 0.5)
    first = np.clip(np.floor(left), 0, samples - 1).astype(np.int64)
    last = np.clip(np.ceil(right) - 1, 0, samples - 1).astype(np.int64)
    width = max(int(np.max(last - first)), 0) + 1
    start = np.clip(first, 0, samples - width)
    cells = start[:, None] + np.arange(width)[None, :]
    covered = np.minimum(cells + 1, right[:, None]) - np.maximum(cells, left[:, None])
    return start, np.clip(covered, 0.0, None) * sample_pitch


@lru_cache(maxsize=64)
def _band(samples: int, sample_pitch: float, pixels: int, pixel_pitch: float,
          active_width: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pixel_overlaps`, read-only and kept for the next frame of the same sampling."""
    band = pixel_overlaps(samples, sample_pitch, pixels, pixel_pitch, active_width, shift)
    for array in band:
        array.setflags(write=False)
    return band


def _one_sample_each(band) -> bool:
    """True when the band of :func:`pixel_overlaps` gives every pixel one sample, the next
    pixel the next sample."""
    start, weight = band
    return weight.shape[1] == 1 and bool(np.all(np.diff(start) == 1))


@dataclass(frozen=True, eq=False)
class Camera:
    """An image sensor of ``shape`` ``(ny, nx)`` pixels at ``pitch`` (m), EMVA 1288 linear model.

    Every parameter after ``pitch`` is keyword-only. The defaults describe a Sony IMX250-class
    machine-vision sensor at 12 bits (10.7 ke⁻ full well from its EMVA datasheet; QE, read
    noise and dark current unverified); ``exposure`` has no default.

    Parameters
    ----------
    exposure : float
        Exposure time t (s), > 0; at most the frame period when ``frame_rate`` is given.
    qe : float
        Quantum efficiency η at the field's wavelength, in (0, 1]. Default 0.65.
    gain : float
        Overall system gain K (DN/e⁻), > 0. Default 0.38 (the 12-bit ADC spans the full well).
    read_noise : float
        Temporal dark noise σ_d0 (e⁻ RMS), >= 0. Default 2.3.
    dark_current : float
        Mean dark current μ_I (e⁻/s), >= 0. Default 5.
    full_well : float
        Full-well capacity (e⁻), > 0. Default 10 700.
    bits : int
        ADC bit depth, 1–16; frames are uint8 up to 8 bits, uint16 above. Default 12.
    offset : float
        Black level μ_y.dark,0 (DN), in [0, 2^bits). Default 0, which clips the negative half
        of the dark noise as a camera with no black level does; set a few σ for clean statistics.
    fill_factor : float
        Active fraction FF of the pixel area, in (0, 1]: the active area is a centred square of
        side √FF·p. Default 1.
    prnu : float
        Photo-response nonuniformity, the relative RMS spread of the per-pixel gain, >= 0.
    dsnu : float
        Dark-signal nonuniformity, the RMS spread of a fixed per-pixel dark signal (e⁻), >= 0.
    frame_rate : float or None
        Maximum frame rate (frames/s), > 0, or None when not modelled.
    seed : int
        Seed of the fixed PRNU/DSNU pattern, >= 0: the same camera always has the same pattern.
    shift_x, shift_y : float
        Offset (m, finite) of the pixel grid's centre from the optical axis of the field it
        sees, towards +x (columns) and +y (rows): pixel ``j`` integrates over
        ``(j − C//2)·p + shift``, so a shift of one pixel moves the frame by one pixel towards
        −x. Default 0.
    rotation : float
        Rotation (rad) in [−π/2, π/2] of the pixel grid about the optical axis, from +x
        towards +y; the field is seen in the camera's axes, rotated by −rotation
        (:func:`opticsim.alignment.warp`; the shift is along the field's axes). Default 0.
    defocus : float
        Axial offset Δz (m, finite) of the sensor from the plane it images (the back focal
        plane of lens 2 in a :class:`~opticsim.FourF`), > 0 away from the lens: the field is
        propagated by Δz (Fresnel transfer function). Default 0.
    """

    shape: tuple[int, int]
    pitch: tuple[float, float]
    _: KW_ONLY
    exposure: float
    qe: float = 0.65
    gain: float = 0.38
    read_noise: float = 2.3
    dark_current: float = 5.0
    full_well: float = 10_700.0
    bits: int = 12
    offset: float = 0.0
    fill_factor: float = 1.0
    prnu: float = 0.0
    dsnu: float = 0.0
    frame_rate: float | None = None
    seed: int = 0
    shift_x: float = 0.0
    shift_y: float = 0.0
    rotation: float = 0.0
    defocus: float = 0.0

    def __post_init__(self):
        bits = checks.integer("bits", self.bits, 1, 16)
        offset = checks.non_negative("offset", self.offset)
        if offset >= 2 ** bits:
            raise ValueError(f"offset must be in [0, 2**bits) = [0, {2 ** bits}) DN, "
                             f"got {self.offset!r}")
        validated = {
            "shape": checks.shape2("shape", self.shape),
            "pitch": checks.pair("pitch", self.pitch),
            "qe": checks.in_range("qe", self.qe, 0.0, 1.0, low_open=True),
            "gain": checks.positive("gain", self.gain),
            "read_noise": checks.non_negative("read_noise", self.read_noise),
            "dark_current": checks.non_negative("dark_current", self.dark_current),
            "full_well": checks.positive("full_well", self.full_well),
            "bits": bits,
            "offset": offset,
            "fill_factor": checks.in_range("fill_factor", self.fill_factor, 0.0, 1.0,
                                           low_open=True),
            "prnu": checks.non_negative("prnu", self.prnu),
            "dsnu": checks.non_negative("dsnu", self.dsnu),
            "frame_rate": (None if self.frame_rate is None
                           else checks.positive("frame_rate", self.frame_rate)),
            "seed": checks.integer("seed", self.seed, 0),
            "shift_x": checks.finite("shift_x", self.shift_x, "m"),
            "shift_y": checks.finite("shift_y", self.shift_y, "m"),
            "rotation": checks.in_range("rotation", self.rotation, -math.pi / 2, math.pi / 2),
            "defocus": checks.finite("defocus", self.defocus, "m"),
        }
        for name, value in validated.items():
            object.__setattr__(self, name, value)
        exposure = checks.positive("exposure", self.exposure)
        object.__setattr__(self, "exposure", self._exposure(exposure))

    def _exposure(self, exposure=None) -> float:
        """``exposure`` (s) validated against the frame period; None gives the camera's."""
        if exposure is None:
            return self.exposure
        exposure = checks.positive("exposure", exposure)
        if self.frame_period is not None and exposure > self.frame_period:
            raise ValueError(f"exposure must be at most the frame period 1/frame_rate = "
                             f"{self.frame_period!r} s, got {exposure!r}")
        return exposure

    # --- geometry and timing ----------------------------------------------------------------

    @property
    def extent(self) -> tuple[float, float]:
        """Sensor size ``(ny·p_y, nx·p_x)`` in metres."""
        return (self.shape[0] * self.pitch[0], self.shape[1] * self.pitch[1])

    @property
    def frame_period(self) -> float | None:
        """Shortest time between frames ``1/frame_rate`` (s), or None."""
        return None if self.frame_rate is None else 1.0 / self.frame_rate

    @property
    def max_level(self) -> int:
        """Largest digital number ``2^bits − 1``."""
        return 2 ** self.bits - 1

    @property
    def dtype(self) -> np.dtype:
        """Frame dtype: uint8 up to 8 bits, uint16 above."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    # --- fixed pattern ----------------------------------------------------------------------

    @cached_property
    def prnu_pattern(self) -> np.ndarray:
        """Per-pixel relative response ``max(1 + prnu·z, 0)``, z ~ N(0, 1) fixed by ``seed``."""
        if self.prnu == 0:
            return np.ones(self.shape)
        z = np.random.default_rng([self.seed, 0]).standard_normal(self.shape)
        return np.maximum(1.0 + self.prnu * z, 0.0)

    @cached_property
    def dsnu_pattern(self) -> np.ndarray:
        """Per-pixel fixed dark signal ``dsnu·z`` (e⁻), z ~ N(0, 1) fixed by ``seed``."""
        if self.dsnu == 0:
            return np.zeros(self.shape)
        return self.dsnu * np.random.default_rng([self.seed, 1]).standard_normal(self.shape)

    # --- light to electrons -----------------------------------------------------------------

    def _overlaps(self, samples: tuple[int, int], pitch: tuple[float, float]):
        """The banded overlaps (:func:`pixel_overlaps`) of the pixels' active areas with the
        cells of a ``samples`` grid at ``pitch`` in the camera's axes, for rows and for
        columns: the shift turned by −rotation into those axes."""
        active = math.sqrt(self.fill_factor)
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        shifts = (cos * self.shift_y - sin * self.shift_x, cos * self.shift_x + sin * self.shift_y)
        return tuple(_band(n, p, c, q, active * q, s)
                     for n, p, c, q, s in zip(samples, pitch, self.shape, self.pitch, shifts))

    def view_steps(self, shape, pitch) -> list:
        """:func:`opticsim.alignment.warp_steps` that turn a field on a centred ``shape`` grid
        of ``pitch`` (m) into the camera's axes (a rotation by −rotation); none unrotated."""
        return alignment.warp_steps(shape, pitch, rotation=-self.rotation)

    def seen(self, field: Field) -> Field:
        """``field`` as the sensor sees it: propagated by ``defocus`` (Fresnel transfer
        function, :func:`opticsim.propagate.fresnel` ``method="tf"``) and turned into the
        camera's axes (:meth:`view_steps`)."""
        checks.instance("field", field, Field)
        if self.defocus > 0:
            field = fresnel(field, self.defocus, method="tf")
        elif self.defocus < 0:          # back by |Δz|: the conjugate of forward on conj(E)
            back = fresnel(field.replace(np.conj(field.data)), -self.defocus, method="tf")
            field = back.replace(np.conj(back.data))
        if self.rotation:
            field = field.replace(alignment.warp(field.data, self.view_steps(field.shape,
                                                                              field.pitch)))
        return field

    def _power(self, irradiance: np.ndarray, pitch: tuple[float, float]) -> np.ndarray:
        """Power (W) on each pixel's active area, ``(..., *shape)`` float64."""
        stack = irradiance.reshape((-1,) + irradiance.shape[-2:])
        power = self._integrated(stack, *self._overlaps(stack.shape[-2:], pitch))
        return power.reshape(irradiance.shape[:-2] + self.shape)

    def _integrated(self, stack: np.ndarray, rows, cols) -> np.ndarray:
        """Power (W) on each pixel of the irradiance ``stack`` (W/m²) through the overlap
        bands ``rows`` and ``cols``, ``(B, *shape)``, a block of pixel rows per task."""
        stack = np.ascontiguousarray(stack)
        power = np.empty((stack.shape[0],) + self.shape)
        _kernels.run_tasks(
            partial(_kernels.integrate_pixels, stack[b:b + 1], rows[0][start:stop],
                    rows[1][start:stop], *cols, power[b:b + 1, start:stop])
            for b, start, stop in _kernels.row_blocks(*power.shape))
        return power

    def _collected(self, stack: np.ndarray, pitch: tuple[float, float]):
        """What each pixel integrates, as :func:`_kernels.shot_read_adc` reads it: the
        irradiance ``stack`` itself and each pixel's active lengths (m) when every pixel
        covers one sample, else the power (W) with unit lengths."""
        rows, cols = self._overlaps(stack.shape[-2:], pitch)
        if _one_sample_each(rows) and _one_sample_each(cols):
            window = stack[:, rows[0][0]:rows[0][0] + self.shape[0],
                           cols[0][0]:cols[0][0] + self.shape[1]]
            return window, rows[1][:, 0].copy(), cols[1][:, 0].copy()
        return self._integrated(stack, rows, cols), np.ones(self.shape[0]), np.ones(self.shape[1])

    def _photons(self, irradiance, pitch, wavelength, exposure) -> np.ndarray:
        photons = self._power(irradiance, pitch)
        with np.errstate(over="ignore"):     # inf photons at an absurd irradiance: saturated
            photons *= exposure / photon_energy(wavelength)
        return photons

    def _photoelectrons(self, irradiance, pitch, wavelength, exposure) -> np.ndarray:
        electrons = self._photons(irradiance, pitch, wavelength, exposure)
        electrons *= self.qe if self.prnu == 0 else self.qe * self.prnu_pattern
        return electrons

    def photons(self, field: Field, exposure=None) -> np.ndarray:
        """Mean photons per pixel ``μ_p = ∫_active E dA · t·λ/(hc)`` (EMVA 1288 eq. 1),
        ``(..., *shape)`` float64; ``exposure`` (s) defaults to the camera's."""
        field = self.seen(field)
        return self._photons(field.intensity, field.pitch, field.wavelength,
                             self._exposure(exposure))

    def irradiance_to_electrons(self, field: Field, exposure=None) -> np.ndarray:
        """Mean photo-electrons per pixel ``η·μ_p`` (times the PRNU pattern), without the dark
        signal, ``(..., *shape)`` float64."""
        field = self.seen(field)
        return self._photoelectrons(field.intensity, field.pitch, field.wavelength,
                                    self._exposure(exposure))

    def dark_electrons(self, exposure=None) -> float:
        """Mean dark electrons ``μ_I·t`` per pixel (without DSNU)."""
        return self.dark_current * self._exposure(exposure)

    # --- capture ----------------------------------------------------------------------------

    def capture(self, field: Field, exposure=None, rng=None, noise: bool = True) -> np.ndarray:
        """Frames ``(..., *shape)`` of ``field`` (any batch, any sampling) over ``exposure`` s
        (default the camera's).

        With ``noise`` the frames are unsigned integers (:attr:`dtype`): Poisson(photo + dark
        electrons) + DSNU + N(0, σ_d0²) → clip at the full well → ×K → + offset → round → clip
        to ``0 … 2^bits − 1``, random only through ``rng`` (int seed >= 0 or
        ``np.random.Generator``; None draws fresh entropy; None without noise); the same seed
        gives the same frames on any thread count (for the same irradiance: a :class:`FourF`
        whose FFTW plans were measured anew in another process can differ by ~1e-7 in it).
        From a mean of 20 e⁻ (``_kernels.POISSON_EXACT_BELOW``) a pixel's shot and read
        noise are one normal draw of the same mean, variance (+ at most 1/18 e⁻²) and
        skewness, whose distribution differs from Poisson + normal by O(1/μ) (at most 3.2e-4
        in cumulative probability at 20 e⁻ for a read noise >= 0.5 e⁻) and has no lattice of
        whole electrons (which any read noise above ~0.5 e⁻ hides anyway); below, the Poisson
        count is exact.
        With ``noise=False`` the result is the noise-free response in DN as float64, not
        rounded: ``clip(offset + K·min(μ_e + μ_I·t + DSNU, full_well), 0, 2^bits − 1)``; it is
        the mean of the noisy frames wherever no pixel clips and the temporal noise exceeds
        about ½ DN (so that rounding is unbiased).
        """
        field = self.seen(field)
        return self._capture(field.intensity, field.pitch, field.wavelength,
                             self._exposure(exposure), rng, noise)

    def capture_irradiance(self, irradiance, pitch, wavelength: float, exposure=None, rng=None,
                           noise: bool = True) -> np.ndarray:
        """:meth:`capture` of an irradiance ``(..., ny, nx)`` (W/m², >= 0) sampled at ``pitch``
        (m) on a centred grid, at ``wavelength`` (m): the input of the fused ``FourF.run``. A
        rotated or defocused camera needs the field (:meth:`capture`)."""
        if self.rotation or self.defocus:
            raise ValueError("a rotated or defocused camera resamples or propagates the field, "
                             "which an irradiance has lost; use capture(field)")
        irradiance = checks.finite_array("irradiance", np.asarray(irradiance))
        if np.iscomplexobj(irradiance) or (irradiance.size and irradiance.min() < 0):
            raise ValueError("irradiance must be real and >= 0 (W/m²)")
        return self._capture(irradiance, checks.pair("pitch", pitch),
                             checks.positive("wavelength", wavelength), self._exposure(exposure),
                             rng, noise)

    def _capture_trusted(self, irradiance, pitch, wavelength: float, exposure=None,
                         rng=None) -> np.ndarray:
        """Noisy :meth:`capture_irradiance` of an irradiance the engine computed (finite,
        >= 0), without the validation pass over it."""
        return self._capture(irradiance, pitch, wavelength, self._exposure(exposure), rng, True)

    def _capture(self, irradiance, pitch, wavelength, exposure, rng, noise) -> np.ndarray:
        if not noise:
            if rng is not None:
                raise ValueError("rng seeds the noise, and noise=False; leave rng None")
            electrons = self._photoelectrons(irradiance, pitch, wavelength, exposure)
            electrons += self.dark_electrons(exposure)
            signal = np.minimum(electrons + self.dsnu_pattern, self.full_well)
            return np.clip(self.offset + self.gain * signal, 0.0, self.max_level)
        stack = irradiance.reshape((-1,) + irradiance.shape[-2:])
        signal, row_length, col_length = self._collected(stack, pitch)
        ny = self.shape[0]
        states = np.ones((stack.shape[0] * ny, 4), np.uint64)     # an SFC64 stream per row:
        states[:, :3] = checks.generator("rng", rng).integers(0, 2 ** 64, (len(states), 3),
                                                              np.uint64)  # a, b, c; counter 1
        prnu = self.prnu_pattern if self.prnu else np.empty((0, 0))
        dsnu = self.dsnu_pattern if self.dsnu else np.empty((0, 0))
        frames = np.empty((stack.shape[0],) + self.shape, self.dtype)
        photons = exposure / photon_energy(wavelength)
        dark = self.dark_electrons(exposure)

        def rows(b, start, stop):           # rows start:stop of frame b
            return partial(
                _kernels.shot_read_adc, signal[b:b + 1, start:stop], row_length[start:stop],
                col_length, photons, self.qe, prnu[start:stop], dark, dsnu[start:stop],
                states[b * ny + start:b * ny + stop], self.read_noise, self.full_well, self.gain,
                self.offset, self.max_level, frames[b:b + 1, start:stop])

        _kernels.run_tasks(rows(*block) for block in _kernels.row_blocks(*frames.shape))
        return frames.reshape(irradiance.shape[:-2] + self.shape)

    # --- EMVA 1288 figures (at the camera's exposure, mean pixel) ---------------------------

    @property
    def dark_variance(self) -> float:
        """Temporal dark variance ``σ_d² = σ_d0² + μ_I·t`` (e⁻²)."""
        return self.read_noise ** 2 + self.dark_electrons()

    @property
    def saturation_photons(self) -> float:
        """``μ_p.sat``: mean photons per pixel at which the output saturates, at the full well
        or at the ADC's top level ``(2^bits − 1 − offset)/K``, whichever comes first, less the
        dark electrons (>= 0)."""
        electrons = min(self.full_well, (self.max_level - self.offset) / self.gain)
        return max(electrons - self.dark_electrons(), 0.0) / self.qe

    def snr(self, photons):
        """EMVA 1288 SNR ``η μ_p / √(σ_d² + σ_q²/K² + η μ_p)`` at mean ``photons`` per pixel
        (valid below :attr:`saturation_photons`)."""
        electrons = self.qe * np.asarray(photons, dtype=np.float64)
        noise = self.dark_variance + QUANTIZATION_VARIANCE / self.gain ** 2 + electrons
        return electrons / np.sqrt(noise)

    @property
    def snr_max(self) -> float:
        """Largest SNR ``√μ_e.sat`` (EMVA 1288), μ_e.sat = η·μ_p.sat."""
        return math.sqrt(self.qe * self.saturation_photons)

    @property
    def absolute_sensitivity(self) -> float:
        """``μ_p.min``: photons for SNR = 1, ``(½ + √(σ_d² + σ_q²/K² + ¼))/η`` (EMVA 1288 R4)."""
        noise = self.dark_variance + QUANTIZATION_VARIANCE / self.gain ** 2
        return (0.5 + math.sqrt(noise + 0.25)) / self.qe

    @property
    def dynamic_range(self) -> float:
        """``μ_p.sat / μ_p.min`` as a ratio (20·log10 of it in dB)."""
        return self.saturation_photons / self.absolute_sensitivity
