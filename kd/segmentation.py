"""Segmentation teacher, linear baseline and SCLC optical student (2 classes: background and
target digit on the cluttered scenes; Carvana in Xiang et al., Appl. Opt. 61(9):2173, 2022).

- :class:`SegTeacher`: a small U-Net (nonlinear CNN).
- :class:`SegBaseline`: the student's :class:`~kd.models.SpectralCascade` with no camera, its
  linear output read directly by the light electronic :class:`Decoder`.
- :class:`SegStudent`: the same cascade (one 4f correlator) → camera square law
  (:meth:`SCLCStudent.camera_signal <kd.models.SCLCStudent.camera_signal>`) → the same
  :class:`Decoder`. It has the attributes the bench functions of :mod:`kd.hardware` read
  (``cascade``, ``readout``, ``camera_signal``, ``backend`` taking full camera frames).

Shapes: images ``(B, C_in, H, W)``; logits ``(B, classes, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from opticsim import checks

from .models import READOUTS, SCLCStudent, SpectralCascade, _channels


def _convolution_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 convolution → BatchNorm → ReLU, at the input resolution."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class SegTeacher(nn.Module):
    """U-Net-like nonlinear CNN: encoder blocks of ``channels`` (3×3 conv + BatchNorm + ReLU)
    with 2× max pooling between them, a decoder that upsamples bilinearly,
    concatenates the encoder's skip at that scale and applies the same block, and a 1×1
    convolution to ``classes`` logits ``(B, classes, H, W)``."""

    def __init__(self, in_channels: int = 1, classes: int = 2, channels=(8, 16, 32)):
        super().__init__()
        channels = _channels("channels", channels)
        widths = (checks.integer("in_channels", in_channels, 1),) + channels
        self.encoder = nn.ModuleList(
            _convolution_block(inp, out) for inp, out in zip(widths[:-1], widths[1:]))
        self.decoder = nn.ModuleList(
            _convolution_block(deep + shallow, shallow)
            for deep, shallow in zip(channels[:0:-1], channels[-2::-1]))
        self.head = nn.Conv2d(channels[0], checks.integer("classes", classes, 2), 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features, skips = images, []
        for depth, block in enumerate(self.encoder):
            features = block(features if depth == 0 else F.max_pool2d(features, 2))
            skips.append(features)
        for block, skip in zip(self.decoder, skips[-2::-1]):
            features = F.interpolate(features, size=skip.shape[-2:], mode="bilinear",
                                     align_corners=False)
            features = block(torch.cat([features, skip], dim=1))
        return self.head(features)


class Decoder(nn.Module):
    """Light electronic decoder of full-convolution frames ``(B, C, H + 2m, W + 2m)``: crop
    ``margin`` m pixels from each side (back to the ``H``×``W`` image grid) → BatchNorm →
    3×3 convolution to ``width`` + ReLU → 1×1 convolution to ``classes`` logits."""

    def __init__(self, channels: int, classes: int = 2, width: int = 16, margin: int = 0):
        super().__init__()
        channels = checks.integer("channels", channels, 1)
        width = checks.integer("width", width, 1)
        self.margin = checks.integer("margin", margin, 0)
        self.layers = nn.Sequential(
            nn.BatchNorm2d(channels), nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, checks.integer("classes", classes, 2), 1))

    def crop(self, frames: torch.Tensor) -> torch.Tensor:
        """The centre of ``frames``: ``margin`` pixels fewer on each side."""
        m = self.margin
        return frames[..., m:frames.shape[-2] - m, m:frames.shape[-1] - m]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.layers(self.crop(frames))


class SegBaseline(nn.Module):
    """Linear front end: a :class:`SpectralCascade` of ``channels`` (``kernel_size`` taps per
    layer, collapsed kernel ``K = L·(k − 1) + 1``), whose full convolution ``(B, C, H + K − 1,
    W + K − 1)`` the :class:`Decoder` crops by ``(K − 1)/2`` per side and decodes."""

    def __init__(self, in_channels: int = 1, classes: int = 2, channels=(8, 16, 16),
                 kernel_size: int = 3, width: int = 16):
        super().__init__()
        self.cascade = SpectralCascade(in_channels, channels, kernel_size)
        self.backend = Decoder(self.cascade.out_channels, classes, width,
                               margin=(self.cascade.kernel_shape[0] - 1) // 2)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """What the decoder reads: the cascade's full convolution
        ``(B, C, H + K − 1, W + K − 1)``."""
        return self.cascade(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backend(self.features(images))


class SegStudent(SegBaseline):
    """SCLC optical student: the baseline's cascade and decoder with a camera between them,
    reading ``|u ∗ h|²`` (``"intensity"``) or ``|u ∗ h⁺|² − |u ∗ h⁻|²``
    (``"differential"``). With the same seed it starts from the baseline's weights."""

    def __init__(self, in_channels: int = 1, classes: int = 2, channels=(8, 16, 16),
                 kernel_size: int = 3, readout: str = "intensity", width: int = 16):
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        super().__init__(in_channels, classes, channels, kernel_size, width)
        self.readout = readout

    camera_signal = SCLCStudent.camera_signal

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The ideal camera signal ``(B, C, H + K − 1, W + K − 1)`` (:meth:`camera_signal`)."""
        return self.camera_signal(images)
