"""Fused element-wise kernels of the hot path (numba), one pass over the data each.

Arrays are plain 3-D ``(batch, ny, nx)`` stacks; callers reshape. Each kernel has a NumPy
reference of the same name with ``_reference`` appended, used by its test. The centre of an
axis of length ``n`` is ``n // 2`` (the optical axis of a centred grid).
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba.np.random import _constants as _random_tables

from . import fft


def _can_cache() -> bool:
    """Whether numba can keep this file's compiled kernels on disk (a writable ``__pycache__``
    beside it, or a user cache folder: ``NUMBA_CACHE_DIR``, ``~/.cache``). Without one (no
    writable home or source tree) every process compiles them anew, with a warning, rather
    than failing at import."""
    def probe():
        pass

    try:
        numba.njit(cache=True)(probe)           # numba finds its cache folder here, lazily
    except RuntimeError as error:
        warnings.warn(f"opticsim's numba kernels are compiled in every process: numba has no "
                      f"writable cache folder ({error}); set NUMBA_CACHE_DIR to one",
                      RuntimeWarning, stacklevel=2)
        return False
    return True


# The passes between FFTs run on the calling thread: pyFFTW's OpenMP runtime is a separate
# copy from numba's, and the two thread pools busy-wait against each other on a 2-core
# machine (a parallel pass next to an FFT cost ~4-8 ms at 1024² instead of ~0.3 ms).
_SERIAL = dict(cache=_can_cache(), nogil=True)


@numba.njit(**_SERIAL)
def _scaled_copy(factor, col_factor, source, target):
    """target[i] = col_factor[i]·(factor·source[i]), ``factor`` a scalar."""
    for i in range(target.size):
        target[i] = col_factor[i] * (factor * source[i])


@numba.njit(**_SERIAL)
def _any_non_finite(values):
    """True if a complex sample of the 1-D ``values`` is NaN or infinite."""
    bad = False
    for i in range(values.size):
        value = values[i]
        bad |= np.isnan(value.real * 0 + value.imag * 0)   # NaN exactly when not finite
    return bad


@numba.njit(**_SERIAL)
def _multiply(target, factor):
    """target[i] ·= factor[i]."""
    for i in range(target.size):
        target[i] *= factor[i]


@numba.njit(**_SERIAL)
def shift_scale(data, row_factor, col_factor, out, start, stop):
    """out[b, k, l] = row_factor[k]·col_factor[l]·data[b, (k + cy) mod ny, (l + cx) mod nx]
    for the rows ``start <= k < stop`` of ``out``.

    An ifftshift with a phase ramp and a scale folded in: one FFT of ``out`` in place is then
    a centred lens transform, with no pass after it. ``out`` must not overlap ``data``.
    """
    batch, ny, nx = out.shape
    cy, cx = ny // 2, nx // 2
    split = nx - cx
    for b in range(batch):
        for k in range(start, stop):
            source = data[b, (k + cy) % ny]
            _scaled_copy(row_factor[k], col_factor[:split], source[cx:], out[b, k, :split])
            _scaled_copy(row_factor[k], col_factor[split:], source[:cx], out[b, k, split:])


def shift_scale_reference(data, row_factor, col_factor):
    shifted = np.fft.ifftshift(data, axes=(-2, -1))
    return row_factor[:, None] * col_factor[None, :] * shifted


@numba.njit(**_SERIAL)
def multiply_checked(data, factor, first, out):
    """out[r, i] = data[r, i]·factor[(first + r) mod F, i] for ``(R, n)`` rows of data and
    ``(F, n)`` rows of factors (a block of a stack starting at row ``first``). Returns False if
    a factor is NaN or infinite, checked in the same pass."""
    bad = False
    for r in range(out.shape[0]):
        source, scale, target = data[r], factor[(first + r) % factor.shape[0]], out[r]
        for i in range(target.size):
            value = scale[i]
            bad |= np.isnan(value * 0)              # NaN exactly when value is not finite
            target[i] = source[i] * value
    return not bad


def multiply_checked_reference(data, factor, first):
    rows = (first + np.arange(data.shape[0])) % factor.shape[0]
    return data * factor[rows]


@numba.njit(**_SERIAL)
def _power(factor, source, target):
    """target[i] = |factor·source[i]|², scaled before squaring so float32 does not overflow."""
    for i in range(target.size):
        value = source[i]
        real, imag = factor * value.real, factor * value.imag
        target[i] = real * real + imag * imag


@numba.njit(**_SERIAL)
def intensity_shift(spectrum, factor, row_shift, col_shift, out):
    """out[b, k, l] = |factor·spectrum[b, (k − row_shift) mod ny, (l − col_shift) mod nx]|².

    A roll (an fftshift for shifts ``ny // 2, nx // 2``) and the irradiance ``|E|²`` in one
    pass; ``factor`` is real.
    """
    batch, ny, nx = out.shape
    dy, dx = row_shift % ny, col_shift % nx
    split = nx - dx
    for b in range(batch):
        for k in range(ny):
            source = spectrum[b, (k - dy) % ny]
            _power(factor, source[split:], out[b, k, :dx])
            _power(factor, source[:split], out[b, k, dx:])


def intensity_shift_reference(spectrum, factor, row_shift, col_shift):
    return np.abs(factor * np.roll(spectrum, (row_shift, col_shift), axis=(-2, -1))) ** 2


@numba.njit(**_SERIAL)
def encode_amplitude(images, illumination, row_offset, col_offset, out):
    """out = illumination·image placed at (row_offset, col_offset), zero elsewhere.

    ``images`` (b, h, w) real amplitude transmittance, ``illumination`` (ny, nx) real or
    complex. Returns the largest |image| sample (NaN if any is NaN or infinite) and the image
    rows ``first, stop`` outside which every image is zero (``h, 0`` when all are), found in
    the same pass.
    """
    batch, ny = out.shape[:2]
    h, w = images.shape[1], images.shape[2]
    bad = False
    peak = 0.0
    first, stop = h, 0
    for b in range(batch):
        for k in range(ny):
            target = out[b, k]
            i = k - row_offset
            if i < 0 or i >= h:
                target[:] = 0
                continue
            target[:col_offset] = 0
            target[col_offset + w:] = 0
            image = images[b, i]
            light = illumination[k, col_offset:col_offset + w]
            placed = target[col_offset:col_offset + w]
            row_peak = 0.0
            for j in range(w):
                value = image[j]
                bad |= np.isnan(value * 0)          # NaN exactly when value is not finite
                row_peak = max(row_peak, abs(value))
                placed[j] = value * light[j]
            if row_peak > 0:
                first, stop = min(first, i), max(stop, i + 1)
            peak = max(peak, row_peak)
    return (np.nan if bad else peak), first, stop


def encode_amplitude_reference(images, illumination, row_offset, col_offset):
    batch, h, w = images.shape
    placed = np.zeros((batch,) + illumination.shape, dtype=illumination.dtype)
    placed[:, row_offset:row_offset + h, col_offset:col_offset + w] = images
    return placed * illumination


@numba.njit(**_SERIAL)
def mask_to_fft_order(mask, out):
    """out[c, j, i] = mask[c, (j + cy) mod ny, (i + cx) mod nx]: a centred Fourier-plane mask
    moved into FFT order (ifftshift). Returns False if the mask holds NaN or inf."""
    channels, ny, nx = out.shape
    cy, cx = ny // 2, nx // 2
    split = nx - cx
    bad = False
    for c in range(channels):
        for j in range(ny):
            source = mask[c, (j + cy) % ny]
            bad |= _any_non_finite(source)
            out[c, j, :split] = source[cx:]
            out[c, j, split:] = source[:cx]
    return not bad


def mask_to_fft_order_reference(mask):
    return np.fft.ifftshift(mask, axes=(-2, -1))


@numba.njit(**_SERIAL)
def spectrum_times_masks(spectrum, masks, out):
    """out[b, c] = spectrum[b]·masks[c]: every input frame through every channel's mask.
    ``out`` may hold ``spectrum`` itself when there is one channel."""
    batch, ny, nx = spectrum.shape
    channels = masks.shape[0]
    for b in range(batch):
        for c in range(channels):
            for k in range(ny):
                target, mask, source = out[b, c, k], masks[c, k], spectrum[b, k]
                for col in range(nx):
                    target[col] = source[col] * mask[col]


def spectrum_times_masks_reference(spectrum, masks):
    return spectrum[:, None] * masks[None, :]


@numba.njit(**_SERIAL)
def filter_spectrum(spectrum, mask):
    """spectrum[b, j, i] ·= mask[(j + cy) mod ny, (i + cx) mod nx]: one centred Fourier-plane
    mask applied in place to spectra in FFT order (ifftshift and product in one pass, no
    intermediate array).

    The mask is not checked here: a NaN or infinite sample makes every sample of the FFT that
    follows non-finite, so the caller checks one output sample instead.
    """
    batch, ny, nx = spectrum.shape
    cy, cx = ny // 2, nx // 2
    split = nx - cx
    for b in range(batch):
        for j in range(ny):
            source = mask[(j + cy) % ny]
            _multiply(spectrum[b, j, :split], source[cx:])
            _multiply(spectrum[b, j, split:], source[:cx])


def filter_spectrum_reference(spectrum, mask):
    return spectrum * np.fft.ifftshift(mask, axes=(-2, -1))


@numba.njit(**_SERIAL)
def _product(target, first, second):
    """target[i] = first[i]·second[i]."""
    for i in range(target.size):
        target[i] = first[i] * second[i]


@numba.njit(**_SERIAL)
def _mirrored_product(target, first, second):
    """target[i] = conj(first[n − 1 − i])·second[i], n = target.size."""
    last = target.size - 1
    for i in range(target.size):
        value = first[last - i]
        target[i] = complex(value.real, -value.imag) * second[i]


@numba.njit(**_SERIAL)
def filter_half_spectrum(half, mask, out):
    """out[b, k, l] = X[b, k, l]·mask[(k + cy) mod ny, (l + cx) mod nx]: :func:`filter_spectrum`
    of the full spectrum X of real planes, given its half ``half`` ``(b, ny, nx//2 + 1)``
    (:func:`opticsim.fft.real_fft2`) and rebuilt on the fly from the Hermitian symmetry
    ``X[k, l] = conj(X[−k, −l])`` for the columns l > nx//2. ``out`` must not overlap ``half``.
    """
    batch, ny, nx = out.shape
    cy, cx = ny // 2, nx // 2
    width = nx // 2 + 1                 # columns the half spectrum holds
    wrap = nx - cx                      # from this column on the mask column wraps; <= width
    for b in range(batch):
        for k in range(ny):
            source, mirror = half[b, k], half[b, (ny - k) % ny]
            factor, row = mask[(k + cy) % ny], out[b, k]
            _product(row[:wrap], source[:wrap], factor[cx:])
            _product(row[wrap:width], source[wrap:width], factor[:width - wrap])
            _mirrored_product(row[width:], mirror[1:nx - width + 1], factor[width - wrap:cx])


def filter_half_spectrum_reference(half, mask):
    nx = mask.shape[-1]
    ny = half.shape[-2]
    full = np.empty(half.shape[:-1] + (nx,), half.dtype)
    full[..., :half.shape[-1]] = half
    for col in range(half.shape[-1], nx):
        full[..., col] = np.conj(half[..., (-np.arange(ny)) % ny, nx - col])
    return full * np.fft.ifftshift(mask, axes=(-2, -1))


# --- hardware: SLM gray levels and pixels, camera pixels, noise and ADC ---------------------

# IEEE division (no ZeroDivisionError branch), so that the element-wise loops vectorise.
_HARDWARE = dict(_SERIAL, error_model="numpy")
# Samples per task of run_tasks: enough to outweigh handing the task to a thread (~50 µs).
TASK_SAMPLES = 1 << 17


@functools.lru_cache(maxsize=None)
def _workers(count: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(count, thread_name_prefix="opticsim")


class _Running(threading.local):
    """Whether this thread is running a task of :func:`run_tasks` now."""

    active = False


_RUNNING = _Running()


def run_tasks(tasks) -> list:
    """Results of the zero-argument callables ``tasks`` (numba kernels on disjoint blocks that
    release the GIL), run on every CPU this process may use: the calling thread and idle
    workers take them in turn. Between tasks the workers sleep on a lock instead of spinning
    as numba's parallel loops do, so they take no core from the FFTs that follow. Called from
    inside a task, it runs the tasks in turn on that thread (the others are busy already)."""
    tasks = list(tasks)
    threads = min(fft.threads(), len(tasks))
    if threads <= 1 or _RUNNING.active:
        return [task() for task in tasks]
    results = [None] * len(tasks)
    order = iter(range(len(tasks)))             # shared: every index is taken once

    def work():
        _RUNNING.active = True
        try:
            for index in order:
                results[index] = tasks[index]()
        finally:
            _RUNNING.active = False

    helpers = [_workers(threads - 1).submit(work) for _ in range(threads - 1)]
    work()
    for helper in helpers:
        helper.result()
    return results


def row_blocks(batch: int, rows: int, width: int, multiple: int = 1):
    """(frame, first row, stop row) blocks of about :data:`TASK_SAMPLES` samples covering a
    ``(batch, rows, width)`` stack, none across frames, each a ``multiple`` of rows long
    (except the last of a frame)."""
    step = max(multiple, TASK_SAMPLES // max(width, 1) // multiple * multiple)
    return [(b, r, min(r + step, rows)) for b in range(batch) for r in range(0, rows, step)]


@numba.njit(**_HARDWARE)
def search_tables(keys, period):
    """Tables to find the key nearest to a value among the sorted ``keys``, on a circle of
    ``period`` when it is > 0 (values wrapped into [0, period)), else on the line.

    The domain, [0, period) or [keys[0], keys[-1]] from ``start``, is cut into equal buckets
    twice (Knuth's indexed search): ``guide[g]`` keys lie below bucket g of 2·keys.size,
    where :func:`_nearest_exact` starts; ``cells[g]`` is the one answer for every value of
    bucket g of up to 64·keys.size, or −1 where it changes inside the bucket (with a margin
    of 1e-9 of the domain for rounding in the bucket index). The answer is monotonic in the
    value (cyclically on a circle), so a bucket whose ends agree has one answer.
    Returns (start, guide, guide buckets per unit, cells, cell buckets per unit).
    """
    start = 0.0 if period > 0 else keys[0]
    span = period if period > 0 else keys[-1] - keys[0]
    if not span > 0:
        span = 1.0
    guide = np.empty(2 * keys.size, np.int64)
    below = 0
    for g in range(guide.size):
        edge = start + g * (span / guide.size)
        while below < keys.size and keys[below] < edge:
            below += 1
        guide[g] = below
    guide_scale = guide.size / span
    cells = np.empty(min(64 * keys.size, 1 << 16), np.int32)
    width, margin = span / cells.size, 1e-9 * span
    for g in range(cells.size):
        low, high = start + g * width - margin, start + (g + 1) * width + margin
        if period > 0:
            low, high = low % period, high % period
        elif g == 0 or g == cells.size - 1:     # values beyond the keys fall in the end buckets
            low, high = min(low, start - span), max(high, start + 2 * span)
        first = _nearest_exact(low, keys, period, start, guide, guide_scale)
        same = first == _nearest_exact(high, keys, period, start, guide, guide_scale)
        cells[g] = first if same else -1
    return start, guide, guide_scale, cells, cells.size / span


@numba.njit(**_HARDWARE)
def _nearest_exact(value, keys, period, start, guide, guide_scale):
    """Index of the key nearest to ``value`` (wrapped into [0, period) on a circle), ties to
    the lower key, searching from the guide of :func:`search_tables`."""
    count = keys.size
    upper = guide[int(min(max((value - start) * guide_scale, 0.0), guide.size - 1.0))]
    while upper > 0 and keys[upper - 1] >= value:        # now upper = searchsorted(keys, value)
        upper -= 1
    while upper < count and keys[upper] < value:
        upper += 1
    if period > 0:
        lower, upper = (upper - 1) % count, upper % count
        below = abs(value - keys[lower])
        above = abs(keys[upper] - value)
        below = min(below, period - below)
        above = min(above, period - above)
    else:
        lower, upper = max(upper - 1, 0), min(upper, count - 1)
        below, above = abs(value - keys[lower]), abs(keys[upper] - value)
    return lower if below <= above else upper


@numba.njit(inline="always", **_HARDWARE)
def _nearest_row(values, keys, period, low, high, search, nearest):
    """``nearest[j]`` = index of the key nearest to ``values[j]`` (1-D), with the ``search``
    tables of :func:`search_tables`. Returns False, leaving ``nearest`` meaningless, if a
    value is NaN, infinite or outside [low, high]."""
    invalid = 0
    for j in range(values.size):
        value = values[j]
        invalid += ~((low <= value) & (value <= high) & (abs(value) < np.inf))
    if invalid:
        return False
    start, guide, guide_scale, cells, cell_scale = search
    last = cells.size - 1.0
    if period > 0:                      # two loops, so that the line needs no division
        for j in range(values.size):
            value = values[j] - period * np.floor(values[j] / period)
            nearest[j] = cells[int(min(max((value - start) * cell_scale, 0.0), last))]
    else:
        for j in range(values.size):
            nearest[j] = cells[int(min(max((values[j] - start) * cell_scale, 0.0), last))]
    if np.min(nearest) < 0:             # values in a bucket that a midpoint between keys cuts
        for j in range(values.size):
            if nearest[j] < 0:
                value = values[j] - period * np.floor(values[j] / period) if period > 0 \
                    else values[j]
                nearest[j] = _nearest_exact(value, keys, period, start, guide, guide_scale)
    return True


@numba.njit(**_HARDWARE)
def quantize_nearest(values, keys, grays, period, low, high, search, out):
    """out[n] = grays[k] of the key nearest to values[n]: on a circle of ``period`` (values
    and keys wrapped into [0, period)) or, when ``period`` is 0, on the line; ties go to the
    lower key.

    ``keys`` sorted ascending, ``grays`` the gray level of each key; 1-D arrays; ``search``
    the tables of :func:`search_tables`. Returns False if a value is NaN, infinite or outside
    [low, high] (checked first).
    """
    chunk = min(values.size, 4096)
    nearest = np.empty(chunk, np.int32)
    for first in range(0, values.size, chunk):
        part = values[first:first + chunk]
        if not _nearest_row(part, keys, period, low, high, search, nearest[:part.size]):
            return False
        target = out[first:first + chunk]
        for n in range(part.size):
            target[n] = grays[nearest[n]]
    return True


def quantize_nearest_reference(values, keys, grays, period):
    distance = np.abs(values[:, None] - keys[None, :])
    if period > 0:
        distance = np.mod(distance, period)
        distance = np.minimum(distance, period - distance)
    return grays[np.argmin(distance, axis=1)]


@numba.njit(**_HARDWARE)
def encode_levels(values, keys, period, low, high, search, levels, blank, illumination, top,
                  left, window, out):
    """out[b, k, col] = t·illumination[k, col]: an input SLM with one sample per pixel, lit.

    ``t`` is ``levels[n]`` for the key n nearest to ``values[b, k − top, col − left]`` (as in
    :func:`quantize_nearest`, with its ``search`` tables) where the values lie, ``blank``
    elsewhere on the panel, which covers rows ``window[0]:window[1]`` and columns
    ``window[2]:window[3]`` of the grid, and 0 off it; the values must lie on the panel and
    the columns on the grid. Quantisation, pixelation and illumination in one pass. Returns
    False if a value is NaN, infinite or outside [low, high] (checked first on each row).
    """
    batch, ny, nx = out.shape
    h, w = values.shape[1], values.shape[2]
    nearest = np.empty(w, np.int32)
    for b in range(batch):
        for k in range(ny):
            target = out[b, k]
            if k < window[0] or k >= window[1]:
                target[:] = 0
                continue
            light = illumination[k]
            target[:window[2]] = 0
            target[window[3]:] = 0
            i = k - top
            lit = 0 <= i < h
            for col in range(window[2], left if lit else window[3]):
                target[col] = blank * light[col]
            if not lit:
                continue
            for col in range(left + w, window[3]):
                target[col] = blank * light[col]
            if not _nearest_row(values[b, i], keys, period, low, high, search, nearest):
                return False
            shine, samples = light[left:left + w], target[left:left + w]
            for j in range(w):
                samples[j] = levels[nearest[j]] * shine[j]
    return True


def encode_levels_reference(values, keys, period, levels, blank, illumination, top, left,
                            window):
    batch, h, w = values.shape
    grays = np.arange(keys.size)
    nearest = quantize_nearest_reference(values.ravel(), keys, grays, period)
    panel = np.zeros((batch,) + illumination.shape, levels.dtype)
    panel[:, window[0]:window[1], window[2]:window[3]] = blank
    panel[:, top:top + h, left:left + w] = levels[nearest].reshape(values.shape)
    return panel * illumination


@numba.njit(**_HARDWARE)
def pixelate(gray, row_offset, col_offset, levels, coverage, out):
    """out[b, I·s + u, J·s + v] = levels[g]·coverage[u]·coverage[v], s = coverage.size.

    ``g`` is ``gray[b, I − row_offset, J − col_offset]`` (any integer dtype) where that lies
    inside the pattern and 0 elsewhere on the panel; ``out`` is ``(b, H·s, W·s)``. Returns
    False if a gray level is outside [0, levels.size) (its samples are then meaningless).
    """
    batch, rows, cols = out.shape
    s = coverage.size
    h, w = gray.shape[1], gray.shape[2]
    first, stop = min(max(col_offset, 0), cols // s), min(max(col_offset + w, 0), cols // s)
    single = np.empty_like(levels)              # one sample per pixel: each level's sample
    for g in range(levels.size):
        single[g] = (levels[g] * coverage[0]) * coverage[0]
    valid = True
    for b in range(batch):
        for r in range(rows):
            i, weight = r // s - row_offset, coverage[r % s]
            target = out[b, r]
            inside = 0 <= i < h
            blank = levels[0] * weight
            for column in range(cols // s):
                if not (inside and first <= column < stop):
                    for v in range(s):
                        target[column * s + v] = blank * coverage[v]
            if not inside:
                continue
            pattern = gray[b, i, first - col_offset:stop - col_offset]
            if s == 1:
                samples = target[first:stop]
                for j in range(pattern.size):
                    g = np.intp(pattern[j])
                    valid &= 0 <= g < levels.size
                    samples[j] = single[min(max(g, 0), levels.size - 1)]
                continue
            for j in range(pattern.size):
                g = np.intp(pattern[j])
                if g < 0 or g >= levels.size:
                    valid = False
                    value = blank * 0
                else:
                    value = levels[g] * weight
                for v in range(s):
                    target[(first + j) * s + v] = value * coverage[v]
    return valid


def pixelate_reference(gray, row_offset, col_offset, levels, coverage, panel_shape):
    panel = np.zeros(gray.shape[:1] + tuple(panel_shape), dtype=np.int64)
    panel[:, row_offset:row_offset + gray.shape[1], col_offset:col_offset + gray.shape[2]] = gray
    s = coverage.size
    samples = levels[panel].repeat(s, axis=1).repeat(s, axis=2)
    return samples * np.tile(np.outer(coverage, coverage), panel_shape)


@numba.njit(**_HARDWARE)
def integrate_pixels(irradiance, row_start, row_weight, col_start, col_weight, out):
    """out[b, J, K] = Σ_u Σ_v row_weight[J, u]·col_weight[K, v]·irradiance[b, i, k] with
    i = row_start[J] + u, k = col_start[K] + v: the power (W) on each camera pixel's active
    area from an irradiance (W/m²), with the banded overlap lengths (m) of
    ``camera.pixel_overlaps`` on each axis.
    """
    batch, rows, cols = out.shape
    width_y, width_x = row_weight.shape[1], col_weight.shape[1]
    for b in range(batch):
        for j in range(rows):
            target = out[b, j]
            target[:] = 0.0
            for u in range(width_y):
                weight = row_weight[j, u]
                if weight == 0.0:
                    continue
                source = irradiance[b, row_start[j] + u]
                for column in range(cols):
                    k = col_start[column]
                    line = 0.0
                    for v in range(width_x):
                        line += col_weight[column, v] * source[k + v]
                    target[column] += weight * line


def integrate_pixels_reference(irradiance, row_start, row_weight, col_start, col_weight):
    def dense(start, weight, samples):
        matrix = np.zeros((start.size, samples))
        for j in range(start.size):
            matrix[j, start[j]:start[j] + weight.shape[1]] = weight[j]
        return matrix

    rows = dense(row_start, row_weight, irradiance.shape[-2])
    cols = dense(col_start, col_weight, irradiance.shape[-1])
    return rows @ irradiance.astype(np.float64) @ cols.T


# Camera noise draws from SFC64 (state a, b, c, counter; NumPy's ``np.random.SFC64``) through
# NumPy's algorithms: the ziggurat normal with its tables (as numba ships them), Poisson by
# multiplication below a mean of 10 and by PTRS (Hörmann 1993) above, so a NumPy Generator on
# the same state draws the same numbers.
#
# From POISSON_EXACT_BELOW e⁻ on, shot and read noise are one skewed normal draw (see
# shot_read_adc): its mean and third central moment are the Poisson's, its variance exceeds
# μ + σ_d0² by 2·(μ/(6σ²))² ≤ 1/18 e⁻², and the largest difference between its distribution
# and that of Poisson(μ) + N(0, σ_d0²) is 3.2e-4 at μ = 20 e⁻ for a read noise σ_d0 ≥ 0.5 e⁻
# (1.5e-4 at 2.3 e⁻; it falls as 1/μ), less than a plain N(μ, μ) reaches at 1000 e⁻ (2.1e-3).
# Below 20 e⁻ the count is drawn exactly: there the skewness 1/√μ is large and few electrons
# are cheap to draw. The draw has no lattice of whole electrons, which only a read noise below
# ~0.5 e⁻ leaves visible.
POISSON_EXACT_BELOW = 20.0        # e⁻
_ZIGGURAT_K = _random_tables.ki_double.astype(np.int64)
_ZIGGURAT_W = _random_tables.wi_double
_ZIGGURAT_F = _random_tables.fi_double
_ZIGGURAT_R = _random_tables.ziggurat_nor_r
_ZIGGURAT_INV_R = _random_tables.ziggurat_nor_inv_r
_LOGGAM = np.array([8.333333333333333e-02, -2.777777777777778e-03, 7.936507936507937e-04,
                    -5.952380952380952e-04, 8.417508417508418e-04, -1.917526917526918e-03,
                    6.410256410256410e-03, -2.955065359477124e-02, 1.796443723688307e-01,
                    -1.39243221690590e+00])
_U1, _U3, _U8, _U11, _U24, _U40 = (np.uint64(n) for n in (1, 3, 8, 11, 24, 40))
_LOW8, _LOW52 = np.uint64(0xFF), np.uint64(0x000FFFFFFFFFFFFF)


@numba.njit(inline="always", **_HARDWARE)
def _sfc64(a, b, c, counter):
    """One SFC64 step: 64 random bits and the next state (a, b, c, counter), all uint64."""
    bits = a + b + counter
    return bits, b ^ (b >> _U11), c + (c << _U3), ((c << _U24) | (c >> _U40)) + bits, \
        counter + _U1


@numba.njit(inline="always", **_HARDWARE)
def _next(state):
    """64 random bits from the SFC64 ``state`` array (a, b, c, counter), advanced in place."""
    bits, state[0], state[1], state[2], state[3] = _sfc64(state[0], state[1], state[2],
                                                           state[3])
    return bits


@numba.njit(inline="always", **_HARDWARE)
def _uniform(state):
    """Uniform double in [0, 1): the top 53 of 64 random bits."""
    return np.int64(_next(state) >> _U11) * (1.0 / 9007199254740992.0)


@numba.njit(inline="always", **_HARDWARE)
def _ziggurat(bits):
    """Layer, magnitude bits and candidate normal of the ziggurat for 64 random ``bits``."""
    layer = bits & _LOW8                # unsigned: indexing needs no wraparound
    bits >>= _U8
    magnitude = np.int64((bits >> _U1) & _LOW52)
    value = magnitude * _ZIGGURAT_W[layer]
    return layer, magnitude, -value if bits & _U1 else value


@numba.njit(**_HARDWARE)
def _normal_rejected(state, layer, magnitude, value):
    """The rest of a standard normal draw whose first ziggurat candidate was not accepted at
    once (0.7 % of draws): wedge and tail tests, then new candidates."""
    while True:
        if layer == 0:
            while True:
                x = -_ZIGGURAT_INV_R * math.log1p(-_uniform(state))
                y = -math.log1p(-_uniform(state))
                if y + y > x * x:
                    return -(_ZIGGURAT_R + x) if (magnitude >> 8) & 1 else _ZIGGURAT_R + x
        wedge = _ZIGGURAT_F[layer - 1] - _ZIGGURAT_F[layer]
        if wedge * _uniform(state) + _ZIGGURAT_F[layer] < math.exp(-0.5 * value * value):
            return value
        layer, magnitude, value = _ziggurat(_next(state))
        if magnitude < _ZIGGURAT_K[layer]:
            return value


@numba.njit(**_HARDWARE)
def _log_gamma(x):
    """log Γ(x) as NumPy's random module computes it (Stirling series)."""
    if x == 1.0 or x == 2.0:
        return 0.0
    shift = int(7 - x) if x < 7.0 else 0
    x0 = x + shift
    inverse_square = (1.0 / x0) * (1.0 / x0)
    series = _LOGGAM[9]
    for k in range(8, -1, -1):
        series = series * inverse_square + _LOGGAM[k]
    result = series / x0 + 0.5 * 1.8378770664093453 + (x0 - 0.5) * math.log(x0) - x0
    for _ in range(shift):
        result -= math.log(x0 - 1.0)
        x0 -= 1.0
    return result


@numba.njit(**_HARDWARE)
def _poisson(state, mean):
    """A Poisson count of ``mean``: PTRS from 10 up, else multiplication of uniforms."""
    if mean >= 10:
        root = math.sqrt(mean)
        b = 0.931 + 2.53 * root
        a = -0.059 + 0.02483 * b
        accept = 0.9277 - 3.6224 / (b - 2)
        while True:
            u = _uniform(state) - 0.5
            v = _uniform(state)
            us = 0.5 - abs(u)
            k = math.floor((2 * a / us + b) * u + mean + 0.43)
            if us >= 0.07 and v <= accept:
                return k
            if k < 0 or (us < 0.013 and v > us):
                continue
            alpha = 1.1239 + 1.1328 / (b - 3.4)
            if (math.log(v) + math.log(alpha) - math.log(a / (us * us) + b)
                    <= -mean + k * math.log(mean) - _log_gamma(k + 1)):
                return k
    if mean == 0:
        return 0
    return _poisson_product(state, mean, _uniform(state))


@numba.njit(**_HARDWARE)
def _poisson_product(state, mean, product):
    """A Poisson count of ``mean`` < 10 by multiplying uniforms until the product falls to
    exp(−mean), the first uniform being ``product``."""
    bound = math.exp(-mean)
    count = 0
    while product > bound:
        count += 1
        product *= _uniform(state)
    return count


@numba.njit(inline="always", **_HARDWARE)
def _no_photon(mean, uniform):
    """True when the first uniform of :func:`_poisson_product` already lies below
    exp(−mean) for sure (a margin of 2⁻⁵⁰ covers rounding): a count of 0 without exp()."""
    return uniform < (1.0 - mean) - 2.0 ** -50


# The slow paths below are not inlined: they take the SFC64 state as four numbers (and a work
# array ``stream`` to carry it through the generic samplers) and return the next state. Inlined
# into shot_read_adc's pixel loop, the array cost reference counting on every pixel and made
# each normal draw ~2-4x slower.


@numba.njit(**_HARDWARE)
def _normal_rejected_next(stream, a, b, c, counter, layer, magnitude, value):
    """:func:`_normal_rejected` on the state (a, b, c, counter): the normal, the next state."""
    stream[0], stream[1], stream[2], stream[3] = a, b, c, counter
    z = _normal_rejected(stream, layer, magnitude, value)
    return z, stream[0], stream[1], stream[2], stream[3]


@numba.njit(**_HARDWARE)
def _poisson_next(stream, a, b, c, counter, mean, first):
    """A Poisson count of ``mean`` and the next state (a, b, c, counter): by
    :func:`_poisson_product` from the uniform ``first`` already drawn when 0 < mean < 10, else
    by :func:`_poisson`."""
    stream[0], stream[1], stream[2], stream[3] = a, b, c, counter
    if 0 < mean < 10:
        electrons = _poisson_product(stream, mean, first)
    else:
        electrons = _poisson(stream, mean)
    return electrons, stream[0], stream[1], stream[2], stream[3]


@numba.njit(inline="always", **_HARDWARE)
def _normal_next(a, b, c, counter):
    """A standard normal and the next SFC64 state (a, b, c, counter), kept in registers."""
    bits, a, b, c, counter = _sfc64(a, b, c, counter)
    layer, magnitude, z = _ziggurat(bits)
    if magnitude >= _ZIGGURAT_K[layer]:
        z, a, b, c, counter = _normal_rejected_next(np.empty(4, np.uint64), a, b, c, counter,
                                                    layer, magnitude, z)
    return z, a, b, c, counter


@numba.njit(**_HARDWARE)
def shot_read_adc(signal, row_area, col_area, photons, qe, prnu, dark, dsnu, states, read_noise,
                  full_well, gain, offset, max_level, out):
    """Digital numbers ``out`` (b, ny, nx) of pixels collecting on average
    ``μ = ((row_area[k]·(col_area[col]·signal[b, k, col]))·photons)·(qe·prnu[k, col]) + dark`` e⁻.

    ``signal`` is an irradiance (W/m²) with ``row_area``, ``col_area`` each pixel's active
    lengths (m) over its one sample, or a power (W) with unit lengths; ``photons`` is t/(hν)
    (1/J). Each pixel draws one standard normal z. From :data:`POISSON_EXACT_BELOW` on it
    carries both noises: ``n = μ + σ·z + μ·(z² − 1)/(6σ²)``, σ² = μ + read_noise², the normal
    approximation with the Poisson skewness (a Cornish–Fisher term), good to O(1/μ), σ and
    μ/(6σ²) in single precision (a μ whose σ overflows it keeps n = μ, so the pixel
    saturates). Below it ``n = Poisson(μ) + read_noise·z``. Then ``out = clip(rint(K·min(n +
    dsnu[k, col], full_well) + offset), 0, max_level)``. Empty ``prnu``/``dsnu`` mean none.
    Row ``r = b·ny + k`` draws from its own SFC64 stream, a copy of ``states[r]`` (uint64 a,
    b, c, counter): first the nx normals in pixel order, then the Poisson counts of its pixels
    below the threshold in pixel order, so the frames depend on the states alone, whichever
    rows run where.
    """
    batch, ny, nx = out.shape
    stream = np.empty(4, np.uint64)
    variance = read_noise * read_noise
    mean = np.empty(nx)
    count = np.empty(nx)
    normal = np.empty(nx)
    for b in range(batch):
        for k in range(ny):
            a, b_, c, counter = states[b * ny + k]
            for col in range(nx):               # the state lives in registers on the hot path
                z, a, b_, c, counter = _normal_next(a, b_, c, counter)
                normal[col] = z
            area, source = row_area[k], signal[b, k]
            if prnu.size:
                response = prnu[k]
                for col in range(nx):
                    mean[col] = ((area * (col_area[col] * source[col])) * photons) \
                        * (qe * response[col]) + dark
            else:
                for col in range(nx):
                    mean[col] = ((area * (col_area[col] * source[col])) * photons) * qe + dark
            exact = 0
            for col in range(nx):               # branch-free: both noises, or the read noise
                mu, z = mean[col], normal[col]
                total = np.float32(mu + variance)
                spread = np.sqrt(total)
                skew = np.float32(mu) / (np.float32(6) * total)
                high = mu >= POISSON_EXACT_BELOW
                exact += not high
                approximated = mu + spread * z + skew * (z * z - 1.0) if spread < np.inf else mu
                count[col] = approximated if high else read_noise * z
            for col in range(nx if exact else 0):
                mu = mean[col]
                if mu >= POISSON_EXACT_BELOW or not mu > 0:
                    continue
                first = 0.0
                if mu < 10:                     # most likely no photo-electron at all
                    bits, a, b_, c, counter = _sfc64(a, b_, c, counter)
                    first = np.int64(bits >> _U11) * (1.0 / 9007199254740992.0)
                    if _no_photon(mu, first):
                        continue
                electrons, a, b_, c, counter = _poisson_next(stream, a, b_, c, counter, mu, first)
                count[col] += electrons
            if dsnu.size:
                fixed = dsnu[k]
                for col in range(nx):
                    count[col] += fixed[col]
            target = out[b, k]
            for col in range(nx):
                level = np.rint(gain * min(count[col], full_well) + offset)
                target[col] = min(max(level, 0.0), max_level)


def shot_read_adc_reference(signal, row_area, col_area, photons, qe, prnu, dark, dsnu, states,
                            read_noise, full_well, gain, offset, max_level, dtype):
    response = qe * prnu if prnu.size else qe
    mean = ((row_area[:, None] * (col_area * signal.astype(np.float64))) * photons) * response
    mean = (mean + dark).reshape(-1, signal.shape[-1])
    count = np.empty(mean.shape)
    for row, state in enumerate(states):
        bits = np.random.SFC64()
        bits.state = {"bit_generator": "SFC64", "state": {"state": np.array(state, np.uint64)},
                      "has_uint32": 0, "uinteger": 0}
        stream = np.random.Generator(bits)
        normal = stream.standard_normal(mean.shape[1])
        for column, (mu, z) in enumerate(zip(mean[row], normal)):
            if mu >= POISSON_EXACT_BELOW:
                with np.errstate(over="ignore", invalid="ignore"):
                    total = np.float32(mu + read_noise * read_noise)
                    spread, skew = np.sqrt(total), np.float32(mu) / (np.float32(6) * total)
                count[row, column] = (mu + float(spread) * z + float(skew) * (z * z - 1.0)
                                      if spread < np.inf else mu)
            else:
                count[row, column] = read_noise * z
        for column, mu in enumerate(mean[row]):
            if mu < POISSON_EXACT_BELOW:
                count[row, column] += stream.poisson(mu)
    count = count.reshape(signal.shape)
    if dsnu.size:
        count += dsnu
    level = np.rint(gain * np.minimum(count, full_well) + offset)
    return np.clip(level, 0, max_level).astype(dtype)
