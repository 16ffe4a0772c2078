"""Thin lens: Airy pattern of its clear aperture, the focusing chirp, pupil and validation."""

import math
import pickle
import warnings

import numpy as np
import pytest

from opticsim import Field, Lens, SamplingWarning
from opticsim.lens import circular_aperture
from opticsim.propagate import angular_spectrum, lens_ft

# Airy pattern of a 4 mm aperture behind f = 150 mm at 850 nm, 100 samples across D
WAVELENGTH, FOCAL_LENGTH, DIAMETER = 850e-9, 0.15, 4e-3
AIRY_UNIT = WAVELENGTH * FOCAL_LENGTH / DIAMETER


def _plane_wave(n=256, pitch=DIAMETER / 100, dtype=np.complex128):
    return Field(np.ones((n, n), dtype), pitch, WAVELENGTH)


def _zero_crossings(values, pitch):
    """Positions of the sign changes of a real profile starting on the axis (sample 0)."""
    k = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    return (k + values[k] / (values[k] - values[k + 1])) * pitch


def test_airy_zeros():
    """The focal field of a uniformly lit disk is real (times 1/i); its sign changes at
    1.2197 and 2.2331 λf/D."""
    pitch = AIRY_UNIT / 100
    cut = Lens(FOCAL_LENGTH, DIAMETER).fourier(_plane_wave(), out_pitch=pitch,
                                               out_shape=(1, 501)).data[0, 250:]
    real = (1j * cut).real
    assert np.abs((1j * cut).imag).max() < 1e-12 * np.abs(real).max()
    zeros = _zero_crossings(real, pitch) / AIRY_UNIT
    np.testing.assert_allclose(zeros, [1.21967, 2.23313], rtol=2e-3)


def test_airy_core_holds_83_8_percent_of_the_power():
    """Power inside the first dark ring, 1 − J0²(3.8317) = 83.78% of the power that passes
    the aperture, I0·πD²/4."""
    first_zero = 1.21967 * AIRY_UNIT
    pitch = first_zero / 40
    focal = Lens(FOCAL_LENGTH, DIAMETER).fourier(_plane_wave(), out_pitch=pitch,
                                                 out_shape=(101, 101))
    radius = np.hypot(focal.x[None, :], focal.y[:, None])
    core = focal.intensity[radius <= first_zero].sum() * pitch ** 2
    transmitted = math.pi * DIAMETER ** 2 / 4
    assert core / transmitted == pytest.approx(0.83778, abs=1e-3)


def test_fourier_applies_the_pupil_then_the_lens_transform():
    lens = Lens(FOCAL_LENGTH, DIAMETER, {4: 0.1, 7: -0.05})
    field = _plane_wave(64, DIAMETER / 40)
    pupil = lens.pupil(field.shape, field.pitch, np.complex128)
    np.testing.assert_allclose(lens.fourier(field).data,
                               lens_ft(field * pupil, FOCAL_LENGTH).data, rtol=1e-13)
    assert Lens(FOCAL_LENGTH).pupil(field.shape, field.pitch) is None
    assert Lens(FOCAL_LENGTH).apply_pupil(field) is field


def test_pupil_area_and_aberration_phase():
    """The grey-edged disk transmits the area πD²/4 (amplitude sum), and inside it the phase
    is 2π·Σc_j Z_j."""
    lens = Lens(FOCAL_LENGTH, DIAMETER, {5: 0.08})
    pitch = DIAMETER / 37.3
    pupil = lens.pupil((64, 64), pitch, np.complex128)
    assert np.abs(pupil).sum() * pitch ** 2 == pytest.approx(math.pi * DIAMETER ** 2 / 4,
                                                             rel=2e-3)
    y, x = np.mgrid[-32:32, -32:32] * pitch / (DIAMETER / 2)
    inside = np.hypot(x, y) < 0.95
    expected = 2 * np.pi * 0.08 * math.sqrt(6) * 2 * x * y
    np.testing.assert_allclose(np.angle(pupil[inside]), expected[inside], atol=1e-12)


def test_circular_aperture_profile():
    aperture = circular_aperture((9, 9), (1.0, 1.0), 5.0)
    assert aperture[4, 4] == 1 and aperture[0, 0] == 0
    assert aperture[4, 6] == 1 and aperture[4, 8] == 0
    assert aperture[4, 7] == pytest.approx(0.0)
    assert 0 < aperture[2, 6] < 1


