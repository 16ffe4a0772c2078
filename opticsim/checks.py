"""Argument validation shared by every element, and the sampling warning.

Each check raises ``ValueError`` naming the argument and the allowed range, so a user
sees at once which value to change.
"""

from __future__ import annotations

import math

import numpy as np


class SamplingWarning(UserWarning):
    """A simulation setup would alias or wrap around; the message says what to change."""


def positive(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def non_negative(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def in_range(name: str, value, low: float, high: float, *, low_open: bool = False) -> float:
    """Return ``value`` as a float in [low, high] (or (low, high] when ``low_open``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    below = number <= low if low_open else number < low
    if not math.isfinite(number) or below or number > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")
    return number


def integer(name: str, value, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in [low, high] (no upper bound when ``high`` is None)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return number


def pair(name: str, value, check=positive) -> tuple[float, float]:
    """A scalar or a ``(y, x)`` pair, each validated with ``check``; returns ``(y, x)``."""
    values = np.atleast_1d(np.asarray(value, dtype=object))
    if values.ndim != 1 or values.size not in (1, 2):
        raise ValueError(f"{name} must be a scalar or a (y, x) pair, got {value!r}")
    checked = tuple(check(name, v) for v in values)
    return (checked[0], checked[0]) if len(checked) == 1 else (checked[0], checked[1])


def shape2(name: str, value) -> tuple[int, int]:
    """A grid shape given as ``n`` or ``(ny, nx)``, each an integer >= 1."""
    values = np.atleast_1d(np.asarray(value, dtype=object))
    if values.ndim != 1 or values.size not in (1, 2):
        raise ValueError(f"{name} must be an integer or a (ny, nx) pair, got {value!r}")
    checked = tuple(integer(name, v, 1) for v in values)
    return (checked[0], checked[0]) if len(checked) == 1 else (checked[0], checked[1])


def finite_array(name: str, array: np.ndarray, min_ndim: int = 2) -> np.ndarray:
    """Raise unless ``array`` has at least ``min_ndim`` axes and only finite samples."""
    if array.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} axes (..., ny, nx), got shape {array.shape}")
    if array.size and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    return array
