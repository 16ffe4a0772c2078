"""The ``opticsim`` command line.

- ``opticsim demo``: the main job. On the embedded cluttered-digits set it trains a nonlinear
  CNN teacher, a linear CNN baseline and the SCLC optical student without and with knowledge
  distillation, evaluates the student on a hardware bench through the engine and after
  hardware-aware fine-tuning, exports the Fourier-SLM gray levels, and writes
  ``results.json``, figures and ``report.md`` into a new run folder (:mod:`kd.experiment`);
  ``--quick`` does all of it on a small slice as a smoke test.
- ``opticsim train``: the same comparison with every knob exposed, over several ``--seeds``,
  summarised as mean ± std and each seed's 95 % interval.
- ``opticsim eval``: one checkpoint's test accuracy, and a student's on the hardware bench.
- ``opticsim sweep``: a kernel's convolution error, or a student's accuracy, over a grid of
  the bench's element fields, on local processes or a Dask cluster (:mod:`opticsim.sweep`).
- ``opticsim export``: the Fourier-SLM masks of a kd student checkpoint or a saved
  ``Optical4fConv`` state as gray-level files for a real panel (:mod:`opticsim.export`).
- ``opticsim bench``: time, energy and FLOPs per image of the teacher, the digital student and
  the optical-electronic hybrid against image size (:mod:`kd.optical_vs_gpu`).
- ``opticsim presets``: the SLM, camera and laser presets with their key specs and sources
  (:mod:`opticsim.presets`).

A list option takes its values comma- or space-separated, or both: ``--channels 8,16,16``
and ``--channels 8 16 16`` are the same.

Every user error is one line ``opticsim <command>: error: …`` and a non-zero exit code; Ctrl-C
is one line (with the command that resumes a demo, train or sweep) and exit code 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import __version__, checks
from .files import check_folder, check_targets, write_atomic

SEED_KEYS = ("teacher", "baseline", "student_no_kd", "student", "student_hardware",
             "student_hardware_finetuned")
# The commands that write a run folder and resume it, and the file that marks a run there.
RUNS = {"demo": "experiment.json", "train": "seed-*/experiment.json", "sweep": "sweep.json"}


class _HelpFormatter(argparse.HelpFormatter):
    """Help that gives every option's default: appended as ``(default X)`` unless the help
    already says it; flags and options without a default (None) say what they do instead."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or not action.option_strings or action.nargs == 0
                or default is None or default is argparse.SUPPRESS):
            return text
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        shown = f"default {default}".replace("%", "%%")
        return f"{text} ({shown})" if text else shown


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, as every other user error
    (argparse would print the whole usage first), and whose help gives every default
    (:class:`_HelpFormatter`); subcommand parsers inherit both."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Integer options and their least values, checked before any work so that the error names the
# option (the libraries name their arguments, and some counts only matter later in a run).
LEAST = {"images": 1, "kernel_size": 1, "kernel_seed": 0, "calibration_images": 1,
         "data_seed": 0, "seed": 0, "seeds": 0, "repeats": 1, "workers": 0, "train_size": 1,
         "image_size": 1, "epochs": 1, "batch_size": 1, "validation_images": 1,
         "finetune_images": 1, "finetune_epochs": 1, "input_bits": 1, "channel": 0, "fill": 0}


def _check_counts(args: argparse.Namespace) -> None:
    """``ValueError`` naming the option when an integer option of :data:`LEAST` is below its
    least value."""
    for option, least in LEAST.items():
        values = getattr(args, option, None)
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if value is not None:
                checks.integer(f"--{option.replace('_', '-')}", value, least)


class UsageError(Exception):
    """A user error reported as one line with exit code 2."""


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas or spaces, "
                                         f"got {text!r}")


