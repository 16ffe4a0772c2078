"""The 4f correlator in PyTorch: the engine's physics, differentiable in the mask and the input.

Every constant comes from the engine's element objects (:class:`~opticsim.FourF`, its
``Laser`` and ``Lens`` objects); only the array operations differ from the NumPy engine.
Conventions are the engine's: centred grids (index ``n//2`` on the axis), the lens transform
``U(u) = 1/(iλf) Σ u(x) exp(−i2π x·u/(λf)) dx dy`` at pitch ``λf/(N·dx)``, amplitudes in √(W/m²).

One frame through the 4f, for an image placed at row/column offset ``o`` on an ``N``-sample axis
(centre ``c = N//2``), needs two FFTs and one product (the derivation folds the engine's
:meth:`FourF.run` one step further)::

    out = s1·s2 · FFT[ FFT_N(I·image) · ifftshift(M·P2) · exp(i2π(2c − o)·j/N) ]

``FFT_N`` zero-pads the image at the end of each axis, ``j`` is the FFT-order index,
``s1 = dx·dy/(iλf1)`` and ``s2 = du·dv/(iλf2)`` the two lens scales, ``I`` the illumination
(laser × lens-1 pupil) over the image, ``P2`` the lens-2 pupil in the Fourier plane. The ramp
moves the image to its centred place, folds in lens 1's centre ramp and replaces lens 2's
fftshift, so the result equals ``lens_ft(lens_ft(u)·M·P2)`` sample for sample.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from opticsim import checks
from opticsim.fourf import FourF
from opticsim.grid import place_centred

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype of a real one: float32 → complex64, float64 → complex128."""
    if dtype in _COMPLEX.values():
        return dtype
    if dtype not in _COMPLEX:
        raise ValueError(f"dtype must be float32 or float64 (or their complex types), got {dtype}")
    return _COMPLEX[dtype]


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype of a complex one: complex64 → float32, complex128 → float64."""
    return dtype.to_real() if dtype.is_complex else dtype


def _as_tensor(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Complex128 NumPy constants as a complex tensor of ``like``'s precision and device."""
    return torch.from_numpy(np.ascontiguousarray(values)).to(
        device=like.device, dtype=complex_dtype(like.dtype))


def axis_ramp(n: int, cycles: int) -> np.ndarray:
    """``exp(i2π·(cycles·j mod n)/n)`` for ``j = 0 … n−1``, complex128 (integer phase reduced
    exactly before the exponential)."""
    j = np.arange(n, dtype=np.int64)
    return np.exp(2j * np.pi * ((cycles * j) % n) / n)


def centred_ramp(n: int) -> np.ndarray:
    """``exp(i2π·c·(k − c)/n)``, ``c = n//2``: the phase that moves an FFT's origin to the
    centre of the axis (the engine's ``propagate._centre_ramp``), complex128."""
    centre = n // 2
    k = np.arange(n, dtype=np.int64) - centre
    return np.exp(2j * np.pi * ((centre * k) % n) / n)


# --- lens transform and the fused 4f --------------------------------------------------------


def lens_ft(data: torch.Tensor, pitch, wavelength: float, focal_length: float) -> torch.Tensor:
    """Field in the back focal plane of a thin lens for ``data`` ``(..., ny, nx)`` in its front
    focal plane at ``pitch`` ``(dy, dx)`` (m): ``U[k] = dx·dy/(iλf)·R[k]·fftshift(FFT u)[k]``
    with ``R`` the centre ramp, sampled at ``λf/(N·dx)``; matches
    :func:`opticsim.propagate.lens_ft`."""
    pitch = checks.pair("pitch", pitch)
    wavelength = checks.positive("wavelength", wavelength)
    focal_length = checks.positive("focal_length", focal_length)
    ny, nx = data.shape[-2:]
    scale = pitch[0] * pitch[1] / (1j * wavelength * focal_length)
    factor = scale * np.outer(centred_ramp(ny), centred_ramp(nx))
    data = data.to(complex_dtype(data.dtype))
    return _as_tensor(factor, data) * torch.fft.fftshift(torch.fft.fft2(data), dim=(-2, -1))


