"""Zernike polynomials in Noll's ordering and normalisation (J. Opt. Soc. Am. 66:207, 1976).

Each term has unit RMS over the unit disk, so a coefficient is the RMS wavefront error it adds.
"""

from __future__ import annotations

import math

import numpy as np

from . import checks


def noll_to_nm(index: int) -> tuple[int, int]:
    """Radial order n and signed azimuthal frequency m of Noll index ``index`` (≥ 1).

    Even indices carry cos(mθ) (m > 0), odd ones sin(−mθ) (m < 0): 2 → (1, 1), 3 → (1, −1),
    4 → (2, 0) defocus, 5 → (2, −2), 6 → (2, 2), 11 → (4, 0) spherical.
    """
    index = checks.integer("Noll index", index, 1)
    n = int((math.isqrt(8 * index - 7) - 1) // 2)
    position = index - n * (n + 1) // 2
    m = 2 * (position // 2) if n % 2 == 0 else 2 * ((position - 1) // 2) + 1
    return n, (-m if index % 2 and m else m)


def radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    """Radial polynomial
    R_n^|m|(ρ) = Σ_s (−1)^s (n−s)! / (s! ((n+m)/2−s)! ((n−m)/2−s)!) ρ^(n−2s)."""
    m = abs(m)
    result = np.zeros_like(rho)
    for s in range((n - m) // 2 + 1):
        coefficient = ((-1) ** s * math.factorial(n - s)
                       / (math.factorial(s) * math.factorial((n + m) // 2 - s)
                          * math.factorial((n - m) // 2 - s)))
        result += coefficient * rho ** (n - 2 * s)
    return result


def zernike(index: int, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Noll-normalised Zernike term ``index`` at normalised radius ρ and azimuth θ (rad)."""
    n, m = noll_to_nm(index)
    if m == 0:
        return math.sqrt(n + 1) * radial(n, m, rho)
    angular = np.cos(m * theta) if m > 0 else np.sin(-m * theta)
    return math.sqrt(2 * (n + 1)) * radial(n, m, rho) * angular


def wavefront(coefficients: dict, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Σ_j c_j Z_j(ρ, θ) in waves for ``{noll_index: c_j in waves RMS}``."""
    total = np.zeros(np.broadcast_shapes(rho.shape, theta.shape))
    for index, coefficient in coefficients.items():
        total += coefficient * zernike(index, rho, theta)
    return total
