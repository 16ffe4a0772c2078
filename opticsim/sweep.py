"""Hardware sweeps: a metric of a 4f system over a grid of its elements' fields.

A sweep sets fields of the elements of a base :class:`~opticsim.FourF` — ``"fourier_slm.bits"``,
``"camera.read_noise"``, ``"laser.power"``, ``"lens2.diameter"``, a Zernike term as
``"lens1.zernike.4"`` (Noll index, waves RMS), or a field of the system itself such as
``"readout"`` — and evaluates a metric at each point, repeated over camera-noise seeds. The
points are the full grid of the values given (``mode="grid"``) or each parameter moved alone
from the base system (``mode="one-at-a-time"``).

Each point runs as one task on an executor: local processes by default, or a Dask cluster
through ``dask.distributed``'s ``concurrent.futures`` interface (``scheduler=ADDRESS``), which
receives the metric and base system once (scattered to every worker) and releases each
point's result once its rows are written. A point's seeds come from the point (its fields and
values) and the sweep's ``seed``, never from the worker, so a table does not depend on where
its points ran. The table is rewritten atomically after each point; an interrupted sweep
resumes from the points already written.

Faults: local workers end with the client that started them, even a killed one; a killed
local worker's points run again on a new pool (``WORKER_RETRIES`` times), as Dask reruns a
lost worker's tasks. A scheduler that does not answer as one within ``CONNECT_TIMEOUT``, a
scheduler lost mid-sweep, or workers that keep dying end the sweep with one line
(``ValueError``, :class:`SchedulerLost`, :class:`WorkersLost`) that says how to resume.

Metrics: :class:`KernelError` (the convolution error of a kernel through the system) here, and
``kd.evaluate.HardwareAccuracy`` (a trained student's accuracy) for kd/ students.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import sys
import textwrap
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import cloudpickle
import numpy as np
import scipy.signal
from tqdm import tqdm

from . import checks, readout
from .environment import environment
from .files import differences, error_summary, read_json, write_atomic
from .fourf import FourF
from .slm import double_phase

ELEMENTS = ("laser", "lens1", "lens2", "input_slm", "fourier_slm", "camera")
MODES = ("grid", "one-at-a-time")
TABLE, SPEC, PARQUET = "sweep.csv", "sweep.json", "sweep.parquet"
WORKER_RETRIES = 2          # reruns of lost points: new local pools, or Dask task retries
PARENT_POLL = 0.2           # s: how often a local worker checks that its client is alive
CONNECT_TIMEOUT = 10.0      # s: the longest wait for a Dask scheduler to answer


class Metric(Protocol):
    """What a sweep evaluates: ``names`` of the values it returns, ``evaluate(fourf, seeds)``
    giving one ``{name: value}`` per seed, and ``describe()``, a JSON dict that identifies it
    (a resumed sweep must have the same). A metric may also give ``definitions``,
    ``{name: what the value is}``, which the plots put on their y axis."""

    names: tuple[str, ...]

    def evaluate(self, fourf: FourF, seeds: Sequence[int]) -> list[dict[str, float]]: ...

    def describe(self) -> dict: ...


# --- the points ------------------------------------------------------------------------------

def _split(name: str) -> tuple[str, str, int | None]:
    """``"camera.read_noise"`` → ``("camera", "read_noise", None)``; ``"lens1.zernike.4"`` →
    ``("lens1", "zernike", 4)``; ``"readout"`` → ``("", "readout", None)``."""
    if not isinstance(name, str):
        raise ValueError(f"sweep field names are strings such as 'camera.read_noise', "
                         f"got {name!r}")
    parts = name.split(".")
    if len(parts) == 1:
        return "", parts[0], None
    if len(parts) == 3 and parts[0] in ("lens1", "lens2") and parts[1] == "zernike":
        try:
            return parts[0], parts[1], int(parts[2])
        except ValueError:
            pass
    if len(parts) != 2:
        raise ValueError(f"unknown sweep field {name!r}: use 'element.field' with element one "
                         f"of {ELEMENTS}, 'lens1.zernike.J' for Noll term J, or a FourF field")
    return parts[0], parts[1], None


def _fields(obj) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if f.init and f.name != "_"]


def check_field(base: FourF, name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a field a sweep can set on ``base``."""
    element, field, _ = _split(name)
    if element == "":
        allowed = [f for f in _fields(base) if f not in ELEMENTS + ("shape", "pitch")]
        if field not in allowed:
            raise ValueError(f"unknown sweep field {name!r}: the system's own fields are "
                             f"{allowed}, element fields are 'element.field' with element one "
                             f"of {ELEMENTS}")
        return
    if element not in ELEMENTS:
        raise ValueError(f"unknown sweep field {name!r}: {element!r} is not an element of the "
                         f"system; elements are {ELEMENTS}")
    part = getattr(base, element)
    if part is None:
        raise ValueError(f"sweep field {name!r}: the base system has no {element}")
    if field not in _fields(part):
        raise ValueError(f"unknown sweep field {name!r}: fields of {element} "
                         f"({type(part).__name__}) are {_fields(part)}")


