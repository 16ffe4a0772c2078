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
    """The experiment of the options, on the quick preset's settings with ``--quick``; an
    option given explicitly (not None) overrides the preset."""
    from kd.experiment import QUICK, Experiment

    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(Experiment)
             if field.name not in ("seed", "bench", "quick")
             and getattr(args, field.name) is not None}
    return Experiment(**{**(QUICK if args.quick else {}), **given, "seed": seed,
                         "bench": bench(args)})


def run_one(args, seed: int, folder: Path, argv) -> dict:
    from kd.experiment import run

    return run(experiment(args, seed), folder, resume=args.resume, overwrite=args.overwrite,
               progress=args.progress, device=device(args.device), command=command_line(argv))


def print_scores(results: dict) -> None:
    from kd.evaluate import accuracy_text

    for key in SEED_KEYS:
        print(f"{key:>27}: accuracy {accuracy_text(results[key])}")


def experiment_options(parser: argparse.ArgumentParser, seeds: bool) -> None:
    from kd.experiment import QUICK, SMOKE, Experiment

    default = Experiment()
    preset = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in QUICK.items()
                       if name != "quick")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick preset: every stage on a small slice in about a minute "
                        f"({preset}; options given override it), a {SMOKE}")
    data_options(parser)
    parser.add_argument("--train-size", type=int,
                        help="use the first N training images (default: all)")
    parser.add_argument("--test-size", type=int, help="use the first N test images (default: all)")
    model = parser.add_argument_group("models")
    integers(model, "--teacher-channels", default=default.teacher_channels,
              help="convolution widths of the teacher and the linear baseline")
    integers(model, "--channels", default=default.channels,
              help="widths of the student's spectral layers (the last: optical channels)")
    model.add_argument("--kernel-size", type=int, default=default.kernel_size,
                       help="teacher/baseline convolution size")
    model.add_argument("--downsample", type=int, default=default.downsample,
                       help="average pool between the teacher's convolutions (1: none)")
    model.add_argument("--spectral-kernel-size", type=int, default=default.spectral_kernel_size,
                       help="kernel size of each spectral layer of the student")
    integers(model, "--hidden", default=default.hidden,
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
        integers(train, "--seeds", default=(0, 1, 2), help="training seeds, one run each")
    else:
        train.add_argument("--seed", type=int, default=0, help="training seed")
    bench_options(parser)
    # options the quick preset sets: None when not given (kd.experiment.Experiment's default)
    parser.set_defaults(**{name: None for name in QUICK if name != "quick"})
    parser.add_argument("--out", help="run folder (default runs/COMMAND-YYYYmmdd-HHMMSS)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in an existing non-empty run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out (default: the latest run folder) "
                        "from its checkpoints")
    common_options(parser)
