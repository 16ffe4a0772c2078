"""Camera (EMVA 1288 linear model) against theory: photon count, photon transfer, SNR, dark
signal, saturation, pixel integration at arbitrary pitch ratios, seeding, validation, and the
camera kernels against their NumPy references."""

import dataclasses

import numpy as np
import pytest

from opticsim import Camera, Field, Laser, _kernels, fft
from opticsim import camera as camera_module
from opticsim.camera import photon_energy, pixel_overlaps

WAVELENGTH = 633e-9

# a 12-bit sensor whose full well (9000 e⁻ → 3620 DN) saturates before the ADC (4095 DN)
PTC_CAMERA = dict(qe=0.62, gain=0.4, read_noise=3.1, dark_current=150.0, full_well=9000.0,
                  bits=12, offset=20.0, exposure=20e-3)


def _uniform(irradiance, shape, pitch, wavelength=WAVELENGTH) -> Field:
    """Fields of uniform ``irradiance`` (W/m², any array shape for the batch) on ``shape``."""
    amplitude = np.sqrt(np.asarray(irradiance, dtype=np.complex128))[..., None, None]
    return Field(np.broadcast_to(amplitude, amplitude.shape[:-2] + shape), pitch, wavelength)


def _irradiance_for(camera, photons, wavelength=WAVELENGTH):
    """Irradiance (W/m²) that puts ``photons`` on each (fill factor 1) pixel: E = μ_p·hc/(λAt)."""
    area = camera.pitch[0] * camera.pitch[1] * camera.fill_factor
    return np.asarray(photons) * photon_energy(wavelength) / (area * camera.exposure)


# --- photons and pixel integration -----------------------------------------------------------

def test_photon_count_worked_example():
    """633 nm, 2.5 µW/cm² (0.025 W/m²), 4 ms, 5 µm pixel: E·A·t = 2.5e-15 J over
    hc/λ = 3.13815e-19 J is 7966.49 photons; η = 0.55 → 4381.6 e⁻; FF = 0.5 halves both."""
    camera = Camera((4, 6), 5e-6, exposure=4e-3, qe=0.55)
    field = _uniform(0.025, (30, 40), 1e-6)
    np.testing.assert_allclose(camera.photons(field), 7966.489, rtol=1e-6)
    np.testing.assert_allclose(camera.irradiance_to_electrons(field), 4381.569, rtol=1e-6)
    half = dataclasses.replace(camera, fill_factor=0.5)
    np.testing.assert_allclose(half.photons(field), 7966.489 / 2, rtol=1e-6)
    np.testing.assert_allclose(camera.photons(field, exposure=1e-3), 7966.489 / 4, rtol=1e-6)


OVERLAP_CASES = [  # samples, sample pitch, pixels, pixel pitch, active width
    (90, 1.0, 30, 3.0, 3.0),
    (100, 1.0, 40, 2.5, 2.0),
    (50, 1.0, 40, 2.5, 2.5),      # camera wider than the simulation window
    (64, 3.0, 100, 1.0, 0.7),     # camera finer than the simulation
    (33, 1.3, 7, 4.1, 3.0),
    (8, 1.0, 3, 9.0, 9.0),        # a pixel wider than the whole window
]


def _dense_overlaps(samples, dx, pixels, pitch, active):
    """Overlap lengths of every sample cell with every active pixel window, all pairs."""
    cells = (np.arange(samples) - samples // 2) * dx
    centres = (np.arange(pixels) - pixels // 2) * pitch
    high = np.minimum(cells[None, :] + dx / 2, centres[:, None] + active / 2)
    low = np.maximum(cells[None, :] - dx / 2, centres[:, None] - active / 2)
    return np.clip(high - low, 0, None)


@pytest.mark.parametrize("samples, dx, pixels, pitch, active", OVERLAP_CASES)
def test_pixel_overlaps_band_equals_all_pairs_overlap(samples, dx, pixels, pitch, active):
    start, weight = pixel_overlaps(samples, dx, pixels, pitch, active)
    assert start.min() >= 0 and start.max() + weight.shape[1] <= samples
    dense = np.zeros((pixels, samples))
    for j in range(pixels):
        dense[j, start[j]:start[j] + weight.shape[1]] = weight[j]
    np.testing.assert_allclose(dense, _dense_overlaps(samples, dx, pixels, pitch, active),
                               rtol=0, atol=1e-9 * dx)
    if (samples, pixels) == (90, 30):
        assert weight.shape[1] == 3  # commensurate pitches: no empty band ends


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, cols", [(OVERLAP_CASES[0], OVERLAP_CASES[1]),
                                        (OVERLAP_CASES[4], OVERLAP_CASES[2])])