def value_of(fourf: FourF, name: str):
    """The value of sweep field ``name`` in ``fourf`` (a missing Zernike term is 0)."""
    element, field, noll = _split(name)
    value = getattr(fourf if element == "" else getattr(fourf, element), field)
    return float(value.get(noll, 0.0)) if noll is not None else value


def apply(base: FourF, point: Mapping[str, object]) -> FourF:
    """``base`` with each field of ``point`` (``{name: value}``) set; every changed element is
    rebuilt, so its constructor validates the value (the error is prefixed with the name)."""
    changes: dict[str, dict] = {}
    for name, value in point.items():
        check_field(base, name)
        element, field, noll = _split(name)
        if noll is not None:
            terms = changes.setdefault(element, {}).setdefault(
                "zernike", dict(getattr(base, element).zernike))
            terms[noll] = value
        else:
            changes.setdefault(element, {})[field] = value
    try:
        elements = {element: dataclasses.replace(getattr(base, element), **fields)
                    for element, fields in changes.items() if element != ""}
        return dataclasses.replace(base, **elements, **changes.get("", {}))
    except (TypeError, ValueError) as error:
        raise ValueError(f"sweep point {_plain(point)}: {error}") from None


def points(base: FourF, parameters: Mapping[str, Sequence], mode: str = "grid") -> list[dict]:
    """The sweep's points, each ``{name: value}`` for every parameter: the full grid of
    ``parameters`` (``{name: values}``), or (``"one-at-a-time"``) each parameter through its
    values with the others at the base system's."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not parameters:
        raise ValueError("parameters must name at least one field to sweep")
    for name, values in parameters.items():
        check_field(base, name)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"parameters[{name!r}] must be a non-empty list of values, "
                             f"got {values!r}")
    fields: dict[tuple, str] = {}
    for name in parameters:                 # "lens1.zernike.4" and "lens1.zernike.04"
        earlier = fields.setdefault(_split(name), name)
        if earlier != name:
            raise ValueError(f"parameters {earlier!r} and {name!r} set the same field; give "
                             "it once")
    names = list(parameters)
    if mode == "grid":
        return [dict(zip(names, combination))
                for combination in itertools.product(*(parameters[n] for n in names))]
    base_values = {name: value_of(base, name) for name in names}
    return [{**base_values, name: value} for name in names for value in parameters[name]]


def _plain(value):
    """A JSON-ready copy of a sweep value (numpy scalars to Python numbers)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def point_seeds(point: Mapping[str, object], repeats: int, seed: int = 0) -> list[int]:
    """Camera-noise seeds of ``point``'s ``repeats``: drawn from a ``SeedSequence`` of the
    sweep's ``seed`` and a digest of the point's fields and values, so that the same point
    gets the same seeds on any worker, in any order, in any sweep that contains it. Each is
    below 2⁶³, so tables keep it as a signed 64-bit integer."""
    def canonical(value):          # 2 and 2.0 are the same setting
        value = _plain(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items()}
        return [canonical(v) for v in value] if isinstance(value, list) else value

    text = json.dumps(canonical(dict(point)), sort_keys=True)
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    sequence = np.random.SeedSequence(entropy=(int(seed), digest))
    return [int(s) >> 1 for s in sequence.generate_state(repeats, np.uint64)]  # int64


