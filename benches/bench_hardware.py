"""Throughput of the full hardware 4f frame against the FFT floor (issue 3, item 5).

    python benches/bench_hardware.py [--quick] [--out PATH]

The *hardware frame* is one :meth:`opticsim.FourF.run` of N×N float32 images in [0, 1]:
a 532 nm, 1 mW flat-top laser; an 8-bit amplitude input SLM of N×N 8 µm pixels (to_gray and
pixelation every frame); two f = 0.2 m lenses; an 8-bit phase-only Fourier SLM of pitch
λf/(N·dx) (oversample 1) showing fixed gray levels (a random-phase mask quantised once, as a
displayed mask does not change between frames); a camera of N×N 8 µm pixels (the default
EMVA 1288 sensor, 0.1 ms exposure, 10 DN black level) with shot noise, read noise and its
12-bit ADC. Cases: one frame at each N, and a batch of frames.

Contenders, timed in the same run on the same threads: ``hardware`` (that frame), ``floor``
(one forward and one inverse planned in-place pyFFTW FFT of the same shape, FFTW_MEASURE,
the engine's threads), ``ideal`` (:meth:`FourF.run` of the same images through the same
complex mask with no SLM and no camera), and the stages of the hardware frame: ``input_slm``
(quantise, pixelate, illuminate), ``fourier_slm`` (the displayed transmittance) and
``camera`` (pixels, noise, ADC); ``other`` = hardware − floor − those stages (mask multiply,
|E|², Python).

Each contender is warmed up, then timed in interleaved rounds of repeated calls; the time
reported is the smallest of the per-round medians. A case is rerun while other processes kept
a core busy. The table goes to stdout and everything to a JSON file (default
``bench-results/bench_hardware.json``), written atomically.

The input SLM, the Fourier SLM and the camera run their passes on every core, but pyFFTW's
OpenMP threads busy-wait for milliseconds after each transform and so hold a core the passes
after an FFT would use; ``OMP_WAIT_POLICY=PASSIVE python benches/bench_hardware.py`` measures
the frame (and the floor) with waiting threads that sleep instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import opticsim
from opticsim import SLM, Camera, FourF, Laser, Lens, _kernels, fft
from opticsim.camera import photon_energy

WAVELENGTH = 532e-9      # m
POWER = 1e-3             # W
FOCAL_LENGTH = 0.2       # m
PITCH = 8e-6             # m, input SLM and camera pixels
EXPOSURE = 1e-4          # s
OFFSET = 10.0            # DN

# Hardware time / floor time to reach, for single frames of this side N and for the batch.
TARGET, TARGET_SIDE = 2.0, 1024

FULL = dict(sizes=(256, 512, 1024, 2048), batch=(16, 512), rounds=7, seconds=0.15)
QUICK = dict(sizes=(256, 1024), batch=(4, 256), rounds=3, seconds=0.04)
STAGES = ("input_slm", "fourier_slm", "camera")


# --- timing -------------------------------------------------------------------------------


def _median_time(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(contenders: dict, rounds: int, seconds: float) -> dict:
    """Smallest per-round median time (s) of each callable: each is warmed up twice, then
    called about ``seconds`` worth of times (3 at least) per round, in an order that rotates
    from round to round."""
    repeats = {}
    for name, call in contenders.items():
        call()
        start = time.perf_counter()
        call()
        repeats[name] = max(3, min(200, int(seconds / max(time.perf_counter() - start, 1e-6))))
    best = dict.fromkeys(contenders, np.inf)
    names = list(contenders)
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            best[name] = min(best[name], _median_time(contenders[name], repeats[name]))
    return best


def fftw_floor(shape):
    """One forward and one inverse planned in-place FFTW transform of a complex64 array."""
    import pyfftw

    data = pyfftw.empty_aligned(shape, np.complex64)
    plans = [pyfftw.FFTW(data, data, axes=(-2, -1), direction=direction,
                         flags=("FFTW_MEASURE",), threads=fft.plan_threads(shape))
             for direction in ("FFTW_FORWARD", "FFTW_BACKWARD")]
    data.fill(0)                  # planning overwrote it; FFT time does not depend on values

    def run():
        plans[0].execute()
        plans[1].execute()
    return run


# --- the frame ----------------------------------------------------------------------------


def hardware_system(n: int) -> FourF:
    """The bench's 4f system on an N×N grid (see the module docstring)."""
    fourier_pitch = WAVELENGTH * FOCAL_LENGTH / (n * PITCH)
    return FourF(Laser(WAVELENGTH, POWER), Lens(FOCAL_LENGTH), Lens(FOCAL_LENGTH),
                 input_slm=SLM((n, n), PITCH, mode="amplitude", bits=8),
                 fourier_slm=SLM((n, n), fourier_pitch, mode="phase", bits=8),
                 camera=Camera((n, n), (PITCH, PITCH), exposure=EXPOSURE, offset=OFFSET))