class _Integers(argparse.Action):
    """Joins the comma-separated groups of a list option given space-separated
    (``8,16 16`` → ``(8, 16, 16)``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, tuple(n for group in values for n in group))


def _integers(group, *names, default, help: str) -> None:
    """Add a list-of-integers option to ``group``, taking ``1,2,3``, ``1 2 3`` or both."""
    group.add_argument(*names, type=_csv_ints, nargs="+", action=_Integers, metavar="N",
                       default=tuple(default),
                       help=f"{help} (default {','.join(map(str, default))})")


def _experiment(args: argparse.Namespace, seed: int):
    """The experiment of the options, on the quick preset's settings with ``--quick``; an
    option given explicitly (not None) overrides the preset."""
    from kd.experiment import QUICK, Experiment
    from kd.hardware import Bench

    bench = Bench(laser=args.laser, fourier_slm=args.fourier_slm, camera=args.camera,
                  exposure=args.exposure, input_bits=args.input_bits)
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(Experiment)
             if field.name not in ("seed", "bench", "quick")
             and getattr(args, field.name) is not None}
    return Experiment(**{**(QUICK if args.quick else {}), **given, "seed": seed, "bench": bench})


def _command(argv) -> str:
    return "opticsim " + " ".join(argv)


def _device(name: str) -> str:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device must be a torch device such as cpu or cuda, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is available here")
    return name


def _run_one(args, seed: int, folder: Path, argv) -> dict:
    from kd.experiment import run

    return run(_experiment(args, seed), folder, resume=args.resume, overwrite=args.overwrite,
               progress=args.progress, device=_device(args.device), command=_command(argv))


def _run_folder(args) -> Path:
    """The run folder of a demo, train or sweep: ``--out``; with ``--resume`` alone the run
    folder ``runs/<command>-*`` whose run started last; else a new ``runs/<command>-<time>``."""
    if args.out:
        return Path(args.out)
    marker = RUNS[args.command]
    if args.resume:
        started = {folder: max(path.stat().st_mtime for path in folder.glob(marker))
                   for folder in Path("runs").glob(f"{args.command}-*")
                   if any(folder.glob(marker))}
        if not started:
            raise ValueError(f"--resume without --out continues the latest run folder "
                             f"runs/{args.command}-* (one holding {marker}), and there is none "
                             f"in {Path.cwd()}; give the run folder with --out")
        return max(started, key=started.get)
    return Path(datetime.datetime.now().strftime(f"runs/{args.command}-%Y%m%d-%H%M%S"))


def _resume_command(args, argv) -> str:
    """The command line that resumes the interrupted run of ``argv``: the same options with
    its run folder as ``--out``, ``--resume`` and no ``--overwrite``."""
    words = [word for word in argv if word != "--overwrite"]
    if not any(word == "--out" or word.startswith("--out=") for word in words):
        words += ["--out", str(args.out)]
    if "--resume" not in words:
        words.append("--resume")
    return "opticsim " + shlex.join(words)


def _print_scores(results: dict) -> None:
    from kd.evaluate import accuracy_text

    for key in SEED_KEYS:
        print(f"{key:>27}: accuracy {accuracy_text(results[key])}")


def _demo(args, argv) -> int:
    from kd.experiment import SMOKE

    folder = Path(args.out)
    results = _run_one(args, args.seed, folder, argv)
    _print_scores(results)
    print(f"wrote {folder}/ (results.json, report.md, figures, slm_gray.npz) in "
          f"{results['elapsed_seconds']:.0f} s" + (f"; quick preset: {SMOKE}"
                                                    if results["quick"] else ""))
    return 0


def summarise(runs: dict) -> dict:
    """Mean, sample standard deviation and range over seeds of each model's accuracy, with
    each seed's 95 % interval; ``runs`` maps seed → results."""
    summary = {}
    for key in SEED_KEYS:
        values = np.array([results[key]["accuracy"] for results in runs.values()])
        summary[key] = {"accuracy": float(values.mean()),
                        "accuracy_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "range": [float(values.min()), float(values.max())],
                        "per_seed": values.tolist(),
                        "per_seed_interval": [results[key]["interval"]
                                              for results in runs.values()],
                        "n": [results[key]["n"] for results in runs.values()]}
    gains = np.array([r["student"]["accuracy"] - r["student_no_kd"]["accuracy"]
                      for r in runs.values()])
    summary["kd_gain"] = {"mean": float(gains.mean()),
                          "std": float(gains.std(ddof=1)) if len(gains) > 1 else 0.0,
                          "per_seed": gains.tolist()}
    return summary