def test_integrate_pixels_matches_reference(dtype, rows, cols):
    rng = np.random.default_rng(11)
    row_band = pixel_overlaps(*rows[:2], *rows[2:])
    col_band = pixel_overlaps(*cols[:2], *cols[2:])
    irradiance = rng.random((3, rows[0], cols[0])).astype(dtype)
    out = np.full((3, rows[2], cols[2]), np.nan)
    _kernels.integrate_pixels(irradiance, *row_band, *col_band, out)
    expected = _kernels.integrate_pixels_reference(irradiance, *row_band, *col_band)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("ratio, pixels", [(3.0, 60), (2.5, 80)])
def test_pixel_integration_conserves_energy_at_fill_factor_one(ratio, pixels):
    """A Gaussian spot well inside both windows: Σ μ_p·hc/(λt) = the field's power."""
    dx = 1e-6
    field = Laser(WAVELENGTH, 3e-6, "gaussian", 20e-6).field((200, 200), dx, np.complex128)
    field = field.replace(field.data * np.exp(-((field.x - 17e-6) / 30e-6) ** 2))  # off centre
    camera = Camera((pixels, pixels), ratio * dx, exposure=1e-3)
    photons = camera.photons(field)
    power = photons.sum() * photon_energy(WAVELENGTH) / camera.exposure
    assert power == pytest.approx(float(field.power), rel=1e-12)


@pytest.mark.parametrize("sample_pitch", [(1e-6, 1e-6), (1e-6, 1.2e-6)])
@pytest.mark.parametrize("camera_pitch", [(3e-6, 3e-6), (2.5e-6, 3.3e-6)])
@pytest.mark.parametrize("fill_factor", [1.0, 0.49, 0.3])
def test_uniform_irradiance_gives_fill_factor_times_pixel_area(sample_pitch, camera_pitch,
                                                               fill_factor):
    """Every pixel of a uniformly lit sensor collects E·FF·p_y·p_x, for any pitch ratio."""
    irradiance = 40.0
    camera = Camera((24, 30), camera_pitch, exposure=1e-3, fill_factor=fill_factor)
    field = _uniform(irradiance, (96, 110), sample_pitch)  # wider than the sensor
    power = camera.photons(field) * photon_energy(WAVELENGTH) / camera.exposure
    expected = irradiance * fill_factor * camera_pitch[0] * camera_pitch[1]
    np.testing.assert_allclose(power, expected, rtol=1e-11)


def test_off_axis_point_lands_in_the_right_pixels():
    """A 1 µm sample at (y, x) = (−4, +7) µm on 2.5 µm pixels: x lies inside pixel +3
    ([6.25, 8.75] µm); y cell [−4.5, −3.5] µm splits 0.75 / 0.25 between pixels −2 and −1.
    With FF = 0.64 (2 µm active squares) only pixel (−2, +3) sees it, by half."""
    data = np.zeros((41, 41))
    data[20 - 4, 20 + 7] = 1.0
    field = Field(data, 1e-6, WAVELENGTH)
    for fill_factor, expected in [(1.0, {(2, 7): 0.75, (3, 7): 0.25}), (0.64, {(2, 7): 0.5})]:
        camera = Camera((9, 9), 2.5e-6, exposure=1e-3, fill_factor=fill_factor)
        share = camera.photons(field) * photon_energy(WAVELENGTH) / (camera.exposure * 1e-12)
        target = np.zeros((9, 9))
        for pixel, value in expected.items():
            target[pixel] = value
        np.testing.assert_allclose(share, target, rtol=1e-12, atol=1e-15)


# --- the noise chain against EMVA 1288 -------------------------------------------------------

