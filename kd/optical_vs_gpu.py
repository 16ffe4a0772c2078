"""Per image, as the input grows: an all-electronic teacher, its digital SCLC student, and the
hybrid (optical front end + electronic back end) — time, energy and FLOPs.

    opticsim bench [--teacher demo|paper|CHECKPOINT] [--sizes 32,64,...,4096]
                   [--measure-up-to 256] [--accuracy RESULTS.json] [--out PATH] [...]

The networks are chosen by :func:`models`: the demo's, the paper's (3×3 convolutions of
32/128/256 channels at full resolution) or a kd checkpoint's, each with its SCLC student and the
BatchNorm / 6×6 pool / FC 512-256 back end (time does not depend on the weights).

* **Electronic, measured**: FLOPs counted analytically (:mod:`kd.cost`); time measured with
  torch on this CPU with ``threads`` threads (default all; load from other processes only slows
  a call, so read the measured times with the load beside them) and on CUDA when present, batch
  1, ``torch.no_grad``, the fastest of ``repeats`` calls after a warm-up, at every size up to
  ``measure_up_to``; above it the time is *modelled*: the FLOPs times the seconds per FLOP
  measured at the largest measured size (the JSON and the table say which). The teacher runs
  its whole network; the digital student its FFT convolution, square law and back end.
* **Electronic, modelled**: each processor preset of ``processors`` by its roofline
  (:func:`modelled_times`), energy its board power × time.
* **Optical**: :class:`kd.cost.OpticalFrontEnd` from the presets' frame rates, pixels and
  supply powers (``electrical_power``, all assumed: see ``presets.info(name).assumptions``) and
  the exposure; frames per image, time per image pipelined, energy from the devices' supply
  power and the ADC conversions, in the configured design and in the best one per size
  (:func:`designs`). The hybrid's electronic back end (BatchNorm, pool, FC on the camera
  frames) runs on the same device as the teacher; the optics does not remove it.
* **Hybrid**: time per image ``max(optics, back end)`` (the back end works on one image while
  the optics takes the next), energy ``optics + back end``. The *crossover* is the smallest
  size from which on the hybrid is faster than the teacher; ``break_even_rate`` is the frame
  rate (Hz) the Fourier SLM and camera would both need for the hybrid to match the teacher;
  :func:`crossover_map` maps the best design against that rate and the channels per frame.
  CPU energy is time × threads × ``cpu_core_power`` (a measured GPU's × ``gpu_power``),
  assumed constants.

The bench measures no accuracy: it reports the accuracies of a run it is given
(:func:`accuracies`: an ``opticsim demo`` ``results.json`` or an ``opticsim train``
``summary.json``), at that run's image size only, or none. :func:`run` writes the JSON,
Markdown tables beside it (``.md``), a log-log plot of time and energy per image against size
(``.png``) and the crossover map (``_map.png``), and refuses to replace any of them unless told
to.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from kd import cost
from kd.experiment import Experiment
from kd.models import SCLCStudent, Teacher
from kd.train import build_model, restore
from opticsim import checks, presets
from opticsim.environment import environment
from opticsim.files import write_atomic

SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
MODELS = ("teacher", "student", "backend")
TEACHERS = ("demo", "paper")
PROCESSORS = ("a100-sxm4-80gb", "h100-sxm5-80gb", "rtx-4090", "jetson-agx-orin-64gb")
# camera and Fourier-SLM frame rates (Hz) of the crossover map: 10 Hz to 1 MHz, 8 a decade
MAP_RATES = tuple(10 ** (1 + k / 8) for k in range(41))
# the bench's paths and the run results' models they are scored as
SCORED = {"teacher": "teacher", "student": "student", "hybrid": "student_hardware"}


@dataclass(frozen=True)
class Settings:
    """One run: ``teacher`` (``"demo"``, ``"paper"`` or a kd checkpoint's path: see
    :func:`models`); image sides ``sizes`` (pixels); torch timings at sides up to
    ``measure_up_to`` (the fastest of ``repeats`` calls, on ``threads`` CPU threads; default
    all this process may use); the modelled ``processors`` (processor preset names) at
    ``efficiency`` of their peak FLOP/s and bandwidth; the optical bench by preset names
    (``input_slm`` defaults to a second ``fourier_slm``), ``exposure`` (s),
    ``channels_per_frame``, ``images_per_frame`` and ``camera_roi``; ``adc_energy`` (J),
    ``cpu_core_power`` (W per thread) and ``gpu_power`` (W of a measured CUDA GPU)."""

    teacher: str = "demo"
    sizes: tuple[int, ...] = SIZES
    measure_up_to: int = 256
    repeats: int = 3
    threads: int = os.cpu_count() or 1
    processors: tuple[str, ...] = PROCESSORS
    efficiency: float = 0.5
    laser: str = Experiment().bench.laser
    fourier_slm: str = Experiment().bench.fourier_slm
    input_slm: str | None = None
    camera: str = Experiment().bench.camera
    exposure: float = Experiment().bench.exposure
    channels_per_frame: int = 1
    images_per_frame: int = 1
    camera_roi: bool = False
    adc_energy: float = cost.ADC_ENERGY
    cpu_core_power: float = cost.CPU_CORE_POWER
    gpu_power: float = cost.GPU_POWER

    def __post_init__(self):
        set_ = object.__setattr__
        if not self.sizes:
            raise ValueError("sizes must hold at least one image side")
        set_(self, "sizes", tuple(sorted(set(checks.integer("sizes", n, 8)
                                                 for n in self.sizes))))
        set_(self, "measure_up_to", checks.integer("measure_up_to", self.measure_up_to,
                                                   self.sizes[0]))
        set_(self, "repeats", checks.integer("repeats", self.repeats, 1))
        set_(self, "threads", checks.integer("threads", self.threads, 1))
        set_(self, "efficiency", checks.in_range("efficiency", self.efficiency, 0.0, 1.0,
                                                 low_open=True))
        for name in ("cpu_core_power", "gpu_power"):
            set_(self, name, checks.positive(name, getattr(self, name)))
        records = [presets.info(name) for name in self.processors]
        for name, record in zip(self.processors, records):
            if record.kind != "processor":
                raise ValueError(f"processors must name processor presets "
                                 f"({', '.join(presets.names('processor'))}), got {name!r}")
        set_(self, "processors", tuple(record.name for record in records))
        self.front_end()                    # validates the presets, exposure, ADC energy

    def front_end(self) -> cost.OpticalFrontEnd:
        return cost.OpticalFrontEnd.from_presets(
            self.laser, self.fourier_slm, self.camera, self.input_slm, exposure=self.exposure,
            adc_energy=self.adc_energy, channels_per_frame=self.channels_per_frame,
            images_per_frame=self.images_per_frame, camera_roi=self.camera_roi)


def models(teacher: str = "demo") -> dict:
    """The teacher and its optical student, in eval mode, by ``teacher``:

    - ``"demo"``: the demo's (:class:`kd.experiment.Experiment` defaults): 3×3 convolutions of
      8/16/32 channels with 2× pools between them; the student's cascade of 5×5 spectral
      layers of 8/16/16 channels (one 13×13 kernel per output channel);
    - ``"paper"``: Xiang et al.'s: 3×3 convolutions of 32/128/256 channels at full
      resolution, no pooling; its SCLC counterpart, 3×3 spectral layers of the same widths
      (one 7×7 kernel for each of 256 output channels);
    - a kd checkpoint's path (:func:`kd.train.restore`): its model, and the other of the
      pair built from its settings (:func:`kd.train.build_model`; a student's teacher of its
      widths, a teacher's or linear CNN's SCLC student).

    All grey (one input channel) or the checkpoint's, with the FC back end; untrained unless
    restored (time does not depend on the weights)."""
    if teacher == "demo":
        experiment = Experiment()
        common = dict(in_channels=1, classes=10, hidden=experiment.hidden,
                      dropout=experiment.dropout)
        return {"teacher": Teacher(channels=experiment.teacher_channels,
                                   kernel_size=experiment.kernel_size,
                                   downsample=experiment.downsample, **common).eval(),
                "student": SCLCStudent(channels=experiment.channels,
                                       kernel_size=experiment.spectral_kernel_size,
                                       readout=experiment.readout, **common).eval()}
    if teacher == "paper":
        widths = (32, 128, 256)
        return {"teacher": Teacher(channels=widths, kernel_size=3, downsample=1).eval(),
                "student": SCLCStudent(channels=widths, kernel_size=3).eval()}
    if not Path(teacher).is_file():
        raise ValueError(f"teacher must be one of {TEACHERS} or a kd checkpoint file, got "
                         f"{teacher!r}")
    model, settings = restore(teacher)
    role = "student" if isinstance(model, SCLCStudent) else "teacher"
    first = model.cascade.weights[0] if role == "student" else model.features[0].weight
    in_channels, classes = int(first.shape[1]), int(model.backend.layers[-1].out_features)
    other = "teacher" if role == "student" else "student"
    partner = build_model(dataclasses.replace(settings, model=other), in_channels, classes)
    return {role: model, other: partner.eval()}


def flops(networks: dict, size: int) -> dict:
    """FLOPs per image of a ``size`` × ``size`` input (see :mod:`kd.cost`)."""
    student = networks["student"]
    return {"teacher": cost.teacher_flops(networks["teacher"], size),
            "student": cost.student_flops(student, size),
            "backend": cost.backend_flops(student, cost.camera_shape(student, size))}


def _seconds(call, repeats: int, device: str) -> float:
    """Shortest wall time (s) of ``repeats`` calls after one warm-up."""
    def timed():
        start = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start
    timed()
    return min(timed() for _ in range(repeats))


@torch.no_grad()
def measure(networks: dict, size: int, repeats: int, device: str) -> dict:
    """Seconds per image of the teacher and the digital student on a ``size`` × ``size``
    image, and of the student's back end on the camera frames, on ``device``."""
    student = networks["student"].to(device)
    teacher = networks["teacher"].to(device)
    image = torch.rand(1, teacher.features[0].in_channels, size, size, device=device)
    frames = torch.rand(1, *cost.camera_shape(student, size), device=device)
    return {"teacher": _seconds(lambda: teacher(image), repeats, device),
            "student": _seconds(lambda: student(image), repeats, device),
            "backend": _seconds(lambda: student.backend(frames), repeats, device)}