def summary_markdown(summary: dict, seeds, command: str) -> str:
    """The table of :func:`summarise` in Markdown: mean ± std, range and each seed's score
    with its 95 % interval."""
    from kd.evaluate import accuracy_text

    lines = [f"Test accuracy over seeds {', '.join(map(str, seeds))}: mean ± sample std, range, "
             "and each seed's score [95 % Wilson interval from its test images]:", "",
             "| model | mean ± std | range | per seed [95 % interval] |", "|---|---|---|---|"]
    for key in SEED_KEYS:
        entry = summary[key]
        per_seed = [accuracy_text({"accuracy": value, "interval": interval})
                    for value, interval in zip(entry["per_seed"], entry["per_seed_interval"])]
        lines.append(f"| {key} | {entry['accuracy']:.3f} ± {entry['accuracy_std']:.3f} | "
                     f"{entry['range'][0]:.3f} – {entry['range'][1]:.3f} | "
                     + ", ".join(per_seed) + " |")
    gain = summary["kd_gain"]
    lines += ["", f"KD gain (student − student_no_kd): {gain['mean']:+.3f} ± {gain['std']:.3f} "
              "(" + ", ".join(f"{v:+.3f}" for v in gain["per_seed"]) + ")", "",
              f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def _train(args, argv) -> int:
    from kd.figures import accuracy_bars

    from .environment import environment

    folder = Path(args.out)
    _device(args.device)
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds must be distinct, got {' '.join(map(str, args.seeds))}")
    _experiment(args, args.seeds[0])            # bad settings fail before any folder is made
    if not args.resume:                         # made by the first run, once its data loaded
        check_folder(folder, args.overwrite)
    runs = {}
    for seed in args.seeds:
        runs[seed] = _run_one(args, seed, folder / f"seed-{seed}", argv)
    summary = summarise(runs)
    command = _command(argv)
    document = {"command": command, "opticsim_version": __version__, "seeds": list(args.seeds),
                "summary": summary,
                "experiment": {k: v for k, v in runs[args.seeds[0]]["experiment"].items()
                               if k != "seed"},
                "environment": environment(args.device)}
    write_atomic(folder / "summary.json", (json.dumps(document, indent=2) + "\n").encode())
    table = summary_markdown(summary, args.seeds, command)
    write_atomic(folder / "summary.md", table.encode())
    write_atomic(folder / "accuracy.png", accuracy_bars(
        summary, title=f"test accuracy, mean ± std over seeds {list(args.seeds)}"))
    print(table)
    print(f"wrote {folder}/ (summary.json, summary.md, accuracy.png, seed-*/)")
    return 0


def _eval(args, argv) -> int:
    from kd.data import load
    from kd.evaluate import accuracy_record, classifier_accuracy, student_on_hardware
    from kd.hardware import Bench, prepare
    from kd.models import SCLCStudent
    from kd.train import restore

    from .environment import environment

    if args.out:                                # refused before any work, not after it
        check_targets([args.out], args.overwrite)
    test = load(args.dataset, "test", seed=args.data_seed, root=args.data_root,
                size=args.image_size)
    model, settings = restore(args.checkpoint, test.images.shape[1], len(test.classes))
    score = accuracy_record(classifier_accuracy(model, test.images, test.labels), len(test))
    result = {"checkpoint": str(args.checkpoint), "model": settings.model,
              "dataset": args.dataset, "test": len(test),
              "accuracy": score["accuracy"], "interval": score["interval"]}
    if isinstance(model, SCLCStudent) and args.hardware:
        train = load(args.dataset, "train", seed=args.data_seed, root=args.data_root,
                     size=args.image_size)
        bench = Bench(laser=args.laser, fourier_slm=args.fourier_slm, camera=args.camera,
                      exposure=args.exposure, input_bits=args.input_bits)
        setup = prepare(bench, model, train.images[:args.calibration_images],
                        progress=args.progress)
        hardware = accuracy_record(student_on_hardware(
            model, *setup, test.images, test.labels, seed=args.seed,
            progress=args.progress)["accuracy"], len(test))
        result["hardware_accuracy"] = hardware["accuracy"]
        result["hardware_interval"] = hardware["interval"]
        result["bench"] = bench.to_dict()
    result["environment"] = environment()
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        write_atomic(Path(args.out), text.encode())
    print(text, end="")
    return 0


def _sweep(args, argv) -> int:
    from kd.data import load
    from kd.hardware import Bench, expose

    from .sweep import KernelError, run, run_options

    if not args.param:
        raise ValueError("give at least one --param FIELD=V1,V2,… to sweep")
    parameters = dict(args.param)
    if len(parameters) != len(args.param):
        raise ValueError("each --param field may be given once")
    bench = Bench(laser=args.laser, fourier_slm=args.fourier_slm, camera=args.camera,
                  exposure=args.exposure, input_bits=args.input_bits)
    test = load(args.dataset, "test", seed=args.data_seed, root=args.data_root,
                size=args.image_size)
    count = args.images if args.images is not None else (
        len(test) if args.checkpoint is not None else 16)
    images = test.images[:count]
    if args.checkpoint is not None:
        from kd.evaluate import HardwareAccuracy
        from kd.models import SCLCStudent
        from kd.train import restore

        student, _ = restore(args.checkpoint, test.images.shape[1], len(test.classes))
        if not isinstance(student, SCLCStudent):
            raise ValueError(f"{args.checkpoint} is not an optical student's checkpoint; a "
                             f"sweep scores a student on the bench")
        train = load(args.dataset, "train", seed=args.data_seed, root=args.data_root,
                     size=args.image_size)
        calibration = train.images[:args.calibration_images]
        metric = HardwareAccuracy(student, images, test.labels[:count], calibration)
        base = expose(bench, student, calibration)
    else:
        kernel = np.random.default_rng(args.kernel_seed).standard_normal((args.kernel_size,) * 2)
        metric = KernelError(kernel, images[:, 0])
        base = metric.expose(bench.fourf(images.shape[-2:], kernel.shape), bench.fill)
    folder = Path(args.out)
    records = run(metric, base, parameters, mode=args.mode,
                  **{**run_options(args), "out": folder})
    for name in metric.names:
        values = [r[name] for r in records]
        print(f"{name}: {min(values):.4g} … {max(values):.4g} over {len(records)} rows")
    print(f"wrote {folder}/ ({', '.join(sorted(p.name for p in folder.iterdir()))})")
    return 0


# --- export ---------------------------------------------------------------------------------

def _student_displays(path: Path, args) -> tuple[np.ndarray, float, dict]:
    """Double-phase encoded Fourier-SLM phases ``(C, [2,] n, n)`` (rad) of the kd student
    checkpoint ``path`` on the bench of ``--slm`` and ``--laser`` for ``--image-size`` images
    (as the demo displays it: :func:`kd.hardware.student_phases`), the wavelength (m) and
    what describes them."""
    import torch

    from kd.hardware import Bench, student_phases
    from kd.train import load_checkpoint, restore

    from . import presets

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
    side, panel = bench.grid(image_shape, cascade.kernel_shape), presets.slm(args.slm).shape
    if side > min(panel):                       # refused before the masks are computed
        raise ValueError(f"--image-size {args.image_size}: the student's masks span {side}×"
                         f"{side} pixels, more than the {panel[0]}×{panel[1]} panel of --slm "
                         f"{args.slm}; use a smaller --image-size")
    fourf = bench.fourf(image_shape, cascade.kernel_shape, settings.readout)
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
    from .torch import load_state

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


def _export(args, argv) -> int:
    from kd.train import CHECKPOINT_KEYS

    from . import presets
    from .export import mask_files, sidecar_path
    from .files import read_torch, write_files
    from .torch import STATE_FORMAT

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
                    "command": _command(argv)}))
    write_files(files)                  # the whole set or none; a set it replaces survives
    print(f"wrote {', '.join(str(p) for p in paths)} and their .json sidecars "
          f"({slm.shape[0]}×{slm.shape[1]} {slm.bits}-bit gray levels)")
    return 0


