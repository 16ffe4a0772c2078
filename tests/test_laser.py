"""Laser: the stated power lands on any grid, with the right profile and irradiance units."""

import numpy as np
import pytest

from opticsim import Laser
from tolerances import eps

GRIDS = [((64, 64), (5e-6, 5e-6)), ((33, 48), (7e-6, 3e-6)), ((1, 9), (2e-5, 1e-5))]


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape, pitch", GRIDS)
@pytest.mark.parametrize("profile, waist", [("flat", None), ("gaussian", 60e-6)])
def test_power_on_the_grid_equals_the_stated_power(dtype, shape, pitch, profile, waist):
    laser = Laser(780e-9, 2.5e-3, profile, waist)
    field = laser.field(shape, pitch, dtype)
    assert field.data.dtype == dtype
    assert field.wavelength == 780e-9 and field.pitch == pitch
    # complex64: each sample's |E|² is off by ≤ 2ε (float32 amplitude, then squared), summed
    # in float64
    rtol = 4 * eps(np.float32) if dtype == np.complex64 else 1e-13
    assert field.power == pytest.approx(2.5e-3, rel=rtol)


def test_flat_irradiance_is_power_over_area():
    """3 mW over a 1.2 mm × 0.8 mm window is 3125 W/m² everywhere."""
    field = Laser(405e-9, 3e-3).field((120, 100), (1e-5, 8e-6), np.complex128)
    np.testing.assert_allclose(field.intensity, 3e-3 / (1.2e-3 * 0.8e-3), rtol=1e-12)


def test_gaussian_waist_is_the_one_over_e_squared_radius():
    """A 150 µm waist, well inside the window: peak irradiance 2P/(πw²), e⁻² of it at r = w."""
    waist, power = 150e-6, 4e-3
    field = Laser(1064e-9, power, "gaussian", waist).field((257, 257), 3e-6, np.complex128)
    intensity = field.intensity
    peak = intensity[128, 128]
    assert peak == pytest.approx(2 * power / (np.pi * waist ** 2), rel=1e-5)  # window ±2.6 w
    assert intensity[128, 128 + 50] / peak == pytest.approx(np.exp(-2), rel=1e-9)
    assert intensity[128 - 50, 128] / peak == pytest.approx(np.exp(-2), rel=1e-9)


@pytest.mark.parametrize("kwargs, name", [
    (dict(wavelength=0, power=1e-3), "wavelength"),
    (dict(wavelength=-633e-9, power=1e-3), "wavelength"),
    (dict(wavelength=np.nan, power=1e-3), "wavelength"),
    (dict(wavelength=633e-9, power=0), "power"),
    (dict(wavelength=633e-9, power=np.inf), "power"),
    (dict(wavelength=633e-9, power=1e-3, profile="tophat"), "profile"),
    (dict(wavelength=633e-9, power=1e-3, profile="gaussian"), "waist"),
    (dict(wavelength=633e-9, power=1e-3, profile="gaussian", waist=-1e-3), "waist"),
    (dict(wavelength=633e-9, power=1e-3, waist=1e-3), "waist"),
])
def test_bad_arguments_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Laser(**kwargs)


def test_bad_grid_is_rejected():
    laser = Laser(633e-9, 1e-3)
    with pytest.raises(ValueError, match="shape"):
        laser.field((0, 8), 1e-6)
    with pytest.raises(ValueError, match="pitch"):
        laser.field((8, 8), -1e-6)
    with pytest.raises(ValueError, match="dtype"):
        laser.field((8, 8), 1e-6, np.float32)
