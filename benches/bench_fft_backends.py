"""One 2-D FFT in pyFFTW (timed plans), in pocketfft (scipy.fft and numpy.fft), in MKL (inside
torch) and as the engine's real transform; and which of them give the same numbers in every
process and at every thread count.

    python benches/bench_fft_backends.py [--sizes N ...] [--threads T ...] [--rounds R]
                                         [--no-same] [--out PATH]

For each N and thread count, one unnormalised forward transform of an N×N complex64 array:
``fftw`` is a planned ``FFTW_MEASURE`` in-place transform (the floor of ``bench_engine.py``, and
the engine's backend with ``OPTICSIM_FFT=fftw``); ``scipy`` is ``scipy.fft.fft2`` in place
(``overwrite_x``) on ``workers`` threads; ``numpy`` is ``numpy.fft.fft2`` into a preallocated
array (one thread: numpy's FFT has no workers); ``estimate`` the same FFTW transform planned
without timing (``FFTW_ESTIMATE``, planned first, on no wisdom); ``torch`` is
``torch.fft.fft2`` of the same memory (``torch.from_numpy``) into a preallocated tensor, with
``torch.set_num_threads``; ``real`` is :func:`opticsim.fft.real_fft2` of an N×N float32 array
(the half spectrum the engine takes of a real input field, on the engine's backend for N²).
All are timed in interleaved rounds (the smallest per-round median, as in
``bench_engine.py``); the headlines are each time over ``fftw`` (< 1: faster than FFTW's timed
plan).

``same`` (the determinism table): each backend transforms the same random N×N complex64 array
(and a batch of 3) in three fresh processes, at 2, 2 and 1 threads (affinity and the backend's
own thread setting), and compares the digests: ``yes`` when all three agree bit for bit,
``threads`` when the two 2-thread processes agree but the 1-thread one differs, ``no`` when
two processes at the same thread count differ. ``wisdom`` is FFTW planned with
``FFTW_MEASURE`` in each process after importing wisdom that this process measured and exported
once (a plan shipped as wisdom rather than timed anew). The engine's rule
(:data:`opticsim.fft.RULE`) chooses only among backends that read ``yes``.

``spin_ms``: the CPU time (ms, all threads) the process uses while it sleeps 50 ms right after a
2-thread 1024² pyFFTW transform, i.e. how long pyFFTW's OpenMP worker busy-waits before it
sleeps. The bench loads pyFFTW as the engine does (:func:`opticsim.fft.load_pyfftw`, with
``opticsim.fft.SPIN_COUNT``); ``GOMP_SPINCOUNT=300000 python benches/bench_fft_backends.py``
shows libgomp's default. The tables go to stdout, everything to a JSON file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
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
    numpy_out = np.zeros((n, n), np.complex64)
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
                                  "numpy": lambda: np.fft.fft2(pocket, out=numpy_out),
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
                numpy_ms=1e3 * times["numpy"], ratio_numpy=times["numpy"] / times["fftw"],
                ratio_estimate=times["estimate"] / times["fftw"],
                torch_ms=1e3 * times["torch"], ratio=times["torch"] / times["fftw"],
                relative_difference=difference, real_ms=1e3 * times["real"],
                ratio_real=times["real"] / times["fftw"])


# Prints one digest per size of a backend's transforms; run in fresh processes by same_numbers.
DIGESTS = r"""if True:
    import ast, hashlib, os, sys
    backend, threads, wisdom = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    import numpy as np
    from opticsim import fft

    def transform(x):
        if backend == "scipy":
            import scipy.fft
            return scipy.fft.fft2(x, workers=threads)
        if backend == "numpy":
            return np.fft.fft2(x)
        if backend == "torch":
            import torch
            torch.set_num_threads(threads)
            return torch.fft.fft2(torch.from_numpy(x)).numpy()
        pyfftw = fft.load_pyfftw()
        if backend == "wisdom":
            with open(wisdom, encoding="ascii") as file:
                pyfftw.import_wisdom(ast.literal_eval(file.read()))
        data = pyfftw.empty_aligned(x.shape, np.complex64)
        flag = "FFTW_ESTIMATE" if backend == "estimate" else "FFTW_MEASURE"
        plan = pyfftw.FFTW(data, data, axes=(-2, -1), flags=(flag,), threads=threads)
        data[...] = x
        plan.execute()
        return data

    for n in map(int, sys.argv[4:]):
        rng = np.random.default_rng(n)
        x = (rng.standard_normal((3, n, n)) + 1j * rng.standard_normal((3, n, n))).astype(
            np.complex64)
        digest = hashlib.sha256()
        for planes in (x[0], x):
            digest.update(np.ascontiguousarray(transform(planes)).tobytes())
        print(digest.hexdigest()[:16])
