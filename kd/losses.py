"""Distillation losses (Hinton, Vinyals & Dean, arXiv 1503.02531, 2015).

``kd_loss = α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE(z_s, y)``: the student copies
the teacher's softened class distribution, which carries what the missing nonlinearity would
have computed; T² keeps the soft term's gradients on the scale of the hard term's. The pixel-wise
form applies the same to every pixel of a segmentation map.

:data:`TEMPERATURE` and :data:`ALPHA` are the defaults of every KD setting in :mod:`kd`
(this loss, :class:`kd.train.Settings`, :func:`kd.hardware.fine_tune`,
:class:`kd.experiment.Experiment` and the command line): T = 1, α = 0.5, the least harmful
setting found on the cluttered digits (T ≥ 2 lowered the optical student's accuracy in 8
epochs), not one that was found to help.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from opticsim import checks

#: Default softmax temperature T of the KD term.
TEMPERATURE = 1.0
#: Default weight α of the KD term (1 − α weighs the cross-entropy).
ALPHA = 0.5


def _check(temperature: float, alpha: float) -> tuple[float, float]:
    return (checks.positive("temperature", temperature),
            checks.in_range("alpha", alpha, 0.0, 1.0))


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))`` over the class axis 1, mean over every other
    sample (batch and, for maps, pixels)."""
    log_student = F.log_softmax(student / temperature, dim=1)
    log_teacher = F.log_softmax(teacher.detach() / temperature, dim=1)
    divergence = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
    return temperature ** 2 * divergence.mean()


def kd_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor,
            temperature: float = TEMPERATURE, alpha: float = ALPHA) -> torch.Tensor:
    """Hinton KD loss for logits ``(B, classes)`` or maps ``(B, classes, H, W)`` with labels
    ``(B,)`` or ``(B, H, W)``; plain cross-entropy when ``teacher`` is None or ``alpha`` is 0."""
    temperature, alpha = _check(temperature, alpha)
    hard = F.cross_entropy(student, labels)
    if teacher is None or alpha == 0:
        return hard
    if teacher.shape != student.shape:
        raise ValueError(f"teacher logits {tuple(teacher.shape)} must match the student's "
                         f"{tuple(student.shape)}")
    return alpha * soft_kl(student, teacher, temperature) + (1 - alpha) * hard
