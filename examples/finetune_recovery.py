"""Fine-tuning on a damaged bench
==============================

How much of what a harsh bench costs does hardware-aware fine-tuning win back? A trained
optical student (``opticsim demo``'s ``checkpoints/student.pt``) on the demo's bench
(:class:`kd.hardware.Bench`) with one element changed per run — strong Fourier-SLM fringing,
a 2-bit Fourier SLM — given as ``opticsim sweep --param`` takes them (``FIELD=V1,V2,…``, one
run per value). For each: the bench exposed and calibrated for the student
(:func:`kd.hardware.prepare`), its test accuracy through the engine; then
:func:`kd.hardware.fine_tune` (the back end's normalisation re-estimated on the bench's frames,
then tuned with labels alone) on the first ``--finetune-images`` training images, with the
last ``--validation-images`` training images scored through the differentiable bench every 8
steps, and the tuned student's test accuracy on the bench and calibration it was tuned through,
reported whatever the validation says; each accuracy with its 95 % Wilson interval
(:func:`kd.evaluate.accuracy_record`, n the test scenes). The recovered fraction is
``(tuned − bench)/(ideal − bench)``.

Usage::

    python examples/finetune_recovery.py --checkpoint runs/demo-*/checkpoints/student.pt \\
        --change fourier_slm.crosstalk=0.8 --change fourier_slm.crosstalk=1.2 \\
        --change fourier_slm.bits=2 --out runs/finetune-recovery.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from kd.data import load
from kd.evaluate import accuracy_record, classifier_accuracy, student_on_hardware
from kd.hardware import Bench, fine_tune, prepare
from kd.train import restore_student
from opticsim import sweep
from opticsim.cli import run_script
from opticsim.files import check_targets, write_atomic


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="an optical student's checkpoint")
    parser.add_argument("--change", action="append", type=sweep.parameter, required=True,
                        metavar="FIELD=V1,V2,…", help="bench changes, one run per value "
                        "(repeatable)")
    parser.add_argument("--finetune-images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--no-adapt", action="store_true",
                        help="keep the back end's normalisation as trained (the old method)")
    parser.add_argument("--validation-images", type=int, default=128,
                        help="held-out training images scored during tuning")
    parser.add_argument("--calibration-images", type=int, default=256)
    parser.add_argument("--test-images", type=int, default=None,
                        help="score on the first N test scenes (default all)")
    parser.add_argument("--seed", type=int, default=0, help="fine-tuning and camera noise seed")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_targets([out], args.overwrite)

    train, test = load("cluttered", "train"), load("cluttered", "test")
    if args.test_images is not None:
        test = test.subset(args.test_images)
    student = restore_student(args.checkpoint, 1, len(test.classes))
    bench, n = Bench(), len(test)
    calibration = train.images[:args.calibration_images]
    tune_images = train.subset(args.finetune_images)
    held_out = train.tail(args.validation_images)
    result = {"command": shlex.join(["python", *sys.argv]), "checkpoint": args.checkpoint,
              "bench": bench.to_dict(), "test_images": n,
              "ideal": accuracy_record(classifier_accuracy(student, test.images, test.labels), n),
              "runs": []}
    for name, value in ((name, value) for name, values in args.change for value in values):
        started, changes = time.perf_counter(), {name: value}
        setup = prepare(bench, student, calibration, changes)
        before = student_on_hardware(student, *setup, test.images, test.labels,
                                     seed=args.seed)["accuracy"]
        tuned, history = fine_tune(student, *setup, tune_images.images, tune_images.labels,
                                   epochs=args.epochs, lr=args.lr, adapt=not args.no_adapt,
                                   validation=(held_out.images, held_out.labels),
                                   seed=args.seed, progress=False)
        after = student_on_hardware(tuned, *setup, test.images, test.labels,
                                    seed=args.seed)["accuracy"]
        cost = result["ideal"]["accuracy"] - before
        run = {"change": changes, "bench": accuracy_record(before, n),
               "finetuned": accuracy_record(after, n),
               "recovered_fraction": (after - before) / cost if cost > 0 else None,
               "history": history, "seconds": round(time.perf_counter() - started, 1)}
        result["runs"].append(run)
        print(f"{name}={value}: ideal {result['ideal']['accuracy']:.3f}, bench {before:.3f}, "
              f"fine-tuned {after:.3f} (validation {history['validation_accuracy'][0]:.3f} → "
              f"{history['validation_accuracy'][-1]:.3f}, {run['seconds']} s)", flush=True)
        write_atomic(out, (json.dumps(result, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
