"""Sweep: the Fourier SLM's bit depth
==================================

How many bits does the Fourier SLM need? A kernel's 4f error against the Fourier-SLM bit
depth, for the fringing of three panels — or, with ``--checkpoint``, a trained optical
student's test accuracy against the bit depth.

The bench is the demo's (:class:`kd.hardware.Bench`: an 8-bit amplitude input SLM, a
Meadowlark phase-only Fourier SLM showing the complex mask by double-phase encoding, a Sony
IMX250 camera, the laser set so the brightest pixel fills 80 % of the well). The kernel error
is the relative RMS difference between the camera frames and ``|x ∗ h|²`` of a random 9×9
kernel ``h`` on 16 cluttered test scenes (:class:`opticsim.sweep.KernelError`). Crosstalk
0.38, 0.6 and 1.14 px are the fringing widths of the Meadowlark, Hamamatsu and PLUTO-2.1
presets: double-phase encoding lives on the pixel checkerboard, which fringing smooths away.

Usage::

    python examples/sweep_slm_bits.py [--out runs/sweep-slm-bits] [--workers 2] [--resume]
    python examples/sweep_slm_bits.py --checkpoint runs/demo-*/checkpoints/student.pt
"""

from __future__ import annotations

import argparse

import numpy as np

from kd.data import load
from kd.hardware import Bench
from opticsim import sweep
from opticsim.cli import run_script

BITS = [1, 2, 3, 4, 5, 6, 8, 10]
CROSSTALK = [0.38, 0.6, 1.14]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="an optical student's checkpoint (accuracy sweep)")
    sweep.add_run_options(parser, out="runs/sweep-slm-bits")
    args = parser.parse_args(argv)

    bench, test = Bench(), load("cluttered", "test")
    if args.checkpoint:
        from kd.evaluate import HardwareAccuracy
        from kd.hardware import expose
        from kd.train import restore

        student, _ = restore(args.checkpoint, 1, len(test.classes))
        calibration = load("cluttered", "train").images[:256]
        metric = HardwareAccuracy(student, test.images, test.labels, calibration)
        base = expose(bench, student, calibration)
        parameters = {"fourier_slm.bits": BITS}
    else:
        kernel = np.random.default_rng(7).standard_normal((9, 9))
        metric = sweep.KernelError(kernel, test.images[:16, 0])
        base = metric.expose(bench.fourf(test.images.shape[-2:], kernel.shape), bench.fill)
        parameters = {"fourier_slm.bits": BITS, "fourier_slm.crosstalk": CROSSTALK}
    rows = sweep.run(metric, base, parameters, **sweep.run_options(args))
    name = metric.names[0]
    for key, (x, mean, std) in sweep.summary(rows, "fourier_slm.bits", name,
                                             list(parameters)).items():
        label = f"crosstalk {key[0]} px" if key else name
        print(f"{label}: " + " ".join(f"{b} bits {m:.3g}" for b, m in zip(x, mean)))
    print(f"wrote {args.out}/fourier_slm.bits.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