def describe(obj) -> object:
    """A JSON description of an element or system: its constructor fields, arrays by digest."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__,
                **{name: describe(getattr(obj, name)) for name in _fields(obj)}}
    if isinstance(obj, np.ndarray):
        return {"shape": list(obj.shape), "dtype": str(obj.dtype),
                "sha256": hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()}
    if isinstance(obj, Mapping):
        return {str(k): describe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [describe(v) for v in obj]
    if isinstance(obj, np.dtype):
        return str(obj)
    if callable(obj):
        return getattr(obj, "__qualname__", repr(obj))
    return _plain(obj)


# --- the kernel-error metric -----------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class KernelError:
    """Relative RMS error of the system's frames against the ideal convolution of ``images``
    ``(B, H, W)`` (amplitudes) with ``kernel`` ``(K_y, K_x)`` (grid samples):

    ``e = ‖s·F − I‖ / ‖I‖``, ``F`` the frames (less the camera's black level), ``s`` the
    least-squares scale (so laser power and gain drop out, their noise does not), ``I`` the
    ideal readout: ``|x∗h|²`` (intensity), ``x∗h`` (field) or ``|x∗h⁺|² − |x∗h⁻|²``
    (differential), with ``∗`` the full linear convolution (``scipy.signal.fftconvolve``).

    The masks (:meth:`FourF.masks_from_kernels`) are scaled to peak modulus 1 and shown as the
    Fourier SLM can: a phase-only panel by double-phase encoding
    (:func:`opticsim.slm.double_phase`, whose error light lands half a replica period away),
    an amplitude or binary panel by the mask's modulus (exact for kernels with non-negative
    spectra, such as autocorrelations), an ideal Fourier plane as they are.
    """

    kernel: np.ndarray
    images: np.ndarray
    names: ClassVar[tuple[str, ...]] = ("error",)
    definitions: ClassVar[dict[str, str]] = {
        "error": "relative RMS error ‖s·F − I‖/‖I‖ against the ideal convolution I"}

    def __post_init__(self):
        kernel, images = np.asarray(self.kernel), np.asarray(self.images)
        if kernel.ndim != 2 or not kernel.size or not np.isfinite(kernel).all():
            raise ValueError(f"kernel must be a finite (K_y, K_x) array, got shape {kernel.shape}")
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or not images.size or not np.isfinite(images).all():
            raise ValueError(f"images must be finite (B, H, W) amplitudes, got shape "
                             f"{images.shape}")
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "images", images)

    def describe(self) -> dict:
        return {"metric": "KernelError", "kernel": describe(self.kernel),
                "images": describe(self.images)}

    def ideal(self, readout_scheme: str) -> np.ndarray:
        """The ideal readout ``(B, H + K_y − 1, W + K_x − 1)``."""
        def convolve(kernel):
            return np.stack([scipy.signal.fftconvolve(x, kernel) for x in self.images])
        if readout_scheme == "field":
            return convolve(self.kernel)
        if readout_scheme == "differential":
            plus, minus = readout.split_signed(self.kernel)
            return np.abs(convolve(plus)) ** 2 - np.abs(convolve(minus)) ** 2
        return np.abs(convolve(self.kernel)) ** 2

    def displays(self, fourf: FourF, layout) -> dict:
        """``{"mask": …}`` or ``{"gray": …}`` for :meth:`FourF.run`: the kernel's masks on
        ``fourf`` as its Fourier SLM shows them."""
        masks = fourf.masks_from_kernels(self.kernel[None, None], layout)
        slm = fourf.fourier_slm
        if slm is None:
            return {"mask": masks}
        masks = masks / max(float(np.abs(masks).max()), 1e-300)
        values = double_phase(masks) if slm.mode == "phase" else np.abs(masks)
        return {"gray": slm.to_gray(values, fourf.wavelength)}

    def expose(self, fourf: FourF, fill: float = 0.8) -> FourF:
        """``fourf`` with the laser set so that the brightest pixel of these images through
        the kernel's displays collects ``fill`` of the full well (:meth:`FourF.exposed`)."""
        layout = fourf.layout(1, 1, self.images.shape[-2:], self.kernel.shape)
        return fourf.exposed(self.images[:, None], layout=layout, fill=fill,
                             **self.displays(fourf, layout))

    def evaluate(self, fourf: FourF, seeds: Sequence[int]) -> list[dict[str, float]]:
        layout = fourf.layout(1, 1, self.images.shape[-2:], self.kernel.shape)
        displays = self.displays(fourf, layout)
        ideal = self.ideal(fourf.readout)
        ideal_power = np.sum(np.abs(ideal) ** 2)
        camera = fourf.camera is not None and fourf.readout != "field"      # draws noise
        results = []
        for seed in seeds:
            noise = {"rng": seed} if camera else {}
            frames = fourf.run(self.images[:, None], layout=layout, **noise, **displays)[:, 0]
            frames = frames.astype(np.complex128 if np.iscomplexobj(frames) else np.float64)
            if fourf.camera is not None and fourf.readout != "differential":
                frames = frames - fourf.camera.offset
            # numpy's pairwise sums, not BLAS: the same digits on any thread count
            power = np.sum(np.abs(frames) ** 2)
            scale = np.sum(np.conj(frames) * ideal) / power if power > 0 else 0.0
            error = np.sqrt(np.sum(np.abs(scale * frames - ideal) ** 2) / ideal_power)
            results.append({"error": float(error)})
        return results


# --- running ---------------------------------------------------------------------------------

def _evaluate_point(payload: bytes, point: dict, seeds: list[int]) -> list[dict[str, float]]:
    """One task: the metric at one point (runs on a worker)."""
    metric, base = cloudpickle.loads(payload)
    values = metric.evaluate(apply(base, point), seeds)
    if len(values) != len(seeds):
        raise ValueError(f"metric returned {len(values)} results for {len(seeds)} seeds")
    return [{name: float(value[name]) for name in metric.names} for value in values]


