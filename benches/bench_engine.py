"""Engine throughput against the FFT floor and a plain-NumPy pipeline (issues 2 and 3).

    python benches/bench_engine.py [--quick] [--out PATH] [--peers] [--peer-sizes N ...]

Every case is timed against contenders measured in the same run, on the same threads:

* ``fourf_run``: one ideal 4f frame through :meth:`opticsim.FourF.run` (intensity readout,
  complex64, an image of half the grid on each axis, a random-phase Fourier mask), for one frame
  of N² samples and for a batch of frames. The engine's first FFT skips the rows that hold
  only zero padding and, from 512², transforms the real input field by a half-size real FFT,
  so it may beat the floor of two complex FFTs; ``fourf_run_full`` (an image filling the grid,
  no target) shows the frame without the pruning;
* ``lens_ft``: :func:`opticsim.propagate.lens_ft` of an N² complex64 field (the JSON also
  gives its ratio to an out-of-place FFT, ``ratio_floor_kept``: a transform that returns a new
  field keeps its input, which the in-place floor does not);
* ``composition``: ``lens_ft → Field * mask → lens_ft`` through the public API;
* ``composition_batch``: ``lens_ft → Field * mask → lens_ft → .intensity`` on the batch, with
  :meth:`FourF.run` of the same batch beside it (``ratio_fourf_run_floor``);
* ``hardware_frame``: the full hardware frame, one :meth:`opticsim.FourF.run` of N×N float32
  images in [0, 1] with intensity readout: a 532 nm, 1 mW flat-top laser; an 8-bit amplitude
  input SLM of N×N 8 µm pixels (to_gray and pixelation every frame); two f = 0.2 m lenses; an
  8-bit phase-only Fourier SLM of pitch λf/(N·dx) (oversample 1) showing fixed gray levels (a
  random-phase mask quantised once, as a displayed mask does not change between frames, so the
  frame finds the pattern its panel holds and does not recompute it); a
  camera of N×N 8 µm pixels (the default EMVA 1288 sensor, 10 DN black level) with shot noise,
  read noise and its 12-bit ADC, exposed so that the mean pixel collects a quarter of its full
  well (a speckled output then spans the sensor's range: most pixels neither saturate nor sit
  in the dark; those below ``POISSON_EXACT_BELOW`` electrons draw exact Poisson counts, the
  slowest part of the camera). One frame at each N, and ``hardware_batch``, the batch.

The *floor* of a case is its FFTs alone: pyFFTW plans made with ``FFTW_MEASURE`` on aligned
in-place arrays (the fastest plans FFTW finds by timing; the engine's default backend is
scipy.fft, whose numbers do not depend on the process, and the ratio includes what that
costs; ``OPTICSIM_FFT=fftw`` times the engine on FFTW), with the thread count the engine uses
for that shape (one forward + one inverse transform for the 4f and hardware frames and the
composition, one forward transform for ``lens_ft``). The NumPy contender is the same pipeline written with ``numpy.fft`` and
``fftshift``/``ifftshift``, a multiply and ``abs()**2``; its result is compared with the
engine's. The hardware cases have no NumPy contender; theirs are ``ideal`` (:meth:`FourF.run`
of the same images through the same complex mask, with no SLM and no camera) and the stages of
the frame, each timed alone: ``input_slm`` (quantise, pixelate, illuminate), ``fourier_slm``
(what the frame pays for the displayed transmittance: comparing the gray levels with the
pattern the panel holds; the JSON's ``fourier_new_ms`` is that pattern computed anew, as a
new mask costs once) and ``camera`` (pixels, noise, ADC); ``other`` = frame − floor − those
stages (mask multiply, |E|², Python). A hardware case's ``engine`` is its hardware frame;
a second table lists its ideal time, its time over the engine's own FFT pair (``x pair``:
one forward and one inverse transform on the backend the engine runs, :func:`engine_pair`) and
its stages.

Each contender is warmed up, then timed in many short interleaved rounds of repeated calls;
the time reported is the smallest of the per-round medians (``x floor`` is their ratio), and
``paired`` is the median over rounds of engine/floor within a round, which cancels slow drifts
of the machine's speed. A 2-thread FFT stalls when another process takes a core, so the cores
other processes kept busy during a case are measured (``load``) and a case is rerun while that
exceeds ``--max-load``. Ratios (engine time / floor time) are the headline; absolute
milliseconds depend on the machine. The table goes to stdout and everything to a JSON file
(``bench-results/bench_engine.json`` by default), written atomically, and with ``--plot PATH``
the ratios against N to a PNG.

Peers (``--peers``, on by default, off with ``--quick``): the same ideal 4f frame — lens
Fourier transform, a random-phase mask, the inverse transform, |E|² — of an N×N image at
``--peer-sizes`` (256–2048) in each installed peer's idiomatic API: prysm, hcipy, LightPipes,
poppy, diffractsim, torchoptics, and a hand-written ``torch.fft`` 4f. None is a dependency:
each is imported when the comparison runs, and one that is absent or fails to import is
listed with the reason. The lenses have ``f = N·dx²/λ`` so that every plane has the input's
pitch and all peers hold the frame on N×N samples. Each peer is timed with the engine
(:meth:`FourF.run`) in the same interleaved rounds and reported as peer time / engine time,
with its version and ``agree``, the correlation of its all-pass frame with the input
intensity (1: it computes the ideal 4f image). A peer slower than ``PEER_CAP`` seconds a frame
is timed once and dropped at larger N. ``--clock cpu`` times the peers by the CPU time of
the calling thread instead of wall time: on a machine other jobs keep busy it barely changes
with their load, but it counts that one thread only, so every contender must run on it (one
CPU, ``OMP_NUM_THREADS=1 taskset -c 1``; refused on more CPUs).

The input SLM, the Fourier SLM and the camera run their passes on every core. pyFFTW's
OpenMP threads busy-wait after each transform, on a core those passes would use: importing
:mod:`opticsim` cuts that wait to ``opticsim.fft.SPIN_COUNT`` spins (``spin_ms`` of
``bench_fft_backends.py``: 0.25 ms of a core instead of 6.5 ms here) for the floors and the frames alike, unless ``GOMP_SPINCOUNT`` or
``OMP_WAIT_POLICY`` is set (``OMP_WAIT_POLICY=PASSIVE python benches/bench_engine.py``
measures everything with threads that sleep at once).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import opticsim
from opticsim import SLM, Camera, Field, FourF, Laser, Lens, _kernels, fft
from opticsim.camera import photon_energy
from opticsim.environment import environment
from opticsim.files import write_atomic
from opticsim.propagate import lens_ft

WAVELENGTH = 633e-9      # m
POWER = 1e-3             # W
FOCAL_LENGTH = 0.1       # m
PITCH = 8e-6             # m, also the input SLM and camera pixels of the hardware frame

# The hardware frame's own light, lenses and camera settings.
HARDWARE_WAVELENGTH = 532e-9   # m
HARDWARE_FOCAL_LENGTH = 0.2    # m
WELL_FRACTION = 0.25           # mean photo-electrons of a camera pixel / its full well
OFFSET = 10.0                  # DN

# The stages of the hardware frame timed alone.
STAGES = ("input_slm", "fourier_slm", "camera")

# Engine time / floor time to reach, and the grid side N at which the target applies.
TARGETS = {"fourf_run": (1.30, 1024), "fourf_run_batch": (1.30, None),
           "fourf_run_full": (None, None), "lens_ft": (1.25, 1024), "composition": (1.25, 1024),
           "composition_batch": (1.6, None),
           "hardware_frame": (2.5, 1024), "hardware_batch": (2.5, None)}

FULL = dict(sizes=(256, 512, 1024, 2048), batch=(16, 512), rounds=15, seconds=0.03)
QUICK = dict(sizes=(256, 1024), batch=(4, 256), rounds=3, seconds=0.02)


# --- timing -------------------------------------------------------------------------------


#: The clocks a bench may time with: wall time, or the CPU time of the calling thread, which
#: other processes' load barely changes but which counts one thread only (``--clock cpu`` needs
#: every contender on that thread: one CPU, ``OMP_NUM_THREADS=1``).
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def _median_time(call, repeats: int, clock=time.perf_counter) -> float:
    """Median time (s) of ``repeats`` calls on ``clock``."""
    times = []
    for _ in range(repeats):
        start = clock()
        call()
        times.append(clock() - start)
    return statistics.median(times)


def compare(contenders: dict, rounds: int, seconds: float, clock=time.perf_counter) -> dict:
    """Per-round median times (s) of each callable on ``clock``, ``rounds`` rounds interleaved.

    Each contender is warmed up twice, then called about ``seconds`` worth of times (once at
    least) per round; the order of the contenders rotates from round to round, and short
    rounds let a burst of load from elsewhere hit every contender alike.
    """
    repeats = {}
    for name, call in contenders.items():
        call()
        start = time.perf_counter()
        call()
        repeats[name] = max(1, min(200, int(seconds / max(time.perf_counter() - start, 1e-6))))
    medians = {name: [] for name in contenders}
    names = list(contenders)
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            medians[name].append(_median_time(contenders[name], repeats[name], clock))
    return medians


# --- contenders ---------------------------------------------------------------------------


def fftw_floor(shape, transforms: int, inplace: bool = True):
    """A callable running ``transforms`` planned in-place FFTW transforms (alternately forward
    and inverse) over the last two axes of a ``shape`` complex64 array, as the engine would
    thread them; with ``inplace=False`` each reads one array and writes another (the input
    kept, as a function returning a new field must)."""
    pyfftw = fft.load_pyfftw()

    data = pyfftw.empty_aligned(shape, np.complex64)
    target = data if inplace else pyfftw.empty_aligned(shape, np.complex64)
    threads = fft.plan_threads(shape)
    plans = [pyfftw.FFTW(data, target, axes=(-2, -1), direction=direction,
                         flags=("FFTW_MEASURE",), threads=threads)
             for direction in ("FFTW_FORWARD", "FFTW_BACKWARD")]
    # Planning with FFTW_MEASURE overwrites the arrays; zeros keep repeated unnormalised
    # transforms finite (FFT time does not depend on the values).
    data.fill(0)
    steps = [plans[i % 2].execute for i in range(transforms)]

    def run():
        for step in steps:
            step()
    return run


def engine_pair(shape):
    """A callable running one forward and one inverse in-place transform of a ``shape``
    complex64 array on the engine's own FFT backend (:func:`opticsim.fft.backend`, the
    deterministic one the rule picks unless ``OPTICSIM_FFT`` says otherwise): the FFTs a 4f
    frame cannot do without, the denominator of a hardware frame's ``ratio_pair``."""
    data = fft.zeros(shape, np.complex64)

    def run():
        fft.fft2(data, out=data)
        fft.fft2(data, inverse=True, out=data)
    return run


