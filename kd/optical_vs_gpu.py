"""Per image, as the input grows: the all-electronic teacher, the digital SCLC student, and the
hybrid (optical front end + electronic back end) — time, energy and FLOPs.

    opticsim bench [--sizes 32,64,...,4096] [--measure-up-to 1024] [--accuracy RESULTS.json]
                   [--out PATH] [--overwrite] [...]

The models are the demo's (:class:`kd.experiment.Experiment` defaults): the teacher's 3×3
convolutions of 8/16/32 channels with 2× pools between them, the student's cascade of 5×5
spectral layers of 8/16/16 channels (one 13×13 kernel per output channel), both with the
BatchNorm / 6×6 pool / FC 512-256-10 back end, one grey input channel, untrained (time does not
depend on the weights).

* **Electronic**: FLOPs counted analytically (:mod:`kd.cost`); time measured with torch on this
  CPU with ``threads`` threads (and on CUDA when present), batch 1, ``torch.no_grad``, the
  fastest of ``repeats`` calls after a warm-up (load from other processes only slows a call;
  on a shared 2-core machine a 2-thread torch stalls whenever the other core is taken, so the
  default is 1 thread), at every size up to ``measure_up_to``; above it the time is
  *modelled*: the FLOPs times the seconds per FLOP measured at the largest measured size (the
  JSON and the table say which). The teacher runs its whole network; the digital student its
  FFT convolution, square law and back end.
* **Optical**: :class:`kd.cost.OpticalFrontEnd` from the presets' frame rates, pixels and
  supply powers (``electrical_power``, all assumed: see ``presets.info(name).assumptions``) and
  the exposure; frames per image, time per image pipelined, energy from the devices' supply
  power and the ADC conversions. The hybrid's electronic back end (BatchNorm, pool, FC on the
  camera frames) is measured like the models; the optics does not remove it.
* **Hybrid**: time per image ``max(optics, back end)`` (the back end works on one image while
  the optics takes the next), energy ``optics + back end``. The *crossover* is the smallest
  size from which on the hybrid is faster than the teacher; ``break_even_rate`` is the frame
  rate (Hz) the Fourier SLM and camera would both need for the hybrid to match the teacher.
  Electronic energy is time × threads × ``cpu_core_power`` (or × ``gpu_power``), assumed
  constants.

The bench measures no accuracy: it reports the accuracies of a run it is given
(:func:`accuracies`: an ``opticsim demo`` ``results.json`` or an ``opticsim train``
``summary.json``), at that run's image size only, or none. :func:`run` writes the JSON, a
Markdown table beside it (``.md``) and a log-log plot of time and energy per image against
size (``.png``), and refuses to replace any of them unless told to.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from kd import cost
from kd.experiment import Experiment
from kd.models import SCLCStudent, Teacher
from opticsim import checks, presets
from opticsim.environment import environment
from opticsim.files import write_atomic

SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
MODELS = ("teacher", "student", "backend")
# the bench's paths and the run results' models they are scored as
SCORED = {"teacher": "teacher", "student": "student", "hybrid": "student_hardware"}


@dataclass(frozen=True)
class Settings:
    """One run: image sides ``sizes`` (pixels); torch timings at sides up to
    ``measure_up_to`` (the fastest of ``repeats`` calls, on ``threads`` CPU threads); the
    optical bench by preset names (``input_slm`` defaults to a second ``fourier_slm``),
    ``exposure`` (s) and ``channels_per_frame``; ``adc_energy`` (J), ``cpu_core_power`` (W per
    thread) and ``gpu_power`` (W)."""

    sizes: tuple[int, ...] = SIZES
    measure_up_to: int = 1024
    repeats: int = 3
    threads: int = 1
    laser: str = Experiment().bench.laser
    fourier_slm: str = Experiment().bench.fourier_slm
    input_slm: str | None = None
    camera: str = Experiment().bench.camera
    exposure: float = Experiment().bench.exposure
    channels_per_frame: int = 1
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
        for name in ("cpu_core_power", "gpu_power"):
            set_(self, name, checks.positive(name, getattr(self, name)))
        self.front_end()                    # validates the presets, exposure, ADC energy

    def front_end(self) -> cost.OpticalFrontEnd:
        return cost.OpticalFrontEnd.from_presets(
            self.laser, self.fourier_slm, self.camera, self.input_slm, exposure=self.exposure,
            adc_energy=self.adc_energy, channels_per_frame=self.channels_per_frame)


def models() -> dict:
    """The demo's teacher and student (:class:`kd.experiment.Experiment` defaults), in eval
    mode."""
    experiment = Experiment()
    common = dict(in_channels=1, classes=10, hidden=experiment.hidden,
                  dropout=experiment.dropout)
    teacher = Teacher(channels=experiment.teacher_channels, kernel_size=experiment.kernel_size,
                      downsample=experiment.downsample, **common)
    student = SCLCStudent(channels=experiment.channels,
                          kernel_size=experiment.spectral_kernel_size,
                          readout=experiment.readout, **common)
    return {"teacher": teacher.eval(), "student": student.eval()}


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
    """Seconds per image of the teacher and the digital student on a ``size`` × ``size`` image, and of
    the student's back end on the camera frames, on ``device``."""
    student = networks["student"].to(device)
    teacher = networks["teacher"].to(device)
    image = torch.rand(1, 1, size, size, device=device)
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


