"""The ``opticsim`` command line.

- ``opticsim demo``: the main job. On the embedded cluttered-digits set it trains a nonlinear
  CNN teacher, a linear CNN baseline and the SCLC optical student without and with knowledge
  distillation, evaluates the student on a hardware bench through the engine and after
  hardware-aware fine-tuning, exports the Fourier-SLM gray levels, and writes
  ``results.json``, figures and ``report.md`` into a new run folder (:mod:`kd.experiment`).
- ``opticsim train``: the same comparison with every knob exposed, over several ``--seeds``,
  summarised as mean ± std.
- ``opticsim eval``: one checkpoint's test accuracy, and a student's on the hardware bench.
- ``opticsim bench``: time, energy and FLOPs per image of the teacher, the digital student and
  the optical-electronic hybrid against image size (``benches/optical_vs_gpu.py``).

Every user error is one line ``opticsim <command>: error: …`` and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .files import prepare_folder, write_atomic

SEED_KEYS = ("teacher", "baseline", "student_no_kd", "student", "student_hardware",
             "student_hardware_finetuned")


class UsageError(Exception):
    """A user error reported as one line with exit code 2."""


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _experiment(args: argparse.Namespace, seed: int):
    from kd.experiment import Experiment
    from kd.hardware import Bench

    bench = Bench(laser=args.laser, fourier_slm=args.fourier_slm, camera=args.camera,
                  exposure=args.exposure, input_bits=args.input_bits)
    return Experiment(
        dataset=args.dataset, data_root=args.data_root, image_size=args.image_size,
        train_size=args.train_size, data_seed=args.data_seed, seed=seed,
        teacher_channels=args.teacher_channels, channels=args.channels,
        kernel_size=args.kernel_size, downsample=args.downsample,
        spectral_kernel_size=args.spectral_kernel_size, hidden=args.hidden,
        dropout=args.dropout, readout=args.readout, temperature=args.temperature,
        alpha=args.alpha,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, bench=bench,
        calibration_images=args.calibration_images, validation_images=args.validation_images,
        finetune_images=args.finetune_images, finetune_epochs=args.finetune_epochs)


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


def _print_scores(results: dict) -> None:
    for key in SEED_KEYS:
        print(f"{key:>27}: accuracy {results[key]['accuracy']:.3f}")


def _demo(args, argv) -> int:
    folder = Path(args.out or datetime.datetime.now().strftime("runs/demo-%Y%m%d-%H%M%S"))
    results = _run_one(args, args.seed, folder, argv)
    _print_scores(results)
    print(f"wrote {folder}/ (results.json, report.md, figures, slm_gray.npz) in "
          f"{results['elapsed_seconds']:.0f} s")
    return 0


def summarise(runs: dict) -> dict:
    """Mean and sample standard deviation over seeds of each model's accuracy;
    ``runs`` maps seed → results."""
    summary = {}
    for key in SEED_KEYS:
        values = np.array([results[key]["accuracy"] for results in runs.values()])
        summary[key] = {"accuracy": float(values.mean()),
                        "accuracy_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "per_seed": values.tolist()}
    gains = np.array([r["student"]["accuracy"] - r["student_no_kd"]["accuracy"]
                      for r in runs.values()])
    summary["kd_gain"] = {"mean": float(gains.mean()),
                          "std": float(gains.std(ddof=1)) if len(gains) > 1 else 0.0,
                          "per_seed": gains.tolist()}
    return summary


def summary_markdown(summary: dict, seeds, command: str) -> str:
    """The mean ± std table of :func:`summarise` in Markdown."""
    lines = [f"Test accuracy over seeds {', '.join(map(str, seeds))} (mean ± sample std):", "",
             "| model | accuracy | per seed |", "|---|---|---|"]
    for key in SEED_KEYS:
        entry = summary[key]
        lines.append(f"| {key} | {entry['accuracy']:.3f} ± {entry['accuracy_std']:.3f} | "
                     + ", ".join(f"{v:.3f}" for v in entry["per_seed"]) + " |")
    gain = summary["kd_gain"]
    lines += ["", f"KD gain (student − student_no_kd): {gain['mean']:+.3f} ± {gain['std']:.3f} "
              "(" + ", ".join(f"{v:+.3f}" for v in gain["per_seed"]) + ")", "",
              f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def _train(args, argv) -> int:
    from kd.figures import accuracy_bars

    folder = Path(args.out or datetime.datetime.now().strftime("runs/train-%Y%m%d-%H%M%S"))
    _device(args.device)
    _experiment(args, args.seeds[0])            # bad settings fail before any folder is made
    if not args.resume:
        prepare_folder(folder, args.overwrite)
    runs = {}
    for seed in args.seeds:
        runs[seed] = _run_one(args, seed, folder / f"seed-{seed}", argv)
    summary = summarise(runs)
    command = _command(argv)
    document = {"command": command, "opticsim_version": __version__, "seeds": list(args.seeds),
                "summary": summary,
                "experiment": {k: v for k, v in runs[args.seeds[0]]["experiment"].items()
                               if k != "seed"}}
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
    from kd.evaluate import classifier_accuracy, student_on_hardware
    from kd.hardware import Bench, prepare
    from kd.models import SCLCStudent
    from kd.train import restore

    test = load(args.dataset, "test", seed=args.data_seed, root=args.data_root,
                size=args.image_size)
    model, settings = restore(args.checkpoint, test.images.shape[1], len(test.classes))
    result = {"checkpoint": str(args.checkpoint), "model": settings.model,
              "dataset": args.dataset, "test": len(test),
              "accuracy": classifier_accuracy(model, test.images, test.labels)}
    if isinstance(model, SCLCStudent) and args.hardware:
        train = load(args.dataset, "train", seed=args.data_seed, root=args.data_root,
                     size=args.image_size)
        bench = Bench(laser=args.laser, fourier_slm=args.fourier_slm, camera=args.camera,
                      exposure=args.exposure, input_bits=args.input_bits)
        setup = prepare(bench, model, train.images[:args.calibration_images])
        hardware = student_on_hardware(model, *setup, test.images, test.labels, seed=args.seed,
                                       progress=args.progress)
        result["hardware_accuracy"] = hardware["accuracy"]
        result["bench"] = bench.to_dict()
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        path = Path(args.out)
        if path.exists() and not args.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
        write_atomic(path, text.encode())
    print(text, end="")
    return 0


BENCH_FILE = Path(__file__).resolve().parents[1] / "benches" / "optical_vs_gpu.py"


def _bench_module():
    """``benches/optical_vs_gpu.py`` of this source tree (benches are not installed)."""
    import importlib.util

    if not BENCH_FILE.is_file():
        raise FileNotFoundError(f"{BENCH_FILE} not found: opticsim bench runs from a source "
                                "checkout of opticsim")
    spec = importlib.util.spec_from_file_location("optical_vs_gpu", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                 # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _integer(option: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{option} must be an integer, got {text!r}") from None


def _bench(args, argv) -> int:
    module = _bench_module()
    sizes = tuple(_integer("--sizes", part) for part in args.sizes.split(",") if part.strip())
    settings = module.Settings(
        sizes=sizes, measure_up_to=_integer("--measure-up-to", args.measure_up_to),
        repeats=_integer("--repeats", args.repeats),
        threads=_integer("--threads", args.threads), laser=args.laser,
        fourier_slm=args.fourier_slm, input_slm=args.input_slm, camera=args.camera,
        exposure=args.exposure, channels_per_frame=_integer("--channels-per-frame",
                                                            args.channels_per_frame),
        adc_energy=args.adc_energy, cpu_core_power=args.cpu_core_power,
        gpu_power=args.gpu_power)
    module.run(settings, Path(args.out), _command(argv))
    return 0


def _bench_parser(commands) -> None:
    """The ``bench`` subcommand. Its values are read as text and checked by the bench, so
    every bad value is one line ``opticsim bench: error: …``."""
    from kd import cost
    from kd.hardware import Bench

    bench = commands.add_parser(
        "bench", help="optical front end + electronic back end against the electronic "
        "teacher: time, energy and FLOPs per image against image size",
        description="Count FLOPs of the kd teacher and student, time them with torch on this "
        "CPU (and CUDA when present), model the optical front end from the presets' frame rates "
        "and powers, and write a JSON, a Markdown table and a log-log plot of time and energy "
        "per image against size, with the crossover size (benches/optical_vs_gpu.py).")
    default = Bench()
    bench.add_argument("--sizes", default="32,64,128,256,512,1024,2048,4096",
                       help="image sides N, comma-separated (default %(default)s)")
    bench.add_argument("--measure-up-to", default="1024",
                       help="time the models with torch up to this N; larger sizes are "
                       "modelled from FLOPs (default %(default)s)")
    bench.add_argument("--repeats", default="3",
                       help="timed calls per model and size; the fastest counts (default 3)")
    bench.add_argument("--threads", default="1",
                       help="torch CPU threads (default 1: steady on a shared machine)")
    devices = bench.add_argument_group("optical bench (preset names: opticsim.presets)")
    devices.add_argument("--laser", default=default.laser)
    devices.add_argument("--fourier-slm", default=default.fourier_slm)
    devices.add_argument("--input-slm", help="default: a second Fourier SLM panel")
    devices.add_argument("--camera", default=default.camera)
    devices.add_argument("--exposure", default=str(default.exposure),
                         help="camera exposure in s (default %(default)s)")
    devices.add_argument("--channels-per-frame", default="1",
                         help="output channels tiled in one camera frame (default 1: one "
                         "frame per channel)")
    power = bench.add_argument_group("assumed constants")
    power.add_argument("--adc-energy", default=str(cost.ADC_ENERGY),
                       help="J per ADC conversion (default %(default)s)")
    power.add_argument("--cpu-core-power", default=str(cost.CPU_CORE_POWER),
                       help="W per CPU thread running the models (default %(default)s)")
    power.add_argument("--gpu-power", default=str(cost.GPU_POWER),
                       help="W of a CUDA GPU running them (default %(default)s)")
    bench.add_argument("--out", default="bench-results/optical_vs_gpu.json",
                       help="JSON file; the .md table and .png plot go beside it "
                       "(default %(default)s)")
    bench.set_defaults(handler=_bench)


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
    group.add_argument("--data-root", help="folder of the MNIST / Fashion-MNIST / CIFAR-10 files")
    group.add_argument("--image-size", type=int, help="resample the images to this size")
    group.add_argument("--data-seed", type=int, default=0,
                       help="seed of the embedded data set (default 0)")


def _bench_options(parser: argparse.ArgumentParser) -> None:
    from kd.hardware import Bench

    default = Bench()
    group = parser.add_argument_group("hardware bench (preset names: opticsim.presets)")
    group.add_argument("--laser", default=default.laser)
    group.add_argument("--fourier-slm", default=default.fourier_slm,
                       help=f"phase-only Fourier SLM preset (default {default.fourier_slm})")
    group.add_argument("--camera", default=default.camera)
    group.add_argument("--exposure", type=float, default=default.exposure,
                       help=f"camera exposure in s (default {default.exposure:g})")
    group.add_argument("--input-bits", type=int, default=default.input_bits,
                       help="bit depth of the amplitude input SLM")
    group.add_argument("--calibration-images", type=int, default=256,
                       help="training images that set the exposure and camera gain")


def _experiment_options(parser: argparse.ArgumentParser, seeds: bool) -> None:
    from kd.experiment import Experiment

    default = Experiment()
    _data_options(parser)
    parser.add_argument("--train-size", type=int, help="use the first N training images")
    model = parser.add_argument_group("models")
    model.add_argument("--teacher-channels", type=_csv_ints, default=default.teacher_channels,
                       help="convolution widths of the teacher and the linear baseline")
    model.add_argument("--channels", type=_csv_ints, default=default.channels,
                       help="widths of the student's spectral layers (the last: optical "
                       "channels)")
    model.add_argument("--kernel-size", type=int, default=default.kernel_size,
                       help="teacher/baseline convolution size")
    model.add_argument("--downsample", type=int, default=default.downsample,
                       help="average pool between the teacher's convolutions (1: none)")
    model.add_argument("--spectral-kernel-size", type=int, default=default.spectral_kernel_size,
                       help="kernel size of each spectral layer of the student")
    model.add_argument("--hidden", type=_csv_ints, default=default.hidden,
                       help="fully connected widths of the back end")
    model.add_argument("--dropout", type=float, default=default.dropout,
                       help="dropout of the back end's fully connected layers")
    model.add_argument("--readout", default=default.readout,
                       choices=("intensity", "differential"), help="camera readout")
    train = parser.add_argument_group("training")
    train.add_argument("--temperature", type=float, default=default.temperature)
    train.add_argument("--alpha", type=float, default=default.alpha,
                       help="weight of the soft (KD) term")
    train.add_argument("--epochs", type=int, default=default.epochs)
    train.add_argument("--batch-size", type=int, default=default.batch_size)
    train.add_argument("--lr", type=float, default=default.lr)
    train.add_argument("--validation-images", type=int, default=default.validation_images,
                       help="training images held out to accept or reject the fine-tuning")
    train.add_argument("--finetune-images", type=int, default=default.finetune_images)
    train.add_argument("--finetune-epochs", type=int, default=default.finetune_epochs)
    if seeds:
        train.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    else:
        train.add_argument("--seed", type=int, default=0)
    _bench_options(parser)
    parser.add_argument("--out", help="run folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in an existing non-empty run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoints")
    _common(parser)


def parser() -> argparse.ArgumentParser:
    """The ``opticsim`` argument parser, one subcommand per job."""
    root = argparse.ArgumentParser(prog="opticsim", description=__doc__.split("\n")[0])
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
    evaluate.add_argument("--out", help="also write the JSON here")
    evaluate.add_argument("--overwrite", action="store_true")
    _common(evaluate)
    evaluate.set_defaults(handler=_eval)
    _bench_parser(commands)
    return root


def main(argv=None) -> int:
    """Run the ``opticsim`` command line on ``argv`` (default ``sys.argv[1:]``); returns the
    exit code: 0, 1 for a user error (one line on stderr), 2 for a usage error."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return args.handler(args, argv)
    except (ValueError, FileExistsError, FileNotFoundError, PermissionError, OSError) as error:
        print(f"opticsim {args.command}: error: {error}", file=sys.stderr)
        return 1