def _cell(value) -> str:
    value = _plain(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


@dataclass
class _Table:
    """The sweep's rows as text, by point index, written atomically after each point. Each
    row ends with the sha256 of its other cells (:func:`_row_digest`), so an edited row is
    refused on resume rather than taken as a result.

    The whole table is rewritten after each point, O(points²) bytes over a sweep: each
    rewrite is 0.35 MB at 1 000 points of 3 seeds and 3.6 MB at 10 000, small beside a point's
    simulation; for sweeps of 100 000 points or more, split them."""

    folder: Path | None
    names: list[str]
    metric_names: tuple[str, ...]
    points: list[dict]
    seeds: list[list[int]]
    done: dict = dataclasses.field(default_factory=dict)

    @property
    def header(self) -> list[str]:
        return ["point", *self.names, "repeat", "seed", *self.metric_names, "sha256"]

    @property
    def _metrics(self) -> slice:
        """Where a row's metric values are."""
        first = len(self.names) + 3
        return slice(first, first + len(self.metric_names))

    def rows_of(self, index: int, values: list[dict]) -> list[list[str]]:
        point = self.points[index]
        rows = [[str(index), *(_cell(point[n]) for n in self.names), str(repeat),
                 str(self.seeds[index][repeat]), *(_cell(v[m]) for m in self.metric_names)]
                for repeat, v in enumerate(values)]
        return [row + [_row_digest(row)] for row in rows]

    def add(self, index: int, values: list[dict]) -> None:
        self.done[index] = self.rows_of(index, values)
        if self.folder is not None:
            write_atomic(self.folder / TABLE, self.text())

    def text(self) -> bytes:
        return _csv(self.header, [row for index in sorted(self.done) for row in self.done[index]])

    def load(self, path: Path) -> None:
        """Take the complete points of an earlier run's table, checking each row against this
        sweep's points and seeds, and against its own sha256."""
        try:
            with open(path, newline="", encoding="utf-8") as stream:
                lines = list(csv.reader(stream))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"cannot read the sweep table {path}: "
                             f"{error_summary(error)}") from None
        if not lines or lines[0] != self.header:
            raise ValueError(f"{path} is not this sweep's table (its header is "
                             f"{lines[0] if lines else 'missing'}); use another output folder "
                             f"or overwrite")
        metrics, repeat = self._metrics, len(self.names) + 1
        by_point: dict[int, list[list[str]]] = {}
        for number, row in enumerate(lines[1:], start=2):
            try:
                index = int(row[0])
                expected = self.rows_of(index, [{m: 0.0 for m in self.metric_names}] * len(
                    self.seeds[index]))[int(row[repeat])]
                for value in row[metrics]:
                    float(value)
            except (IndexError, ValueError):
                raise ValueError(f"{path} line {number} is not a row of this sweep: {row}")
            if len(row) != len(expected) or row[:metrics.start] != expected[:metrics.start]:
                raise ValueError(f"{path} line {number} does not match this sweep's point "
                                 f"{index} and its seeds: {row}")
            if row[-1] != _row_digest(row[:-1]):
                raise ValueError(f"{path} line {number} does not match its sha256 (the row was "
                                 f"edited); delete the line to compute point {index} again")
            by_point.setdefault(index, []).append(row)
        for index, rows in by_point.items():
            if [row[repeat] for row in rows] == [str(r) for r in range(len(self.seeds[index]))]:
                self.done[index] = rows

    def records(self) -> list[dict]:
        """The table as dicts: point values as given, repeat and seed as ints, metrics as
        floats (the rows' sha256 left out)."""
        out = []
        for index in sorted(self.done):
            for row in self.done[index]:
                record = {"point": index, **self.points[index],
                          "repeat": int(row[len(self.names) + 1]),
                          "seed": int(row[len(self.names) + 2])}
                record.update({m: float(v) for m, v in zip(self.metric_names,
                                                           row[self._metrics])})
                out.append(record)
        return out


def _row_digest(cells: list[str]) -> str:
    """sha256 (hex) of a table row's cells as written, separated by the unit separator."""
    return hashlib.sha256("\x1f".join(cells).encode()).hexdigest()


def _executor(scheduler, workers):
    """(executor, client): a Dask cluster's executor and its client, local processes, or None
    (in process)."""
    if scheduler is not None:
        client = _connect(scheduler)
        return client.get_executor(pure=False, retries=WORKER_RETRIES), client
    if workers == 0:
        return None, None
    return _pool(workers), None