def _bench(args, argv) -> int:
    from kd import optical_vs_gpu

    settings = optical_vs_gpu.Settings(
        sizes=args.sizes, measure_up_to=args.measure_up_to, repeats=args.repeats,
        threads=args.threads, laser=args.laser,
        fourier_slm=args.fourier_slm, input_slm=args.input_slm, camera=args.camera,
        exposure=args.exposure, channels_per_frame=args.channels_per_frame,
        adc_energy=args.adc_energy, cpu_core_power=args.cpu_core_power,
        gpu_power=args.gpu_power)
    accuracy = None if args.accuracy is None else optical_vs_gpu.accuracies(args.accuracy)
    optical_vs_gpu.run(settings, Path(args.out), _command(argv), accuracy=accuracy,
                       overwrite=args.overwrite)
    return 0


def _bench_parser(commands) -> None:
    """The ``bench`` subcommand; the bench checks the ranges of its values."""
    from kd import cost, optical_vs_gpu
    from kd.hardware import Bench

    bench = commands.add_parser(
        "bench", help="optical front end + electronic back end against the electronic "
        "teacher: time, energy and FLOPs per image against image size",
        description="Count FLOPs of the kd teacher and student, time them with torch on this "
        "CPU (and CUDA when present), model the optical front end from the presets' frame rates "
        "and powers, and write a JSON, a Markdown table and a log-log plot of time and energy "
        "per image against size, with the crossover size (kd.optical_vs_gpu). It measures "
        "no accuracy: --accuracy reports those of a run.")
    default = Bench()
    _integers(bench, "--sizes", default=optical_vs_gpu.SIZES, help="image sides N")
    bench.add_argument("--measure-up-to", type=int, default=1024,
                       help="time the models with torch up to this N; larger sizes are "
                       "modelled from FLOPs (default %(default)s)")
    bench.add_argument("--repeats", type=int, default=3,
                       help="timed calls per model and size; the fastest counts (default 3)")
    bench.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default 1: steady on a shared machine)")
    devices = bench.add_argument_group("optical bench (preset names: see `opticsim presets`)")
    devices.add_argument("--laser", default=default.laser, help="laser preset")
    devices.add_argument("--fourier-slm", default=default.fourier_slm,
                         help="Fourier SLM preset")
    devices.add_argument("--input-slm", help="input SLM preset (default: a second Fourier SLM "
                         "panel)")
    devices.add_argument("--camera", default=default.camera, help="camera preset")
    devices.add_argument("--exposure", type=float, default=default.exposure,
                         help="camera exposure in s (default %(default)s)")
    devices.add_argument("--channels-per-frame", type=int, default=1,
                         help="output channels tiled in one camera frame (default 1: one "
                         "frame per channel)")
    power = bench.add_argument_group("assumed constants")
    power.add_argument("--adc-energy", type=float, default=cost.ADC_ENERGY,
                       help="J per ADC conversion (default %(default)s)")
    power.add_argument("--cpu-core-power", type=float, default=cost.CPU_CORE_POWER,
                       help="W per CPU thread running the models (default %(default)s)")
    power.add_argument("--gpu-power", type=float, default=cost.GPU_POWER,
                       help="W of a CUDA GPU running them (default %(default)s)")
    bench.add_argument("--accuracy", type=Path, metavar="RESULTS.json",
                       help="report the accuracies of this run: an opticsim demo results.json "
                       "or an opticsim train summary.json (default: none)")
    bench.add_argument("--out", default="bench-results",
                       help="folder for optical_vs_gpu.{json,md,png}, or a .json file with the "
                       ".md table and .png plot beside it (default %(default)s)")
    bench.add_argument("--overwrite", action="store_true",
                       help="replace the JSON, table and plot of an earlier run")
    bench.set_defaults(handler=_bench)


