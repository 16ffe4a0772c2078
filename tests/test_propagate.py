"""Propagators against closed-form diffraction: lens transform (FFT and matrix FT), band-limited
angular spectrum and Fresnel (transfer function / impulse response), their sampling warnings and
argument checks."""

import contextlib
import math
import warnings

import numpy as np
import pytest
from scipy.special import fresnel as fresnel_integrals

from opticsim import Field, SamplingWarning, propagate
from opticsim.grid import invert
from opticsim.propagate import angular_spectrum, critical_distance, fresnel, lens_ft
from tolerances import eps, fft_rounding


def _axes(shape, pitch):
    ny, nx = shape
    dy, dx = (pitch, pitch) if np.isscalar(pitch) else pitch
    return (np.arange(ny) - ny // 2)[:, None] * dy, (np.arange(nx) - nx // 2)[None, :] * dx


def _gaussian(shape, pitch, wavelength, waist, dtype=np.complex128):
    y, x = _axes(shape, pitch)
    return Field(np.exp(-(x ** 2 + y ** 2) / waist ** 2).astype(dtype), pitch, wavelength)


def _square(n, side, pitch, wavelength):
    """A centred open square of ``side`` samples on an ``n × n`` grid."""
    data = np.zeros((n, n), np.complex128)
    start = n // 2 - side // 2
    data[start:start + side, start:start + side] = 1
    return Field(data, pitch, wavelength)


@contextlib.contextmanager
def _no_sampling_warning():
    """Turn a SamplingWarning into a test failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        yield


def _relative_error(value, reference):
    return np.linalg.norm(value - reference) / np.linalg.norm(reference)


def _peak(values, pitch):
    """Sub-sample position and height of the maximum of a 1-D profile (parabola fit)."""
    k = int(np.argmax(values))
    left, centre, right = values[k - 1:k + 2]
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    return (k + offset) * pitch, centre - 0.25 * (left - right) * offset


def _zero_crossings(values, pitch):
    k = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    return (k + values[k] / (values[k] - values[k + 1])) * pitch


# --- lens Fourier transform -----------------------------------------------------------------


@pytest.mark.parametrize("axis", ["x", "y"])
def test_rectangle_sinc_zeros_and_side_lobe(axis):
    """A 1.22 mm × 0.82 mm opening behind f = 0.3 m at 1.55 µm: along each axis the focal
    field is sinc(a·u/(λf)) with zeros at λf/a, 2λf/a and the first side lobe 4.72% of the peak
    at 1.4303 λf/a."""
    wavelength, focal_length, pitch = 1.55e-6, 0.3, 20e-6
    data = np.zeros((128, 128), np.complex128)
    data[64 - 20:64 + 21, 64 - 30:64 + 31] = 1            # 41 rows (0.82 mm) × 61 columns
    width = 61 * pitch if axis == "x" else 41 * pitch
    unit = wavelength * focal_length / width
    out_pitch = unit / 100
    shape = (1, 501) if axis == "x" else (501, 1)
    focal = lens_ft(Field(data, pitch, wavelength), focal_length, out_pitch, shape)
    profile = (1j * focal.data).real.ravel()[250:]
    assert np.abs((1j * focal.data).imag).max() < 1e-12 * np.abs(profile).max()
    np.testing.assert_allclose(_zero_crossings(profile, out_pitch) / unit, [1, 2], rtol=1e-3)
    lobe = slice(101, 199)
    position, height = _peak(profile[lobe] ** 2, out_pitch)
    assert (position + 101 * out_pitch) / unit == pytest.approx(1.4303, rel=2e-3)
    assert height / profile[0] ** 2 == pytest.approx(0.04719, abs=3e-4)


def test_focused_gaussian_waist():
    """A 1.5 mm (1/e² radius) beam at 1.064 µm behind f = 0.25 m: waist λf/(πw) = 56.4 µm."""
    wavelength, focal_length, waist = 1.064e-6, 0.25, 1.5e-3
    expected = wavelength * focal_length / (math.pi * waist)
    beam = _gaussian((256, 256), 40e-6, wavelength, waist)
    out_pitch = expected / 12
    focal = lens_ft(beam, focal_length, out_pitch, (129, 129))
    y, x = _axes(focal.shape, out_pitch)
    intensity = focal.intensity
    radius = math.sqrt(2 * (intensity * (x ** 2 + y ** 2)).sum() / intensity.sum())
    assert radius == pytest.approx(expected, rel=2e-3)


@pytest.mark.parametrize("shape", [(16, 16), (15, 17), (17, 12)])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_lens_transform_conserves_power(shape, dtype):
    rng = np.random.default_rng(7)
    data = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    field = Field(data, (3e-6, 5e-6), 633e-9)
    focal = lens_ft(field, 0.08)
    assert focal.pitch == pytest.approx((633e-9 * 0.08 / (shape[0] * 3e-6),
                                         633e-9 * 0.08 / (shape[1] * 5e-6)))
    assert focal.data.dtype == dtype
    # |U|² doubles the FFT's rounding; the samples' own rounding adds 2ε
    rtol = 2 * fft_rounding(dtype, shape[0] * shape[1]) + 2 * eps(dtype)
    assert focal.power == pytest.approx(field.power, rel=rtol)


@pytest.mark.parametrize("shape", [(16, 16), (15, 15), (14, 11)])
def test_two_lens_transforms_invert_the_field(shape):
    """Two transforms of equal focal length give −u(−x): index n → (2·(N//2) − n) mod N."""
    rng = np.random.default_rng(8)
    field = Field(rng.standard_normal(shape) + 1j * rng.standard_normal(shape), 4e-6, 5e-7)
    twice = lens_ft(lens_ft(field, 0.1), 0.1)
    assert twice.pitch == pytest.approx(field.pitch)
    np.testing.assert_allclose(twice.data, -invert(field.data), atol=1e-12)
    if shape[0] % 2 == 0 and shape[1] % 2 == 0:
        n = np.arange(shape[0])
        np.testing.assert_allclose(twice.data[:, 0], -field.data[(-n) % shape[0], 0],
                                   atol=1e-12)


def _direct_dft(data, pitch, wavelength, focal_length, out_pitch, out_shape):
    """U(v, u) = dy·dx/(iλf) Σ_n Σ_m u[n, m] exp(−i2π(y_n v + x_m u)/(λf)), double loop."""
    (y, x), (v, u) = _axes(data.shape, pitch), _axes(out_shape, out_pitch)
    out = np.zeros(out_shape, np.complex128)
    for row in range(data.shape[0]):
        for col in range(data.shape[1]):
            out += data[row, col] * np.exp(-2j * np.pi * (y[row, 0] * v + x[0, col] * u)
                                           / (wavelength * focal_length))
    return out * pitch[0] * pitch[1] / (1j * wavelength * focal_length)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_matrix_transform_equals_a_direct_sum(dtype):
    """The focal plane sampled at 13 × 9 points of pitch (23 µm, 37 µm), unrelated to the
    natural pitch, from a (2, 11, 8) batch at (4 µm, 3 µm)."""
    rng = np.random.default_rng(9)
    data = rng.standard_normal((2, 11, 8)) + 1j * rng.standard_normal((2, 11, 8))
    pitch, wavelength, focal_length = (4e-6, 3e-6), 780e-9, 0.11
    out_pitch, out_shape = (23e-6, 37e-6), (13, 9)
    field = Field(data.astype(dtype), pitch, wavelength)
    focal = lens_ft(field, focal_length, out_pitch=out_pitch, out_shape=out_shape)
    assert focal.data.shape == (2,) + out_shape and focal.pitch == out_pitch
    assert focal.data.dtype == dtype
    rtol = 11 * 8 * eps(dtype)      # the double loop sums 11·8 terms, the products 11 and 8
    for b in range(2):
        expected = _direct_dft(data[b], pitch, wavelength, focal_length, out_pitch, out_shape)
        np.testing.assert_allclose(focal.data[b], expected, rtol=rtol,
                                   atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("shape", [(32, 32), (31, 33), (20, 25)])
def test_matrix_transform_at_the_natural_pitch_equals_the_fft(shape):
    rng = np.random.default_rng(10)
    field = Field(rng.standard_normal(shape) + 1j * rng.standard_normal(shape),
                  (6e-6, 4e-6), 532e-9)
    natural = lens_ft(field, 0.2)
    matrix = lens_ft(field, 0.2, out_pitch=natural.pitch, out_shape=shape)
    np.testing.assert_allclose(matrix.data, natural.data, rtol=1e-11,
                               atol=1e-11 * np.abs(natural.data).max())
    only_shape = lens_ft(field, 0.2, out_shape=shape)
    np.testing.assert_allclose(only_shape.data, natural.data, atol=1e-11 * np.abs(
        natural.data).max())


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("in_shape, out_shape", [((40, 40), (40, 40)), ((37, 50), (61, 29)),
                                                 ((160, 96), (96, 150))])
def test_chirp_z_transform_equals_the_matrix_transform(dtype, in_shape, out_shape):
    """Bluestein's chirp-z path and the matrix products give the same focal plane (relative
    to its norm), at a pitch unrelated to the natural one, odd and even sizes, a batch."""
    rng = np.random.default_rng(11)
    data = rng.standard_normal((2,) + in_shape) + 1j * rng.standard_normal((2,) + in_shape)
    field = Field(data.astype(dtype), (4e-6, 5e-6), 633e-9)
    out_pitch = (9.1e-6, 7.7e-6)
    chirp_z = propagate._lens_chirp_z(field, 0.07, out_pitch, out_shape)
    matrix = propagate._lens_mft(field, 0.07, out_pitch, out_shape)
    assert chirp_z.data.dtype == dtype and chirp_z.pitch == out_pitch
    # three FFTs a side on the padded chirp-z grid, and the matrix products, of both sides
    padded = (in_shape[0] + out_shape[0]) * (in_shape[1] + out_shape[1])
    assert _relative_error(chirp_z.data, matrix.data) < 8 * fft_rounding(dtype, padded)


def test_lens_transform_at_a_pitch_takes_the_chirp_z_path_by_size(monkeypatch):
    """From CHIRP_Z_FROM samples a side (square grids) ``lens_ft`` at an arbitrary pitch runs
    the chirp-z transform, below it the matrix products; few output samples stay products."""
    size = propagate.CHIRP_Z_FROM
    assert propagate._use_chirp_z((size, size), (size, size))
    assert not propagate._use_chirp_z((size - 16, size - 16), (size - 16, size - 16))
    assert not propagate._use_chirp_z((2 * size, 2 * size), (9, 7))
    rng = np.random.default_rng(12)
    field = Field(rng.standard_normal((24, 20)) + 1j * rng.standard_normal((24, 20)), 5e-6,
                  633e-9)
    paths = {"chirp_z": propagate._lens_chirp_z(field, 0.1, (7e-6, 8e-6), (30, 16)).data,
             "matrix": propagate._lens_mft(field, 0.1, (7e-6, 8e-6), (30, 16)).data}
    for crossover, path in ((1, "chirp_z"), (10 ** 6, "matrix")):
        monkeypatch.setattr(propagate, "CHIRP_Z_FROM", crossover)
        chosen = lens_ft(field, 0.1, (7e-6, 8e-6), (30, 16)).data
        np.testing.assert_array_equal(chosen, paths[path])


def test_matrix_transform_warns_when_its_window_exceeds_the_spectral_period():
    """λf/dx = 0.5e-6·0.1/10e-6 = 5 mm; a 64 × 100 µm window would show replicas."""
    field = Field(np.ones((16, 16)), 10e-6, 0.5e-6)
    with pytest.warns(SamplingWarning, match="exceeds"):
        lens_ft(field, 0.1, out_pitch=100e-6, out_shape=64)
    with _no_sampling_warning():
        lens_ft(field, 0.1, out_pitch=100e-6, out_shape=50)


# --- angular spectrum -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype, phase_tol", [(np.complex128, 1e-5), (np.complex64, 1e-4)])
@pytest.mark.parametrize("z_over_rayleigh", [0.37, 1.0, 2.9])
def test_gaussian_beam_width_and_gouy_phase(dtype, phase_tol, z_over_rayleigh):
    """w0 = 150 µm at 780 nm, z_R = πw0²/λ = 90.6 mm: w(z) = w0√(1 + (z/z_R)²), on-axis
    amplitude w0/w, on-axis phase kz − arctan(z/z_R) (carrier and Gouy phase)."""
    wavelength, waist = 780e-9, 150e-6
    rayleigh = math.pi * waist ** 2 / wavelength
    z = z_over_rayleigh * rayleigh
    beam = _gaussian((256, 256), 12e-6, wavelength, waist, dtype)
    out = angular_spectrum(beam, z)
    y, x = _axes(out.shape, out.pitch)
    intensity = out.intensity.astype(np.float64)
    width = math.sqrt(2 * (intensity * (x ** 2 + y ** 2)).sum() / intensity.sum())
    expected_width = waist * math.sqrt(1 + z_over_rayleigh ** 2)
    assert width == pytest.approx(expected_width, rel=1e-4)
    on_axis = complex(out.data[128, 128])
    assert abs(on_axis) == pytest.approx(waist / expected_width, rel=1e-4)
    phase = 2 * math.pi * z / wavelength - math.atan(z_over_rayleigh)
    assert abs(np.angle(on_axis * np.exp(-1j * phase))) < phase_tol


def test_gaussian_beam_conserves_power():
    beam = _gaussian((128, 128), 10e-6, 633e-9, 120e-6)
    out = angular_spectrum(beam, 0.05)
    assert out.power == pytest.approx(beam.power, rel=1e-9)


def _talbot_grating(wavelength, period, modulation=0.5):
    """Cosine amplitude grating 1 + m·cos(2πx/d), 8 samples per period, under a flat-topped
    envelope (40 periods wide) so the window edges stay dark."""
    shape, pitch = (128, 1024), (period, period / 8)
    y, x = _axes(shape, pitch)
    envelope = np.exp(-(x / (40 * period)) ** 8 - (y / (40 * period)) ** 8)
    return Field(envelope * (1 + modulation * np.cos(2 * np.pi * x / period)), pitch, wavelength)


def test_talbot_self_image_at_the_exact_distance():
    """d = 4.1λ (λ = 633 nm): the exact Talbot distance λ/(1 − √(1 − λ²/d²)) = 33.11λ
    reproduces the grating (times the carrier exp(ikz)); the paraxial 2d²/λ = 33.62λ does not."""
    wavelength = 633e-9
    period = 4.1 * wavelength
    grating = _talbot_grating(wavelength, period)
    centre = (slice(54, 74), slice(352, 672))
    exact = wavelength / (1 - math.sqrt(1 - (wavelength / period) ** 2))
    errors = []
    for z in (exact, 2 * period ** 2 / wavelength):
        out = angular_spectrum(grating, z)
        expected = grating.data[centre] * np.exp(2j * np.pi * z / wavelength)
        errors.append(np.abs(out.data[centre] - expected).max() / np.abs(expected).max())
    assert errors[0] < 3e-3
    assert errors[1] > 10 * errors[0]


def test_talbot_half_distance_shifts_by_half_a_period():
    wavelength = 633e-9
    period = 4.1 * wavelength
    grating = _talbot_grating(wavelength, period)
    centre = (slice(54, 74), slice(352, 672))
    half = 0.5 * wavelength / (1 - math.sqrt(1 - (wavelength / period) ** 2))
    out = angular_spectrum(grating, half)
    carrier = np.exp(2j * np.pi * half / wavelength)
    shifted = np.roll(grating.data, 4, axis=-1)[centre] * carrier
    assert np.abs(out.data[centre] - shifted).max() < 3e-3 * np.abs(shifted).max()
    unshifted = grating.data[centre] * carrier
    assert np.abs(out.data[centre] - unshifted).max() > 0.5 * np.abs(unshifted).max()


def test_unlimited_angular_spectrum_warns_at_long_distance():
    """S = 1.28 mm, 0.5 µm: the band limit 1/(λ√((z/S)² + 1)) falls below Nyquist 50/mm
    beyond z ≈ 50 mm."""
    field = _gaussian((128, 128), 10e-6, 0.5e-6, 100e-6)
    with pytest.warns(SamplingWarning, match="band_limit"):
        angular_spectrum(field, 0.2, band_limit=False)
    with _no_sampling_warning():
        angular_spectrum(field, 0.2)
        angular_spectrum(field, 0.02, band_limit=False)


# --- Fresnel --------------------------------------------------------------------------------

WAVELENGTH, N, PITCH = 0.5e-6, 256, 10e-6
CRITICAL = N * PITCH ** 2 / WAVELENGTH        # 51.2 mm


def test_critical_distance():
    field = Field(np.ones((128, 200)), (8e-6, 5e-6), 0.64e-6)
    assert critical_distance(field) == pytest.approx((128 * 64e-12 / 0.64e-6,
                                                      200 * 25e-12 / 0.64e-6))


def test_transfer_function_agrees_with_angular_spectrum_in_its_regime():
    """A 0.6 mm square at z = 0.4·N·dx²/λ: the transfer function is sampled."""
    square = _square(N, 60, PITCH, WAVELENGTH)
    z = 0.4 * CRITICAL
    with _no_sampling_warning():
        result = fresnel(square, z, "tf")
    reference = angular_spectrum(square, z).data
    centre = (slice(N // 4, 3 * N // 4),) * 2
    assert _relative_error(result.data[centre], reference[centre]) < 1e-3
    assert result.power == pytest.approx(square.power, rel=1e-12)
    gaussian = _gaussian((N, N), PITCH, WAVELENGTH, 100e-6)
    assert _relative_error(fresnel(gaussian, z, "tf").data,
                           angular_spectrum(gaussian, z).data) < 1e-6


def test_impulse_response_agrees_with_angular_spectrum_in_its_regime():
    """A 60 µm Gaussian at z = 2.9·N·dx²/λ (the impulse-response chirp is sampled): the two
    agree over the central half of the window; the transfer function would not."""
    gaussian = _gaussian((N, N), PITCH, WAVELENGTH, 60e-6)
    square = _square(N, 20, PITCH, WAVELENGTH)
    z = 2.9 * CRITICAL
    centre = (slice(N // 4, 3 * N // 4),) * 2
    with _no_sampling_warning():
        result = fresnel(gaussian, z, "ir")
    assert _relative_error(result.data[centre], angular_spectrum(gaussian, z).data[centre]) < 1e-4
    reference = angular_spectrum(square, z).data[centre]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        good = _relative_error(fresnel(square, z, "ir").data[centre], reference)
        bad = _relative_error(fresnel(square, z, "tf").data[centre], reference)
    assert good < 5e-3 and bad > 10 * good


def test_impulse_response_nearly_conserves_power():
    """Just above the critical distance the truncated, sampled chirp is nearly unitary."""
    gaussian = _gaussian((N, N), PITCH, WAVELENGTH, 60e-6)
    assert fresnel(gaussian, 1.2 * CRITICAL, "ir").power == pytest.approx(gaussian.power,
                                                                          rel=2e-3)


@pytest.mark.parametrize("ratio, chosen, other", [(0.98, "tf", "ir"), (1.02, "ir", "tf")])
def test_auto_picks_the_method_whose_chirp_is_sampled(ratio, chosen, other):
    square = _square(N, 40, PITCH, WAVELENGTH)
    z = ratio * CRITICAL
    with _no_sampling_warning():
        auto = fresnel(square, z).data
        explicit = fresnel(square, z, chosen).data
    with pytest.warns(SamplingWarning, match=f"use method='{chosen}'"):
        wrong = fresnel(square, z, other).data
    np.testing.assert_array_equal(auto, explicit)
    assert _relative_error(wrong, auto) > 1e-3


def test_auto_warns_between_the_critical_distances_of_unequal_axes():
    field = _gaussian((128, 128), (10e-6, 14e-6), WAVELENGTH, 150e-6)
    low, high = critical_distance(field)
    with pytest.warns(SamplingWarning, match="between the critical distances"):
        fresnel(field, math.sqrt(low * high))


def test_wrap_around_warns():
    """A 40 µm Gaussian at 0.9 m spreads to w ≈ 3.6 mm, beyond the 2.56 mm window."""
    field = _gaussian((N, N), PITCH, WAVELENGTH, 40e-6)
    with pytest.warns(SamplingWarning, match="wraps around"):
        fresnel(field, 0.9, "ir")
    with _no_sampling_warning():
        fresnel(field, 0.1)
        assert fresnel(field, 0.9).pitch == pytest.approx((WAVELENGTH * 0.9 / (N * PITCH),) * 2)


def _width(field):
    """Beam radius w = √(2⟨r²⟩) of the irradiance (exp(−2r²/w²) for a Gaussian beam)."""
    y, x = _axes(field.shape, field.pitch)
    intensity = field.intensity.astype(np.float64)
    return math.sqrt(2 * np.sum((x ** 2 + y ** 2) * intensity) / np.sum(intensity))


def test_single_transform_follows_the_gaussian_beam_far_beyond_the_window():
    """A 100 µm waist (z_R = πw0²/λ = 49.6 mm at 633 nm) on 256 samples of 8 µm, propagated
    8 z_R (15 critical distances): ``auto`` takes the single transform, sampled at λz/(N·dx),
    and the beam has w(z) = w0·√(1 + (z/z_R)²) = 8.06·w0 (from its second moment ⟨r²⟩ =
    w²/2) and on the axis U(0, z) = exp(ikz)/(1 + iz/z_R) (amplitude w0/w, Gouy phase
    −arctan(z/z_R)), with the power of the input. On the input window (``"ir"``) the beam
    would wrap around."""
    wavelength, n, pitch, waist = 633e-9, 256, 8e-6, 100e-6
    rayleigh = math.pi * waist ** 2 / wavelength
    z = 8 * rayleigh
    gaussian = _gaussian((n, n), pitch, wavelength, waist, np.complex64)
    assert z > 15 * max(critical_distance(gaussian))
    with _no_sampling_warning():
        result = fresnel(gaussian, z)
    out_pitch = wavelength * z / (n * pitch)
    assert result.pitch == pytest.approx((out_pitch, out_pitch), rel=1e-12)
    assert result.data.dtype == np.complex64
    expected_width = waist * math.sqrt(1 + (z / rayleigh) ** 2)
    assert _width(result) == pytest.approx(expected_width, rel=1e-4)
    rtol = 2 * fft_rounding(np.complex64, n * n) + 2 * eps(np.complex64)   # |U|² of one FFT
    assert result.power == pytest.approx(gaussian.power, rel=rtol)
    carrier = np.exp(1j * np.mod(2 * np.pi * z / wavelength, 2 * np.pi))
    expected = carrier / (1 + 1j * z / rayleigh)
    assert complex(result.data[n // 2, n // 2]) == pytest.approx(expected, rel=1e-4)
    with pytest.warns(SamplingWarning, match="wraps around"):
        fresnel(gaussian, z, "ir")
    assert np.allclose(fresnel(gaussian, z, "single").data, result.data)


def test_single_transform_warns_below_the_critical_distance():
    field = _gaussian((N, N), PITCH, WAVELENGTH, 100e-6)
    with pytest.warns(SamplingWarning, match="method='single' undersamples"):
        fresnel(field, 0.5 * CRITICAL, "single")


@pytest.mark.parametrize("fresnel_number", [0.6, 1.0, 1.7, 2.5, 4.2])
def test_square_aperture_on_axis_follows_the_fresnel_integrals(fresnel_number):
    """Square of half-width a at z = a²/(λN_F): on the axis
    U = exp(ikz)·(2/i)·(C(α) + iS(α))², α = √(2N_F) (Goodman §4.5.1)."""
    square = _square(N, 64, PITCH, WAVELENGTH)
    half_width = 32 * PITCH
    z = half_width ** 2 / (WAVELENGTH * fresnel_number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        on_axis = complex(fresnel(square, z).data[N // 2, N // 2])
    sine, cosine = fresnel_integrals(math.sqrt(2 * fresnel_number))
    expected = np.exp(2j * np.pi * z / WAVELENGTH) * 2 * (cosine + 1j * sine) ** 2 / 1j
    assert abs(on_axis) ** 2 == pytest.approx(abs(expected) ** 2, rel=2e-2)
    assert abs(np.angle(on_axis / expected)) < 0.03


@pytest.mark.parametrize("propagate", [
    lambda u: angular_spectrum(u, 1e-3), lambda u: fresnel(u, 2e-4, "tf"),
    lambda u: fresnel(u, 0.5, "single"), lambda u: lens_ft(u, 0.1),
    lambda u: lens_ft(u, 0.1, out_pitch=1e-4, out_shape=(7, 9)),
    lambda u: propagate._lens_chirp_z(u, 0.1, (1e-4, 1e-4), (7, 9))],
    ids=["angular_spectrum", "fresnel", "fresnel_single", "lens_ft", "lens_ft_matrix",
         "lens_ft_chirp_z"])
@pytest.mark.filterwarnings("ignore::opticsim.SamplingWarning")  # noise fills the window
def test_leading_axes_are_a_batch(propagate):
    rng = np.random.default_rng(17)
    data = rng.standard_normal((2, 3, 15, 18)) + 1j * rng.standard_normal((2, 3, 15, 18))
    batch = propagate(Field(data, (5e-6, 4e-6), 6e-7)).data
    single = propagate(Field(data[1, 2], (5e-6, 4e-6), 6e-7)).data
    assert batch.shape == (2, 3) + single.shape
    np.testing.assert_allclose(batch[1, 2], single, rtol=1e-12, atol=1e-12 * np.abs(single).max())


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("focal_length", [0, -0.1, np.nan, np.inf])
def test_lens_transform_rejects_bad_focal_length(focal_length):
    with pytest.raises(ValueError, match="focal_length"):
        lens_ft(Field(np.ones((4, 4)), 1e-6, 5e-7), focal_length)


def test_lens_transform_rejects_bad_output_sampling():
    field = Field(np.ones((4, 4)), 1e-6, 5e-7)
    with pytest.raises(ValueError, match="out_pitch"):
        lens_ft(field, 0.1, out_pitch=-1e-6)
    with pytest.raises(ValueError, match="out_shape"):
        lens_ft(field, 0.1, out_shape=(0, 4))
    with pytest.raises(ValueError, match="out_shape"):
        lens_ft(field, 0.1, out_shape=2.5)


@pytest.mark.parametrize("distance", [0, -0.1, np.nan, np.inf])
def test_free_space_rejects_bad_distance(distance):
    field = Field(np.ones((4, 4)), 1e-6, 5e-7)
    with pytest.raises(ValueError, match="distance"):
        angular_spectrum(field, distance)
    with pytest.raises(ValueError, match="distance"):
        fresnel(field, distance)


def test_fresnel_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        fresnel(Field(np.ones((4, 4)), 1e-6, 5e-7), 0.1, "fraunhofer")
