"""Export a mask for a real SLM and load it back
=============================================

Export a Fourier-plane mask for a real SLM, load it back, and check that the engine shows it
as it showed the mask in memory.

The mask is a known kernel's (a 9×9 difference of Gaussians, :meth:`FourF.mask_from_kernel`)
or, with ``--checkpoint``, one channel of a trained kd student (``opticsim demo`` writes them
to ``runs/demo-*/checkpoints/student.pt``) on the bench the demo uses. A phase-only panel
shows the complex mask by double-phase encoding (:func:`opticsim.slm.double_phase`).
:func:`opticsim.export.save_mask` writes the gray levels at the panel's native resolution
(``--slm``, default the Meadowlark 1920×1152) with a JSON sidecar, optionally with a
blazed-grating ``--carrier``; :func:`opticsim.export.load_mask` reads them back. The window
the simulation covers is shown through ``FourF.run(gray=...)`` and compared with
``FourF.run(mask)`` of the same phases in memory: the frames must be equal sample for sample.

The run folder receives ``mask.png`` and ``mask.png.json``, the figure ``export_slm_mask.png``
(the panel's gray levels, the mask's window, a frame from memory, the same frame from the
file, their difference) and ``results.json``.

Usage::

    python examples/export_slm_mask.py [--out FOLDER] [--slm PRESET] [--carrier PX PY]
        [--checkpoint student.pt [--image-size 64] [--channel 0]] [--overwrite]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from opticsim import FourF, Lens, __version__, presets  # noqa: E402
from opticsim.cli import run_script  # noqa: E402
from opticsim.export import carrier_phase, load_mask, save_mask  # noqa: E402
from opticsim.files import prepare_folder, write_atomic  # noqa: E402
from opticsim.slm import double_phase  # noqa: E402

WINDOW, IMAGE, LASER = 64, 32, "dpss-532"


def difference_of_gaussians(size: int = 9, inner: float = 1.0, outer: float = 2.0) -> np.ndarray:
    """A centred ``size``² band-pass kernel ``G(σ=inner) − G(σ=outer)``, each of unit sum."""
    axis = np.arange(size) - size // 2
    r2 = axis[:, None] ** 2 + axis[None, :] ** 2
    gaussians = [np.exp(-r2 / (2 * s * s)) for s in (inner, outer)]
    return gaussians[0] / gaussians[0].sum() - gaussians[1] / gaussians[1].sum()


def digits(count: int, size: int) -> np.ndarray:
    """scikit-learn's first ``count`` 8×8 digits upsampled to ``size``² amplitudes in [0, 1]."""
    from sklearn.datasets import load_digits

    return np.kron(load_digits().images[:count] / 16.0, np.ones((size // 8, size // 8)))


def kernel_display(slm_name: str) -> tuple[FourF, np.ndarray, np.ndarray, dict]:
    """A 4f whose Fourier SLM is a ``WINDOW``²-pixel window of ``slm_name`` sampled by the FFT,
    the double-phase phases (rad) of the difference-of-Gaussians mask, test digits and a
    description."""
    window = presets.slm(slm_name, shape=(WINDOW, WINDOW))
    laser = presets.laser(LASER, power=1e-3)
    n, dx = window.oversample * WINDOW, window.sample_pitch
    focal_length = n * dx * window.sample_pitch / laser.wavelength    # λf/(N·dx) = its pitch
    system = FourF(laser, Lens(focal_length), Lens(focal_length), shape=n, pitch=dx,
                   fourier_slm=window)
    mask = system.mask_from_kernel(difference_of_gaussians())
    phases = double_phase(mask / np.abs(mask).max())
    return system, phases, digits(4, IMAGE), {"mask": "9×9 difference of Gaussians (σ 1, 2)"}


def student_display(checkpoint: Path, slm_name: str, image_size: int, channel: int):
    """The same for channel ``channel`` of a kd student (its + display for the differential
    readout) on the demo's bench (:class:`kd.hardware.Bench`), without its camera."""
    import torch

    from kd.data import load
    from kd.hardware import Bench, student_phases
    from kd.train import restore

    student, settings = restore(checkpoint)
    cascade, image_shape = student.cascade, (image_size, image_size)
    bench = Bench(laser=LASER, fourier_slm=slm_name)
    fourf = bench.fourf(image_shape, cascade.kernel_shape, settings.readout)
    layout = fourf.layout(cascade.in_channels, cascade.out_channels, image_shape,
                          cascade.kernel_shape)
    with torch.no_grad():
        phases = student_phases(student, fourf, layout).double().numpy()[channel]
    phases = phases[0] if settings.readout == "differential" else phases
    images = load("cluttered", "test", size=image_size).images[:4, 0]
    system = dataclasses.replace(fourf, camera=None, readout="intensity")
    return system, phases, images, {"mask": f"{checkpoint}, channel {channel}",
                                    "image_size": image_size}


def figure(gray: np.ndarray, meta: dict, image: np.ndarray, memory: np.ndarray,
           from_file: np.ndarray) -> bytes:
    """The panel's gray levels, the mask's window, a frame from memory and from the file and
    their difference, as PNG bytes."""
    (top, left), (h, w) = meta["offset"], meta["mask_shape"]
    panels = [("input image", image, "gray"),
              (f"exported file: {gray.shape[1]}×{gray.shape[0]} gray levels", gray, "gray"),
              (f"the mask's {w}×{h} window at ({top}, {left})",
               gray[top:top + h, left:left + w], "gray"),
              ("frame, mask in memory (W/m²)", memory, "magma"),
              ("frame, gray levels from the file", from_file, "magma"),
              ("|difference|", np.abs(from_file - memory), "viridis")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for axis, (title, data, cmap) in zip(axes, panels):
        shown = axis.imshow(data, cmap=cmap, interpolation="nearest")
        axis.set_title(title, fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
        fig.colorbar(shown, ax=axis, fraction=0.046, pad=0.04)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/export-slm-mask"),
                        help="run folder (default runs/export-slm-mask)")
    parser.add_argument("--slm", default="meadowlark-1920x1152", help="phase-only SLM preset")
    parser.add_argument("--carrier", type=float, nargs=2, metavar=("PERIOD_X", "PERIOD_Y"),
                        help="blazed-grating periods in pixels (inf: no tilt)")
    parser.add_argument("--checkpoint", type=Path, help="a kd student checkpoint")
    parser.add_argument("--image-size", type=int, default=64,
                        help="side of the student's images (default 64)")
    parser.add_argument("--channel", type=int, default=0, help="the student's channel")
    parser.add_argument("--overwrite", action="store_true",
                        help="reuse a non-empty run folder")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    folder = prepare_folder(args.out, args.overwrite)
    if args.checkpoint is None:
        system, phases, images, described = kernel_display(args.slm)
    else:
        system, phases, images, described = student_display(args.checkpoint, args.slm,
                                                            args.image_size, args.channel)
    path = save_mask(folder / "mask.png", phases, args.slm, wavelength=system.wavelength,
                     carrier=args.carrier, overwrite=args.overwrite, source=described)
    gray, meta = load_mask(path)
    (top, left), (h, w) = meta["offset"], meta["mask_shape"]
    shown = phases
    if args.carrier is not None:            # the phases the panel is asked to show
        shown = phases + carrier_phase(phases.shape, args.carrier, (top, left))
    memory = system.run(images, np.exp(1j * shown))
    from_file = system.run(images, gray=gray[top:top + h, left:left + w])
    results = {
        "command": "python examples/export_slm_mask.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "opticsim_version": __version__,
        "slm": meta["slm"], "mask": described, "carrier": meta["carrier"],
        "offset": meta["offset"], "mask_shape": meta["mask_shape"],
        "frames": list(memory.shape),
        "identical": bool(np.array_equal(memory, from_file)),
        "max_abs_difference": float(np.abs(from_file - memory).max()),
        "peak_irradiance": float(memory.max()),
        "files": ["mask.png", "mask.png.json", "export_slm_mask.png", "results.json"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_atomic(folder / "export_slm_mask.png",
                 figure(gray, meta, images[0], memory[0], from_file[0]))
    write_atomic(folder / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    print(f"{path}: {gray.shape[1]}×{gray.shape[0]} {meta['bits']}-bit gray levels, the mask "
          f"at {tuple(meta['offset'])}; frames from the file "
          f"{'equal' if results['identical'] else 'DIFFER FROM'} those from memory "
          f"(max |difference| {results['max_abs_difference']:.3g} of peak "
          f"{results['peak_irradiance']:.3g} W/m²); wrote {folder}/ in {results['seconds']} s")
    return 0 if results["identical"] else 1


if __name__ == "__main__":
    sys.exit(run_script(main))
