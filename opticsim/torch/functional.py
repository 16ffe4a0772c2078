"""Differentiable math of the 4f correlator: lens transform, fused 4f, kernel ↔ mask,
straight-through quantisers, ADC and noise (pure functions on tensors)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from opticsim import checks, propagate, readout
from opticsim.fourf import FourF
from opticsim.fourf.fourier_plane import fourier_factor
from opticsim.fourf.input_plane import input_illumination as fourf_illumination
from opticsim.grid import place_centred
from opticsim.propagate import chirp_z_factors, mft_matrices

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
# torch's matrix products against its chirp-z transform for N² → N² samples, complex64, on this
# project's 2-core CPU (python benches/bench_chirp_z.py --backend torch --sizes 768 1024 1280
# 1536 2048 --rounds 3): matrix / chirp-z time 1.23 at N = 768, 0.95 at 1024, 1.11 at 1280,
# 1.33 at 1536, 1.50 at 2048, so chirp-z from 1280 (MKL's products hold out longer than the
# engine's, CHIRP_Z_FROM = 768). Not measured on a GPU.
#: Grid side (samples) from which a lens transform at another pitch takes the chirp-z transform.
CHIRP_Z_FROM = 1280
# A mean count beyond which the shot-noise sample is the mean itself (relative spread < 1e-9)
_COUNT_IS_MEAN_ABOVE = 2.0 ** 62


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
    (complex128), ``P2`` the lens-2 pupil times the camera's defocus
    (:func:`opticsim.fourf.fourier_plane.fourier_factor`), for images of ``image_shape``
    placed centred on ``fourf``'s grid (Fourier plane sampled by the FFT): multiplied
    by ``ifftshift(M)`` it turns the zero-padded FFT of an image into the FFT of the output
    field (module docstring)."""
    ny, nx = fourf.shape
    oy, ox = place_centred(tuple(image_shape), fourf.shape)
    f1, f2 = fourf.lens1.focal_length, fourf.lens2.focal_length
    fourier_pitch = fourf.fft_pitch
    scale = (fourf.pitch[0] * fourf.pitch[1] / (1j * fourf.wavelength * f1)
             * fourier_pitch[0] * fourier_pitch[1] / (1j * fourf.wavelength * f2))
    factor = scale * np.outer(axis_ramp(ny, 2 * (ny // 2) - oy), axis_ramp(nx, 2 * (nx // 2) - ox))
    fourier = fourier_factor(fourf)                     # lens-2 pupil, camera defocus
    if fourier is not None:
        factor = factor * np.fft.ifftshift(fourier)
    return factor


def input_illumination(fourf: FourF, image_shape=None) -> np.ndarray:
    """Illumination (laser × lens-1 pupil × the Fourier SLM's defocus carried to the input,
    √(W/m²), :func:`opticsim.fourf.input_plane.input_illumination`) over a centred image of
    ``image_shape`` (default the whole grid), complex128."""
    image_shape = fourf.shape if image_shape is None else tuple(image_shape)
    oy, ox = place_centred(image_shape, fourf.shape)
    illumination = fourf_illumination(fourf)
    return illumination[oy:oy + image_shape[0], ox:ox + image_shape[1]]


def fourf_lens_factors(fourf: FourF) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Both lens transforms of ``fourf`` whose Fourier SLM is not sampled by the FFT
    (``not fourf.fourier_by_fft``), complex128, taken as the engine takes them
    (:func:`opticsim.propagate.lens_at_pitch`, with torch's crossover): lens 1 from the input grid to the Fourier-plane
    samples, lens 2 from those to the output grid. Each is two matrices ``(rows, cols)`` of
    :func:`opticsim.propagate.mft_matrices` ``(M_y, N_y)``, ``(M_x, N_x)`` for small grids, or
    the three chirp-z factors ``(pre, kernel, post)`` of
    :func:`opticsim.propagate.chirp_z_factors` from about
    :data:`~opticsim.torch.functional.CHIRP_Z_FROM` samples a side (where torch's transforms
    cross over; the engine's cross over earlier)."""
    def factors(in_shape, in_pitch, out_shape, out_pitch, focal_length):
        chirp_z = propagate._use_chirp_z(in_shape, out_shape, CHIRP_Z_FROM)
        make = chirp_z_factors if chirp_z else mft_matrices
        return make(in_shape, in_pitch, out_shape, out_pitch, fourf.wavelength, focal_length,
                    "<c16")
    return (factors(fourf.shape, fourf.pitch, fourf.fourier_shape, fourf.fourier_pitch,
                    fourf.lens1.focal_length),
            factors(fourf.fourier_shape, fourf.fourier_pitch, fourf.shape, fourf.output_pitch,
                    fourf.lens2.focal_length))


def lens_at_pitch(data: torch.Tensor, factors) -> torch.Tensor:
    """A lens transform of ``data`` ``(..., N_y, N_x)`` to other samples, with one lens of
    :func:`fourf_lens_factors` as tensors: ``rows @ u @ colsᵀ`` (matrix Fourier transform), or
    the chirp-z transform ``post · IFFT(kernel · FFT_L(pre · u))`` cropped to ``post``'s
    ``(M_y, M_x)`` (``FFT_L`` zero-pads to the kernel's ``(L_y, L_x)``, the inverse is
    unnormalised: the kernel holds 1/(L_y·L_x))."""
    if len(factors) == 2:
        rows, cols = factors
        return rows @ data @ cols.transpose(0, 1)
    pre, kernel, post = factors
    work = torch.fft.fft2(data * pre, s=tuple(kernel.shape))
    work = torch.fft.ifft2(work * kernel, norm="forward")
    return work[..., :post.shape[0], :post.shape[1]] * post


def fourf_field_at_pitch(encoded: torch.Tensor, masks: torch.Tensor, lenses) -> torch.Tensor:
    """Output field of the 4f (√(W/m²)) whose Fourier SLM has its own pitch: ``encoded``
    ``(..., ny, nx)`` the field leaving the input grid, ``masks`` ``(..., S_y, S_x)`` the
    Fourier-plane transmittances (lens-2 pupil included) and ``lenses`` the
    :func:`fourf_lens_factors` as tensors: ``lens2(lens1(u)·M)`` by :func:`lens_at_pitch`."""
    first, second = lenses
    return lens_at_pitch(lens_at_pitch(encoded, first) * masks, second)


def fourf_field(encoded: torch.Tensor, masks: torch.Tensor, transfer: torch.Tensor,
                shape) -> torch.Tensor:
    """Output field of the 4f (√(W/m²)) on the ``shape`` grid.

    ``encoded`` ``(..., h, w)`` is the field leaving the input plane over a centred window
    (image × illumination), ``masks`` the centred Fourier-plane transmittances
    ``(..., ny, nx)`` broadcastable against its leading axes and ``transfer`` the
    :func:`fourf_transfer` of the window's shape (as a tensor). The input spectrum is computed
    once and shared by every mask it broadcasts against.
    """
    spectrum = torch.fft.fft2(encoded, s=tuple(shape))
    fft_masks = torch.fft.ifftshift(masks, dim=(-2, -1)) * transfer
    return torch.fft.fft2(spectrum * fft_masks)


def warp_tensors(steps, like: torch.Tensor) -> list:
    """:func:`opticsim.alignment.warp_steps` with their factors as complex tensors of
    ``like``'s precision and device."""
    return [(axes, _as_tensor(factor, like)) for axes, factor in steps]


def warp(samples: torch.Tensor, steps) -> torch.Tensor:
    """``samples`` ``(..., ny, nx)`` moved by ``steps`` (:func:`warp_tensors`): per step an FFT
    over its axes, the product with its factor and the inverse FFT, as
    :func:`opticsim.alignment.warp`; differentiable."""
    for axes, factor in steps:
        samples = torch.fft.ifftn(torch.fft.fftn(samples, dim=axes) * factor, dim=axes)
    return samples


def intensity(field: torch.Tensor) -> torch.Tensor:
    """Irradiance ``|E|²`` (W/m²) of a complex field, real of the same precision."""
    return field.real ** 2 + field.imag ** 2


# --- kernels and masks ----------------------------------------------------------------------


def embed_centred(samples: torch.Tensor, shape) -> torch.Tensor:
    """Samples ``(..., h, w)`` on a centred ``shape`` grid at offset ((H − h)//2, (W − w)//2):
    zero-padded where the grid is larger, cropped where it is smaller
    (:func:`opticsim.grid.embed_centred`)."""
    h, w = samples.shape[-2:]
    oy, ox = (shape[0] - h) // 2, (shape[1] - w) // 2
    if oy < 0:
        samples, h, oy = samples[..., -oy:-oy + shape[0], :], shape[0], 0
    if ox < 0:
        samples, w, ox = samples[..., -ox:-ox + shape[1]], shape[1], 0
    return F.pad(samples, (ox, shape[1] - w - ox, oy, shape[0] - h - oy))


def _kernel_factors(fourf: FourF, kernel_shape) -> list[np.ndarray]:
    """Per axis, ``exp(−i2π(q − K//2)·κ/N)`` at the mask samples κ, complex128
    ``(mask samples, K)`` (:meth:`FourF.mask_from_kernel`)."""
    factors = []
    for axis in (0, 1):
        taps = np.arange(kernel_shape[axis]) - kernel_shape[axis] // 2
        phase = np.outer(fourf.mask_frequencies(axis), taps) / fourf.shape[axis]
        factors.append(np.exp(-2j * np.pi * phase))
    return factors


def mask_from_kernel(fourf: FourF, kernel: torch.Tensor) -> torch.Tensor:
    """Fourier-plane transmittance ``(..., *fourf.mask_shape)`` whose 4f output is the
    convolution with ``kernel`` ``(..., Ky, Kx)`` (grid samples):
    ``M(κ) = Σ_q h[q]·exp(−i2π(q − K//2)·κ/N)`` at the mask samples κ (the Fourier SLM's pixel
    centres), as :meth:`FourF.mask_from_kernel`, differentiable in the kernel. A NaN or
    infinite kernel sample is a ``ValueError`` (it would make every mask sample NaN)."""
    ky, kx = kernel.shape[-2:]
    if ky > fourf.shape[0] or kx > fourf.shape[1]:
        raise ValueError(f"kernel of {(ky, kx)} samples does not fit the {fourf.shape} grid")
    checks.all_finite("kernel", bool(torch.isfinite(kernel).all()))
    kernel = kernel.to(complex_dtype(kernel.dtype))
    rows, cols = (_as_tensor(f, kernel) for f in _kernel_factors(fourf, (ky, kx)))
    return rows @ kernel @ cols.transpose(0, 1)


def kernel_from_mask(fourf: FourF, mask: torch.Tensor, kernel_shape=None) -> torch.Tensor:
    """Centred spatial kernel (complex, grid samples) of a Fourier ``mask``
    ``(..., *fourf.mask_shape)``, each Fourier-SLM pixel held over its samples
    (:meth:`FourF.kernel_from_mask`); cropped around the centre to ``kernel_shape`` when given.
    Inverts :func:`mask_from_kernel` on an ideal grid; refuses a NaN or infinite mask."""
    if tuple(mask.shape[-2:]) != fourf.mask_shape:
        raise ValueError(f"mask must end in {fourf.mask_shape}, got {tuple(mask.shape)}")
    checks.all_finite("mask", bool(torch.isfinite(mask).all()))
    mask = mask.to(complex_dtype(mask.dtype))
    if fourf.fourier_slm is not None:
        oversample = fourf.fourier_slm.oversample
        mask = mask.repeat_interleave(oversample, -2).repeat_interleave(oversample, -1)
    if fourf.fourier_by_fft:
        centred = torch.fft.ifftshift(embed_centred(mask, fourf.shape), dim=(-2, -1))
        kernel = torch.fft.fftshift(torch.fft.ifft2(centred), dim=(-2, -1))
    else:
        rows, cols = (_as_tensor(f, mask) for f in fourf.kernel_synthesis())
        kernel = rows @ mask @ cols.transpose(0, 1)
    if kernel_shape is None:
        return kernel
    ky, kx = checks.shape2("kernel_shape", kernel_shape)
    ny, nx = fourf.shape
    if ky > ny or kx > nx:
        raise ValueError(f"kernel_shape {(ky, kx)} does not fit the {fourf.shape} grid")
    top, left = ny // 2 - ky // 2, nx // 2 - kx // 2
    return kernel[..., top:top + ky, left:left + kx]


def masks_from_kernels(fourf: FourF, kernels: torch.Tensor, layout: readout.Layout
                       ) -> torch.Tensor:
    """Displayed masks for ``kernels`` ``(C_out, C_in, Ky, Kx)`` on ``layout``
    (:meth:`FourF.layout`), differentiable: ``M_c = Σ_i M_ci·carrier(s_c − t_i)`` (summed over
    ``c`` on one display when tiled), split into ± pairs ``(C, 2, h, w)`` for the differential
    readout, as :meth:`FourF.masks_from_kernels`."""
    expected = (layout.out_channels, layout.in_channels) + tuple(layout.kernel_shape)
    if tuple(kernels.shape) != expected:
        raise ValueError(f"kernels must have shape {expected}, got {tuple(kernels.shape)}")
    if fourf.readout != "differential":
        return _layout_masks(fourf, kernels, layout)
    if kernels.is_complex():
        raise ValueError("kernels must be real for a differential readout")
    parts = (kernels.clamp(min=0), (-kernels).clamp(min=0))
    return torch.stack([_layout_masks(fourf, part, layout) for part in parts], dim=1)


def _layout_masks(fourf: FourF, kernels: torch.Tensor, layout: readout.Layout) -> torch.Tensor:
    pairs = mask_from_kernel(fourf, kernels)
    carriers = _as_tensor(fourf.layout_carriers(layout), pairs)
    combined = (pairs * carriers).sum(dim=1)
    return combined.sum(dim=0, keepdim=True) if layout.tiled else combined


def double_phase(mask: torch.Tensor) -> torch.Tensor:
    """Phases ``φ ± arccos|M|`` on the even/odd pixels of a checkerboard that show complex
    ``mask`` ``(..., h, w)`` (modulus ≤ 1) on a phase-only panel, as
    :func:`opticsim.slm.double_phase`; differentiable where ``0 < |M| < 1``."""
    rows = torch.arange(mask.shape[-2], device=mask.device)[:, None]
    cols = torch.arange(mask.shape[-1], device=mask.device)[None, :]
    sign = 1.0 - 2.0 * ((rows + cols) % 2).to(real_dtype(mask.dtype))
    modulus = mask.abs()
    # arccos has an infinite slope at 1: the peak pixels get θ = 0 and no gradient
    safe = modulus.clamp(max=1.0 - torch.finfo(modulus.dtype).eps)
    theta = torch.where(modulus < 1.0, torch.arccos(safe), torch.zeros_like(safe))
    return torch.angle(mask) + sign * theta


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
    gradient with respect to ``mean`` is 1, the derivative of the expected count. A mean
    above 2⁶² (far past any full well; ``torch.poisson`` wraps around at 2⁶³) or an infinite
    one is its own sample, so that the pixel saturates; a NaN mean passes through."""
    if method not in ("gaussian", "poisson"):
        raise ValueError(f"method must be 'gaussian' or 'poisson', got {method!r}")
    rate = mean.detach().clamp(min=0)
    if method == "poisson":
        sample = torch.poisson(rate.nan_to_num(0.0).clamp(max=_COUNT_IS_MEAN_ABOVE),
                               generator=generator)
    else:
        sample = rate + rate.sqrt() * torch.randn(rate.shape, generator=generator,
                                                  device=rate.device, dtype=rate.dtype)
    sample = torch.where((rate > _COUNT_IS_MEAN_ABOVE) | rate.isnan(), rate, sample)
    return straight_through(mean, sample)


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
