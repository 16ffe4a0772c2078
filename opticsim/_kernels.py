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
    invalid = 0
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
                    invalid += 1
                out[b, k, l] = value * illumination[k, l]
    return invalid == 0


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
    invalid = 0
    for row in numba.prange(channels * ny):
        c, j = row // ny, row % ny
        source_row = (j + cy) % ny
        factor = row_factor[j]
        for i in range(nx):
            value = mask[c, source_row, (i + cx) % nx]
            if not (np.isfinite(value.real) and np.isfinite(value.imag)):
                invalid += 1
            out[c, j, i] = factor * col_factor[i] * value
    return invalid == 0


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


@numba.njit(**_JIT)
def quantize_nearest(values, keys, grays, period, low, high, out):
    """out[n] = grays[k] of the key nearest to values[n]: on a circle of ``period`` (values
    and keys wrapped into [0, period)) or, when ``period`` is 0, on the line.

    ``keys`` sorted ascending, ``grays`` the gray level of each key; 1-D arrays. Returns
    False if a value is NaN, infinite or outside [low, high] (checked in the same pass).
    """
    count = keys.size
    invalid = 0
    for n in numba.prange(values.size):
        value = values[n]
        if not (np.isfinite(value) and low <= value <= high):
            invalid += 1
            out[n] = grays[0]
            continue
        if period > 0:
            value -= period * np.floor(value / period)
        upper = np.searchsorted(keys, value)
        if period > 0:
            lower, upper = (upper - 1) % count, upper % count
            below = abs(value - keys[lower])
            above = abs(keys[upper] - value)
            below = min(below, period - below)
            above = min(above, period - above)
        else:
            lower, upper = max(upper - 1, 0), min(upper, count - 1)
            below, above = abs(value - keys[lower]), abs(keys[upper] - value)
        out[n] = grays[lower] if below <= above else grays[upper]
    return invalid == 0


def quantize_nearest_reference(values, keys, grays, period):
    distance = np.abs(values[:, None] - keys[None, :])
    if period > 0:
        distance = np.mod(distance, period)
        distance = np.minimum(distance, period - distance)
    return grays[np.argmin(distance, axis=1)]


@numba.njit(**_JIT)
def pixelate(gray, row_offset, col_offset, levels, coverage, out):
    """out[b, I·s + u, J·s + v] = levels[g]·coverage[u]·coverage[v], s = coverage.size.

    ``g`` is ``gray[b, I − row_offset, J − col_offset]`` where that lies inside the pattern and
    0 elsewhere on the panel; ``out`` is ``(b, H·s, W·s)``. Returns False if a gray level is
    outside [0, levels.size) (written as 0).
    """
    batch, rows, cols = out.shape
    s = coverage.size
    h, w = gray.shape[1], gray.shape[2]
    invalid = 0
    for row in numba.prange(batch * rows):
        b, r = row // rows, row % rows
        i, weight = r // s - row_offset, coverage[r % s]
        for column in range(cols // s):
            j = column - col_offset
            g = gray[b, i, j] if 0 <= i < h and 0 <= j < w else 0
            if g < 0 or g >= levels.size:
                invalid += 1
                value = levels[0] * 0
            else:
                value = levels[g] * weight
            for v in range(s):
                out[b, r, column * s + v] = value * coverage[v]
    return invalid == 0


def pixelate_reference(gray, row_offset, col_offset, levels, coverage, panel_shape):
    panel = np.zeros(gray.shape[:1] + tuple(panel_shape), dtype=np.int64)
    panel[:, row_offset:row_offset + gray.shape[1], col_offset:col_offset + gray.shape[2]] = gray
    s = coverage.size
    samples = levels[panel].repeat(s, axis=1).repeat(s, axis=2)
    return samples * np.tile(np.outer(coverage, coverage), panel_shape)


@numba.njit(**_JIT)
def integrate_pixels(irradiance, row_start, row_weight, col_start, col_weight, out):
    """out[b, J, K] = Σ_u Σ_v row_weight[J, u]·col_weight[K, v]·irradiance[b, i, k] with
    i = row_start[J] + u, k = col_start[K] + v: the power (W) on each camera pixel's active
    area from an irradiance (W/m²), with the banded overlap lengths (m) of
    ``camera.pixel_overlaps`` on each axis.
    """
    batch, rows, cols = out.shape
    width_y, width_x = row_weight.shape[1], col_weight.shape[1]
    for row in numba.prange(batch * rows):
        b, j = row // rows, row % rows
        for column in range(cols):
            out[b, j, column] = 0.0
        for u in range(width_y):
            weight = row_weight[j, u]
            if weight == 0.0:
                continue
            i = row_start[j] + u
            for column in range(cols):
                k = col_start[column]
                line = 0.0
                for v in range(width_x):
                    line += col_weight[column, v] * irradiance[b, i, k + v]
                out[b, j, column] += weight * line


def integrate_pixels_reference(irradiance, row_start, row_weight, col_start, col_weight):
    def dense(start, weight, samples):
        matrix = np.zeros((start.size, samples))
        for j in range(start.size):
            matrix[j, start[j]:start[j] + weight.shape[1]] = weight[j]
        return matrix

    rows = dense(row_start, row_weight, irradiance.shape[-2])
    cols = dense(col_start, col_weight, irradiance.shape[-1])
    return rows @ irradiance.astype(np.float64) @ cols.T


@numba.njit(**_JIT)
def shot_read_adc(electrons, dark_offset, seeds, read_noise, full_well, gain, offset,
                  max_level, out):
    """out[b, k, l] = clip(rint(K·min(Poisson(μ) + σ·z + d[k, l], full_well) + offset),
    0, max_level), μ = electrons[b, k, l] (mean e⁻), z ~ N(0, 1), d the DSNU offset (e⁻).

    Row ``r = b·ny + k`` draws from numba's Mersenne Twister seeded with ``seeds[r]`` (uint32):
    first the row's Poisson counts, then (when ``read_noise`` > 0) its normals, so the frames
    depend on the seeds only, never on the thread count.
    """
    batch, ny, nx = electrons.shape
    for row in numba.prange(batch * ny):
        b, k = row // ny, row % ny
        np.random.seed(seeds[row])
        signal = np.empty(nx)
        for l in range(nx):
            signal[l] = np.random.poisson(electrons[b, k, l])
        if read_noise > 0:
            for l in range(nx):
                signal[l] += read_noise * np.random.standard_normal()
        for l in range(nx):
            level = np.rint(gain * min(signal[l] + dark_offset[k, l], full_well) + offset)
            out[b, k, l] = min(max(level, 0.0), max_level)


def shot_read_adc_reference(electrons, dark_offset, seeds, read_noise, full_well, gain, offset,
                            max_level, dtype):
    batch, ny, nx = electrons.shape
    signal = np.empty(electrons.shape)
    for row, seed in enumerate(seeds):
        stream = np.random.RandomState(seed)
        signal[row // ny, row % ny] = stream.poisson(electrons[row // ny, row % ny])
        if read_noise > 0:
            signal[row // ny, row % ny] += read_noise * stream.standard_normal(nx)
    level = np.rint(gain * np.minimum(signal + dark_offset, full_well) + offset)
    return np.clip(level, 0, max_level).astype(dtype)