def electronic_times(settings: Settings, networks: dict, counts: dict, device: str,
                     progress) -> dict:
    """``{size: {model: (seconds, measured)}}`` on ``device``: measured up to
    ``measure_up_to``, above it FLOPs × the seconds per FLOP of the largest measured size."""
    measured = {}
    for size in settings.sizes:
        if size <= settings.measure_up_to:
            progress(f"measuring {device} at {size}x{size}")
            measured[size] = measure(networks, size, settings.repeats, device)
    reference = max(measured)
    rate = {model: measured[reference][model] / _total(counts[reference][model])
            for model in MODELS}
    return {size: {model: (measured[size][model], True) if size in measured
                   else (rate[model] * _total(counts[size][model]), False)
                   for model in MODELS}
            for size in settings.sizes}


def modelled_times(settings: Settings, networks: dict, processor: str) -> dict:
    """``{size: {model: (seconds, False)}}`` on the roofline of ``processor`` (a processor
    preset) at ``settings.efficiency``: each model's steps (:func:`kd.cost.teacher_steps`,
    :func:`kd.cost.student_steps`, the back end's :func:`kd.cost.layer_costs` on the camera
    frames) one after another, at the preset's precision (:func:`kd.cost.roofline_seconds`)."""
    device = presets.processor(processor)
    teacher, student = networks["teacher"], networks["student"]
    times = {}
    for size in settings.sizes:
        backend, _ = cost.layer_costs(student.backend.layers, cost.camera_shape(student, size),
                                      device.value_bytes)
        steps = {"teacher": cost.teacher_steps(teacher, size, device.value_bytes),
                 "student": cost.student_steps(student, size, device.value_bytes),
                 "backend": backend}
        times[size] = {model: (cost.roofline_seconds(steps[model], device, settings.efficiency),
                               False) for model in MODELS}
    return times


