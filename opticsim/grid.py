"""Sampling of a centred grid: coordinates, frequencies and the focal-plane pitch.

Grids are centred: sample index ``n // 2`` lies on the optical axis, so the coordinate of
sample ``i`` is ``(i - n // 2) * pitch``.
"""

from __future__ import annotations

import numpy as np


def coordinates(n: int, pitch: float) -> np.ndarray:
    """Sample positions (metres) of a centred axis of ``n`` samples, float64."""
    return (np.arange(n) - n // 2) * pitch


def radius_squared(shape: tuple[int, int], pitch: tuple[float, float]) -> np.ndarray:
    """r² = x² + y² (m²) on a centred ``(ny, nx)`` grid of pitch ``(dy, dx)``, float64."""
    y = coordinates(shape[0], pitch[0])[:, None]
    x = coordinates(shape[1], pitch[1])[None, :]
    return y * y + x * x


def polar(shape: tuple[int, int], pitch: tuple[float, float],
          radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised radius ρ = r / ``radius`` and azimuth θ (rad) on a centred grid."""
    y = coordinates(shape[0], pitch[0])[:, None]
    x = coordinates(shape[1], pitch[1])[None, :]
    return np.hypot(x, y) / radius, np.arctan2(y, x)


def focal_pitch(wavelength: float, focal_length: float, shape: tuple[int, int],
                pitch: tuple[float, float]) -> tuple[float, float]:
    """Pitch of a lens Fourier transform, ``λf / (N·dx)`` per axis (metres)."""
    return (wavelength * focal_length / (shape[0] * pitch[0]),
            wavelength * focal_length / (shape[1] * pitch[1]))


def place_centred(pattern_shape: tuple[int, int], grid_shape: tuple[int, int],
                  offset: tuple[int, int] | None = None) -> tuple[int, int]:
    """Row/column offset of a pattern on a larger grid; centred ((H − h)//2, (W − w)//2)."""
    if offset is None:
        return ((grid_shape[0] - pattern_shape[0]) // 2, (grid_shape[1] - pattern_shape[1]) // 2)
    oy, ox = int(offset[0]), int(offset[1])
    if (oy < 0 or ox < 0 or oy + pattern_shape[0] > grid_shape[0]
            or ox + pattern_shape[1] > grid_shape[1]):
        raise ValueError(
            f"offset {offset!r} places a {pattern_shape} pattern outside the {grid_shape} grid")
    return oy, ox


def invert(samples: np.ndarray) -> np.ndarray:
    """Samples at −x, −y of a centred grid: index n → (2·(N//2) − n) mod N on both axes.

    This undoes the image inversion of a 4f system of equal focal lengths.
    """
    ny, nx = samples.shape[-2:]
    return np.roll(samples[..., ::-1, ::-1], (1 - ny % 2, 1 - nx % 2), axis=(-2, -1))


def embed_centred(samples: np.ndarray, shape) -> np.ndarray:
    """Samples ``(..., h, w)`` on a centred ``shape`` grid at offset ((H − h)//2, (W − w)//2):
    zero-padded where the grid is larger, cropped where it is smaller."""
    h, w = samples.shape[-2:]
    if (h, w) == tuple(shape):
        return samples
    out = np.zeros(samples.shape[:-2] + tuple(shape), samples.dtype)
    oy, ox = (shape[0] - h) // 2, (shape[1] - w) // 2
    gy, gx = slice(max(oy, 0), min(oy + h, shape[0])), slice(max(ox, 0), min(ox + w, shape[1]))
    sy = slice(gy.start - oy, gy.stop - oy)
    sx = slice(gx.start - ox, gx.stop - ox)
    out[..., gy, gx] = samples[..., sy, sx]
    return out
