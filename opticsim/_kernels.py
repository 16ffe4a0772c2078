"""Fused element-wise kernels of the hot path (numba), one pass over the data each.

Arrays are plain 3-D ``(batch, ny, nx)`` stacks; callers reshape. Each kernel has a NumPy
reference of the same name with ``_reference`` appended, used by its test. The centre of an
axis of length ``n`` is ``n // 2`` (the optical axis of a centred grid).
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = dict(parallel=True, cache=True)


@numba.njit(**_JIT)
def shift_scale(spectrum, row_factor, col_factor, out):
    """out[b, k, l] = row_factor[k]·col_factor[l]·spectrum[b, (k − cy) mod ny, (l − cx) mod nx].

    Turns an FFT in array order into a centred lens transform in one pass (fftshift plus the
    phase ramp of the centre offset and the physical scale, folded into the factors).
    """
    batch, ny, nx = out.shape
    cy, cx = ny // 2, nx // 2
    for row in numba.prange(batch * ny):
        b, k = row // ny, row % ny
        source_row = (k - cy) % ny
        factor = row_factor[k]
        for l in range(nx):
            out[b, k, l] = factor * col_factor[l] * spectrum[b, source_row, (l - cx) % nx]


def shift_scale_reference(spectrum, row_factor, col_factor):
    shifted = np.fft.fftshift(spectrum, axes=(-2, -1))
    return row_factor[:, None] * col_factor[None, :] * shifted


@numba.njit(**_JIT)
def intensity_shift(spectrum, scale, out):
    """out[b, k, l] = scale·|spectrum[b, (k − cy) mod ny, (l − cx) mod nx]|² (fftshift + |E|²)."""
    batch, ny, nx = out.shape
    cy, cx = ny // 2, nx // 2
    for row in numba.prange(batch * ny):
        b, k = row // ny, row % ny
        source_row = (k - cy) % ny
        for l in range(nx):
            value = spectrum[b, source_row, (l - cx) % nx]
            out[b, k, l] = scale * (value.real * value.real + value.imag * value.imag)


def intensity_shift_reference(spectrum, scale):
    return scale * np.abs(np.fft.fftshift(spectrum, axes=(-2, -1))) ** 2


@numba.njit(**_JIT)
def encode_amplitude(images, illumination, row_offset, col_offset, out):
    """out = illumination·image placed at (row_offset, col_offset), zero elsewhere.

    ``images`` (b, h, w) real amplitude transmittance, ``illumination`` (ny, nx) complex.
    Returns False if any image sample is NaN or infinite (checked in the same pass).
    """
    batch, ny, nx = out.shape
    h, w = images.shape[1], images.shape[2]
    finite = True
    for row in numba.prange(batch * ny):
        b, k = row // ny, row % ny
        i = k - row_offset
        if i < 0 or i >= h:
            for l in range(nx):
                out[b, k, l] = 0
            continue
        for l in range(nx):
            j = l - col_offset
            if j < 0 or j >= w:
                out[b, k, l] = 0
            else:
                value = images[b, i, j]
                if not np.isfinite(value):
                    finite = False
                out[b, k, l] = value * illumination[k, l]
    return finite


def encode_amplitude_reference(images, illumination, row_offset, col_offset):
    batch, h, w = images.shape
    placed = np.zeros((batch,) + illumination.shape, dtype=illumination.dtype)
    placed[:, row_offset:row_offset + h, col_offset:col_offset + w] = images
    return placed * illumination


@numba.njit(**_JIT)
def mask_to_fft_order(mask, row_factor, col_factor, out):
    """out[c, j, i] = row_factor[j]·col_factor[i]·mask[c, (j + cy) mod ny, (i + cx) mod nx].

    Moves a centred Fourier-plane mask into FFT order (ifftshift) with the first lens's
    scale and centre phase ramp folded in. Returns False if the mask holds NaN or inf.
    """
    channels, ny, nx = out.shape
    cy, cx = ny // 2, nx // 2
    finite = True
    for row in numba.prange(channels * ny):
        c, j = row // ny, row % ny
        source_row = (j + cy) % ny
        factor = row_factor[j]
        for i in range(nx):
            value = mask[c, source_row, (i + cx) % nx]
            if not (np.isfinite(value.real) and np.isfinite(value.imag)):
                finite = False
            out[c, j, i] = factor * col_factor[i] * value
    return finite


def mask_to_fft_order_reference(mask, row_factor, col_factor):
    shifted = np.fft.ifftshift(mask, axes=(-2, -1))
    return row_factor[:, None] * col_factor[None, :] * shifted


@numba.njit(**_JIT)
def spectrum_times_masks(spectrum, masks, out):
    """out[b, c] = spectrum[b]·masks[c]: every input frame through every channel's mask."""
    batch, ny, nx = spectrum.shape
    channels = masks.shape[0]
    for row in numba.prange(batch * channels * ny):
        b = row // (channels * ny)
        c = (row // ny) % channels
        k = row % ny
        for l in range(nx):
            out[b, c, k, l] = spectrum[b, k, l] * masks[c, k, l]


def spectrum_times_masks_reference(spectrum, masks):
    return spectrum[:, None] * masks[None, :]