def test_thin_lens_then_free_space_focuses_like_the_lens_transform():
    """u·exp(−iπr²/(λf)) propagated by f (angular spectrum) is, in intensity, the lens
    transform of u; on the chosen grid f = N·dx²/λ both are sampled at dx. On the axis the
    fields agree up to the exp(ikf) carrier."""
    n, pitch, wavelength = 256, 8e-6, 0.8e-6
    focal_length = n * pitch ** 2 / wavelength
    lens = Lens(focal_length, 1.6e-3)
    field = Field(np.ones((n, n), np.complex128), pitch, wavelength)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        focused = angular_spectrum(lens.apply(field), focal_length)
    transform = lens_ft(lens.apply_pupil(field), focal_length)
    assert transform.pitch == pytest.approx((pitch, pitch))
    peak = transform.intensity.max()
    assert np.abs(focused.intensity - transform.intensity).max() < 5e-3 * peak
    carrier = np.exp(2j * np.pi * focal_length / wavelength)
    axis = focused.data[n // 2, n // 2] / (carrier * transform.data[n // 2, n // 2])
    assert abs(np.angle(axis)) < 0.03 and abs(axis) == pytest.approx(1, abs=5e-3)


def test_undersampled_lens_chirp_warns():
    """The chirp's local frequency x/(λf) passes Nyquist 1/(2dx) at x = λf/(2dx): 0.4 mm for
    f = 50 mm at 160 nm, inside the ±0.64 mm window; the axes are what matters, not the
    corners (f = 1.01·N·dx²/λ is sampled out to ±0.646 mm)."""
    with pytest.warns(SamplingWarning, match="undersampled"):
        Lens(0.05).transmittance((128, 128), 10e-6, 0.16e-6)
    with pytest.warns(SamplingWarning, match="undersampled"):
        Lens(0.05).transmittance((128, 128), (10e-6, 5e-6), 0.16e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        Lens(0.05).transmittance((128, 128), 10e-6, 0.8e-6)
        Lens(0.05, diameter=0.7e-3).transmittance((128, 128), 10e-6, 0.16e-6)
        Lens(1.01 * 128 * 10e-6 ** 2 / 0.5e-6).transmittance((128, 128), 10e-6, 0.5e-6)


def test_transmittance_is_the_thin_lens_phase():
    lens = Lens(0.3)
    transmittance = lens.transmittance((5, 6), (2e-5, 3e-5), 1.55e-6, np.complex128)
    y, x = (np.arange(5) - 2)[:, None] * 2e-5, (np.arange(6) - 3)[None, :] * 3e-5
    expected = np.exp(-1j * np.pi * (x ** 2 + y ** 2) / (1.55e-6 * 0.3))
    np.testing.assert_allclose(transmittance, expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs, name", [
    (dict(focal_length=0), "focal_length"),
    (dict(focal_length=-0.1), "focal_length"),
    (dict(focal_length=np.nan), "focal_length"),
    (dict(focal_length=0.1, diameter=0), "diameter"),
    (dict(focal_length=0.1, diameter=-1e-3), "diameter"),
    (dict(focal_length=0.1, diameter=1e-3, zernike={4: np.nan}), "zernike"),
    (dict(focal_length=0.1, diameter=1e-3, zernike={0: 0.1}), "Noll"),
    (dict(focal_length=0.1, zernike={4: 0.1}), "diameter"),
])
def test_bad_arguments_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Lens(**kwargs)


def test_bad_transmittance_arguments_are_rejected():
    lens = Lens(0.1)
    with pytest.raises(ValueError, match="wavelength"):
        lens.transmittance((8, 8), 1e-6, 0)
    with pytest.raises(ValueError, match="pitch"):
        lens.transmittance((8, 8), -1e-6, 5e-7)
    with pytest.raises(ValueError, match="shape"):
        lens.transmittance((8, 0), 1e-6, 5e-7)


def test_an_aberrated_lens_pickles_with_its_pupil():
    """Process pools and Dask pickle elements; the Zernike terms survive the round trip."""
    lens = Lens(FOCAL_LENGTH, DIAMETER, {4: 0.1, 11: -0.05})
    copied = pickle.loads(pickle.dumps(lens))
    assert dict(copied.zernike) == {4: 0.1, 11: -0.05} and copied.diameter == DIAMETER
    np.testing.assert_array_equal(copied.pupil((32, 32), (2e-4, 2e-4)),
                                  lens.pupil((32, 32), (2e-4, 2e-4)))