def _presets(args, argv) -> int:
    from . import presets

    if args.name is not None:
        record = presets.info(args.name)
        print(f"{record.name} ({record.kind}): {record.description}")
        for name, value in record.values.items():
            note = " (unverified)" if name in record.unverified else ""
            print(f"  {name} = {value!r}{note}")
        if record.electrical_power is not None:
            print(f"  electrical_power = {record.electrical_power!r} W")
        print(f"  source: {record.source}")
        for name, how in record.assumptions.items():
            print(f"  assumed {name}: {how}")
        if record.aliases:
            print(f"  aliases: {', '.join(record.aliases)}")
        return 0
    titles = {"slm": "SLMs", "camera": "cameras", "laser": "lasers"}
    for kind, names in presets.names().items():
        if args.kind not in (None, kind):
            continue
        print(f"{titles[kind]}:")
        width = max(map(len, names))
        for name in names:
            record = presets.info(name)
            specs = ", ".join(f"{key} {value}" for key, value in record.specs().items())
            print(f"  {name:<{width}}  {record.description}")
            print(f"  {'':<{width}}  {specs}")
            print(f"  {'':<{width}}  source: {record.source}")
    print("* unverified (secondary source). Details: opticsim presets NAME; any value can be "
          "overridden, e.g. presets.camera('imx250', exposure=2e-3).")
    return 0


