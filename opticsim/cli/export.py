"""``opticsim export``: the Fourier-SLM masks of a kd student checkpoint or a saved
``Optical4fConv`` state as gray-level files for a real panel (:mod:`opticsim.export`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..files import check_targets
from .options import command_line


def _student_displays(path: Path, args) -> tuple[np.ndarray, float, dict]:
    """Double-phase encoded Fourier-SLM phases ``(C, [2,] n, n)`` (rad) of the kd student
    checkpoint ``path`` on the bench of ``--slm`` and ``--laser`` for ``--image-size`` images
    (as the demo displays it: :func:`kd.hardware.student_phases`), the wavelength (m) and
    what describes them."""
    import torch

    from kd.hardware import Bench, student_phases
    from kd.train import load_checkpoint, restore

    from .. import presets

    mode = presets.slm(args.slm).mode
    if mode != "phase":
        raise ValueError(f"--slm {args.slm} is a {mode} panel; a kd student is shown on a "
                         "phase-only Fourier SLM (double-phase encoding)")
    state = load_checkpoint(path)
    if state["settings"].get("model") != "student":
        raise ValueError(f"checkpoint {path} holds a {state['settings'].get('model')}, not an "
                         "optical student: it has no Fourier-plane masks")
    student, settings = restore(path)
    bench = Bench(laser=args.laser, fourier_slm=args.slm)
    cascade, image_shape = student.cascade, (args.image_size, args.image_size)
    side = bench.grid(image_shape, cascade.kernel_shape, cascade.in_channels)
    panel = presets.slm(args.slm).shape
    if side > min(panel):                       # refused before the masks are computed
        raise ValueError(f"--image-size {args.image_size}: the student's masks span {side}×"
                         f"{side} pixels, more than the {panel[0]}×{panel[1]} panel of --slm "
                         f"{args.slm}; use a smaller --image-size")
    fourf = bench.fourf(image_shape, cascade.kernel_shape, settings.readout,
                        in_channels=cascade.in_channels)
    layout = fourf.layout(cascade.in_channels, cascade.out_channels, image_shape,
                          cascade.kernel_shape)
    with torch.no_grad():
        phases = student_phases(student, fourf, layout).double().numpy()
    return phases, fourf.wavelength, {"kind": "kd student", "settings": settings.to_dict(),
                                      "image_size": args.image_size, "laser": bench.laser,
                                      "grid": list(fourf.shape)}


def _layer_displays(path: Path, slm) -> tuple[np.ndarray, float, dict]:
    """The displays ``(D, [2,] h, w)`` a saved :class:`~opticsim.torch.Optical4fConv` state
    asks its Fourier SLM to show, its wavelength (m) and what describes them; ``ValueError``
    when they were trained for a panel of another pitch, mode or bit depth than ``slm``."""
    from ..torch import load_state

    state = load_state(path)
    trained = state["fourier_slm"]
    if trained is None:
        raise ValueError(f"{path}: the layer had no Fourier SLM, so its masks are no panel's "
                         "gray levels")
    if (trained["mode"], trained["bits"]) != (slm.mode, slm.bits) \
            or not math.isclose(trained["pitch"], slm.pitch, rel_tol=1e-9):
        raise ValueError(f"{path} holds masks for a {trained['bits']}-bit {trained['mode']} "
                         f"panel of pitch {trained['pitch']:g} m, but --slm is a "
                         f"{slm.bits}-bit {slm.mode} panel of pitch {slm.pitch:g} m")
    return state["values"].numpy(), state["wavelength"], {
        "kind": "Optical4fConv", "mask": state["mask"], "readout": state["readout"]}


def _export_paths(out: Path, picked, differential: bool) -> list[Path]:
    """One file per display: ``out`` itself for one, else ``STEM-K[-pos|-neg]SUFFIX``."""
    if len(picked) == 1:
        return [out]
    width = len(str(max(channel for channel, _ in picked)))
    return [out.with_name(f"{out.stem}-{channel:0{width}d}"
                          + (("-pos", "-neg")[part] if differential else "") + out.suffix)
            for channel, part in picked]


def run(args, argv) -> int:
    from kd.train import CHECKPOINT_KEYS

    from .. import presets
    from ..export import mask_files, sidecar_path
    from ..files import read_torch, write_files
    from ..torch import STATE_FORMAT

    slm = presets.slm(args.slm)
    state = read_torch(args.checkpoint)
    if isinstance(state, dict) and state.get("format") == STATE_FORMAT:
        values, wavelength, source = _layer_displays(args.checkpoint, slm)
    elif isinstance(state, dict) and CHECKPOINT_KEYS <= set(state):
        values, wavelength, source = _student_displays(args.checkpoint, args)
    else:
        raise ValueError(f"{args.checkpoint} is neither a kd checkpoint nor a saved "
                         "Optical4fConv state")
    differential = values.ndim == 4
    channels = range(values.shape[0])
    if args.channel is not None:
        if args.channel not in channels:
            raise ValueError(f"--channel must be in [0, {len(channels) - 1}], got {args.channel}")
        channels = [args.channel]
    picked = [(c, part) for c in channels for part in ((0, 1) if differential else (None,))]
    paths = _export_paths(args.out, picked, differential)
    check_targets(paths + [sidecar_path(p) for p in paths], args.overwrite)
    files = {}
    for (channel, part), target in zip(picked, paths):
        display = values[channel] if part is None else values[channel, part]
        files.update(mask_files(
            target, display, presets.info(args.slm).name, wavelength=wavelength,
            carrier=args.carrier, offset=args.offset, fill=args.fill,
            source={**source, "checkpoint": str(args.checkpoint), "channel": channel,
                    "display": None if part is None else ("+", "-")[part],
                    "command": command_line(argv)}))
    write_files(files)                  # the whole set or none; a set it replaces survives
    print(f"wrote {', '.join(str(p) for p in paths)} and their .json sidecars "
          f"({slm.shape[0]}×{slm.shape[1]} {slm.bits}-bit gray levels)")
    return 0


def add_parser(commands) -> None:
    """The ``export`` subcommand."""
    from kd.hardware import Bench

    export = commands.add_parser(
        "export", help="write a checkpoint's Fourier-SLM masks as gray-level files for a panel",
        description="Write the Fourier-SLM gray levels of a kd student checkpoint (as the demo "
        "displays it: double-phase encoded on the bench of --slm and --laser) or of a saved "
        "Optical4fConv state (Optical4fConv.save) at the native resolution of panel --slm, "
        "through its LUT, with a JSON sidecar (opticsim.export). The format follows -o's "
        "suffix: .png, .bmp, .tif, .npy, .npz. Several channels give one file per display, "
        "FILE-K (FILE-K-pos and FILE-K-neg for the differential readout).")
    export.add_argument("checkpoint", type=Path,
                        help="a kd checkpoint (checkpoints/student*.pt) or Optical4fConv state")
    export.add_argument("--slm", required=True, help="preset of the Fourier SLM panel")
    export.add_argument("-o", "--out", type=Path, required=True, help="file to write")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")
    export.add_argument("--carrier", type=float, nargs=2, metavar=("PERIOD_X", "PERIOD_Y"),
                        help="blazed-grating periods in pixels (signed; inf: no tilt), which "
                        "move the signal off the zero order (default: none)")
    export.add_argument("--offset", type=int, nargs=2, metavar=("ROW", "COL"),
                        help="panel pixel of the mask's first pixel (default: centred)")
    export.add_argument("--fill", type=int, default=0,
                        help="gray level of the panel outside the mask (default 0)")
    export.add_argument("--channel", type=int,
                        help="export this output channel only (default: all)")
    export.add_argument("--laser", default=Bench().laser,
                        help=f"laser preset of a kd student's bench (default {Bench().laser})")
    export.add_argument("--image-size", type=int, default=64,
                        help="side of the images a kd student was trained on (default 64, the "
                        "embedded cluttered digits); it sets the bench's grid")
    export.set_defaults(handler=run)
