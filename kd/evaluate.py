"""Scores: classification accuracy, segmentation mIoU and Dice, and the optical student on a
hardware bench through the NumPy engine (exported gray levels, camera noise, ADC)."""

from __future__ import annotations

import numpy as np
import torch

from opticsim import FourF

from .hardware import Calibration, classify_frames, engine_frames
from .models import SCLCStudent
from .train import predict


def accuracy(logits, labels) -> float:
    """Fraction of samples whose largest logit ``(N, classes)`` is the label ``(N,)``."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if len(logits) != len(labels):
        raise ValueError(f"logits ({len(logits)}) and labels ({len(labels)}) differ in length")
    return float(np.mean(np.argmax(logits, axis=1) == labels)) if len(labels) else float("nan")


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
                        labels, *, seed: int = 0, progress: bool = False) -> dict:
    """Accuracy of the optical ``student`` on the bench ``fourf`` exposed and calibrated for it
    (:func:`kd.hardware.prepare`): ``images`` through the engine's :meth:`FourF.run` with the
    exported gray levels and camera noise from ``seed``. Returns ``{"accuracy", "frames"}``."""
    frames = engine_frames(student, fourf, images, seed=seed, progress=progress)
    logits = classify_frames(student, frames, calibration)
    return {"accuracy": accuracy(logits.numpy(), labels), "frames": frames}
