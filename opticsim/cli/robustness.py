"""``opticsim robustness``: a trained optical student's accuracy against the size of each
hardware imperfection, as it is and after hardware-aware fine-tuning, with each imperfection's
tolerance (:mod:`kd.robustness`)."""

from __future__ import annotations

from pathlib import Path

from .options import bench, bench_options, command_line, data_options


def add_parser(commands) -> None:
    from kd.robustness import (FINETUNE_EPOCHS, FINETUNE_IMAGES, IMPERFECTIONS, LOSS,
                               VALIDATION_IMAGES)

    from ..sweep import add_run_options, parameter

    robustness = commands.add_parser(
        "robustness", help="a student's accuracy against each hardware imperfection, naive "
        "and fine-tuned, and each imperfection's tolerance",
        description="Move each imperfection of the bench alone through its sizes; at each "
        "point expose and calibrate the bench for the student, score it on the test set as "
        "it is and after hardware-aware fine-tuning there (kept when it does no worse on "
        "validation images), each with its 95 % Wilson interval. Writes robustness.csv, "
        "robustness.json, a figure per imperfection and summary.md (each imperfection's "
        f"tolerance: the size at which the student has lost {100 * LOSS:g} points from the "
        "ideal) into --out; the points run as a one-at-a-time sweep in --out/points, and "
        "--resume continues an interrupted study. Imperfections: " + "; ".join(
            f"{name} ({i.field}: {i.means})" for name, i in IMPERFECTIONS.items()) + ".")
    robustness.add_argument("checkpoint", type=Path, help="an optical student's checkpoint")
    robustness.add_argument("--imperfections", metavar="NAME,NAME",
                            help=f"the imperfections to move (default all: "
                            f"{','.join(IMPERFECTIONS)})")
    robustness.add_argument("--sizes", action="append", type=parameter,
                            metavar="NAME=V1,V2,…", help="sizes of an imperfection instead of "
                            "its defaults, in its field's unit (repeatable; default: "
                            + "; ".join(f"{name}={','.join(f'{v:g}' for v in i.sizes)}"
                                        for name, i in IMPERFECTIONS.items()) + ")")
    robustness.add_argument("--test-images", type=int,
                            help="score on the first N test images (default all)")
    robustness.add_argument("--finetune-images", type=int, default=FINETUNE_IMAGES,
                            help="training images of the fine-tuning at each point")
    robustness.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS,
                            help="epochs of the fine-tuning at each point")
    robustness.add_argument("--validation-images", type=int, default=VALIDATION_IMAGES,
                            help="the last training images, held out, that keep or drop the "
                            "fine-tuned student")
    robustness.add_argument("--teacher", type=Path, help="a teacher's checkpoint: fine-tune "
                            "with the KD loss against it (default: the labels alone)")
    data_options(robustness)
    bench_options(robustness)
    add_run_options(robustness, out_help="default runs/robustness-YYYYmmdd-HHMMSS")
    robustness.set_defaults(handler=run, repeats=1)


def run(args, argv) -> int:
    from kd import robustness
    from kd.data import load
    from kd.models import SCLCStudent
    from kd.train import predict, restore

    from ..sweep import run_options

    sizes = dict(args.sizes or [])
    if len(sizes) != len(args.sizes or []):
        raise ValueError("each --sizes imperfection may be given once")
    names = None if args.imperfections is None else [
        name.strip() for name in args.imperfections.split(",") if name.strip()]
    chosen = robustness.choose(names, sizes)
    data = {"seed": args.data_seed, "root": args.data_root, "size": args.image_size}
    train, test = load(args.dataset, "train", **data), load(args.dataset, "test", **data)
    if args.test_images is not None:
        test = test.subset(min(args.test_images, len(test)))
    if args.finetune_images + args.validation_images > len(train):
        raise ValueError(f"--finetune-images plus --validation-images must be at most the "
                         f"{len(train)} training images, got {args.finetune_images} + "
                         f"{args.validation_images}")
    student, _ = restore(args.checkpoint, test.images.shape[1], len(test.classes))
    if not isinstance(student, SCLCStudent):
        raise ValueError(f"{args.checkpoint} is not an optical student's checkpoint")
    tune, validation = train.subset(args.finetune_images), train.tail(args.validation_images)
    teacher_logits = None
    if args.teacher is not None:
        teacher, _ = restore(args.teacher, test.images.shape[1], len(test.classes))
        teacher_logits = predict(teacher, tune.images).numpy()
    results = robustness.run(
        student, bench(args), (test.images, test.labels),
        train.images[:args.calibration_images], (tune.images, tune.labels),
        (validation.images, validation.labels), imperfections=chosen,
        teacher_logits=teacher_logits, finetune={"epochs": args.finetune_epochs},
        command=command_line(argv), **run_options(args))
    print(robustness.summary_markdown(results), end="")
    print(f"wrote {args.out}/ ({', '.join(sorted(p.name for p in Path(args.out).iterdir()))})")
    return 0