def _presets_parser(commands) -> None:
    """The ``presets`` subcommand."""
    from .presets import KINDS

    listing = commands.add_parser(
        "presets", help="list the SLM, camera and laser presets with their specs and sources",
        description="List the device presets (opticsim.presets) by kind with their key "
        "specifications and sources, or show one preset's values, sources and assumptions.")
    listing.add_argument("name", nargs="?", help="show this preset in full (aliases allowed)")
    listing.add_argument("--kind", choices=tuple(KINDS), help="list only this kind (default: all)")
    listing.set_defaults(handler=_presets)


# --- parser ---------------------------------------------------------------------------------

def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bars")
    parser.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda)")


def _data_options(parser: argparse.ArgumentParser) -> None:
    from kd.data import DATASETS

    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default="cluttered", choices=DATASETS,
                       help="data set (default cluttered: digits on cluttered 64×64 scenes)")
    group.add_argument("--data-root", help="folder of the MNIST / Fashion-MNIST / CIFAR-10 files "
                       "(no default: needed for those data sets)")
    group.add_argument("--image-size", type=int,
                       help="resample the images to this size (default: the data set's own)")
    group.add_argument("--data-seed", type=int, default=0,
                       help="seed of the embedded data set (default 0)")


def _bench_options(parser: argparse.ArgumentParser) -> None:
    from kd.hardware import Bench

    default = Bench()
    group = parser.add_argument_group("hardware bench (preset names: see `opticsim presets`)")
    group.add_argument("--laser", default=default.laser, help="laser preset")
    group.add_argument("--fourier-slm", default=default.fourier_slm,
                       help=f"phase-only Fourier SLM preset (default {default.fourier_slm})")
    group.add_argument("--camera", default=default.camera, help="camera preset")
    group.add_argument("--exposure", type=float, default=default.exposure,
                       help=f"camera exposure in s (default {default.exposure:g})")
    group.add_argument("--input-bits", type=int, default=default.input_bits,
                       help="bit depth of the amplitude input SLM")
    group.add_argument("--calibration-images", type=int, default=256,
                       help="training images that set the exposure and camera gain "
                       "(default 256)")


