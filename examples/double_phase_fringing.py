"""What Fourier-SLM fringing leaves of a double-phase mask
=======================================================

Why hardware-aware fine-tuning cannot win back strong fringing. The phase-only Fourier SLM
shows each complex mask ``M`` by double-phase encoding (:func:`opticsim.slm.double_phase`): a
checkerboard of ``arg M ± a``, ``a = arccos|M|``. Fringing smooths the liquid-crystal state by
a Gaussian whose response at the checkerboard's frequency (Nyquist on both axes) is ``g``, so a
pair shows ``arg M ± g·a`` and the modulus ``cos(g·a)``. Pre-compensating (asking for
``a/g``) is bounded by the panel's 2π phase range: two neighbouring states differ by less than
2π, so ``a < π`` and no pair shows a modulus below ``cos(π·g)``.

For each fringing width (``--crosstalk``, FWHM in pixels): ``g``, measured through the
engine's panel model (:meth:`opticsim.SLM.transmittance` of a checkerboard of gray levels);
the floor ``max(0, cos(π·g))``; the fraction of the student's mask samples (peak modulus 1, as
:func:`kd.hardware.student_phases` scales them) below it; and what the panel shows of the
student's masks on the demo's bench: the relative error of the shown mask and the correlation
of its modulus with ``|M|``, both after the ``[1, 2, 1]/4`` filter on each axis that removes
the checkerboard carrier (whose light the 4f sends outside the camera tile).

Usage::

    python examples/double_phase_fringing.py --checkpoint runs/demo-*/checkpoints/student.pt \\
        --crosstalk 0 0.8 1.2 --out runs/double-phase-fringing.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import convolve1d

from kd.data import load
from kd.hardware import Bench, student_phases
from kd.train import restore_student
from opticsim.cli import run_script
from opticsim.files import check_targets, write_atomic
from opticsim.sweep import apply
from opticsim.torch import masks_from_kernels

#: The [1, 2, 1]/4 filter: zero response at Nyquist, so it removes the double-phase carrier.
CARRIER_FREE = np.array([0.25, 0.5, 0.25])


def nyquist_gain(slm, wavelength: float, swing: float = 1.5) -> float:
    """``g``: the fringing's response to a checkerboard, measured through
    :meth:`opticsim.SLM.transmittance`: the phase difference of two neighbouring pixels
    showing ``π ± swing`` (rad) over ``2·swing``."""
    y, x = np.mgrid[:16, :16]
    gray = slm.to_gray(np.pi + swing * np.where((y + x) % 2, 1.0, -1.0), wavelength)
    shown = slm.transmittance(gray, slm.pitch / slm.oversample, wavelength, offset=(0, 0),
                              dtype=np.complex128)
    row, column = (8 * slm.oversample + slm.oversample // 2,) * 2
    step = shown[row, column + slm.oversample] * np.conj(shown[row, column])
    return abs(float(np.angle(step))) / (2 * swing)


def carrier_free(values: np.ndarray) -> np.ndarray:
    return convolve1d(convolve1d(values, CARRIER_FREE, axis=-1, mode="nearest"), CARRIER_FREE,
                      axis=-2, mode="nearest")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="an optical student's checkpoint")
    parser.add_argument("--crosstalk", type=float, nargs="+", default=[0.0, 0.8, 1.2],
                        help="fringing widths (FWHM, pixels)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_targets([out], args.overwrite)

    train = load("cluttered", "train")
    student = restore_student(args.checkpoint, 1, len(train.classes))
    image_shape, kernel_shape = train.images.shape[-2:], student.cascade.kernel_shape
    bench = Bench().fourf(image_shape, kernel_shape, student.readout)
    layout = bench.layout(1, student.cascade.out_channels, image_shape, kernel_shape)
    with torch.no_grad():
        phases = student_phases(student, bench, layout).double().numpy()
        masks = masks_from_kernels(bench, student.cascade.convolution_kernel(), layout).numpy()
    masks = masks / np.abs(masks).reshape(len(masks), -1).max(1).reshape(
        (-1,) + (1,) * (masks.ndim - 1))
    wanted = carrier_free(masks)
    result = {"command": shlex.join(["python", *sys.argv]), "checkpoint": args.checkpoint,
              "mask_modulus_quantiles_10_50_90": np.quantile(np.abs(masks), [0.1, 0.5, 0.9])
              .tolist(), "runs": []}
    for crosstalk in args.crosstalk:
        fourf = apply(bench, {"fourier_slm.crosstalk": crosstalk})
        slm, wavelength = fourf.fourier_slm, fourf.wavelength
        gain = nyquist_gain(slm, wavelength)
        floor = max(0.0, float(np.cos(np.pi * gain)))
        panel = slm.transmittance(slm.to_gray(phases, wavelength), slm.pitch / slm.oversample,
                                  wavelength, dtype=np.complex128)
        top, left = ((n - m) // 2 for n, m in zip(panel.shape[-2:], masks.shape[-2:]))
        shown = carrier_free(panel[..., top:top + masks.shape[-2], left:left + masks.shape[-1]])
        run = {"crosstalk": crosstalk, "nyquist_gain": gain, "modulus_floor": floor,
               "masks_below_floor": float(np.mean(np.abs(masks) < floor)),
               "shown_mask_error": float(np.linalg.norm(shown - wanted)
                                         / np.linalg.norm(wanted)),
               "shown_modulus_correlation": float(np.corrcoef(np.abs(shown).ravel(),
                                                              np.abs(wanted).ravel())[0, 1]),
               "shown_modulus_quantiles_10_50_90": np.quantile(np.abs(shown), [0.1, 0.5, 0.9])
               .tolist()}
        result["runs"].append(run)
        print(f"crosstalk {crosstalk} px: g {gain:.3f}, floor {floor:.3f}, masks below it "
              f"{run['masks_below_floor']:.1%}, shown-mask error {run['shown_mask_error']:.2f}, "
              f"modulus correlation {run['shown_modulus_correlation']:.3f}", flush=True)
    write_atomic(out, (json.dumps(result, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
