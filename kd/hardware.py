"""The optical student on a hardware bench: the 4f that displays its collapsed masks, the gray
levels it exports, the camera's gain calibration, and hardware-aware fine-tuning.

The bench: a laser, an amplitude input SLM showing the image, lens 1, a phase-only Fourier SLM,
lens 2 and a camera whose pixels are the output samples (``f2/f1`` = camera pitch / input pitch).
The phase-only panel shows each channel's complex mask, scaled to modulus ≤ 1, by double-phase
encoding (:func:`opticsim.slm.double_phase`), whose error light lands half a replica period
away; the grid is therefore twice the output tile. One camera frame per output channel (time
multiplexed), two for the differential readout.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from scipy.fft import next_fast_len
from torch.optim.swa_utils import update_bn
from tqdm import tqdm

from opticsim import SLM, FourF, Lens, checks, presets
from opticsim.sweep import apply
from opticsim.torch import Optical4fConv, double_phase, masks_from_kernels

from .losses import ALPHA, TEMPERATURE, kd_loss
from .models import SCLCStudent


@dataclass(frozen=True)
class Bench:
    """A hardware bench by preset names: ``laser``, ``fourier_slm`` (a phase-only panel) and
    ``camera`` from :mod:`opticsim.presets`; the input SLM is a generic amplitude panel of
    ``input_pitch`` (m) and ``input_bits``. The camera exposes for ``exposure`` (s); the laser
    is attenuated (:func:`expose`) so that the brightest calibration pixel collects ``fill`` of
    the full well, as in the lab."""

    laser: str = "dpss-532"
    fourier_slm: str = "meadowlark-1920x1152"
    camera: str = "imx250"
    input_pitch: float = 8e-6
    input_bits: int = 8
    exposure: float = 100e-6
    fill: float = 0.8

    def __post_init__(self):
        for kind, preset_kind in (("laser", "laser"), ("fourier_slm", "slm"),
                                  ("camera", "camera")):
            name = getattr(self, kind)
            known = presets.names(preset_kind)
            try:
                found = presets.info(name).name in known
            except (KeyError, ValueError):
                found = False
            if not found:
                raise ValueError(f"{kind} must name one of {sorted(known)}, got {name!r}")
        if presets.slm(self.fourier_slm).mode != "phase":
            raise ValueError(f"fourier_slm must be a phase-only panel, got {self.fourier_slm!r} "
                             f"({presets.slm(self.fourier_slm).mode})")
        set_ = object.__setattr__
        set_(self, "input_pitch", checks.positive("input_pitch", self.input_pitch))
        set_(self, "input_bits", checks.integer("input_bits", self.input_bits, 1, 16))
        set_(self, "exposure", checks.positive("exposure", self.exposure))
        set_(self, "fill", checks.in_range("fill", self.fill, 0.0, 1.0, low_open=True))

    def fourf(self, image_shape, kernel_shape, readout: str = "intensity",
              power: float | None = None, in_channels: int = 1) -> FourF:
        """The 4f for ``in_channels`` images of ``image_shape`` side by side and kernels of
        ``kernel_shape``: an ``N``² grid (:meth:`grid`); the Fourier SLM a window of ``N``²
        pixels at one sample each (its dead frame is then not resolved: fill factor 1), sampled
        by the FFT (``f1 = p_F·N·dx/λ``); the laser at ``power`` (W, default the preset's)."""
        n = self.grid(image_shape, kernel_shape, in_channels)
        laser = presets.laser(self.laser, **({} if power is None else {"power": power}))
        fourier = presets.slm(self.fourier_slm, shape=(n, n), oversample=1, fill_factor=1.0)
        camera = presets.camera(self.camera, shape=(n, n), exposure=self.exposure)
        pitch = self.input_pitch
        focal = fourier.pitch * n * pitch / laser.wavelength
        return FourF(laser, Lens(focal), Lens(focal * camera.pitch[0] / pitch),
                     input_slm=SLM((n, n), pitch, mode="amplitude", bits=self.input_bits),
                     fourier_slm=fourier, camera=camera, readout=readout)

    def grid(self, image_shape, kernel_shape, in_channels: int = 1) -> int:
        """``N``, the side of :meth:`fourf`'s grid and of the Fourier-SLM window (pixels): the
        FFT-friendly size ≥ twice the output tile ``t = image + kernel − 1`` and ≥ the width
        that ``in_channels`` input tiles side by side need with their cross terms,
        ``t + 2(C − 1)(2t + 1)`` (:func:`opticsim.readout.layout`, time-multiplexed outputs).
        Cheap, so a window larger than a panel can be refused before anything is computed."""
        tile = max(i + k - 1 for i, k in zip(checks.shape2("image_shape", image_shape),
                                               checks.shape2("kernel_shape", kernel_shape)))
        in_channels = checks.integer("in_channels", in_channels, 1)
        return next_fast_len(max(2 * tile, tile + 2 * (in_channels - 1) * (2 * tile + 1)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --- the student's displays ------------------------------------------------------------------

def student_phases(student: SCLCStudent, fourf: FourF, layout) -> torch.Tensor:
    """Double-phase encoded Fourier-SLM phases ``(C, [2,] h, w)`` (rad) of the student's
    collapsed masks on ``fourf``: :func:`opticsim.torch.masks_from_kernels` of the collapsed
    convolution kernel (split ± for the differential readout), each channel scaled to peak
    modulus 1 (its ± pair by one factor, so the two captures subtract), differentiable in the
    student's weights."""
    kernel = student.cascade.convolution_kernel()
    masks = masks_from_kernels(fourf, kernel, layout)
    peak = masks.abs().flatten(1).amax(dim=1).clamp(min=1e-30).detach()
    return double_phase(masks / peak.view((-1,) + (1,) * (masks.ndim - 1)))


def student_gray(student: SCLCStudent, fourf: FourF, layout) -> np.ndarray:
    """The Fourier-SLM gray levels ``(C, [2,] h, w)`` that display the student on ``fourf``."""
    with torch.no_grad():
        phases = student_phases(student, fourf, layout).double().numpy()
    return fourf.fourier_slm.to_gray(phases, fourf.wavelength)


def optical_layer(student: SCLCStudent, fourf: FourF, image_shape, hardware: bool,
                  seed: int = 0) -> Optical4fConv:
    """The differentiable 4f (:class:`Optical4fConv`) of ``fourf`` with the student's channels;
    its displays are given as ``values`` (:func:`student_phases`) at each call. Shot noise is
    drawn from its normal approximation (the engine draws Poisson counts); the pixels it
    matters for hold hundreds to thousands of electrons."""
    cascade = student.cascade
    return Optical4fConv(fourf, cascade.in_channels, cascade.out_channels, cascade.kernel_shape,
                         mask="phase", hardware=hardware, image_shape=image_shape,
                         shot_noise="gaussian", seed=seed)


def expose(bench: Bench, student: SCLCStudent, images, changes=None,
           progress: bool = False) -> FourF:
    """The bench's 4f with the laser attenuated so that the brightest pixel of ``images``
    ``(B, C, H, W)`` collects ``bench.fill`` of the full well in ``bench.exposure``
    (:func:`exposed`, with the student's quantised displays). ``changes``
    (``{field: value}`` as a sweep point names them, e.g. ``{"fourier_slm.crosstalk": 0.8}``)
    alter the bench's elements first (:func:`opticsim.sweep.apply`); ``progress``: a bar."""
    cascade = student.cascade
    fourf = bench.fourf(images.shape[-2:], cascade.kernel_shape, student.readout,
                        in_channels=cascade.in_channels)
    if changes:
        fourf = apply(fourf, changes)
    return exposed(student, fourf, images, bench.fill, progress)


def exposed(student: SCLCStudent, fourf: FourF, images, fill: float,
            progress: bool = False) -> FourF:
    """``fourf`` with its laser attenuated, as a lab's attenuator does, so that the brightest
    pixel of ``images`` ``(B, C, H, W)`` through the student's displays collects ``fill`` of
    the full well (:meth:`FourF.exposed`). An attenuator cannot amplify: a laser too weak for
    that keeps its power, and the camera collects fewer electrons (a short photon budget)."""
    image_shape, kernel_shape = images.shape[-2:], student.cascade.kernel_shape
    layout = fourf.layout(student.cascade.in_channels, student.cascade.out_channels, image_shape,
                          kernel_shape)
    attenuated = fourf.exposed(images, gray=student_gray(student, fourf, layout),
                               layout=layout, fill=fill, progress=progress)
    return attenuated if attenuated.laser.power <= fourf.laser.power else fourf


# --- frames, calibration, evaluation ----------------------------------------------------------

def engine_frames(student: SCLCStudent, fourf: FourF, images, *, seed: int = 0,
                  batch_size: int = 64, progress: bool = False,
                  desc: str = "engine") -> np.ndarray:
    """Camera frames ``(N, C, th, tw)`` (DN; signed for the differential readout) of ``images``
    ``(N, C, H, W)`` through the NumPy engine (:meth:`FourF.run`) showing the exported gray
    levels (:func:`student_gray`), with the camera noise of ``seed``; ``progress``: a bar
    named ``desc``."""
    images = np.asarray(images)
    layout = fourf.layout(student.cascade.in_channels, student.cascade.out_channels,
                          images.shape[-2:], student.cascade.kernel_shape)
    gray = student_gray(student, fourf, layout)
    rng = np.random.default_rng(seed)
    frames = []
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, leave=False,
                      desc=desc, unit="batch", file=sys.stderr):
        frames.append(fourf.run(images[start:start + batch_size], gray=gray, layout=layout,
                                rng=rng).astype(np.float32))
    return np.concatenate(frames)


@dataclass(frozen=True)
class Calibration:
    """Per-channel affine map of camera DN to the student's units, ``s = (DN − offset)/gain``,
    fitted by least squares on noise-free frames of known images (as a lab calibrates)."""

    gain: np.ndarray
    offset: np.ndarray

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        """The student's signal ``(DN − offset)/gain`` of camera ``frames`` ``(N, C, h, w)``."""
        gain = torch.as_tensor(self.gain, dtype=frames.dtype, device=frames.device)
        offset = torch.as_tensor(self.offset, dtype=frames.dtype, device=frames.device)
        return (frames - offset[:, None, None]) / gain[:, None, None]

    def frames(self, signal) -> np.ndarray:
        """The inverse of :meth:`apply`: camera DN ``offset + gain·s`` of the student's signal
        ``(N, C, h, w)`` (what a bench without noise or optical errors would read)."""
        return self.offset[:, None, None] + self.gain[:, None, None] * np.asarray(signal)

    @classmethod
    def fit(cls, frames, signal) -> "Calibration":
        """Fit ``frames ≈ offset + gain·signal`` per channel, both ``(N, C, h, w)``."""
        frames = np.asarray(frames, np.float64).swapaxes(0, 1).reshape(frames.shape[1], -1)
        signal = np.asarray(signal, np.float64).swapaxes(0, 1).reshape(signal.shape[1], -1)
        gain, offset = [], []
        for y, x in zip(frames, signal):
            slope, intercept = np.polyfit(x, y, 1)
            gain.append(slope)
            offset.append(intercept)
        return cls(np.array(gain), np.array(offset))


def calibrate(student: SCLCStudent, fourf: FourF, images, *, batch_size: int = 64,
              progress: bool = False) -> Calibration:
    """:class:`Calibration` of ``fourf`` for ``student`` from the noise-free camera response
    (torch layer, unquantised) to ``images`` against the ideal signal, ``batch_size`` images
    at a time (``progress``: a bar over the batches)."""
    images = torch.as_tensor(np.asarray(images))
    layer = optical_layer(student, fourf, tuple(images.shape[-2:]), hardware=False).eval()
    layout = layer.layout(tuple(images.shape[-2:]))
    frames, signal = [], []
    with torch.no_grad():
        phases = student_phases(student, fourf, layout)
        for batch in tqdm(images.split(batch_size), disable=not progress, leave=False,
                          desc="calibration", unit="batch", file=sys.stderr):
            frames.append(layer(batch, values=phases))
            signal.append(student.camera_signal(batch))
    return Calibration.fit(torch.cat(frames).numpy(), torch.cat(signal).numpy())


def prepare(bench: Bench, student: SCLCStudent, calibration_images,
            changes=None, progress: bool = False) -> tuple[FourF, Calibration]:
    """The bench (with ``changes``, as :func:`expose` takes them) exposed for ``student`` and
    its camera calibrated (:func:`calibrate`) on ``calibration_images`` (training images, as
    in the lab); ``progress``: a bar for each."""
    fourf = expose(bench, student, calibration_images, changes, progress)
    return fourf, calibrate(student, fourf, calibration_images, progress=progress)


def classify_frames(student: SCLCStudent, frames, calibration: Calibration,
                    batch_size: int = 256) -> torch.Tensor:
    """Logits of the student's back end for camera ``frames`` ``(N, C, h, w)``."""
    student.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(frames), batch_size):
            batch = torch.as_tensor(np.asarray(frames[start:start + batch_size]))
            outputs.append(student.backend(calibration.apply(batch.float())))
    return torch.cat(outputs)


def bench_frames(student: SCLCStudent, layer: Optical4fConv, calibration: Calibration,
                 images: torch.Tensor, phases: torch.Tensor,
                 batch_size: int = 64) -> list[torch.Tensor]:
    """The calibrated camera frames (the back end's input, in the student's units) of
    ``images`` through ``layer`` showing ``phases`` (:func:`student_phases`), ``batch_size``
    images a batch, without gradients: what the back end sees on the bench."""
    with torch.no_grad():
        return [calibration.apply(layer(batch, values=phases))
                for batch in images.split(batch_size)]


def adapt_normalisation(student: SCLCStudent, frames) -> None:
    """Re-estimate, in place, the running statistics of the back end's BatchNorm from the
    bench's calibrated ``frames`` (an iterable of ``(B, C, h, w)`` batches,
    :func:`bench_frames`): the mean and variance over every frame, as
    :func:`torch.optim.swa_utils.update_bn` computes them (AdaBN, Li et al., arXiv
    1603.04779, 2016). The back end's first layer normalises each camera channel, so this
    absorbs any per-channel affine error of the calibration (gain > 0) and the shift of the
    frames' distribution that the bench's errors cause (fringing, quantisation)."""
    update_bn(frames, student.backend)


def _classified(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).double().mean())