def _connect(scheduler: str):
    """A ``distributed.Client`` of the scheduler at ``scheduler``; ``ValueError`` within
    ``CONNECT_TIMEOUT`` seconds when nothing answers there or what answers does not speak
    Dask's protocol (Dask's own connect waits for a handshake without a bound)."""
    try:
        from distributed import Client
        from distributed.comm import connect
    except ImportError:
        raise ValueError("scheduler needs dask.distributed: pip install "
                         "'opticsim[cluster]'") from None

    async def handshake():
        comm = await asyncio.wait_for(connect(scheduler, timeout=CONNECT_TIMEOUT),
                                      CONNECT_TIMEOUT)
        await comm.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever
            thread.submit(asyncio.run, handshake()).result()      # loop the caller runs
        return Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
    except (asyncio.TimeoutError, TimeoutError):
        raise ValueError(f"scheduler {scheduler!r}: no Dask handshake within "
                         f"{CONNECT_TIMEOUT:g} s; is it a dask scheduler's address?") from None
    except OSError as error:
        raise ValueError(f"scheduler {scheduler!r}: cannot connect "
                         f"({error_summary(error)})") from None
    except Exception as error:          # what a reader of another protocol raises
        raise ValueError(f"scheduler {scheduler!r} does not answer as a dask scheduler "
                         f"({error_summary(error)})") from None


def _pool(workers: int | None) -> concurrent.futures.ProcessPoolExecutor:
    """Local worker processes (spawned: no state copied from the client) that end with the
    client, even one killed with SIGKILL, which cannot stop its pool (:func:`_follow_parent`)."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"), initializer=_follow_parent,
        initargs=(os.getpid(),))


def _follow_parent(parent: int) -> None:
    """In a pool worker: exit as soon as ``parent``, the client, is gone (the worker is then
    handed to another parent); checked every ``PARENT_POLL`` seconds by a daemon thread."""
    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="opticsim-follow-parent", daemon=True).start()


class WorkersLost(ChildProcessError):
    """Local worker processes died (killed, out of memory) more than ``WORKER_RETRIES``
    times in one sweep; the points already finished are kept in its table."""


class SchedulerLost(ConnectionError):
    """The Dask scheduler went away during a sweep; the points already finished are kept in
    its table."""


def _collect(executor, payload: bytes, grid, seeds, pending, table, bar) -> None:
    """Run the ``pending`` points on ``executor``, adding each to ``table`` as it finishes and
    then letting go of its future (a Dask worker need not keep its result). Points finished
    before a worker died are kept; the pool's ``BrokenProcessPool`` is raised at the end."""
    futures = {executor.submit(_evaluate_point, payload, grid[index], seeds[index]): index
               for index in pending}
    broken = None
    try:
        while futures:
            done, _ = concurrent.futures.wait(futures, return_when="FIRST_COMPLETED")
            for future in done:
                index = futures.pop(future)       # released once its row is written
                try:
                    values = future.result()
                except BrokenProcessPool as error:
                    broken = error
                    continue
                table.add(index, values)
                bar.update(1)
    finally:
        for future in futures:
            future.cancel()
    if broken is not None:
        raise broken


