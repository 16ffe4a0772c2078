"""Where a trained optical student breaks on real hardware, and what hardware-aware fine-tuning
brings back: a robustness study over one imperfection at a time.

Each imperfection of :data:`IMPERFECTIONS` is one element field of the bench
(:class:`kd.hardware.Bench`) moved alone through its sizes, the others at the bench's values
(:mod:`opticsim.sweep`'s one-at-a-time mode, so the study is resumable, survives a killed
worker and runs on local processes or a Dask cluster). At every point the bench is exposed and
calibrated for the student (:func:`kd.hardware.exposed`, :func:`kd.hardware.calibrate`, as a
lab does after changing a component) and the student's test accuracy is measured through the
engine as it is (**naive**), then after hardware-aware fine-tuning at that point
(:func:`kd.hardware.fine_tune`; **fine-tuned**, reported whether the validation gate keeps it
or not). The fine-tuned student is kept, as in :mod:`kd.experiment`, only when it does at
least as well as the naive one on held-out validation images; the **deployed** accuracy is the
kept one's. Camera noise and fine-tuning seeds come from the point
(:func:`opticsim.sweep.point_seeds`), so the same command gives the same table.

The imperfections are :data:`IMPERFECTIONS`, one line each; another is one more line there
(its field any sweep field of the bench's elements, its unit :data:`opticsim.sweep.UNITS`'s).

The **tolerance** of an imperfection is the size at which an accuracy has fallen
:data:`LOSS` (5 points) below the ideal student's (the student without hardware): walking the
sizes from the mildest, the first measured size below that line and the one before it are
interpolated linearly on the figure's size axis (log when the sizes span two decades or
more). "below the range" means the mildest size measured already costs more, "beyond the
range" that no size measured does.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from opticsim import sweep
from opticsim.environment import environment
from opticsim.files import check_folder, write_files

from .evaluate import (accuracy_record, accuracy_text, classifier_accuracy, student_on_hardware,
                       weights_digest)
from .hardware import Bench, calibrate, exposed, fine_tune
from .models import SCLCStudent

#: Accuracy (fraction) an imperfection may cost before its size is the tolerance: 5 points.
LOSS = 0.05
#: The study's default fine-tuning images, validation images (the last of the training set)
#: and epochs. From the demo's stage times on two idle cores (exposure and calibration on 256
#: images 6.5 s, 450 test images 3.3 s, fine-tuning on 512 images 21 s) a point of the demo's
#: student costs about 25 s, the 24 default points about 10–15 min.
FINETUNE_IMAGES, VALIDATION_IMAGES, FINETUNE_EPOCHS = 256, 128, 1
# The files of a study: its table, results and summary, and the folder of its sweep.
TABLE, RESULTS, SUMMARY, POINTS = "robustness.csv", "robustness.json", "summary.md", "points"


@dataclass(frozen=True)
class Imperfection:
    """One imperfection of the bench: the element ``field`` it sets (a sweep field, e.g.
    ``"camera.read_noise"``; its unit is :func:`opticsim.sweep.unit_of`), its default
    ``sizes``, whether a ``harsher`` one is ``"larger"`` or ``"smaller"``, and what it
    ``means`` for the lab."""

    field: str
    sizes: tuple
    harsher: str
    means: str

    def __post_init__(self):
        if self.harsher not in ("larger", "smaller"):
            raise ValueError(f"harsher must be 'larger' or 'smaller', got {self.harsher!r}")

    @property
    def unit(self) -> str | None:
        return sweep.unit_of(self.field)

    def ordered(self, sizes: Sequence) -> list:
        """``sizes`` from the mildest to the harshest."""
        return sorted(sizes, reverse=self.harsher == "smaller")


#: The imperfections a study can move, by name; one line each. The demo bench's values: 8-bit
#: panels, fringing 0.38 px, read noise 2.3 e⁻, the laser attenuated from 10 mW to the
#: ≈ 1.4 µW its exposure needs, lens 2 wider than the 1.4 mm Fourier plane, every element
#: aligned and in focus (Fourier-SLM pixel 9.2 µm, camera pixel 3.45 µm, input pixel 8 µm).
IMPERFECTIONS = {
    "slm-bits": Imperfection("fourier_slm.bits", (4, 3, 2, 1), "smaller",
                             "phase levels of the Fourier SLM, 2^bits over its stroke"),
    "fringing": Imperfection("fourier_slm.crosstalk", (0.5, 0.65, 0.8, 1.0), "larger",
                             "fringing-field width of the Fourier SLM (FWHM of the phase blur)"),
    "photon-budget": Imperfection("laser.power", (1e-6, 1e-7, 3e-8, 1e-8), "smaller",
                                  "laser power on the input SLM, never amplified by the "
                                  "exposure: electrons per frame"),
    "read-noise": Imperfection("camera.read_noise", (10.0, 30.0, 100.0, 300.0), "larger",
                               "camera read noise per pixel and frame"),
    "input-bits": Imperfection("input_slm.bits", (4, 3, 2, 1), "smaller",
                               "amplitude levels of the input SLM, 2^bits"),
    "aperture": Imperfection("lens2.diameter", (1.0e-3, 0.7e-3, 0.5e-3, 0.35e-3), "smaller",
                             "clear aperture of lens 2, a low-pass on the Fourier plane"),
    "slm-shift": Imperfection("fourier_slm.shift_x", (10e-6, 20e-6, 40e-6, 80e-6), "larger",
                              "lateral offset of the Fourier SLM from the optical axis (x)"),
    "slm-rotation": Imperfection("fourier_slm.rotation", (0.05, 0.1, 0.2, 0.4), "larger",
                                 "in-plane rotation of the Fourier SLM about the axis"),
    "slm-defocus": Imperfection("fourier_slm.defocus", (1e-3, 2e-3, 5e-3, 1e-2), "larger",
                                "axial offset of the Fourier SLM from lens 1's focal plane"),
    "camera-shift": Imperfection("camera.shift_x", (3.45e-6, 6.9e-6, 13.8e-6, 27.6e-6), "larger",
                                 "lateral offset of the camera's pixel grid (x)"),
    "camera-rotation": Imperfection("camera.rotation", (0.01, 0.02, 0.05, 0.1), "larger",
                                    "in-plane rotation of the camera's pixel grid"),
    "camera-defocus": Imperfection("camera.defocus", (2e-5, 5e-5, 1e-4, 2e-4), "larger",
                                   "axial offset of the camera from lens 2's focal plane"),
    "input-shift": Imperfection("input_slm.shift_x", (8e-6, 16e-6, 32e-6, 64e-6), "larger",
                                "lateral offset of the input SLM from the optical axis (x)"),
}


def choose(names: Sequence[str] | None = None,
           sizes: Mapping[str, Sequence] | None = None) -> dict[str, tuple]:
    """``{name: sizes}`` of a study: the imperfections ``names`` (default all of
    :data:`IMPERFECTIONS`) at their default sizes, or at ``sizes[name]`` where given; sizes
    from the mildest. ``ValueError`` naming the allowed names for an unknown one."""
    names = list(IMPERFECTIONS) if names is None else list(names)
    sizes = dict(sizes or {})
    for name in [*names, *sizes]:
        if name not in IMPERFECTIONS:
            raise ValueError(f"unknown imperfection {name!r}: the imperfections are "
                             f"{', '.join(IMPERFECTIONS)}")
    for name in sizes:
        if name not in names:
            raise ValueError(f"sizes of {name!r} given but the study does not include it; "
                             f"it moves {', '.join(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"each imperfection may be named once, got {', '.join(names)}")
    chosen = {}
    for name in names:
        values = [value.item() if isinstance(value, np.generic) else value
                  for value in sizes.get(name, IMPERFECTIONS[name].sizes)]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"sizes of {name} must be numbers in the unit of "
                             f"{IMPERFECTIONS[name].field}, got {values}")
        if not values or len({float(v) for v in values}) != len(values):
            raise ValueError(f"sizes of {name} must be distinct values, got {values}")
        chosen[name] = tuple(IMPERFECTIONS[name].ordered(values))
    return chosen


def check(base, chosen: Mapping[str, Sequence]) -> None:
    """``ValueError`` naming the imperfection and the element's allowed range for any size the
    bench ``base`` (a :class:`~opticsim.FourF`) cannot take, before anything runs."""
    for name, values in chosen.items():
        field = IMPERFECTIONS[name].field
        for value in values:
            try:
                sweep.apply(base, {field: value})
            except ValueError as error:
                raise ValueError(f"imperfection {name} ({field}) cannot be {value!r}: "
                                 f"{error}") from None


# --- one point -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Robustness:
    """A sweep metric (:mod:`opticsim.sweep`): on each bench, exposed for the student with the
    ``bench``'s fill and calibrated on ``calibration_images``, the test accuracy of the
    ``student`` (``naive``) on ``test`` (images, labels), of the student fine-tuned there on
    ``tune`` (images, labels; ``finetune``: :func:`kd.hardware.fine_tune` keywords such as
    ``epochs``; ``teacher_logits`` of the tuning images for the KD loss, else labels alone) as
    ``finetuned``, and ``kept`` (1 when the tuned student does at least as well on the
    ``validation`` images, else 0). One noise and fine-tuning seed per repeat."""

    student: SCLCStudent
    bench: Bench
    test: tuple
    calibration_images: np.ndarray
    tune: tuple
    validation: tuple
    teacher_logits: np.ndarray | None = None
    finetune: Mapping | None = None
    names: ClassVar[tuple[str, ...]] = ("naive", "finetuned", "kept")
    definitions: ClassVar[dict[str, str]] = {
        "naive": "test accuracy of the student on the bench as it is",
        "finetuned": "test accuracy after hardware-aware fine-tuning on the bench",
        "kept": "1 when the fine-tuned student does at least as well on validation, else 0"}

    def describe(self) -> dict:
        arrays = {"test": self.test, "calibration_images": self.calibration_images,
                  "tune": self.tune, "validation": self.validation,
                  "teacher_logits": self.teacher_logits}
        return {"metric": "Robustness", "student": weights_digest(self.student),
                "fill": self.bench.fill, "finetune": sweep.describe(dict(self.finetune or {})),
                **{name: sweep.describe(value if value is None or isinstance(value, np.ndarray)
                                        else [np.asarray(v) for v in value])
                   for name, value in arrays.items()}}

    def evaluate(self, fourf, seeds: Sequence[int]) -> list[dict[str, float]]:
        fourf = exposed(self.student, fourf, self.calibration_images, self.bench.fill)
        setup = fourf, calibrate(self.student, fourf, self.calibration_images)
        results = []
        for seed in seeds:
            def score(model, data):
                return student_on_hardware(model, *setup, *data, seed=seed)["accuracy"]

            # the back end's dropout draws from torch's global generator: seeded from the
            # point, so a point's result does not depend on the points this process ran before
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                tuned, _ = fine_tune(self.student, *setup, *self.tune,
                                     teacher_logits=self.teacher_logits, seed=seed,
                                     progress=False, **dict(self.finetune or {}))
            kept = score(tuned, self.validation) >= score(self.student, self.validation)
            results.append({"naive": score(self.student, self.test),
                            "finetuned": score(tuned, self.test), "kept": float(kept)})
        return results


# --- the study -------------------------------------------------------------------------------

def tolerance(sizes: Sequence[float], accuracies: Sequence[float], ideal: float,
              loss: float = LOSS):
    """The size at which ``accuracies`` (at ``sizes``, mildest first) fall ``loss`` below
    ``ideal``: interpolated between the first size below that line and the size before it, on
    the log of the sizes where they span two decades (:func:`opticsim.sweep.axis_scale`);
    ``"below the range"`` when the mildest is already below, ``"beyond the range"`` when none
    is."""
    line = ideal - loss
    log = sweep.axis_scale(sizes) == "log"
    for index, accuracy in enumerate(accuracies):
        if accuracy >= line:
            continue
        if index == 0:
            return "below the range"
        (x0, x1), (y0, y1) = sizes[index - 1:index + 1], accuracies[index - 1:index + 1]
        if log:
            x0, x1 = math.log(x0), math.log(x1)
        x = x0 + (line - y0) * (x1 - x0) / (y1 - y0)
        return math.exp(x) if log else x
    return "beyond the range"


def run(student: SCLCStudent, bench: Bench, test, calibration_images, tune, validation, *,
        imperfections: Mapping[str, Sequence] | None = None, teacher_logits=None,
        finetune: Mapping | None = None, out, command: str = "", repeats: int = 1,
        seed: int = 0, workers: int | None = None, scheduler: str | None = None,
        resume: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    """The robustness study of ``student`` on ``bench`` into the folder ``out``.

    ``test``, ``tune`` and ``validation`` are ``(images (N, 1, H, W), labels (N,))``;
    ``calibration_images`` expose and calibrate each point; ``imperfections`` ``{name:
    sizes}`` (:func:`choose`; default all at their default sizes); ``teacher_logits`` of the
    tuning images and ``finetune`` (keywords of :func:`kd.hardware.fine_tune`) the
    fine-tuning. The points run as a sweep (:func:`opticsim.sweep.run`, into ``out/points``,
    ``repeats`` seeds each, on ``workers`` or ``scheduler``; ``resume``, ``overwrite``).

    Writes ``robustness.csv`` (a row per imperfection and size), ``robustness.json`` (the
    rows, the ideal student, the tolerances, the bench, the command and the environment),
    ``<imperfection>.png`` and ``summary.md`` (:func:`summary_markdown`), all or none; returns
    what ``robustness.json`` holds."""
    if not isinstance(student, SCLCStudent):
        raise ValueError(f"student must be an optical student (kd.models.SCLCStudent), got "
                         f"{type(student).__name__}")
    chosen = imperfections if imperfections is not None else choose()
    chosen = choose(list(chosen), chosen)
    folder = Path(out)
    if not resume:
        check_folder(folder, overwrite)
    test_images, test_labels = (np.asarray(a) for a in test)
    base = bench.fourf(test_images.shape[-2:], student.cascade.kernel_shape, student.readout,
                       in_channels=student.cascade.in_channels)
    check(base, chosen)
    metric = Robustness(student, bench, (test_images, test_labels),
                        np.asarray(calibration_images), tuple(np.asarray(a) for a in tune),
                        tuple(np.asarray(a) for a in validation),
                        None if teacher_logits is None else np.asarray(teacher_logits),
                        dict(finetune or {}))
    parameters = {IMPERFECTIONS[name].field: list(sizes) for name, sizes in chosen.items()}
    records = sweep.run(metric, base, parameters, mode="one-at-a-time", repeats=repeats,
                        seed=seed, out=folder / POINTS, resume=resume, overwrite=overwrite,
                        scheduler=scheduler, workers=workers, progress=progress)
    n = len(test_labels)
    as_exposed = exposed(student, base, metric.calibration_images, bench.fill)
    ideal = accuracy_record(classifier_accuracy(student, test_images, test_labels), n)
    rows = table_rows(records, chosen, n)
    results = {"command": command, "ideal": ideal, "loss": LOSS, "test_images": n,
               "bench": bench.to_dict(),
               "base": {name: sweep.value_of(as_exposed, IMPERFECTIONS[name].field)
                        for name in chosen},
               "imperfections": {name: {"field": IMPERFECTIONS[name].field,
                                        "unit": IMPERFECTIONS[name].unit,
                                        "means": IMPERFECTIONS[name].means,
                                        "sizes": list(sizes)}
                                 for name, sizes in chosen.items()},
               "finetune": {"images": len(tune[1]), "validation_images": len(validation[1]),
                            "teacher": teacher_logits is not None, **dict(finetune or {})},
               "repeats": repeats, "seed": seed, "rows": rows,
               "tolerances": tolerances(rows, chosen, ideal["accuracy"]),
               "environment": environment()}
    files = {folder / TABLE: _csv(rows), folder / SUMMARY: summary_markdown(results).encode(),
             folder / RESULTS: (json.dumps(results, indent=1) + "\n").encode()}
    files.update({folder / f"{name}.png": plot(results, name) for name in chosen})
    write_files(files)
    return results


def table_rows(records: list[dict], chosen: Mapping[str, Sequence], n: int) -> list[dict]:
    """A row per imperfection and size from the sweep's ``records`` (one per point and repeat,
    the points in :func:`opticsim.sweep.points`' one-at-a-time order): each accuracy the mean
    over repeats with its 95 % Wilson interval on the ``n`` test images
    (:func:`kd.evaluate.accuracy_record`), ``kept`` the fraction of repeats whose fine-tuned
    student passed the validation gate, ``deployed`` the accuracy of the student the gate
    deploys (the fine-tuned one where kept, else the naive one)."""
    by_point: dict[int, list[dict]] = {}
    for record in records:
        by_point.setdefault(record["point"], []).append(record)
    rows, point = [], 0
    for name, sizes in chosen.items():
        for size in sizes:
            repeats = by_point[point]
            mean = {key: float(np.mean([r[key] for r in repeats]))
                    for key in ("naive", "finetuned", "kept")}
            deployed = float(np.mean([r["finetuned"] if r["kept"] else r["naive"]
                                      for r in repeats]))
            rows.append({"imperfection": name, "field": IMPERFECTIONS[name].field,
                         "size": size, "unit": IMPERFECTIONS[name].unit,
                         "repeats": len(repeats),
                         "naive": accuracy_record(mean["naive"], n),
                         "finetuned": accuracy_record(mean["finetuned"], n),
                         "kept": mean["kept"], "deployed": accuracy_record(deployed, n)})
            point += 1
    return rows


def tolerances(rows: list[dict], chosen: Mapping[str, Sequence], ideal: float) -> dict:
    """``{name: {"naive": …, "deployed": …}}``: the :func:`tolerance` of each imperfection for
    the naive student and for the fine-tuned one the validation gate deploys."""
    out = {}
    for name in chosen:
        mine = [row for row in rows if row["imperfection"] == name]
        sizes = [row["size"] for row in mine]
        out[name] = {kind: tolerance(sizes, [row[kind]["accuracy"] for row in mine], ideal)
                     for kind in ("naive", "deployed")}
    return out


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["imperfection", "field", "size", "unit", "repeats", "naive", "naive_low",
                     "naive_high", "finetuned", "finetuned_low", "finetuned_high", "kept",
                     "deployed", "deployed_low", "deployed_high", "test_images"])
    for row in rows:
        scores = [value for kind in ("naive", "finetuned", "deployed")
                  for value in (row[kind]["accuracy"], *row[kind]["interval"])]
        writer.writerow([row["imperfection"], row["field"], repr(row["size"]), row["unit"],
                         row["repeats"], *map(repr, scores[:6]), repr(row["kept"]),
                         *map(repr, scores[6:]), row["naive"]["n"]])
    return buffer.getvalue().encode()


def size_text(size, unit: str | None) -> str:
    """A size to three significant digits with its unit, SI-prefixed (386 nW) for the units
    the sweep's plots prefix (:data:`opticsim.sweep.PREFIXED`); a word as it is."""
    from matplotlib.ticker import EngFormatter

    if size is None or isinstance(size, str):
        return "none" if size is None else size
    if unit in sweep.PREFIXED and size != 0:
        power = min(max(math.floor(math.log10(abs(size)) / 3) * 3, -24), 24)
        return f"{size / 10 ** power:.3g} {EngFormatter.ENG_PREFIXES[power]}{unit}"
    return f"{size:.3g} {unit}" if unit else f"{size:.3g}"