def _total(count) -> float:
    return count["total"] if isinstance(count, dict) else count


def compare(settings: Settings, device: str, power: float, times: dict, counts: dict,
            front_end: cost.OpticalFrontEnd, student: SCLCStudent) -> list[dict]:
    """One row per size: FLOPs, seconds and joules per image of each path, the electronic
    ones on ``device`` drawing ``power`` (W)."""
    kernel, _ = student.cascade.kernel_shape
    rows = []
    for size in settings.sizes:
        seconds = {model: times[size][model][0] for model in MODELS}
        optics = front_end.cost(size, kernel, student.cascade.out_channels, student.readout)
        hybrid = max(optics["time"], seconds["backend"])
        rows.append({
            "size": size, "device": device,
            "measured": times[size]["teacher"][1],
            "flops": {"teacher": counts[size]["teacher"], "student": counts[size]["student"],
                      "hybrid_backend": counts[size]["backend"]},
            "seconds": {"teacher": seconds["teacher"], "student": seconds["student"],
                        "optics": optics["time"], "hybrid_backend": seconds["backend"],
                        "hybrid": hybrid, "hybrid_latency": optics["time"] + seconds["backend"]},
            "joules": {"teacher": seconds["teacher"] * power,
                       "student": seconds["student"] * power,
                       "optics": optics["energy"], "optics_adc": optics["energy_adc"],
                       "hybrid_backend": seconds["backend"] * power,
                       "hybrid": optics["energy"] + seconds["backend"] * power},
            "optics": optics,
            "speedup": seconds["teacher"] / hybrid,
            "break_even_rate": optics["frames"] / seconds["teacher"],
        })
    return rows