def _prepare(folder: Path, spec: dict, resume: bool, overwrite: bool) -> bool:
    """Make ``folder`` ready; True when an earlier run of the same sweep is to be resumed."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    spec_path = folder / SPEC
    if spec_path.exists() and not overwrite:
        if not resume:
            raise FileExistsError(f"{folder} holds a sweep; pass resume=True (--resume) to "
                                  f"continue it or overwrite=True (--overwrite) to replace it")
        # where and with what it ran may change; "version": sweeps before the environment;
        # "outputs": the files it wrote
        differs = differences(read_json(spec_path, "sweep settings"), spec,
                              ignore=("version", "environment", "outputs"))
        if differs:
            raise ValueError(f"the sweep in {folder} was made with other settings "
                             f"({'; '.join(differs)}); use another folder or overwrite")
        return True
    if folder.is_dir() and any(folder.iterdir()) and not spec_path.exists() and not overwrite:
        raise FileExistsError(f"{folder} is not empty and holds no sweep; choose another "
                              f"folder or pass overwrite=True (--overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in _outputs_of(spec_path):
        (folder / stale).unlink(missing_ok=True)
    write_atomic(spec_path, (json.dumps(spec, indent=1) + "\n").encode())
    return False


def _outputs_of(spec_path: Path) -> set[str]:
    """The files an earlier sweep wrote beside its ``sweep.json`` (its ``outputs``): what
    ``overwrite`` removes, and nothing else in the folder."""
    try:
        outputs = json.loads(spec_path.read_text(encoding="utf-8")).get("outputs", [])
    except (OSError, ValueError, AttributeError):
        outputs = []
    return {TABLE, PARQUET} | {name for name in outputs if isinstance(name, str)
                               and name not in ("", ".", "..", SPEC) and Path(name).name == name}


def run(metric: Metric, base: FourF, parameters: Mapping[str, Sequence], *,
        mode: str = "grid", repeats: int = 1, seed: int = 0, out=None, resume: bool = False,
        overwrite: bool = False, scheduler: str | None = None, workers: int | None = None,
        progress: bool = True) -> list[dict]:
    """Evaluate ``metric`` at every point of ``parameters`` (``{field: values}``, see
    :func:`points`) on ``base``, ``repeats`` times each with the seeds of :func:`point_seeds`.

    Points run on ``workers`` local processes (default: one per CPU; 0 runs them in this
    process) or, with ``scheduler`` (a ``dask.distributed`` address such as
    ``"tcp://10.0.0.2:8786"``), on that cluster. With ``out`` (a folder) the table is written
    to ``sweep.csv`` after every point (and ``sweep.parquet`` at the end when pyarrow is
    installed), the settings to ``sweep.json`` and a plot per parameter to ``<field>.png``;
    ``resume`` continues an interrupted sweep there, ``overwrite`` starts again (removing the
    files the earlier sweep wrote, as its ``sweep.json`` lists them, and no other file).

    Returns the table as rows ``{"point", <fields>…, "repeat", "seed", <metric names>…}``
    ordered by point and repeat.
    """
    repeats = checks.integer("repeats", repeats, 1)
    seed = checks.integer("seed", seed, 0)
    if workers is not None:
        workers = checks.integer("workers", workers, 0)
    grid = points(base, parameters, mode)
    for point in grid:                   # every value checked before anything runs
        apply(base, point)
    names = list(parameters)
    seeds = [point_seeds(point, repeats, seed) for point in grid]
    table = _Table(None if out is None else Path(out), names, tuple(metric.names), grid, seeds)
    payload = cloudpickle.dumps((metric, base))
    executor, client = _executor(scheduler, workers)  # connect before any file is written
    try:
        if out is not None:
            spec = {"parameters": _plain({n: list(v) for n, v in parameters.items()}),
                    "mode": mode, "repeats": repeats, "seed": seed,
                    "metric": metric.describe(), "base": describe(base),
                    "environment": environment(),
                    "outputs": [TABLE, PARQUET, *_plot_files(names, metric.names).values()]}
            if _prepare(table.folder, spec, resume, overwrite) and (
                    table.folder / TABLE).exists():
                table.load(table.folder / TABLE)
        pending = [index for index in range(len(grid)) if index not in table.done]
        with tqdm(total=len(grid), initial=len(grid) - len(pending), disable=not progress,
                  desc="sweep", unit="point", file=sys.stderr) as bar:
            if executor is None:
                for index in pending:
                    table.add(index, _evaluate_point(payload, grid[index], seeds[index]))
                    bar.update(1)
            elif client is not None:
                with _quiet("distributed.client"):        # a lost scheduler is one line
                    try:               # the payload sent once, not pickled into every task
                        shared = client.scatter(payload, broadcast=True, hash=False)
                        _collect(executor, shared, grid, seeds, pending, table, bar)
                    except concurrent.futures.CancelledError:
                        raise SchedulerLost(_lost_message(
                            table, f"lost the scheduler {scheduler}")) from None
            else:
                for lost in itertools.count():
                    try:
                        _collect(executor, payload, grid, seeds, pending, table, bar)
                        break
                    except BrokenProcessPool:
                        executor.shutdown(wait=True)        # a worker died: the pool is gone
                        pending = [index for index in pending if index not in table.done]
                        if lost == WORKER_RETRIES:
                            raise WorkersLost(_lost_message(
                                table, f"worker processes died {lost + 1} times")) from None
                        executor = _pool(workers)
    finally:
        if client is not None:
            with _quiet("distributed"):
                client.close(timeout=CONNECT_TIMEOUT)
        elif executor is not None:
            executor.shutdown(wait=True)
    records = table.records()
    if out is not None:
        base_values = {n: value_of(base, n) for n in names} if mode == "one-at-a-time" else None
        _write_outputs(table.folder, records, names, definitions(metric), base_values)
    return records


def _lost_message(table: _Table, what: str) -> str:
    """One line: ``what`` went wrong, how many points finished, and how to continue."""
    done = f"{len(table.done)} of {len(table.points)} points finished"
    if table.folder is None:
        return f"{what}; {done}, none kept (no out folder)"
    return (f"{what}; {done} are kept in {table.folder / TABLE}: continue with resume=True "
            f"(--resume --out {table.folder})")


@contextlib.contextmanager
def _quiet(name: str):
    """Only critical records of the logger ``name`` while the block runs: the failures it
    would log with tracebacks are reported by the sweep in one line."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _write_outputs(folder: Path, records: list[dict], names: list[str],
                   metric_definitions: Mapping[str, str], base_values: Mapping | None) -> None:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        pyarrow = None
    if pyarrow is not None:
        columns = {key: [_plain(r[key]) for r in records] for key in records[0]}
        columns = {key: [_cell(v) for v in values]
                   if any(isinstance(v, (list, dict)) for v in values) else values
                   for key, values in columns.items()}
        sink = pyarrow.BufferOutputStream()
        pyarrow.parquet.write_table(pyarrow.table(columns), sink)
        write_atomic(folder / PARQUET, sink.getvalue().to_pybytes())
    for (name, metric_name), file in _plot_files(names, metric_definitions).items():
        write_atomic(folder / file, plot(records, name, metric_name, names, base_values,
                                         metric_definitions[metric_name]))