def bench_frame(batch: int, n: int, rounds: int, seconds: float, rng) -> dict:
    system = hardware_system(n)
    ideal = FourF(system.laser, system.lens1, system.lens2, system.shape, system.pitch)
    images = rng.random((batch, n, n), dtype=np.float32)
    frames = images if batch > 1 else images[0]
    gray = system.fourier_gray(np.exp(2j * np.pi * rng.random((n, n))))
    mask = system.fourier_transmittance(gray=gray)
    illumination = system.laser.amplitude(system.shape, system.pitch).astype(np.complex64)
    field = fft.empty(images.shape, np.complex64)
    irradiance = system.irradiance(images, mask[None])
    times = compare({
        "hardware": lambda: system.run(frames, gray=gray, rng=1),
        "floor": fftw_floor(images.shape),
        "ideal": lambda: ideal.run(frames, mask),
        "input_slm": lambda: system.input_slm.encode(images, illumination, system.pitch,
                                                     WAVELENGTH, out=field),
        "fourier_slm": lambda: system.fourier_transmittance(gray=gray),
        # what run() calls: capture_irradiance without its validation pass
        "camera": lambda: system.camera._capture_trusted(irradiance, system.output_pitch,
                                                         WAVELENGTH, rng=1),
    }, rounds, seconds)
    camera = system.camera
    electrons = camera.qe * irradiance * (PITCH * PITCH * EXPOSURE / photon_energy(WAVELENGTH))
    return dict(times=times, electrons=electrons)


# --- rows ---------------------------------------------------------------------------------


