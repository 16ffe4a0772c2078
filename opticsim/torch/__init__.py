"""The 4f correlator in PyTorch: the engine's physics, differentiable in the mask and the input.

Every constant comes from the engine's element objects (:class:`~opticsim.FourF` and its
``Laser``, ``Lens``, ``SLM`` and ``Camera``); only the array operations differ from the NumPy
engine. Pure functions do the math (:func:`lens_ft`, :func:`fourf_field`, the kernel ↔ mask
helpers, straight-through quantisers, ADC and noise); thin modules hold an element each
(:class:`LensTransform`, :class:`SLMPanel`, :class:`CameraResponse`), and
:class:`Optical4fConv` is the layer: channel layout → input SLM → lens 1 → Fourier SLM (the
learnable masks) → lens 2 → camera → readout, as :meth:`FourF.run` with a layout.
Conventions are the engine's: centred grids (index ``n//2`` on the axis), the lens transform
``U(u) = 1/(iλf) Σ u(x) exp(−i2π x·u/(λf)) dx dy`` at pitch ``λf/(N·dx)``, amplitudes in
√(W/m²).

One frame through the 4f, for an image placed at row/column offset ``o`` on an ``N``-sample axis
(centre ``c = N//2``), needs two FFTs and one product (the derivation folds the engine's
:meth:`FourF.run` one step further)::

    out = s1·s2 · FFT[ FFT_N(I·image) · ifftshift(M·P2) · exp(i2π(2c − o)·j/N) ]

``FFT_N`` zero-pads the image at the end of each axis, ``j`` is the FFT-order index,
``s1 = dx·dy/(iλf1)`` and ``s2 = du·dv/(iλf2)`` the two lens scales, ``I`` the illumination
(laser × lens-1 pupil) over the image, ``P2`` the lens-2 pupil in the Fourier plane. The ramp
moves the image to its centred place, folds in lens 1's centre ramp and replaces lens 2's
fftshift, so the result equals ``lens_ft(lens_ft(u)·M·P2)`` sample for sample.
When the Fourier SLM's pitch/oversample is not ``λ·f1/(N·dx)`` (``fourf.fourier_by_fft`` is
False), both lenses are Fourier transforms to the panel's samples and back
(:func:`fourf_field_at_pitch`): the engine's matrix products
(:func:`opticsim.propagate.mft_matrices`) for small grids, its Bluestein chirp-z factors
(:func:`opticsim.propagate.chirp_z_factors`, two FFTs) from about
``opticsim.torch.functional.CHIRP_Z_FROM`` samples a side, where torch's matrix products stop
being faster on CPU; the two agree to rounding.
"""

from .conv import MASKS, SHOT_NOISE, STATE_FORMAT, Optical4fConv, load_state
from .elements import CameraResponse, IdealFourF, LensTransform, SLMPanel, gaussian_smooth
from .functional import (
    adc,
    axis_ramp,
    centred_ramp,
    complex_dtype,
    double_phase,
    embed_centred,
    fourf_field,
    fourf_field_at_pitch,
    fourf_lens_factors,
    fourf_transfer,
    generator,
    input_illumination,
    intensity,
    kernel_from_mask,
    lens_at_pitch,
    lens_ft,
    mask_from_kernel,
    masks_from_kernels,
    nearest_index,
    quantize,
    read_noise,
    real_dtype,
    round_straight_through,
    shot_noise,
    straight_through,
    uniform_levels,
    warp,
    warp_tensors,
)

__all__ = [
    "CameraResponse", "IdealFourF", "LensTransform", "MASKS", "Optical4fConv", "SHOT_NOISE",
    "SLMPanel", "STATE_FORMAT", "adc", "axis_ramp", "centred_ramp", "complex_dtype",
    "double_phase", "embed_centred", "fourf_field", "fourf_field_at_pitch",
    "fourf_lens_factors", "fourf_transfer", "gaussian_smooth", "generator",
    "input_illumination", "intensity", "kernel_from_mask", "lens_at_pitch", "lens_ft",
    "load_state", "mask_from_kernel", "masks_from_kernels", "nearest_index", "quantize",
    "read_noise", "real_dtype", "round_straight_through", "shot_noise", "straight_through",
    "uniform_levels", "warp", "warp_tensors",
]
