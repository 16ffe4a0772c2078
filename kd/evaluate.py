"""Scores: classification accuracy with its confidence interval, segmentation mIoU and Dice,
and the optical student on a hardware bench through the NumPy engine (exported gray levels,
camera noise, ADC), also as a metric of hardware sweeps (:class:`HardwareAccuracy`,
:mod:`opticsim.sweep`)."""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from opticsim import FourF, checks
from opticsim.sweep import describe

from .hardware import Calibration, calibrate, classify_frames, engine_frames
from .models import SCLCStudent
from .train import predict


def accuracy(logits, labels) -> float:
    """Fraction of samples whose largest logit ``(N, classes)`` is the label ``(N,)``."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if len(logits) != len(labels):
        raise ValueError(f"logits ({len(logits)}) and labels ({len(labels)}) differ in length")
    return float(np.mean(np.argmax(logits, axis=1) == labels)) if len(labels) else float("nan")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes``/``n`` at ``confidence``:
    ``(p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)``, ``z`` the normal quantile of
    ``(1 + confidence)/2`` (Wilson 1927; Brown, Cai & DasGupta, Stat. Sci. 16, 101, 2001).
    Unlike ``p ± z·√(p(1−p)/n)`` it stays in [0, 1] and is not empty at ``p`` = 0 or 1."""
    n = checks.integer("n", n, 1)
    successes = checks.integer("successes", successes, 0, n)
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    p, shrink = successes / n, 1 + z * z / n
    centre = (p + z * z / (2 * n)) / shrink
    half = z / shrink * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at p = 0 (1) the lower (upper) end is 0 (1) exactly; the formula gives it to rounding
    return (0.0 if successes == 0 else centre - half), (1.0 if successes == n else centre + half)


def accuracy_record(value: float, n: int) -> dict:
    """``{"accuracy", "interval", "n"}``: an accuracy measured on ``n`` samples with its 95 %
    Wilson interval (:func:`wilson_interval`); what the run's results report for every model."""
    return {"accuracy": value, "interval": list(wilson_interval(round(value * n), n)), "n": n}


def accuracy_text(record: dict) -> str:
    """An :func:`accuracy_record` as ``"0.713 [0.670, 0.752]"`` (accuracy [95 % interval])."""
    low, high = record["interval"]
    return f"{record['accuracy']:.3f} [{low:.3f}, {high:.3f}]"


def segmentation_scores(predicted, target, classes: int = 2) -> dict:
    """Mean intersection over union and mean Dice over ``classes`` of label maps
    ``(N, H, W)``, each class's counts pooled over the whole set (a class absent from both
    is left out of the means)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {predicted.shape} and target {target.shape} differ in shape")
    ious, dices = [], []
    for label in range(classes):
        p, t = predicted == label, target == label
        union, total = np.sum(p | t), np.sum(p) + np.sum(t)
        if total == 0:
            continue
        overlap = np.sum(p & t)
        ious.append(overlap / union)
        dices.append(2 * overlap / total)
    return {"miou": float(np.mean(ious)), "dice": float(np.mean(dices))}


def classifier_accuracy(model: torch.nn.Module, images, labels, device="cpu") -> float:
    """Accuracy of ``model`` (eval mode) on ``images`` ``(N, C, H, W)``."""
    return accuracy(predict(model, images, device=device).numpy(), labels)


def student_on_hardware(student: SCLCStudent, fourf: FourF, calibration: Calibration, images,
                        labels, *, seed: int = 0, progress: bool = False,
                        desc: str = "engine") -> dict:
    """Accuracy of the optical ``student`` on the bench ``fourf`` exposed and calibrated for it
    (:func:`kd.hardware.prepare`): ``images`` through the engine's :meth:`FourF.run` with the
    exported gray levels and camera noise from ``seed`` (``progress``: a bar named ``desc``).
    Returns ``{"accuracy", "frames"}``."""
    frames = engine_frames(student, fourf, images, seed=seed, progress=progress, desc=desc)
    logits = classify_frames(student, frames, calibration)
    return {"accuracy": accuracy(logits.numpy(), labels), "frames": frames}


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 (hex) of ``model``'s state, its tensors by name: what identifies a trained model
    in a sweep's settings."""
    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return weights.hexdigest()


@dataclass(frozen=True, eq=False)
class HardwareAccuracy:
    """A sweep metric (:mod:`opticsim.sweep`): the test accuracy of an optical ``student`` on
    each swept bench. At every point the camera is recalibrated for the student on
    ``calibration_images`` (:func:`kd.hardware.calibrate`, as a lab does after changing a
    component); then ``images`` ``(N, 1, H, W)`` with ``labels`` ``(N,)`` are classified from
    the engine's frames, once per noise seed (:func:`student_on_hardware`)."""

    student: SCLCStudent
    images: np.ndarray
    labels: np.ndarray
    calibration_images: np.ndarray
    names: ClassVar[tuple[str, ...]] = ("accuracy",)
    definitions: ClassVar[dict[str, str]] = {
        "accuracy": "test accuracy on the bench (fraction of the images classified right)"}

    def describe(self) -> dict:
        return {"metric": "HardwareAccuracy", "student": weights_digest(self.student),
                "images": describe(np.asarray(self.images)),
                "labels": describe(np.asarray(self.labels)),
                "calibration_images": describe(np.asarray(self.calibration_images))}

    def evaluate(self, fourf: FourF, seeds: Sequence[int]) -> list[dict[str, float]]:
        calibration = calibrate(self.student, fourf, self.calibration_images)
        return [{"accuracy": student_on_hardware(self.student, fourf, calibration, self.images,
                                                 self.labels, seed=seed)["accuracy"]}
                for seed in seeds]