def test_photon_transfer_recovers_gain_and_read_noise():
    """Frame pairs at 13 irradiances from dark to 70% of saturation: K is the slope of
    σ_y² − σ²_y.dark against μ_y − μ_y.dark; σ²_y.dark = K²(σ_d0² + μ_I·t) + 1/12."""
    camera = Camera((128, 128), 5.5e-6, **PTC_CAMERA)
    fractions = np.array([0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    irradiance = _irradiance_for(camera, fractions * camera.saturation_photons)
    field = _uniform(np.repeat(irradiance[:, None], 2, axis=1), (264, 264), 2.75e-6)
    frames = camera.capture(field, rng=2024).astype(np.float64)
    assert frames.shape == (13, 2, 128, 128) and frames.max() < 3620
    mean = frames.mean(axis=(1, 2, 3))
    variance = (frames[:, 0] - frames[:, 1]).var(axis=(1, 2)) / 2
    signal, noise = mean[1:] - mean[0], variance[1:] - variance[0]
    gain = np.sum(signal * noise) / np.sum(signal ** 2)
    # standard errors from those of the variances, σ²·√(2/128²), through the fit: K 0.53 %,
    # the dark signal 0.85 %, the read noise 1.0 %; the tolerances are 5.7, 5.9 and 9.7 of them
    assert gain == pytest.approx(0.4, rel=0.03)
    dark_electrons = (mean[0] - camera.offset) / gain
    read_noise = np.sqrt((variance[0] - 1 / 12) / gain ** 2 - dark_electrons)
    assert dark_electrons == pytest.approx(3.0, rel=0.05)
    assert read_noise == pytest.approx(3.1, rel=0.10)
    # the noise-free response is the mean of the noisy frames
    expected = camera.capture(field, noise=False)[:, 0, 0, 0]
    tolerance = 5 * np.sqrt(variance / (2 * 128 * 128))
    assert np.all(np.abs(mean - expected) < tolerance)



def test_photon_transfer_across_the_normal_approximation_threshold():
    """EMVA 1288 photon transfer with the skewed normal draw active: at mean photo-electron
    levels from 0.4× to 250× POISSON_EXACT_BELOW (8 to 5000 e⁻ plus 4 dark e⁻), the temporal
    variance of frame pairs is σ_y² = K²(σ_d0² + μ_I·t + μ_e) + 1/12 at every level; the slope
    of σ_y² − σ²_y.dark against μ_y − μ_y.dark is K and the dark frames give σ_d0."""
    camera = Camera((128, 128), 4e-6, qe=0.8, gain=0.3, read_noise=1.7, dark_current=200.0,
                    full_well=20000.0, bits=14, offset=40.0, exposure=20e-3)
    electrons = np.array([0.0, 8.0, 15.0, 21.0, 30.0, 60.0, 150.0, 400.0, 1200.0, 5000.0])
    assert electrons[1] < _kernels.POISSON_EXACT_BELOW < electrons[3]
    irradiance = _irradiance_for(camera, electrons / camera.qe)
    field = _uniform(np.repeat(irradiance[:, None], 2, axis=1), (128, 128), 4e-6)
    frames = camera.capture(field, rng=99).astype(np.float64)
    mean = frames.mean(axis=(1, 2, 3))
    variance = (frames[:, 0] - frames[:, 1]).var(axis=(1, 2)) / 2
    dark = camera.dark_electrons()                                           # 4 e⁻
    expected = 0.3 ** 2 * (1.7 ** 2 + dark + electrons) + 1 / 12
    # the variance of a variance from 128² differences is 2σ⁴/128²: 1.1 % RMS, 5 of them
    np.testing.assert_allclose(variance, expected, rtol=5 * np.sqrt(2 / 128 ** 2))
    np.testing.assert_allclose(mean, 40.0 + 0.3 * (dark + electrons), rtol=2e-3)
    signal, noise = mean[1:] - mean[0], variance[1:] - variance[0]
    gain = np.sum(signal * noise) / np.sum(signal ** 2)
    # 5 standard errors from those of the variances through the fit: K 1.04 %, read noise 2.9 %
    assert gain == pytest.approx(0.3, rel=0.052)
    read_noise = np.sqrt((variance[0] - 1 / 12) / gain ** 2 - dark)
    assert read_noise == pytest.approx(1.7, rel=0.15)

def test_snr_matches_emva_formula_across_irradiance():
    """SNR = (μ_y − μ_y.dark)/σ_y from 8 frames of 128² pixels, against
    η μ_p / √(σ_d² + σ_q²/K² + η μ_p), from ~6 photons to 60% of saturation."""
    camera = Camera((128, 128), 5.5e-6, **PTC_CAMERA)
    photons = np.array([0.0, 6.0, 40.0, 300.0, 2500.0, 0.6 * camera.saturation_photons])
    field = _uniform(np.repeat(_irradiance_for(camera, photons)[:, None], 8, axis=1),
                     (264, 264), 2.75e-6)
    frames = camera.capture(field, rng=7).astype(np.float64)
    mean = frames.mean(axis=(1, 2, 3))
    sigma = np.sqrt(frames.var(axis=1, ddof=1).mean(axis=(1, 2)))
    measured = (mean[1:] - mean[0]) / sigma[1:]
    # at 6 photons the mean difference (8·128² pixels a level) and σ (7 degrees of freedom a
    # pixel) leave a standard error of 0.46 %: 5.5 of them
    np.testing.assert_allclose(measured, camera.snr(photons[1:]), rtol=0.025)
    assert camera.snr(photons[1]) < 1.5 < 70 < camera.snr(photons[-1])  # range covered


def test_dark_frames_mean_and_variance():
    """No light, 0.25 s at 60 e⁻/s (15 e⁻), read noise 2.2 e⁻, K = 0.55, offset 30 DN:
    mean 30 + 0.55·15 = 38.25 DN, variance 0.55²·(2.2² + 15) + 1/12 = 6.085 DN²."""
    camera = Camera((128, 128), 4e-6, exposure=0.25, qe=0.7, gain=0.55, read_noise=2.2,
                    dark_current=60.0, offset=30.0, full_well=20000.0)
    dark = Field(np.zeros((8, 64, 64)), 8e-6, WAVELENGTH)
    frames = camera.capture(dark, rng=3).astype(np.float64)
    # standard errors √(σ²/(8·128²)) = 0.007 DN and √(2/(7·128²)) = 0.42 %: 7 of them
    assert frames.mean() == pytest.approx(38.25, abs=0.05)
    assert frames.var(axis=0, ddof=1).mean() == pytest.approx(6.085, rel=0.03)
    shorter = camera.capture(dark, exposure=0.1, rng=3).astype(np.float64)  # 6 e⁻
    assert shorter.mean() == pytest.approx(30 + 0.55 * 6, abs=0.05)
    assert shorter.var(axis=0, ddof=1).mean() == pytest.approx(
        0.55 ** 2 * (2.2 ** 2 + 6) + 1 / 12, rel=0.03)


def test_full_well_saturation():
    """Beyond the full well every pixel reads rint(offset + K·full_well) = 3620 DN (uint16);
    the noise-free response reaches it exactly at saturation_photons."""
    camera = Camera((16, 16), 5.5e-6, **PTC_CAMERA)
    assert camera.saturation_photons == pytest.approx((9000 - 3.0) / 0.62, rel=1e-12)
    assert camera.snr_max == pytest.approx(np.sqrt(8997.0), rel=1e-12)
    field = _uniform(_irradiance_for(camera, [3 * camera.saturation_photons,
                                              0.999 * camera.saturation_photons,
                                              1.001 * camera.saturation_photons]),
                     (40, 40), 2.75e-6)
    frames = camera.capture(field, rng=1)
    assert frames.dtype == np.uint16
    assert np.all(frames[0] == 3620)
    mean = camera.capture(field, noise=False)
    assert np.all(mean[1] < 3620) and np.all(mean[1] > 3610) and np.all(mean[2] == 3620)


def test_adc_saturation():
    """An 8-bit camera with K = 0.1 DN/e⁻ saturates at (255 − 5)/0.1 = 2500 e⁻, far below its
    full well: frames clip at 255 (uint8)."""
    camera = Camera((16, 16), 5.5e-6, exposure=1e-3, qe=0.5, gain=0.1, read_noise=1.0,
                    dark_current=0.0, full_well=30000.0, bits=8, offset=5.0)
    assert camera.saturation_photons == pytest.approx(5000.0, rel=1e-12)
    field = _uniform(_irradiance_for(camera, [20000.0, 4950.0, 5050.0]), (40, 40), 2.75e-6)
    frames = camera.capture(field, rng=5)
    assert frames.dtype == np.uint8 and np.all(frames[0] == 255)
    mean = camera.capture(field, noise=False)
    assert np.all(mean[1] < 255) and np.all(mean[2] == 255)


def test_emva_figures():
    """σ_d² = 3.1² + 3 e⁻², σ_q²/K² = 1/(12·0.16); SNR(μ_p.min) = 1; DR = μ_p.sat/μ_p.min."""
    camera = Camera((8, 8), 5.5e-6, **PTC_CAMERA)
    assert camera.dark_variance == pytest.approx(12.61, rel=1e-12)
    noise = 12.61 + 1 / (12 * 0.16)
    assert camera.snr(1000.0) == pytest.approx(620 / np.sqrt(noise + 620), rel=1e-12)
    assert camera.snr(camera.absolute_sensitivity) == pytest.approx(1.0, rel=1e-12)
    assert camera.absolute_sensitivity == pytest.approx((0.5 + np.sqrt(noise + 0.25)) / 0.62)
    assert camera.dynamic_range == pytest.approx(
        camera.saturation_photons / camera.absolute_sensitivity, rel=1e-12)


# --- fixed pattern, seeding, shapes -----------------------------------------------------------

def test_prnu_and_dsnu_are_fixed_patterns_of_the_stated_size():
    """Noise-free frames: PRNU spreads the photo-signal by its relative RMS, DSNU the dark
    signal by K·dsnu; the same seed gives the same pattern, another seed another."""
    settings = dict(PTC_CAMERA, prnu=0.015, dsnu=4.0, offset=100.0)
    camera = Camera((128, 128), 5.5e-6, seed=9, **settings)
    photons = 0.5 * camera.saturation_photons
    lit = _uniform(_irradiance_for(camera, [0.0, photons]), (264, 264), 2.75e-6)
    dark, bright = camera.capture(lit, noise=False)
    # a standard deviation of 128² pixels has a standard error 1/√(2·128²) = 0.55 %: 9 of them
    assert dark.std() == pytest.approx(0.4 * 4.0, rel=0.05)
    signal = bright - dark
    assert signal.std() / signal.mean() == pytest.approx(0.015, rel=0.05)
    noisy = camera.capture(lit, rng=4).astype(np.float64)  # the noisy frames carry the pattern
    assert np.corrcoef(noisy[0].ravel(), dark.ravel())[0, 1] > 0.5
    assert np.corrcoef(noisy[1].ravel(), bright.ravel())[0, 1] > 0.5
    again = Camera((128, 128), 5.5e-6, seed=9, **settings).capture(lit, noise=False)
    np.testing.assert_array_equal(again, camera.capture(lit, noise=False))
    other = Camera((128, 128), 5.5e-6, seed=10, **settings).capture(lit, noise=False)
    assert np.abs(other - again).max() > 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pixels_on_their_own_samples_skip_the_integration(monkeypatch, dtype):
    """Pixels of the sample pitch on a window of the samples (FF 0.6, PRNU, DSNU) read the
    irradiance directly: the same frames, seed for seed, as through the pixel integration,
    from a few to 10⁵ e⁻ (both sides of the Poisson threshold)."""
    camera = Camera((20, 24), 3e-6, exposure=1e-3, fill_factor=0.6, prnu=0.01, dsnu=1.0,
                    offset=10.0, full_well=2e5, gain=0.02)
    irradiance = _irradiance_for(camera, np.random.default_rng(6).uniform(0, 1e5, (2, 26, 30)))
    irradiance = (irradiance * camera.fill_factor).astype(dtype)
    assert camera_module._one_sample_each(camera._overlaps((26, 30), (3e-6, 3e-6))[0])
    direct = camera.capture_irradiance(irradiance, 3e-6, WAVELENGTH, rng=5)
    monkeypatch.setattr(camera_module, "_one_sample_each", lambda band: False)
    integrated = camera.capture_irradiance(irradiance, 3e-6, WAVELENGTH, rng=5)
    np.testing.assert_array_equal(direct, integrated)
    assert len(np.unique(direct)) > 100


def test_same_seed_same_frames_on_any_thread_count(monkeypatch):
    """Rows draw from their own streams: one thread, or two threads taking blocks of 8 rows in
    any order, give the same frames."""
    camera = Camera((48, 40), 5e-6, exposure=2e-3, offset=10.0)
    field = _uniform(_irradiance_for(camera, [50.0, 3000.0]), (120, 100), 2e-6)
    first = camera.capture(field, rng=42)
    np.testing.assert_array_equal(first, camera.capture(field, rng=np.random.default_rng(42)))
    assert np.mean(first != camera.capture(field, rng=43)) > 0.5
    monkeypatch.setattr(_kernels, "TASK_SAMPLES", 8 * 40)
    monkeypatch.setattr(fft, "threads", lambda: 2)
    assert len(_kernels.row_blocks(2, 48, 40)) == 12
    np.testing.assert_array_equal(first, camera.capture(field, rng=42))
    monkeypatch.setattr(fft, "threads", lambda: 1)
    np.testing.assert_array_equal(first, camera.capture(field, rng=42))


def test_batches_keep_their_shape():
    camera = Camera((12, 10), 5e-6, exposure=1e-3, bits=10)
    field = _uniform(np.full((2, 3), 5.0), (40, 40), 2e-6)
    assert camera.capture(field, rng=0).shape == (2, 3, 12, 10)
    assert camera.capture(field, rng=0).dtype == np.uint16
    assert camera.capture(field, noise=False).shape == (2, 3, 12, 10)
    irradiance = np.full((5, 40, 40), 5.0)
    frames = camera.capture_irradiance(irradiance, 2e-6, WAVELENGTH, noise=False)
    np.testing.assert_allclose(frames, camera.capture(field, noise=False)[0, :1].repeat(5, 0))


def test_geometry_and_timing():
    camera = Camera((120, 160), (4e-6, 5e-6), exposure=3e-3, frame_rate=250.0)
    assert camera.extent == pytest.approx((4.8e-4, 8e-4))
    assert camera.frame_period == pytest.approx(4e-3)
    assert Camera((8, 8), 4e-6, exposure=1e-3).frame_period is None


# --- kernels against their references ---------------------------------------------------------

@pytest.mark.parametrize("read_noise", [0.0, 2.5])
@pytest.mark.parametrize("bits, patterns", [(8, False), (12, False), (12, True)])
def test_shot_read_adc_matches_reference(read_noise, bits, patterns):
    """The kernel draws what NumPy's Generator draws on the same SFC64 state: Poisson counts
    (multiplication below a mean of 10, PTRS above) and ziggurat normals below
    POISSON_EXACT_BELOW (20 e⁻), the skewed normal above; pixel lengths, photons per joule, PRNU, dark signal and DSNU as in
    the camera."""
    rng = np.random.default_rng(8)
    levels = np.array([0.0, 0.4, 3.0, 9.9, 10.0, 15.0, 19.99, 20.0, 55.0, 900.0, 4e4, 2e5])
    electrons = rng.choice(levels, size=(3, 7, 11))
    row_length, col_length = rng.uniform(0.5, 2.0, 7), rng.uniform(0.5, 2.0, 11)
    signal = electrons / (row_length[:, None] * col_length * 2.5 * 0.8)      # 2.5 /J, qe 0.8
    prnu = 1 + 0.02 * rng.standard_normal((7, 11)) if patterns else np.empty((0, 0))
    dsnu = 2.0 * rng.standard_normal((7, 11)) if patterns else np.empty((0, 0))
    states = np.ones((21, 4), np.uint64)
    states[:, :3] = rng.integers(0, 2 ** 64, (21, 3), dtype=np.uint64)
    dtype = np.uint8 if bits == 8 else np.uint16
    # 8 bits: the ADC clips (0.004·1e5 > 255); 12 bits: the full well clips at 0.05·5e4 + 12.5
    full_well, gain, top = (1e5, 0.004, 255) if bits == 8 else (5e4, 0.05, 2512)
    args = (signal, row_length, col_length, 2.5, 0.8, prnu, 0.3, dsnu, states, read_noise,
            full_well, gain, 12.5, 2 ** bits - 1)
    out = np.empty(electrons.shape, dtype)
    _kernels.shot_read_adc(*args, out)
    expected = _kernels.shot_read_adc_reference(*args, dtype)
    np.testing.assert_array_equal(out, expected)
    assert out.max() == top and len(np.unique(out)) > 5
    assert np.all(states[:, 3] == 1)                    # the caller's states are not consumed


def test_skewed_normal_above_the_poisson_threshold():
    """Above POISSON_EXACT_BELOW one normal draw carries shot and read noise: mean μ, variance
    μ + σ_d0² and the Poisson third central moment μ (skewness μ/σ³), measured on 2²⁰ pixels
    at μ = 1500 e⁻ (skewness 0.0257 ± 0.0024; a plain normal would give 0)."""
    mean, read_noise = 1500.0, 3.0
    assert mean > _kernels.POISSON_EXACT_BELOW
    signal = np.full((4, 512, 512), mean)
    states = np.ones((4 * 512, 4), np.uint64)
    states[:, :3] = np.random.default_rng(12).integers(0, 2 ** 64, (4 * 512, 3), np.uint64)
    out = np.empty(signal.shape, np.uint16)
    _kernels.shot_read_adc(signal, np.ones(512), np.ones(512), 1.0, 1.0, np.empty((0, 0)), 0.0,
                           np.empty((0, 0)), states, read_noise, 1e9, 16.0, 0.0, 65535, out)
    counts = out / 16.0                          # K = 16 DN/e⁻: rounding is 1/16 e⁻
    sigma2 = mean + read_noise ** 2
    assert counts.mean() == pytest.approx(mean, abs=5 * np.sqrt(sigma2 / counts.size))
    assert counts.var() == pytest.approx(sigma2 + 1 / (12 * 256), rel=0.01)    # 7 SE, √(2/n)
    skewness = np.mean((counts - counts.mean()) ** 3) / counts.var() ** 1.5
    # 5 standard errors of the skewness, √(6/n): a plain normal draw (0) lies 11 away
    assert skewness == pytest.approx(mean / sigma2 ** 1.5, abs=5 * np.sqrt(6 / counts.size))


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    (dict(bits=0), "bits"), (dict(bits=17), "bits"), (dict(bits=12.0), "bits"),
    (dict(read_noise=-1.0), "read_noise"), (dict(dark_current=-0.1), "dark_current"),
    (dict(prnu=-0.01), "prnu"), (dict(dsnu=-1.0), "dsnu"),
    (dict(qe=1.2), "qe"), (dict(qe=0.0), "qe"), (dict(gain=0.0), "gain"),
    (dict(full_well=0.0), "full_well"), (dict(fill_factor=0.0), "fill_factor"),
    (dict(fill_factor=1.1), "fill_factor"), (dict(offset=256.0, bits=8), "offset"),
    (dict(offset=-1.0), "offset"), (dict(exposure=0.0), "exposure"),
    (dict(exposure=0.02, frame_rate=100.0), "exposure"), (dict(frame_rate=0.0), "frame_rate"),
    (dict(seed=-1), "seed"), (dict(shape=0), "shape"), (dict(pitch=-1e-6), "pitch"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    arguments = dict(shape=(8, 8), pitch=5e-6, exposure=1e-3)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        Camera(**arguments)


def test_bad_capture_arguments():
    camera = Camera((8, 8), 5e-6, exposure=1e-3, frame_rate=500.0)
    field = _uniform(1.0, (20, 20), 2e-6)
    with pytest.raises(ValueError, match="exposure"):
        camera.capture(field, exposure=-1.0)
    with pytest.raises(ValueError, match="exposure"):
        camera.capture(field, exposure=0.01)  # longer than the 2 ms frame period
    with pytest.raises(ValueError, match="irradiance"):
        camera.capture_irradiance(-np.ones((20, 20)), 2e-6, WAVELENGTH)