def fourf_transfer(fourf: FourF, image_shape) -> np.ndarray:
    """Fourier-plane factor ``s1·s2·ifftshift(P2)·exp(i2π(2c − o)·j/N)`` in FFT order
    (complex128) for images of ``image_shape`` placed centred on ``fourf``'s grid: multiplied
    by ``ifftshift(M)`` it turns the zero-padded FFT of an image into the FFT of the output
    field (module docstring)."""
    ny, nx = fourf.shape
    oy, ox = place_centred(tuple(image_shape), fourf.shape)
    f1, f2 = fourf.lens1.focal_length, fourf.lens2.focal_length
    fourier_pitch = fourf.fourier_pitch
    scale = (fourf.pitch[0] * fourf.pitch[1] / (1j * fourf.wavelength * f1)
             * fourier_pitch[0] * fourier_pitch[1] / (1j * fourf.wavelength * f2))
    factor = scale * np.outer(axis_ramp(ny, 2 * (ny // 2) - oy), axis_ramp(nx, 2 * (nx // 2) - ox))
    pupil = fourf.lens2.pupil(fourf.shape, fourier_pitch, np.complex128)
    if pupil is not None:
        factor = factor * np.fft.ifftshift(pupil)
    return factor


def input_illumination(fourf: FourF, image_shape) -> np.ndarray | None:
    """Illumination (laser × lens-1 pupil, √(W/m²)) over a centred image of ``image_shape``,
    complex128; None when it is uniform and real (then it folds into a scalar)."""
    oy, ox = place_centred(tuple(image_shape), fourf.shape)
    h, w = image_shape
    illumination = fourf.laser.amplitude(fourf.shape, fourf.pitch).astype(np.complex128)
    pupil = fourf.lens1.pupil(fourf.shape, fourf.pitch, np.complex128)
    if pupil is not None:
        illumination = illumination * pupil
    return illumination[oy:oy + h, ox:ox + w]


def fourf_field(images: torch.Tensor, masks: torch.Tensor, transfer: torch.Tensor,
                illumination: torch.Tensor, shape) -> torch.Tensor:
    """Output field of the 4f (√(W/m²)) on the ``shape`` grid.

    ``images`` ``(..., h, w)`` real amplitude transmittances, ``masks`` centred Fourier-plane
    transmittances broadcastable against the images' leading axes ``(..., ny, nx)``,
    ``transfer`` from :func:`fourf_transfer` and ``illumination`` from
    :func:`input_illumination` (both as tensors). The image spectrum is computed once and
    shared by every mask it broadcasts against.
    """
    encoded = images.to(illumination.dtype) * illumination
    spectrum = torch.fft.fft2(encoded, s=tuple(shape))
    fft_masks = torch.fft.ifftshift(masks, dim=(-2, -1)) * transfer
    return torch.fft.fft2(spectrum * fft_masks)


def intensity(field: torch.Tensor) -> torch.Tensor:
    """Irradiance ``|E|²`` (W/m²) of a complex field, real of the same precision."""
    return field.real ** 2 + field.imag ** 2


# --- kernels and masks ----------------------------------------------------------------------


def place_kernel(kernel: torch.Tensor, shape) -> torch.Tensor:
    """``kernel`` ``(..., Ky, Kx)`` zero-padded to ``shape`` with sample ``(Ky//2, Kx//2)`` at the
    grid centre ``(ny//2, nx//2)``."""
    ky, kx = kernel.shape[-2:]
    ny, nx = shape
    if ky > ny or kx > nx:
        raise ValueError(f"kernel of {(ky, kx)} samples does not fit the {tuple(shape)} grid")
    top, left = ny // 2 - ky // 2, nx // 2 - kx // 2
    return F.pad(kernel, (left, nx - left - kx, top, ny - top - ky))


def mask_from_kernel(fourf: FourF, kernel: torch.Tensor) -> torch.Tensor:
    """Fourier-plane transmittance of ``fourf`` whose 4f output is the convolution with
    ``kernel`` ``(..., Ky, Kx)``: ``M[k] = Σ_q h[q]·exp(−i2π(q − c)(k − c)/N)``, the centred DFT
    of the kernel centred on the axis (:meth:`FourF.mask_from_kernel`), differentiable."""
    if kernel.dtype.is_floating_point:
        kernel = kernel.to(complex_dtype(kernel.dtype))
    placed = place_kernel(kernel, fourf.shape)
    centred = torch.fft.ifftshift(placed, dim=(-2, -1))
    return torch.fft.fftshift(torch.fft.fft2(centred), dim=(-2, -1))


def kernel_from_mask(fourf: FourF, mask: torch.Tensor, kernel_shape=None) -> torch.Tensor:
    """Spatial kernel (complex) of a centred Fourier-plane ``mask`` ``(..., ny, nx)`` of
    ``fourf``, the inverse of :func:`mask_from_kernel`; cropped around the centre to
    ``kernel_shape`` ``(Ky, Kx)`` when given (:meth:`FourF.kernel_from_mask`)."""
    if tuple(mask.shape[-2:]) != fourf.shape:
        raise ValueError(f"mask must end in the Fourier grid {fourf.shape}, got "
                         f"{tuple(mask.shape)}")
    centred = torch.fft.ifftshift(mask.to(complex_dtype(mask.dtype)), dim=(-2, -1))
    kernel = torch.fft.fftshift(torch.fft.ifft2(centred), dim=(-2, -1))
    if kernel_shape is None:
        return kernel
    ky, kx = checks.shape2("kernel_shape", kernel_shape)
    ny, nx = fourf.shape
    if ky > ny or kx > nx:
        raise ValueError(f"kernel_shape {(ky, kx)} does not fit the {fourf.shape} grid")
    top, left = ny // 2 - ky // 2, nx // 2 - kx // 2
    return kernel[..., top:top + ky, left:left + kx]


# --- straight-through quantisation, ADC and noise -------------------------------------------


class _StraightThrough(torch.autograd.Function):
    """Forward: the quantised value ``q`` exactly; backward: the gradient passes to ``x``."""

    @staticmethod
    def forward(ctx, x, q):
        return q.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def straight_through(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` in the forward pass, identity gradient to ``x`` in the backward pass
    (Bengio, Léonard & Courville, arXiv 1308.3432, 2013)."""
    return _StraightThrough.apply(x, q.detach())


def nearest_index(values: torch.Tensor, keys: torch.Tensor, period: float = 0.0) -> torch.Tensor:
    """Index of the key nearest to each value: on a circle of ``period`` (values wrapped into
    ``[0, period)``, ``keys`` sorted inside it) or, when ``period`` is 0, on the line (``keys``
    sorted). Ties go to the lower key, as in ``_kernels.quantize_nearest``."""
    values = values.detach()
    keys = keys.to(device=values.device, dtype=values.dtype)
    count = keys.numel()
    if period > 0:
        values = values - period * torch.floor(values / period)
    upper = torch.searchsorted(keys, values.contiguous())
    if period > 0:
        lower, upper = (upper - 1) % count, upper % count
        below = (values - keys[lower]).abs()
        above = (keys[upper] - values).abs()
        below = torch.minimum(below, period - below)
        above = torch.minimum(above, period - above)
    else:
        lower, upper = (upper - 1).clamp(min=0), upper.clamp(max=count - 1)
        below, above = (values - keys[lower]).abs(), (keys[upper] - values).abs()
    return torch.where(below <= above, lower, upper)


def quantize(values: torch.Tensor, keys: torch.Tensor, period: float = 0.0) -> torch.Tensor:
    """The nearest of ``keys`` to each value (see :func:`nearest_index`), with a straight-through
    gradient: the forward pass shows what the device can display, the backward pass treats
    the quantiser as the identity."""
    keys = keys.to(device=values.device, dtype=values.dtype)
    return straight_through(values, keys[nearest_index(values, keys, period)])


def uniform_levels(bits: int, span: float, dtype=torch.float64, device=None) -> torch.Tensor:
    """The ``2**bits`` values ``g·span/2**bits`` of a linear LUT (phase levels of an SLM of
    stroke ``span`` rad), ascending."""
    bits = checks.integer("bits", bits, 1, 24)
    return torch.arange(2 ** bits, dtype=dtype, device=device) * (span / 2 ** bits)


def round_straight_through(values: torch.Tensor) -> torch.Tensor:
    """``round(values)`` (half to even, as ``np.round``) with an identity gradient."""
    return straight_through(values, torch.round(values))


def adc(electrons: torch.Tensor, gain: float, offset: float, bits: int) -> torch.Tensor:
    """Digital numbers ``clip(round(K·e + offset), 0, 2**bits − 1)`` (EMVA 1288 linear model):
    rounding with a straight-through gradient, clipping with its true (zero) gradient."""
    bits = checks.integer("bits", bits, 1, 32)
    counts = round_straight_through(electrons * gain + offset)
    return counts.clamp(0, 2 ** bits - 1)


def shot_noise(mean: torch.Tensor, generator: torch.Generator,
               method: str = "gaussian") -> torch.Tensor:
    """A photon/electron count sample of mean ``mean`` (≥ 0): ``"poisson"`` draws
    Poisson(mean), ``"gaussian"`` its normal approximation ``mean + √mean·z``. Either way the
    gradient with respect to ``mean`` is 1, the derivative of the expected count."""
    if method not in ("gaussian", "poisson"):
        raise ValueError(f"method must be 'gaussian' or 'poisson', got {method!r}")
    rate = mean.detach().clamp(min=0)
    if method == "poisson":
        sample = torch.poisson(rate, generator=generator)
    else:
        sample = rate + rate.sqrt() * torch.randn(rate.shape, generator=generator,
                                                  device=rate.device, dtype=rate.dtype)
    return mean + (sample - rate)


def read_noise(electrons: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``electrons + σ·z`` with z standard normal: Gaussian read noise of ``sigma`` e⁻ rms."""
    sigma = checks.non_negative("sigma", sigma)
    if sigma == 0:
        return electrons
    return electrons + sigma * torch.randn(electrons.shape, generator=generator,
                                           device=electrons.device, dtype=electrons.dtype)


def generator(seed: int, device=None) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (the only source of randomness)."""
    seed = checks.integer("seed", seed, 0)
    return torch.Generator(device=device or "cpu").manual_seed(seed)


# --- modules --------------------------------------------------------------------------------


def _complex_buffer(values: np.ndarray) -> torch.Tensor:
    """Complex128 constants stored as a real ``(..., 2)`` tensor, so ``Module.to(dtype)``,
    ``.float()`` and ``.double()`` cast them with the parameters."""
    return torch.view_as_real(torch.from_numpy(np.ascontiguousarray(values, np.complex128)))


def _complex(buffer: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(buffer)


class LensTransform(nn.Module):
    """Lens ``lens`` (an :class:`opticsim.Lens`) as a Fourier-transforming element on a grid of
    ``pitch`` (m) at ``wavelength`` (m); its pupil is applied in the front focal plane, as in
    :meth:`opticsim.Lens.fourier`."""

    def __init__(self, lens, shape, pitch, wavelength: float):
        super().__init__()
        self.lens = lens
        self.pitch = checks.pair("pitch", pitch)
        self.wavelength = checks.positive("wavelength", wavelength)
        pupil = lens.pupil(checks.shape2("shape", shape), self.pitch, np.complex128)
        self.register_buffer("pupil", None if pupil is None else _complex_buffer(pupil))

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        if self.pupil is not None:
            field = field * _complex(self.pupil).to(field.dtype)
        return lens_ft(field, self.pitch, self.wavelength, self.lens.focal_length)


class IdealFourF(nn.Module):
    """The ideal 4f of ``fourf`` (laser, lens pupils and focal lengths from its elements) for
    images of ``image_shape`` ``(h, w)``: ``forward(images, masks)`` returns the complex output
    field ``(..., ny, nx)`` in √(W/m²), equal to :meth:`FourF.field`; ``intensity`` gives the
    irradiance of :meth:`FourF.run`. ``images`` ``(B, h, w)`` with ``masks`` ``(C, ny, nx)`` give
    ``(B, C, ny, nx)`` when the caller inserts the channel axis (``images[:, None]``)."""

    def __init__(self, fourf: FourF, image_shape):
        super().__init__()
        if not isinstance(fourf, FourF):
            raise ValueError(f"fourf must be an opticsim.FourF, got {type(fourf).__name__}")
        image_shape = checks.shape2("image_shape", image_shape)
        if image_shape[0] > fourf.shape[0] or image_shape[1] > fourf.shape[1]:
            raise ValueError(f"image_shape {image_shape} does not fit the {fourf.shape} grid")
        self.fourf = fourf
        self.image_shape = image_shape
        self.register_buffer("transfer", _complex_buffer(fourf_transfer(fourf, image_shape)))
        self.register_buffer("illumination",
                             _complex_buffer(input_illumination(fourf, image_shape)))

    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != self.image_shape:
            raise ValueError(f"images must end in {self.image_shape}, got {tuple(images.shape)}")
        if tuple(masks.shape[-2:]) != self.fourf.shape:
            raise ValueError(f"masks must end in the Fourier grid {self.fourf.shape}, got "
                             f"{tuple(masks.shape)}")
        dtype = complex_dtype(images.dtype)
        return fourf_field(images, masks.to(dtype), _complex(self.transfer).to(dtype),
                           _complex(self.illumination).to(dtype), self.fourf.shape)

    def intensity(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Detector irradiance ``|E|²`` (W/m²)."""
        return intensity(self(images, masks))