def fine_tune(student: SCLCStudent, fourf: FourF, calibration: Calibration, images, labels, *,
              teacher_logits=None, temperature: float = TEMPERATURE, alpha: float = ALPHA,
              epochs: int = 1, batch_size: int = 32, lr: float = 1e-4, adapt: bool = True,
              validation=None, validate_every: int = 8, seed: int = 0,
              progress: bool = True) -> tuple[SCLCStudent, dict]:
    """Hardware-aware fine-tuning: a copy of ``student`` trained through
    :class:`Optical4fConv` with ``hardware=True`` (quantised SLMs with straight-through
    gradients, fringing, camera shot and read noise, ADC), the displays re-encoded from the
    cascade at every step, with the KD loss against ``teacher_logits`` (labels alone when None).

    With ``adapt`` the back end's BatchNorm statistics are first re-estimated on the bench's
    calibrated frames of ``images`` (:func:`adapt_normalisation`) and then held: the back end
    was normalised for the ideal signal, and a damaged bench shifts its frames far from it
    (at 1.2 px fringing the calibrated frames differ from the ideal signal by more than the
    signal, and seed 0's first loss was 5.9 with the learnt statistics, 2.3 after
    re-estimating them; ``examples/finetune_recovery.py`` with and without ``--no-adapt``).
    Without ``adapt`` the statistics are those the back end learnt.

    The tuned student is a system with the bench ``fourf`` and the ``calibration`` it was
    tuned through, and is scored with them (:func:`kd.evaluate.student_on_hardware`), not
    re-exposed and recalibrated: the displays are scaled to peak modulus 1 at every step, so
    the camera's DN per unit of the cascade's ideal signal drift as the cascade changes, and
    the back end learns the map it was tuned through.

    ``validation``: optional ``(images, labels)`` held out from tuning, classified through
    the differentiable bench in eval mode (quantised, noise-free) before the first step (after
    the adaptation) and after every ``validate_every`` steps and the last; it draws no random
    numbers, so the tuning is the same with or without it.

    Returns the tuned copy and its history: per step ``loss``, ``accuracy`` (of the step's
    batch, dropout on), ``saturation`` (fraction of frame pixels at the camera's full well or
    top code) and ``calibration_residual`` (relative RMS of the calibrated frames against the
    tuned cascade's ideal signal); with ``validation``, ``validation_step`` (steps taken) and
    ``validation_accuracy``.
    """
    validate_every = checks.integer("validate_every", validate_every, 1)
    tuned = copy.deepcopy(student)
    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    layer = optical_layer(tuned, fourf, tuple(images.shape[-2:]), hardware=True,
                          seed=seed).train()
    layout = layer.layout(tuple(images.shape[-2:]))
    if adapt:
        adapt_normalisation(tuned, bench_frames(tuned, layer, calibration, images,
                                                student_phases(tuned, fourf, layout)))
    camera = fourf.camera
    saturated = min(camera.max_level, camera.offset + camera.gain * camera.full_well) - 0.5
    optimiser = torch.optim.Adam(tuned.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    history = {"loss": [], "accuracy": [], "saturation": [], "calibration_residual": []}
    if validation is not None:
        held_out = (torch.as_tensor(np.asarray(validation[0])),
                    torch.as_tensor(np.asarray(validation[1]), dtype=torch.long))
        history.update(validation_step=[], validation_accuracy=[])

    def validate(step: int) -> None:
        if validation is None:
            return
        tuned.eval()
        layer.eval()
        frames = bench_frames(tuned, layer, calibration, held_out[0],
                              student_phases(tuned, fourf, layout))
        with torch.no_grad():
            logits = torch.cat([tuned.backend(batch) for batch in frames])
        history["validation_step"].append(step)
        history["validation_accuracy"].append(_classified(logits, held_out[1]))
        layer.train()

    steps = epochs * math.ceil(len(images) / batch_size)
    validate(0)
    with tqdm(total=steps, disable=not progress, desc="fine-tune", unit="batch", leave=False,
              file=sys.stderr) as bar:
        for _ in range(epochs):
            for index in torch.randperm(len(images), generator=order).split(batch_size):
                tuned.train()
                for module in tuned.modules():      # keep the normalisation as it stands
                    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                        module.eval()
                frames = layer(images[index], values=student_phases(tuned, fourf, layout))
                measured = calibration.apply(frames)
                logits = tuned.backend(measured)
                soft = None if teacher_logits is None else torch.as_tensor(teacher_logits)[index]
                loss = kd_loss(logits, soft, labels[index], temperature, alpha)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                with torch.no_grad():
                    signal = tuned.camera_signal(images[index])
                    history["loss"].append(loss.item())
                    history["accuracy"].append(_classified(logits, labels[index]))
                    history["saturation"].append(float((frames >= saturated).float().mean()))
                    history["calibration_residual"].append(
                        float((measured - signal).norm() / signal.norm()))
                bar.update(1)
                taken = len(history["loss"])
                if taken % validate_every == 0 or taken == steps:
                    validate(taken)
    return tuned.eval(), history
