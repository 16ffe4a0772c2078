"""Sweep: camera read noise against exposure
=========================================

Which camera, and how long an exposure? A kernel's 4f error against the camera's read noise
and exposure time, at a fixed laser power.

The demo's bench (:class:`kd.hardware.Bench`) with its laser set once, as in the lab, so that
the brightest pixel fills 80 % of the IMX250's well in 100 µs. Shorter exposures collect fewer
photons (shot noise, relative error ∝ 1/√t, and read noise matters more); longer ones saturate
the brightest pixels (clipped at full well). The error is the relative RMS difference between
the frames and ``|x ∗ h|²`` of a random 9×9 kernel on 16 cluttered test scenes
(:class:`opticsim.sweep.KernelError`), mean ± std over noise seeds.

Usage::

    python examples/sweep_camera_noise.py [--out runs/sweep-camera-noise] [--workers 2]
"""

from __future__ import annotations

import argparse

import numpy as np

from kd.data import load
from kd.hardware import Bench
from opticsim import sweep
from opticsim.cli import run_script

READ_NOISE = [0.5, 2.3, 8.0, 32.0]                      # e⁻ RMS; 2.3: the IMX250 preset
EXPOSURE = [3e-6, 10e-6, 30e-6, 100e-6, 300e-6]          # s; the laser is set for 100 µs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sweep.add_run_options(parser, out="runs/sweep-camera-noise")
    args = parser.parse_args(argv)

    bench, test = Bench(), load("cluttered", "test")
    kernel = np.random.default_rng(7).standard_normal((9, 9))
    metric = sweep.KernelError(kernel, test.images[:16, 0])
    base = metric.expose(bench.fourf(test.images.shape[-2:], kernel.shape), bench.fill)
    parameters = {"camera.exposure": EXPOSURE, "camera.read_noise": READ_NOISE}
    rows = sweep.run(metric, base, parameters, **sweep.run_options(args))
    for key, (x, mean, _) in sweep.summary(rows, "camera.exposure", "error",
                                           list(parameters)).items():
        print(f"read noise {key[0]} e⁻: " + "  ".join(
            f"{t * 1e6:g} µs {m:.3g}" for t, m in zip(x, mean)))
    print(f"wrote {args.out}/camera.exposure.png and camera.read_noise.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
