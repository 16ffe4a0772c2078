"""The options and run of the demo's experiment (:mod:`kd.experiment`), shared by
``opticsim demo`` and ``opticsim train``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .options import (bench, bench_options, command_line, common_options, data_options, device,
                      integers)

SEED_KEYS = ("teacher", "baseline", "student_no_kd", "student", "student_hardware",
             "student_hardware_finetuned")


def experiment(args: argparse.Namespace, seed: int):
    """The experiment of the options, on the settings of ``--preset`` (``--quick``: the quick
    preset); an option given explicitly (not None) overrides the preset, an option neither
    given nor set by the preset takes :class:`kd.experiment.Experiment`'s default."""
    from kd.experiment import PRESETS, Experiment

    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(Experiment)
             if field.name not in ("seed", "bench", "preset")
             and getattr(args, field.name) is not None}
    preset = PRESETS[args.preset] if args.preset else {}
    return Experiment(**{**preset, **given, "seed": seed, "bench": bench(args),
                         "preset": args.preset})


def run_one(args, seed: int, folder: Path, argv) -> dict:
    from kd.experiment import run

    return run(experiment(args, seed), folder, resume=args.resume, overwrite=args.overwrite,
               progress=args.progress, device=device(args.device), command=command_line(argv))


def print_scores(results: dict) -> None:
    from kd.evaluate import accuracy_text

    for key in SEED_KEYS:
        print(f"{key:>27}: accuracy {accuracy_text(results[key])}")


def _options_text(values: dict) -> str:
    """A preset's settings as the options that give them (``--epochs 1, --hidden 512,256``)."""
    return ", ".join(f"--{name.replace('_', '-')} "
                     + (",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}"
                        if isinstance(value, float) else str(value))
                     for name, value in values.items())


def _option(group, option: str, kind, help: str, default) -> None:
    """Add ``option`` of type ``kind`` whose value, when not given, is a preset's or else the
    field of the experiment ``default`` that its help names (None until given)."""
    value = getattr(default, option[2:].replace("-", "_"))
    group.add_argument(option, type=kind,
                       help=f"{help} (default {value:g})" if isinstance(value, float)
                       else f"{help} (default {value})")


def experiment_options(parser: argparse.ArgumentParser, seeds: bool) -> None:
    from kd.experiment import PRESETS, SMOKE, Experiment

    default = Experiment()
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument(
        "--preset", choices=tuple(PRESETS),
        help=f"start from a named preset; options given override it. quick: every stage on a "
        f"small slice in about a minute ({_options_text(PRESETS['quick'])}), a {SMOKE}. paper: "
        f"the scale of Xiang et al. 2022 ({_options_text(PRESETS['paper'])}) on MNIST from "
        "--data-root, for a machine with the data and a GPU (--device cuda); see docs/kd.rst "
        "(default: none)")
    presets.add_argument("--quick", dest="preset", action="store_const", const="quick",
                         help="shorthand for --preset quick")
    data_options(parser)
    parser.add_argument("--train-size", type=int,
                        help="use the first N training images (default: all)")
    parser.add_argument("--test-size", type=int, help="use the first N test images (default: all)")
    model = parser.add_argument_group("models")
    integers(model, "--teacher-channels", default=default.teacher_channels,
              help="convolution widths of the teacher and the linear baseline")
    integers(model, "--channels", default=default.channels,
              help="widths of the student's spectral layers (the last: optical channels)")
    _option(model, "--kernel-size", int, "teacher/baseline convolution size", default)
    _option(model, "--downsample", int,
            "average pool between the teacher's convolutions, 1: none", default)
    _option(model, "--spectral-kernel-size", int,
            "kernel size of each spectral layer of the student", default)
    integers(model, "--hidden", default=default.hidden,
              help="fully connected widths of the back end")
    _option(model, "--dropout", float, "dropout of the back end's fully connected layers",
            default)
    model.add_argument("--readout", default=default.readout,
                       choices=("intensity", "differential"), help="camera readout")
    train = parser.add_argument_group("training")
    _option(train, "--temperature", float, "temperature T of the KD loss", default)
    _option(train, "--alpha", float, "weight of the soft (KD) term", default)
    _option(train, "--epochs", int, "training epochs of each model", default)
    train.add_argument("--batch-size", type=int, default=default.batch_size,
                       help="training batch size")
    train.add_argument("--lr", type=float, default=default.lr, help="Adam learning rate")
    _option(train, "--validation-images", int,
            "training images held out to accept or reject the fine-tuning", default)
    _option(train, "--finetune-images", int,
            "training images of the hardware-aware fine-tuning", default)
    train.add_argument("--finetune-epochs", type=int, default=default.finetune_epochs,
                       help="epochs of the hardware-aware fine-tuning")
    if seeds:
        integers(train, "--seeds", default=(0, 1, 2), help="training seeds, one run each")
    else:
        train.add_argument("--seed", type=int, default=0, help="training seed")
    bench_options(parser)
    # the options a preset sets: None when not given (the preset's, else Experiment's default)
    parser.set_defaults(**{name: None for values in PRESETS.values() for name in values})
    parser.add_argument("--out", help="run folder (default runs/COMMAND-YYYYmmdd-HHMMSS)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in an existing non-empty run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out (default: the latest run folder) "
                        "from its checkpoints")
    common_options(parser)
