"""FFT backend: a fixed rule per CPU vendor and plane size among backends whose numbers do not
depend on the process, the thread count or the array's address; pyFFTW's timed plans on request.

All transforms act on the last two axes and are unnormalised in both directions:
``fft2(x)[k] = Σ_n x[n]·exp(−2πi·nk/N)`` and ``fft2(x, inverse=True)`` uses ``exp(+2πi·nk/N)``.

**Same numbers in every process.** pocketfft (``scipy.fft``) computes each transform the same
way whatever the process, the thread count or the array's address (checked in fresh processes
at 1 and 2 threads by ``python benches/bench_fft_backends.py``: ``same``; MKL inside torch
passed the same check on AMD), so the same inputs and seed give bit-identical frames in every process, run and
sweep worker on one machine. Which of the two is faster depends on the CPU and the size, so
:data:`RULE` names the backend per CPU vendor and plane size, fixed from measurements (never by
timing in a process). FFTW chooses its algorithm by timing (``FFTW_MEASURE``), so two processes
may round the same frame differently, and its plans made without timing (``FFTW_ESTIMATE``)
ran 9–22× slower here (``estimate/fftw``). ``OPTICSIM_FFT`` in the environment, read when this
module is imported, overrides the rule: ``scipy`` or ``torch`` for one deterministic backend
everywhere, ``fftw`` for pyFFTW with timed plans (faster, reproducible within a process only).
pyFFTW plans are made once per (shape, dtype, direction) and per thread; a transform runs on
SIMD-aligned memory (a misaligned array is copied first), since FFTW's unaligned codelets round
differently too. Large arrays from :func:`empty` start on a page and reuse the buffers of
arrays this thread has dropped, which are usually still in cache.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from pathlib import Path

import numpy as np

# pocketfft's C++ binding, the same function scipy.fft.fftn/rfftn end in, called without their
# Python dispatch (~10 µs a call, a tenth of a 256² transform; tests/test_fft.py checks that
# the numbers are scipy.fft's, bit for bit).
from scipy.fft._pocketfft import pypocketfft as _pocketfft

#: After a transform pyFFTW's OpenMP threads spin GOMP_SPINCOUNT times before they sleep:
#: libgomp's default, 300 000 pauses, kept a core busy 6.5 ms after a 1024² transform here (0.25 ms
#: with SPIN_COUNT; benches/bench_fft_backends.py, spin_ms), so a worker spins through the passes
#: between and after the transforms, on the core those passes use. 10 000 still keeps the
#: barriers inside one transform spinning. libgomp reads it once, as pyFFTW loads its own copy
#: of the library, so it is set for that import only, and only when the user set neither
#: GOMP_SPINCOUNT nor OMP_WAIT_POLICY; the environment is left as it was found.
SPIN_COUNT = 10_000


#: The values ``OPTICSIM_FFT`` may take; the first, the default, follows :data:`RULE`.
BACKENDS = ("auto", "scipy", "torch", "fftw")

#: The deterministic backend per CPU vendor (``vendor_id`` of /proc/cpuinfo): for planes of at
#: most ``samples`` (None: any size), the first step that fits; any other CPU:
#: :data:`DEFAULT_BACKEND`. Measured with ``python benches/bench_fft_backends.py --threads 1 2``:
#: on an AMD EPYC (Zen 5) pocketfft was as fast as MKL at 256² (within 2 %) and faster from 512²
#: to 2048². On an Intel Xeon (Ice Lake-SP) MKL took 0.5–0.9× of FFTW's timed plan up to 1024²,
#: where pocketfft takes 1.4–2×, but Intel stays on pocketfft: oneMKL promises bitwise-identical
#: results only for a fixed thread count (its "Reproducibility Conditions"), and MKL's Intel code
#: paths have not been checked in fresh processes at several thread counts, as the AMD ones were
#: (``same`` in the bench). A row for MKL belongs here once that check passes on Intel;
#: ``OPTICSIM_FFT=torch`` asks for it meanwhile.
RULE = {
    "AuthenticAMD": ((None, "scipy"),),
    "GenuineIntel": ((None, "scipy"),),
}
#: The backend of a CPU :data:`RULE` does not name: pocketfft, deterministic everywhere.
DEFAULT_BACKEND = "scipy"


def rule(vendor: str, shape) -> str:
    """The backend :data:`RULE` gives transforms over the last two axes of ``shape`` on a CPU
    of ``vendor``."""
    samples = shape[-1] * shape[-2]
    for most, backend in RULE.get(vendor, ()):
        if most is None or samples <= most:
            return backend
    return DEFAULT_BACKEND


def cpu_vendor(cpuinfo="/proc/cpuinfo") -> str:
    """The CPU's vendor: the first ``vendor_id`` line of ``cpuinfo`` (x86), else "unknown"."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return "unknown"
    found = re.search(r"^vendor_id\s*:\s*(\S+)", text, re.MULTILINE)
    return found.group(1) if found else "unknown"