def _total(count) -> float:
    return count["total"] if isinstance(count, dict) else count


def compare(settings: Settings, device: str, times: dict, counts: dict,
            front_end: cost.OpticalFrontEnd, student: SCLCStudent) -> list[dict]:
    """One row per size: FLOPs, seconds and joules per image of each path."""
    power = settings.gpu_power if device == "cuda" else settings.cpu_core_power * settings.threads
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
                _si(s["student"], "s"), str(row["optics"]["frames"]), _si(s["optics"], "s"),
                _si(s["hybrid_backend"], "s"), _si(s["hybrid"], "s"),
                f"{row['speedup']:.3g}×", f"{row['break_even_rate']:.3g}",
                _si(j["teacher"], "J"), _si(j["hybrid"], "J")])
        found = result["crossover"]
        tables[device] = (TABLE_HEADER, rows,
                          "Crossover (hybrid faster than the teacher from this size on): "
                          + (f"{found}²" if found else f"none up to {largest}²"))
    return tables


def markdown(document: dict) -> str:
    """The rows of each device as a Markdown table, the crossover and the accuracies."""
    lines = []
    for device, (header, rows, crossing) in markdown_rows(document).items():
        lines += [f"Per image on {device} (teacher, digital student and back end "
                  "measured where marked ✓, else modelled from FLOPs):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", crossing, ""]
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
    hollow, the crossover marked."""
    import io

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
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for device, result in document["devices"].items():
        rows = result["rows"]
        sizes = [row["size"] for row in rows]
        for axis, quantity, name in ((axes[0], "seconds", "time per image (s)"),
                                     (axes[1], "joules", "energy per image (J)")):
            for key, label in labels.items():
                values = [row[quantity][key] for row in rows]
                line, = axis.plot(sizes, values, ":" if key == "optics" else "-",
                                  linewidth=3 if key == "optics" else 1.5,
                                  label=f"{label}, {device}")
                if key != "optics":
                    for size, value, row in zip(sizes, values, rows):
                        axis.plot(size, value, "o", color=line.get_color(),
                                  fillstyle="full" if row["measured"] else "none")
            if result["crossover"]:
                axis.axvline(result["crossover"], color="gray", linestyle="--")
                axis.annotate(f"crossover {result['crossover']}²", (result["crossover"], 1),
                              xycoords=("data", "axes fraction"), va="top", fontsize=8)
            axis.set(xscale="log", yscale="log", xlabel="image side N (N² pixels)",
                     ylabel=name)
            axis.set_xticks(sizes, [str(n) for n in sizes])
            axis.minorticks_off()
    found = {device: r["crossover"] for device, r in document["devices"].items()}
    axes[0].set_title("time per image; filled: measured, hollow: modelled", fontsize=9)
    axes[1].set_title("energy per image; crossover: " + ", ".join(
        f"{device} {n}²" if n else f"{device} none" for device, n in found.items()), fontsize=9)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def outputs(out) -> list[Path]:
    """The files :func:`run` writes for ``out``, a ``.json`` file or a folder (which receives
    ``optical_vs_gpu.json``): the JSON, its ``.md`` table and its ``.png`` plot."""
    out = Path(out)
    if out.suffix != ".json":
        out = out / "optical_vs_gpu.json"
    return [out, out.with_suffix(".md"), out.with_suffix(".png")]


def run(settings: Settings, out: Path, command: str, progress=print, *,
        accuracy: dict | None = None, overwrite: bool = False) -> dict:
    """Measure and model every size on the CPU (and CUDA when present); write the JSON, its
    ``.md`` table and ``.png`` plot (:func:`outputs` of ``out``), refusing (``FileExistsError``, before measuring) to
    replace any of them unless ``overwrite``; return the document. ``accuracy`` (from
    :func:`accuracies`) is reported as given; without it the bench reports none."""
    for path in outputs(out):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it or choose "
                                  "another --out")
    networks = models()
    front_end = settings.front_end()
    counts = {size: flops(networks, size) for size in settings.sizes}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        times = {device: electronic_times(settings, networks, counts, device, progress)
                 for device in devices}
    finally:
        torch.set_num_threads(threads)
    for device in devices:
        rows = compare(settings, device, times[device], counts, front_end, networks["student"])
        results[device] = {"rows": rows, "crossover": crossover(rows)}
    document = {"benchmark": "optical_vs_gpu", "command": command,
                "settings": {**asdict(settings), "sizes": list(settings.sizes)},
                "front_end": asdict(front_end), "presets": provenance(settings),
                "assumed": {"adc_energy": "kd.cost.ADC_ENERGY",
                            "cpu_core_power": "kd.cost.CPU_CORE_POWER",
                            "gpu_power": "kd.cost.GPU_POWER"},
                "accuracy": accuracy, "environment": environment(devices[-1]), "devices": results}
    table = markdown(document)
    json_path, table_path, plot_path = outputs(out)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(json_path, (json.dumps(document, indent=2) + "\n").encode())
    write_atomic(table_path, table.encode())
    write_atomic(plot_path, plot(document))
    progress(table)
    progress(f"wrote {json_path} and its .md table and .png plot")
    return document