def crossover(rows: list[dict]) -> int | None:
    """The smallest size from which on the hybrid is faster than the teacher, or None."""
    found = None
    for row in reversed(rows):
        if row["speedup"] <= 1:
            break
        found = row["size"]
    return found


def _electronic(results: dict, size: int) -> dict:
    """Per electronic device, the teacher's and the hybrid back end's seconds at ``size``."""
    found = {}
    for device, result in results.items():
        row = next(row for row in result["rows"] if row["size"] == size)
        found[device] = (row["seconds"]["teacher"], row["seconds"]["hybrid_backend"])
    return found


def designs(settings: Settings, front_end: cost.OpticalFrontEnd, student: SCLCStudent,
            results: dict) -> list[dict]:
    """Per size, the best design of the bench's devices (:func:`kd.cost.best_design`): its
    channels and images per frame, tile, frames, camera rows, time and energy per image of the
    optics, and per electronic device of ``results`` the hybrid's speed-up over the teacher,
    ``teacher / max(optics, back end)``."""
    kernel, _ = student.cascade.kernel_shape
    rows = []
    for size in settings.sizes:
        design, optics = cost.best_design(front_end, size, kernel, student.cascade.out_channels,
                                          student.readout)
        rows.append({"size": size, "channels_per_frame": design.channels_per_frame,
                     "images_per_frame": design.images_per_frame,
                     **{key: optics[key] for key in ("tile", "frames", "rows", "time",
                                                     "energy")},
                     "speedup": {device: teacher / max(optics["time"], backend)
                                 for device, (teacher, backend)
                                 in _electronic(results, size).items()}})
    return rows


def _at_rate(front_end: cost.OpticalFrontEnd, rate: float) -> cost.OpticalFrontEnd:
    """``front_end`` with its Fourier SLM and camera at ``rate`` (Hz) and the exposure cut to
    the frame period where it is longer."""
    return dataclasses.replace(front_end, fourier_rate=rate, camera_rate=rate,
                               exposure=min(front_end.exposure, 1 / rate))


def crossover_map(settings: Settings, front_end: cost.OpticalFrontEnd, student: SCLCStudent,
                  results: dict) -> dict:
    """The optics' time per image (s) of the best design for each size against the frame
    rate of the Fourier SLM and camera (``MAP_RATES``, ``by_rate``) and against the
    channels per frame at the presets' rates (``g²`` up to all of them, ``by_channels``; None
    where they do not fit), and per electronic device the break-even: the lowest map rate and
    the fewest channels per frame at which the hybrid is at least as fast as the teacher
    (None: not on the map)."""
    kernel, _ = student.cascade.kernel_shape
    channels, readout = student.cascade.out_channels, student.readout
    per_frame = sorted({min(g * g, channels) for g in range(1, math.isqrt(channels - 1) + 2)})

    def optics(design, size, fixed=None):
        try:
            return cost.best_design(design, size, kernel, channels, readout, fixed)[1]["time"]
        except ValueError:
            return None

    by_rate = [[optics(_at_rate(front_end, rate), size) for rate in MAP_RATES]
               for size in settings.sizes]
    by_channels = [[optics(front_end, size, n) for n in per_frame] for size in settings.sizes]
    break_even = {}
    for device in results:
        rates, counts = [], []
        for index, size in enumerate(settings.sizes):
            teacher, backend = _electronic(results, size)[device]
            rates.append(next((rate for rate, time in zip(MAP_RATES, by_rate[index])
                               if time is not None and max(time, backend) <= teacher), None))
            counts.append(next((n for n, time in zip(per_frame, by_channels[index])
                                if time is not None and max(time, backend) <= teacher), None))
        break_even[device] = {"rate": rates, "channels_per_frame": counts}
    return {"rates": list(MAP_RATES), "channels_per_frame": per_frame, "by_rate": by_rate,
            "by_channels": by_channels, "break_even": break_even}


