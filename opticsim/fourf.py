"""The 4f optical correlator: laser → input SLM → lens 1 → Fourier SLM → lens 2 → camera.

With the input in the front focal plane of lens 1 and the mask in the shared focal plane, the
field in the back focal plane of lens 2 is ``u_out(x) = −(f1/f2)·(u_in ∗ h)(−x·f1/f2)`` where
``h`` is the kernel whose centred Fourier transform is the mask: a convolution at the speed of
light, inverted and magnified by ``M = −f2/f1`` (Goodman ch. 8).

:meth:`FourF.field` follows one frame element by element through the public engine;
:meth:`FourF.run` computes the same frames with two FFTs and three fused passes, then the
camera and the readout scheme (:mod:`opticsim.readout`).
"""

from __future__ import annotations

import math
import dataclasses
import sys
from dataclasses import KW_ONLY, dataclass
from functools import partial

import numpy as np
from tqdm import tqdm

from . import _kernels, checks, fft, readout
from .camera import Camera, photon_energy
from .field import Field, as_complex
from .grid import embed_centred, focal_pitch, invert, place_centred
from .laser import Laser
from .lens import Lens
from .propagate import _stack, lens_at_pitch, lens_ft
from .slm import SLM

# Frames the fused path carries through its passes at a time: a few MiB, so they stay in cache.
_CHUNK_BYTES = 4 << 20
# Frames of at most this many samples run in chunks of _CORE_CHUNK_BYTES on every core at
# once, each FFT on one thread (15-20 % faster than two-thread FFTs for 64²-256² frames here).
_FRAME_PARALLEL_SAMPLES = 256 * 256
_CORE_CHUNK_BYTES = 1 << 20
# From this many samples a frame, a real input field is encoded as real numbers and transformed
# by the half-size real FFT (fft.real_fft2): on pocketfft FourF.run of a 256² frame took
# 0.83–0.94× the time of the complex path here (on FFTW's timed plans, not faster below 512²: the
# filter's rebuilt half costs what the smaller transform saves).
_HALF_SPECTRUM_SAMPLES = 256 * 256


class _Shown:
    """What the Fourier SLM of a :class:`FourF` shows now: ``pattern`` is None or (whether it
    was given as masks, a copy of those masks or gray levels, the transmittance). A cache, so
    a pickled or copied system starts with a blank panel."""

    __slots__ = ("pattern",)

    def __init__(self):
        self.pattern = None

    def __reduce__(self):
        return _Shown, ()

    def __deepcopy__(self, memo):
        return _Shown()


