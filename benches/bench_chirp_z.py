"""Where the chirp-z lens transform overtakes the matrix products (issue 9, part 3).

    python benches/bench_chirp_z.py [--backend engine|torch] [--sizes N ...] [--rounds R]
                                    [--out PATH]

:func:`opticsim.propagate.lens_ft` at an arbitrary output pitch (a Fourier SLM whose pitch is
not λf/(N·dx)) runs either two matrix products, ``O(N³)`` (``_lens_mft``), or Bluestein's
chirp-z transform, two FFTs of ``(2N − 1)²`` samples, ``O(N² log N)`` (``_lens_chirp_z``);
:data:`opticsim.propagate.CHIRP_Z_FROM` is the grid side from which ``lens_ft`` takes the
chirp-z path. Here both run on one N² complex64 frame, output N² samples at 1.1× the natural
pitch, timed in interleaved rounds as in ``bench_engine.py`` (the smallest per-round median).
The headline is ``matrix / chirp-z`` per N (> 1: the chirp-z path is faster), and the smallest
N from which it stays above 1. ``--backend torch`` times the same two forms in
:func:`opticsim.torch.lens_at_pitch` (CPU tensors, torch's threads), whose switch is
``opticsim.torch.functional.CHIRP_Z_FROM``. The table goes to stdout, everything to a JSON file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench_engine import _fastest, compare, environment, write_json
from opticsim import Field, propagate

WAVELENGTH = 633e-9      # m
FOCAL_LENGTH = 0.1       # m
PITCH = 8e-6             # m


def bench_size(n: int, rounds: int, seconds: float, rng, backend: str = "engine") -> dict:
    """Matrix products and chirp-z transform of one N² frame (ms), their ratio, and the
    relative difference of their results, in the engine or in torch."""
    data = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    pitch = (1.1 * WAVELENGTH * FOCAL_LENGTH / (n * PITCH),) * 2
    shape = (n, n)
    if backend == "engine":
        field = Field(data, PITCH, WAVELENGTH)
        forms = {"matrix": lambda: propagate._lens_mft(field, FOCAL_LENGTH, pitch, shape).data,
                 "chirp_z": lambda: propagate._lens_chirp_z(field, FOCAL_LENGTH, pitch,
                                                            shape).data}
        chosen = propagate._use_chirp_z(shape, shape)
    else:
        import torch

        from opticsim import torch as ot
        from opticsim.torch import functional

        args = (shape, (PITCH, PITCH), shape, pitch, WAVELENGTH, FOCAL_LENGTH, "<c8")
        tensor = torch.from_numpy(data)
        matrices = [torch.tensor(f) for f in propagate.mft_matrices(*args)]
        factors = [torch.tensor(f) for f in propagate.chirp_z_factors(*args)]
        forms = {"matrix": lambda: ot.lens_at_pitch(tensor, matrices).numpy(),
                 "chirp_z": lambda: ot.lens_at_pitch(tensor, factors).numpy()}
        chosen = propagate._use_chirp_z(shape, shape, functional.CHIRP_Z_FROM)
    times = _fastest(compare(forms, rounds, seconds))
    matrix, chirp_z = forms["matrix"](), forms["chirp_z"]()
    return dict(n=n, matrix_ms=1e3 * times["matrix"], chirp_z_ms=1e3 * times["chirp_z"],
                ratio=times["matrix"] / times["chirp_z"],
                relative_difference=float(np.linalg.norm(matrix - chirp_z) / np.linalg.norm(matrix)),
                chosen="chirp_z" if chosen else "matrix")


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
    parser.add_argument("--backend", choices=("engine", "torch"), default="engine",
                        help="whose transforms to time (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_chirp_z.json"),
                        help="JSON output file (default: %(default)s)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = [bench_size(n, args.rounds, 0.03, rng, args.backend) for n in sorted(args.sizes)]
    if args.backend == "torch":
        from opticsim.torch import functional
        switch = functional.CHIRP_Z_FROM
    else:
        switch = propagate.CHIRP_Z_FROM
    print(f"{'N':>6}{'matrix ms':>12}{'chirp-z ms':>12}{'matrix/cz':>11}{'rel diff':>10}  chosen")
    for row in rows:
        print(f"{row['n']:>6}{row['matrix_ms']:>12.3f}{row['chirp_z_ms']:>12.3f}"
              f"{row['ratio']:>11.2f}{row['relative_difference']:>10.1e}  {row['chosen']}")
    document = dict(benchmark="chirp_z", command=" ".join(
        ["python", "benches/bench_chirp_z.py"] + list(argv or [])), environment=environment(),
        backend=args.backend, chirp_z_from=switch, measured_crossover=crossover(rows),
        results=rows)
    print(f"chirp-z faster from N = {document['measured_crossover']} "
          f"({args.backend} switches at N = {switch})")
    write_json(args.out, document)
    print(f"wrote {args.out}")
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