def _centred_fft(data: np.ndarray) -> np.ndarray:
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(data, axes=axes), axes=axes), axes=axes)


def numpy_fourf(system: FourF, images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ideal 4f intensity frame in plain NumPy: place, FFT, mask, FFT, |E|²."""
    ny, nx = system.shape
    batch, h, w = images.shape
    oy, ox = (ny - h) // 2, (nx - w) // 2
    illumination = system.laser.amplitude(system.shape, system.pitch).astype(np.float32)
    field = np.zeros((batch, ny, nx), np.complex64)
    field[:, oy:oy + h, ox:ox + w] = images * illumination[oy:oy + h, ox:ox + w]
    dy, dx = system.pitch
    f1, f2 = system.lens1.focal_length, system.lens2.focal_length
    spectrum = _centred_fft(field) * np.complex64(dy * dx / (1j * WAVELENGTH * f1))
    spectrum *= mask
    fy, fx = system.fourier_pitch
    output = _centred_fft(spectrum) * np.complex64(fy * fx / (1j * WAVELENGTH * f2))
    return np.abs(output) ** 2


def numpy_lens_ft(data: np.ndarray, pitch: float = PITCH) -> np.ndarray:
    """``lens_ft`` in plain NumPy (centred FFT times dx·dy/(iλf)) of samples at ``pitch``."""
    return _centred_fft(data) * np.complex64(pitch * pitch / (1j * WAVELENGTH * FOCAL_LENGTH))


def _relative_error(result: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(result - reference) / np.linalg.norm(reference))


def _fastest(medians: dict) -> dict:
    """The smallest per-round median (s) of each contender of :func:`compare`."""
    return {name: min(values) for name, values in medians.items()}


def _versus_numpy(medians: dict, error: float) -> dict:
    """The NumPy columns of a row: NumPy's time (ms), engine/NumPy and the relative error of
    the engine's result against NumPy's."""
    times = _fastest(medians)
    return dict(numpy_ms=1e3 * times["numpy"], ratio_numpy=times["engine"] / times["numpy"],
                relative_error=error)


# --- cases --------------------------------------------------------------------------------


def _system(n: int) -> FourF:
    return FourF(Laser(WAVELENGTH, POWER), Lens(FOCAL_LENGTH), Lens(FOCAL_LENGTH), (n, n), PITCH)


def _phase_mask(rng, n: int) -> np.ndarray:
    return np.exp(2j * np.pi * rng.random((n, n))).astype(np.complex64)


def bench_fourf(batch: int, n: int, rounds: int, seconds: float, rng, image: int = 0) -> dict:
    """The 4f cases; ``image`` is the image side (default n // 2: zero padding for a linear
    convolution)."""
    system = _system(n)
    side = image or n // 2
    images = rng.random((batch, side, side), dtype=np.float32)
    mask = _phase_mask(rng, n)
    frames = images if batch > 1 else images[0]
    times = compare({
        "engine": lambda: system.run(frames, mask),
        "floor": fftw_floor((batch, n, n), 2),
        "numpy": lambda: numpy_fourf(system, images, mask),
    }, rounds, seconds)
    error = _relative_error(system.run(images, mask), numpy_fourf(system, images, mask))
    return dict(times=times, details=_versus_numpy(times, error))


def bench_lens_ft(n: int, rounds: int, seconds: float, rng) -> dict:
    data = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    field = Field(data, PITCH, WAVELENGTH)
    times = compare({
        "engine": lambda: lens_ft(field, FOCAL_LENGTH),
        "floor": fftw_floor((n, n), 1),
        "floor_kept": fftw_floor((n, n), 1, inplace=False),
        "numpy": lambda: numpy_lens_ft(data),
    }, rounds, seconds)
    error = _relative_error(lens_ft(field, FOCAL_LENGTH).data, numpy_lens_ft(data))
    fastest = _fastest(times)
    return dict(times=times, details=dict(
        _versus_numpy(times, error), floor_kept_ms=1e3 * fastest["floor_kept"],
        ratio_floor_kept=fastest["engine"] / fastest["floor_kept"]))


def bench_composition(n: int, rounds: int, seconds: float, rng) -> dict:
    data = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    field = Field(data, PITCH, WAVELENGTH)
    mask = _phase_mask(rng, n)

    def engine():
        return lens_ft(lens_ft(field, FOCAL_LENGTH) * mask, FOCAL_LENGTH)

    def numpy():
        return numpy_lens_ft(numpy_lens_ft(data) * mask, WAVELENGTH * FOCAL_LENGTH / (n * PITCH))

    times = compare({"engine": engine, "floor": fftw_floor((n, n), 2), "numpy": numpy},
                    rounds, seconds)
    return dict(times=times, details=_versus_numpy(times, _relative_error(engine().data, numpy())))


def bench_composition_batch(batch: int, n: int, rounds: int, seconds: float, rng) -> dict:
    """A user's 4f frame through the public API on a batch: ``lens_ft → Field * mask →
    lens_ft → .intensity`` of ``batch`` N² complex64 fields, against the FFT pair and against
    :meth:`FourF.run` of the same batch (amplitude images filling the grid, same mask); the
    two frames agree up to the 4f inversion (checked: ``relative_error``)."""
    system = _system(n)
    images = rng.random((batch, n, n), dtype=np.float32)
    field = system.input_field(images)
    mask = _phase_mask(rng, n)

    def engine():
        return lens_ft(lens_ft(field, FOCAL_LENGTH) * mask, FOCAL_LENGTH).intensity

    times = compare({"engine": engine, "floor": fftw_floor((batch, n, n), 2),
                     "fourf_run": lambda: system.run(images, mask)}, rounds, seconds)
    fastest = _fastest(times)
    error = _relative_error(system.upright(engine()), system.upright(system.run(images, mask)))
    return dict(times=times, details=dict(
        fourf_run_ms=1e3 * fastest["fourf_run"], relative_error=error,
        ratio_fourf_run_floor=fastest["fourf_run"] / fastest["floor"]))


def hardware_system(n: int) -> FourF:
    """The hardware cases' 4f system on an N×N grid (see the module docstring); each run
    passes its own exposure."""
    fourier_pitch = HARDWARE_WAVELENGTH * HARDWARE_FOCAL_LENGTH / (n * PITCH)      # m
    return FourF(Laser(HARDWARE_WAVELENGTH, POWER), Lens(HARDWARE_FOCAL_LENGTH),
                 Lens(HARDWARE_FOCAL_LENGTH),
                 input_slm=SLM((n, n), PITCH, mode="amplitude", bits=8),
                 fourier_slm=SLM((n, n), fourier_pitch, mode="phase", bits=8),
                 camera=Camera((n, n), (PITCH, PITCH), exposure=1e-6, offset=OFFSET))


def hardware_setup() -> dict:
    """The hardware system's settings, for the JSON (SI units; offset in DN)."""
    return dict(wavelength=HARDWARE_WAVELENGTH, power=POWER, focal_length=HARDWARE_FOCAL_LENGTH,
                pitch=PITCH, well_fraction=WELL_FRACTION, offset=OFFSET,
                input_slm="amplitude, 8 bits",
                fourier_slm="phase, 8 bits, oversample 1, fixed gray levels",
                camera="default EMVA 1288 sensor, 12 bits",
                poisson_exact_below=_kernels.POISSON_EXACT_BELOW)


def _hardware_details(medians: dict, electrons: np.ndarray, exposure: float) -> dict:
    """The hardware columns of a row: the ideal frame's time (ms), hardware/ideal, the engine's
    own FFT pair (ms, :func:`engine_pair`) and hardware/pair, a new Fourier-SLM pattern's time
    (ms), the stages (ms; ``ffts`` is the floor, ``other`` the rest of the frame), the exposure
    (s), the median photo-electrons of a camera pixel and the fraction of pixels that draw
    exact Poisson counts."""
    times = {name: 1e3 * value for name, value in _fastest(medians).items()}
    stages = {name: times[name] for name in STAGES}
    stages["ffts"] = times["floor"]
    stages["other"] = times["engine"] - sum(stages.values())
    return dict(ideal_ms=times["ideal"], ratio_ideal=times["engine"] / times["ideal"],
                pair_ms=times["pair"], ratio_pair=times["engine"] / times["pair"],
                fourier_new_ms=times["fourier_new"],
                stages_ms=stages, exposure=exposure, median_electrons=float(np.median(electrons)),
                exact_poisson_fraction=float(np.mean(electrons < _kernels.POISSON_EXACT_BELOW)))


def bench_hardware(batch: int, n: int, rounds: int, seconds: float, rng) -> dict:
    """The hardware frame of ``batch`` N×N images (``engine``) against its floor, the ideal
    frame and its own stages."""
    system = hardware_system(n)
    ideal = FourF(system.laser, system.lens1, system.lens2, system.shape, system.pitch)
    images = rng.random((batch, n, n), dtype=np.float32)
    frames = images if batch > 1 else images[0]
    gray = system.fourier_gray(np.exp(2j * np.pi * rng.random((n, n))))
    mask = system.fourier_transmittance(gray=gray)
    illumination = system.laser.amplitude(system.shape, system.pitch).astype(np.complex64)
    field = fft.empty(images.shape, np.complex64)
    irradiance = system.irradiance(images, mask[None])                          # W/m²
    camera = system.camera
    photons = PITCH * PITCH / photon_energy(HARDWARE_WAVELENGTH)      # per (W/m²)·s
    exposure = WELL_FRACTION * camera.full_well / (camera.qe * float(irradiance.mean()) * photons)
    times = compare({
        "engine": lambda: system.run(frames, gray=gray, rng=1, exposure=exposure),
        "floor": fftw_floor(images.shape, 2),
        "pair": engine_pair(images.shape),
        "ideal": lambda: ideal.run(frames, mask),
        "input_slm": lambda: system.input_slm.encode(images, illumination, system.pitch,
                                                     HARDWARE_WAVELENGTH, out=field),
        "fourier_slm": lambda: system._displayed(None, gray[None]),      # the panel holds it
        "fourier_new": lambda: system.fourier_transmittance(gray=gray),
        # what run() calls: capture_irradiance without its validation pass
        "camera": lambda: camera._capture_trusted(irradiance, system.output_pitch,
                                                  HARDWARE_WAVELENGTH, exposure, rng=1),
    }, rounds, seconds)
    electrons = camera.qe * irradiance * (photons * exposure)
    return dict(times=times, details=_hardware_details(times, electrons, exposure))


def _row(case: str, shape, outcome: dict, load) -> dict:
    """The result row of a case: engine and floor times (ms), their ratios, the target, the
    case's own columns (``outcome["details"]``) and the background load (cores)."""
    medians = outcome["times"]
    times = _fastest(medians)
    paired = statistics.median(e / f for e, f in zip(medians["engine"], medians["floor"]))
    target, at = TARGETS[case]
    applies = target is not None and (at is None or shape[-1] == at)
    ratio = times["engine"] / times["floor"]
    return dict(case=case, shape=list(shape), engine_ms=1e3 * times["engine"],
                floor_ms=1e3 * times["floor"], ratio_floor=ratio, ratio_floor_paired=paired,
                target=target if applies else None,
                meets_target=bool(ratio <= target) if applies else None,
                **outcome["details"], background_load=load)


def _cpu_seconds():
    """(wall s, busy CPU-seconds of the whole machine, CPU-seconds of this process), or
    None where /proc/stat is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return None
    own = os.times()
    busy = sum(ticks) - ticks[3] - ticks[4]                 # all but idle and iowait
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def _measured(case: str, shape, bench, retries: int, max_load: float) -> dict:
    """The row of ``bench()``, rerun up to ``retries`` times while other processes kept more
    than ``max_load`` cores busy (a 2-thread FFT stalls when a core is taken); the run with
    the least such load is kept."""
    best = None
    for _ in range(retries + 1):
        before = _cpu_seconds()
        outcome = bench()
        after = _cpu_seconds()
        load = None if before is None else max(0.0, (
            after[1] - before[1] - (after[2] - before[2])) / (after[0] - before[0]))
        row = _row(case, shape, outcome, load)
        if best is None or (load is not None and load < best["background_load"]):
            best = row
        if load is None or load <= max_load:
            break
    return best


def run_all(sizes, batch, rounds: int, seconds: float, seed: int = 0, retries: int = 2,
            max_load: float = 0.2) -> list[dict]:
    """Every case at every size; one result row each."""
    rng = np.random.default_rng(seed)
    count, side = batch
    cases = [("fourf_run", (1, n, n), lambda n=n: bench_fourf(1, n, rounds, seconds, rng))
             for n in sizes]
    cases.append(("fourf_run_batch", (count, side, side),
                  lambda: bench_fourf(count, side, rounds, seconds, rng)))
    cases += [("fourf_run_full", (1, n, n), lambda n=n: bench_fourf(1, n, rounds, seconds, rng, n))
              for n in sizes]
    cases += [("lens_ft", (1, n, n), lambda n=n: bench_lens_ft(n, rounds, seconds, rng))
              for n in sizes]
    cases += [("composition", (1, n, n), lambda n=n: bench_composition(n, rounds, seconds, rng))
              for n in sizes]
    cases.append(("composition_batch", (count, side, side),
                  lambda: bench_composition_batch(count, side, rounds, seconds, rng)))
    cases += [("hardware_frame", (1, n, n), lambda n=n: bench_hardware(1, n, rounds, seconds, rng))
              for n in sizes]
    cases.append(("hardware_batch", (count, side, side),
                  lambda: bench_hardware(count, side, rounds, seconds, rng)))
    return [_measured(case, shape, bench, retries, max_load) for case, shape, bench in cases]


# --- peers (issue 9): the same ideal 4f frame in other simulators ---------------------------

PEERS = ("prysm", "hcipy", "LightPipes", "poppy", "diffractsim", "torchoptics", "torch_fft")
PEER_SIZES = (256, 512, 1024, 2048)
PEER_CAP = 5.0          # s: a peer slower than this for one frame skips the larger sizes


def peer_focal_length(n: int) -> float:
    """The peers' lens focal length (m) at N: ``N·dx²/λ``, so that the Fourier-plane pitch
    ``λf/(N·dx)`` equals the input pitch ``dx`` and every simulator holds the whole frame
    (input, Fourier plane, output) on N×N samples of one pitch, with no resampling."""
    return n * PITCH ** 2 / WAVELENGTH


def _prysm(n, image, mask):
    from prysm.propagation import Wavefront

    f, dx_mm = peer_focal_length(n) * 1e3, PITCH * 1e3       # prysm works in mm and µm

    wavelength = WAVELENGTH * 1e6

    def run():
        focused = Wavefront(image.astype(np.complex128), wavelength, dx_mm).focus(f, Q=1)
        masked = Wavefront(focused.data * mask, wavelength, focused.dx, space="psf")
        return masked.unfocus(f, Q=1).intensity.data
    return run


def _hcipy(n, image, mask):
    import hcipy

    pupil = hcipy.make_pupil_grid(n, n * PITCH)
    lens = hcipy.FraunhoferPropagator(pupil, pupil, peer_focal_length(n))
    field, flat_mask = hcipy.Field(image.ravel().astype(complex), pupil), mask.ravel()

    def run():
        spectrum = lens(hcipy.Wavefront(field, WAVELENGTH))
        spectrum.electric_field *= flat_mask
        return lens.backward(spectrum).power.shaped
    return run


def _lightpipes(n, image, mask):
    import LightPipes as lp

    intensity, phase = image ** 2, np.angle(mask)       # the peers' masks are phase-only

    def run():
        field = lp.SubIntensity(lp.Begin(n * PITCH, WAVELENGTH, n), intensity)
        field = lp.PipFFT(lp.MultPhase(lp.PipFFT(field), phase), -1)
        return lp.Intensity(field)
    return run


def _poppy(n, image, mask):
    import astropy.units as u
    import poppy

    system = poppy.OpticalSystem(oversample=1, npix=n, pupil_diameter=n * PITCH * u.m)
    system.add_pupil(poppy.ArrayOpticalElement(transmission=image, name="image",
                                               pixelscale=PITCH * u.m / u.pixel))
    system.add_image(poppy.ArrayOpticalElement(opd=np.angle(mask) * WAVELENGTH / (2 * np.pi),
                                               name="Fourier mask"))
    system.add_pupil(poppy.ScalarTransmission(name="output"))

    def run():
        return system.propagate(system.input_wavefront(WAVELENGTH * u.m)).intensity
    return run


def _diffractsim(n, image, mask):
    import diffractsim

    f = peer_focal_length(n)
    side = n * PITCH
    window = [-side / 2, side / 2 - PITCH]               # n samples of pitch PITCH

    def run():
        field = diffractsim.MonochromaticField(wavelength=WAVELENGTH, extent_x=side,
                                               extent_y=side, Nx=n, Ny=n)
        field.E = image.astype(np.complex128)
        field.propagate_to_lens_focal_plane(f, window, window)
        # its lens sits at the object, so the Fourier plane carries exp(iπr²/λf); a 4f with
        # the object one focal length before the lens has none: cancel it with the mask
        chirp = np.exp(-1j * np.pi / (WAVELENGTH * f) * (field.xx ** 2 + field.yy ** 2))
        field.E = field.E * mask * chirp
        field.propagate_to_lens_focal_plane(f, window, window)
        return field.get_intensity()
    return run


def _torchoptics(n, image, mask):
    import torch
    import torchoptics
    from torchoptics.elements import Lens as PeerLens, Modulator

    f = peer_focal_length(n)
    system = torchoptics.System(
        PeerLens(n, f, z=f, spacing=PITCH),
        Modulator(torch.as_tensor(mask, dtype=torch.complex64), z=2 * f, spacing=PITCH),
        PeerLens(n, f, z=3 * f, spacing=PITCH))
    field = torchoptics.Field(torch.as_tensor(image, dtype=torch.complex64),
                              wavelength=WAVELENGTH, spacing=PITCH)

    def run():
        with torch.no_grad():
            return system.measure_at_z(field, 4 * f).intensity().numpy()
    return run


def _torch_fft(n, image, mask):
    import torch

    field = torch.as_tensor(image, dtype=torch.complex64)
    transfer = torch.fft.ifftshift(torch.as_tensor(mask))       # centred mask, shifted once

    def run():
        output = torch.fft.ifft2(torch.fft.fft2(field) * transfer)
        return (output.real ** 2 + output.imag ** 2).numpy()
    return run


PEER_FRAMES = {"prysm": _prysm, "hcipy": _hcipy, "LightPipes": _lightpipes, "poppy": _poppy,
               "diffractsim": _diffractsim, "torchoptics": _torchoptics, "torch_fft": _torch_fft}


def peer_versions() -> tuple[dict, dict]:
    """({peer: version} of the peers that import, {peer: why not} of the others)."""
    import importlib
    import importlib.metadata

    found, missing = {}, {}
    for peer in PEERS:
        module = "torch" if peer == "torch_fft" else peer
        try:
            importlib.import_module(module)
            found[peer] = importlib.metadata.version(module)
        except Exception as error:                  # absent, or broken by its dependencies
            missing[peer] = f"{type(error).__name__}: {error}"
    return found, missing


def _agreement(output: np.ndarray, image: np.ndarray) -> float:
    """Correlation of a frame through an all-pass mask with the input intensity, upright or
    inverted (1 when the peer computes the ideal 4f image)."""
    output = np.asarray(output, dtype=float).ravel()
    reference = image ** 2
    flips = (reference, reference[::-1, ::-1], np.roll(reference[::-1, ::-1], (1, 1), (0, 1)))
    return max(float(np.corrcoef(output, flip.ravel())[0, 1]) for flip in flips)


def bench_peers(sizes, rounds: int, seconds: float, rng, clock=time.perf_counter) -> dict:
    """Each installed peer's 4f frame (lens FT, phase mask, inverse, |E|², complex128 unless
    the peer chooses) against :meth:`FourF.run` of the same N×N image and mask, timed in the
    same interleaved rounds: ``ratio`` = peer time / engine time. ``agreement`` checks that a
    peer computes the same frame (see :func:`_agreement`)."""
    import warnings

    found, missing = peer_versions()
    rows, capped = [], {}
    for n in sizes:
        image = np.zeros((n, n))
        quarter = n // 4
        image[quarter:quarter + n // 2, quarter:quarter + n // 2] = rng.random((n // 2, n // 2))
        mask = _phase_mask(rng, n)
        system = FourF(Laser(WAVELENGTH, POWER), Lens(peer_focal_length(n)),
                       Lens(peer_focal_length(n)), (n, n), PITCH)
        frame = image.astype(np.float32)
        contenders = {"engine": lambda: system.run(frame, mask)}
        agreement, slow = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for peer in found:
                if peer in capped:                  # too slow at a smaller N
                    continue
                agreement[peer] = _agreement(PEER_FRAMES[peer](n, image, np.ones((n, n)))(),
                                             image)
                run = PEER_FRAMES[peer](n, image, mask)
                start = time.perf_counter()
                run()
                single = time.perf_counter() - start
                if single > PEER_CAP:               # one call only, and no larger sizes
                    capped[peer] = f"one frame took {single:.1f} s at N = {n}"
                    slow[peer] = single
                else:
                    contenders[peer] = run
            times = {**_fastest(compare(contenders, rounds, seconds, clock)), **slow}
        for peer in times:
            if peer != "engine":
                rows.append(dict(peer=peer, n=n, peer_ms=1e3 * times[peer],
                                 engine_ms=1e3 * times["engine"],
                                 ratio=times[peer] / times["engine"],
                                 agreement=agreement[peer]))
    return dict(versions=found, missing=missing, capped=capped, rows=rows,
                frame=dict(wavelength=WAVELENGTH, pitch=PITCH, focal_length="N·pitch²/λ",
                           image="random amplitudes on the central N/2 × N/2",
                           mask="random phase, N × N"))


def peer_table(peers: dict) -> str:
    """The peers as fixed-width text: each peer's time and its ratio to the engine, per N."""
    sizes = sorted({row["n"] for row in peers["rows"]})
    names = list(dict.fromkeys(row["peer"] for row in peers["rows"]))
    cells = {(row["peer"], row["n"]): row for row in peers["rows"]}
    lines = [f"{'peer':<13}{'version':>10}{'agree':>7}"
             + "".join(f"{f'{n} ms':>11}{'x eng':>9}" for n in sizes)]
    for name in names:
        line = (f"{name:<13}{peers['versions'][name]:>10}"
                f"{min(r['agreement'] for r in peers['rows'] if r['peer'] == name):>7.3f}")
        for n in sizes:
            row = cells.get((name, n))
            line += (f"{row['peer_ms']:>11.2f}{row['ratio']:>9.2f}" if row else " " * 20)
        lines.append(line)
    engine = {row["n"]: row["engine_ms"] for row in peers["rows"]}
    lines.append(f"{'engine':<13}{opticsim.__version__:>10}{'':>7}"
                 + "".join(f"{engine[n]:>11.2f}{1:>9.2f}" for n in sizes))
    lines += [f"not run: {peer} ({why})" for peer, why in
              {**peers["missing"], **peers["capped"]}.items()]
    return "\n".join(lines)