"""

SAME_BACKENDS = ("scipy", "numpy", "torch", "estimate", "fftw", "wisdom")


def _wisdom(sizes, path: Path) -> None:
    """Measure FFTW plans for each N² plane and batch at 1 and 2 threads and write the wisdom."""
    pyfftw = fft.load_pyfftw()
    pyfftw.forget_wisdom()
    for n in sizes:
        for shape in ((n, n), (3, n, n)):
            for threads in (1, 2):
                data = pyfftw.empty_aligned(shape, np.complex64)
                pyfftw.FFTW(data, data, axes=(-2, -1), flags=("FFTW_MEASURE",),
                            threads=threads)
    path.write_text(repr(pyfftw.export_wisdom()), encoding="ascii")
    pyfftw.forget_wisdom()


def same_numbers(sizes) -> dict:
    """{backend: {N: "yes" | "threads" | "no"}}: the digests of three fresh processes at 2, 2
    and 1 threads compared (see the module docstring)."""
    with tempfile.TemporaryDirectory() as folder:
        wisdom = Path(folder) / "wisdom"
        _wisdom(sizes, wisdom)
        verdicts = {}
        for backend in SAME_BACKENDS:
            runs = [subprocess.run([sys.executable, "-c", DIGESTS, backend, str(threads),
                                    str(wisdom)] + [str(n) for n in sizes], check=True,
                                   capture_output=True, text=True).stdout.split()
                    for threads in (2, 2, 1)]
            verdicts[backend] = {
                n: "no" if two != again else "threads" if one != two else "yes"
                for n, two, again, one in zip(sizes, *runs)}
    return verdicts


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
    parser.add_argument("--same", action=argparse.BooleanOptionalAction, default=True,
                        help="compare each backend's numbers in fresh processes "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=Path,
                        default=Path("bench-results/bench_fft_backends.json"),
                        help="JSON output file (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = [bench_size(n, threads, args.rounds, 0.03)
            for threads in args.threads for n in sorted(args.sizes)]
    print(f"{'N':>6}{'threads':>9}{'fftw ms':>10}{'scipy/fftw':>12}{'numpy/fftw':>12}"
          f"{'estimate/fftw':>15}{'torch ms':>10}{'torch/fftw':>12}{'real ms':>10}"
          f"{'real/fftw':>11}")
    for row in rows:
        print(f"{row['n']:>6}{row['threads']:>9}{row['fftw_ms']:>10.3f}"
              f"{row['ratio_scipy']:>12.2f}{row['ratio_numpy']:>12.2f}"
              f"{row['ratio_estimate']:>15.2f}{row['torch_ms']:>10.3f}"
              f"{row['ratio']:>12.2f}{row['real_ms']:>10.3f}{row['ratio_real']:>11.2f}")
    same = same_numbers(sorted(args.sizes)) if args.same else {}
    print(f"\nsame numbers in 3 fresh processes (2, 2, 1 threads); rule on this CPU "
          f"({fft.VENDOR}): " + ", ".join(f"{n}²: {fft.rule(fft.VENDOR, (n, n))}"
                                          for n in sorted(args.sizes)))
    print(f"{'backend':>10}" + "".join(f"{n:>9}" for n in sorted(args.sizes)))
    for backend, verdicts in same.items():
        print(f"{backend:>10}" + "".join(f"{verdicts[n]:>9}" for n in sorted(args.sizes)))
    spin = spin_ms()
    print(f"CPU ms busy in 50 ms of sleep after a 2-thread 1024² FFT: {spin:.2f} "
          f"(GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', fft.SPIN_COUNT)})")
    document = dict(benchmark="fft_backends", command=" ".join(
        ["python", "benches/bench_fft_backends.py"] + list(argv or [])),
        environment=environment(), results=rows, same=same,
        rule={f"{n}": fft.rule(fft.VENDOR, (n, n)) for n in sorted(args.sizes)}, spin_ms=spin,
        spin_count=os.environ.get("GOMP_SPINCOUNT", str(fft.SPIN_COUNT)))
    write_json(args.out, document)
    print(f"wrote {args.out}")
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
