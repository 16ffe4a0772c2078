"""Sweep the hardware of a 4f correlator and plot how far its output strays from the ideal
convolution.

A fixed random kernel h = g ⋆ g (the autocorrelation of a random 5×5 pattern, so its Fourier
transform |G|² is real and non-negative and an amplitude SLM can display it exactly up to
quantisation) is shown on a 64×64-pixel amplitude Fourier SLM (4 samples per pixel). Digits
are imaged through it onto a camera. One parameter at a time moves away from a good baseline:
Fourier-SLM bit depth, fill factor and fringing crosstalk, camera read noise and laser power.
The error is the relative RMS difference between the camera frames (after the best scale
factor) and |x ∗ h|² computed digitally.

    python examples/sweep_hardware.py [--out sweep_hardware.png] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import opticsim  # noqa: E402

WAVELENGTH, PITCH, GRID, OVERSAMPLE = 532e-9, 8e-6, 256, 4
IMAGE, KERNEL = 32, 9


def system(bits=8, fill_factor=1.0, crosstalk=0.0, read_noise=2.0, power=2e-6):
    """The 4f system of one sweep point; the Fourier SLM pitch fixes f1 = N·dx·p/(λ·s)."""
    slm_pitch = PITCH * OVERSAMPLE
    focal_length = GRID * PITCH * slm_pitch / (WAVELENGTH * OVERSAMPLE)
    fourier_slm = opticsim.SLM((GRID // OVERSAMPLE,) * 2, slm_pitch, mode="amplitude", bits=bits,
                               fill_factor=fill_factor, crosstalk=crosstalk,
                               oversample=OVERSAMPLE)
    camera = opticsim.Camera((64, 64), PITCH, exposure=2e-4, read_noise=read_noise, offset=20,
                             gain=0.3, full_well=12_000, bits=12)
    return opticsim.FourF(opticsim.Laser(WAVELENGTH, power), opticsim.Lens(focal_length),
                          opticsim.Lens(focal_length), GRID, PITCH, fourier_slm=fourier_slm,
                          camera=camera)


def images(count: int) -> np.ndarray:
    """``count`` scikit-learn digits upsampled to 32×32 amplitudes in [0, 1], (B, 1, H, W)."""
    digits = load_digits().images[:count] / 16.0
    return np.kron(digits, np.ones((4, 4)))[:, None]


def kernel(seed: int = 7) -> np.ndarray:
    """h = g ⋆ g for a random 5×5 g: a 9×9 kernel with a non-negative real spectrum."""
    g = np.random.default_rng(seed).random((5, 5))
    return scipy.signal.correlate(g, g, mode="full")


def error(optics: opticsim.FourF, inputs: np.ndarray, h: np.ndarray, seed: int) -> float:
    """Relative RMS error of the camera frames against |x ∗ h|², after the best scale."""
    layout = optics.layout(1, 1, (IMAGE, IMAGE), h.shape)
    mask = np.abs(optics.masks_from_kernels(h[None, None], layout))
    frames = optics.run(inputs, mask / mask.max(), layout=layout, rng=seed)[:, 0]
    frames = frames.astype(np.float64) - optics.camera.offset
    ideal = np.stack([scipy.signal.fftconvolve(x[0], h) ** 2 for x in inputs])
    scale = np.vdot(frames, ideal) / np.vdot(frames, frames)
    return float(np.linalg.norm(scale * frames - ideal) / np.linalg.norm(ideal))


SWEEPS = {
    "bits": ("Fourier-SLM bit depth", [1, 2, 3, 4, 6, 8, 10]),
    "fill_factor": ("Fourier-SLM fill factor", [0.3, 0.5, 0.7, 0.85, 1.0]),
    "crosstalk": ("fringing width (pixels, FWHM)", [0.0, 0.5, 1.0, 2.0, 3.0]),
    "read_noise": ("camera read noise (e⁻ RMS)", [0.5, 2, 8, 32, 128]),
    "power": ("laser power (W)", [1e-9, 1e-8, 1e-7, 1e-6, 3e-6, 1e-5]),
}


def sweep(quick: bool = False) -> dict:
    inputs, h = images(4 if quick else 16), kernel()
    results = {}
    for name, (_, values) in SWEEPS.items():
        values = values[::2] if quick else values
        results[name] = {"values": values,
                         "error": [error(system(**{name: v}), inputs, h, seed=1) for v in values]}
        print(f"{name:12s}", " ".join(f"{v:g}:{e:.3g}" for v, e in
                                      zip(values, results[name]["error"])))
    return results


def plot(results: dict, path: str) -> None:
    figure, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2))
    for axis, (name, data) in zip(axes, results.items()):
        axis.plot(data["values"], data["error"], "o-")
        axis.set_xlabel(SWEEPS[name][0])
        axis.set_ylabel("relative RMS error")
        if name in ("read_noise", "power"):
            axis.set_xscale("log")
        axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".png", delete=False) as tmp:
        figure.savefig(tmp.name, dpi=120)
    os.replace(tmp.name, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sweep_hardware.png", help="plot path (PNG)")
    parser.add_argument("--quick", action="store_true", help="fewer images and points")
    args = parser.parse_args(argv)
    results = sweep(args.quick)
    plot(results, args.out)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as handle:
        json.dump(results, handle, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