def _experiment_options(parser: argparse.ArgumentParser, seeds: bool) -> None:
    from kd.experiment import QUICK, SMOKE, Experiment

    default = Experiment()
    preset = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in QUICK.items()
                       if name != "quick")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick preset: every stage on a small slice in about a minute "
                        f"({preset}; options given override it), a {SMOKE}")
    _data_options(parser)
    parser.add_argument("--train-size", type=int,
                        help="use the first N training images (default: all)")
    parser.add_argument("--test-size", type=int, help="use the first N test images (default: all)")
    model = parser.add_argument_group("models")
    _integers(model, "--teacher-channels", default=default.teacher_channels,
              help="convolution widths of the teacher and the linear baseline")
    _integers(model, "--channels", default=default.channels,
              help="widths of the student's spectral layers (the last: optical channels)")
    model.add_argument("--kernel-size", type=int, default=default.kernel_size,
                       help="teacher/baseline convolution size")
    model.add_argument("--downsample", type=int, default=default.downsample,
                       help="average pool between the teacher's convolutions (1: none)")
    model.add_argument("--spectral-kernel-size", type=int, default=default.spectral_kernel_size,
                       help="kernel size of each spectral layer of the student")
    _integers(model, "--hidden", default=default.hidden,
              help="fully connected widths of the back end")
    model.add_argument("--dropout", type=float, default=default.dropout,
                       help="dropout of the back end's fully connected layers")
    model.add_argument("--readout", default=default.readout,
                       choices=("intensity", "differential"), help="camera readout")
    train = parser.add_argument_group("training")
    train.add_argument("--temperature", type=float, default=default.temperature,
                       help="temperature T of the KD loss")
    train.add_argument("--alpha", type=float, default=default.alpha,
                       help="weight of the soft (KD) term")
    train.add_argument("--epochs", type=int,
                       help=f"training epochs of each model (default {default.epochs})")
    train.add_argument("--batch-size", type=int, default=default.batch_size,
                       help="training batch size")
    train.add_argument("--lr", type=float, default=default.lr, help="Adam learning rate")
    train.add_argument("--validation-images", type=int,
                       help="training images held out to accept or reject the fine-tuning "
                       f"(default {default.validation_images})")
    train.add_argument("--finetune-images", type=int,
                       help="training images of the hardware-aware fine-tuning "
                       f"(default {default.finetune_images})")
    train.add_argument("--finetune-epochs", type=int, default=default.finetune_epochs,
                       help="epochs of the hardware-aware fine-tuning")
    if seeds:
        _integers(train, "--seeds", default=(0, 1, 2), help="training seeds, one run each")
    else:
        train.add_argument("--seed", type=int, default=0, help="training seed")
    _bench_options(parser)
    # options the quick preset sets: None when not given (kd.experiment.Experiment's default)
    parser.set_defaults(**{name: None for name in QUICK if name != "quick"})
    parser.add_argument("--out", help="run folder (default runs/COMMAND-YYYYmmdd-HHMMSS)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in an existing non-empty run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out (default: the latest run folder) "
                        "from its checkpoints")
    _common(parser)


def _export_parser(commands) -> None:
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
    export.add_argument("--channel", type=int, help="export this output channel only (default: all)")
    export.add_argument("--laser", default=Bench().laser,
                        help=f"laser preset of a kd student's bench (default {Bench().laser})")
    export.add_argument("--image-size", type=int, default=64,
                        help="side of the images a kd student was trained on (default 64, the "
                        "embedded cluttered digits); it sets the bench's grid")
    export.set_defaults(handler=_export)


