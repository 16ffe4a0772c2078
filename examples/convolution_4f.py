"""Optical 4f convolution against the digital convolution
======================================================

Optical 4f convolution of scikit-learn's bundled 8×8 digits against the digital convolution.

Each optical output is compared with the digital convolution it should equal:

- all-pass mask: ``u_out = −u_in`` (upright), the identity convolution;
- edge detection: the Laplacian kernel as a Fourier mask (:meth:`FourF.mask_from_kernel`);
- low-pass: a pinhole of diameter D in the Fourier plane passes spatial frequencies up to
  ``ν_c = D/(2λf1)``, i.e. convolution with the Airy kernel ``h(r) = ν_c·J1(2πν_c r)/r``
  (Goodman, *Introduction to Fourier Optics*, §4.4 and §8.3).

A run folder receives a figure, ``results.json`` and ``report.md``, each written atomically;
a non-empty folder is refused unless ``--overwrite`` is given.

Usage::

    python examples/convolution_4f.py [--count 4] [--pinhole 3.3e-3] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve
from scipy.special import j1
from tqdm import tqdm

from opticsim import FourF, Laser, Lens, __version__
from opticsim.cli import run_script
from opticsim.files import prepare_folder, write_atomic
from opticsim.lens import circular_aperture

LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
DEMO_SYSTEM = {"wavelength": 532e-9, "power": 1e-3, "focal_length": 0.2,
               "lens_diameter": 25.4e-3, "grid": 128, "pitch": 8e-6}
STAGES = ("digits", "system", "all-pass", "edge", "low-pass", "figure", "files")


# --- the optical demo: pure functions ------------------------------------------------------

def digit_images(count: int, size: int) -> np.ndarray:
    """The first ``count`` scikit-learn 8×8 digits as amplitude transmittances in [0, 1],
    upsampled to ``size``×``size`` (a multiple of 8) by pixel replication, float64."""
    from sklearn.datasets import load_digits

    if size % 8:
        raise ValueError(f"size must be a multiple of 8, got {size!r}")
    digits = load_digits().images[:count] / 16.0
    return np.kron(digits, np.ones((size // 8, size // 8)))


def airy_kernel(cutoff: float, pitch: float, size: int) -> np.ndarray:
    """Sampled impulse response of an ideal circular low-pass of ``cutoff`` ν_c (1/m):
    ``h[q] = dx²·ν_c·J1(2πν_c r)/r`` on a centred ``size``² grid (``πν_c²·dx²`` at r = 0),
    so that the discrete convolution approximates ``∫ u(x′)·h(x − x′) dx′``."""
    axis = (np.arange(size) - size // 2) * pitch
    r = np.hypot(axis[:, None], axis[None, :])
    safe = np.where(r > 0, r, 1.0)
    kernel = np.where(r > 0, cutoff * j1(2 * np.pi * cutoff * safe) / safe, np.pi * cutoff ** 2)
    return kernel * pitch ** 2


def centred(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``images`` ``(B, h, w)`` placed on zero ``(B, *shape)`` frames at ((H − h)//2, (W − w)//2),
    where :meth:`FourF.input_field` puts them."""
    placed = np.zeros((images.shape[0],) + tuple(shape))
    top, left = ((n - m) // 2 for n, m in zip(shape, images.shape[-2:]))
    placed[:, top:top + images.shape[-2], left:left + images.shape[-1]] = images
    return placed


def relative_error(actual: np.ndarray, reference: np.ndarray) -> float:
    """``‖actual − reference‖₂ / ‖reference‖₂`` over all samples."""
    return float(np.linalg.norm(actual - reference) / np.linalg.norm(reference))


def demo_system() -> FourF:
    """The demo correlator: 532 nm, 1 mW flat beam, two f = 200 mm lenses of 25.4 mm clear
    aperture, 128² grid at 8 µm."""
    lens = Lens(focal_length=DEMO_SYSTEM["focal_length"], diameter=DEMO_SYSTEM["lens_diameter"])
    return FourF(laser=Laser(wavelength=DEMO_SYSTEM["wavelength"], power=DEMO_SYSTEM["power"]),
                 lens1=lens, lens2=lens, shape=DEMO_SYSTEM["grid"], pitch=DEMO_SYSTEM["pitch"])


def compare(system: FourF, images: np.ndarray, mask: np.ndarray, kernel: np.ndarray) -> dict:
    """Optical output of ``images`` through ``mask`` against the digital convolution with
    ``kernel``: the field (:meth:`FourF.field`) against ``−(f1/f2)·A·(u ∗ h)`` and the
    irradiance (:meth:`FourF.run`) against ``(f1/f2)²·A²·|u ∗ h|²``, A the laser amplitude."""
    amplitude = system.laser.amplitude(system.shape, system.pitch)[0, 0]
    ratio = system.lens1.focal_length / system.lens2.focal_length
    placed = centred(images, system.shape)
    digital = np.stack([fftconvolve(image, kernel, mode="same") for image in placed])
    field = system.upright(system.field(images, mask).data)
    irradiance = system.upright(system.run(images, mask))
    expected = (ratio * amplitude) ** 2 * np.abs(digital) ** 2
    return {"irradiance": irradiance, "digital": expected,
            "field_relative_error": relative_error(field, -ratio * amplitude * digital),
            "irradiance_relative_error": relative_error(irradiance, expected)}


# --- files ---------------------------------------------------------------------------------

def figure_png(images: np.ndarray, cases: dict, crop: int) -> bytes:
    """PNG of each input digit beside the optical and digital output amplitudes √I (the
    central ``crop``² samples of the grid, each panel scaled to its own maximum)."""
    from matplotlib.figure import Figure

    columns = [("input transmittance", images)]
    for name, case in cases.items():
        columns += [(f"{name}: optical √I", np.sqrt(case["irradiance"])),
                    (f"{name}: digital √I", np.sqrt(case["digital"]))]
    figure = Figure(figsize=(2.0 * len(columns), 2.0 * len(images) + 0.4), layout="constrained")
    axes = figure.subplots(len(images), len(columns), squeeze=False)
    for column, (title, frames) in enumerate(columns):
        ny, nx = frames.shape[-2:]
        top, left = max((ny - crop) // 2, 0), max((nx - crop) // 2, 0)
        for row, frame in enumerate(frames):
            axes[row, column].imshow(frame[top:top + crop, left:left + crop], cmap="gray")
            axes[row, column].set_axis_off()
        axes[0, column].set_title(title, fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def report_markdown(results: dict) -> str:
    """A short Markdown summary of ``results``."""
    p = results["parameters"]
    lines = [
        "# Optical 4f convolution against digital convolution",
        "",
        f"{p['digits']} scikit-learn digits, upsampled to {p['image_size']}², through a 4f "
        f"correlator at {p['wavelength'] * 1e9:.0f} nm ({p['power'] * 1e3:g} mW), "
        f"f = {p['focal_length'] * 1e3:g} mm lenses of {p['lens_diameter'] * 1e3:g} mm "
        f"aperture, {p['grid']}² grid at {p['pitch'] * 1e6:g} µm (Fourier-plane pitch "
        f"{p['fourier_pitch'] * 1e6:.1f} µm).",
        "",
        "| mask | digital reference | field rel. error | irradiance rel. error |",
        "|---|---|---|---|",
    ]
    for name, case in results["cases"].items():
        lines.append(f"| {name} | {case['reference']} | {case['field_relative_error']:.2e} | "
                     f"{case['irradiance_relative_error']:.2e} |")
    lines += [
        "",
        "All-pass and edge detection agree to float32 round-off: the 4f system computes the "
        "convolution exactly on its grid. The pinhole's residual is the sampling of its edge "
        "and the periodic wrap of the slowly decaying Airy tails on the finite grid.",
        "",
        f"![inputs and outputs]({results['files']['figure']})",
        "",
        f"Reproduce: `{results['command']}`",
        "",
    ]
    return "\n".join(lines)


def run_demo(folder: Path, count: int, pinhole: float, overwrite: bool,
             progress: bool) -> dict:
    """Run the optical demo into ``folder`` and return what was written to results.json."""
    folder = prepare_folder(folder, overwrite)
    started = time.perf_counter()
    with tqdm(total=len(STAGES), desc="convolution_4f", unit="stage", disable=not progress,
              file=sys.stderr) as bar:
        def stage(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        images = digit_images(count, 32)
        stage("digits")
        system = demo_system()
        focal_length, pitch = system.lens1.focal_length, system.pitch[0]
        cutoff = pinhole / (2 * system.wavelength * focal_length)
        stage("system")
        edge = system.mask_from_kernel(LAPLACIAN)
        peak = float(np.abs(edge).max())
        cases = {
            "all-pass": (np.ones(system.shape), np.ones((1, 1)), "identity"),
            "edge": (edge / peak, LAPLACIAN / peak,
                     f"Laplacian 3×3 / {peak:g} (mask scaled to |M| ≤ 1)"),
            "low-pass": (circular_aperture(system.shape, system.fourier_pitch, pinhole),
                         airy_kernel(cutoff, pitch, 2 * system.shape[0] - 1),
                         f"Airy kernel, ν_c = {cutoff:.4g} /m"),
        }
        compared = {}
        for name, (mask, kernel, _) in cases.items():
            compared[name] = compare(system, images, mask, kernel)
            stage(name)
        png = figure_png(centred(images, system.shape), compared, crop=64)
        stage("figure")
        results = {
            "command": "python examples/convolution_4f.py " + " ".join(
                [f"--count {count}", f"--pinhole {pinhole:g}", f"--out {folder}"]),
            "opticsim_version": __version__,
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
            "parameters": {**DEMO_SYSTEM, "digits": count, "image_size": 32,
                           "fourier_pitch": system.fourier_pitch[0], "pinhole_diameter": pinhole,
                           "pinhole_cutoff": cutoff, "edge_kernel": LAPLACIAN.tolist()},
            "cases": {name: {"reference": cases[name][2],
                             "field_relative_error": compared[name]["field_relative_error"],
                             "irradiance_relative_error":
                                 compared[name]["irradiance_relative_error"]}
                      for name in cases},
            "files": {"figure": "demo.png", "results": "results.json", "report": "report.md"},
            "elapsed": time.perf_counter() - started,
        }
        write_atomic(folder / "demo.png", png)
        write_atomic(folder / "results.json", (json.dumps(results, indent=2) + "\n").encode())
        write_atomic(folder / "report.md", report_markdown(results).encode())
        stage("files")
    return results


def main(argv=None) -> int:
    """Run the comparison; returns the exit code (argparse's usage errors included)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="run folder (default runs/convolution-4f-YYYYmmdd-HHMMSS)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an existing non-empty run folder")
    parser.add_argument("--count", type=int, default=4, help="digits to image, 1-16 (default 4)")
    parser.add_argument("--pinhole", type=float, default=3.3e-3,
                        help="Fourier-plane pinhole diameter in m (default 3.3e-3)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if not 1 <= args.count <= 16:
        print(f"convolution_4f: error: --count must be in [1, 16], got {args.count}",
              file=sys.stderr)
        return 2
    if not 0 < args.pinhole <= DEMO_SYSTEM["lens_diameter"]:
        print(f"convolution_4f: error: --pinhole must be in (0, {DEMO_SYSTEM['lens_diameter']}] "
              f"m, got {args.pinhole}", file=sys.stderr)
        return 2
    folder = Path(args.out or datetime.datetime.now().strftime(
        "runs/convolution-4f-%Y%m%d-%H%M%S"))
    try:
        results = run_demo(folder, args.count, args.pinhole, args.overwrite, args.progress)
    except (FileExistsError, OSError) as error:
        print(f"convolution_4f: error: {error}", file=sys.stderr)
        return 1
    for name, case in results["cases"].items():
        print(f"{name:>9}: field error {case['field_relative_error']:.2e}, "
              f"irradiance error {case['irradiance_relative_error']:.2e}")
    print(f"wrote {folder}/{{demo.png, results.json, report.md}}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