# --- report -------------------------------------------------------------------------------


def _shape(row: dict) -> str:
    return "x".join(str(s) for s in row["shape"])


def _line(row: dict) -> str:
    """A row of the main table (ms and ratios); a case without a NumPy contender leaves its
    columns blank."""
    target = "" if row["target"] is None else (
        f"{'<=' if row['meets_target'] else '>'}{row['target']:.2f}")
    load = "" if row["background_load"] is None else f"{row['background_load']:.2f}"
    numpy = (f"{row['numpy_ms']:>10.3f}{row['ratio_numpy']:>9.3f}" if "numpy_ms" in row
             else " " * 19)
    return (f"{row['case']:<16}{_shape(row):>16}{row['engine_ms']:>11.3f}"
            f"{row['floor_ms']:>10.3f}{row['ratio_floor']:>9.3f}"
            f"{row['ratio_floor_paired']:>8.3f}{target:>8}{numpy}{load:>6}")


def _stage_line(row: dict) -> str:
    """A row of the hardware table: the ideal frame (ms), hardware/ideal and the stages (ms)."""
    stages = "".join(f"{value:>11.3f}" for value in row["stages_ms"].values())
    return (f"{row['case']:<16}{_shape(row):>16}{row['ideal_ms']:>11.3f}"
            f"{row['ratio_ideal']:>9.3f}{row['pair_ms']:>10.3f}{row['ratio_pair']:>8.3f}{stages}")