def _plot_files(names, metric_names) -> dict[tuple[str, str], str]:
    """``{(field, metric): file name}`` of the sweep's plots: ``<field>[-<metric>].png``."""
    return {(name, metric): f"{name}{'' if len(metric_names) == 1 else f'-{metric}'}.png"
            for name in names for metric in metric_names}


def add_run_options(parser, out: str | None = None, out_help: str | None = None) -> None:
    """Add the options of :func:`run` that say how and where a sweep runs (``--repeats``,
    ``--seed``, ``--workers``, ``--scheduler``, ``--out``, ``--resume``, ``--overwrite``,
    ``--no-progress``) to an ``argparse`` parser; :func:`run_options` reads them back.
    ``out`` is the default folder; ``out_help`` says what happens without one."""
    parser.add_argument("--repeats", type=int, default=3, help="noise seeds per point")
    parser.add_argument("--seed", type=int, default=0, help="the sweep's seed")
    parser.add_argument("--workers", type=int,
                        help="local worker processes (default: one per CPU; 0: this process)")
    parser.add_argument("--scheduler", help="address of a dask.distributed scheduler, e.g. "
                        "tcp://10.0.0.2:8786 (default: local processes)")
    parser.add_argument("--out", default=out, help="sweep folder" + (
        f" (default {out})" if out else f" ({out_help})" if out_help else ""))
    parser.add_argument("--resume", action="store_true",
                        help="continue the sweep in --out from the points already written")
    parser.add_argument("--overwrite", action="store_true", help="start again in --out")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar")


