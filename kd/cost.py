"""What one image costs on each path: FLOPs and bytes moved of the kd models counted
analytically, layer by layer (for a roofline of a processor, :func:`roofline_seconds`), and the
optical front end's frames, time and energy from its devices' rates and powers.

FLOPs count real operations at inference: a multiply–accumulate is 2, a complex product 6
(4 multiplies, 2 adds), a complex sum 2, a ReLU 1 (a comparison); a real FFT of n samples
counts ``2.5·n·log2(n)``, half the ``5·n·log2(n)`` of a complex radix-2 FFT (the convention
FFTW's benchFFT reports its "mflops" in, fftw.org/speed/method.html). BatchNorm at inference
is a scale and a shift (2 per sample); dropout is off. The weights are fixed, so the digital
student's kernel spectra are computed once, not per image. A layer moves its weights, its
input and its output once each (no reuse between layers in caches).

:class:`OpticalFrontEnd` is the kd hardware bench (:mod:`kd.hardware`) as a pipeline: the input
SLM shows the image (a tile of it when the image is larger than a shot; ``images_per_frame``
tiles side by side), the Fourier SLM one mask per output channel, the camera one frame per mask
(time multiplexing; ``channels_per_frame`` tiles several outputs side by side in one frame
instead), twice for the differential readout; :func:`best_design` searches those choices.
"""

from __future__ import annotations

import dataclasses
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


def _layer_bytes(layer: nn.Module, shape: tuple, output: tuple, value_bytes: int) -> int:
    """Bytes one inference layer moves: its weights (parameters and floating buffers: a
    BatchNorm's running mean and variance) read, its ``shape`` input read and its ``output``
    written, at ``value_bytes`` a value; 0 for a flatten or (inference) dropout."""
    if isinstance(layer, (nn.Flatten, nn.Dropout)):
        return 0
    weights = sum(tensor.numel() for tensor in (*layer.parameters(recurse=False),
                                                *layer.buffers(recurse=False))
                  if tensor.is_floating_point())
    return value_bytes * (weights + math.prod(shape) + math.prod(output))


def layer_costs(layers, shape, value_bytes: int = 4) -> tuple[list[dict], tuple]:
    """Per inference layer of ``layers`` on a ``(C, H, W)`` input, ``{"layer", "kind",
    "flops", "bytes"}`` (FLOPs as counted above; bytes: the layer's weights — parameters and
    floating buffers — and its input and output, at ``value_bytes`` a value; none for a
    flatten or an inference dropout), and the output shape."""
    value_bytes = checks.integer("value_bytes", value_bytes, 1)
    steps = []
    for layer in layers:
        kind, flops, output = _layer_flops(layer, shape)
        steps.append({"layer": type(layer).__name__, "kind": kind, "flops": flops,
                      "bytes": _layer_bytes(layer, shape, output, value_bytes)})
        shape = output
    return steps, shape


def _sequence_flops(layers, shape) -> tuple[dict, tuple]:
    steps, shape = layer_costs(layers, shape)
    counts = {"convolutions": 0, "other": 0}
    for step in steps:
        counts[step["kind"]] += step["flops"]
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


