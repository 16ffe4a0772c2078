"""Sweep: the clear aperture and defocus of lens 2
===============================================

How large and how well corrected must lens 2 be? A kernel's 4f error against the clear
aperture of lens 2 and against its defocus.

Lens 2's pupil sits in the Fourier plane, so its aperture is a low-pass filter on the mask:
spatial frequencies beyond ``D/(2λf1)`` are lost, and the kernel's spectrum fills the whole
square Fourier plane of side ``L = N·λf1/(N·dx)``, so the error falls until ``D ≥ √2·L``.
Defocus (Noll term 4, waves RMS over that aperture) multiplies the mask by a quadratic phase,
which blurs the kernel. The bench is the demo's (:class:`kd.hardware.Bench`) with lens 2
given a diameter of 1.5·L (its defocus sweep needs one); each parameter moves alone. The error
is the relative RMS difference between the frames and ``|x ∗ h|²`` of a random 9×9 kernel on
16 cluttered test scenes (:class:`opticsim.sweep.KernelError`).

Usage::

    python examples/sweep_aperture.py [--out runs/sweep-aperture] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from kd.data import load
from kd.hardware import Bench
from opticsim import sweep
from opticsim.cli import run_script

DIAMETERS = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]            # × the Fourier plane's side L
DEFOCUS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5]               # waves RMS (Noll 4)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sweep.add_run_options(parser, out="runs/sweep-aperture")
    args = parser.parse_args(argv)

    bench, test = Bench(), load("cluttered", "test")
    kernel = np.random.default_rng(7).standard_normal((9, 9))
    metric = sweep.KernelError(kernel, test.images[:16, 0])
    fourf = bench.fourf(test.images.shape[-2:], kernel.shape)
    side = fourf.fourier_shape[0] * fourf.fourier_pitch[0]              # L (m)
    fourf = dataclasses.replace(fourf, lens2=dataclasses.replace(fourf.lens2,
                                                                 diameter=1.5 * side))
    base = metric.expose(fourf, bench.fill)
    parameters = {"lens2.diameter": [float(d * side) for d in DIAMETERS],
                  "lens2.zernike.4": DEFOCUS}
    rows = sweep.run(metric, base, parameters, mode="one-at-a-time", **sweep.run_options(args))
    for name in parameters:
        (x, mean, _), = sweep.summary(rows, name, "error", list(parameters),
                                      {n: sweep.value_of(base, n) for n in parameters}).values()
        scale = 1 / side if name == "lens2.diameter" else 1.0
        print(f"{name}: " + "  ".join(f"{v * scale:.3g}: {m:.3g}" for v, m in zip(x, mean)))
    print(f"wrote {args.out}/lens2.diameter.png and lens2.zernike.4.png (L = {side * 1e3:.2f} mm)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