def describe(networks: dict) -> dict:
    """The teacher's and the student's architecture, as the tables name them."""
    teacher, student = networks["teacher"], networks["student"]
    convolutions = [layer for layer in teacher.features if isinstance(layer, torch.nn.Conv2d)]
    pools = [layer.kernel_size for layer in teacher.features
             if isinstance(layer, torch.nn.AvgPool2d)]
    cascade = student.cascade
    return {"teacher": {"model": type(teacher).__name__,
                        "in_channels": convolutions[0].in_channels,
                        "channels": [layer.out_channels for layer in convolutions],
                        "kernel_size": convolutions[0].kernel_size[0],
                        "pools": pools,
                        "parameters": sum(p.numel() for p in teacher.parameters())},
            "student": {"channels": list(cascade.channels),
                        "kernel_size": cascade.kernel_size,
                        "collapsed_kernel": cascade.kernel_shape[0],
                        "optical_outputs": cascade.out_channels, "readout": student.readout}}


def assumptions(settings: Settings, front_end: cost.OpticalFrontEnd) -> list[str]:
    """What the figures rest on beyond the presets' sources, in words."""
    input_slm = presets.info(settings.input_slm or settings.fourier_slm)
    said = [
        f"electronic, measured: torch on this CPU with {settings.threads} threads (and CUDA "
        f"when present), batch 1, float32, fastest of {settings.repeats} calls, up to "
        f"{settings.measure_up_to}²; above it the FLOPs times the seconds per FLOP measured "
        "at the largest measured size",
        f"electronic, modelled: each layer max(F/(η·P), B/(η·W)) with η = "
        f"{settings.efficiency:g} of the peak FLOP/s P (fp32 CUDA cores) and bandwidth W of "
        "the processor presets (datasheet values, marked unverified there), B the layer's "
        "weights, input and output at 4 bytes a value (no reuse between layers in caches), "
        "batch 1; energy = time × the preset's board power",
        "optics: frame period max(1/f_Fourier, 1/f_camera, exposure); the input SLM loads the "
        "next shot while the camera takes this one's frames; the hybrid's time is "
        "max(optics, electronic back end), its energy their sum",
        "designs: square grids of channel replicas (a linear phase per kernel on the Fourier "
        "SLM) and of input tiles, within half the Fourier SLM's side (double-phase encoding) "
        "and the camera; a stream of images fills the tiles of a shot",
        "crossover map: Fourier SLM and camera both at the map's rate, the exposure cut to "
        "its frame period (the laser power needed for the same signal is not checked), the "
        "input SLM at its preset's rate",
        f"energy: laser, SLM and camera supply powers from the presets (assumed), "
        f"{settings.adc_energy:g} J per ADC conversion, {settings.cpu_core_power:g} W per "
        f"CPU thread, {settings.gpu_power:g} W for a measured CUDA GPU (assumed)"]
    if front_end.camera_roi:
        said.append("camera region of interest: the frame rate grows as the sensor's rows "
                    "over the rows read (row-parallel readout); on the map the camera's "
                    "full-frame rate is the map's")
    if input_slm.values.get("mode") == "binary":
        said.append(f"input SLM {input_slm.name}: {input_slm.assumptions['mode']}; the "
                    "accuracy of binarised inputs is not measured")
    return said


def provenance(settings: Settings) -> dict:
    """Each device's preset: its source and what of it was assumed or unverified."""
    names = {"laser": settings.laser, "input_slm": settings.input_slm or settings.fourier_slm,
             "fourier_slm": settings.fourier_slm, "camera": settings.camera}
    documented = {}
    for role, name in names.items():
        record = presets.info(name)
        documented[role] = {"preset": record.name, "source": record.source,
                            "electrical_power": record.electrical_power,
                            "frame_rate": record.values.get("frame_rate"),
                            "unverified": list(record.unverified),
                            "assumptions": {key: record.assumptions[key] for key in
                                            ("frame_rate", "electrical_power")
                                            if key in record.assumptions}}
    return documented