def table(rows: list[dict]) -> str:
    """The results as fixed-width text: every case against its floor, then the hardware
    frames' ideal time and stages."""
    lines = [(f"{'case':<16}{'shape':>16}{'engine ms':>11}{'floor ms':>10}{'x floor':>9}"
              f"{'paired':>8}{'target':>8}{'numpy ms':>10}{'x numpy':>9}{'load':>6}")]
    lines += [_line(row) for row in rows]
    hardware = [row for row in rows if "stages_ms" in row]
    if hardware:
        stages = "".join(f"{name.split('_')[0] + ' ms':>11}" for name in hardware[0]["stages_ms"])
        lines += ["", f"{'case':<16}{'shape':>16}{'ideal ms':>11}{'x ideal':>9}"
                      f"{'pair ms':>10}{'x pair':>8}{stages}"]
        lines += [_stage_line(row) for row in hardware]
    return "\n".join(lines)


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` to ``path`` atomically, with the user's umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())


def plot(path: Path, rows: list[dict]) -> None:
    """Engine time / floor time against N for each single-frame case, targets dashed, written
    atomically to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for case in dict.fromkeys(row["case"] for row in rows if row["shape"][0] == 1):
        points = [(row["shape"][-1], row["ratio_floor"]) for row in rows
                  if row["case"] == case and row["shape"][0] == 1]
        line, = axes.plot(*zip(*points), "o-", label=case)
        target, at = TARGETS[case]
        if target is not None:
            axes.plot([at], [target], "_", markersize=16, color=line.get_color())
    axes.axhline(1.0, color="gray", linewidth=0.8)
    axes.set(xscale="log", yscale="log", xlabel="grid side N (N² samples)",
             ylabel="time / FFT floor", title="opticsim against the pyFFTW floor (bars: targets)")
    axes.set_xticks(sorted({row["shape"][-1] for row in rows}))
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_yticks([1, 1.25, 1.5, 2, 3, 5, 10])
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())


def _batch(text: str) -> tuple[int, int]:
    count, _, n = text.partition("x")
    return int(count), int(n)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds (smoke test)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_engine.json"),
                        help="JSON output file (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", help="grid sides N of the N² cases")
    parser.add_argument("--batch", type=_batch, help="batched 4f case as COUNTxN, e.g. 16x512")
    parser.add_argument("--rounds", type=int, help="interleaved timing rounds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--max-load", type=float, default=0.2,
                        help="rerun a case while other processes kept more cores than this "
                             "busy (default: %(default)s)")
    parser.add_argument("--retries", type=int, help="reruns of a loaded case (default 2, "
                        "0 with --quick)")
    parser.add_argument("--plot", type=Path, help="also plot the ratios to this PNG file")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction,
                        help="time the installed peer simulators' 4f frame against the engine "
                        "(default: on, off with --quick)")
    parser.add_argument("--peer-sizes", type=int, nargs="+", default=PEER_SIZES,
                        help="grid sides N of the peer comparison (default: %(default)s)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="time the peers by wall time or by this thread's CPU time (cpu: "
                             "one CPU and one thread only, e.g. OMP_NUM_THREADS=1 taskset -c 1; "
                             "default: %(default)s)")
    args = parser.parse_args(argv)
    if args.clock == "cpu" and fft.threads() > 1:
        parser.error("--clock cpu counts one thread: run on one CPU (taskset -c 1)")
    try:
        fft.load_pyfftw()                           # the floor's FFTs
    except ValueError:
        parser.error("the FFT floor needs pyFFTW, which is not installed")
    settings = dict(QUICK if args.quick else FULL)
    sizes = tuple(args.sizes) if args.sizes else settings["sizes"]
    batch = args.batch or settings["batch"]
    rounds = args.rounds or settings["rounds"]
    retries = args.retries if args.retries is not None else (0 if args.quick else 2)
    rows = run_all(sizes, batch, rounds, settings["seconds"], args.seed, retries, args.max_load)
    document = dict(benchmark="engine", quick=args.quick,
                    command=" ".join(["python", "benches/bench_engine.py"] + list(argv or [])),
                    environment=environment(), hardware_setup=hardware_setup(),
                    targets={case: dict(ratio=ratio, n=n) for case, (ratio, n) in TARGETS.items()},
                    timing=dict(rounds=rounds, seconds_per_round=settings["seconds"],
                                statistic="min over rounds of the median of repeated calls",
                                paired="median over rounds of engine/floor in the same round",
                                retries=retries, max_load=args.max_load,
                                background_load="cores kept busy by other processes"),
                    results=rows)
    print(table(rows))
    if args.peers if args.peers is not None else not args.quick:
        peers = bench_peers(args.peer_sizes, rounds, settings["seconds"],
                            np.random.default_rng(args.seed), CLOCKS[args.clock])
        peers["clock"] = args.clock
        document["peers"] = peers
        print()
        print(peer_table(peers))
    write_json(args.out, document)
    print(f"wrote {args.out}")
    if args.plot is not None:
        plot(args.plot, rows)
        print(f"wrote {args.plot}")
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
