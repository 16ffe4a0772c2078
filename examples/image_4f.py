"""A bar target imaged through a Fourier-plane pinhole
===================================================

Image a bar target through a 4f system with a pinhole in the Fourier plane.

A pinhole of diameter D in the shared focal plane passes spatial frequencies up to
ν_c = D / (2·λ·f1): in coherent light a bar pattern of period p survives only if its
fundamental 1/p < ν_c, so the finest bar groups below are washed out while the coarse ones
are imaged (Goodman, *Introduction to Fourier Optics*, §6.2).

Usage::

    python examples/image_4f.py [output.png] [--overwrite]     # default image_4f.png
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

import opticsim
from opticsim.cli import run_script
from opticsim.files import write_atomic
from opticsim.lens import circular_aperture

WAVELENGTH = 532e-9        # m
FOCAL_LENGTH = 0.2         # m, both lenses
PITCH = 8e-6               # m, input-plane sampling
GRID = 256                 # samples per axis
PINHOLE = 5.3e-3           # m, Fourier-plane pinhole diameter
BAR_WIDTHS = (1, 2, 3, 4, 6)   # bar widths in samples (bar period = 2 × width)
VIEW = 0.5e-3              # m, half-width of the image panels


def bar_group(width: int) -> np.ndarray:
    """Three horizontal and three vertical bars of ``width`` samples, 5·width long,
    side by side (USAF-1951 style), as a 0/1 transmittance."""
    length = 5 * width
    bars = np.zeros((length, length))
    for k in range(3):
        bars[:, 2 * k * width:(2 * k + 1) * width] = 1.0
    return np.hstack([bars, np.zeros((length, width)), bars.T])


def bar_target(shape, widths) -> np.ndarray:
    """The groups of ``widths`` stacked top to bottom, centred on a ``shape`` grid."""
    rows = [np.pad(bar_group(w), ((w, w), (0, 0))) for w in widths]
    columns = max(row.shape[1] for row in rows)
    target = np.vstack([np.pad(row, ((0, 0), (0, columns - row.shape[1]))) for row in rows])
    out = np.zeros(shape)
    top, left = (shape[0] - target.shape[0]) // 2, (shape[1] - target.shape[1]) // 2
    out[top:top + target.shape[0], left:left + target.shape[1]] = target
    return out


def main(path, overwrite: bool = False) -> None:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it or name another "
                              "file")
    lens = opticsim.Lens(focal_length=FOCAL_LENGTH, diameter=25.4e-3)
    system = opticsim.FourF(laser=opticsim.Laser(wavelength=WAVELENGTH, power=1e-3),
                            lens1=lens, lens2=lens, shape=GRID, pitch=PITCH)
    target = bar_target(system.shape, BAR_WIDTHS)
    pinhole = circular_aperture(system.shape, system.fourier_pitch, PINHOLE)
    cutoff = PINHOLE / (2 * WAVELENGTH * FOCAL_LENGTH)

    spectrum = opticsim.propagate.lens_ft(system.input_field(target), FOCAL_LENGTH).intensity[0]
    image = system.upright(system.run(target, pinhole))
    unfiltered = system.upright(system.run(target, np.ones(system.shape)))

    half_input = GRID * PITCH / 2 * 1e3                       # mm
    half_fourier = GRID * system.fourier_pitch[1] / 2 * 1e3   # mm
    figure = Figure(figsize=(13, 4.4), layout="constrained")
    axes = figure.subplots(1, 3)
    extent = [-half_input, half_input, half_input, -half_input]
    axes[0].imshow(unfiltered, cmap="gray", extent=extent)
    axes[0].set_title("target imaged, open Fourier plane")
    axes[1].imshow(np.log10(spectrum + 1e-9 * spectrum.max()),
                   cmap="magma",
                   extent=[-half_fourier, half_fourier, half_fourier, -half_fourier])
    axes[1].add_patch(Circle((0, 0), PINHOLE / 2 * 1e3, fill=False, color="cyan"))
    axes[1].set_title(f"Fourier plane, log₁₀ I; pinhole D = {PINHOLE * 1e3:g} mm")
    axes[2].imshow(image, cmap="gray", extent=extent)
    axes[2].set_title(f"through the pinhole: periods < {1e6 / cutoff:.0f} µm lost")
    for ax in (axes[0], axes[2]):
        ax.set_xlim(-VIEW * 1e3, VIEW * 1e3)
        ax.set_ylim(VIEW * 1e3, -VIEW * 1e3)
    for ax, label in zip(axes, ("x (mm)", "u = λf·ν (mm)", "x (mm)")):
        ax.set_xlabel(label)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    print(f"bar periods {[2 * w * PITCH * 1e6 for w in BAR_WIDTHS]} µm, "
          f"cutoff period {1e6 / cutoff:.1f} µm; wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", default="image_4f.png", help="PNG to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    arguments = parser.parse_args()
    sys.exit(run_script(lambda: main(arguments.path, arguments.overwrite)))
