"""The Fourier plane of the 4f correlator: what the Fourier SLM displays, and its cache."""

from __future__ import annotations

import math

import numpy as np

from .. import alignment, checks


def fourier_factor(fourf) -> np.ndarray | None:
    """What multiplies every Fourier-plane transmittance of ``fourf`` (complex128 on its Fourier
    grid), or None when nothing does: the lens-2 pupil, and the camera's defocus Δz carried to
    this plane, ``exp(ikΔz)·exp(−iπΔz·u²/(λf2²))`` (:func:`opticsim.alignment.defocus_phase`):
    lens 2 turns it into the Fresnel propagation of the output field by Δz onto the sensor.

    The pupil acts in the front focal plane of lens 2 (:class:`~opticsim.Lens`), and with a
    defocused Fourier SLM, in the panel's plane: both neglect distances (f2, Δz) to the lens."""
    shape, pitch = fourf.fourier_shape, fourf.fourier_pitch
    factor = fourf.lens2.pupil(shape, pitch, np.complex128)
    camera = fourf.camera
    if camera is not None and camera.defocus:
        carrier = np.exp(1j * math.fmod(2 * math.pi * camera.defocus / fourf.wavelength,
                                        2 * math.pi))
        defocus = carrier * alignment.defocus_phase(shape, pitch, fourf.wavelength,
                                                    fourf.lens2.focal_length, camera.defocus)
        factor = defocus if factor is None else factor * defocus
    return factor


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


class FourierPlane:
    """Masks and gray levels of a :class:`~opticsim.FourF` as Fourier-plane
    transmittances."""

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
        return self.fourier_slm.on_grid(panel, self.fourier_shape)

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
