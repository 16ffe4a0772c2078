"""Field: samples with their sampling, units of irradiance and power, and input validation."""

import numpy as np
import pytest

from opticsim import Field, _kernels, fft


def test_power_and_intensity_units():
    """|E|² is W/m² and Σ|E|²·dy·dx is W: 3 √(W/m²) over a 20 × 30 grid of 4 µm × 5 µm
    samples is 9 W/m² and 9 × 600 × 20e-12 W."""
    field = Field(np.full((20, 30), 3.0), pitch=(4e-6, 5e-6), wavelength=1.3e-6)
    np.testing.assert_allclose(field.intensity, 9.0, rtol=1e-7)
    assert field.intensity.dtype == np.float32
    assert field.power == pytest.approx(9 * 600 * 20e-12, rel=1e-12)


@pytest.mark.parametrize("dtype, real", [(np.complex64, np.float32),
                                         (np.complex128, np.float64)])
def test_intensity_of_a_batch_is_the_squared_modulus(monkeypatch, dtype, real):
    """Every sample of a (3, 2, 37, 41) batch, over several row blocks of the parallel pass."""
    monkeypatch.setattr(_kernels, "TASK_SAMPLES", 41 * 10)
    rng = np.random.default_rng(4)
    data = (rng.standard_normal((3, 2, 37, 41)) + 1j * rng.standard_normal((3, 2, 37, 41)))
    field = Field(data.astype(dtype), 1e-6, 5e-7)
    intensity = field.intensity
    assert intensity.dtype == real and intensity.shape == data.shape
    np.testing.assert_allclose(intensity, np.abs(field.data.astype(np.complex128)) ** 2,
                               rtol=4 * np.finfo(real).eps)


def test_power_per_batch_entry():
    data = np.ones((2, 3, 8, 8), np.complex128)
    data[1, 2] *= 2j
    power = Field(data, 1e-5, 5e-7).power
    assert power.shape == (2, 3)
    np.testing.assert_allclose(power[0], 64e-10, rtol=1e-12)
    np.testing.assert_allclose(power[1], [64e-10, 64e-10, 4 * 64e-10], rtol=1e-12)


def test_samples_are_copied_aligned_and_typed():
    source = np.ones((6, 5))
    field = Field(source, 1e-6, 5e-7)
    source[0, 0] = 7
    assert field.data[0, 0] == 1
    assert field.data.dtype == np.complex64
    assert fft.is_aligned(field.data)
    assert Field(np.ones((4, 4), np.complex128), 1e-6, 5e-7).data.dtype == np.complex128
    assert field.pitch == (1e-6, 1e-6)
    assert Field(source, (2e-6, 3e-6), 5e-7).extent == pytest.approx((12e-6, 15e-6))


@pytest.mark.parametrize("n", [7, 8])
def test_coordinates_are_centred(n):
    field = Field(np.ones((n, n + 1)), (1e-6, 2e-6), 5e-7)
    assert field.y[n // 2] == 0 and field.x[(n + 1) // 2] == 0
    np.testing.assert_allclose(np.diff(field.x), 2e-6)
    assert field.shape == (n, n + 1)


def test_multiplication_by_transmittance():
    field = Field(np.full((2, 4, 4), 2.0), 1e-6, 5e-7)
    product = field * np.full((4, 4), 0.5j)
    np.testing.assert_allclose(product.data, 1j)
    assert product.pitch == field.pitch and product.wavelength == field.wavelength
    np.testing.assert_allclose(field.data, 2.0)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("transmittance_type, shape", [
    (np.float64, (96, 40)), (np.float32, (96, 40)), (np.complex128, (3, 96, 40)),
    (np.complex64, (96, 40)), (np.int64, (1, 96, 40)), (np.float64, (2, 1, 96, 40)),
])
def test_product_broadcasts_and_keeps_the_field_precision(dtype, transmittance_type, shape):
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((3, 96, 40)) + 1j * rng.standard_normal((3, 96, 40))
    field = Field(samples.astype(dtype), 1e-6, 5e-7)
    transmittance = rng.uniform(-2, 2, shape)
    if np.issubdtype(transmittance_type, np.complexfloating):
        transmittance = transmittance * np.exp(1j * rng.uniform(0, 6, shape))
    transmittance = transmittance.astype(transmittance_type)
    product = field * transmittance
    expected = field.data.astype(np.complex128) * transmittance
    assert product.data.dtype == dtype and product.data.shape == expected.shape
    # the transmittance cast to the field's dtype (u) and the complex product (√5·u) on one side,
    # the product on the other: (1 + 2√5)·u < 3ε, u = ε/2
    np.testing.assert_allclose(product.data, expected, rtol=3 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, complex(0, -np.inf)])
@pytest.mark.parametrize("shape", [(4000, 40), (3, 4000, 40)])
def test_non_finite_transmittance_is_found_in_any_block(bad, shape):
    field = Field(np.ones((3, 4000, 40)), 1e-6, 5e-7)
    transmittance = np.ones(shape, np.complex128)
    transmittance[..., 3999, 39] = bad          # in the last row block of the parallel pass
    with pytest.raises(ValueError, match="transmittance"):
        field * transmittance


@pytest.mark.parametrize("data, message", [
    (np.array([[1.0, np.nan]]), "data"),
    (np.array([[1.0, np.inf]]), "data"),
    (np.array([[1.0, complex(0, -np.inf)]]), "data"),
    (np.ones(5), "data"),
])
def test_bad_samples_are_rejected(data, message):
    with pytest.raises(ValueError, match=message):
        Field(data, 1e-6, 5e-7)


@pytest.mark.parametrize("pitch", [0, -1e-6, np.nan, np.inf, (1e-6, 0), (1e-6, 2e-6, 3e-6), "a"])
def test_bad_pitch_is_rejected(pitch):
    with pytest.raises(ValueError, match="pitch"):
        Field(np.ones((4, 4)), pitch, 5e-7)


@pytest.mark.parametrize("wavelength", [0, -5e-7, np.nan, np.inf, None])
def test_bad_wavelength_is_rejected(wavelength):
    with pytest.raises(ValueError, match="wavelength"):
        Field(np.ones((4, 4)), 1e-6, wavelength)


def test_bad_transmittance_is_rejected():
    field = Field(np.ones((4, 4)), 1e-6, 5e-7)
    with pytest.raises(ValueError, match="transmittance"):
        field * np.ones((4, 5))
    with pytest.raises(ValueError, match="transmittance"):
        field * np.ones(4)
    with pytest.raises(ValueError, match="transmittance"):
        field * np.full((4, 4), np.nan)
