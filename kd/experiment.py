"""The paper's comparison as one run of six stages, one per model (:data:`STAGES`): teacher,
linear baseline, the optical student without and with KD, the student on a hardware bench
through the engine, and after hardware-aware fine-tuning. Every stage checkpoints into the run
folder and resumes; the results (each accuracy with its 95 % interval, the environment), the
exported Fourier-SLM gray levels, figures and a short report are written atomically.
"""

from __future__ import annotations

import copy
import datetime
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from opticsim import __version__, checks
from opticsim.environment import environment
from opticsim.files import check_folder, differences, prepare_folder, read_json, write_atomic

from . import figures
from .data import DATASETS, load
from .evaluate import (accuracy_record, accuracy_text, classifier_accuracy,
                       student_on_hardware)
from .hardware import Bench, classify_frames, fine_tune, prepare, student_gray
from .losses import ALPHA, TEMPERATURE
from .models import READOUTS
from .train import (Settings, build_model, fit, json_ready, load_checkpoint, predict,
                    save_checkpoint)

#: The models of one comparison run, in the order they are trained and scored.
MODELS = ("teacher", "baseline", "student_no_kd", "student", "student_hardware",
          "student_hardware_finetuned")
#: What each stage of a run does; stage k ends with the score of MODELS[k - 1].
STAGES = {"teacher": "teacher (nonlinear CNN)", "baseline": "linear CNN baseline",
          "student_no_kd": "optical student without KD", "student": "optical student with KD",
          "student_hardware": "student on the hardware bench (exposure, calibration, test)",
          "student_hardware_finetuned": "hardware-aware fine-tuning (fine-tune, calibration, "
                                        "validation, test)"}
SMOKE = "smoke run, accuracies not meaningful"


@dataclass(frozen=True)
class Experiment:
    """One comparison run. ``teacher_channels`` are the convolution widths of the teacher and
    the linear baseline, ``channels`` those of the student's spectral cascade (the last is the
    number of optical output channels); ``temperature``/``alpha`` the KD loss (Hinton's;
    defaults :data:`kd.losses.TEMPERATURE` and :data:`kd.losses.ALPHA`); ``bench`` the
    hardware; ``finetune_images``/``finetune_epochs`` the hardware-aware fine-tuning, kept only
    when it does better on the last ``validation_images`` of the training set (held out from all
    training); ``data_seed`` the embedded data set (fixed across training ``seed``s so runs
    are paired); ``train_size``/``test_size`` the first images of each split (default all);
    ``preset`` names the entry of :data:`PRESETS` the settings started from (None: none),
    recorded in the results; the ``"quick"`` preset is a smoke run on a small slice, labelled
    so in its results and report."""

    dataset: str = "cluttered"
    data_root: str | None = None
    image_size: int | None = None
    train_size: int | None = None
    test_size: int | None = None
    data_seed: int = 0
    seed: int = 0
    teacher_channels: tuple[int, ...] = (8, 16, 32)
    channels: tuple[int, ...] = (8, 16, 16)
    kernel_size: int = 3
    downsample: int = 2
    spectral_kernel_size: int = 5
    hidden: tuple[int, ...] = (512, 256)
    dropout: float = 0.1
    readout: str = "intensity"
    temperature: float = TEMPERATURE
    alpha: float = ALPHA
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    bench: Bench = Bench()
    calibration_images: int = 256
    validation_images: int = 256
    finetune_images: int = 512
    finetune_epochs: int = 1
    preset: str | None = None

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if not isinstance(self.bench, Bench):
            raise ValueError(f"bench must be a kd.hardware.Bench, got {type(self.bench).__name__}")
        set_ = object.__setattr__
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None:
                set_(self, name, checks.integer(name, getattr(self, name), 1))
        if self.preset is not None and not (isinstance(self.preset, str)
                                            and self.preset in PRESETS):
            raise ValueError(f"preset must be one of {tuple(PRESETS)} or None, got "
                             f"{self.preset!r}")
        set_(self, "data_seed", checks.integer("data_seed", self.data_seed, 0))
        set_(self, "calibration_images",
             checks.integer("calibration_images", self.calibration_images, 1))
        set_(self, "validation_images",
             checks.integer("validation_images", self.validation_images, 1))
        set_(self, "finetune_images", checks.integer("finetune_images", self.finetune_images, 1))
        set_(self, "finetune_epochs", checks.integer("finetune_epochs", self.finetune_epochs, 1))
        self.settings("student")                # validates the training fields

    @property
    def quick(self) -> bool:
        """Whether this is a smoke run of the ``"quick"`` preset (accuracies not meaningful)."""
        return self.preset == "quick"

    def settings(self, name: str) -> Settings:
        """Training settings of model ``name`` (one of the first four of :data:`MODELS`)."""
        model = {"teacher": "teacher", "baseline": "baseline", "student_no_kd": "student",
                 "student": "student"}[name]
        alpha = self.alpha if name == "student" else 0.0
        channels = self.channels if model == "student" else self.teacher_channels
        return Settings(model=model, channels=channels, kernel_size=self.kernel_size,
                        downsample=self.downsample,
                        spectral_kernel_size=self.spectral_kernel_size, hidden=self.hidden,
                        dropout=self.dropout, readout=self.readout,
                        temperature=self.temperature,
                        alpha=alpha, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                        seed=self.seed)

    def to_dict(self) -> dict:
        """JSON-ready settings (tuples as lists, the bench as a dict)."""
        return json_ready(self)


