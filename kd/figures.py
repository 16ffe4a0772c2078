"""Figures of a KD run, each returned as PNG bytes (the caller writes them atomically)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

LABELS = {"teacher": "teacher\n(nonlinear CNN)", "baseline": "linear CNN\n(no KD)",
          "student_no_kd": "optical student\n(no KD)", "student": "optical student\n(KD)",
          "student_hardware": "student on\nhardware",
          "student_hardware_finetuned": "hardware,\nfine-tuned"}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _error_bar(score: dict, metric: str) -> tuple[float, float]:
    """How far below and above ``score[metric]`` its error bar reaches: to the ends of its
    ``interval`` where given, else ``±{metric}_std``, else nowhere."""
    if "interval" in score:
        low, high = score["interval"]
        return score[metric] - low, high - score[metric]
    spread = score.get(f"{metric}_std", 0.0)
    return spread, spread


def accuracy_bars(scores: dict, metric: str = "accuracy", title: str = "") -> bytes:
    """Bars of ``scores[name][metric]`` for each model in :data:`LABELS` order, each labelled
    with its value, with error bars of its ``interval`` (e.g. 95 % Wilson) or ``±std``."""
    names = [name for name in LABELS if name in scores]
    values = [scores[name][metric] for name in names]
    errors = np.transpose([_error_bar(scores[name], metric) for name in names])
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    axes = figure.subplots()
    colours = ["#555555", "#999999", "#7fa7d1", "#1f5fa8", "#d1892f", "#2f9a4a"][:len(names)]
    bars = axes.bar(range(len(names)), values, yerr=errors, color=colours, capsize=3)
    axes.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2, fontsize=8)
    axes.set_xticks(range(len(names)), [LABELS[n] for n in names], fontsize=8)
    axes.set_ylabel(metric)
    axes.set_ylim(0, 1.08)
    axes.set_title(title, fontsize=9)
    return _png(figure)


def mask_panels(masks: np.ndarray, gray: np.ndarray, count: int = 4) -> bytes:
    """The first ``count`` channels' collapsed Fourier masks ``(C, h, w)`` (modulus and phase)
    and the double-phase gray levels ``(C, h, w)`` the Fourier SLM shows."""
    count = min(count, len(masks))
    figure = Figure(figsize=(2.2 * count, 6.6), layout="constrained")
    axes = figure.subplots(3, count, squeeze=False)
    for channel in range(count):
        panels = ((np.abs(masks[channel]), "gray", f"|M| channel {channel}"),
                  (np.angle(masks[channel]), "twilight", "arg M (rad)"),
                  (gray[channel], "gray", "SLM gray level"))
        for row, (image, cmap, title) in enumerate(panels):
            shown = axes[row, channel].imshow(image, cmap=cmap)
            axes[row, channel].set_title(title, fontsize=8)
            axes[row, channel].set_axis_off()
            figure.colorbar(shown, ax=axes[row, channel], shrink=0.7)
    return _png(figure)


def frame_panels(rows: dict, count: int = 4) -> bytes:
    """Image rows: ``{title: (N, h, w) images}``, the first ``count`` of each in a row."""
    count = min([count] + [len(images) for images in rows.values()])
    figure = Figure(figsize=(2.0 * count, 2.1 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), count, squeeze=False)
    for row, (title, images) in enumerate(rows.items()):
        for column in range(count):
            axes[row, column].imshow(images[column], cmap="inferno")
            axes[row, column].set_axis_off()
        axes[row, 0].set_title(title, fontsize=8, loc="left")
    return _png(figure)


def training_curves(histories: dict) -> bytes:
    """Loss and training accuracy per epoch of each model in ``histories``
    (``{name: {"loss": [...], "train_accuracy": [...]}}``)."""
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for name, history in histories.items():
        epochs = np.arange(1, len(history["loss"]) + 1)
        label = LABELS.get(name, name).replace("\n", " ")
        loss_axes.plot(epochs, history["loss"], marker=".", label=label)
        accuracy_axes.plot(epochs, history["train_accuracy"], marker=".", label=label)
    loss_axes.set(xlabel="epoch", ylabel="training loss", yscale="log")
    accuracy_axes.set(xlabel="epoch", ylabel="training accuracy")
    accuracy_axes.legend(fontsize=7)
    return _png(figure)
