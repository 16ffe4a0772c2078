"""Zernike terms (Noll): ordering, normalisation, and their effect on a focused spot."""

import math

import numpy as np
import pytest

from opticsim import Field, Lens, zernike

NOLL = {1: (0, 0), 2: (1, 1), 3: (1, -1), 4: (2, 0), 5: (2, -2), 6: (2, 2), 7: (3, -1),
        8: (3, 1), 9: (3, -3), 10: (3, 3), 11: (4, 0), 12: (4, 2), 13: (4, -2), 14: (4, 4),
        15: (4, -4)}

WAVELENGTH, FOCAL_LENGTH, DIAMETER = 905e-9, 0.12, 3.2e-3


@pytest.mark.parametrize("index, nm", sorted(NOLL.items()))
def test_noll_index_to_radial_and_azimuthal_order(index, nm):
    assert zernike.noll_to_nm(index) == nm


@pytest.mark.parametrize("index", [0, -3, 2.0, True, "4"])
def test_bad_noll_index_is_rejected(index):
    with pytest.raises(ValueError, match="Noll index"):
        zernike.noll_to_nm(index)


def test_terms_are_orthonormal_over_the_unit_disk():
    """(1/π)∫∫ Z_i Z_j ρ dρ dθ = δ_ij, by Gauss-Legendre in ρ and a uniform rule in θ
    (both exact for these polynomial and trigonometric degrees)."""
    nodes, weights = np.polynomial.legendre.leggauss(16)
    rho, rho_weight = (nodes + 1) / 2, weights / 2
    theta = np.arange(32) * 2 * np.pi / 32
    rho_grid, theta_grid = np.meshgrid(rho, theta, indexing="ij")
    area_weight = (rho_weight * rho)[:, None] * (2 * np.pi / 32) / np.pi
    terms = np.array([zernike.zernike(j, rho_grid, theta_grid) for j in NOLL])
    gram = np.einsum("iab,jab,ab->ij", terms, terms, area_weight)
    np.testing.assert_allclose(gram, np.eye(len(NOLL)), atol=1e-12)


def test_wavefront_sums_coefficients_in_waves():
    rho, theta = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.3, np.pi / 2])
    waves = zernike.wavefront({4: 0.1, 2: -0.05}, rho, theta)
    expected = (0.1 * math.sqrt(3) * (2 * rho ** 2 - 1) - 0.05 * 2 * rho * np.cos(theta))
    np.testing.assert_allclose(waves, expected, rtol=1e-14)


def _plane_wave(n=256, pitch=DIAMETER / 200):
    return Field(np.ones((n, n), np.complex128), pitch, WAVELENGTH)


@pytest.mark.parametrize("sigma", [0.02, 0.045, -0.045])
def test_small_defocus_obeys_marechal(sigma):
    """Strehl of σ waves RMS of defocus: exp(−(2πσ)²) (Maréchal), and exactly
    sinc²(2√3·πσ) for a uniformly lit disk."""
    field = _plane_wave()
    on_axis = dict(out_pitch=1e-6, out_shape=(1, 1))
    ideal = Lens(FOCAL_LENGTH, DIAMETER).fourier(field, **on_axis).intensity[0, 0]
    aberrated = Lens(FOCAL_LENGTH, DIAMETER, {4: sigma}).fourier(field, **on_axis).intensity[0, 0]
    strehl = aberrated / ideal
    x = 2 * math.sqrt(3) * math.pi * abs(sigma)
    assert strehl == pytest.approx((math.sin(x) / x) ** 2, abs=1e-4)
    assert strehl == pytest.approx(math.exp(-(2 * math.pi * sigma) ** 2), abs=3e-3)
    assert strehl < 1 - 0.5 * (2 * math.pi * sigma) ** 2


def _peak_position(intensity, pitch):
    """Sub-sample peak of a 1-D profile by a parabola through the top three samples."""
    k = int(np.argmax(intensity))
    left, centre, right = intensity[k - 1:k + 2]
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    return (k - len(intensity) // 2 + offset) * pitch


@pytest.mark.parametrize("index, axis", [(2, -1), (3, -2)])
def test_tilt_shifts_the_focal_spot(index, axis):
    """Z2 (Z3) of c waves RMS is a wavefront 2c·x/R (2c·y/R): the spot moves by λf·2c/R
    along +x (+y), R = D/2, and not at all across."""
    c = 0.3713  # 37.13 output samples
    expected = WAVELENGTH * FOCAL_LENGTH * 2 * c / (DIAMETER / 2)
    pitch = WAVELENGTH * FOCAL_LENGTH / DIAMETER / 25
    lens = Lens(FOCAL_LENGTH, DIAMETER, {index: c})
    intensity = lens.fourier(_plane_wave(), out_pitch=pitch, out_shape=(121, 121)).intensity
    row, col = np.unravel_index(np.argmax(intensity), intensity.shape)
    along, across = (intensity[row], row - 60) if axis == -1 else (intensity[:, col], col - 60)
    assert _peak_position(along, pitch) == pytest.approx(expected, rel=1e-3)
    assert across == 0
