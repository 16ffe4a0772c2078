"""Frames of the 4f correlator: one frame element by element, the same frames fused, and
the readout."""

from __future__ import annotations

from functools import partial

import numpy as np

from .. import _kernels, alignment, fft
from ..field import Field
from ..propagate import _stack, lens_at_pitch, lens_ft


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


def output_phase(fourf, dtype=np.complex128) -> np.ndarray | None:
    """``exp(+iπΔz·x²/(λf2²))`` on the output grid of ``fourf`` in ``dtype``, or None: for a
    Fourier SLM defocused by Δz, the propagation back by −Δz from the panel to lens 2's front
    focal plane, carried through lens 2 (:func:`opticsim.alignment.defocus_phase`). A phase on
    the output: it changes the field readout, not the irradiance."""
    slm = fourf.fourier_slm
    if slm is None or not slm.defocus:
        return None
    phase = alignment.defocus_phase(fourf.shape, fourf.output_pitch, fourf.wavelength,
                                    fourf.lens2.focal_length, -slm.defocus, check=False)
    return phase.astype(dtype)


class Frames:
    """What the detector of a :class:`~opticsim.FourF` reports for images through masks:
    :meth:`field` element by element, :meth:`irradiance` fused, :meth:`run` with the camera
    and the readout."""

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
        if self._fourier_pupil is not None:                # lens-2 aperture, camera defocus
            field = field * self._fourier_pupil
        if self.fourier_by_fft:
            output = lens_ft(field, self.lens2.focal_length)                # lens 2
        else:
            # The panel's samples repeat the output every λ·f2/(pitch/oversample): the
            # replicas a pixelated SLM makes, which layout() checks against the channels' span.
            output = lens_at_pitch(field, self.lens2.focal_length, self.output_pitch,
                                   self.shape)
        if self._output_phase is not None:                 # back from a defocused mask
            output = output * self._output_phase
        return output

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
        or ``(B, C_in, H, W)`` laid out by ``layout`` (:meth:`FourF.layout`).
        ``mask``: ``(h, w)`` or ``(C, h, w)`` complex transmittances of :attr:`mask_shape`, one time-multiplexed frame
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
            if self._camera_steps:                  # a rotated camera
                frames = self._camera_view(stack, displays)
            else:
                frames = self._irradiance(stack, displays)
            if self.camera is not None:
                frames = self.camera._capture_trusted(frames, self.output_pitch,
                                                      self.wavelength, exposure, rng)
        if self.readout == "differential":
            frames = frames.astype(np.int32 if self.camera is not None else frames.dtype)
            frames = frames[:, 0::2] - frames[:, 1::2]
            lead = lead[:-1]
        return self._frames(frames, image_ndim, lead, layout)

    def _camera_view(self, stack: np.ndarray, displays: np.ndarray) -> np.ndarray:
        """Irradiance ``(B, D, ny, nx)`` (W/m²) of the output field in the axes of a rotated
        camera (:meth:`Camera.view_steps`, made once with the system), element by element."""
        output = self._propagate(stack, displays)
        return output.replace(alignment.warp(output.data, self._camera_steps)).intensity

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
