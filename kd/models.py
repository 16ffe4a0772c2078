"""Teacher, linear baseline and SCLC student (Xiang et al., Appl. Opt. 61(9):2173, 2022).

All three share the electronic back end :class:`Backend` (BatchNorm → 6×6 average pool →
fully connected layers with ReLU and dropout). They differ in the front end:

- :class:`Teacher`: 3×3 convolutions with ReLU between them (nonlinear).
- :class:`LinearCNN`: the same convolutions with no nonlinearity, so the whole front end is one
  linear convolution (the paper's linear baseline, trained on labels alone).
- :class:`SCLCStudent`: the spectral CNN linear counterpart. Its :class:`SpectralCascade` of
  linear layers collapses, for each (input, output) channel pair, into one kernel and hence one
  Fourier-plane mask ``M_oi(κ) = Σ_{c…} M³_oc(κ)·M²_cd(κ)·M¹_di(κ)`` that a 4f correlator
  displays; a camera then reads the square-law intensity ``|u ∗ h|²`` (or the differential
  ``|u ∗ h⁺|² − |u ∗ h⁻|²``) before the back end.

Shapes: images ``(B, C_in, H, W)``; logits ``(B, classes)``; segmentation logits
``(B, classes, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len
from torch import nn

from opticsim import checks
from opticsim.fourf import FourF
from opticsim.torch import mask_from_kernel

READOUTS = ("intensity", "differential")


def _channels(name: str, channels) -> tuple[int, ...]:
    channels = tuple(channels)
    if not channels:
        raise ValueError(f"{name} must hold at least one channel count")
    return tuple(checks.integer(name, c, 1) for c in channels)


class Backend(nn.Module):
    """The electronic back end: BatchNorm → average pool to ``pool``×``pool`` → FC ``hidden``
    (ReLU, dropout) → ``classes`` logits. Adaptive pooling makes it accept any frame size
    (a digital feature map, the optics' full convolution or a camera frame)."""

    def __init__(self, channels: int, classes: int, hidden=(512, 256), pool: int = 6,
                 dropout: float = 0.5):
        super().__init__()
        channels = checks.integer("channels", channels, 1)
        classes = checks.integer("classes", classes, 2)
        pool = checks.integer("pool", pool, 1)
        dropout = checks.in_range("dropout", dropout, 0.0, 1.0)
        layers: list[nn.Module] = [nn.BatchNorm2d(channels), nn.AdaptiveAvgPool2d(pool),
                                   nn.Flatten()]
        width = channels * pool * pool
        for size in _channels("hidden", hidden):
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


def _convolutions(in_channels: int, channels, kernel_size: int, nonlinear: bool,
                  downsample: int) -> nn.Sequential:
    """``kernel_size`` convolutions of ``channels`` (ReLU after each when ``nonlinear``), a
    ``downsample``× average pool between them (linear, so a linear stack stays linear)."""
    layers: list[nn.Module] = []
    for index, width in enumerate(channels):
        if index and downsample > 1:
            layers.append(nn.AvgPool2d(downsample))
        layers.append(nn.Conv2d(in_channels, width, kernel_size, padding=kernel_size // 2))
        if nonlinear:
            layers.append(nn.ReLU())
        in_channels = width
    return nn.Sequential(*layers)


class Teacher(nn.Module):
    """Nonlinear CNN: ``kernel_size`` convolutions of ``channels`` with ReLU (and a
    ``downsample``× average pool between them), then :class:`Backend`. The paper's teacher is
    ``channels=(32, 128, 256)`` at full resolution (``downsample=1``)."""

    nonlinear = True

    def __init__(self, in_channels: int = 1, classes: int = 10, channels=(8, 16, 32),
                 kernel_size: int = 3, hidden=(512, 256), dropout: float = 0.5,
                 downsample: int = 2):
        super().__init__()
        channels = _channels("channels", channels)
        self.features = _convolutions(checks.integer("in_channels", in_channels, 1), channels,
                                      checks.integer("kernel_size", kernel_size, 1),
                                      self.nonlinear, checks.integer("downsample", downsample, 1))
        self.backend = Backend(channels[-1], classes, hidden, dropout=dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backend(self.features(images))


class LinearCNN(Teacher):
    """The teacher with no nonlinearity between its convolutions: a linear front end."""

    nonlinear = False


class SpectralCascade(nn.Module):
    """A cascade of linear layers ``C_in → channels[0] → … → channels[-1]`` with real square
    kernels of ``kernel_size`` taps a side (no bias), seen in the Fourier plane.

    Layer ``l`` multiplies the spectrum of each of its input channels by the centred DFT of its
    kernel, ``M^l_cd(κ)`` (:func:`opticsim.torch.mask_from_kernel`), and sums over ``d``; the
    cascade is therefore, per frequency κ, the matrix product ``M^L(κ)···M¹(κ)``, one mask per
    (output, input) channel pair (:meth:`masks`). In space the same product is one kernel of
    ``L·(k − 1) + 1`` taps per pair (:meth:`kernel`), the full convolution of the layers'.
    """

    def __init__(self, in_channels: int = 1, channels=(8, 16, 32), kernel_size: int = 3):
        super().__init__()
        self.in_channels = checks.integer("in_channels", in_channels, 1)
        self.channels = _channels("channels", channels)
        kernel_size = checks.integer("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a centred kernel), got {kernel_size}")
        widths = (self.in_channels,) + self.channels
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(out, inp, kernel_size, kernel_size))
            for inp, out in zip(widths[:-1], widths[1:]))
        for weight in self.weights:
            nn.init.kaiming_uniform_(weight, a=5 ** 0.5)        # nn.Conv2d's default
        self.kernel_size = kernel_size

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    @property
    def kernel_shape(self) -> tuple[int, int]:
        """Taps of the collapsed kernel, ``L·(k − 1) + 1`` per axis."""
        size = len(self.channels) * (self.kernel_size - 1) + 1
        return (size, size)

    def kernel(self) -> torch.Tensor:
        """Collapsed ``F.conv2d`` weight ``(C_out, C_in, K, K)``: ``w_oi = Σ w³_oc ∗ w²_cd ∗ w¹_di``
        (full convolutions), since cross-correlating with each layer in turn is
        cross-correlating with the convolution of their weights."""
        kernel = self.weights[0]
        for weight in self.weights[1:]:
            # (C_in, C_l, K, K) as a batch of images, convolved with the next layer's kernels
            kernel = F.conv2d(kernel.transpose(0, 1), _convolution_kernel(weight),
                              padding=weight.shape[-1] - 1).transpose(0, 1)
        return kernel

    def convolution_kernel(self) -> torch.Tensor:
        """The collapsed kernel as a convolution kernel ``(C_out, C_in, K, K)`` (what
        :meth:`FourF.mask_from_kernel` takes): :meth:`kernel` flipped in y and x."""
        return _convolution_kernel(self.kernel())

    def masks(self, fourf: FourF) -> torch.Tensor:
        """Collapsed Fourier masks ``(C_out, C_in, *fourf.mask_shape)``: the per-frequency
        product of every layer's masks (the centred DFTs of its convolution kernels) summed over
        the intermediate channels. Equals the mask of :meth:`convolution_kernel` on any grid."""
        collapsed = None
        for weight in self.weights:
            layer = mask_from_kernel(fourf, _convolution_kernel(weight))
            collapsed = layer if collapsed is None else torch.einsum(
                "cdyx,diyx->ciyx", layer, collapsed)
        return collapsed

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Full linear convolution of ``images`` with the collapsed kernel,
        ``(B, C_out, H + K − 1, W + K − 1)`` (:func:`full_convolution`)."""
        return full_convolution(images, self.convolution_kernel())


def _convolution_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The convolution kernel of ``F.conv2d``'s cross-correlation weight (flipped in y and x),
    which the optics displays: ``(u ⋆ w)[x] = (u ∗ flip(w))[x]``."""
    return weight.flip(-2, -1)


def fft_shape(output_shape) -> tuple[int, ...]:
    """The real-FFT size :func:`full_convolution` pads a full convolution of ``output_shape``
    (``H + K − 1`` per axis) to: the next fast length of each axis."""
    return tuple(next_fast_len(n, real=True) for n in output_shape)


def full_convolution(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``Σ_i images_i ∗ kernel_oi``, the full linear convolution ``(B, C_out, H + K − 1,
    W + K − 1)`` of ``images`` ``(B, C_in, H, W)`` with convolution kernels
    ``(C_out, C_in, K, K)``, in the Fourier domain as the optics computes it: real FFTs padded
    past the wrap-around, one product per channel pair (twice as fast as ``F.conv2d`` for the
    13×13 kernels of the default student)."""
    out = (images.shape[-2] + kernel.shape[-2] - 1, images.shape[-1] + kernel.shape[-1] - 1)
    size = fft_shape(out)
    spectrum = torch.fft.rfft2(images, s=size)
    transfer = torch.fft.rfft2(kernel, s=size)
    product = torch.einsum("biyx,oiyx->boyx", spectrum, transfer)
    return torch.fft.irfft2(product, s=size)[..., :out[0], :out[1]]


def square_law(fields: torch.Tensor, readout: str = "intensity",
               negative: torch.Tensor | None = None) -> torch.Tensor:
    """What a camera reads of real convolution outputs: ``fields²`` (``"intensity"``), or
    ``fields² − negative²`` for the two captures of a ± kernel split (``"differential"``)."""
    if readout == "intensity":
        return fields ** 2
    if readout == "differential":
        return fields ** 2 - negative ** 2
    raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")


class SCLCStudent(nn.Module):
    """Optical student: :class:`SpectralCascade` (one 4f correlator, one mask per channel pair)
    → camera square law (``readout``) → :class:`Backend`.

    ``forward`` computes the ideal optics digitally: the 4f output of a mask is exactly the
    linear convolution with its kernel (tested against :class:`opticsim.torch.Optical4fConv`),
    so training costs one convolution. The hardware evaluations feed camera frames instead
    (engine or torch layer), mapped to these units by :class:`kd.hardware.Calibration`, to
    ``backend``.
    """

    def __init__(self, in_channels: int = 1, classes: int = 10, channels=(8, 16, 32),
                 kernel_size: int = 3, readout: str = "intensity", hidden=(512, 256),
                 dropout: float = 0.5):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        self.cascade = SpectralCascade(in_channels, channels, kernel_size)
        self.backend = Backend(self.cascade.out_channels, classes, hidden, dropout=dropout)

    def camera_signal(self, images: torch.Tensor) -> torch.Tensor:
        """Ideal camera signal ``(B, C_out, H + K − 1, W + K − 1)`` in the units of
        ``|u ∗ h|²`` (u the image, h the collapsed convolution kernel)."""
        if self.readout == "intensity":
            return square_law(self.cascade(images))
        kernel = self.cascade.convolution_kernel()
        positive = full_convolution(images, kernel.clamp(min=0))
        negative = full_convolution(images, (-kernel).clamp(min=0))
        return square_law(positive, "differential", negative)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backend(self.camera_signal(images))
