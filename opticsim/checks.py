"""Argument validation shared by every element, and the sampling warning.

Each check raises ``ValueError`` naming the argument and the allowed range, or
:class:`ArgumentTypeError` (a ``TypeError``) for a value of the wrong type, so a user sees at
once which value to change. User data is checked where it enters the engine (a ``Field``, an
image stack, a mask, a kernel); what the engine computes from it is not checked again.
"""

from __future__ import annotations

import math

import numpy as np


class SamplingWarning(UserWarning):
    """A simulation setup would alias or wrap around; the message says what to change."""


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type. A ``TypeError``, and a ``ValueError`` as well, so code
    that caught the ``ValueError`` these checks raised before still catches it."""


def _real(name: str, value, allowed: str) -> float:
    """``value`` as a float; :class:`ArgumentTypeError` for a bool, a string or anything else
    that is not a real number (``allowed`` says what is)."""
    if isinstance(value, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise ArgumentTypeError(f"{name} must be {allowed}, got {value!r}")
    try:
        return float(value)
    except OverflowError:                   # an int beyond float range: not finite
        return math.inf
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be {allowed}, got {value!r}") from None


def positive(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    number = _real(name, value, "a finite number > 0")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def non_negative(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and >= 0."""
    number = _real(name, value, "a finite number >= 0")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def finite(name: str, value, unit: str) -> float:
    """Return ``value`` as a float, or raise unless it is a finite real number (of ``unit``)."""
    number = _real(name, value, f"a finite real number ({unit})")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite real number ({unit}), got {value!r}")
    return number


def in_range(name: str, value, low: float, high: float, *, low_open: bool = False) -> float:
    """Return ``value`` as a float in [low, high] (or (low, high] when ``low_open``)."""
    bracket = "(" if low_open else "["
    number = _real(name, value, f"a number in {bracket}{low}, {high}]")
    below = number <= low if low_open else number < low
    if not math.isfinite(number) or below or number > high:
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")
    return number


def integer(name: str, value, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in [low, high] (no upper bound when ``high`` is None)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer >= {low}, got {value!r}")
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


def instance(name: str, value, kind: type, optional: bool = False):
    """Return ``value``, or raise :class:`ArgumentTypeError` unless it is a ``kind`` (or None
    when ``optional``), e.g. a plain array where an ``opticsim.Field`` is needed."""
    if (value is None and optional) or isinstance(value, kind):
        return value
    module = kind.__module__.split(".")[0]
    article = "an" if module[0] in "aeiou" else "a"
    raise ArgumentTypeError(f"{name} must be {article} {module}.{kind.__name__}"
                            f"{' or None' if optional else ''}, got {type(value).__name__}")


def generator(name: str, value) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``value``: None (fresh entropy), an integer seed >= 0,
    a ``SeedSequence``, a ``BitGenerator`` or a ``Generator`` (used as it is)."""
    if isinstance(value, (np.random.Generator, np.random.SeedSequence,
                          np.random.BitGenerator)) or value is None:
        return np.random.default_rng(value)
    allowed = "None, an integer seed >= 0 or a numpy.random.Generator"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be {allowed}, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return np.random.default_rng(int(value))


def distance(name: str, value, wavelength: float) -> float:
    """A propagation distance (m) in ``(0, 1e14·λ]``: beyond it the float64 carrier phase
    ``2πz/λ`` is off by more than 0.1 rad (relative precision 2⁻⁵³), so it means nothing."""
    number = positive(name, value)
    if number > 1e14 * wavelength:
        raise ValueError(f"{name} must be in (0, 1e14·λ] = (0, {1e14 * wavelength:.4g}] m, "
                         f"where the carrier phase 2πz/λ is still resolved in float64, "
                         f"got {value!r}")
    return number


def numeric(name: str, array: np.ndarray) -> np.ndarray:
    """Raise :class:`ArgumentTypeError` unless ``array`` holds numbers (bool, integer, real or
    complex), not strings, objects or dates."""
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ArgumentTypeError(f"{name} must be an array of numbers, got dtype {array.dtype}")
    return array


def sample_array(name: str, array: np.ndarray, min_ndim: int = 2) -> np.ndarray:
    """Raise unless ``array`` holds numbers (:func:`numeric`) on at least ``min_ndim`` axes."""
    numeric(name, array)
    if array.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} axes (..., ny, nx), got shape {array.shape}")
    return array


def finite_array(name: str, array: np.ndarray, min_ndim: int = 2) -> np.ndarray:
    """:func:`sample_array`, and only finite samples."""
    sample_array(name, array, min_ndim)
    all_finite(name, not array.size or bool(np.isfinite(array).all()))
    return array


def all_finite(name: str, finite: bool) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``finite``, the outcome of a finite-check
    done where the data lives (NumPy, a numba pass, a torch tensor)."""
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite samples")


def representable(name: str, samples: np.ndarray, source=None) -> np.ndarray:
    """Raise unless the complex ``samples`` (C-contiguous) are finite with ``|x|²`` finite in
    their precision: ``|x| <= sqrt(max/2)`` of the real type (1.3e19 for complex64), so that
    the irradiance ``|E|²`` does not overflow. ``source``, what they were cast from, names the
    cause: NaN/inf given, or finite values that overflow the cast. Two reductions, no copy."""
    real = samples.real.dtype
    limit = math.sqrt(np.finfo(real).max / 2)
    parts = samples.reshape(-1).view(real)
    if not parts.size or (parts.max() <= limit and parts.min() >= -limit):
        return samples                      # NaN fails both comparisons
    if source is not None and not np.isfinite(source).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    raise ValueError(f"{name} overflows {samples.dtype}: |x| must stay below {limit:.3g} so "
                     f"that |x|² fits {real}; use complex128 or smaller values")