def accuracies(path) -> dict:
    """The test accuracies of the teacher, the digital student and the hybrid (the student
    through the engine's hardware bench, ``student_hardware``) from ``path``: an
    ``opticsim train`` ``summary.json`` (mean and sample std over its seeds) or an
    ``opticsim demo`` / ``train`` ``results.json`` of one seed (std ``None``). Returns
    ``{"source", "command", "dataset", "seeds", <path>: [mean, std]}``."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--accuracy {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"--accuracy {path} is not readable JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError(f"--accuracy {path} holds no opticsim results")
    if isinstance(document.get("summary"), dict):           # opticsim train: summary.json
        scores, seeds = document["summary"], document.get("seeds")
        std = "accuracy_std"
    else:                                                   # one run: results.json
        scores, seeds = document, [document.get("experiment", {}).get("seed")]
        std = None
    missing = [key for key in SCORED.values()
               if not isinstance(scores.get(key), dict) or "accuracy" not in scores[key]]
    if missing:
        raise ValueError(f"--accuracy {path} is neither an opticsim train summary.json nor a "
                         f"run's results.json (no accuracy of {', '.join(missing)})")
    experiment = document.get("experiment", {})
    shape = document.get("data", {}).get("image_shape")
    dataset = experiment.get("dataset", "?") + (f" {shape[-2]}×{shape[-1]}" if shape else "")
    return {"source": str(path), "command": document.get("command"), "dataset": dataset,
            "seeds": seeds,
            **{name: [float(scores[key]["accuracy"]),
                      None if std is None else float(scores[key][std])]
               for name, key in SCORED.items()}}


def _accuracy_text(value: list) -> str:
    mean, std = value
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


TABLE_HEADER = ["N²", "✓", "teacher GFLOP", "student GFLOP", "back end GFLOP", "teacher",
                "student", "frames", "optics", "back end", "hybrid", "speed-up",
                "break-even Hz", "teacher J", "hybrid J"]


def markdown_rows(document: dict) -> dict:
    """Per device, ``(header, rows, crossover sentence)`` of the table: sizes, FLOPs, times,
    frames, speed-up, break-even frame rate and energies, ✓ where the electronic times were
    measured."""
    tables = {}
    largest = document["settings"]["sizes"][-1]
    for device, result in document["devices"].items():
        rows = []
        for row in result["rows"]:
            f, s, j = row["flops"], row["seconds"], row["joules"]
            rows.append([
                f"{row['size']}²", "✓" if row["measured"] else "",
                f"{f['teacher']['total'] / 1e9:.3g}", f"{f['student']['total'] / 1e9:.3g}",
                f"{f['hybrid_backend'] / 1e9:.3g}", _si(s["teacher"], "s"),
                _si(s["student"], "s"), f"{row['optics']['frames']:.4g}", _si(s["optics"], "s"),
                _si(s["hybrid_backend"], "s"), _si(s["hybrid"], "s"),
                f"{row['speedup']:.3g}×", f"{row['break_even_rate']:.3g}",
                _si(j["teacher"], "J"), _si(j["hybrid"], "J")])
        found = result["crossover"]
        tables[device] = (TABLE_HEADER, rows,
                          "Crossover (hybrid faster than the teacher from this size on): "
                          + (f"{found}²" if found else f"none up to {largest}²"))
    return tables


def _rate_text(rate) -> str:
    return "—" if rate is None else f"{rate:,.0f}"


def design_rows(document: dict) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of the best design per size: its channels and images per frame,
    tile, frames and camera rows per image, the optics' time and energy per image, and per
    electronic device the hybrid's speed-up over the teacher."""
    devices = list(document["devices"])
    header = ["N²", "channels/frame", "images/frame", "tile", "frames", "camera rows",
              "optics", "optics J", *(f"speed-up, {device}" for device in devices)]
    rows = [[f"{row['size']}²", str(row["channels_per_frame"]), str(row["images_per_frame"]),
             str(row["tile"]), f"{row['frames']:.4g}", str(row["rows"]),
             _si(row["time"], "s"), _si(row["energy"], "J"),
             *(f"{row['speedup'][device]:.3g}×" for device in devices)]
            for row in document["designs"]]
    return header, rows


