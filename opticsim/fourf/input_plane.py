"""The input plane of the 4f correlator: the laser through the input SLM (or an amplitude image)."""

from __future__ import annotations

import math

import numpy as np

from .. import _kernels, alignment, checks, fft
from ..field import Field
from ..grid import place_centred


def input_illumination(fourf) -> np.ndarray:
    """The field lighting the input plane of ``fourf`` (√(W/m²), complex128 on its grid): the
    laser × the lens-1 pupil × the Fourier SLM's defocus Δz carried to this plane,
    ``exp(−iπΔz·r²/(λf1²))`` (:func:`opticsim.alignment.defocus_phase`): lens 1 turns it into
    the Fresnel propagation of the Fourier-plane field by Δz, onto the displaced panel."""
    illumination = fourf.laser.amplitude(fourf.shape, fourf.pitch).astype(np.complex128)
    pupil = fourf.lens1.pupil(fourf.shape, fourf.pitch, np.complex128)
    if pupil is not None:
        illumination = illumination * pupil
    if fourf.fourier_slm is not None and fourf.fourier_slm.defocus:
        illumination = illumination * alignment.defocus_phase(
            fourf.shape, fourf.pitch, fourf.wavelength, fourf.lens1.focal_length,
            fourf.fourier_slm.defocus)
    return illumination


class InputPlane:
    """The field a :class:`~opticsim.FourF` sends into lens 1 for a stack of images."""

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
        return None if self.input_slm.moved else self._lit_rows(stack.shape[-2])

    def _lit_rows(self, height: int) -> tuple[int, int]:
        """Rows outside which the input SLM's field is zero: those of images ``height`` pixels
        high where gray 0 is dark and nothing fringes, else those of the panel."""
        slm, rows = self.input_slm, self.shape[0]
        top, span = (rows - slm.sample_shape[0]) // 2, slm.sample_shape[0]
        if slm.crosstalk == 0 and slm.levels(self.wavelength)[0] == 0:
            top, span = top + (slm.shape[0] - height) // 2 * slm.oversample, height * slm.oversample
        return max(top, 0), min(top + span, rows)