def load_pyfftw():
    """pyFFTW, imported with ``GOMP_SPINCOUNT`` = :data:`SPIN_COUNT` unless the user set a spin
    count or wait policy (the environment is left as it was found); ``ValueError`` when it is
    not installed. What ``OPTICSIM_FFT=fftw`` and the benches' FFTW floor load."""
    chosen = {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & os.environ.keys()
    if not chosen:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    try:
        import pyfftw
    except ImportError:
        raise ValueError("pyFFTW is not installed: pip install pyFFTW") from None
    finally:
        if not chosen:
            del os.environ["GOMP_SPINCOUNT"]
    return pyfftw


def _chosen_backend() -> str:
    """``OPTICSIM_FFT``, or "auto"; ``ValueError`` for another value."""
    chosen = os.environ.get("OPTICSIM_FFT", BACKENDS[0])
    if chosen not in BACKENDS:
        raise ValueError(f"OPTICSIM_FFT must be one of {BACKENDS}, got {chosen!r}")
    return chosen


CHOSEN = _chosen_backend()
VENDOR = cpu_vendor()
pyfftw = load_pyfftw() if CHOSEN == "fftw" else None

BACKEND = "pyfftw" if pyfftw is not None else CHOSEN
ALIGNMENT = pyfftw.simd_alignment if pyfftw is not None else 64


def backend(shape) -> str:
    """The backend of transforms over the last two axes of ``shape`` in this process: "fftw"
    when pyFFTW is loaded, else ``OPTICSIM_FFT``'s choice or, by default, :func:`rule`."""
    if pyfftw is not None:
        return "fftw"
    return rule(VENDOR, shape) if CHOSEN == "auto" else CHOSEN


# Below this many samples per transform one thread beats two, and FFTW's estimated plans are
# as fast as timed ones.
_THREADED_SIZE = 128 * 128
# Arrays of at least _POOL_MIN_BYTES start on a page and come from a per-thread pool of at
# most _POOL_COUNT recycled buffers and _POOL_BYTES.
_PAGE = 4096
_POOL_MIN_BYTES = 1 << 18
_POOL_COUNT = 32
_POOL_BYTES = 256 << 20


def threads() -> int:
    """Worker threads for FFTs and numba kernels: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def plan_threads(shape) -> int:
    """Threads a transform over the last two axes of ``shape`` runs on: one for small
    planes, where starting a second thread costs more than it saves, else :func:`threads`."""
    return threads() if shape[-1] * shape[-2] >= _THREADED_SIZE else 1


class _Pool(threading.local):
    """Per-thread buffers of large arrays, handed out again once no array uses them.

    A new large array lands on memory that is in no cache (and may page-fault); the buffer of
    an array its caller has already dropped is usually still cached. A buffer is free when
    only the pool refers to it: every view of an array keeps the array's base buffer alive.
    """

    def __init__(self):
        self.buffers = []                       # most recently handed out first
        self.free_count = _references([np.empty(1, np.uint8)], 0)

    def take(self, size: int) -> np.ndarray:
        for index in range(len(self.buffers)):     # no local name may hold a buffer here
            if (self.buffers[index].size == size
                    and _references(self.buffers, index) == self.free_count):
                self.buffers.insert(0, self.buffers.pop(index))
                return self.buffers[0]
        self.buffers.insert(0, np.empty(size, np.uint8))
        total = sum(buffer.size for buffer in self.buffers)
        while len(self.buffers) > 1 and (total > _POOL_BYTES or len(self.buffers) > _POOL_COUNT):
            total -= self.buffers.pop().size    # forgotten; arrays still using it keep it
        return self.buffers[0]


def _references(buffers: list, index: int) -> int:
    """Reference count of ``buffers[index]`` as seen here; the pool compares it with the count
    of a buffer nothing else holds, measured through this same function."""
    return sys.getrefcount(buffers[index])


_POOL = _Pool()


def _allocate(shape, dtype, pooled: bool) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes >= _POOL_MIN_BYTES:
        raw = _POOL.take(nbytes + _PAGE) if pooled else np.empty(nbytes + _PAGE, np.uint8)
        start = (-raw.ctypes.data) % _PAGE
    else:
        raw = np.empty(nbytes + ALIGNMENT, np.uint8)
        start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array aligned for SIMD FFTs; from 256 KiB on, it starts
    on a page, in a buffer of this thread's that no earlier array of the size uses any more."""
    return _allocate(tuple(shape), dtype, pooled=True)


def zeros(shape, dtype) -> np.ndarray:
    """An aligned array of zeros."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def is_aligned(array: np.ndarray) -> bool:
    """True when ``array`` is C-contiguous and starts on a SIMD boundary."""
    if not array.flags.c_contiguous:
        return False
    if pyfftw is not None:
        return pyfftw.is_byte_aligned(array, ALIGNMENT)      # ~20x faster than .ctypes
    return array.ctypes.data % ALIGNMENT == 0


class _Plans(threading.local):
    """Per-thread cache of FFTW objects, each with the arrays it was planned on."""

    def __init__(self):
        self.plans = {}

    def get(self, shape, dtype, inverse: bool, inplace: bool, aligned: bool,
            axes=(-2, -1), band=None, threads=None, real: bool = False):
        """The plan over ``axes`` of arrays of ``shape`` (or of rows ``band[0]:band[1]`` of
        them) and its own (source, target) arrays. ``real``: a forward transform of real arrays
        of ``shape`` (of the real type of ``dtype``) to the half spectrum
        ``(..., ny, nx//2 + 1)``."""
        threads = plan_threads(shape) if threads is None else threads
        key = (shape, dtype.str, inverse, inplace, aligned, axes, band, threads, real)
        entry = self.plans.get(key)
        if entry is None:
            size = shape[-1] * shape[-2]
            flags = ["FFTW_MEASURE" if size >= _THREADED_SIZE else "FFTW_ESTIMATE"]
            if not aligned:
                flags.append("FFTW_UNALIGNED")
            if real:
                source = _allocate(shape, np.finfo(dtype).dtype, pooled=False)
                target = _allocate(half_shape(shape), dtype, pooled=False)
            else:
                source = _allocate(shape, dtype, pooled=False)
                target = source if inplace else _allocate(shape, dtype, pooled=False)
            if band is not None:
                source, target = source[..., band[0]:band[1], :], target[..., band[0]:band[1], :]
            plan = pyfftw.FFTW(
                source, target, axes=axes,
                direction="FFTW_BACKWARD" if inverse else "FFTW_FORWARD",
                flags=flags, threads=threads)
            entry = self.plans[key] = (plan, (source, target))
        return entry


_PLANS = _Plans()


def _canonical(array: np.ndarray) -> np.ndarray:
    """A C-contiguous array as a view with the standard strides: axes of length 1 may carry
    any stride, but a plan only accepts the strides it was made for."""
    stride, standard = array.itemsize, ()
    for n in reversed(array.shape):
        standard = (stride,) + standard
        stride *= n
    return array if array.strides == standard else array.reshape(-1).reshape(array.shape)


def fft2(x: np.ndarray, *, inverse: bool = False, out: np.ndarray | None = None,
         rows: tuple[int, int] | None = None, workers: int | None = None) -> np.ndarray:
    """Unnormalised 2-D DFT over the last two axes of a complex array.

    ``out`` may be ``x`` itself (in place) or another C-contiguous array of the same shape and
    dtype; when omitted a new aligned array is returned. Leading axes are a batch. Nothing is
    copied on the way, except a non-contiguous ``x``, which FFTW cannot read, and arrays that
    do not start on a SIMD boundary (see :func:`is_aligned`; the engine's always do), which are
    transformed in an aligned copy so that the numbers never depend on an array's address.

    ``rows=(start, stop)`` says that ``x`` is zero outside those rows of every plane, as a
    zero-padded input is. An in-place transform then prunes: the row transforms run on that
    band only (the others are transforms of zeros), the column transforms on everything.
    ``workers`` overrides :func:`plan_threads` (e.g. 1 when frames run on threads of their own).
    """
    if x.dtype not in (np.complex64, np.complex128):
        raise ValueError(f"x must be complex64 or complex128, got {x.dtype}")
    if out is None:
        out = empty(x.shape, x.dtype)
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous array of shape {x.shape} and dtype "
                         f"{x.dtype}")
    elif out is not x and np.may_share_memory(x, out) and out.ctypes.data != x.ctypes.data:
        raise ValueError("out must be x itself or not overlap it")
    inplace = out is x or (np.may_share_memory(x, out) and out.ctypes.data == x.ctypes.data)
    chosen = backend(x.shape)
    if chosen != "fftw":
        if inplace and _prunable(x, rows):
            band = x[..., int(rows[0]):int(rows[1]), :]
            _transform(chosen, band, band, (-1,), inverse, workers)
            _transform(chosen, x, x, (-2,), inverse, workers)
        else:
            _transform(chosen, x, out, (-2, -1), inverse, workers)
        return out
    if not (is_aligned(x) and is_aligned(out)):
        work = empty(x.shape, x.dtype)
        work[...] = x
        target = work if inplace else empty(x.shape, x.dtype)
        out[...] = fft2(work, inverse=inverse, out=target, rows=rows, workers=workers)
        return out
    x, out = _canonical(x), _canonical(out)
    if inplace and _prunable(x, rows):
        band = (int(rows[0]), int(rows[1]))
        part = x[..., band[0]:band[1], :]
        _execute(_PLANS.get(x.shape, x.dtype, inverse, True, _band_aligned(x, band), (-1,),
                            band, workers), part, part)
        _execute(_PLANS.get(x.shape, x.dtype, inverse, True, True, (-2,), None, workers), x, x)
        return out
    _execute(_PLANS.get(x.shape, x.dtype, inverse, inplace, True, threads=workers), x, out)
    return out


def _band_aligned(x: np.ndarray, band: tuple[int, int]) -> bool:
    """True when rows ``band[0]:`` of the aligned ``x`` start on a SIMD boundary too: a
    property of the shape and the band, never of the address."""
    return band[0] * x.shape[-1] * x.itemsize % ALIGNMENT == 0


def half_shape(shape) -> tuple[int, ...]:
    """Shape of the half spectrum of real planes of ``shape``: the last axis nx//2 + 1 long."""
    return tuple(shape[:-1]) + (shape[-1] // 2 + 1,)


def real_fft2(x: np.ndarray, out: np.ndarray, *, rows: tuple[int, int] | None = None,
              workers: int | None = None) -> np.ndarray:
    """Half spectrum of the real array ``x`` ``(..., ny, nx)``: ``out`` ``(..., ny, nx//2 + 1)``
    holds columns 0 … nx//2 of its unnormalised 2-D DFT; the others follow from the Hermitian
    symmetry of a real plane's spectrum, ``X[k, l] = conj(X[−k, −l])``.

    About half the arithmetic of :func:`fft2` on half the memory (0.52–0.74× a complex
    transform's time at 512²–2048² on 2 threads here, ``benches/bench_fft_backends.py``). ``x`` is float32 (``out`` complex64)
    or float64 (complex128). ``rows`` prunes as in :func:`fft2`: row transforms on that band
    only, then column transforms of the half spectrum."""
    if x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous:
        raise ValueError(f"x must be a C-contiguous float32 or float64 array, got {x.dtype}")
    dtype = np.result_type(x.dtype, np.complex64)
    if out.shape != half_shape(x.shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous array of shape {half_shape(x.shape)} "
                         f"and dtype {dtype}")
    if np.may_share_memory(x, out):
        raise ValueError("out must not overlap x")
    chosen = backend(x.shape)
    if chosen != "fftw":
        if _prunable(x, rows):
            start, stop = int(rows[0]), int(rows[1])
            _transform(chosen, x[..., start:stop, :], out[..., start:stop, :], (-1,), False,
                       workers, real=True)
            out[..., :start, :] = 0                 # rows of zeros transform to zeros
            out[..., stop:, :] = 0
            _transform(chosen, out, out, (-2,), False, workers)
        else:
            _transform(chosen, x, out, (-2, -1), False, workers, real=True)
        return out
    if not (is_aligned(x) and is_aligned(out)):
        work = empty(x.shape, x.dtype)
        work[...] = x
        out[...] = real_fft2(work, empty(out.shape, out.dtype), rows=rows, workers=workers)
        return out
    x, out = _canonical(x), _canonical(out)
    if _prunable(x, rows):
        band = (int(rows[0]), int(rows[1]))
        aligned = _band_aligned(x, band) and _band_aligned(out, band)
        _execute(_PLANS.get(x.shape, dtype, False, False, aligned, (-1,), band, workers,
                            real=True),
                 x[..., band[0]:band[1], :], out[..., band[0]:band[1], :])
        out[..., :band[0], :] = 0               # rows of zeros transform to zeros
        out[..., band[1]:, :] = 0
        _execute(_PLANS.get(out.shape, dtype, False, True, True, (-2,), None, workers),
                 out, out)
        return out
    _execute(_PLANS.get(x.shape, dtype, False, False, True, threads=workers, real=True), x, out)
    return out


def _transform(chosen: str, x: np.ndarray, out: np.ndarray, axes: tuple, inverse: bool,
               workers: int | None, real: bool = False) -> None:
    """The unnormalised transform of ``x`` over ``axes`` into ``out`` (which may be ``x``) by
    pocketfft (``scipy``, on ``workers`` threads, default :func:`plan_threads`: a second
    thread cost 20–35 µs a call below 128² here) or MKL (``torch``,
    on torch's threads: its numbers do not depend on them); ``real``: the half spectrum of a
    real ``x``, the last of ``axes`` halved."""
    if chosen == "torch":
        import torch

        source, target = torch.from_numpy(x), torch.from_numpy(out)
        if real:
            torch.fft.rfftn(source, dim=axes, out=target)
        elif inverse:
            torch.fft.ifftn(source, dim=axes, norm="forward", out=target)
        else:
            torch.fft.fftn(source, dim=axes, out=target)
        return
    # unnormalised (inorm 0), into out, which may be x
    (_pocketfft.r2c if real else _pocketfft.c2c)(x, axes, not inverse, 0, out,
                                                 workers or plan_threads(x.shape))


def _prunable(x: np.ndarray, rows) -> bool:
    """True when pruning to ``rows`` saves time: the band is at most 3/4 of the plane."""
    if rows is None:
        return False
    start, stop = rows
    return 0 <= start < stop <= x.shape[-2] and 4 * (stop - start) <= 3 * x.shape[-2]


def _execute(entry, source: np.ndarray, target: np.ndarray) -> None:
    plan, own = entry
    plan.update_arrays(source, target)
    plan.execute()
    plan.update_arrays(*own)        # hold no reference to the caller's arrays


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
            array = self.arrays[key] = _allocate(key[0], dtype, pooled=False)
        return array


_SCRATCH = _Scratch()


def scratch(shape, dtype) -> np.ndarray:
    """A reusable aligned work array of this thread; its contents are overwritten by the
    next caller asking for the same shape, so never return it to a user."""
    return _SCRATCH.get(shape, dtype)