def summary_markdown(results: dict) -> str:
    """The study's summary: per imperfection its unit, the demo bench's value, the sizes, the
    naive and the deployed (validation-gated fine-tuned) tolerance, and the accuracies at the
    harshest size; the ideal student and how the tolerance is defined."""
    ideal = results["ideal"]
    lines = [f"Ideal student (no hardware): {accuracy_text(ideal)} on {results['test_images']} "
             f"test images. Tolerance: the size at which the accuracy has lost "
             f"{100 * results['loss']:g} points from the ideal (interpolated between measured "
             f"sizes); fine-tuned: the validation-gated student.", "",
             "| imperfection | field | bench | sizes | tolerance, naive | tolerance, "
             "fine-tuned | at the harshest: naive | fine-tuned (kept) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, info in results["imperfections"].items():
        unit = info["unit"]
        rows = [row for row in results["rows"] if row["imperfection"] == name]
        last = rows[-1]
        sizes = ", ".join(size_text(size, unit) for size in info["sizes"])
        tolerance_ = results["tolerances"][name]
        lines.append(
            f"| {name} | `{info['field']}` | {size_text(results['base'][name], unit)} | "
            f"{sizes} | {size_text(tolerance_['naive'], unit)} | "
            f"{size_text(tolerance_['deployed'], unit)} | {accuracy_text(last['naive'])} | "
            f"{accuracy_text(last['finetuned'])} ({last['kept']:.0%}) |")
    lines += ["", f"Command: `{results['command']}`" if results["command"] else ""]
    return "\n".join(lines).rstrip() + "\n"


# --- the figure ------------------------------------------------------------------------------

def plot_data(results: dict, name: str) -> dict:
    """What :func:`plot` draws for imperfection ``name``: ``sizes``, ``naive``/``finetuned``
    as ``(accuracy, low, high)`` arrays, ``kept`` (fraction of repeats), ``ideal`` ``(accuracy,
    low, high)``, ``line`` (ideal − loss), ``bench`` (the demo bench's size), ``xscale``,
    ``xlabel`` (the field and its unit), ``title``."""
    info = results["imperfections"][name]
    rows = [row for row in results["rows"] if row["imperfection"] == name]
    sizes = [row["size"] for row in rows]

    def scores(kind):
        return np.array([[row[kind]["accuracy"], *row[kind]["interval"]] for row in rows]).T

    ideal = results["ideal"]
    return {"sizes": sizes, "naive": scores("naive"), "finetuned": scores("finetuned"),
            "kept": [row["kept"] for row in rows],
            "ideal": (ideal["accuracy"], *ideal["interval"]),
            "line": ideal["accuracy"] - results["loss"], "bench": results["base"][name],
            "xscale": sweep.axis_scale(sizes), "unit": info["unit"],
            "xlabel": info["field"] + (f" ({info['unit']})" if info["unit"] else ""),
            "title": f"{name}: {info['means']}"}


def plot(results: dict, name: str) -> bytes:
    """PNG of the test accuracy against the size of imperfection ``name``: naive and
    fine-tuned (open markers where the validation gate did not keep it) with their 95 %
    intervals, the ideal student as a band, the line ``loss`` below it that sets the
    tolerance and the demo bench's size."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = plot_data(results, name)
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axis = figure.subplots()
    ideal, low, high = shown["ideal"]
    axis.axhspan(low, high, color="0.85", label="ideal student (95 % interval)")
    axis.axhline(ideal, color="0.5", lw=1)
    axis.axhline(shown["line"], color="0.3", ls="--", lw=1,
                 label=f"ideal − {100 * results['loss']:g} points")
    if shown["bench"] is not None:
        axis.axvline(shown["bench"], color="0.6", ls=":", lw=1, label="the bench's own value")
    for kind, color in (("naive", "C3"), ("finetuned", "C0")):
        accuracy, low, high = shown[kind]
        axis.errorbar(shown["sizes"], accuracy, yerr=[accuracy - low, high - accuracy],
                      color=color, marker="o", capsize=3,
                      mfc=color if kind == "naive" else "none",
                      label="naive" if kind == "naive" else "fine-tuned")
    kept = [k > 0 for k in shown["kept"]]
    if any(kept):
        axis.plot([s for s, k in zip(shown["sizes"], kept) if k],
                  shown["finetuned"][0][kept], "o", color="C0",
                  label="fine-tuned, kept by validation")
    axis.set_xscale(shown["xscale"])
    sweep.format_axis(axis.xaxis, shown["xscale"], shown["unit"])
    axis.set_xlabel(shown["xlabel"])
    axis.set_ylabel("test accuracy (95 % Wilson interval)")
    axis.set_title(textwrap.fill(shown["title"], 60), fontsize=9)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()

