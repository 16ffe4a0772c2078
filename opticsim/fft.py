"""FFT backend: planned, multithreaded pyFFTW with a scipy.fft fallback.

All transforms act on the last two axes and are unnormalised in both directions:
``fft2(x)[k] = Σ_n x[n]·exp(−2πi·nk/N)`` and ``fft2(x, inverse=True)`` uses ``exp(+2πi·nk/N)``.
Plans are made once per (shape, dtype, direction) and per thread, and FFTW wisdom is kept
in a cache file so a second run plans instantly. Planning effort and threads only change
speed, never results beyond rounding.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np

try:
    import pyfftw
except ImportError:  # pragma: no cover - exercised only where pyFFTW is missing
    pyfftw = None

import scipy.fft

BACKEND = "pyfftw" if pyfftw is not None else "scipy"
ALIGNMENT = pyfftw.simd_alignment if pyfftw is not None else 64

# Below this many samples per transform, estimated plans are as fast as measured ones
# and one thread beats two.
_MEASURE_SIZE = 128 * 128


def threads() -> int:
    """Worker threads for FFTs and numba kernels: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array aligned for SIMD FFTs."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


def zeros(shape, dtype) -> np.ndarray:
    """An aligned array of zeros."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def is_aligned(array: np.ndarray) -> bool:
    """True when ``array`` is C-contiguous and starts on a SIMD boundary."""
    return array.flags.c_contiguous and array.ctypes.data % ALIGNMENT == 0


def _wisdom_path() -> Path:
    root = os.environ.get("OPTICSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "opticsim")
    return Path(root) / f"fftw-wisdom-{pyfftw.__version__}.npy"


def _load_wisdom() -> None:
    try:
        wisdom = np.load(_wisdom_path(), allow_pickle=False)
        pyfftw.import_wisdom(tuple(bytes(w) for w in wisdom))
    except (OSError, ValueError):
        pass


def _save_wisdom() -> None:
    """Write the accumulated wisdom atomically; a failure only costs planning time later."""
    path = _wisdom_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        wisdom = np.array(pyfftw.export_wisdom(), dtype=object).astype(bytes)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            np.save(tmp, wisdom, allow_pickle=False)
        os.replace(tmp.name, path)
    except OSError:
        pass


class _Plans(threading.local):
    """Per-thread cache of FFTW objects and their aligned scratch output arrays."""

    def __init__(self):
        self.plans = {}
        self.wisdom_loaded = False

    def get(self, shape, dtype, inverse: bool, inplace: bool, aligned: bool):
        key = (shape, dtype.str, inverse, inplace, aligned)
        plan = self.plans.get(key)
        if plan is None:
            if not self.wisdom_loaded:
                _load_wisdom()
                self.wisdom_loaded = True
            size = shape[-1] * shape[-2]
            flags = ["FFTW_MEASURE" if size >= _MEASURE_SIZE else "FFTW_ESTIMATE"]
            if not aligned:
                flags.append("FFTW_UNALIGNED")
            source = empty(shape, dtype)
            target = source if inplace else empty(shape, dtype)
            plan = pyfftw.FFTW(
                source, target, axes=(-2, -1),
                direction="FFTW_BACKWARD" if inverse else "FFTW_FORWARD",
                flags=flags, threads=threads() if size >= _MEASURE_SIZE else 1)
            self.plans[key] = plan
            if "FFTW_MEASURE" in flags:
                _save_wisdom()
        return plan


_PLANS = _Plans()


def fft2(x: np.ndarray, *, inverse: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Unnormalised 2-D DFT over the last two axes of a complex array.

    ``out`` may be ``x`` itself (in place) or another array of the same shape and dtype;
    when omitted a new aligned array is returned. Leading axes are a batch.
    """
    if x.dtype not in (np.complex64, np.complex128):
        raise ValueError(f"x must be complex64 or complex128, got {x.dtype}")
    if out is None:
        out = empty(x.shape, x.dtype)
    elif out.shape != x.shape or out.dtype != x.dtype:
        raise ValueError(f"out must have shape {x.shape} and dtype {x.dtype}")
    if pyfftw is None:
        transform = scipy.fft.ifft2 if inverse else scipy.fft.fft2
        norm = "forward" if inverse else "backward"
        out[...] = transform(x, axes=(-2, -1), norm=norm, workers=threads())
        return out
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    inplace = out.ctypes.data == x.ctypes.data
    aligned = is_aligned(x) and is_aligned(out)
    plan = _PLANS.get(x.shape, x.dtype, inverse, inplace, aligned)
    plan.update_arrays(x, out)
    plan.execute()
    return out


class _Scratch(threading.local):
    """Per-thread aligned work arrays, reused across calls of the same shape."""

    def __init__(self):
        self.arrays = {}

    def get(self, shape, dtype) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype).str)
        array = self.arrays.get(key)
        if array is None:
            if len(self.arrays) >= 8:
                self.arrays.clear()
            array = self.arrays[key] = empty(shape, dtype)
        return array


_SCRATCH = _Scratch()


def scratch(shape, dtype) -> np.ndarray:
    """A reusable aligned work array of this thread; its contents are overwritten by the
    next caller asking for the same shape, so never return it to a user."""
    return _SCRATCH.get(shape, dtype)