def parameter(text: str) -> tuple[str, list]:
    """``FIELD=V1,V2,…`` → ``(FIELD, [values])``, each value an int, a float or a word: the
    ``argparse`` type of an option naming a field and its values (``opticsim sweep --param``)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=V1,V2,… (e.g. fourier_slm.bits=2,4,8),"
                                         f" got {text!r}")

    def number(word: str):
        for kind in (int, float):
            try:
                return kind(word)
            except ValueError:
                pass
        return word

    return name.strip(), [number(word.strip()) for word in values.split(",") if word.strip()]


def run_options(args) -> dict:
    """The keyword arguments of :func:`run` from options added by :func:`add_run_options`."""
    return {key: getattr(args, key) for key in ("repeats", "seed", "workers", "scheduler",
                                                "out", "resume", "overwrite", "progress")}


# --- the plot --------------------------------------------------------------------------------

def summary(records: list[dict], field: str, metric: str, names: Sequence[str],
            fixed: Mapping | None = None) -> dict[tuple, tuple[list, np.ndarray, np.ndarray]]:
    """Mean and sample standard deviation of ``metric`` over repeats against ``field``: with
    ``fixed`` (values of the other swept ``names``), the one series where they hold those
    values; else one series per combination of their values, ``{values: (x, mean, std)}``."""
    others = [name for name in names if name != field]
    groups: dict[tuple, dict] = {}
    for record in records:
        if fixed is not None and any(_cell(record[k]) != _cell(fixed[k]) for k in others):
            continue
        key = () if fixed is not None else tuple(_cell(record[k]) for k in others)
        groups.setdefault(key, {}).setdefault(_cell(record[field]), (record[field], []))[
            1].append(record[metric])
    series = {}
    for key, by_value in groups.items():
        x = [value for value, _ in by_value.values()]
        mean = np.array([np.mean(samples) for _, samples in by_value.values()])
        std = np.array([np.std(samples, ddof=1) if len(samples) > 1 else 0.0
                        for _, samples in by_value.values()])
        series[key] = (x, mean, std)
    return series


#: The unit of each field a sweep can set, by field name (any element): SI, "px" the pixels
#: of the panel, "e⁻" electrons, "DN" digital numbers.
UNITS = {"wavelength": "m", "power": "W", "waist": "m", "focal_length": "m", "diameter": "m",
         "zernike": "waves RMS", "pitch": "m", "bits": "bits",
         "fill_factor": "fraction of the pixel area", "phase_range": "rad", "crosstalk": "px",
         "oversample": "samples per px", "frame_rate": "Hz", "exposure": "s",
         "qe": "e⁻ per photon", "gain": "DN/e⁻", "read_noise": "e⁻ RMS", "dark_current": "e⁻/s",
         "full_well": "e⁻", "offset": "DN", "prnu": "relative RMS", "dsnu": "e⁻ RMS",
         "shift_x": "m", "shift_y": "m", "rotation": "rad", "defocus": "m"}
#: Units whose values are written with SI prefixes on the axis (10 µW rather than 1e-05).
PREFIXED = ("m", "W", "s", "Hz")


def unit_of(field: str) -> str | None:
    """The unit of sweep field ``field`` (:data:`UNITS`), or None where it has none."""
    return UNITS.get(_split(field)[1])


def definitions(metric: Metric) -> dict[str, str]:
    """Each of ``metric.names`` with what it is (``metric.definitions``; the name where the
    metric defines none)."""
    given = getattr(metric, "definitions", {})
    return {name: given.get(name, name) for name in metric.names}


def plot_data(records: list[dict], field: str, metric: str, names: Sequence[str],
              base_values: Mapping | None = None, definition: str | None = None) -> dict:
    """What :func:`plot` draws: ``series``, a list of ``(label, x, mean, std)`` (x the values in
    increasing order, or positions 0, 1, … of values that are not all numbers), ``xticks``
    (the labels of those, with SI prefixes, or None), ``xlabel`` (the field with its unit
    from :data:`UNITS`), ``unit``, ``xscale`` (log when positive values span two decades or
    more), ``ylabel`` (the metric and its ``definition``) and ``yscale``."""
    from matplotlib.ticker import EngFormatter

    others = [name for name in names if name != field]
    fixed = None
    if base_values is not None and any(
            all(_cell(r[k]) == _cell(base_values[k]) for k in others) for r in records):
        fixed = base_values
    series, xticks, xscale = [], None, "linear"
    unit = unit_of(field)
    for key, (x, mean, std) in list(summary(records, field, metric, names, fixed).items())[:8]:
        numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                      for v in x)
        if not numeric:
            prefixed = EngFormatter(unit) if unit in PREFIXED else str
            xticks = [prefixed(v) if isinstance(v, (int, float)) else str(v) for v in x]
            x = list(range(len(x)))
        else:
            order = np.argsort(x, kind="stable")
            x, mean, std = [x[i] for i in order], mean[order], std[order]
            xscale = axis_scale(x)
        label = ", ".join(f"{k}={v}" for k, v in zip(others, key)) or None
        series.append((label, x, mean, std))
    values = np.concatenate([mean for _, _, mean, _ in series])
    definition = metric if definition in (None, metric) else f"{metric}: {definition}"
    return {"series": series, "xticks": xticks, "unit": unit,
            "xlabel": field if unit is None else f"{field} ({unit})", "xscale": xscale,
            "ylabel": f"{definition} (mean ± std over repeats)",
            "yscale": "log" if values.size and values.min() > 0
                      and values.max() / values.min() >= 30 else "linear"}


def axis_scale(values: Sequence[float]) -> str:
    """``"log"`` for positive ``values`` that span two decades or more, else ``"linear"``: the
    scale of a plot's axis of field values."""
    return "log" if min(values) > 0 and max(values) / min(values) >= 100 else "linear"


def format_axis(axis, scale: str, unit: str | None) -> None:
    """Ticks of a matplotlib ``axis`` of numeric field values on ``scale`` (from
    :func:`axis_scale`): at most six on a linear axis, values in ``unit`` written with SI
    prefixes (10 µW rather than 1e-05) for the units of :data:`PREFIXED`."""
    from matplotlib.ticker import EngFormatter, MaxNLocator, NullFormatter

    if scale == "linear":
        axis.set_major_locator(MaxNLocator(nbins=6))
    axis.set_minor_formatter(NullFormatter())
    if unit in PREFIXED:
        axis.set_major_formatter(EngFormatter(unit))


def plot(records: list[dict], field: str, metric: str, names: Sequence[str],
         base_values: Mapping | None = None, definition: str | None = None) -> bytes:
    """PNG of ``metric`` (mean ± std over repeats) against ``field`` (:func:`plot_data`): where
    the other swept ``names`` are at ``base_values`` when some points have them there (a
    one-at-a-time sweep), else one line per combination of their values (the first eight);
    the x axis in the field's unit, the y axis saying what the metric is (``definition``)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = plot_data(records, field, metric, names, base_values, definition)
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axis = figure.subplots()
    for label, x, mean, std in shown["series"]:
        axis.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=label)
    axis.set_xscale(shown["xscale"])
    axis.set_yscale(shown["yscale"])
    if shown["xticks"] is not None:
        axis.set_xticks(range(len(shown["xticks"])), shown["xticks"], rotation=30, ha="right")
    else:
        format_axis(axis.xaxis, shown["xscale"], shown["unit"])
    axis.set_xlabel(shown["xlabel"])
    axis.set_ylabel(textwrap.fill(shown["ylabel"], 45), fontsize=9)
    axis.grid(True, alpha=0.3)
    if len(shown["series"]) > 1:
        axis.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