def _cpu_seconds():
    """(wall s, busy CPU-seconds of the machine, CPU-seconds of this process), or None
    where /proc/stat is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return None
    own = os.times()
    busy = sum(ticks) - ticks[3] - ticks[4]                 # all but idle and iowait
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def _row(case: str, shape, outcome: dict, load) -> dict:
    times = {name: 1e3 * value for name, value in outcome["times"].items()}
    stages = {name: times[name] for name in STAGES}
    stages["ffts"] = times["floor"]
    stages["other"] = times["hardware"] - sum(stages.values())
    ratio = times["hardware"] / times["floor"]
    applies = case == "hardware_batch" or shape[-1] == TARGET_SIDE
    electrons = outcome["electrons"]
    return dict(case=case, shape=list(shape), hardware_ms=times["hardware"],
                floor_ms=times["floor"], ideal_ms=times["ideal"], ratio_floor=ratio,
                ratio_ideal=times["hardware"] / times["ideal"], stages_ms=stages,
                target=TARGET if applies else None,
                meets_target=bool(ratio <= TARGET) if applies else None,
                median_electrons=float(np.median(electrons)),
                exact_poisson_fraction=float(np.mean(electrons < _kernels.POISSON_EXACT_BELOW)),
                background_load=load)


def _measured(case: str, shape, bench, retries: int, max_load: float) -> dict:
    """The row of ``bench()``, rerun up to ``retries`` times while other processes kept more
    than ``max_load`` cores busy; the run with the least such load is kept."""
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
    """One frame at every size, then the batch; one result row each."""
    rng = np.random.default_rng(seed)
    cases = [("hardware_frame", (1, n, n), lambda n=n: bench_frame(1, n, rounds, seconds, rng))
             for n in sizes]
    count, side = batch
    cases.append(("hardware_batch", (count, side, side),
                  lambda: bench_frame(count, side, rounds, seconds, rng)))
    return [_measured(case, shape, bench, retries, max_load) for case, shape, bench in cases]


# --- report -------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    """The results as a fixed-width text table: times in ms, ratios to the floor."""
    head = (f"{'case':<15}{'shape':>13}{'hardware':>10}{'floor':>8}{'x floor':>9}{'target':>8}"
            f"{'ideal':>8}{'x ideal':>8} | {'input':>6}{'fourier':>8}{'camera':>7}"
            f"{'other':>7}{'load':>6}")
    lines = [head]
    for row in rows:
        shape = "x".join(str(s) for s in row["shape"])
        target = "" if row["target"] is None else (
            f"{'<=' if row['meets_target'] else '>'}{row['target']:.2f}")
        stages = row["stages_ms"]
        load = "" if row["background_load"] is None else f"{row['background_load']:.2f}"
        lines.append(f"{row['case']:<15}{shape:>13}{row['hardware_ms']:>10.3f}"
                     f"{row['floor_ms']:>8.3f}{row['ratio_floor']:>9.3f}{target:>8}"
                     f"{row['ideal_ms']:>8.3f}{row['ratio_ideal']:>8.2f} | "
                     f"{stages['input_slm']:>6.2f}{stages['fourier_slm']:>8.2f}"
                     f"{stages['camera']:>7.2f}{stages['other']:>7.2f}{load:>6}")
    return "\n".join(lines)


def environment() -> dict:
    """Versions and threads this run measured with."""
    import numba
    import pyfftw

    return dict(python=platform.python_version(), platform=platform.platform(),
                processor=platform.processor(), cpus=fft.threads(), numpy=np.__version__,
                pyfftw=pyfftw.__version__, numba=numba.__version__,
                opticsim=opticsim.__version__, fft_backend=fft.BACKEND)


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` to ``path`` atomically (temporary file, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as tmp:
        json.dump(document, tmp, indent=2)
        tmp.write("\n")
    os.replace(tmp.name, path)


def _batch(text: str) -> tuple[int, int]:
    count, _, n = text.partition("x")
    return int(count), int(n)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds (< 1 min)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_hardware.json"),
                        help="JSON output file (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", help="grid sides N of the frames")
    parser.add_argument("--batch", type=_batch, help="batch case as COUNTxN, e.g. 16x512")
    parser.add_argument("--rounds", type=int, help="interleaved timing rounds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--max-load", type=float, default=0.2,
                        help="rerun a case while other processes kept more cores than this "
                             "busy (default: %(default)s)")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    for name in ("sizes", "batch", "rounds"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    if fft.BACKEND != "pyfftw":
        parser.error("the FFT floor needs pyFFTW")
    rows = run_all(settings["sizes"], settings["batch"], settings["rounds"],
                   settings["seconds"], args.seed, max_load=args.max_load)
    print(table(rows))
    document = dict(
        benchmark="bench_hardware", quick=args.quick,
        command=" ".join(["python", "benches/bench_hardware.py"] + list(
            sys.argv[1:] if argv is None else argv)),
        environment=environment(),
        setup=dict(wavelength=WAVELENGTH, power=POWER, focal_length=FOCAL_LENGTH, pitch=PITCH,
                   exposure=EXPOSURE, offset=OFFSET, input_slm="amplitude, 8 bits",
                   fourier_slm="phase, 8 bits, oversample 1, fixed gray levels",
                   camera="default EMVA 1288 sensor, 12 bits",
                   poisson_exact_below=_kernels.POISSON_EXACT_BELOW),
        target=dict(ratio_floor=TARGET, side=TARGET_SIDE, batch=list(settings["batch"])),
        timing=dict(rounds=settings["rounds"], seconds_per_round=settings["seconds"],
                    statistic="min over rounds of the per-round median"),
        results=rows)
    write_json(args.out, document)
    print(f"wrote {args.out}")
    return document


if __name__ == "__main__":
    main()
