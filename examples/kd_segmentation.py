"""Pixel-wise knowledge distillation for segmentation
==================================================

Pixel-wise knowledge distillation for segmentation on the embedded cluttered scenes.

Four models segment the target digit (background / digit, the scenes' masks) of the cluttered
64×64 scenes (:func:`kd.data.load`): a U-Net teacher, the linear baseline (the optical
student's cascade with no camera), and the SCLC optical student (cascade → camera square law
→ the same light decoder) trained on the masks alone and with pixel-wise KD against the
teacher's logit maps on the training scenes. Each is scored on the test split (argmax of its
logits; mIoU and Dice, :func:`kd.evaluate.segmentation_scores`). The scenes are fixed (data
seed 0); ``--seed`` sets the initial weights and the batch order. Writes ``results.json``
(settings, scores, curves, timings) and ``segmentation.png`` (test scenes, true masks, each
model's masks) into the run folder.

Usage::

    python examples/kd_segmentation.py [--epochs N] [--train-size N] [--test-size N]
        [--seed S] [--temperature T] [--alpha A] [--out FOLDER] [--overwrite] [--no-progress]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from kd.data import load
from kd.evaluate import segmentation_scores
from kd.figures import LABELS, frame_panels
from kd.segmentation import SegBaseline, SegStudent, SegTeacher
from kd.train import Settings, fit, predict
from opticsim.cli import run_script
from opticsim.files import prepare_folder, write_atomic

MODELS = ("teacher", "baseline", "student_no_kd", "student")
TEACHER_CHANNELS = (8, 16, 32)
STUDENT_CHANNELS = (8, 16, 16)
BATCH_SIZE = 32
LEARNING_RATE = 1e-2
SHOWN = 6                                   # test scenes in the figure
DEFAULTS = {"epochs": 8, "train_size": 1536, "seed": 0, "temperature": 2.0, "alpha": 0.5}


def run_settings(epochs: int, seed: int, temperature: float, alpha: float) -> dict:
    """One :class:`Settings` per model; only ``student`` learns from the teacher."""
    common = {"epochs": epochs, "seed": seed, "temperature": temperature,
              "batch_size": BATCH_SIZE, "lr": LEARNING_RATE, "spectral_kernel_size": 3}
    return {"teacher": Settings(model="teacher", channels=TEACHER_CHANNELS, alpha=0.0, **common),
            "baseline": Settings(model="baseline", channels=STUDENT_CHANNELS, alpha=0.0,
                                 **common),
            "student_no_kd": Settings(model="student", channels=STUDENT_CHANNELS, alpha=0.0,
                                      **common),
            "student": Settings(model="student", channels=STUDENT_CHANNELS, alpha=alpha,
                                **common)}


def build(settings: Settings) -> torch.nn.Module:
    """The segmentation model ``settings.model`` describes (2 classes), initialised from
    ``settings.seed``: the baseline and both students start from the same weights."""
    torch.manual_seed(settings.seed)
    if settings.model == "teacher":
        return SegTeacher(channels=settings.channels)
    if settings.model == "baseline":
        return SegBaseline(channels=settings.channels,
                           kernel_size=settings.spectral_kernel_size)
    return SegStudent(channels=settings.channels, kernel_size=settings.spectral_kernel_size,
                      readout=settings.readout)


def train_and_score(settings: Settings, train, test, teacher_logits=None,
                    progress: bool = True, desc: str | None = None) -> dict:
    """Train :func:`build` ``(settings)`` on ``train``'s masks (KD against ``teacher_logits``
    ``(N, 2, H, W)`` when ``settings.alpha > 0``) and score it on ``test``. Returns
    ``{"model", "history", "scores", "predicted" (N_test, H, W), "seconds"}``."""
    started = time.perf_counter()
    model, history = fit(settings, train.images, train.masks, model=build(settings),
                         teacher_logits=teacher_logits if settings.alpha > 0 else None,
                         progress=progress, desc=desc)
    predicted = predict(model, test.images).argmax(dim=1).numpy().astype(np.uint8)
    return {"model": model, "history": history, "predicted": predicted,
            "scores": segmentation_scores(predicted, test.masks, classes=2),
            "seconds": time.perf_counter() - started}


def run(folder: Path, settings: dict, train, test, progress: bool = True) -> dict:
    """Train the four models of ``settings`` (:func:`run_settings`) on ``train``, score them
    on ``test`` and write results.json and segmentation.png into ``folder`` (which
    :func:`prepare_folder` made); returns what results.json holds."""
    started = time.perf_counter()
    runs, teacher_logits = {}, None
    for name in MODELS:
        runs[name] = train_and_score(settings[name], train, test, teacher_logits, progress,
                                     desc=name)
        if name == "teacher":
            teacher_logits = predict(runs[name]["model"], train.images)
    student = settings["student"]
    mask = "class (1: digit)"
    rows = {"test scene": (test.images[:SHOWN, 0], "amplitude transmittance", None),
            "true mask": (test.masks[:SHOWN], mask, None)}
    for name in MODELS:
        label = LABELS[name].replace("\n", " ")
        rows[f"{label}: mIoU {runs[name]['scores']['miou']:.3f}"] = (runs[name]["predicted"],
                                                                      mask, None)
    results = {
        "command": (f"python examples/kd_segmentation.py --epochs {student.epochs} "
                    f"--train-size {len(train)} --test-size {len(test)} --seed {student.seed} "
                    f"--temperature {student.temperature:g} --alpha {student.alpha:g} "
                    f"--out {folder}"),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": {"name": "cluttered", "train": len(train), "test": len(test),
                 "image_shape": list(test.images.shape[1:]),
                 "test_foreground_fraction": float(test.masks.mean())},
        "settings": {name: settings[name].to_dict() for name in MODELS},
        "models": {name: {"class": type(runs[name]["model"]).__name__,
                          "parameters": sum(p.numel() for p in runs[name]["model"].parameters())}
                   for name in MODELS},
        "scores": {name: runs[name]["scores"] for name in MODELS},
        "histories": {name: runs[name]["history"] for name in MODELS},
        "seconds": {name: runs[name]["seconds"] for name in MODELS},
        "files": {"results": "results.json", "figure": "segmentation.png"},
    }
    write_atomic(folder / "segmentation.png", frame_panels(rows, count=min(SHOWN, len(test))))
    results["elapsed"] = time.perf_counter() - started
    write_atomic(folder / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    return results


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="kd_segmentation.py",
                                    description=__doc__.splitlines()[0])
    parse.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                       help=f"training epochs of every model (default {DEFAULTS['epochs']})")
    parse.add_argument("--train-size", type=int, default=DEFAULTS["train_size"],
                       help=f"training scenes, the first of the train split (default "
                            f"{DEFAULTS['train_size']})")
    parse.add_argument("--test-size", type=int,
                       help="test scenes scored, the first of the test split (default all)")
    parse.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                       help="seed of the initial weights and batch order (default 0)")
    parse.add_argument("--temperature", type=float, default=DEFAULTS["temperature"],
                       help=f"KD temperature T (default {DEFAULTS['temperature']:g})")
    parse.add_argument("--alpha", type=float, default=DEFAULTS["alpha"],
                       help=f"weight of the KD term, in [0, 1] (default {DEFAULTS['alpha']:g})")
    parse.add_argument("--out", default="runs/kd-segmentation",
                       help="run folder (default runs/kd-segmentation)")
    parse.add_argument("--overwrite", action="store_true",
                       help="replace the files of an existing non-empty run folder")
    parse.add_argument("--no-progress", dest="progress", action="store_false",
                       help="hide the progress bars")
    return parse


def main(argv=None) -> int:
    """Run on ``argv`` (default ``sys.argv[1:]``); returns the exit code: 0 done, 1 the run
    folder is not empty (nothing written), 2 a usage error (``--help``: 0)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        settings = run_settings(args.epochs, args.seed, args.temperature, args.alpha)
    except ValueError as error:
        print(f"kd_segmentation.py: error: {error}", file=sys.stderr)
        return 2
    splits = {"train": load("cluttered", "train"), "test": load("cluttered", "test")}
    sizes = {"train": args.train_size,
             "test": len(splits["test"]) if args.test_size is None else args.test_size}
    for split, data in splits.items():
        if not 1 <= sizes[split] <= len(data):
            print(f"kd_segmentation.py: error: --{split}-size must be in [1, {len(data)}], got "
                  f"{sizes[split]}", file=sys.stderr)
            return 2
    try:
        folder = prepare_folder(args.out, args.overwrite)
    except FileExistsError as error:
        print(f"kd_segmentation.py: error: {error}", file=sys.stderr)
        return 1
    results = run(folder, settings, splits["train"].subset(sizes["train"]),
                  splits["test"].subset(sizes["test"]), args.progress)
    print(f"{'model':<15} {'mIoU':>6} {'Dice':>6} {'seconds':>8}")
    for name, scores in results["scores"].items():
        print(f"{name:<15} {scores['miou']:6.3f} {scores['dice']:6.3f} "
              f"{results['seconds'][name]:8.1f}")
    print(f"wrote {folder}/{{results.json, segmentation.png}} in {results['elapsed']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
