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
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from opticsim import checks, readout
from opticsim.camera import Camera, photon_energy, pixel_overlaps
from opticsim.checks import SamplingWarning
from opticsim.fourf import FourF
from opticsim.grid import invert, place_centred
from opticsim.slm import SLM, pixel_coverage

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


def input_illumination(fourf: FourF, image_shape=None) -> np.ndarray:
    """Illumination (laser × lens-1 pupil, √(W/m²)) over a centred image of ``image_shape``
    (default the whole grid), complex128."""
    image_shape = fourf.shape if image_shape is None else tuple(image_shape)
    oy, ox = place_centred(image_shape, fourf.shape)
    illumination = fourf.laser.amplitude(fourf.shape, fourf.pitch).astype(np.complex128)
    pupil = fourf.lens1.pupil(fourf.shape, fourf.pitch, np.complex128)
    if pupil is not None:
        illumination = illumination * pupil
    return illumination[oy:oy + image_shape[0], ox:ox + image_shape[1]]


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
    centres), as :meth:`FourF.mask_from_kernel`, differentiable in the kernel."""
    ky, kx = kernel.shape[-2:]
    if ky > fourf.shape[0] or kx > fourf.shape[1]:
        raise ValueError(f"kernel of {(ky, kx)} samples does not fit the {fourf.shape} grid")
    kernel = kernel.to(complex_dtype(kernel.dtype))
    rows, cols = (_as_tensor(f, kernel) for f in _kernel_factors(fourf, (ky, kx)))
    return rows @ kernel @ cols.transpose(0, 1)


def kernel_from_mask(fourf: FourF, mask: torch.Tensor, kernel_shape=None) -> torch.Tensor:
    """Centred spatial kernel (complex, grid samples) of a Fourier ``mask``
    ``(..., *fourf.mask_shape)``, each Fourier-SLM pixel held over its samples
    (:meth:`FourF.kernel_from_mask`); cropped around the centre to ``kernel_shape`` when given.
    Inverts :func:`mask_from_kernel` on an ideal grid."""
    if tuple(mask.shape[-2:]) != fourf.mask_shape:
        raise ValueError(f"mask must end in {fourf.mask_shape}, got {tuple(mask.shape)}")
    mask = mask.to(complex_dtype(mask.dtype))
    if fourf.fourier_slm is not None:
        oversample = fourf.fourier_slm.oversample
        held = mask.repeat_interleave(oversample, -2).repeat_interleave(oversample, -1)
        mask = embed_centred(held, fourf.shape)
    centred = torch.fft.ifftshift(mask, dim=(-2, -1))
    kernel = torch.fft.fftshift(torch.fft.ifft2(centred), dim=(-2, -1))
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


# --- elements -------------------------------------------------------------------------------


def _cached(cache: dict, key, build):
    """``cache[key]``, built once by ``build()``: element constants turned into tensors once per
    device and dtype."""
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _complex_buffer(values: np.ndarray) -> torch.Tensor:
    """Complex128 constants stored as a real ``(..., 2)`` tensor, so ``Module.to(dtype)``,
    ``.float()`` and ``.double()`` cast them with the parameters."""
    return torch.view_as_real(torch.from_numpy(np.ascontiguousarray(values, np.complex128)))


def _complex(buffer: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(buffer)


def gaussian_smooth(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of the last two axes with standard deviation ``sigma`` (samples),
    edges extended: ``scipy.ndimage.gaussian_filter(values, sigma, mode="nearest",
    axes=(-2, -1))`` (kernel truncated at 4σ), differentiable."""
    if values.is_complex():
        return torch.complex(gaussian_smooth(values.real, sigma),
                             gaussian_smooth(values.imag, sigma))
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights = torch.as_tensor(taps / taps.sum(), dtype=values.dtype, device=values.device)
    for dim in (-2, -1):
        moved = values.movedim(dim, -1)
        rows = F.pad(moved.reshape(-1, 1, moved.shape[-1]), (radius, radius), mode="replicate")
        values = F.conv1d(rows, weights.view(1, 1, -1)).reshape(moved.shape).movedim(-1, dim)
    return values