def parser() -> argparse.ArgumentParser:
    """The ``opticsim`` argument parser, one subcommand per job."""
    from .sweep import add_run_options, parameter

    root = _Parser(prog="opticsim", description="opticsim: a 4f optical bench simulator for "
                   "hybrid optical-electronic neural networks. Each command has its own --help.")
    root.add_argument("--version", action="version", version=f"opticsim {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="the main job: teacher, linear baseline and optical student without and "
        "with KD, on ideal optics and on a hardware bench",
        description="Distil a nonlinear CNN into an optical 4f student on the embedded "
        "cluttered digits; evaluate it ideal, on a hardware bench through the engine and after "
        "hardware-aware fine-tuning; write results.json, figures, report.md and the SLM gray "
        "levels into a run folder (default runs/demo-YYYYmmdd-HHMMSS).")
    _experiment_options(demo, seeds=False)
    demo.set_defaults(handler=_demo)
    train = commands.add_parser(
        "train", help="the demo's comparison with every knob, over several seeds",
        description="Run the teacher / baseline / student comparison for each of --seeds into "
        "OUT/seed-S/ and summarise it as mean ± std in OUT/summary.{json,md}.")
    _experiment_options(train, seeds=True)
    train.set_defaults(handler=_train)
    evaluate = commands.add_parser(
        "eval", help="test accuracy of a checkpoint (and a student's on the hardware bench)",
        description="Test accuracy of a kd checkpoint; for an optical student also through the "
        "engine on the hardware bench.")
    evaluate.add_argument("checkpoint", type=Path, help="a checkpoints/*.pt file of a run")
    _data_options(evaluate)
    _bench_options(evaluate)
    evaluate.add_argument("--no-hardware", dest="hardware", action="store_false",
                          help="skip the hardware evaluation of a student")
    evaluate.add_argument("--seed", type=int, default=0, help="camera noise seed")
    evaluate.add_argument("--out", help="also write the JSON here (default: print it only)")
    evaluate.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    _common(evaluate)
    evaluate.set_defaults(handler=_eval)
    sweep = commands.add_parser(
        "sweep", help="a kernel's 4f error or a student's accuracy over a grid of hardware "
        "fields, on local processes or a Dask cluster",
        description="Evaluate a metric over a grid of the bench's element fields "
        "(--param fourier_slm.bits=2,4,8 --param camera.read_noise=1,4,16; a Zernike term as "
        "lens1.zernike.4), repeated over noise seeds derived from each point: the relative "
        "error of a random kernel's convolution through the bench, or with --checkpoint a "
        "trained optical student's test accuracy. Writes sweep.csv (after each point; "
        "sweep.parquet too with pyarrow), sweep.json and a plot per field into --out; "
        "--resume continues an interrupted sweep.")
    sweep.add_argument("--param", action="append", type=parameter, metavar="FIELD=V1,V2,…",
                       help="a field and its values (no default: one is needed; repeat for several "
                       "fields)")
    sweep.add_argument("--one-at-a-time", dest="mode", action="store_const",
                       const="one-at-a-time", default="grid",
                       help="move each field alone from the bench (default: the full grid)")
    sweep.add_argument("--checkpoint", type=Path,
                       help="an optical student's checkpoint: sweep its test accuracy "
                       "(default: the kernel error)")
    sweep.add_argument("--kernel-size", type=int, default=9,
                       help="size of the random kernel of the error metric (default 9)")
    sweep.add_argument("--kernel-seed", type=int, default=7,
                       help="seed of the random kernel of the error metric")
    sweep.add_argument("--images", type=int,
                       help="test images per point (default 16 for the kernel error, the whole "
                       "test set for a student)")
    _data_options(sweep)
    _bench_options(sweep)
    add_run_options(sweep, out_help="default runs/sweep-YYYYmmdd-HHMMSS")
    sweep.set_defaults(handler=_sweep)
    _export_parser(commands)
    _bench_parser(commands)
    _presets_parser(commands)
    return root


def _user_error(error: Exception) -> str:
    """One line for a user error: an ``OSError`` as ``path: reason`` (the path the user gave,
    not a temporary file beside it), anything else as its message."""
    if isinstance(error, OSError) and error.strerror:
        path = error.filename2 or error.filename
        return f"{path}: {error.strerror}" if path else error.strerror
    return " ".join(str(error).split())


def run_script(main: Callable[[], int | None]) -> int:
    """Run an example script's ``main()`` as the command line runs a command: a user error
    (``ValueError``, ``OSError``) is one line on stderr and exit code 1, Ctrl-C one line and
    130; otherwise ``main``'s exit code (0 for None). Use as ``sys.exit(run_script(main))``."""
    prog = Path(sys.argv[0]).name
    try:
        return main() or 0
    except (ValueError, OSError) as error:
        print(f"{prog}: error: {_user_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    """Run the ``opticsim`` command line on ``argv`` (default ``sys.argv[1:]``); returns the
    exit code: 0, 1 for a user error (one line on stderr), 2 for a usage error, 130 for
    Ctrl-C (one line, with the command that resumes a run)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        for option in ("out", "data_root"):
            if getattr(args, option, None) == "":
                raise ValueError(f"--{option.replace('_', '-')} must be a path, got an empty "
                                 "string")
        _check_counts(args)
        if args.command in RUNS:
            args.out = str(_run_folder(args))
        return args.handler(args, argv)
    except (ValueError, OSError) as error:  # FileExistsError, PermissionError… are OSErrors
        print(f"opticsim {args.command}: error: {_user_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        resume = (f"; resume with: {_resume_command(args, argv)}"
                  if args.command in RUNS and args.out else "")
        print(f"\nopticsim {args.command}: interrupted{resume}", file=sys.stderr)
        return 130
