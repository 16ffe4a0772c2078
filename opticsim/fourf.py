"""The 4f optical correlator: laser → input modulator → lens 1 → Fourier mask → lens 2 → detector.

With the input in the front focal plane of lens 1 and the mask in the shared focal plane, the
field in the back focal plane of lens 2 is ``u_out(x) = −(f1/f2)·(u_in ∗ h)(−x·f1/f2)`` where
``h`` is the kernel whose centred Fourier transform is the mask: a convolution at the speed of
light, inverted and magnified by ``M = −f2/f1`` (Goodman ch. 8).

:meth:`FourF.field` follows one frame element by element through the public engine;
:meth:`FourF.run` computes the same frames with two FFTs and three fused passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels, checks, fft
from .field import Field
from .grid import focal_pitch, invert, place_centred
from .laser import Laser
from .lens import Lens
from .propagate import _centre_ramp, _stack, lens_ft


@dataclass(frozen=True, eq=False)
class FourF:
    """A 4f correlator on a simulation grid of ``shape`` samples at ``pitch`` (m) in the input
    plane, lit by ``laser`` through ``lens1`` (focal length f1) and ``lens2`` (f2).

    The modulators and the detector are ideal here: the input modulator writes a real amplitude
    transmittance, the Fourier-plane mask is any complex transmittance sampled at
    ``λ·f1/(N·dx)``, and the detector returns the irradiance ``|E|²`` in W/m² at pitch
    ``dx·f2/f1``. ``dtype`` is complex64 (default) or complex128.
    """

    laser: Laser
    lens1: Lens
    lens2: Lens
    shape: tuple[int, int]
    pitch: tuple[float, float]
    dtype: type = np.complex64

    def __post_init__(self):
        if not isinstance(self.laser, Laser):
            raise ValueError(f"laser must be an opticsim.Laser, got {type(self.laser).__name__}")
        for name in ("lens1", "lens2"):
            if not isinstance(getattr(self, name), Lens):
                raise ValueError(f"{name} must be an opticsim.Lens, "
                                 f"got {type(getattr(self, name)).__name__}")
        object.__setattr__(self, "shape", checks.shape2("shape", self.shape))
        object.__setattr__(self, "pitch", checks.pair("pitch", self.pitch))
        dtype = np.dtype(self.dtype)
        if dtype not in (np.complex64, np.complex128):
            raise ValueError(f"dtype must be complex64 or complex128, got {dtype}")
        object.__setattr__(self, "dtype", dtype)
        illumination = self.laser.amplitude(self.shape, self.pitch).astype(np.complex128)
        pupil = self.lens1.pupil(self.shape, self.pitch, np.complex128)
        if pupil is not None:
            illumination = illumination * pupil
        object.__setattr__(self, "_illumination", illumination.astype(dtype))
        object.__setattr__(self, "_fourier_pupil",
                           self.lens2.pupil(self.shape, self.fourier_pitch, dtype))

    @property
    def wavelength(self) -> float:
        """Laser wavelength (m)."""
        return self.laser.wavelength

    @property
    def fourier_pitch(self) -> tuple[float, float]:
        """Sample pitch of the Fourier plane, ``λ·f1/(N·dx)`` (m)."""
        return focal_pitch(self.wavelength, self.lens1.focal_length, self.shape, self.pitch)

    @property
    def output_pitch(self) -> tuple[float, float]:
        """Sample pitch of the output plane, ``dx·f2/f1`` (m)."""
        ratio = self.lens2.focal_length / self.lens1.focal_length
        return (self.pitch[0] * ratio, self.pitch[1] * ratio)

    @property
    def magnification(self) -> float:
        """Lateral magnification ``−f2/f1``."""
        return -self.lens2.focal_length / self.lens1.focal_length

    # --- inputs ---------------------------------------------------------------------------

    def _images(self, images) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim not in (2, 3):
            raise ValueError(f"images must be (H, W) or (B, H, W), got shape {images.shape}")
        if np.iscomplexobj(images) or not np.issubdtype(images.dtype, np.number):
            raise ValueError("images must be real amplitude transmittances")
        if images.shape[-2] > self.shape[0] or images.shape[-1] > self.shape[1]:
            raise ValueError(f"images of {images.shape[-2:]} samples do not fit the "
                             f"{self.shape} input grid")
        real = np.float64 if self.dtype == np.complex128 else np.float32
        return np.ascontiguousarray(images.reshape((-1,) + images.shape[-2:]), dtype=real)

    def _masks(self, mask) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.ndim not in (2, 3) or mask.shape[-2:] != self.shape:
            raise ValueError(f"mask must be {self.shape} or (C, *{self.shape}) on the Fourier "
                             f"grid, got shape {mask.shape}")
        return mask.reshape((-1,) + self.shape)

    def input_field(self, images) -> Field:
        """The field leaving the input modulator: laser × lens-1 pupil × image (centred)."""
        stack = self._images(images)
        data = fft.empty((stack.shape[0],) + self.shape, self.dtype)
        offset = place_centred(stack.shape[-2:], self.shape)
        if not _kernels.encode_amplitude(stack, self._illumination, *offset, data):
            raise ValueError("images contain NaN or infinite samples")
        return Field._trusted(data, self.pitch, self.wavelength)

    # --- one frame, element by element ----------------------------------------------------

    def field(self, images, mask) -> Field:
        """Complex output field ``(B, [C,] ny, nx)`` in √(W/m²), through the public engine."""
        masks = self._masks(mask)
        checks.finite_array("mask", masks)
        source = self.input_field(images)                                   # laser, input SLM
        fourier = lens_ft(source, self.lens1.focal_length)                  # lens 1
        fourier = fourier * masks[None] if mask.ndim == 3 else fourier * masks[0]  # mask
        fourier = self.lens2.apply_pupil(fourier)                           # lens-2 aperture
        output = lens_ft(fourier, self.lens2.focal_length)                  # lens 2
        return self._shaped(output, np.ndim(images), np.ndim(mask))

    def _shaped(self, output, image_ndim: int, mask_ndim: int):
        data = output.data if isinstance(output, Field) else output
        if image_ndim == 2:
            data = data[0]
        if mask_ndim == 2 and data.ndim == (4 if image_ndim == 3 else 3):
            data = data[..., 0, :, :]
        return output.replace(data) if isinstance(output, Field) else data

    # --- the same frames, fused -----------------------------------------------------------

    def run(self, images, mask) -> np.ndarray:
        """Detector irradiance (W/m²) for ``images`` ``(H, W)`` or ``(B, H, W)`` through
        ``mask`` ``(ny, nx)`` or ``(C, ny, nx)`` (one time-multiplexed frame per channel).

        Returns float32 (float64 for complex128 systems) of shape ``(B, [C,] ny, nx)``.
        """
        masks = self._masks(mask)
        ny, nx = self.shape
        f1, f2 = self.lens1.focal_length, self.lens2.focal_length
        # laser × input image, then lens 1 as an FFT in array order
        spectrum = self.input_field(images).data
        fft.fft2(spectrum, out=spectrum)
        # Fourier-plane mask (and lens-2 pupil) moved to FFT order, lens-1 scale folded in
        if self._fourier_pupil is not None:
            masks = masks * self._fourier_pupil
        scale1 = self.pitch[0] * self.pitch[1] / (1j * self.wavelength * f1)
        row_factor = (scale1 * _centre_ramp(ny, self.dtype.str)).astype(self.dtype)
        fft_order = fft.empty(masks.shape, self.dtype)
        if not _kernels.mask_to_fft_order(masks, row_factor, _centre_ramp(nx, self.dtype.str),
                                          fft_order):
            raise ValueError("mask contains NaN or infinite samples")
        batch, channels = spectrum.shape[0], masks.shape[0]
        filtered = spectrum if channels == 1 else fft.empty((batch, channels, ny, nx), self.dtype)
        _kernels.spectrum_times_masks(spectrum, fft_order,
                                      filtered.reshape(batch, channels, ny, nx))
        # lens 2: its centre ramp cancels lens 1's, leaving an FFT, an fftshift and a scale
        filtered = _stack(filtered)
        fft.fft2(filtered, out=filtered)
        fourier_pitch = self.fourier_pitch
        scale2 = (fourier_pitch[0] * fourier_pitch[1] / (self.wavelength * f2)) ** 2
        real = np.float64 if self.dtype == np.complex128 else np.float32
        irradiance = np.empty(filtered.shape, real)
        _kernels.intensity_shift(filtered, real(scale2), irradiance)
        irradiance = irradiance.reshape(batch, channels, ny, nx)
        return self._shaped(irradiance, np.ndim(images), np.ndim(mask))

    # --- kernels and masks ----------------------------------------------------------------

    def mask_from_kernel(self, kernel) -> np.ndarray:
        """Fourier-plane transmittance whose 4f output is the convolution with ``kernel``.

        ``M[k] = Σ_q h[q]·exp(−i2π(q − c)(k − c)/N)``, the centred DFT of the kernel placed with
        its sample ``(K_y//2, K_x//2)`` on the optical axis; then ``u_out(−x·f1/f2) = −(f1/f2)·(u_in ∗ h)(x)`` (linear as
        long as input extent + kernel extent ≤ N on each axis). Not normalised: a passive SLM
        needs ``max|M| ≤ 1``, which scales the output by the same factor.
        """
        kernel = np.asarray(kernel)
        checks.finite_array("kernel", kernel)
        if kernel.shape[-2] > self.shape[0] or kernel.shape[-1] > self.shape[1]:
            raise ValueError(f"kernel of {kernel.shape[-2:]} samples does not fit the "
                             f"{self.shape} grid")
        placed = np.zeros(kernel.shape[:-2] + self.shape, np.result_type(kernel, self.dtype))
        oy, ox = (self.shape[0] // 2 - kernel.shape[-2] // 2, self.shape[1] // 2 - kernel.shape[-1] // 2)
        placed[..., oy:oy + kernel.shape[-2], ox:ox + kernel.shape[-1]] = kernel
        centred = np.fft.ifftshift(placed, axes=(-2, -1))
        return np.fft.fftshift(np.fft.fft2(centred), axes=(-2, -1)).astype(self.dtype)

    def kernel_from_mask(self, mask) -> np.ndarray:
        """The centred spatial kernel ``h`` on the input grid of a Fourier-plane mask (the
        inverse of :meth:`mask_from_kernel`)."""
        masks = np.asarray(mask)
        if masks.shape[-2:] != self.shape:
            raise ValueError(f"mask must end in the Fourier grid {self.shape}, got {masks.shape}")
        centred = np.fft.ifftshift(masks, axes=(-2, -1))
        return np.fft.fftshift(np.fft.ifft2(centred), axes=(-2, -1))

    def upright(self, frames) -> np.ndarray:
        """Output frames with the 4f inversion undone (x → −x, y → −y)."""
        return invert(np.asarray(frames))