def break_even_rows(document: dict) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of the crossover map's break-even contour: per electronic device
    and size, the lowest frame rate of the Fourier SLM and camera (Hz, on the map's grid of 8
    a decade) and the fewest channels per frame at the presets' rates at which the hybrid is
    as fast as the teacher (—: none on the map)."""
    sizes = document["settings"]["sizes"]
    header = ["device", "break-even", *(f"{size}²" for size in sizes)]
    rows = []
    for device, even in document["crossover_map"]["break_even"].items():
        rows.append([device, "frame rate (Hz)", *(_rate_text(rate) for rate in even["rate"])])
        rows.append(["", "channels/frame", *(str(n or "—") for n in even["channels_per_frame"])])
    return header, rows


def markdown(document: dict) -> str:
    """The rows of each device as a Markdown table with its crossover, the best design per
    size with the break-even of the crossover map, the assumptions and the accuracies."""
    lines = []
    for device, (header, rows, crossing) in markdown_rows(document).items():
        how = document["devices"][device]["how"]
        lines += [f"Per image on {device} ({how}):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", crossing, ""]
    for title, (header, rows) in (
            ("Best design per size (the fastest of the bench's devices, "
             "kd.cost.best_design):", design_rows(document)),
            ("Break-even contour of the crossover map (the hybrid as fast as the teacher):",
             break_even_rows(document))):
        lines += [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    lines += ["", "Assumptions:", ""] + [f"- {text}" for text in document["assumptions"]]
    lines.append("")
    accuracy = document["accuracy"]
    if accuracy is None:
        lines.append("Accuracy: none given (`--accuracy` takes the results.json of "
                     "`opticsim demo` or the summary.json of `opticsim train`).")
    else:
        lines.append(
            f"Test accuracy on {accuracy['dataset']} only, seeds {accuracy['seeds']} "
            f"(`{accuracy['source']}`, from `{accuracy['command']}`): teacher "
            f"{_accuracy_text(accuracy['teacher'])}, digital student "
            f"{_accuracy_text(accuracy['student'])}, hybrid (student through the engine's "
            f"bench) {_accuracy_text(accuracy['hybrid'])}.")
    lines += ["", f"Reproduce: `{document['command']}`", ""]
    return "\n".join(lines)


def plot(document: dict) -> bytes:
    """PNG: time and energy per image against N (log-log), measured points filled, modelled
    hollow, each device's crossover marked; of the roofline-modelled processors the teacher
    only (dashed: their hybrid is the optics, whose back end takes far less)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accuracy = document["accuracy"]
    labels = {"teacher": "teacher", "student": "digital student",
              "optics": "optical front end (modelled)",
              "hybrid_backend": "hybrid's electronic back end", "hybrid": "hybrid"}
    if accuracy is not None:
        for key in ("teacher", "student", "hybrid"):
            labels[key] += f" (acc. {accuracy[key][0]:.2f})"
    figure, axes = plt.subplots(1, 2, figsize=(11, 5.4))
    for axis in axes:
        axis.set_prop_cycle(color=plt.get_cmap("tab10").colors)
    for device, result in document["devices"].items():
        rows = result["rows"]
        sizes = [row["size"] for row in rows]
        shown = labels if result["measured"] else {"teacher": labels["teacher"]}
        for axis, quantity, name in ((axes[0], "seconds", "time per image (s)"),
                                     (axes[1], "joules", "energy per image (J)")):
            for key, label in shown.items():
                values = [row[quantity][key] for row in rows]
                style = ":" if key == "optics" else "-" if result["measured"] else "--"
                line, = axis.plot(sizes, values, style,
                                  linewidth=3 if key == "optics" else 1.5,
                                  label=f"{label}, {device}")
                if key != "optics":
                    for size, value, row in zip(sizes, values, rows):
                        axis.plot(size, value, "o", color=line.get_color(),
                                  fillstyle="full" if row["measured"] else "none")
            if result["crossover"]:
                axis.axvline(result["crossover"], color="gray", linestyle="--")
                axis.annotate(f"crossover {device} {result['crossover']}²",
                              (result["crossover"], 1), xycoords=("data", "axes fraction"),
                              va="top", fontsize=8)
            axis.set(xscale="log", yscale="log", xlabel="image side N (N² pixels)",
                     ylabel=name)
            axis.set_xticks(sizes, [str(n) for n in sizes])
            axis.minorticks_off()
    axes[0].set_title("time per image; filled: measured, hollow: modelled", fontsize=9)
    axes[1].set_title("energy per image", fontsize=9)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncol=3, fontsize=7)
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    return _png(figure)


