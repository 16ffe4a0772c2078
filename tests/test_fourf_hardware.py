"""FourF with SLMs, a camera, readout schemes and channel layouts, against digital convolution."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.signal

from opticsim import SLM, Camera, Field, FourF, Laser, Lens, SamplingWarning
from opticsim.propagate import lens_ft

WAVELENGTH, PITCH, FOCAL = 633e-9, 10e-6, 0.12
LASER = Laser(WAVELENGTH, 5e-4)


def _ideal(shape, **options):
    return FourF(LASER, Lens(FOCAL), Lens(FOCAL), shape, PITCH, dtype=np.complex128, **options)


def _convolutions(images, kernels):
    """Σ_i x_i ∗ k_ci for images (B, C_in, H, W) and kernels (C_out, C_in, K, K)."""
    return np.stack([[sum(scipy.signal.fftconvolve(x[i], k[i]) for i in range(len(x)))
                      for k in kernels] for x in images])


@pytest.mark.parametrize("multiplex", ["time", "tiled"])
@pytest.mark.parametrize("readout", ["field", "intensity", "differential"])
def test_channels_sum_coherently_and_land_in_their_regions(multiplex, readout):
    """3 input × 4 output channels: each output region is −Σ_i x_i ∗ k_ci (times the laser
    amplitude), its square, or the difference of the squared ± parts."""
    rng = np.random.default_rng(11)
    system = _ideal((96, 256), readout=readout, multiplex=multiplex)
    images, kernels = rng.random((2, 3, 11, 12)), rng.standard_normal((4, 3, 3, 4))
    layout = system.layout(3, 4, (11, 12), (3, 4))
    frames = system.run(images, system.masks_from_kernels(kernels, layout), layout=layout)
    amplitude = LASER.amplitude(system.shape, system.pitch)[0, 0]
    assert frames.shape == (2, 4, 13, 15)
    if readout == "field":
        expected = -amplitude * _convolutions(images, kernels)
    elif readout == "intensity":
        expected = (amplitude * _convolutions(images, kernels)) ** 2
    else:
        positive = amplitude * _convolutions(images, np.maximum(kernels, 0))
        negative = amplitude * _convolutions(images, np.maximum(-kernels, 0))
        expected = positive ** 2 - negative ** 2
    np.testing.assert_allclose(frames, expected, atol=1e-10 * np.abs(expected).max())


def test_layout_that_does_not_fit_names_the_grid():
    system = _ideal((64, 64), multiplex="tiled")
    with pytest.raises(ValueError, match="grid_shape"):
        system.layout(2, 9, (20, 20), (5, 5))


def test_tiles_beyond_the_fourier_slm_replica_period_warn():
    """A 4-sample Fourier-SLM pixel replicates the output every N/4 = 32 samples."""
    fourier_pitch = WAVELENGTH * FOCAL / (128 * PITCH)
    slm = SLM((32, 32), 4 * fourier_pitch, mode="phase", oversample=4)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 128, PITCH, fourier_slm=slm,
                   multiplex="tiled")
    with pytest.warns(SamplingWarning, match="replicas"):
        system.layout(1, 9, (12, 12), (3, 3))


def test_fourier_slm_of_another_pitch_is_sampled_at_its_pixels():
    """A PLUTO-like 8 µm panel on a grid whose FFT samples the focal plane at 7.4 µm: the
    Fourier plane is the panel's, the output grid the input's, and run() equals field()."""
    slm = SLM((40, 40), 8e-6, mode="phase", bits=8)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 64, PITCH, fourier_slm=slm,
                   dtype=np.complex128)
    assert system.fft_pitch[0] == pytest.approx(WAVELENGTH * FOCAL / (64 * PITCH))
    assert system.fourier_pitch == (8e-6, 8e-6) and system.fourier_shape == (40, 40)
    mask = np.exp(1j * np.random.default_rng(12).uniform(0, 2 * np.pi, (40, 40)))
    images = np.random.default_rng(13).random((2, 16, 16))
    field = system.field(images, mask)
    assert field.shape == (64, 64) and field.pitch == pytest.approx((PITCH, PITCH))
    np.testing.assert_allclose(system.run(images, mask), field.intensity, rtol=1e-12,
                               atol=1e-12 * field.intensity.max())


def test_input_slm_sets_the_grid_and_quantises_the_images():
    """A 1-bit amplitude input SLM shows each image thresholded at one half."""
    slm = SLM((40, 40), PITCH, mode="amplitude", bits=1)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), input_slm=slm, dtype=np.complex128)
    assert system.shape == (40, 40) and system.pitch == (PITCH, PITCH)
    images = np.random.default_rng(2).random((3, 20, 20))
    mask = np.ones(system.mask_shape)
    expected = _ideal((40, 40)).run((images > 0.5).astype(float), mask)
    np.testing.assert_allclose(system.run(images, mask), expected, rtol=1e-12, atol=1e-20)


def test_phase_slm_error_shrinks_with_bit_depth():
    """A random phase mask displayed at 2, 4 and 8 bits approaches the continuous one."""
    fourier_pitch = WAVELENGTH * FOCAL / (64 * PITCH)
    phase = np.random.default_rng(4).uniform(0, 2 * np.pi, (64, 64))
    images = np.random.default_rng(5).random((2, 24, 24))
    ideal = _ideal((64, 64)).run(images, np.exp(1j * phase))
    errors = []
    for bits in (2, 4, 8):
        slm = SLM((64, 64), fourier_pitch, mode="phase", bits=bits)
        system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 64, PITCH, fourier_slm=slm,
                       dtype=np.complex128)
        errors.append(np.linalg.norm(system.run(images, np.exp(1j * phase)) - ideal)
                      / np.linalg.norm(ideal))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02


def test_camera_frames_are_seeded_integers_and_differential_is_signed():
    camera = Camera((48, 48), PITCH, exposure=1e-4, offset=50, gain=0.5, bits=12)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 64, PITCH, camera=camera,
                   readout="differential")
    kernel = np.random.default_rng(6).standard_normal((1, 1, 3, 3))
    layout = system.layout(1, 1, (16, 16), (3, 3))
    masks = system.masks_from_kernels(kernel, layout)
    images = np.random.default_rng(7).random((2, 1, 16, 16))
    first = system.run(images, masks, layout=layout, rng=3)
    assert first.dtype == np.int32 and first.shape == (2, 1, 18, 18)
    assert first.min() < 0 < first.max()
    np.testing.assert_array_equal(first, system.run(images, masks, layout=layout, rng=3))
    assert np.any(first != system.run(images, masks, layout=layout, rng=4))


def test_mask_from_kernel_on_a_matched_fourier_slm_equals_the_grid_mask():
    fourier_pitch = WAVELENGTH * FOCAL / (48 * PITCH)
    slm = SLM((48, 48), fourier_pitch, mode="phase")
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 48, PITCH, fourier_slm=slm,
                   dtype=np.complex128)
    kernel = np.random.default_rng(8).standard_normal((5, 4))
    np.testing.assert_allclose(system.mask_from_kernel(kernel),
                               _ideal((48, 48)).mask_from_kernel(kernel), atol=1e-12)
    np.testing.assert_allclose(
        system.kernel_from_mask(system.mask_from_kernel(kernel))[22:27, 22:26], kernel,
        atol=1e-12)


def test_gray_levels_drive_the_fourier_slm_directly():
    fourier_pitch = WAVELENGTH * FOCAL / (32 * PITCH)
    slm = SLM((32, 32), fourier_pitch, mode="phase", bits=6)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 32, PITCH, fourier_slm=slm)
    mask = np.exp(1j * np.random.default_rng(9).uniform(0, 2 * np.pi, (32, 32)))
    images = np.random.default_rng(10).random((12, 12))
    np.testing.assert_array_equal(system.run(images, gray=system.fourier_gray(mask)),
                                  system.run(images, mask))


def test_carriers_shift_kernels_by_grid_samples_on_a_small_oversampled_fourier_slm():
    """A 16-pixel panel at 2 samples per pixel covers 32 of the 48 Fourier samples: the tiled
    point responses must still land on their layout regions, not at s·N/(P·oversample)."""
    fourier_pitch = WAVELENGTH * FOCAL / (48 * PITCH)
    slm = SLM((16, 16), 2 * fourier_pitch, mode="amplitude", bits=16, oversample=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)        # 2 samples: no dead frame
        system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 48, PITCH, fourier_slm=slm,
                       readout="field", multiplex="tiled", dtype=np.complex128)
    layout = system.layout(1, 2, (1, 1), (5, 5))
    kernels = np.zeros((2, 1, 5, 5))
    kernels[..., 2, 2] = 1                                      # a centred point kernel
    masks = system.masks_from_kernels(kernels, layout)
    frame = np.abs(system.upright(system.run(np.ones((1, 1)), masks[0])))
    assert layout.starts[0] != layout.starts[1]
    for row, col in layout.starts:
        window = frame[row + 1:row + 4, col + 1:col + 4]
        assert window[1, 1] == window.max() > 0.5 * frame.max()


@pytest.mark.parametrize("mode", ["amplitude", "phase"])
def test_hardware_frame_equals_its_elements_composed(mode, first_transform):
    """One run() of the hardware frame (input SLM, Fourier SLM gray levels, a camera on the
    output samples) against the same elements composed through the public API: quantise,
    pixelate and light the input, two lens transforms around the displayed mask, the camera
    on |E|², the same seed. The irradiances agree to rounding, so all but the rare frame
    samples that rounding tips over a step agree exactly, the rest within 1 DN."""
    n, fourier_pitch = 48, WAVELENGTH * FOCAL / (48 * PITCH)
    input_slm = SLM((n, n), PITCH, mode=mode, bits=8)
    fourier_slm = SLM((n, n), fourier_pitch, mode="phase", bits=8)
    camera = Camera((n, n), PITCH, exposure=1e-8, offset=20.0, read_noise=3.0)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), input_slm=input_slm,
                   fourier_slm=fourier_slm, camera=camera, dtype=np.complex128)
    assert system._real_input is (mode == "amplitude")       # phase levels: a complex field
    rng = np.random.default_rng(12)
    images = rng.random((2, 30, 30)) * (2 * np.pi if mode == "phase" else 1.0)
    gray = system.fourier_gray(np.exp(2j * np.pi * rng.random((n, n))))
    frames = system.run(images, gray=gray, rng=21)
    panel = input_slm.transmittance(input_slm.to_gray(images, WAVELENGTH), PITCH, WAVELENGTH,
                                    dtype=np.complex128)
    source = Field(panel * LASER.amplitude((n, n), PITCH), PITCH, WAVELENGTH)
    focal = lens_ft(source, FOCAL)
    output = lens_ft(focal.replace(focal.data * system.fourier_transmittance(gray=gray)), FOCAL)
    expected = camera.capture_irradiance(output.intensity, output.pitch, WAVELENGTH, rng=21)
    assert frames.dtype == expected.dtype and frames.shape == expected.shape == (2, n, n)
    assert np.mean(frames != expected) < 0.01
    assert np.abs(frames.astype(int) - expected).max() <= 1
    assert len(np.unique(frames)) > 100


@pytest.mark.parametrize("mode, lit", [("amplitude", (19, 29)), ("phase", (4, 44))])
def test_input_slm_field_is_dark_outside_the_rows_it_reports(mode, lit):
    """10-row images on a 40-row panel centred on a 48-row grid: the amplitude panel is dark
    around them (gray 0 transmits nothing), the phase panel transmits everywhere on it."""
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), (48, 48), PITCH,
                   input_slm=SLM((40, 40), PITCH, mode=mode, bits=8))
    images = np.random.default_rng(13).uniform(0.2, 1.0, (2, 10, 12))
    field = np.abs(system.input_field(images).data)
    assert system._lit_rows(10) == lit
    rows = np.flatnonzero(field.max(axis=(0, 2)) > 0)
    assert (rows.min(), rows.max() + 1) == lit


@pytest.mark.parametrize("given", ["gray", "mask"])
def test_fourier_slm_pattern_is_kept_until_the_display_changes(given):
    """A panel holds its pattern between frames: a second batch through the same display
    reuses the transmittance; a display changed in place, or another one, is recomputed and
    gives the frames of a system that never saw the first (fringing, so the pattern is not a
    plain lookup)."""
    rng = np.random.default_rng(5)
    fourier_pitch = WAVELENGTH * FOCAL / (64 * PITCH)
    slm = SLM((64, 64), fourier_pitch, mode="phase", bits=6, crosstalk=0.8)
    system = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 64, PITCH, fourier_slm=slm)
    images = rng.random((2, 20, 20))
    first = np.exp(1j * rng.uniform(-np.pi, np.pi, (64, 64)))
    display = system.fourier_gray(first) if given == "gray" else first.copy()

    def frames(target, shown):
        return target.run(images, **{given: shown})

    before = frames(system, display)
    held = system._shown.pattern[2]
    assert not held.flags.writeable
    np.testing.assert_array_equal(frames(system, display), before)
    assert system._shown.pattern[2] is held                   # not recomputed
    if given == "gray":
        display[:8] = (display[:8] + 17) % slm.level_count   # changed in place
    else:
        display[:8] *= 1j
    changed = frames(system, display)
    assert system._shown.pattern[2] is not held
    fresh = FourF(LASER, Lens(FOCAL), Lens(FOCAL), 64, PITCH, fourier_slm=slm)
    np.testing.assert_array_equal(changed, frames(fresh, display))
    assert not np.allclose(changed, before)
    copied = pickle.loads(pickle.dumps(system))
    assert copied._shown.pattern is None                       # a cache does not travel
    np.testing.assert_array_equal(frames(copied, display), changed)