#: Named starting points of an :class:`Experiment` (``opticsim demo --preset NAME``), each a dict
#: of its fields; options given explicitly override them.
#:
#: - ``"quick"`` (also ``--quick``): every stage on a small slice, about a minute on two cores; a
#:   smoke test of the pipeline whose accuracies are not meaningful.
#: - ``"paper"``: the scale of Xiang et al. (Appl. Opt. 61(9):2173, 2022) on MNIST (28²; or
#:   ``dataset="cifar10"``, 32²) from ``data_root``, for a machine with the data and a GPU.
#:   From the paper as the project's issue 18 summarises it: the teacher's widths 32/128/256
#:   at full resolution (no pooling), T = 10, α = 0.5. From the authors' MNIST network code
#:   (github.com/shlizee/SCLCKDTraining): the student's three 3×3 spectral layers
#:   32 → 64 → 256 and the back end (6×6 average pool, 512 and 256 wide, dropout 0.5). Our
#:   choice, not sourced: the teacher's 3×3 kernels and 20 epochs (Adam, lr 1e-3, batch 64, as
#:   every run here). The bench refuses CIFAR-10's colour images (it lays out one input
#:   channel), before any training.
PRESETS = {
    "quick": {"train_size": 320, "test_size": 128, "epochs": 1, "calibration_images": 32,
              "validation_images": 64, "finetune_images": 32},
    "paper": {"dataset": "mnist", "teacher_channels": (32, 128, 256), "kernel_size": 3,
              "downsample": 1, "temperature": 10.0, "alpha": 0.5, "channels": (32, 64, 256),
              "spectral_kernel_size": 3, "hidden": (512, 256), "dropout": 0.5, "epochs": 20},
}


def _data(experiment: Experiment):
    options = {"seed": experiment.data_seed, "root": experiment.data_root,
               "size": experiment.image_size}
    train, test = load(experiment.dataset, "train", **options), load(experiment.dataset, "test",
                                                                     **options)
    if experiment.train_size is not None:
        train = train.subset(min(experiment.train_size, len(train)))
    if experiment.test_size is not None:
        test = test.subset(min(experiment.test_size, len(test)))
    held_out = experiment.validation_images
    if held_out >= len(train):
        raise ValueError(f"validation_images must be below the {len(train)} training images, "
                         f"got {held_out}")
    return train.subset(len(train) - held_out), train.tail(held_out), test


