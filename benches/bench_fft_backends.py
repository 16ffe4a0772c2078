"""One 2-D FFT in pyFFTW (timed plans), in pocketfft (scipy.fft, the engine's default), in MKL
(inside torch) and as the engine's real transform.

    python benches/bench_fft_backends.py [--sizes N ...] [--threads T ...] [--rounds R]
                                         [--out PATH]

For each N and thread count, one unnormalised forward transform of an N×N complex64 array:
``fftw`` is a planned ``FFTW_MEASURE`` in-place transform (the floor of ``bench_engine.py``, and
the engine's backend with ``OPTICSIM_FFT=fftw``); ``scipy`` is ``scipy.fft.fft2`` in place
(``overwrite_x``) on ``workers`` threads, the engine's default backend, whose numbers do not
depend on the process (``scipy / fftw`` is what that costs); ``estimate`` the same FFTW
transform planned without timing (``FFTW_ESTIMATE``, planned first, on no wisdom); ``torch``
is ``torch.fft.fft2`` of the same memory (``torch.from_numpy``) into a preallocated tensor,
with ``torch.set_num_threads``; ``real`` is :func:`opticsim.fft.real_fft2` of an N×N float32
array (the half spectrum the engine takes of a real input field, on the engine's backend).
All are timed in interleaved rounds (the smallest per-round median, as in
``bench_engine.py``); the headlines are ``scipy / fftw``, ``estimate / fftw``, ``torch /
fftw`` (< 1: MKL is faster) and ``real / fftw``.

``spin_ms``: the CPU time (ms, all threads) the process uses while it sleeps 50 ms right after a
2-thread 1024² pyFFTW transform, i.e. how long pyFFTW's OpenMP worker busy-waits before it
sleeps. The bench loads pyFFTW as the engine does (:func:`opticsim.fft.load_pyfftw`, with
``opticsim.fft.SPIN_COUNT``); ``GOMP_SPINCOUNT=300000 python benches/bench_fft_backends.py``
shows libgomp's default. The table goes to stdout,
everything to a JSON file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft

from bench_engine import _fastest, compare, environment, write_json
from opticsim import fft


def bench_size(n: int, threads: int, rounds: int, seconds: float) -> dict:
    """Times (ms) of one N² transform in each backend on ``threads`` threads, their ratio and
    the relative difference of their results for random data."""
    pyfftw = fft.load_pyfftw()
    import torch

    # The untimed plan first, on no wisdom: planned after the timed one, FFTW would reuse it.
    pyfftw.forget_wisdom()
    estimated = pyfftw.empty_aligned((n, n), np.complex64)
    estimate = pyfftw.FFTW(estimated, estimated, axes=(-2, -1), flags=("FFTW_ESTIMATE",),
                           threads=threads)
    data = pyfftw.empty_aligned((n, n), np.complex64)
    plan = pyfftw.FFTW(data, data, axes=(-2, -1), flags=("FFTW_MEASURE",), threads=threads)
    estimated.fill(0)
    pocket = np.zeros((n, n), np.complex64)
    data.fill(0)                    # repeated unnormalised transforms of zeros stay finite
    source, target = torch.from_numpy(data), torch.empty((n, n), dtype=torch.complex64)
    real = fft.zeros((n, n), np.float32)
    half = fft.empty(fft.half_shape(real.shape), np.complex64)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = _fastest(compare({"fftw": plan.execute,
                                  "estimate": estimate.execute,
                                  "scipy": lambda: scipy.fft.fft2(pocket, overwrite_x=True,
                                                                  workers=threads),
                                  "torch": lambda: torch.fft.fft2(source, out=target),
                                  "real": lambda: fft.real_fft2(real, half, workers=threads)},
                                 rounds, seconds))
        data[...] = np.random.default_rng(n).standard_normal((n, n))     # the same numbers?
        torch.fft.fft2(source, out=target)
        plan.execute()
    finally:
        torch.set_num_threads(previous)
    difference = float(np.linalg.norm(target.numpy() - data) / np.linalg.norm(data))
    return dict(n=n, threads=threads, fftw_ms=1e3 * times["fftw"],
                scipy_ms=1e3 * times["scipy"], ratio_scipy=times["scipy"] / times["fftw"],
                ratio_estimate=times["estimate"] / times["fftw"],
                torch_ms=1e3 * times["torch"], ratio=times["torch"] / times["fftw"],
                relative_difference=difference, real_ms=1e3 * times["real"],
                ratio_real=times["real"] / times["fftw"])


def spin_ms(n: int = 1024, threads: int = 2, samples: int = 15) -> float:
    """Median CPU time (ms) the process spends during 50 ms of sleep right after one
    ``threads``-thread N² transform: the OpenMP workers' busy wait."""
    pyfftw = fft.load_pyfftw()

    data = pyfftw.empty_aligned((n, n), np.complex64)
    plan = pyfftw.FFTW(data, data, axes=(-2, -1), flags=("FFTW_ESTIMATE",), threads=threads)
    data.fill(0)
    plan.execute()
    spent = []
    for _ in range(samples):
        plan.execute()
        start = time.process_time()
        time.sleep(0.05)
        spent.append(time.process_time() - start)
    return 1e3 * statistics.median(spent)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048],
                        help="grid sides N (default: %(default)s)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--out", type=Path,
                        default=Path("bench-results/bench_fft_backends.json"),
                        help="JSON output file (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = [bench_size(n, threads, args.rounds, 0.03)
            for threads in args.threads for n in sorted(args.sizes)]
    print(f"{'N':>6}{'threads':>9}{'fftw ms':>10}{'scipy/fftw':>12}{'estimate/fftw':>15}"
          f"{'torch ms':>10}{'torch/fftw':>12}{'real ms':>10}{'real/fftw':>11}")
    for row in rows:
        print(f"{row['n']:>6}{row['threads']:>9}{row['fftw_ms']:>10.3f}"
              f"{row['ratio_scipy']:>12.2f}{row['ratio_estimate']:>15.2f}{row['torch_ms']:>10.3f}"
              f"{row['ratio']:>12.2f}{row['real_ms']:>10.3f}{row['ratio_real']:>11.2f}")
    spin = spin_ms()
    print(f"CPU ms busy in 50 ms of sleep after a 2-thread 1024² FFT: {spin:.2f} "
          f"(GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', fft.SPIN_COUNT)})")
    document = dict(benchmark="fft_backends", command=" ".join(
        ["python", "benches/bench_fft_backends.py"] + list(argv or [])),
        environment=environment(), results=rows, spin_ms=spin,
        spin_count=os.environ.get("GOMP_SPINCOUNT", str(fft.SPIN_COUNT)))
    write_json(args.out, document)
    print(f"wrote {args.out}")
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
