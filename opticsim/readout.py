"""Readout schemes of a 4f correlator: signed kernels and several output channels.

- ``"intensity"``: the camera sees ``|u ∗ h|²``.
- ``"field"``: the ideal complex output ``u ∗ h`` (a reference no camera can measure).
- ``"differential"``: a signed real kernel is split ``h = h⁺ − h⁻`` (both ≥ 0) and shown as two
  masks; the two captures are subtracted, ``|u ∗ h⁺|² − |u ∗ h⁻|²`` (for a non-negative input
  each term is the square of a non-negative convolution).

Several output channels are either time-multiplexed (one frame per channel) or tiled: channel
``c``'s kernel is shifted by ``s_c`` samples, which on the Fourier SLM is the carrier
``exp(−i2π(k − c)·s_c/N)`` on its mask, and the sum of all channels is displayed at once, so
each channel's linear convolution lands in its own region of the camera.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .checks import SamplingWarning

READOUTS = ("intensity", "field", "differential")
MULTIPLEX = ("time", "tiled")


def split_signed(kernel) -> np.ndarray:
    """``(2, ...)`` stack ``[h⁺, h⁻]`` of a real kernel with ``h = h⁺ − h⁻``, both ≥ 0."""
    kernel = np.asarray(kernel)
    if np.iscomplexobj(kernel):
        raise ValueError("kernel must be real for a differential readout")
    return np.stack([np.maximum(kernel, 0), np.maximum(-kernel, 0)])


@dataclass(frozen=True)
class Layout:
    """Where input channels sit on the input plane and where output channels land.

    Input channel ``i``'s image is shifted by ``input_shifts[i]`` samples from the centred
    position and output channel ``c``'s result by ``output_shifts[c]``; the kernel of the pair
    ``(c, i)`` is therefore shifted by ``output_shifts[c] − input_shifts[i]``, which brings
    every input channel's contribution onto the same output region where the fields add, as a
    sum over input channels does. Cross terms (input ``i`` through kernel ``(c, j)``, j ≠ i)
    land a whole input period away, outside every output region. ``starts[c]`` is the first
    row/column of channel ``c``'s full linear convolution ``tile_shape`` on the upright output.
    """

    image_shape: tuple[int, int]
    kernel_shape: tuple[int, int]
    input_shifts: tuple[tuple[int, int], ...]
    output_shifts: tuple[tuple[int, int], ...]
    starts: tuple[tuple[int, int], ...]
    tiled: bool

    @property
    def tile_shape(self) -> tuple[int, int]:
        """Extent ``(H + K − 1, W + K − 1)`` of one channel's full linear convolution."""
        return (self.image_shape[0] + self.kernel_shape[0] - 1,
                self.image_shape[1] + self.kernel_shape[1] - 1)

    @property
    def in_channels(self) -> int:
        return len(self.input_shifts)

    @property
    def out_channels(self) -> int:
        return len(self.output_shifts)

    def extract(self, frames: np.ndarray, grid_shape, scale: float = 1.0) -> np.ndarray:
        """``(..., C, th, tw)`` output regions cut from upright frames.

        ``frames`` is ``(..., ny, nx)`` for tiled outputs (all channels in one frame) or
        ``(..., C, ny, nx)`` for time-multiplexed ones. Frames sampled differently from the
        ``grid_shape`` output grid (a camera) give ``scale`` = grid pitch / frame pitch; the
        regions are then mapped about the centres of both grids.
        """
        frame_shape = frames.shape[-2:]
        th, tw = (max(1, round(n * scale)) for n in self.tile_shape)
        starts = [tuple(round((s - g // 2) * scale) + f // 2
                        for s, g, f in zip(start, grid_shape, frame_shape))
                  for start in self.starts]
        for r, c in starts:
            if r < 0 or c < 0 or r + th > frame_shape[0] or c + tw > frame_shape[1]:
                raise ValueError(f"the output region at {(r, c)} of {(th, tw)} samples lies "
                                 f"outside the {frame_shape} frames")
        if self.tiled:
            return np.stack([frames[..., r:r + th, c:c + tw] for r, c in starts], axis=-3)
        r, c = starts[0]
        return frames[..., r:r + th, c:c + tw]

    def place(self, images: np.ndarray, grid_shape) -> np.ndarray:
        """Images ``(B, C_in, H, W)`` laid side by side on one ``(B, ny, nx)`` input pattern."""
        h, w = self.image_shape
        pattern = np.zeros((images.shape[0],) + tuple(grid_shape), images.dtype)
        oy, ox = (grid_shape[0] - h) // 2, (grid_shape[1] - w) // 2
        for channel, (sy, sx) in enumerate(self.input_shifts):
            pattern[:, oy + sy:oy + sy + h, ox + sx:ox + sx + w] = images[:, channel]
        return pattern

    def carriers(self, frequencies, grid_shape) -> np.ndarray:
        """Carrier ``(C_out, C_in, h, w)`` on each channel pair's mask: the shift theorem
        ``exp(−i2π·κ·(s_c − t_i)/N)`` at the mask samples κ = ``frequencies`` ``(κ_y, κ_x)``,
        in Fourier-grid samples from the axis (:meth:`FourF.mask_frequencies`)."""
        shifts = [(so[0] - si[0], so[1] - si[1])
                  for so in self.output_shifts for si in self.input_shifts]
        shape = (self.out_channels, self.in_channels, len(frequencies[0]), len(frequencies[1]))
        return carriers(shifts, frequencies, grid_shape).reshape(shape)

    def masks(self, pair_masks: np.ndarray, carrier: np.ndarray) -> np.ndarray:
        """Displayed masks from per-pair masks ``(C_out, C_in, h, w)`` (each the centred DFT of
        its kernel) and their :meth:`carriers`: ``M_c = Σ_i M_ci·carrier_ci``, then, when
        tiled, ``Σ_c M_c`` on one display. Returns ``(C_out, h, w)`` or ``(1, h, w)``."""
        combined = np.einsum("cihw,cihw->chw", pair_masks, carrier)
        return combined.sum(axis=0, keepdims=True) if self.tiled else combined


def layout(in_channels: int, out_channels: int, image_shape, kernel_shape, grid_shape,
           tiled: bool = False, gap: int = 1, replica_period=None) -> Layout:
    """Lay ``in_channels`` images side by side along x and ``out_channels`` outputs either
    time-multiplexed (all at the centre) or ``tiled`` in a near-square grid.

    Raises ``ValueError`` naming ``grid_shape`` when the input tiles, the output tiles or the
    cross terms of several input channels (a whole input period away) do not fit the grid,
    and warns with :class:`SamplingWarning` when the output span exceeds ``replica_period``
    ``(py, px)`` samples, the period at which a pixelated Fourier SLM replicates the output.
    """
    th = image_shape[0] + kernel_shape[0] - 1
    tw = image_shape[1] + kernel_shape[1] - 1
    cols = math.ceil(math.sqrt(out_channels)) if tiled else 1
    rows = math.ceil(out_channels / cols) if tiled else 1
    span = (rows * th + (rows - 1) * gap, cols * tw + (cols - 1) * gap)
    period = span[1] + tw + gap                       # input spacing along x
    needed = (span[0], span[1] + 2 * (in_channels - 1) * period)
    if needed[0] > grid_shape[0] or needed[1] > grid_shape[1]:
        raise ValueError(
            f"grid_shape {tuple(grid_shape)} cannot hold {in_channels} input and "
            f"{out_channels} {'tiled' if tiled else 'time-multiplexed'} output channels of "
            f"{th}×{tw}-sample convolutions: {needed} samples are needed")
    if replica_period is not None and (needed[0] > replica_period[0]
                                       or needed[1] > replica_period[1]):
        warnings.warn(
            f"the outputs and cross terms of {in_channels} input and {out_channels} output "
            f"channels span {needed} samples, but the pixelated Fourier SLM replicates the "
            f"output every {tuple(round(p, 2) for p in replica_period)} samples: replicas "
            "overlap the outputs and kernel shifts beyond half that period alias; use fewer "
            "channels, a Fourier SLM with less oversampling or time multiplexing",
            SamplingWarning, stacklevel=3)
    image_start = ((grid_shape[0] - image_shape[0]) // 2, (grid_shape[1] - image_shape[1]) // 2)
    base = (image_start[0] - kernel_shape[0] // 2, image_start[1] - kernel_shape[1] // 2)
    first = ((grid_shape[0] - span[0]) // 2, (grid_shape[1] - span[1]) // 2)
    starts, output_shifts = [], []
    for channel in range(out_channels):
        row, col = divmod(channel, cols) if tiled else (0, 0)
        start = ((first[0] + row * (th + gap), first[1] + col * (tw + gap)) if tiled else base)
        starts.append(start)
        output_shifts.append((start[0] - base[0], start[1] - base[1]))
    input_shifts = tuple((0, round((i - (in_channels - 1) / 2) * period))
                         for i in range(in_channels))
    return Layout(tuple(image_shape), tuple(kernel_shape), input_shifts, tuple(output_shifts),
                  tuple(starts), bool(tiled))


def carriers(shifts, frequencies, grid_shape) -> np.ndarray:
    """``(C, h, w)`` carriers ``exp(−i2π·κ·s/N)`` that shift channel ``c``'s kernel by
    ``s = (sy, sx)`` grid samples, at mask samples ``frequencies`` ``(κ_y, κ_x)`` (in
    Fourier-grid samples from the axis) of an ``N = grid_shape`` grid, complex128."""
    ky, kx = (np.asarray(k, np.float64) for k in frequencies)
    out = np.empty((len(shifts), ky.size, kx.size), np.complex128)
    for channel, (sy, sx) in enumerate(shifts):
        row = np.exp(-2j * np.pi * np.mod(ky * sy / grid_shape[0], 1.0))
        col = np.exp(-2j * np.pi * np.mod(kx * sx / grid_shape[1], 1.0))
        out[channel] = row[:, None] * col[None, :]
    return out
