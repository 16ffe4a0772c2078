"""Figures of a KD run, each returned as PNG bytes (the caller writes them atomically).

What a figure shows is computed apart from the drawing (:func:`psf_data`, :func:`frame_data`,
:func:`curve_series`), so that it can be checked without looking at pixels.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

#: Axis labels of the models of :data:`kd.experiment.MODELS`.
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


def psf_data(fourf, displays: dict, image_shape, kernel_shape, *, fill: float = 0.8,
             seed: int = 0) -> dict:
    """The point response of the bench ``fourf`` showing ``displays`` (``{"gray": …}`` or
    ``{"mask": …}`` of one output channel, shaped as :meth:`FourF.run` takes them): one fully
    open pixel at the centre of a dark image of ``image_shape``, read through the layout of
    ``kernel_shape`` kernels.

    The camera exposes until its brightest pixel holds ``fill`` of the full well:
    :meth:`FourF.exposed` gives the laser power that does so in the camera's exposure, and the
    charge is power × time, so the exposure scales by the same factor. An exposure longer than
    the camera's frame period is cut to it and the laser raised (:meth:`FourF.exposed` again).

    Returns ``ideal`` (the irradiance on the camera, W/m², noise-free) and ``frame`` (one
    camera frame, DN, camera noise of ``seed``), each within ±K samples (K the kernel size) of
    the point's image through the kernel's centre, with ``ideal_axes`` and ``frame_axes``
    (``(y, x)`` in µm from that centre), ``exposure`` (s), ``laser_power`` (W; the bench's,
    ``fourf.laser.power``, unless the frame period cut the exposure), ``bench_power`` (W),
    ``fill`` and ``signed`` (True for the differential readout, whose frames are ±
    differences).
    """
    image_shape, kernel_shape = tuple(image_shape), tuple(kernel_shape)
    point = np.zeros((1, 1) + image_shape, np.float32)
    point[0, 0, image_shape[0] // 2, image_shape[1] // 2] = 1.0
    layout = fourf.layout(1, 1, image_shape, kernel_shape)
    camera = fourf.camera
    filled = fourf.exposed(point, layout=layout, fill=fill, **displays)
    needed = camera.exposure * filled.laser.power / fourf.laser.power
    exposure = needed if camera.frame_period is None else min(needed, camera.frame_period)
    system = dataclasses.replace(fourf, camera=dataclasses.replace(camera, exposure=exposure))
    if exposure < needed:
        system = system.exposed(point, layout=layout, fill=fill, **displays)
    ideal = dataclasses.replace(system, camera=None).run(point, layout=layout, **displays)[0, 0]
    frame = system.run(point, layout=layout, rng=seed, **displays)[0, 0]
    # The point's image through the kernel's centre, in metres from the tile's first sample.
    centre = [(n // 2 + (k - 1) / 2) * p
              for n, k, p in zip(image_shape, kernel_shape, fourf.output_pitch)]
    half = [k * p for k, p in zip(kernel_shape, fourf.output_pitch)]
    ideal, ideal_axes = _window(ideal, fourf.output_pitch, centre, half)
    frame, frame_axes = _window(frame, camera.pitch, centre, half)
    return {"ideal": ideal, "frame": frame, "ideal_axes": ideal_axes, "frame_axes": frame_axes,
            "exposure": exposure, "laser_power": system.laser.power,
            "bench_power": fourf.laser.power, "fill": fill,
            "signed": fourf.readout == "differential"}


def _window(image: np.ndarray, pitch, centre, half) -> tuple[np.ndarray, tuple]:
    """The samples of ``image`` (at ``pitch`` (y, x), m) within ``half`` (y, x) of ``centre``
    (m from its first sample), and their positions from ``centre`` in µm."""
    kept, axes = [], []
    for n, p, c, h in zip(image.shape, pitch, centre, half):
        positions = np.arange(n) * p - c
        inside = np.flatnonzero(np.abs(positions) <= h * (1 + 1e-9))
        kept.append(inside)
        axes.append(positions[inside] * 1e6)
    return image[np.ix_(*kept)], tuple(axes)


def _extent(axes) -> list[float]:
    """``imshow`` extent of samples at positions ``axes`` (y, x) (µm, evenly spaced)."""
    (y, x), (dy, dx) = axes, (axes[0][1] - axes[0][0], axes[1][1] - axes[1][0])
    return [x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2]


def psf_panels(psf: dict, title: str = "") -> bytes:
    """:func:`psf_data` drawn: the ideal irradiance (W/m²) beside the camera frame (DN), axes in
    µm on the camera, the exposure in the title."""
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    panels = figure.subplots(1, 2)
    seconds, watts = EngFormatter("s", places=3), EngFormatter("W", places=3)
    signed = ", + minus − display" if psf["signed"] else ""
    for axes, key, label, unit, step in (
            (panels[0], "ideal", f"ideal irradiance (noise-free){signed}", "W/m²", "samples"),
            (panels[1], "frame", f"camera frame{signed}", "DN", "pixels")):
        image, (y, x) = psf[key], psf[f"{key}_axes"]
        limit = float(np.abs(image).max()) or 1.0
        colours = ({"cmap": "RdBu_r", "vmin": -limit, "vmax": limit} if psf["signed"]
                   else {"cmap": "inferno", "vmin": 0})
        shown = axes.imshow(image, extent=_extent((y, x)), **colours)
        axes.set(title=label, ylabel="y (µm)",
                 xlabel=f"x on the camera (µm); {step} of {x[1] - x[0]:.3g} µm")
        figure.colorbar(shown, ax=axes, label=unit)
    laser = f"laser {watts(psf['laser_power'])}, the bench's"
    if psf["laser_power"] != psf["bench_power"]:
        laser = (f"the camera's frame period; laser {watts(psf['laser_power'])}, raised from "
                 f"the bench's {watts(psf['bench_power'])}")
    figure.suptitle(f"{title}\nexposure {seconds(psf['exposure'])}: brightest pixel at "
                    f"{psf['fill']:.0%} of the full well\n({laser})", fontsize=9)
    return _png(figure)


def frame_data(rows: dict, labels=None, classes=None, count: int = 4) -> list[dict]:
    """What :func:`frame_panels` draws: for each row ``{title: (images (N, h, w), unit,
    predicted classes (N,) or None)}`` the first ``count`` images, one colour range
    ``(vmin, vmax)`` over them (a row's images compare), the unit and, with ``labels``
    (indices into the names ``classes``), a caption per column: the true class where the row
    predicts nothing, else the prediction and whether it is right."""
    count = min([count] + [len(images) for images, _, _ in rows.values()])
    truth = [None] * count if labels is None else [int(label) for label in labels[:count]]
    shown = []
    for title, (images, unit, predicted) in rows.items():
        images = np.asarray(images[:count], np.float64)
        if labels is None:
            captions, correct = [""] * count, [None] * count
        elif predicted is None:
            captions, correct = [f"true: {classes[t]}" for t in truth], [None] * count
        else:
            predicted = [int(p) for p in predicted[:count]]
            captions = [f"predicted: {classes[p]}" for p in predicted]
            correct = [p == t for p, t in zip(predicted, truth)]
        shown.append({"title": title, "images": images, "unit": unit,
                      "range": (float(images.min()), float(images.max())),
                      "captions": captions, "correct": correct})
    return shown


def frame_panels(rows: dict, labels=None, classes=None, count: int = 4) -> bytes:
    """:func:`frame_data` drawn: a row of images each, one colour scale and colorbar per row;
    with ``labels``, each column captioned with its true class and each row's prediction
    (green right, red wrong)."""
    shown = frame_data(rows, labels, classes, count)
    count = len(shown[0]["images"])
    figure = Figure(figsize=(2.1 * count + 1.2, 2.5 * len(shown)), layout="constrained")
    for data, row in zip(shown, figure.subfigures(len(shown), 1, squeeze=False)[:, 0]):
        vmin, vmax = data["range"]
        axes = row.subplots(1, count, squeeze=False)[0]
        for column, (image, caption, right) in enumerate(zip(data["images"], data["captions"],
                                                           data["correct"])):
            drawn = axes[column].imshow(image, cmap="inferno", vmin=vmin, vmax=vmax)
            axes[column].set_axis_off()
            axes[column].set_title(caption, fontsize=8, color="black" if right is None else (
                "#1a7f37" if right else "#c62828"))
        row.suptitle(data["title"], fontsize=9, x=0.01, ha="left")
        row.colorbar(drawn, ax=axes, label=data["unit"], shrink=0.9)
    return _png(figure)


def curve_series(histories: dict) -> dict:
    """What :func:`training_curves` draws for each model of ``histories`` (histories of
    :func:`kd.train.fit`): ``{name: {"epoch", "cross_entropy", "train_accuracy",
    "validation_accuracy"}}`` as float arrays, NaN where an epoch was not recorded (all NaN for
    the validation accuracy of a run without a validation set). The cross-entropy against the
    labels is what every model shares; a KD student's objective (``"loss"``) is not shown."""
    series = {}
    for name, history in histories.items():
        epochs = len(history["train_accuracy"])
        values = {key: np.array([np.nan if v is None else v
                                 for v in history.get(key, [None] * epochs)], np.float64)
                  for key in ("cross_entropy", "train_accuracy", "validation_accuracy")}
        series[name] = {"epoch": np.arange(1, epochs + 1), **values}
    return series


def training_curves(histories: dict) -> bytes:
    """Training cross-entropy and accuracy per epoch of each model in ``histories`` (as
    :func:`kd.train.fit` returns them), with the held-out validation accuracy
    (:func:`curve_series`)."""
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for index, (name, series) in enumerate(curve_series(histories).items()):
        label = LABELS.get(name, name).replace("\n", " ")
        colour = f"C{index}"
        loss_axes.plot(series["epoch"], series["cross_entropy"], marker=".", color=colour,
                       label=label)
        accuracy_axes.plot(series["epoch"], series["validation_accuracy"], marker="o",
                           color=colour)
        accuracy_axes.plot(series["epoch"], series["train_accuracy"], linestyle=":",
                           color=colour)
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy against the labels (nats)",
                  ylim=(0, None),
                  title="training cross-entropy (mean over each epoch's batches)")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1),
                      title="accuracy: held-out validation (solid), training (dotted)")
    for axes in (loss_axes, accuracy_axes):
        axes.title.set_fontsize(9)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(True, alpha=0.3)
    loss_axes.legend(fontsize=7)
    return _png(figure)
