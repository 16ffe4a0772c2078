"""Where the chirp-z lens transform overtakes the matrix products (issue 9, part 3).

    python benches/bench_chirp_z.py [--sizes N ...] [--rounds R] [--out PATH]

:func:`opticsim.propagate.lens_ft` at an arbitrary output pitch (a Fourier SLM whose pitch is
not λf/(N·dx)) runs either two matrix products, ``O(N³)`` (``_lens_mft``), or Bluestein's
chirp-z transform, two FFTs of ``(2N − 1)²`` samples, ``O(N² log N)`` (``_lens_chirp_z``);
:data:`opticsim.propagate.CHIRP_Z_FROM` is the grid side from which ``lens_ft`` takes the
chirp-z path. Here both run on one N² complex64 frame, output N² samples at 1.1× the natural
pitch, timed in interleaved rounds as in ``bench_engine.py`` (the smallest per-round median).
The headline is ``matrix / chirp-z`` per N (> 1: the chirp-z path is faster), and the smallest
N from which it stays above 1. The table goes to stdout, everything to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench_engine import _fastest, compare, environment
from opticsim import Field, propagate
from opticsim.files import write_atomic

WAVELENGTH = 633e-9      # m
FOCAL_LENGTH = 0.1       # m
PITCH = 8e-6             # m


def bench_size(n: int, rounds: int, seconds: float, rng) -> dict:
    """Matrix products and chirp-z transform of one N² frame (ms), their ratio, and the
    relative difference of their results."""
    data = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    field = Field(data, PITCH, WAVELENGTH)
    pitch = (1.1 * WAVELENGTH * FOCAL_LENGTH / (n * PITCH),) * 2
    shape = (n, n)
    times = _fastest(compare({
        "matrix": lambda: propagate._lens_mft(field, FOCAL_LENGTH, pitch, shape),
        "chirp_z": lambda: propagate._lens_chirp_z(field, FOCAL_LENGTH, pitch, shape),
    }, rounds, seconds))
    matrix = propagate._lens_mft(field, FOCAL_LENGTH, pitch, shape).data
    chirp_z = propagate._lens_chirp_z(field, FOCAL_LENGTH, pitch, shape).data
    return dict(n=n, matrix_ms=1e3 * times["matrix"], chirp_z_ms=1e3 * times["chirp_z"],
                ratio=times["matrix"] / times["chirp_z"],
                relative_difference=float(np.linalg.norm(matrix - chirp_z) / np.linalg.norm(matrix)),
                chosen="chirp_z" if propagate._use_chirp_z(shape, shape) else "matrix")


def crossover(rows: list[dict]) -> int | None:
    """The smallest N from which the chirp-z transform is faster at every larger N measured."""
    found = None
    for row in reversed(rows):
        if row["ratio"] <= 1:
            break
        found = row["n"]
    return found


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 192, 256, 384, 512],
                        help="grid sides N (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_chirp_z.json"),
                        help="JSON output file (default: %(default)s)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = [bench_size(n, args.rounds, 0.03, rng) for n in sorted(args.sizes)]
    print(f"{'N':>6}{'matrix ms':>12}{'chirp-z ms':>12}{'matrix/cz':>11}{'rel diff':>10}  chosen")
    for row in rows:
        print(f"{row['n']:>6}{row['matrix_ms']:>12.3f}{row['chirp_z_ms']:>12.3f}"
              f"{row['ratio']:>11.2f}{row['relative_difference']:>10.1e}  {row['chosen']}")
    document = dict(benchmark="chirp_z", command=" ".join(
        ["python", "benches/bench_chirp_z.py"] + list(argv or [])), environment=environment(),
        chirp_z_from=propagate.CHIRP_Z_FROM, measured_crossover=crossover(rows), results=rows)
    print(f"chirp-z faster from N = {document['measured_crossover']} "
          f"(lens_ft switches at N = {propagate.CHIRP_Z_FROM})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, (json.dumps(document, indent=2) + "\n").encode())
    print(f"wrote {args.out}")
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