class SLMPanel(nn.Module):
    """An :class:`opticsim.SLM` at ``wavelength`` (m) in front of a centred ``grid_shape`` grid.

    ``forward(values, quantise)`` takes what :meth:`SLM.to_gray` takes: phases (rad) for a
    phase-only panel, amplitudes in [0, 1] for an amplitude or binary panel, complex
    transmittances for a panel with a complex LUT. With ``quantise`` each value becomes the
    nearest gray level (:meth:`gray`, ties and wrapping as ``to_gray``) and shows that level's
    phase or transmittance from the LUT, with a straight-through gradient; without, the value
    itself is shown. Then, as :meth:`SLM.transmittance`: a pattern smaller than the panel sits
    centred on it (the rest shows gray 0), each pixel is held over oversample² samples, the
    fringing field smooths the liquid-crystal state, the dead frame weights each sample by its
    active fraction, and the panel is embedded centred on the grid.
    """

    def __init__(self, slm: SLM, wavelength: float, grid_shape):
        super().__init__()
        if not isinstance(slm, SLM):
            raise ValueError(f"slm must be an opticsim.SLM, got {type(slm).__name__}")
        self.slm = slm
        self.wavelength = checks.positive("wavelength", wavelength)
        self.grid_shape = checks.shape2("grid_shape", grid_shape)
        phases = slm.phases(self.wavelength)
        levels = slm.levels(self.wavelength)
        self.phase_only = phases is not None
        self.complex_levels = not self.phase_only and np.iscomplexobj(slm.lut)
        self.period = 2 * np.pi if self.phase_only else 0.0
        keys = np.mod(phases, 2 * np.pi) if self.phase_only else levels.real
        order = np.argsort(keys, kind="stable")
        coverage = pixel_coverage(slm.oversample, slm.fill_factor)
        frame = None if np.all(coverage == 1) else np.tile(np.outer(coverage, coverage), slm.shape)
        self._numpy = {"keys": keys[order], "grays": order, "levels": levels,
                       "states": phases if self.phase_only else levels, "frame": frame}
        self._cache = {}

    def _tensors(self, device, dtype) -> dict:
        def build():
            values = self._numpy
            state_dtype = dtype if self.phase_only else complex_dtype(dtype)
            return {"states": torch.as_tensor(values["states"]).to(device, state_dtype),
                    "frame": None if values["frame"] is None else
                    torch.as_tensor(values["frame"]).to(device, dtype),
                    "levels": torch.as_tensor(values["levels"]).to(device, complex_dtype(dtype)),
                    "keys": torch.as_tensor(values["keys"]).to(device, dtype),
                    "grays": torch.as_tensor(values["grays"], device=device)}
        return _cached(self._cache, (str(device), dtype), build)

    def _targets(self, values: torch.Tensor) -> torch.Tensor:
        """The complex transmittance each value asks for (panels described by complex levels)."""
        if values.is_complex():
            return values
        if self.slm.mode == "phase":
            return torch.exp(1j * values)
        return values.to(complex_dtype(values.dtype))

    def gray(self, values: torch.Tensor) -> torch.Tensor:
        """Gray level (int64) of the nearest level to each value, found in float64 as
        :meth:`SLM.to_gray` does, so the layer shows exactly what the SLM would."""
        values = values.detach()
        table = self._tensors(values.device, torch.float64)
        if self.complex_levels or values.is_complex():
            wide = torch.complex128 if values.is_complex() else torch.float64
            targets = self._targets(values.to(wide))
            return (targets[..., None] - table["levels"]).abs().argmin(dim=-1)
        return table["grays"][nearest_index(values.to(torch.float64), table["keys"], self.period)]

    def forward(self, values: torch.Tensor, quantise: bool = True) -> torch.Tensor:
        tensors = self._tensors(values.device, real_dtype(values.dtype))
        states = tensors["states"]
        state = values if self.phase_only else self._targets(values)
        if quantise:
            state = straight_through(state, states[self.gray(values)])
        state = self._on_panel(state, states[0])
        oversample = self.slm.oversample
        if oversample > 1:
            state = state.repeat_interleave(oversample, -2).repeat_interleave(oversample, -1)
        if self.slm.crosstalk > 0:
            state = gaussian_smooth(state, self.slm.fringing_sigma)
        field = torch.exp(1j * state) if self.phase_only else state
        if tensors["frame"] is not None:
            field = field * tensors["frame"]
        return embed_centred(field, self.grid_shape)

    def _on_panel(self, state: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """A ``(..., h, w)`` pattern centred on the panel, showing gray level 0 (``fill``)
        around it."""
        h, w = state.shape[-2:]
        rows, cols = self.slm.shape
        if h > rows or w > cols:
            raise ValueError(f"a pattern of {(h, w)} pixels does not fit the {self.slm.shape} "
                             "panel")
        if (h, w) == self.slm.shape:
            return state
        oy, ox = place_centred((h, w), self.slm.shape)
        pads = (ox, cols - w - ox, oy, rows - h - oy)
        inside = F.pad(torch.ones((h, w), dtype=real_dtype(state.dtype), device=state.device),
                       pads)
        return F.pad(state, pads) + fill * (1 - inside)


def _overlap_matrix(samples: int, sample_pitch: float, pixels: int, pixel_pitch: float,
                    active_width: float) -> np.ndarray:
    """Dense ``(pixels, samples)`` overlaps (m) of :func:`opticsim.camera.pixel_overlaps`."""
    start, weight = pixel_overlaps(samples, sample_pitch, pixels, pixel_pitch, active_width)
    matrix = np.zeros((pixels, samples))
    for pixel in range(pixels):
        matrix[pixel, start[pixel]:start[pixel] + weight.shape[1]] = weight[pixel]
    return matrix


class CameraResponse(nn.Module):
    """An :class:`opticsim.Camera` (EMVA 1288 linear model) seeing an irradiance (W/m²) on a
    centred grid of ``sample_shape`` at ``sample_pitch`` (m) and ``wavelength`` (m).

    Power on each pixel's active area ``P = W_y·E·W_xᵀ`` (exact overlaps of sample cells and
    active windows), electrons ``μ_e = P·t·λ/(hc)·η·PRNU + μ_I·t``; without noise the mean
    response ``clip(offset + K·min(μ_e + DSNU, full_well), 0, 2^bits − 1)`` in DN (unrounded,
    as ``Camera.capture(noise=False)``); with noise, Poisson (or Gaussian) shot noise and
    Gaussian read noise drawn from ``generator``, then full well, gain, offset, rounding and
    clipping as ``Camera.capture``, the rounding with a straight-through gradient.
    """

    def __init__(self, camera: Camera, sample_shape, sample_pitch, wavelength: float,
                 shot: str = "poisson"):
        super().__init__()
        if not isinstance(camera, Camera):
            raise ValueError(f"camera must be an opticsim.Camera, got {type(camera).__name__}")
        if shot not in SHOT_NOISE:
            raise ValueError(f"shot must be one of {SHOT_NOISE}, got {shot!r}")
        self.camera = camera
        self.shot = shot
        sample_shape = checks.shape2("sample_shape", sample_shape)
        sample_pitch = checks.pair("sample_pitch", sample_pitch)
        active = np.sqrt(camera.fill_factor)
        rows, cols = (_overlap_matrix(n, p, c, q, active * q) for n, p, c, q in
                      zip(sample_shape, sample_pitch, camera.shape, camera.pitch))
        response = (camera.exposure / photon_energy(checks.positive("wavelength", wavelength))
                    * camera.qe * camera.prnu_pattern)
        self._numpy = {"rows": rows, "cols": cols.T.copy(), "response": response,
                       "dsnu": camera.dsnu_pattern}
        self._cache = {}

    def _tensors(self, device, dtype) -> dict:
        return _cached(self._cache, (str(device), dtype), lambda: {
            name: torch.as_tensor(value).to(device, dtype) for name, value in self._numpy.items()})

    def electrons(self, irradiance: torch.Tensor) -> torch.Tensor:
        """Mean photo-electrons per pixel ``η·μ_p·PRNU`` ``(..., *camera.shape)``."""
        tensors = self._tensors(irradiance.device, irradiance.dtype)
        return tensors["rows"] @ irradiance @ tensors["cols"] * tensors["response"]

    def forward(self, irradiance: torch.Tensor, noise: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        camera = self.camera
        dsnu = self._tensors(irradiance.device, irradiance.dtype)["dsnu"]
        electrons = self.electrons(irradiance) + camera.dark_electrons()
        if noise:
            if generator is None:
                raise ValueError("generator must be a torch.Generator when noise is on")
            electrons = read_noise(shot_noise(electrons, generator, self.shot),
                                   camera.read_noise, generator)
        signal = (electrons + dsnu).clamp(max=camera.full_well)
        if noise:
            return adc(signal, camera.gain, camera.offset, camera.bits)
        return (camera.offset + camera.gain * signal).clamp(0, camera.max_level)


# --- modules --------------------------------------------------------------------------------


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
    """The ideal 4f of ``fourf`` (laser, lens pupils and focal lengths from its elements; its
    modulators and camera ignored) for images of ``image_shape`` ``(h, w)``:
    ``forward(images, masks)`` returns the complex output field ``(..., ny, nx)`` in √(W/m²) of
    :meth:`FourF.field` without SLMs, :meth:`intensity` the irradiance of
    :meth:`FourF.irradiance`. ``images`` ``(B, 1, h, w)`` with ``masks`` ``(C, ny, nx)`` give
    ``(B, C, ny, nx)``."""

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
        encoded = images.to(dtype) * _complex(self.illumination).to(dtype)
        return fourf_field(encoded, masks.to(dtype), _complex(self.transfer).to(dtype),
                           self.fourf.shape)

    def intensity(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Detector irradiance ``|E|²`` (W/m²)."""
        return intensity(self(images, masks))


MASKS = ("phase", "amplitude", "complex")
SHOT_NOISE = ("poisson", "gaussian")


class Optical4fConv(nn.Module):
    """A convolution layer computed by the 4f correlator ``fourf``, with learnable Fourier masks.

    ``forward(images)`` takes ``(B, in_channels, H, W)`` images (amplitude transmittances, or
    what the input SLM quantises) and returns each output channel's upright full linear
    convolution ``(B, out_channels, H + K − 1, W + K − 1)`` as :meth:`FourF.run` with a
    :meth:`FourF.layout` does (in camera pixels when there is a camera): input channels side
    by side on the input plane, their contributions adding as fields on each output region;
    output channels time-multiplexed (one frame each) or tiled on one Fourier-SLM display
    (``fourf.multiplex``); irradiance (W/m²), digital numbers, their ± difference or the
    complex field according to ``fourf.readout`` and ``fourf.camera``.

    The learnable displays have shape ``(D, [2,] *fourf.mask_shape)``, D = out_channels
    (time) or 1 (tiled), the ± axis for the differential readout. ``mask="phase"`` learns a
    phase φ (transmittance exp(iφ)), ``"amplitude"`` a logit a (transmittance sigmoid(a)),
    ``"complex"`` both; it must suit the Fourier SLM (a phase-only panel takes phases, an
    amplitude or binary one amplitudes, a complex LUT anything).

    With ``hardware`` every element of ``fourf`` acts as in the engine: both SLMs quantise
    through their LUT (straight-through gradients; :meth:`export_gray` gives the Fourier-SLM
    gray levels shown), and the camera adds shot and read noise and rounds in its ADC while
    training, or in ``eval()`` when ``eval_noise`` (noise drawn from ``seed`` or a
    ``generator`` passed to ``forward``). Without, the SLMs show their values unquantised
    (pixel geometry, fill factor and fringing kept) and the camera reports its mean response.
    ``image_shape`` fixes the image size (else each batch is laid out for its own size).
    """

    def __init__(self, fourf: FourF, in_channels: int, out_channels: int, kernel_size,
                 mask: str = "phase", hardware: bool = True, *, image_shape=None,
                 eval_noise: bool = False, shot_noise: str = "poisson", seed: int = 0):
        super().__init__()
        if not isinstance(fourf, FourF):
            raise ValueError(f"fourf must be an opticsim.FourF, got {type(fourf).__name__}")
        self.fourf = fourf
        self.in_channels = checks.integer("in_channels", in_channels, 1)
        self.out_channels = checks.integer("out_channels", out_channels, 1)
        self.kernel_shape = checks.shape2("kernel_size", kernel_size)
        if self.kernel_shape[0] > fourf.shape[0] or self.kernel_shape[1] > fourf.shape[1]:
            raise ValueError(f"kernel_size {self.kernel_shape} does not fit the {fourf.shape} "
                             "grid of fourf")
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
        if shot_noise not in SHOT_NOISE:
            raise ValueError(f"shot_noise must be one of {SHOT_NOISE}, got {shot_noise!r}")
        self.mask = mask
        self.hardware = bool(hardware)
        self.eval_noise = bool(eval_noise)
        self.seed = checks.integer("seed", seed, 0)
        wavelength = fourf.wavelength
        self.input_panel = (None if fourf.input_slm is None
                            else SLMPanel(fourf.input_slm, wavelength, fourf.shape))
        self.fourier_panel = (None if fourf.fourier_slm is None
                              else SLMPanel(fourf.fourier_slm, wavelength, fourf.shape))
        self._check_mask_kind()
        self.camera = None
        if fourf.camera is not None and fourf.readout != "field":
            self.camera = CameraResponse(fourf.camera, fourf.shape, fourf.output_pitch,
                                         wavelength, shot_noise)
        displays = 1 if fourf.multiplex == "tiled" else self.out_channels
        shape = ((displays,) + ((2,) if fourf.readout == "differential" else ())
                 + tuple(fourf.mask_shape))
        if mask in ("phase", "complex"):
            self.phase = nn.Parameter(torch.zeros(shape))
        if mask in ("amplitude", "complex"):
            self.amplitude_logit = nn.Parameter(torch.zeros(shape))
        self._layouts, self._plans, self._constants, self._generators = {}, {}, {}, {}
        self.image_shape = None
        if image_shape is not None:
            self.image_shape = self._image_shape("image_shape", image_shape)
            self.layout(self.image_shape)

    def _check_mask_kind(self):
        panel = self.fourier_panel
        if panel is None or panel.complex_levels:
            return
        wanted = "phase" if panel.phase_only else "amplitude"
        if self.mask != wanted:
            raise ValueError(f"mask must be {wanted!r} for fourf's {panel.slm.mode} Fourier SLM "
                             f"(a real LUT displays {wanted}s only), got {self.mask!r}")

    def _image_shape(self, name: str, shape) -> tuple[int, int]:
        shape = checks.shape2(name, shape)
        if shape[0] < self.kernel_shape[0] or shape[1] < self.kernel_shape[1]:
            raise ValueError(f"{name} {shape} is smaller than kernel_size {self.kernel_shape}")
        return shape

    # --- layout -----------------------------------------------------------------------------

    def layout(self, image_shape) -> readout.Layout:
        """:meth:`FourF.layout` for images of ``image_shape``; ``ValueError`` naming ``fourf``
        when its grid, input SLM or Fourier SLM cannot hold the channels."""
        image_shape = self._image_shape("image_shape", image_shape)
        if image_shape in self._layouts:
            return self._layouts[image_shape]
        fourf = self.fourf
        channels = (f"{self.in_channels} input and {self.out_channels} output channels of "
                    f"{image_shape} images and {self.kernel_shape} kernels")
        with warnings.catch_warnings():
            warnings.simplefilter("error", SamplingWarning)
            try:
                layout = fourf.layout(self.in_channels, self.out_channels, image_shape,
                                      self.kernel_shape)
            except SamplingWarning as warning:
                raise ValueError(
                    f"fourf's Fourier SLM cannot hold {channels}: its pixels replicate the "
                    f"output every {fourf.replica_period} samples ({warning})") from None
            except ValueError as error:
                raise ValueError(f"fourf cannot hold {channels}: {error}") from None
        shifts = [abs(so[axis] - si[axis]) for so in layout.output_shifts
                  for si in layout.input_shifts for axis in (0, 1)]
        if fourf.fourier_slm is not None and max(shifts) >= min(fourf.replica_period) / 2:
            raise ValueError(
                f"fourf's Fourier SLM cannot hold {channels}: the layout shifts kernels by up "
                f"to {max(shifts)} samples, but on its pixels a shift d and d ± "
                f"{fourf.replica_period} samples show the same carrier, so shifts must stay "
                "below half that period; use one input channel, fewer tiles or a Fourier SLM "
                "of oversample 1")
        if fourf.input_slm is not None and any(
                g > p for g, p in zip(fourf.shape, fourf.input_slm.shape)):
            raise ValueError(f"fourf's input SLM of {fourf.input_slm.shape} pixels cannot hold "
                             f"the {fourf.shape} input pattern of the channel layout")
        self._layouts[image_shape] = layout
        return layout

    def _plan(self, image_shape, device) -> dict:
        """Index maps that place the input channels and cut the output regions (through the
        engine's own ``Layout.place``, ``invert`` and ``Layout.extract``)."""
        def build():
            layout = self.layout(image_shape)
            fourf = self.fourf
            count = self.in_channels * image_shape[0] * image_shape[1]
            numbers = np.arange(1, count + 1).reshape((1, self.in_channels) + image_shape)
            place = layout.place(numbers, fourf.shape)[0]
            frame_shape = fourf.shape if self.camera is None else fourf.camera.shape
            scale = 1.0 if self.camera is None else fourf.output_pitch[1] / fourf.camera.pitch[1]
            index = invert(np.arange(frame_shape[0] * frame_shape[1]).reshape(frame_shape))
            regions = layout.extract(index if layout.tiled else index[None], fourf.shape, scale)
            return {"place": torch.as_tensor(place.ravel(), device=device),
                    "regions": torch.as_tensor(np.ascontiguousarray(regions).ravel(),
                                               device=device),
                    "region_shape": regions.shape[-2:]}
        return _cached(self._plans, (tuple(image_shape), str(device)), build)

    # --- constants ----------------------------------------------------------------------------

    def _tensors(self, device, dtype) -> dict:
        """Transfer factor and illumination as tensors; a uniform real illumination (flat beam,
        no lens-1 aperture) is folded into the transfer factor."""
        def build():
            transfer = fourf_transfer(self.fourf, self.fourf.shape)
            illumination = input_illumination(self.fourf)
            uniform = not np.any(illumination.imag) and np.ptp(illumination.real) == 0
            if uniform:
                transfer = transfer * illumination.real.flat[0]
            cdtype = complex_dtype(dtype)
            return {"transfer": torch.as_tensor(transfer).to(device, cdtype),
                    "illumination": None if uniform else
                    torch.as_tensor(illumination).to(device, cdtype)}
        return _cached(self._constants, (str(device), dtype), build)

    def _parameter(self) -> torch.Tensor:
        return self.phase if self.mask != "amplitude" else self.amplitude_logit

    # --- masks --------------------------------------------------------------------------------

    def transmittance(self) -> torch.Tensor:
        """The ideal (unquantised) complex transmittance of each display ``(D, [2,] h, w)``."""
        if self.mask == "phase":
            return torch.exp(1j * self.phase)
        amplitude = torch.sigmoid(self.amplitude_logit)
        if self.mask == "amplitude":
            return amplitude.to(complex_dtype(amplitude.dtype))
        return amplitude * torch.exp(1j * self.phase)

    def display_values(self) -> torch.Tensor:
        """What the Fourier SLM is asked to show ``(D, [2,] h, w)``: phases (rad) for a
        phase-only panel, amplitudes for an amplitude panel, else complex transmittances."""
        panel = self.fourier_panel
        if panel is None or panel.complex_levels:
            return self.transmittance()
        return self.phase if panel.phase_only else torch.sigmoid(self.amplitude_logit)

    def export_gray(self) -> np.ndarray:
        """Fourier-SLM gray levels ``(D, [2,] h, w)`` (uint8 up to 8 bits, else uint16) of the
        displays: what the hardware layer shows, and what ``FourF.run(gray=...)`` and a mask
        export take."""
        if self.fourier_panel is None:
            raise ValueError("export_gray needs fourf to have a fourier_slm")
        slm = self.fourier_panel.slm
        gray = self.fourier_panel.gray(self.display_values().detach())
        return gray.cpu().numpy().astype(np.uint8 if slm.bits <= 8 else np.uint16)

    def displays(self) -> torch.Tensor:
        """Fourier-plane transmittances on the grid ``(D·[2], ny, nx)``, one per frame."""
        values = self.display_values()
        values = values.reshape((-1,) + values.shape[-2:])
        if self.fourier_panel is None:
            return values
        return self.fourier_panel(values, quantise=self.hardware)

    @torch.no_grad()
    def set_kernels(self, kernels, image_shape=None) -> float:
        """Set the displays to show ``kernels`` ``(out_channels, in_channels, Ky, Kx)`` (e.g. a
        trained digital layer's) on the layout for ``image_shape`` (default the layer's):
        :func:`masks_from_kernels` divided by its largest modulus ``s`` (a passive SLM
        transmits at most 1), keeping the phase, the amplitude or both as the mask kind allows.
        Returns ``s``: the output field is the convolution divided by ``s``."""
        image_shape = self.image_shape if image_shape is None else image_shape
        if image_shape is None:
            raise ValueError("image_shape must be given: the layer has no fixed image_shape")
        kernels = torch.as_tensor(kernels).detach().cpu()
        kernels = kernels.to(torch.complex128 if kernels.is_complex() else torch.float64)
        masks = masks_from_kernels(self.fourf, kernels, self.layout(image_shape))
        scale = float(masks.abs().max())
        if scale == 0:
            raise ValueError("kernels must not be all zero")
        masks = masks / scale
        parameter = self._parameter()
        if self.mask != "amplitude":
            self.phase.copy_(masks.angle().to(parameter))
        if self.mask != "phase":
            amplitude = masks.abs().clamp(1e-6, 1 - 1e-6)
            self.amplitude_logit.copy_(torch.logit(amplitude).to(parameter))
        return scale

    # --- forward ------------------------------------------------------------------------------

    @property
    def noise(self) -> bool:
        """Whether the camera adds noise now: hardware on, a camera, and training (or
        ``eval_noise``)."""
        return self.hardware and self.camera is not None and (self.training or self.eval_noise)

    def _generator(self, device) -> torch.Generator:
        return _cached(self._generators, str(device), lambda: generator(self.seed, device))

    def _check_images(self, images) -> torch.Tensor:
        if not torch.is_tensor(images) or images.ndim != 4:
            raise ValueError(f"images must be a (B, in_channels, H, W) tensor, got "
                             f"{tuple(getattr(images, 'shape', ()))}")
        if images.is_complex() or not images.is_floating_point():
            raise ValueError(f"images must be real floating point, got {images.dtype}")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"images have {images.shape[1]} channels but in_channels is "
                             f"{self.in_channels}")
        shape = tuple(images.shape[-2:])
        if shape[0] < self.kernel_shape[0] or shape[1] < self.kernel_shape[1]:
            raise ValueError(f"images of {shape} samples are smaller than kernel_size "
                             f"{self.kernel_shape}")
        if self.image_shape is not None and shape != self.image_shape:
            raise ValueError(f"images must be {self.image_shape} (image_shape), got {shape}")
        return images.to(self._parameter().dtype)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        images = self._check_images(images)
        batch, device, real = images.shape[0], images.device, images.dtype
        fourf = self.fourf
        plan = self._plan(tuple(images.shape[-2:]), device)
        tensors = self._tensors(device, real)
        flat = torch.cat([images.new_zeros(batch, 1), images.reshape(batch, -1)], dim=1)
        pattern = flat[:, plan["place"]].reshape((batch,) + fourf.shape)       # channel layout
        if self.input_panel is None:
            source = pattern.to(complex_dtype(real))
        else:
            source = self.input_panel(pattern, quantise=self.hardware)          # input SLM
        if tensors["illumination"] is not None:
            source = source * tensors["illumination"]                           # laser, pupil 1
        output = fourf_field(source[:, None], self.displays(), tensors["transfer"],
                             fourf.shape)                                       # lens, SLM, lens
        if fourf.readout == "field":
            frames = output
        else:
            frames = intensity(output)
            if self.camera is not None:                                         # camera
                noise = self.noise
                stream = (generator or self._generator(device)) if noise else None
                frames = self.camera(frames, noise, stream)
        if fourf.readout == "differential":
            frames = frames[:, 0::2] - frames[:, 1::2]
        regions = frames.reshape(frames.shape[:2] + (-1,))[..., plan["regions"]]
        return regions.reshape((batch, self.out_channels) + tuple(plan["region_shape"]))