def run(experiment: Experiment, folder, *, resume: bool = False, overwrite: bool = False,
        progress: bool = True, device: str = "cpu", command: str = "") -> dict:
    """Run ``experiment`` into ``folder`` and return the results written to ``results.json``.

    A new run needs an empty (or new) folder unless ``overwrite``; ``resume`` continues the
    run whose checkpoints are in ``folder`` (same experiment required: ``ValueError`` naming
    the settings that differ), redoing only the stages that had not finished. The folder,
    then ``stage k/6: …`` as each stage starts, are printed to stderr; ``progress`` adds
    progress bars and each model's score.
    """
    folder = Path(folder)
    saved = folder / "experiment.json"
    resuming = resume and saved.exists()
    if resuming:
        differs = differences(read_json(saved, "experiment settings"), experiment.to_dict())
        if differs:
            raise ValueError(f"{saved} describes another experiment ({'; '.join(differs)}); "
                             "resume with the same settings or use another folder")
    else:
        check_folder(folder, overwrite)
    started = time.perf_counter()
    times, scores, histories = {}, {}, {}

    def timed(name, work):
        begin = time.perf_counter()
        value = work()
        times[name] = round(time.perf_counter() - begin, 2)
        return value

    def stage(name):
        _say(f"stage {MODELS.index(name) + 1}/{len(MODELS)}: {STAGES[name]}")

    def scored(name, accuracy):
        scores[name] = accuracy_record(accuracy, len(test))
        if progress:
            seconds = f" ({times[name]} s)" if name in times else ""
            _say(f"{name}: accuracy {accuracy_text(scores[name])}{seconds}")

    # The data first: a missing or corrupt dataset, or a student the bench cannot show, leaves
    # no run folder behind.
    train, validation, test = timed("data", lambda: _data(experiment))
    _check_bench(experiment, train)
    if not resuming:
        prepare_folder(folder, overwrite)
    _say(f"run folder {folder}" + (" (resuming)" if resuming else "")
         + (f" — quick preset: {SMOKE}" if experiment.quick else ""))
    checkpoints = folder / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    if not resume:                              # --overwrite: a new run, old stages dropped
        for stale in checkpoints.glob("*.pt"):
            stale.unlink()
    write_atomic(saved, (json.dumps(experiment.to_dict(), indent=2) + "\n").encode())
    models = {}
    for name in MODELS[:4]:
        stage(name)
        settings = experiment.settings(name)
        logits = None
        if name == "student" and experiment.alpha > 0:
            logits = predict(models["teacher"], train.images, device=device)
        models[name], histories[name] = timed(name, lambda: fit(
            settings, train.images, train.labels, teacher_logits=logits,
            validation=(validation.images, validation.labels),
            checkpoint=checkpoints / f"{name}.pt", resume=resume, device=device,
            progress=progress, desc=name))
        models[name] = models[name].cpu()
        scored(name, classifier_accuracy(models[name], test.images, test.labels))

    stage("student_hardware")
    student, bench = models["student"], experiment.bench
    calibration_images = train.images[:experiment.calibration_images]
    setup = timed("bench", lambda: prepare(bench, student, calibration_images,
                                           progress=progress))
    hardware = timed("student_hardware", lambda: student_on_hardware(
        student, *setup, test.images, test.labels, seed=experiment.seed,
        progress=progress, desc="test"))
    scored("student_hardware", hardware["accuracy"])

    stage("student_hardware_finetuned")
    tuned_path = checkpoints / "student_hardware_finetuned.pt"

    def tune():
        if resume and tuned_path.exists():
            state = load_checkpoint(tuned_path)
            tuned = copy.deepcopy(student)
            try:
                tuned.load_state_dict(state["model"])
                return tuned.eval(), {key: [float(value) for value in values]
                                      for key, values in state["history"].items()}
            except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as error:
                raise ValueError(f"checkpoint {tuned_path} does not hold this student's "
                                 f"fine-tuning ({error})") from None
        count = experiment.finetune_images
        tuned, history = fine_tune(
            student, *setup, train.images[:count], train.labels[:count],
            teacher_logits=predict(models["teacher"], train.images[:count]),
            temperature=experiment.temperature, alpha=experiment.alpha,
            epochs=experiment.finetune_epochs, seed=experiment.seed, progress=progress)
        save_checkpoint(tuned_path, {
            "settings": experiment.settings("student").to_dict(),
            "epoch": experiment.finetune_epochs, "model": tuned.state_dict(),
            "history": history, "rng": torch.get_rng_state()})
        return tuned, history

    tuned, tune_history = timed("finetune", tune)
    validated = timed("validation", lambda: {
        name: accuracy_record(student_on_hardware(
            model, *setup, validation.images, validation.labels, seed=experiment.seed,
            progress=progress, desc=f"validation, {name}")["accuracy"], len(validation))
        for name, model in (("student", student), ("finetuned", tuned))})
    kept = validated["finetuned"]["accuracy"] >= validated["student"]["accuracy"]
    tuned_hardware = timed("student_hardware_finetuned", lambda: student_on_hardware(
        tuned, *setup, test.images, test.labels, seed=experiment.seed,
        progress=progress, desc="test"))
    tuned_score = accuracy_record(tuned_hardware["accuracy"], len(test))   # kept or not
    _say(f"fine-tuned student on the bench: accuracy {accuracy_text(tuned_score)} "
         f"({'kept' if kept else 'not kept: worse on validation'})")
    if not kept:
        tuned, tuned_hardware = student, hardware
    scored("student_hardware_finetuned", tuned_hardware["accuracy"])

    _say("writing the gray levels, figures, results.json and report.md")
    files = _write_outputs(folder, experiment, models, tuned, setup, hardware, tuned_hardware,
                           test, scores, histories)
    results = {
        "command": command,
        "preset": experiment.preset,
        **({"note": SMOKE} if experiment.quick else {}),
        "opticsim_version": __version__,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "experiment": experiment.to_dict(),
        "data": {"dataset": train.name, "train": len(train), "validation": len(validation),
                 "test": len(test),
                 "image_shape": list(train.images.shape[1:]), "classes": list(train.classes)},
        **scores,
        "hardware": _hardware_summary(setup[0]),
        "finetune": {**tune_history, "validation_accuracy": validated, "kept": kept,
                     "tuned_test": tuned_score},
        "histories": histories,
        "stage_seconds": times,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "environment": environment(device),
        "files": files,
    }
    write_atomic(folder / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    write_atomic(folder / "report.md", report_markdown(results).encode())
    return results


def _check_bench(experiment: Experiment, train) -> None:
    """``ValueError`` before any training when the bench cannot lay out the optical student of
    ``experiment`` for the images of ``train`` (its channels and size), e.g. colour images on a
    grid sized for one input channel."""
    with torch.random.fork_rng(devices=[]):          # leaves the seeded training as it was
        cascade = build_model(experiment.settings("student"), train.images.shape[1],
                              len(train.classes)).cascade
    shape = train.images.shape[-2:]
    fourf = experiment.bench.fourf(shape, cascade.kernel_shape, experiment.readout,
                                   in_channels=cascade.in_channels)
    try:
        fourf.layout(cascade.in_channels, cascade.out_channels, shape, cascade.kernel_shape)
    except ValueError as error:
        raise ValueError(f"the hardware bench cannot show the optical student of {train.name}'s "
                         f"{cascade.in_channels}-channel {shape[0]}×{shape[1]} images ({error})"
                         ) from None


def _say(text: str) -> None:
    """One line on stderr that leaves the progress bars whole."""
    tqdm.write(text, file=sys.stderr)


def _hardware_summary(fourf) -> dict:
    """The bench as simulated: elements, sampling and the exposure settings."""
    slm, camera = fourf.fourier_slm, fourf.camera
    return {"grid": list(fourf.shape), "pitch": fourf.pitch[0], "wavelength": fourf.wavelength,
            "focal_lengths": [fourf.lens1.focal_length, fourf.lens2.focal_length],
            "fourier_slm": {"shape": list(slm.shape), "pitch": slm.pitch, "bits": slm.bits,
                            "crosstalk": slm.crosstalk,
                            "phase_stroke": slm.phase_stroke(fourf.wavelength)},
            "input_slm": {"bits": fourf.input_slm.bits, "mode": fourf.input_slm.mode},
            "camera": {"pitch": camera.pitch[0], "bits": camera.bits, "exposure": camera.exposure,
                       "full_well": camera.full_well, "read_noise": camera.read_noise,
                       "qe": camera.qe},
            "laser_power": fourf.laser.power, "readout": fourf.readout}


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _write_outputs(folder: Path, experiment, models, tuned, setup, hardware, tuned_hardware,
                   test, scores, histories) -> dict:
    """Gray levels and figures; returns their file names."""
    student, (fourf, calibration) = models["student"], setup
    cascade = student.cascade
    layout = fourf.layout(cascade.in_channels, cascade.out_channels, test.images.shape[-2:],
                          cascade.kernel_shape)
    gray = {"student": student_gray(student, fourf, layout),
            "student_finetuned": student_gray(tuned, fourf, layout)}
    write_atomic(folder / "slm_gray.npz", _npz_bytes(**gray))
    with torch.no_grad():
        kernel = tuned.cascade.convolution_kernel()
        masks = (fourf.masks_from_kernels(kernel.double().numpy(), layout))
        ideal = student.camera_signal(torch.as_tensor(test.images[:4])).numpy()
    displays = masks if masks.ndim == 3 else masks[:, 0]
    shown = gray["student_finetuned"] if masks.ndim == 3 else gray["student_finetuned"][:, 0]
    psf = figures.psf_data(fourf, {"gray": gray["student_finetuned"][:1]},
                           test.images.shape[-2:], cascade.kernel_shape,
                           fill=experiment.bench.fill, seed=experiment.seed)
    predicted = {
        "ideal": predict(student, test.images[:4]).argmax(1),
        "camera": classify_frames(student, hardware["frames"][:4], calibration).argmax(1),
        "tuned": classify_frames(tuned, tuned_hardware["frames"][:4],
                                 calibration).argmax(1)}
    pictures = {
        "accuracy.png": figures.accuracy_bars(
            scores, title=f"{test.name}: test accuracy (seed {experiment.seed})"),
        "masks.png": figures.mask_panels(displays / np.abs(displays).max(), shown),
        "psf.png": figures.psf_panels(
            psf, title="Point response of optical channel 0 on the bench, the student as "
                       "finally shown"),
        "frames.png": figures.frame_panels({
            "test image": (test.images[:4, 0], "amplitude transmittance", None),
            "student, ideal optics |u∗h|², channel 0, in camera DN (calibration)":
                (calibration.frames(ideal)[:, 0], "DN", predicted["ideal"]),
            "student on the bench: camera, channel 0":
                (hardware["frames"][:4, 0], "DN", predicted["camera"]),
            "fine-tuned student on the bench: camera, channel 0":
                (tuned_hardware["frames"][:4, 0], "DN", predicted["tuned"])},
            test.labels[:4], test.classes),
        "curves.png": figures.training_curves(histories),
    }
    for name, data in pictures.items():
        write_atomic(folder / name, data)
    return {"gray_levels": "slm_gray.npz", "figures": sorted(pictures), "report": "report.md",
            "results": "results.json", "checkpoints": "checkpoints/"}


def report_markdown(results: dict) -> str:
    """A short Markdown report of one run, each accuracy with its 95 % interval."""
    e, data, hardware = results["experiment"], results["data"], results["hardware"]
    rows = [f"| {name} | {accuracy_text(results[name])} | "
            f"{results['stage_seconds'].get(name, 0):.0f} |" for name in MODELS]
    validated = results["finetune"]["validation_accuracy"]
    verdict = "the student was kept as it was (fine-tuning did not help)"
    cpu = results["environment"]["cpu"]
    gain_kd = results["student"]["accuracy"] - results["student_no_kd"]["accuracy"]
    gain_linear = results["student"]["accuracy"] - results["baseline"]["accuracy"]
    lines = [
        "# Knowledge distillation into an optical 4f student",
        "",
        *([f"**Quick preset (`--quick`): {SMOKE}.** It checks that every stage runs; "
           "run without `--quick` for the comparison.", ""]
          if results["preset"] == "quick" else []),
        f"{data['dataset']}: {data['train']} training, {data['validation']} validation and "
        f"{data['test']} test images of "
        f"{'×'.join(map(str, data['image_shape']))}; teacher widths {e['teacher_channels']}, "
        f"student widths {e['channels']}, {e['epochs']} epochs, KD at T = {e['temperature']}, "
        f"α = {e['alpha']}, seed {e['seed']}, {e['readout']} readout"
        + (f"; from the {e['preset']} preset." if e["preset"] else "."),
        "",
        "| model | test accuracy [95 % interval] | seconds |",
        "|---|---|---|",
        *rows,
        "",
        f"Intervals: Wilson score, from the {data['test']} test images. Computed on "
        f"{cpu['model']} ({cpu['usable_cores']} cores, torch "
        f"{results['environment']['packages']['torch']}); another CPU, thread count or "
        "library version trains to other, statistically equivalent numbers (the environment "
        "is in results.json).",
        "",
        f"KD adds {gain_kd:+.3f} to the optical student trained on labels alone; the optical "
        f"student scores {gain_linear:+.3f} against the strictly linear CNN (the camera's "
        "square law is a nonlinearity the linear CNN lacks).",
        "",
        f"Hardware: {hardware['grid'][0]}² grid, Fourier SLM of {hardware['fourier_slm']['bits']} "
        f"bits and {hardware['fourier_slm']['crosstalk']} px fringing showing each channel's "
        f"complex mask by double-phase encoding, {hardware['camera']['bits']}-bit camera "
        f"({hardware['camera']['read_noise']} e⁻ read noise) at "
        f"{hardware['camera']['exposure'] * 1e6:g} µs, laser attenuated to "
        f"{hardware['laser_power'] * 1e6:.3g} µW. Fine-tuned for "
        f"{e['finetune_epochs']} epoch(s) on {e['finetune_images']} training images with the "
        "hardware model in the loop; on the "
        f"{data['validation']} held-out validation images it scored "
        f"{accuracy_text(validated['finetuned'])} on the bench against "
        f"{accuracy_text(validated['student'])} before, so "
        f"{'the fine-tuned student was kept' if results['finetune']['kept'] else verdict}; "
        f"on the test images the fine-tuned student scores "
        f"{accuracy_text(results['finetune']['tuned_test'])} on the bench.",
        "",
        *(f"![{name}]({name})" for name in results["files"]["figures"]),
        "",
        f"Reproduce: `{results['command']}`",
        "",
    ]
    return "\n".join(lines)
