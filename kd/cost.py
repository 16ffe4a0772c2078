"""What one image costs on each path: FLOPs of the kd models counted analytically, and the
optical front end's frames, time and energy from its devices' rates and powers.

FLOPs count real operations at inference: a multiply–accumulate is 2, a complex product 6
(4 multiplies, 2 adds), a complex sum 2, a ReLU 1 (a comparison); a real FFT of n samples
counts ``2.5·n·log2(n)``, half the ``5·n·log2(n)`` of a complex radix-2 FFT (the convention
FFTW's benchFFT reports its "mflops" in, fftw.org/speed/method.html). BatchNorm at inference
is a scale and a shift (2 per sample); dropout is off. The weights are fixed, so the digital
student's kernel spectra are computed once, not per image.

:class:`OpticalFrontEnd` is the kd hardware bench (:mod:`kd.hardware`) as a pipeline: the input
SLM shows the image (a tile of it when the image is larger than a shot), the Fourier SLM one
mask per output channel, the camera one frame per mask (time multiplexing; ``channels_per_frame``
tiles several outputs side by side in one frame instead), twice for the differential readout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from opticsim import checks, presets

from .models import SCLCStudent, Teacher, fft_shape

# Energy of one ADC conversion (J): a 12-bit converter at a Walden figure of merit of about
# 25 fJ per step (25 fJ × 2¹²), inside the spread of B. Murmann's "ADC Performance Survey
# 1997–2024" (github.com/bmurmann/ADC-survey); assumed, not a camera's measured value.
ADC_ENERGY = 1e-10
# Power (W) of one CPU core running the electronic models: a 270 W, 32-core Ice Lake-SP
# Xeon's TDP per core (this machine's lscpu: model 106 at 2.8 GHz, under KVM); assumed.
CPU_CORE_POWER = 8.4
# Power (W) of a CUDA GPU while it runs the models: an H100 SXM's 700 W board power; assumed.
GPU_POWER = 700.0


def conv2d_flops(in_channels: int, out_channels: int, kernel_shape, output_shape,
                 bias: bool = True) -> int:
    """FLOPs of a direct 2-D convolution: each of the ``C_out·H·W`` outputs takes
    ``C_in·kh·kw`` products and ``C_in·kh·kw − 1`` sums, plus one sum for the bias:
    ``(2·C_in·kh·kw − 1 + bias)·C_out·H·W``."""
    kh, kw = checks.shape2("kernel_shape", kernel_shape)
    h, w = checks.shape2("output_shape", output_shape)
    in_channels = checks.integer("in_channels", in_channels, 1)
    out_channels = checks.integer("out_channels", out_channels, 1)
    return (2 * in_channels * kh * kw - 1 + int(bias)) * out_channels * h * w


def fft_flops(shape, real: bool = True) -> float:
    """FLOPs of one FFT over ``shape`` (n samples): ``2.5·n·log2(n)`` for a real transform,
    ``5·n·log2(n)`` for a complex one."""
    n = math.prod(checks.shape2("shape", shape))
    return (2.5 if real else 5.0) * n * math.log2(n)


def _adaptive_span(size: int, bins: int) -> int:
    """Samples summed along one axis by adaptive average pooling of ``size`` into ``bins``:
    window ``i`` spans ``floor(i·size/bins)`` to ``ceil((i + 1)·size/bins)``."""
    return sum(-(-(i + 1) * size // bins) - i * size // bins for i in range(bins))


def _layer_flops(layer: nn.Module, shape: tuple[int, int, int]) -> tuple[str, int, tuple]:
    """(kind, FLOPs, output shape) of one inference layer on a ``(C, H, W)`` input; kind is
    ``"convolutions"`` or ``"other"``."""
    channels, h, w = shape
    if isinstance(layer, nn.Conv2d):
        if layer.stride != (1, 1) or layer.dilation != (1, 1) or layer.groups != 1:
            raise ValueError(f"only dense stride-1 convolutions are counted, got {layer}")
        (kh, kw), (ph, pw) = layer.kernel_size, layer.padding
        out = (h + 2 * ph - kh + 1, w + 2 * pw - kw + 1)
        flops = conv2d_flops(layer.in_channels, layer.out_channels, (kh, kw), out,
                             layer.bias is not None)
        return "convolutions", flops, (layer.out_channels, *out)
    if isinstance(layer, nn.AvgPool2d):
        k = layer.kernel_size
        out = (h // k, w // k)
        return "other", channels * out[0] * out[1] * k * k, (channels, *out)   # k² − 1 sums, ×
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        bins = layer.output_size
        by, bx = (bins, bins) if isinstance(bins, int) else bins
        flops = channels * _adaptive_span(h, by) * _adaptive_span(w, bx)
        return "other", flops, (channels, by, bx)
    if isinstance(layer, nn.BatchNorm2d):
        return "other", 2 * channels * h * w, shape
    if isinstance(layer, nn.ReLU):
        return "other", channels * h * w, shape
    if isinstance(layer, nn.Linear):
        return "other", 2 * layer.in_features * layer.out_features, (layer.out_features, 1, 1)
    if isinstance(layer, nn.Flatten):
        return "other", 0, (channels * h * w, 1, 1)
    if isinstance(layer, nn.Dropout):
        return "other", 0, shape
    raise ValueError(f"no FLOP count for {type(layer).__name__}")


def _sequence_flops(layers, shape) -> tuple[dict, tuple]:
    counts = {"convolutions": 0, "other": 0}
    for layer in layers:
        kind, flops, shape = _layer_flops(layer, shape)
        counts[kind] += flops
    return counts, shape


def backend_flops(model: nn.Module, feature_shape) -> int:
    """FLOPs of ``model.backend`` (BatchNorm, adaptive pool, fully connected layers) on one
    ``(C, H, W)`` feature map."""
    counts, _ = _sequence_flops(model.backend.layers, tuple(feature_shape))
    return counts["convolutions"] + counts["other"]


def teacher_flops(teacher: Teacher, image_shape) -> dict:
    """FLOPs per image of a :class:`~kd.models.Teacher` (or linear CNN) on ``image_shape``
    ``(H, W)`` images: ``convolutions`` (direct), ``pooling_relu`` (the rest of its front end),
    ``backend`` and ``total``."""
    h, w = checks.shape2("image_shape", image_shape)
    first = teacher.features[0]
    counts, shape = _sequence_flops(teacher.features, (first.in_channels, h, w))
    backend = backend_flops(teacher, shape)
    return {"convolutions": counts["convolutions"], "pooling_relu": counts["other"],
            "backend": backend, "total": counts["convolutions"] + counts["other"] + backend}


def camera_shape(student: SCLCStudent, image_shape) -> tuple[int, int, int]:
    """``(C_out, H + K − 1, W + K − 1)``: the frames the optics (or the digital student's
    full convolution) hands the back end for ``image_shape`` images."""
    h, w = checks.shape2("image_shape", image_shape)
    k, _ = student.cascade.kernel_shape
    return (student.cascade.out_channels, h + k - 1, w + k - 1)


def student_flops(student: SCLCStudent, image_shape) -> dict:
    """FLOPs per image of the digital SCLC student (:func:`kd.models.full_convolution`):
    ``fft_convolution`` = ``C_in`` real forward FFTs of the padded size, ``C_out·C_in``
    complex products and ``C_out·(C_in − 1)`` complex sums per frequency, ``C_out`` inverse
    FFTs (both twice for the differential readout); ``square_law`` (a square per output
    sample, and a difference for the differential readout); ``backend``; ``total``."""
    channels, ho, wo = camera_shape(student, image_shape)
    size = fft_shape((ho, wo))
    frequencies = size[0] * (size[1] // 2 + 1)
    in_channels = student.cascade.in_channels
    passes = 2 if student.readout == "differential" else 1
    products = channels * frequencies * (6 * in_channels + 2 * (in_channels - 1))
    convolution = in_channels * fft_flops(size) + passes * (products + channels * fft_flops(size))
    square_law = (2 * passes - 1) * channels * ho * wo
    backend = backend_flops(student, (channels, ho, wo))
    return {"fft_convolution": convolution, "square_law": square_law, "backend": backend,
            "total": convolution + square_law + backend}


@dataclass(frozen=True)
class OpticalFrontEnd:
    """The optical front end's rates, sizes and powers (SI units).

    ``input_rate``, ``fourier_rate``, ``camera_rate``: frame rates (Hz) of the input SLM, the
    Fourier SLM and the camera; ``exposure`` (s); ``input_shape``, ``fourier_shape``,
    ``camera_shape``: their pixels ``(rows, cols)``; ``laser_power``, ``input_slm_power``,
    ``fourier_slm_power``, ``camera_power``: electrical supply powers (W); ``adc_energy``: J
    per ADC conversion; ``channels_per_frame``: output channels tiled side by side in one
    camera frame (1: one frame per channel); ``tile_fraction``: the fraction of the Fourier
    SLM's side an output may use (1/2: double-phase encoding puts its error light half a
    replica period away, :mod:`kd.hardware`).
    """

    input_rate: float
    fourier_rate: float
    camera_rate: float
    exposure: float
    input_shape: tuple[int, int]
    fourier_shape: tuple[int, int]
    camera_shape: tuple[int, int]
    laser_power: float
    input_slm_power: float
    fourier_slm_power: float
    camera_power: float
    adc_energy: float = ADC_ENERGY
    channels_per_frame: int = 1
    tile_fraction: float = 0.5

    def __post_init__(self):
        set_ = object.__setattr__
        for name in ("input_rate", "fourier_rate", "camera_rate", "exposure", "laser_power",
                     "input_slm_power", "fourier_slm_power", "camera_power"):
            set_(self, name, checks.positive(name, getattr(self, name)))
        for name in ("input_shape", "fourier_shape", "camera_shape"):
            set_(self, name, checks.shape2(name, getattr(self, name)))
        set_(self, "adc_energy", checks.non_negative("adc_energy", self.adc_energy))
        set_(self, "channels_per_frame",
             checks.integer("channels_per_frame", self.channels_per_frame, 1))
        set_(self, "tile_fraction",
             checks.in_range("tile_fraction", self.tile_fraction, 0.0, 1.0, low_open=True))

    @classmethod
    def from_presets(cls, laser: str, fourier_slm: str, camera: str,
                     input_slm: str | None = None, **settings) -> OpticalFrontEnd:
        """The front end of preset devices (:mod:`opticsim.presets`; ``input_slm`` defaults
        to a second ``fourier_slm``), each needing a frame rate (SLMs and camera) and an
        ``electrical_power``; ``settings`` are the other fields (``exposure`` required)."""
        input_slm = input_slm or fourier_slm
        records = {"laser": presets.info(laser), "fourier_slm": presets.info(fourier_slm),
                   "input_slm": presets.info(input_slm), "camera": presets.info(camera)}
        for role, record in records.items():
            kind = "laser" if role == "laser" else "camera" if role == "camera" else "slm"
            if record.kind != kind:
                raise ValueError(f"{role} must name {presets.KIND_NAMES[kind]} preset, got "
                                 f"{record.name!r} ({record.kind})")
            if kind != "laser" and record.values.get("frame_rate") is None:
                raise ValueError(f"{role} preset {record.name!r} has no frame_rate")
            if record.electrical_power is None:
                raise ValueError(f"{role} preset {record.name!r} has no electrical_power")
        values = {role: record.values for role, record in records.items()}
        power = {role: record.electrical_power for role, record in records.items()}
        return cls(input_rate=values["input_slm"]["frame_rate"],
                   fourier_rate=values["fourier_slm"]["frame_rate"],
                   camera_rate=values["camera"]["frame_rate"],
                   input_shape=values["input_slm"]["shape"],
                   fourier_shape=values["fourier_slm"]["shape"],
                   camera_shape=values["camera"]["shape"],
                   laser_power=power["laser"], input_slm_power=power["input_slm"],
                   fourier_slm_power=power["fourier_slm"], camera_power=power["camera"],
                   **settings)

    @property
    def frame_period(self) -> float:
        """Time per camera frame (s), pipelined: ``max(1/f_Fourier, 1/f_camera, exposure)``
        (the next mask loads and the last frame reads out while this one exposes)."""
        return max(1 / self.fourier_rate, 1 / self.camera_rate, self.exposure)

    def tile(self, kernel_size: int) -> int:
        """Side (pixels) of the largest square input tile one shot takes: its output
        ``t + K − 1`` times the ``g = ⌈√channels_per_frame⌉`` outputs per row fits in
        ``tile_fraction`` of the Fourier SLM and on the camera, and ``t`` on the input SLM."""
        kernel_size = checks.integer("kernel_size", kernel_size, 1)
        grid = math.isqrt(self.channels_per_frame - 1) + 1
        output = min(int(min(self.fourier_shape) * self.tile_fraction), min(self.camera_shape))
        side = min(output // grid - kernel_size + 1, min(self.input_shape))
        if side < 1:
            raise ValueError(f"a {kernel_size}-tap kernel with {self.channels_per_frame} "
                             "channels per frame does not fit on the Fourier SLM and camera")
        return side

    def cost(self, image_shape, kernel_size: int, channels: int,
             readout: str = "intensity") -> dict:
        """Per image of ``image_shape`` through ``channels`` output kernels of
        ``kernel_size`` taps: ``tiles`` (shots of the input SLM, overlap-save), ``frames``
        (camera frames: tiles × ⌈channels/channels_per_frame⌉, × 2 for the differential
        readout), ``time`` (s: tiles × max(1/f_input, frames per tile × frame period), the
        input SLM loading the next tile while the camera takes this one's frames),
        ``conversions`` (ADC samples read), ``energy_devices`` (J: time × the sum of the laser,
        SLM and camera supply powers), ``energy_adc`` (conversions × adc_energy) and ``energy``
        (their sum; the camera's supply power already contains its ADC, so this counts the ADC
        twice, by at most ``energy_adc``)."""
        h, w = checks.shape2("image_shape", image_shape)
        channels = checks.integer("channels", channels, 1)
        if readout not in ("intensity", "differential"):
            raise ValueError(f"readout must be 'intensity' or 'differential', got {readout!r}")
        side = self.tile(kernel_size)
        tiles = math.ceil(h / side) * math.ceil(w / side)
        shots = math.ceil(channels / self.channels_per_frame) * (2 if readout == "differential"
                                                                 else 1)
        time = tiles * max(1 / self.input_rate, shots * self.frame_period)
        outputs = (min(h, side) + kernel_size - 1) * (min(w, side) + kernel_size - 1)
        conversions = tiles * shots * min(channels, self.channels_per_frame) * outputs
        supply = (self.laser_power + self.input_slm_power + self.fourier_slm_power
                  + self.camera_power)
        energy_adc = conversions * self.adc_energy
        return {"tile": side, "tiles": tiles, "frames": tiles * shots, "time": time,
                "conversions": conversions, "energy_devices": time * supply,
                "energy_adc": energy_adc, "energy": time * supply + energy_adc}
