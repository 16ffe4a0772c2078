"""``opticsim eval``: a checkpoint's test accuracy, and an optical student's on the hardware
bench through the engine."""

from __future__ import annotations

import json
from pathlib import Path

from ..files import check_targets, write_atomic
from .options import bench, bench_options, common_options, data_options


def add_parser(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="test accuracy of a checkpoint (and a student's on the hardware bench)",
        description="Test accuracy of a kd checkpoint; for an optical student also through the "
        "engine on the hardware bench.")
    evaluate.add_argument("checkpoint", type=Path, help="a checkpoints/*.pt file of a run")
    data_options(evaluate)
    bench_options(evaluate)
    evaluate.add_argument("--no-hardware", dest="hardware", action="store_false",
                          help="skip the hardware evaluation of a student")
    evaluate.add_argument("--seed", type=int, default=0, help="camera noise seed")
    evaluate.add_argument("--out", help="also write the JSON here (default: print it only)")
    evaluate.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    common_options(evaluate)
    evaluate.set_defaults(handler=run)


def run(args, argv) -> int:
    from kd.data import load
    from kd.evaluate import accuracy_record, classifier_accuracy, student_on_hardware
    from kd.hardware import prepare
    from kd.models import SCLCStudent
    from kd.train import restore

    from ..environment import environment

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
        hardware_bench = bench(args)
        setup = prepare(hardware_bench, model, train.images[:args.calibration_images],
                        progress=args.progress)
        hardware = accuracy_record(student_on_hardware(
            model, *setup, test.images, test.labels, seed=args.seed,
            progress=args.progress)["accuracy"], len(test))
        result["hardware_accuracy"] = hardware["accuracy"]
        result["hardware_interval"] = hardware["interval"]
        result["bench"] = hardware_bench.to_dict()
    result["environment"] = environment()
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        write_atomic(Path(args.out), text.encode())
    print(text, end="")
    return 0