def student_steps(student: SCLCStudent, image_shape, value_bytes: int = 4) -> list[dict]:
    """The digital SCLC student's inference (:func:`kd.models.full_convolution`) as steps
    ``{"layer", "kind", "flops", "bytes"}``, at ``value_bytes`` a real value (a complex one
    is two), ``F`` frequencies of the padded real FFT of ``P`` samples, ``p`` = 2 passes for
    the differential readout (else 1):

    - ``rfft``: ``C_in`` real forward FFTs; reads the image, writes ``C_in·F`` spectra;
    - ``spectral products``: ``p·C_out·C_in`` complex products and ``p·C_out·(C_in − 1)``
      complex sums per frequency; reads the spectra and the ``p·C_out·C_in·F`` fixed
      transfer functions, writes ``p·C_out·F`` spectra;
    - ``irfft``: ``p·C_out`` inverse FFTs, ``F`` complex values in and ``P`` real out each;
    - ``square law``: a square per output sample (and a difference for ``p`` = 2): reads
      ``p·C_out·H_o·W_o``, writes ``C_out·H_o·W_o``;
    - then the back end's layers (:func:`layer_costs`) on the camera frames."""
    channels, ho, wo = camera_shape(student, image_shape)
    size = fft_shape((ho, wo))
    samples = math.prod(size)
    frequencies = size[0] * (size[1] // 2 + 1)
    in_channels = student.cascade.in_channels
    passes = 2 if student.readout == "differential" else 1
    image = math.prod(checks.shape2("image_shape", image_shape))
    products = passes * channels * frequencies * (6 * in_channels + 2 * (in_channels - 1))
    complex_bytes = 2 * value_bytes
    steps = [
        {"layer": "rfft", "kind": "fft_convolution", "flops": in_channels * fft_flops(size),
         "bytes": in_channels * (image * value_bytes + frequencies * complex_bytes)},
        {"layer": "spectral products", "kind": "fft_convolution", "flops": products,
         "bytes": frequencies * complex_bytes * in_channels * (1 + passes * channels)
         + passes * channels * frequencies * complex_bytes},
        {"layer": "irfft", "kind": "fft_convolution",
         "flops": passes * channels * fft_flops(size),
         "bytes": passes * channels * (frequencies * complex_bytes + samples * value_bytes)},
        {"layer": "square law", "kind": "square_law",
         "flops": (2 * passes - 1) * channels * ho * wo,
         "bytes": (passes + 1) * channels * ho * wo * value_bytes}]
    backend, _ = layer_costs(student.backend.layers, (channels, ho, wo), value_bytes)
    return steps + [{**step, "kind": "backend"} for step in backend]


def student_flops(student: SCLCStudent, image_shape) -> dict:
    """FLOPs per image of the digital SCLC student (:func:`kd.models.full_convolution`) by
    kind of :func:`student_steps`: ``fft_convolution`` = ``C_in`` real forward FFTs of the
    padded size, ``C_out·C_in`` complex products and ``C_out·(C_in − 1)`` complex sums per
    frequency, ``C_out`` inverse FFTs (both twice for the differential readout);
    ``square_law`` (a square per output sample, and a difference for the differential
    readout); ``backend``; ``total``."""
    counts = {"fft_convolution": 0, "square_law": 0, "backend": 0}
    for step in student_steps(student, image_shape):
        counts[step["kind"]] += step["flops"]
    return {**counts, "total": sum(counts.values())}


def teacher_steps(teacher: Teacher, image_shape, value_bytes: int = 4) -> list[dict]:
    """A :class:`~kd.models.Teacher`'s inference on ``image_shape`` ``(H, W)`` images as the
    steps of :func:`layer_costs`: its front end's layers, then its back end's."""
    h, w = checks.shape2("image_shape", image_shape)
    features, shape = layer_costs(teacher.features, (teacher.features[0].in_channels, h, w),
                                  value_bytes)
    backend, _ = layer_costs(teacher.backend.layers, shape, value_bytes)
    return features + backend


def roofline_seconds(steps: list[dict], processor, efficiency: float) -> float:
    """Seconds of ``steps`` run one after another on ``processor``
    (:class:`opticsim.processor.Processor`), each ``max(F/(η·P), B/(η·W))``:
    ``Σ_steps processor.time(flops, bytes, efficiency)``."""
    return sum(processor.time(step["flops"], step["bytes"], efficiency) for step in steps)


@dataclass(frozen=True)
class OpticalFrontEnd:
    """The optical front end's rates, sizes and powers (SI units).

    ``input_rate``, ``fourier_rate``, ``camera_rate``: frame rates (Hz) of the input SLM, the
    Fourier SLM and the camera; ``exposure`` (s); ``input_shape``, ``fourier_shape``,
    ``camera_shape``: their pixels ``(rows, cols)``; ``laser_power``, ``input_slm_power``,
    ``fourier_slm_power``, ``camera_power``: electrical supply powers (W); ``adc_energy``: J
    per ADC conversion; ``channels_per_frame``: output channels tiled side by side in one
    camera frame (1: one frame per channel; the Fourier mask adds a linear phase per kernel
    that shifts its replica by the output grid's spacing); ``images_per_frame``: input tiles
    (of one image, or several small images) side by side on the input SLM, each giving its
    own output in every replica; ``tile_fraction``: the fraction of the Fourier SLM's side an
    output grid may use (1/2: double-phase encoding puts its error light half a replica period
    away, :mod:`kd.hardware`); ``camera_roi``: the camera reads only the rows the outputs
    cover, its frame rate growing as its rows over those (:meth:`frame_time`).
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
    images_per_frame: int = 1
    tile_fraction: float = 0.5
    camera_roi: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        for name in ("input_rate", "fourier_rate", "camera_rate", "exposure", "laser_power",
                     "input_slm_power", "fourier_slm_power", "camera_power"):
            set_(self, name, checks.positive(name, getattr(self, name)))
        for name in ("input_shape", "fourier_shape", "camera_shape"):
            set_(self, name, checks.shape2(name, getattr(self, name)))
        set_(self, "adc_energy", checks.non_negative("adc_energy", self.adc_energy))
        for name in ("channels_per_frame", "images_per_frame"):
            set_(self, name, checks.integer(name, getattr(self, name), 1))
        set_(self, "camera_roi", checks.instance("camera_roi", self.camera_roi, bool))
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

    def frame_time(self, rows: int | None = None) -> float:
        """Time per camera frame (s) reading ``rows`` rows (default: all), pipelined:
        ``max(1/f_Fourier, 1/f_camera(rows), exposure)`` (the next mask loads and the last
        frame reads out while this one exposes), with ``f_camera(rows) = camera_rate·R/rows``
        for a sensor of ``R`` rows when ``camera_roi`` (a region of interest read row by row),
        else ``camera_rate``."""
        full = self.camera_shape[0]
        rows = full if rows is None else checks.integer("rows", rows, 1, full)
        camera_rate = self.camera_rate * full / rows if self.camera_roi else self.camera_rate
        return max(1 / self.fourier_rate, 1 / camera_rate, self.exposure)

    @property
    def frame_period(self) -> float:
        """Time per full camera frame (s), :meth:`frame_time` of all rows."""
        return self.frame_time()

    def _grids(self) -> tuple[int, int]:
        """Outputs per side of a frame's grid of channels and of images: ``⌈√n⌉`` each."""
        return (math.isqrt(self.channels_per_frame - 1) + 1,
                math.isqrt(self.images_per_frame - 1) + 1)

    def tile(self, kernel_size: int) -> int:
        """Side (pixels) of the largest square input tile one shot takes: its output
        ``t + K − 1`` times the ``g_c = ⌈√channels_per_frame⌉`` channel replicas per row
        times the ``g_i = ⌈√images_per_frame⌉`` tiles per row fits in ``tile_fraction`` of the
        Fourier SLM and on the camera, and ``g_i`` tiles with ``K − 1`` pixels between them
        on the input SLM: ``g_i·(t + K − 1) − (K − 1)`` pixels."""
        kernel_size = checks.integer("kernel_size", kernel_size, 1)
        channels, images = self._grids()
        output = min(int(min(self.fourier_shape) * self.tile_fraction), min(self.camera_shape))
        side = min(output // (channels * images) - kernel_size + 1,
                   (min(self.input_shape) + kernel_size - 1) // images - kernel_size + 1)
        if side < 1:
            raise ValueError(f"a {kernel_size}-tap kernel with {self.channels_per_frame} "
                             f"channels and {self.images_per_frame} images per frame does not "
                             "fit on the input SLM, the Fourier SLM and the camera")
        return side

    def cost(self, image_shape, kernel_size: int, channels: int,
             readout: str = "intensity") -> dict:
        """Per image of ``image_shape`` through ``channels`` output kernels of
        ``kernel_size`` taps, in a stream of images: ``tiles`` (of this image, overlap-save),
        ``shots`` (of the input SLM: tiles / images_per_frame, each showing that many tiles of
        this and the next images), ``frames`` (camera frames: shots ×
        ⌈channels/channels_per_frame⌉, × 2 for the differential readout), ``rows`` (camera
        rows a frame reads: its outputs' grid), ``time`` (s: shots × max(1/f_input, frames
        per shot × :meth:`frame_time` of ``rows``), the input SLM loading the next shot while
        the camera takes this one's frames), ``conversions`` (ADC samples of this image's
        outputs), ``energy_devices`` (J: time × the sum of the laser, SLM and camera supply
        powers), ``energy_adc`` (conversions × adc_energy) and ``energy`` (their sum; the
        camera's supply power already contains its ADC, so this counts the ADC twice, by at
        most ``energy_adc``)."""
        h, w = checks.shape2("image_shape", image_shape)
        channels = checks.integer("channels", channels, 1)
        if readout not in ("intensity", "differential"):
            raise ValueError(f"readout must be 'intensity' or 'differential', got {readout!r}")
        side = self.tile(kernel_size)
        tiles = math.ceil(h / side) * math.ceil(w / side)
        shots = tiles / self.images_per_frame
        per_shot = math.ceil(channels / self.channels_per_frame) * (
            2 if readout == "differential" else 1)
        grid = math.prod(self._grids())
        rows = min(grid * (min(h, side) + kernel_size - 1), self.camera_shape[0])
        time = shots * max(1 / self.input_rate, per_shot * self.frame_time(rows))
        outputs = (min(h, side) + kernel_size - 1) * (min(w, side) + kernel_size - 1)
        conversions = tiles * per_shot * min(channels, self.channels_per_frame) * outputs
        supply = (self.laser_power + self.input_slm_power + self.fourier_slm_power
                  + self.camera_power)
        energy_adc = conversions * self.adc_energy
        return {"tile": side, "tiles": tiles, "shots": shots, "frames": shots * per_shot,
                "rows": rows, "time": time, "conversions": conversions,
                "energy_devices": time * supply, "energy_adc": energy_adc,
                "energy": time * supply + energy_adc}


def best_design(front_end: OpticalFrontEnd, image_shape, kernel_size: int, channels: int,
                readout: str = "intensity", channels_per_frame: int | None = None
                ) -> tuple[OpticalFrontEnd, dict]:
    """The fastest design (then the least energy) of ``front_end``'s devices for one image,
    and its :meth:`OpticalFrontEnd.cost`: over square grids of ``g_c²`` channel replicas
    (``channels_per_frame = min(g_c², channels)``, ``g_c = 1`` time-multiplexing every
    channel) and ``g_i²`` input tiles per frame (``g_i > 1`` only while a tile still holds
    the whole image, beyond which more tiles per shot only add guard bands), for every grid
    that fits (:meth:`OpticalFrontEnd.tile`); only ``channels_per_frame`` replicas when
    given."""
    h, w = checks.shape2("image_shape", image_shape)
    channels = checks.integer("channels", channels, 1)
    if channels_per_frame is None:
        choices = (min(grid ** 2, channels) for grid in range(1, channels + 1))
    else:
        choices = (checks.integer("channels_per_frame", channels_per_frame, 1, channels),)
    found = None
    for per_frame in choices:
        fits = False
        for image_grid in range(1, max(h, w) + 1):
            design = dataclasses.replace(front_end, channels_per_frame=per_frame,
                                         images_per_frame=image_grid ** 2)
            try:
                tile = design.tile(kernel_size)
            except ValueError:
                break
            if image_grid > 1 and tile < max(h, w):
                break
            fits = True
            result = design.cost((h, w), kernel_size, channels, readout)
            if found is None or (result["time"], result["energy"]) < (
                    found[1]["time"], found[1]["energy"]):
                found = (design, result)
        if not fits or per_frame == channels:
            break
    if found is None:
        raise ValueError(f"a {kernel_size}-tap kernel does not fit on the input SLM, the "
                         "Fourier SLM and the camera")
    return found