@dataclass(frozen=True, eq=False)
class FourF:
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
        illumination = self.laser.amplitude(self.shape, self.pitch).astype(np.complex128)
        pupil = self.lens1.pupil(self.shape, self.pitch, np.complex128)
        if pupil is not None:
            illumination = illumination * pupil
        object.__setattr__(self, "_illumination", checks.representable(
            f"the field of laser power={self.laser.power!r} W", as_complex(illumination, dtype),
            illumination))
        object.__setattr__(self, "_fourier_pupil",
                           self.lens2.pupil(self.fourier_shape, self.fourier_pitch, dtype))
        object.__setattr__(self, "_shown", _Shown())
        # A real beam through real amplitudes (no input SLM, or one of real levels) leaves a
        # real field, whose spectrum the fused path takes by the half-size real transform.
        levels = None if self.input_slm is None else self.input_slm.levels(self.wavelength)
        real = not np.any(self._illumination.imag) and (levels is None or not np.any(levels.imag))
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

    # --- sampling -------------------------------------------------------------------------

    @property
    def wavelength(self) -> float:
        """Laser wavelength (m)."""
        return self.laser.wavelength

    @property
    def fft_pitch(self) -> tuple[float, float]:
        """Pitch at which one FFT of the input grid samples the Fourier plane, ``λ·f1/(N·dx)``
        (m): a unit of spatial frequency of ``1/(N·dx)``."""
        return focal_pitch(self.wavelength, self.lens1.focal_length, self.shape, self.pitch)

    @property
    def fourier_by_fft(self) -> bool:
        """True when the Fourier plane is sampled by FFTs: no Fourier SLM, or one whose
        pitch/oversample equals :attr:`fft_pitch` (to 1 ppm)."""
        return self._by_fft

    @property
    def fourier_pitch(self) -> tuple[float, float]:
        """Sample pitch of the Fourier plane (m): :attr:`fft_pitch`, or the Fourier SLM's
        pitch/oversample where that differs."""
        if self.fourier_by_fft:
            return self.fft_pitch
        return (self.fourier_slm.sample_pitch,) * 2

    @property
    def fourier_shape(self) -> tuple[int, int]:
        """Samples of the Fourier plane: the input grid's shape, or the Fourier SLM's samples
        when its pitch is not :attr:`fft_pitch`."""
        return self.shape if self.fourier_by_fft else self.fourier_slm.sample_shape

    @property
    def output_pitch(self) -> tuple[float, float]:
        """Sample pitch of the output plane, ``dx·f2/f1`` (m)."""
        ratio = self.lens2.focal_length / self.lens1.focal_length
        return (self.pitch[0] * ratio, self.pitch[1] * ratio)

    @property
    def magnification(self) -> float:
        """Lateral magnification ``−f2/f1``."""
        return -self.lens2.focal_length / self.lens1.focal_length

    @property
    def mask_shape(self) -> tuple[int, int]:
        """Shape of a Fourier mask: the Fourier SLM's panel, or the grid when it is ideal."""
        return self.shape if self.fourier_slm is None else self.fourier_slm.shape

    @property
    def replica_period(self) -> tuple[float, float]:
        """Output samples after which a pixelated Fourier SLM replicates the output,
        ``λ·f2/p_F`` over the output pitch = ``N·fft_pitch/p_F`` (N without a Fourier SLM,
        N/oversample when the Fourier SLM is sampled by the FFT)."""
        if self.fourier_slm is None:
            return tuple(float(n) for n in self.shape)
        return tuple(n * natural / self.fourier_slm.pitch
                     for n, natural in zip(self.shape, self.fft_pitch))

    # --- inputs ---------------------------------------------------------------------------

    def _images(self, images, layout) -> tuple[np.ndarray, int]:
        images = np.asarray(images)
        if images.ndim not in (2, 3, 4):
            raise ValueError(f"images must be (H, W), (B, H, W) or (B, C_in, H, W), got shape "
                             f"{images.shape}")
        if np.iscomplexobj(checks.numeric("images", images)):
            raise ValueError("images must be real")
        real = np.float64 if self.dtype == np.complex128 else np.float32
        if images.ndim == 4:
            if layout is None or images.shape[1] != layout.in_channels:
                raise ValueError(f"images of {images.shape[1]} input channels need a layout of "
                                 "as many input channels (FourF.layout)")
            if self.input_slm is not None and self.input_slm.oversample != 1:
                raise ValueError("a layout of several input channels needs an input_slm with "
                                 "oversample 1 (the layout counts grid samples)")
            if images.shape[-2:] != layout.image_shape:
                raise ValueError(f"images must be {layout.image_shape} as in the layout, got "
                                 f"{images.shape[-2:]}")
            images = layout.place(images, self.shape)
        limit = self.shape if self.input_slm is None else self.input_slm.shape
        if images.shape[-2] > limit[0] or images.shape[-1] > limit[1]:
            raise ValueError(f"images of {images.shape[-2:]} samples do not fit the {limit} "
                             f"{'grid' if self.input_slm is None else 'input SLM'}")
        stack = np.ascontiguousarray(images.reshape((-1,) + images.shape[-2:]), dtype=real)
        return stack, np.ndim(images)

    def input_field(self, images) -> Field:
        """The field leaving the input modulator for ``(B, H, W)`` (or ``(H, W)``) images:
        laser × lens-1 pupil × the image (amplitude transmittance; with an ``input_slm``,
        the values it quantises with ``to_gray``), centred."""
        stack, _ = self._images(images, None)
        data = fft.empty((stack.shape[0],) + self.shape, self.dtype)
        self._encode(stack, data)
        return Field._trusted(data, self.pitch, self.wavelength)

    def _encode(self, stack: np.ndarray, out: np.ndarray) -> tuple[int, int] | None:
        """Write the input-plane field of the ``(B, H, W)`` image ``stack`` into ``out``
        (complex, or real when the field is: ``_real_input``); returns the rows outside which
        it is zero when they are known."""
        illumination = self._illumination if out.dtype.kind == "c" else self._real_illumination
        if self.input_slm is None:
            offset = place_centred(stack.shape[-2:], self.shape)
            peak, first, stop = _kernels.encode_amplitude(stack, illumination, *offset, out)
            if math.isnan(peak):
                raise ValueError("images contain NaN or infinite samples")
            if peak > 1:
                raise ValueError(
                    f"images must be amplitude transmittances in [-1, 1] without an input_slm "
                    f"(a passive modulator transmits at most 1), got |t| up to {peak:g}; scale "
                    "8-bit images by 1/255, or model the panel with an input_slm")
            return offset[0] + first, offset[0] + stop      # rows of zeros stay dark
        self.input_slm.encode(stack, illumination, self.pitch, self.wavelength, out=out)
        return self._lit_rows(stack.shape[-2])

    def _lit_rows(self, height: int) -> tuple[int, int]:
        """Rows outside which the input SLM's field is zero: those of images ``height`` pixels
        high where gray 0 is dark and nothing fringes, else those of the panel."""
        slm, rows = self.input_slm, self.shape[0]
        top, span = (rows - slm.sample_shape[0]) // 2, slm.sample_shape[0]
        if slm.crosstalk == 0 and slm.levels(self.wavelength)[0] == 0:
            top, span = top + (slm.shape[0] - height) // 2 * slm.oversample, height * slm.oversample
        return max(top, 0), min(top + span, rows)

    # --- the Fourier plane ----------------------------------------------------------------

    def _mask_stack(self, mask) -> tuple[np.ndarray, tuple]:
        """Masks as a ``(D, h, w)`` stack of displays, and the leading shape to restore."""
        mask = checks.numeric("mask", np.asarray(mask))
        lead_max = 2 if self.readout == "differential" else 1
        if mask.ndim < 2 or mask.ndim > 2 + lead_max or mask.shape[-2:] != self.mask_shape:
            form = "(C, 2, h, w) or (2, h, w)" if self.readout == "differential" else \
                "(C, h, w) or (h, w)"
            raise ValueError(f"mask must be {form} with (h, w) = {self.mask_shape}, got shape "
                             f"{mask.shape}")
        if self.readout == "differential" and mask.shape[-3:-2] != (2,):
            raise ValueError(f"a differential mask has a ± axis of 2 before (h, w), got shape "
                             f"{mask.shape}")
        return mask.reshape((-1,) + self.mask_shape), mask.shape[:-2]

    def fourier_gray(self, mask) -> np.ndarray:
        """Fourier-SLM gray levels that display ``mask`` best: the nearest level to its phase
        (phase panels) or to the complex/real value (others), via the SLM's LUT."""
        if self.fourier_slm is None:
            raise ValueError("fourier_gray needs a fourier_slm")
        mask = np.asarray(mask)
        if self.fourier_slm.mode == "phase" and (
                self.fourier_slm.lut is None or not np.iscomplexobj(self.fourier_slm.lut)):
            values = np.angle(mask)
        elif np.iscomplexobj(mask) and not np.any(mask.imag):
            values = mask.real
        else:
            values = mask
        return self.fourier_slm.to_gray(values, self.wavelength)

    def fourier_transmittance(self, mask=None, gray=None) -> np.ndarray:
        """Transmittance ``(..., ny, nx)`` on the Fourier grid displaying ``mask`` (or the
        Fourier-SLM ``gray`` levels), lens-2 pupil not included."""
        if (mask is None) == (gray is None):
            raise ValueError("give exactly one of mask and gray")
        if self.fourier_slm is None:
            if gray is not None:
                raise ValueError("gray levels need a fourier_slm")
            masks = np.asarray(mask)
            checks.finite_array("mask", masks)
            return masks.astype(self.dtype, copy=False)
        gray = self.fourier_gray(mask) if gray is None else np.asarray(gray)
        panel = self.fourier_slm.transmittance(gray, self.fourier_pitch, self.wavelength,
                                               dtype=self.dtype)
        return embed_centred(panel, self.fourier_shape)

    # --- one frame, element by element ----------------------------------------------------

    def field(self, images, mask=None, *, gray=None, layout=None) -> Field:
        """Complex output field in √(W/m²) through the public engine, shaped as :meth:`run`
        returns it (before any camera), for the ideal reference of every readout."""
        stack, image_ndim = self._images(images, layout)
        lead = np.shape(mask if mask is not None else gray)[:-2]
        output = self._propagate(stack, self._displayed(*self._display_source(mask, gray)))
        return output.replace(self._frames(output.data, image_ndim, lead, layout))

    def _propagate(self, stack: np.ndarray, displays: np.ndarray) -> Field:
        source = self.input_field(stack)                                  # laser, input SLM
        if self.fourier_by_fft:
            field = lens_ft(source, self.lens1.focal_length)                # lens 1
        else:                                   # Fourier transforms at any pitch
            field = lens_ft(source, self.lens1.focal_length, self.fourier_pitch,
                            self.fourier_shape)
        field = field.replace(field.data[:, None]) * displays              # Fourier SLM
        field = self.lens2.apply_pupil(field)                              # lens-2 aperture
        if self.fourier_by_fft:
            return lens_ft(field, self.lens2.focal_length)                  # lens 2
        # The panel's samples repeat the output every λ·f2/(pitch/oversample): the replicas
        # a pixelated SLM makes, which layout() checks against the channels' span.
        return lens_at_pitch(field, self.lens2.focal_length, self.output_pitch, self.shape)

    def _displayed(self, masks, grays) -> np.ndarray:
        """:meth:`fourier_transmittance` of ``masks`` or ``grays``, recomputed only when the
        Fourier SLM is shown something new: a panel holds its pattern from frame to frame, so
        batch after batch through one mask pays once for quantisation, pixels and fringing.
        The last pattern is kept (read-only) with a copy of what it was made from, which each
        call compares sample for sample (a NaN never compares equal, so it is always checked)."""
        if self.fourier_slm is None:
            return self.fourier_transmittance(masks, grays)
        source = masks if grays is None else grays
        held = self._shown.pattern                  # one read: another thread may replace it
        if held is not None and held[0] == (grays is None) and held[1].dtype == source.dtype \
                and held[1].shape == source.shape and np.array_equal(held[1], source):
            return held[2]
        transmittance = self.fourier_transmittance(masks, grays)
        transmittance.flags.writeable = False
        self._shown.pattern = (grays is None, source.copy(), transmittance)
        return transmittance

    def _display_source(self, mask, gray):
        if (mask is None) == (gray is None):
            raise ValueError("give exactly one of mask and gray")
        if mask is not None:
            return self._mask_stack(mask)[0], None
        gray = np.asarray(gray)
        return None, gray.reshape((-1,) + gray.shape[-2:])

    # --- the same frames, fused -----------------------------------------------------------

    def irradiance(self, images, displays) -> np.ndarray:
        """Irradiance ``(B, D, ny, nx)`` (W/m²) in the output plane for ``(B, H, W)`` images
        through ``(D, ny, nx)`` Fourier transmittances: two FFTs and three fused passes, a few
        frames at a time so that their samples stay in cache from one pass to the next."""
        return self._irradiance(self._images(images, None)[0], displays)

    def _irradiance(self, stack: np.ndarray, displays) -> np.ndarray:
        """:meth:`irradiance` of an image stack that :meth:`_images` has checked."""
        if not self.fourier_by_fft:
            return self._propagate(stack, displays).intensity
        ny, nx = self.shape
        if self._fourier_pupil is not None:                             # lens-2 aperture
            displays = displays * self._fourier_pupil
        displays = np.ascontiguousarray(displays, dtype=self.dtype)
        count = displays.shape[0]
        if count > 1:                     # FFT order once; one mask is shifted on the fly
            fft_order = fft.empty(displays.shape, self.dtype)
            if not _kernels.mask_to_fft_order(displays, fft_order):
                raise ValueError("mask contains NaN or infinite samples")
            displays = fft_order
        real = np.float64 if self.dtype == np.complex128 else np.float32
        batch = stack.shape[0]
        irradiance = fft.empty((batch, count, ny, nx), real)
        frame_bytes = count * ny * nx * self.dtype.itemsize
        step, workers = max(1, _CHUNK_BYTES // frame_bytes), None
        if ny * nx <= _FRAME_PARALLEL_SAMPLES and batch > 1 and fft.threads() > 1:
            # Small frames: chunks of frames on every core, each FFT on one thread.
            step = max(1, min(_CORE_CHUNK_BYTES // frame_bytes, -(-batch // fft.threads())))
            workers = 1
        _kernels.run_tasks(
            partial(self._irradiance_chunk, stack[start:start + step], displays,
                    irradiance[start:start + step], workers)
            for start in range(0, batch, step))
        return irradiance

    def _irradiance_chunk(self, stack: np.ndarray, displays: np.ndarray, out: np.ndarray,
                          workers: int | None = None):
        """:meth:`irradiance` of a few images into ``out`` (FFTs on ``workers`` threads, by
        default :func:`fft.plan_threads`); several ``displays`` come in FFT order, a single one
        centred."""
        ny, nx = self.shape
        batch, count = out.shape[:2]
        spectrum = fft.scratch((batch, ny, nx), self.dtype)     # work arrays, reused
        if count == 1 and self._real_input and ny * nx >= _HALF_SPECTRUM_SAMPLES:
            # A real field: half its spectrum, the rest by symmetry in the mask product.
            field = fft.scratch((batch, ny, nx), np.finfo(self.dtype).dtype)
            rows = self._encode(stack, field)                                # laser, input SLM
            half = fft.scratch(fft.half_shape(field.shape), self.dtype)
            fft.real_fft2(field, half, rows=rows, workers=workers)           # lens 1
            _kernels.filter_half_spectrum(half, displays[0], spectrum)       # Fourier SLM
            filtered = spectrum
        else:
            rows = self._encode(stack, spectrum)                               # laser, input SLM
            fft.fft2(spectrum, out=spectrum, rows=rows, workers=workers)   # lens 1, array order
            if count == 1:                                                 # Fourier SLM
                filtered = spectrum
                _kernels.filter_spectrum(spectrum, displays[0])
            else:
                filtered = fft.empty((batch, count, ny, nx), self.dtype)
                _kernels.spectrum_times_masks(spectrum, displays, filtered)
        # lens 2, another FFT. Each lens transform is s·ramp·FFT up to a roll, s = dx·dy/(λf)
        # and the ramp exp(i2π·c·k/N), c = N//2; leaving both ramps out rolls the output by a
        # further c, so I = |s1·s2·FFT(FFT(u)·ifftshift(M))|² rolled by 2c.
        filtered = _stack(filtered)
        fft.fft2(filtered, out=filtered, workers=workers)
        (dy, dx), (fy, fx) = self.pitch, self.fourier_pitch
        lenses = self.wavelength ** 2 * self.lens1.focal_length * self.lens2.focal_length
        _kernels.intensity_shift(filtered, out.dtype.type(dy * dx * fy * fx / lenses),
                                 2 * (ny // 2), 2 * (nx // 2), _stack(out))
        # Every output sample of an FFT depends on every input sample, so a NaN or infinite
        # sample of a single mask leaves no sample of the frame finite: one per frame tells.
        if count == 1 and not (np.isfinite(out[:, 0, 0, 0]).all()
                               or np.isfinite(displays).all()):
            raise ValueError("mask contains NaN or infinite samples")

    def run(self, images, mask=None, *, gray=None, layout=None, rng=None, exposure=None):
        """What the detector reports for ``images`` through the Fourier ``mask``.

        ``images``: ``(H, W)`` or ``(B, H, W)`` (amplitude transmittances in [−1, 1], or what
        the input SLM quantises),
        or ``(B, C_in, H, W)`` laid out by ``layout`` (:meth:`layout`). ``mask``: ``(h, w)`` or
        ``(C, h, w)`` complex transmittances of :attr:`mask_shape`, one time-multiplexed frame
        per channel (``(C, 2, h, w)`` or ``(2, h, w)`` ± pairs for the differential readout);
        or ``gray``, Fourier-SLM gray levels of the same shape. ``rng`` seeds the camera noise
        and ``exposure`` (s) overrides the camera's; either one without a camera that takes
        the frame (none, or ``readout="field"``) is a ``ValueError``, not silently ignored.

        Returns ``(B, [C,] ny, nx)`` frames as the detector sees them (inverted): irradiance
        in W/m² without a camera, digital numbers with one, their signed difference for the
        differential readout, the complex field for ``readout="field"``. With a ``layout``,
        each output channel's upright linear convolution ``(B, C_out, th, tw)``.
        """
        if self.camera is None or self.readout == "field":
            for name, value in (("exposure", exposure), ("rng", rng)):
                if value is not None:
                    raise ValueError(f"{name} applies to the camera, and this FourF has "
                                     f"{'no camera' if self.camera is None else 'readout=field'}"
                                     f"; leave {name} None")
        stack, image_ndim = self._images(images, layout)
        lead = np.shape(mask if mask is not None else gray)[:-2]
        masks, grays = self._display_source(mask, gray)
        if self.readout == "field":
            frames = self._propagate(stack, self._displayed(masks, grays)).data
        else:
            if self.fourier_slm is None and masks is not None:
                displays = masks            # ideal: the fused pass checks it is finite
            else:
                displays = self._displayed(masks, grays)
            frames = self._irradiance(stack, displays)
            if self.camera is not None:
                frames = self.camera._capture_trusted(frames, self.output_pitch,
                                                      self.wavelength, exposure, rng)
        if self.readout == "differential":
            frames = frames.astype(np.int32 if self.camera is not None else frames.dtype)
            frames = frames[:, 0::2] - frames[:, 1::2]
            lead = lead[:-1]
        return self._frames(frames, image_ndim, lead, layout)

    def _frames(self, frames, image_ndim: int, lead, layout):
        """``(B, D, ny, nx)`` frames to ``(B, *lead, ny, nx)``, B dropped for one image; with a
        layout, each output channel's upright region."""
        frames = frames.reshape((frames.shape[0],) + tuple(lead) + frames.shape[-2:])
        if layout is not None and layout.tiled and tuple(lead) == (1,):
            frames = frames[:, 0]                       # the one display holding every tile
        if layout is not None:
            scale = 1.0
            if self.camera is not None and frames.dtype.kind != "c":
                scale = self.output_pitch[1] / self.camera.pitch[1]
            return layout.extract(self.upright(frames), self.shape, scale)
        return frames[0] if image_ndim == 2 else frames

    # --- kernels, masks and layouts -------------------------------------------------------

    def layout(self, in_channels: int, out_channels: int, image_shape, kernel_shape
               ) -> readout.Layout:
        """Where ``in_channels`` images of ``image_shape`` and ``out_channels`` outputs of
        ``kernel_shape`` convolutions go on this system (tiled when ``multiplex="tiled"``)."""
        in_channels = checks.integer("in_channels", in_channels, 1)
        out_channels = checks.integer("out_channels", out_channels, 1)
        image_shape = checks.shape2("image_shape", image_shape)
        kernel_shape = checks.shape2("kernel_shape", kernel_shape)
        return readout.layout(in_channels, out_channels, image_shape, kernel_shape, self.shape,
                              tiled=self.multiplex == "tiled",
                              replica_period=self.replica_period)

    def mask_frequencies(self, axis: int) -> np.ndarray:
        """Positions of the mask samples along ``axis`` from the optical axis in units of
        :attr:`fft_pitch` (spatial frequency × N·dx): integers on an ideal grid, the pixel
        centres on a Fourier SLM."""
        n = self.shape[axis]
        if self.fourier_slm is None:
            return np.arange(n) - n // 2.0
        oversample = self.fourier_slm.oversample
        samples = self.fourier_slm.sample_shape[axis]
        centres = np.arange(self.fourier_slm.shape[axis]) * oversample + (oversample - 1) / 2
        if self.fourier_by_fft:                 # the panel as embed_centred places it
            return centres + (n - samples) // 2 - n // 2
        return (centres - samples // 2) * (self.fourier_pitch[axis] / self.fft_pitch[axis])

    def mask_from_kernel(self, kernel) -> np.ndarray:
        """Fourier-plane transmittance ``(..., *mask_shape)`` whose 4f output is the
        convolution with ``kernel`` ``(..., K_y, K_x)`` (grid samples).

        ``M(κ) = Σ_q h[q]·exp(−i2π(q − K//2)·κ/N)``, the centred DFT of the kernel with its sample
        ``(K_y//2, K_x//2)`` on the optical axis, at the mask samples κ (the Fourier SLM's pixel
        centres). On an ideal grid ``u_out(−x·f2/f1) = −(f1/f2)·(u_in ∗ h)(x)``, linear while
        input extent + kernel extent ≤ N. Not normalised: a passive SLM needs ``max|M| ≤ 1``.
        """
        kernel = np.asarray(kernel)
        checks.finite_array("kernel", kernel)
        if kernel.shape[-2] > self.shape[0] or kernel.shape[-1] > self.shape[1]:
            raise ValueError(f"kernel of {kernel.shape[-2:]} samples does not fit the "
                             f"{self.shape} grid")
        factors = []
        for axis in (0, 1):
            taps = np.arange(kernel.shape[axis - 2]) - kernel.shape[axis - 2] // 2
            phase = np.outer(self.mask_frequencies(axis), taps) / self.shape[axis]
            factors.append(np.exp(-2j * np.pi * phase))
        mask = np.einsum("yq,...qp,xp->...yx", factors[0], kernel, factors[1])
        return mask.astype(self.dtype)

    def masks_from_kernels(self, kernels, layout: readout.Layout) -> np.ndarray:
        """Displayed masks for kernels ``(C_out, C_in, K_y, K_x)`` on ``layout``: each pair's
        kernel shifted so all input channels add on their output's region (and, tiled, every
        output on one display); split into ± pairs for the differential readout."""
        kernels = checks.finite_array("kernels", np.asarray(kernels))
        expected = (layout.out_channels, layout.in_channels) + tuple(layout.kernel_shape)
        if kernels.shape != expected:
            raise ValueError(f"kernels must have shape {expected}, got {kernels.shape}")
        carrier = self.layout_carriers(layout)
        if self.readout == "differential":
            parts = readout.split_signed(kernels)
            return np.stack([layout.masks(self.mask_from_kernel(p), carrier) for p in parts],
                            axis=1)
        return layout.masks(self.mask_from_kernel(kernels), carrier)

    def layout_carriers(self, layout: readout.Layout) -> np.ndarray:
        """Carriers ``(C_out, C_in, *mask_shape)`` shifting each channel pair's kernel on this
        system's Fourier-plane samples (:meth:`readout.Layout.carriers`)."""
        frequencies = (self.mask_frequencies(0), self.mask_frequencies(1))
        return layout.carriers(frequencies, self.shape)

    def kernel_from_mask(self, mask) -> np.ndarray:
        """The centred kernel on the input grid implemented by a Fourier mask (each Fourier-SLM
        pixel held over its samples, fill factor ignored); inverts :meth:`mask_from_kernel`
        on an ideal grid.

        ``h[q] = (δ_y·δ_x/(N_y·N_x))·Σ_κ M(κ)·exp(i2π q·κ/N)`` over the mask samples κ spaced
        δ = fourier_pitch/fft_pitch apart (an inverse FFT when δ = 1), q from the grid centre.
        """
        masks = checks.finite_array("mask", np.asarray(mask))
        if masks.shape[-2:] != self.mask_shape:
            raise ValueError(f"mask must end in {self.mask_shape}, got {masks.shape}")
        if self.fourier_slm is not None:
            oversample = self.fourier_slm.oversample
            masks = masks.repeat(oversample, -2).repeat(oversample, -1)
        if self.fourier_by_fft:
            centred = np.fft.ifftshift(embed_centred(masks, self.shape), axes=(-2, -1))
            return np.fft.fftshift(np.fft.ifft2(centred), axes=(-2, -1))
        rows, cols = self.kernel_synthesis()
        return np.einsum("yk,...kl,xl->...yx", rows, masks, cols)

    def kernel_synthesis(self) -> tuple[np.ndarray, np.ndarray]:
        """Per axis the ``(N, S)`` matrix ``(δ/N)·exp(i2π q·κ/N)`` from the S Fourier-plane
        samples κ (in units of :attr:`fft_pitch`, δ apart) to the kernel taps q (from the grid
        centre): :meth:`kernel_from_mask` is ``rows @ samples @ cols.T``. complex128."""
        factors = []
        for axis in (0, 1):
            n, samples = self.shape[axis], self.fourier_shape[axis]
            step = self.fourier_pitch[axis] / self.fft_pitch[axis]
            kappa = (np.arange(samples) - samples // 2) * step
            taps = np.arange(n) - n // 2
            factors.append(np.exp(2j * np.pi * np.outer(taps, kappa) / n) * (step / n))
        return factors[0], factors[1]

    def upright(self, frames) -> np.ndarray:
        """Output frames with the 4f inversion undone (x → −x, y → −y)."""
        return invert(np.asarray(frames))


    # --- exposure -------------------------------------------------------------------------

    def exposed(self, images, mask=None, *, gray=None, layout=None, fill: float = 0.8,
                batch_size: int = 64, progress: bool = False) -> "FourF":
        """This system with the laser power set as a lab sets it (attenuator or ND filter): the
        brightest camera pixel of ``images`` through the displays (``mask`` or ``gray``, as
        :meth:`run` takes them; each ± capture of a differential pair apart) collects ``fill``
        of the camera's full well in its exposure, noise-free. ``progress``: a progress bar
        over the batches of ``batch_size`` images, on stderr.

        Electrons scale with power: ``e = I·A·FF·QE·t/(hc/λ)`` for the peak irradiance ``I``
        (W/m²) on a pixel of area ``A`` and fill factor ``FF``, so ``P' = P·fill·FWC/e``.
        """
        if self.camera is None:
            raise ValueError("exposed needs a camera, whose full well sets the exposure")
        fill = checks.in_range("fill", fill, 0.0, 1.0, low_open=True)
        batch_size = checks.integer("batch_size", batch_size, 1)
        displays = np.asarray(mask if gray is None else gray)
        halves = ([displays[..., k, :, :] for k in (0, 1)] if self.readout == "differential"
                  else [displays])
        images = np.asarray(images)
        images = images[None] if images.ndim == 2 else images
        bare = dataclasses.replace(self, camera=None, readout="intensity")
        peak = 0.0
        starts = range(0, len(images), batch_size)
        with tqdm(total=len(halves) * len(starts), disable=not progress, desc="exposure",
                  unit="batch", leave=False, file=sys.stderr) as bar:
            for half in halves:
                source = {"mask": half} if gray is None else {"gray": half}
                for start in starts:
                    frames = bare.run(images[start:start + batch_size], layout=layout, **source)
                    peak = max(peak, float(frames.max()))
                    bar.update(1)
        camera = self.camera
        electrons = (peak * camera.pitch[0] * camera.pitch[1] * camera.fill_factor * camera.qe
                     * camera.exposure / photon_energy(self.wavelength))
        if electrons <= 0:
            raise ValueError("the images give no light on the camera through these displays")
        power = self.laser.power * fill * camera.full_well / electrons
        return dataclasses.replace(self, laser=dataclasses.replace(self.laser, power=power))