def _png(figure) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def plot_map(document: dict) -> bytes:
    """PNG of the crossover map: the optics' time per image of the best design (colour, log)
    against the image side N and the Fourier SLM's and camera's frame rate (left) or the
    channels per frame at the presets' rates (right), with each electronic device's
    break-even contour (the hybrid as fast as that device's teacher)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D

    sizes = document["settings"]["sizes"]
    found = document["crossover_map"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, key, values, name in (
            (axes[0], "by_rate", found["rates"], "frame rate of Fourier SLM and camera (Hz)"),
            (axes[1], "by_channels", found["channels_per_frame"],
             "channels per camera frame (presets' rates)")):
        optics = np.array([[np.nan if t is None else t for t in row] for row in found[key]])
        mesh = axis.pcolormesh(sizes, values, np.log10(optics).T, shading="nearest",
                               cmap="viridis")
        handles = []
        for colour, (device, result) in zip(colours[1:] + colours[:1],
                                            document["devices"].items()):
            rows = result["rows"]
            teacher = np.array([row["seconds"]["teacher"] for row in rows])[:, None]
            backend = np.array([row["seconds"]["hybrid_backend"] for row in rows])[:, None]
            speedup = np.log10(teacher / np.maximum(optics, backend))
            if min(speedup.shape) > 1 and np.nanmax(speedup) >= 0 >= np.nanmin(speedup):
                axis.contour(sizes, values, speedup.T, levels=[0], colors=[colour])
            handles.append(Line2D([], [], color=colour, label=f"break-even, {device}"))
        axis.set(xscale="log", yscale="log", xlabel="image side N (N² pixels)", ylabel=name)
        axis.set_xticks(sizes, [str(n) for n in sizes])
        axis.minorticks_off()
        if key == "by_channels":                 # powers of 4 and all channels
            ticks = [n for n in values if n == values[-1] or 4 ** round(math.log(n, 4)) == n]
            axis.set_yticks(ticks, [str(n) for n in ticks])
        figure.colorbar(mesh, ax=axis, label="log10 optics time per image (s)")
    axes[0].legend(handles=handles, fontsize=7, loc="lower right")
    axes[0].set_title("hybrid faster than a device's teacher above its contour", fontsize=9)
    axes[1].set_title(f"teacher: {document['settings']['teacher']}; best design per cell",
                      fontsize=9)
    figure.tight_layout()
    return _png(figure)


def outputs(out) -> list[Path]:
    """The files :func:`run` writes for ``out``, a ``.json`` file or a folder (which receives
    ``optical_vs_gpu.json``): the JSON, its ``.md`` tables, its ``.png`` plot and its
    ``_map.png`` crossover map."""
    out = Path(out)
    if out.suffix != ".json":
        out = out / "optical_vs_gpu.json"
    return [out, out.with_suffix(".md"), out.with_suffix(".png"),
            out.with_name(out.stem + "_map.png")]


def run(settings: Settings, out: Path, command: str, progress=print, *,
        accuracy: dict | None = None, overwrite: bool = False) -> dict:
    """Measure every size on the CPU (and CUDA when present), model it on the processor
    presets, search the optical designs; write the JSON, its ``.md`` tables, ``.png`` plot and
    ``_map.png`` crossover map (:func:`outputs` of ``out``), refusing (``FileExistsError``,
    before measuring) to replace any of them unless ``overwrite``; return the document.
    ``accuracy`` (from :func:`accuracies`) is reported as given; without it the bench reports
    none."""
    for path in outputs(out):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it or choose "
                                  "another --out")
    networks = models(settings.teacher)
    front_end = settings.front_end()
    counts = {size: flops(networks, size) for size in settings.sizes}
    measured = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        times = {device: electronic_times(settings, networks, counts, device, progress)
                 for device in measured}
    finally:
        torch.set_num_threads(threads)
    student = networks["student"]
    results = {}
    for device in measured:
        power = (settings.gpu_power if device == "cuda"
                 else settings.cpu_core_power * settings.threads)
        how = (f"measured with torch ({settings.threads} threads)" if device == "cpu"
               else "measured with torch") + " where marked ✓, else modelled from FLOPs"
        rows = compare(settings, device, power, times[device], counts, front_end, student)
        results[device] = {"rows": rows, "crossover": crossover(rows), "measured": True,
                           "how": how}
    for name in settings.processors:
        progress(f"modelling {name} by its roofline")
        rows = compare(settings, name, presets.info(name).electrical_power,
                       modelled_times(settings, networks, name), counts, front_end, student)
        results[name] = {"rows": rows, "crossover": crossover(rows), "measured": False,
                         "how": f"roofline at {settings.efficiency:.0%} of the peaks"}
    progress("searching the optical designs")
    document = {"benchmark": "optical_vs_gpu", "command": command,
                "settings": {**asdict(settings), "sizes": list(settings.sizes),
                             "processors": list(settings.processors)},
                "models": describe(networks),
                "front_end": asdict(front_end), "presets": provenance(settings),
                "assumed": {"adc_energy": "kd.cost.ADC_ENERGY",
                            "cpu_core_power": "kd.cost.CPU_CORE_POWER",
                            "gpu_power": "kd.cost.GPU_POWER"},
                "assumptions": assumptions(settings, front_end),
                "accuracy": accuracy, "environment": environment(measured[-1]),
                "devices": results,
                "designs": designs(settings, front_end, student, results),
                "crossover_map": crossover_map(settings, front_end, student, results)}
    table = markdown(document)
    json_path, table_path, plot_path, map_path = outputs(out)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(json_path, (json.dumps(document, indent=2) + "\n").encode())
    write_atomic(table_path, table.encode())
    write_atomic(plot_path, plot(document))
    write_atomic(map_path, plot_map(document))
    progress(table)
    progress(f"wrote {json_path} and its .md tables, .png plot and _map.png crossover map")
    return document


