"""Misaligned and defocused elements against closed forms: a shifted Fourier SLM tilts the
impulse response, a rotated one shows the rotated mask, a defocus is the Fresnel transfer
function (Gaussian beam widths), a shifted camera integrates shifted pixels, a shifted input
SLM shifts the output by the magnification; and the checks of the new fields."""

import math

import numpy as np
import pytest
from scipy.special import erf

from opticsim import SLM, Camera, Field, FourF, Laser, Lens, SamplingWarning, alignment
from tolerances import eps, fft_rounding

WAVELENGTH, POWER = 633e-9, 1.5e-3


def _fourier_slm_system(n, dx, f1, f2, *, readout="field", camera=None, **slm):
    """A 4f whose Fourier SLM's samples are the FFT's: pitch = oversample·λf1/(N·dx)."""
    oversample = slm.pop("oversample", 1)
    pitch = oversample * WAVELENGTH * f1 / (n * dx)
    fourier = SLM((n // oversample,) * 2, pitch, oversample=oversample, **slm)
    return FourF(Laser(WAVELENGTH, POWER), Lens(f1), Lens(f2), (n, n), dx, fourier_slm=fourier,
                 camera=camera, readout=readout, dtype=np.complex128)


def _moved(system, element, **fields):
    import dataclasses
    part = dataclasses.replace(getattr(system, element), **fields)
    return dataclasses.replace(system, **{element: part})


# --- Fourier SLM: shift ---------------------------------------------------------------------


def test_shifted_fourier_slm_convolves_with_the_tilted_kernel():
    """A panel (fill factor, fringing, 3 samples a pixel) shifted by a fraction of a pixel
    δ = (−0.21, 0.37) pixels multiplies the impulse response by exp(−i2π δ·x'/(λf2)) at the
    output samples x' (inverted frame; exp(+i2π δ·x/(λf2)) upright), and the output field of
    any input is the convolution with that tilted kernel."""
    n, dx, f1, f2 = 48, 9e-6, 0.12, 0.12
    base = _fourier_slm_system(n, dx, f1, f2, oversample=3, fill_factor=0.8, crosstalk=0.6)
    delta = (-0.21 * base.fourier_slm.pitch, 0.37 * base.fourier_slm.pitch)
    moved = _moved(base, "fourier_slm", shift_y=delta[0], shift_x=delta[1])
    gray = np.random.default_rng(5).integers(0, 256, base.mask_shape)
    point = np.zeros((n, n))
    point[n // 2, n // 2] = 1.0
    kernel = base.run(point, gray=gray)
    x = (np.arange(n) - n // 2) * base.output_pitch[0]
    tilt = np.exp(-2j * np.pi * (delta[0] * x[:, None] + delta[1] * x[None, :])
                  / (WAVELENGTH * f2))
    tilted = kernel * tilt
    scale = np.abs(kernel).max()
    passes = 4                                    # two lens FFTs, the panel's FFT and back
    tolerance = passes * fft_rounding(np.complex128, n * n) * scale
    np.testing.assert_allclose(moved.run(point, gray=gray), tilted, rtol=0, atol=tolerance)
    assert np.abs(tilted - kernel).max() > 0.1 * scale     # the tilt is no rounding
    image = np.random.default_rng(6).random((3, 4))
    inputs = np.zeros((n, n))
    inputs[n // 2 - 1:n // 2 + 2, n // 2 - 2:n // 2 + 2] = image
    expected = sum(inputs[i, j] * np.roll(tilted, (n // 2 - i, n // 2 - j), axis=(0, 1))
                   for i, j in zip(*np.nonzero(inputs)))        # f1 = f2: x' = −x
    np.testing.assert_allclose(moved.run(inputs, gray=gray), expected, rtol=0,
                               atol=image.size * tolerance)


# --- Fourier SLM: rotation ------------------------------------------------------------------


def test_fourier_slm_rotated_a_quarter_turn_shows_the_rotated_mask():
    """rotation = π/2 turns the displayed transmittance from +x towards +y about the axis
    sample n//2: sample (y, x) goes to (x, −y), numpy's rot90(·, −1) about that sample."""
    n = 16
    base = _fourier_slm_system(n, 8e-6, 0.1, 0.1)
    base = _moved(base, "fourier_slm", shape=(13, 13))        # a dark border on the grid
    turned = _moved(base, "fourier_slm", rotation=math.pi / 2)
    gray = np.random.default_rng(7).integers(0, 256, (13, 13))
    shown = base.fourier_transmittance(gray=gray)
    expected = np.roll(np.rot90(shown, -1), 1 - n % 2, axis=1)
    passes = 6                                          # three shears, an FFT pair each
    np.testing.assert_allclose(turned.fourier_transmittance(gray=gray), expected, rtol=0,
                               atol=passes * fft_rounding(np.complex128, n))


def test_small_rotation_moves_an_off_axis_spot_to_the_rotated_position():
    """Rotating samples of a Gaussian spot (σ = 3 samples: band-limited, and its periodic
    replicas 96 samples away, both to below ε) centred at c by θ = 0.07 rad gives the spot at
    R(θ)·c: exp(−|r − R(θ)c|²/(2σ²))."""
    n, d, sigma, theta = 96, 1.0, 3.0, 0.07
    y, x = np.mgrid[:n, :n] - n // 2
    centre = np.array([4.0, 9.0])                                       # (y, x)
    spot = np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * sigma ** 2))
    turned = alignment.warp(spot, alignment.warp_steps((n, n), (d, d), rotation=theta))
    cy = centre[1] * math.sin(theta) + centre[0] * math.cos(theta)
    cx = centre[1] * math.cos(theta) - centre[0] * math.sin(theta)
    expected = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma ** 2))
    np.testing.assert_allclose(turned, expected, rtol=0, atol=6 * fft_rounding(np.float64, n))


# --- defocus --------------------------------------------------------------------------------


def _gaussian_radius(focal_length, waist):
    """1/e² radius (m) of the focus of a Gaussian beam of ``waist`` (m) by a lens of f (m)."""
    return WAVELENGTH * focal_length / (math.pi * waist)


def test_defocused_fourier_slm_apodizes_the_beam_it_sees_there():
    """A Gaussian beam focused by lens 1 (waist w0) has radius w(Δz) = w0·√(1 + (Δz/z_R)²)
    at a Fourier SLM Δz from the focus; through an amplitude mask exp(−u²/a²) it transmits
    P·a²/(a² + w²). The 16-bit panel rounds amplitudes by at most 2⁻¹⁷, the power by P·2⁻¹⁶."""
    n, dx, f1, f2, waist = 64, 11e-6, 0.09, 0.13, 95e-6
    base = FourF(Laser(WAVELENGTH, POWER, "gaussian", waist), Lens(f1), Lens(f2), (n, n), dx,
                 dtype=np.complex128)
    slm = SLM((n, n), base.fft_pitch[0], mode="amplitude", bits=16)
    w0 = _gaussian_radius(f1, waist)
    rayleigh = math.pi * w0 ** 2 / WAVELENGTH
    a = 2.5 * w0
    u = (np.arange(n) - n // 2) * base.fft_pitch[0]
    mask = np.exp(-(u[:, None] ** 2 + u[None, :] ** 2) / a ** 2)
    ones = np.ones((n, n))
    for dz in (0.0, 0.8 * rayleigh, -1.7 * rayleigh):
        system = FourF(base.laser, base.lens1, base.lens2, (n, n), dx,
                       fourier_slm=SLM((n, n), slm.pitch, mode="amplitude", bits=16, defocus=dz),
                       dtype=np.complex128)
        frame = system.run(ones, gray=system.fourier_gray(mask))
        power = frame.sum() * system.output_pitch[0] * system.output_pitch[1]
        w_sq = w0 ** 2 * (1 + (dz / rayleigh) ** 2)
        assert power == pytest.approx(POWER * a ** 2 / (a ** 2 + w_sq), rel=0,
                                      abs=POWER * (2.0 ** -16 + fft_rounding(np.float64, n * n)))


def test_defocused_camera_sees_the_fresnel_propagated_field():
    """A camera Δz behind lens 2's focal plane: the field there is the in-focus field through
    the Fresnel transfer function exp(ikΔz)·exp(−iπλΔz·ν²) on the output grid
    (:func:`propagate.fresnel`, as ``Camera.seen`` applies it) to rounding, and a Gaussian
    imaged with waist W' = W·f2/f1 has grown to W'·√(1 + (Δz/z_R)²) (second moment ⟨x²⟩ = w²/4)."""
    n, dx, f1, f2, waist = 96, 7e-6, 0.1, 0.075, 60e-6
    sensor = Camera((n, n), (dx * f2 / f1,) * 2, exposure=1e-3)
    base = FourF(Laser(WAVELENGTH, POWER, "gaussian", waist), Lens(f1), Lens(f2), (n, n), dx,
                 camera=sensor, readout="field", dtype=np.complex128)
    imaged = waist * f2 / f1
    rayleigh = math.pi * imaged ** 2 / WAVELENGTH
    ones, mask = np.ones((n, n)), np.ones((n, n))
    focused = base.field(ones, mask)
    for dz in (0.4 * rayleigh, -0.35 * rayleigh):     # within N·dx'²/λ: no aliasing
        defocused = _moved(base, "camera", defocus=dz).run(ones, mask)
        expected = Camera((n, n), sensor.pitch, exposure=1e-3, defocus=dz).seen(focused).data
        scale = np.abs(focused.data).max()
        np.testing.assert_allclose(defocused, expected, rtol=0,
                                   atol=4 * fft_rounding(np.complex128, n * n) * scale)
        irradiance = np.abs(defocused) ** 2
        x = focused.x
        second = (irradiance.sum(axis=0) * x ** 2).sum() / irradiance.sum()
        assert 4 * second == pytest.approx(imaged ** 2 * (1 + (dz / rayleigh) ** 2),
                                           rel=n * n * eps(np.float64))


def test_undersampled_defocus_warns():
    """|Δz|·N·dx² > λf1² puts the defocus phase on the input grid above Nyquist."""
    n, dx, f1 = 32, 10e-6, 0.01
    limit = WAVELENGTH * f1 ** 2 / (n * dx * dx)
    with pytest.warns(SamplingWarning, match="defocus"):
        _fourier_slm_system(n, dx, f1, f1, defocus=1.5 * limit)


# --- camera ---------------------------------------------------------------------------------


def _gaussian_field(n, d, width, centre=(0.0, 0.0)):
    """A Field whose irradiance is exp(−2((x − cx)² + (y − cy)²)/width²) W/m²."""
    y, x = np.mgrid[:n, :n] - n // 2
    r_sq = (x * d - centre[1]) ** 2 + (y * d - centre[0]) ** 2
    return Field(np.exp(-r_sq / width ** 2).astype(np.complex128), d, WAVELENGTH)


def test_camera_shifted_by_one_pixel_shifts_the_frame_by_one_sample():
    d = 5e-6
    field = _gaussian_field(40, d, 40e-6, (3e-6, -7e-6))
    camera = Camera((24, 24), (d, d), exposure=1e-3, fill_factor=0.7)
    frame = camera.photons(field)
    shifted = Camera((24, 24), (d, d), exposure=1e-3, fill_factor=0.7, shift_x=d,
                     shift_y=-d).photons(field)
    # pixel edges n/2 cells from the origin, each rounded by ε·n/2 cells, over active widths
    # of √0.7 cell: the overlaps (and so the frames) agree to n·ε relative
    np.testing.assert_allclose(shifted[1:, :-1], frame[:-1, 1:], rtol=40 * eps(np.float64))


def test_camera_shifted_by_half_a_pixel_integrates_the_shifted_pixels():
    """Pixels of 8 samples shifted by half a pixel integrate exp(−2r²/w²) over their shifted
    areas: the erf differences, to the error of an irradiance held over each sample cell. Per
    axis that is the midpoint rule's p·h²·max|g''|/24 = p·h²/(6w²) over whole cells, and
    max|g'|·h²/8 = 1.21·h²/(8w) for each of the two half cells at a pixel's edges; the 2-D
    integral, at most p per axis, adds both axes' errors times p."""
    n, h, width = 128, 2e-6, 40e-6
    p = 8 * h
    field = _gaussian_field(n, h, width)
    camera = Camera((12, 12), (p, p), exposure=1e-3, shift_x=p / 2, shift_y=-p / 2)
    photon = camera.exposure / (6.62607015e-34 * 299792458.0 / WAVELENGTH)
    power = camera.photons(field) / photon

    def axis(shift):
        centres = (np.arange(12) - 6) * p + shift
        scale = width / math.sqrt(2)
        return scale * math.sqrt(math.pi) / 2 * (erf((centres + p / 2) / scale)
                                                 - erf((centres - p / 2) / scale))

    expected = np.outer(axis(-p / 2), axis(p / 2))
    per_axis = p * h * h / (6 * width ** 2) + 2 * 1.22 * h * h / (8 * width)
    np.testing.assert_allclose(power, expected, rtol=0, atol=2 * p * per_axis)
    centred = Camera((12, 12), (p, p), exposure=1e-3).photons(field) / photon
    assert np.abs(centred - expected).max() > 0.05 * expected.max()


def test_camera_rotated_a_quarter_turn_sees_the_rotated_frame():
    d = 5e-6
    field = _gaussian_field(32, d, 30e-6, (12e-6, 25e-6))
    frame = Camera((32, 32), (d, d), exposure=1e-3).photons(field)
    turned = Camera((32, 32), (d, d), exposure=1e-3, rotation=math.pi / 2).photons(field)
    expected = np.roll(np.rot90(frame, 1), 1, axis=0)      # the field turned by −π/2
    np.testing.assert_allclose(turned, expected, rtol=0,
                               atol=12 * fft_rounding(np.float64, 32) * frame.max())


# --- input SLM ------------------------------------------------------------------------------


def test_shifted_input_slm_shifts_the_output_by_the_magnification():
    """An input panel shifted by s moves the output field by M·s, M = −f2/f1: by one output
    sample for one input pixel at f2 = 2·f1, and for 0.3 pixel by the band-limited shift
    of the output (the output field is band-limited by the Fourier window; an odd N has no
    Nyquist sample, whose sign the inversion would flip)."""
    n, dx, f1, f2 = 33, 8e-6, 0.05, 0.1
    panel = SLM((n, n), dx)
    base = FourF(Laser(WAVELENGTH, POWER), Lens(f1), Lens(f2), input_slm=panel,
                 readout="field", dtype=np.complex128)
    images = np.random.default_rng(8).random((2, 9, 7)) * 2 * np.pi
    mask = np.ones((n, n))
    output = base.run(images, mask)
    scale = np.abs(output).max()
    for shift in (dx, 0.3 * dx):
        moved = _moved(base, "input_slm", shift_x=shift, shift_y=-shift)
        steps = alignment.warp_steps((n, n), base.output_pitch,
                                     (-shift * base.magnification, shift * base.magnification))
        np.testing.assert_allclose(moved.run(images, mask), alignment.warp(output, steps),
                                   rtol=0, atol=6 * fft_rounding(np.complex128, n * n) * scale)
    one_pixel = _moved(base, "input_slm", shift_x=dx).run(images, mask)
    np.testing.assert_allclose(one_pixel, np.roll(output, -1, axis=-1), rtol=0,
                               atol=6 * fft_rounding(np.complex128, n * n) * scale)


# --- checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("element, field, value, message", [
    (SLM, "shift_x", float("nan"), r"shift_x must be a finite real number \(m\)"),
    (SLM, "rotation", 2.0, r"rotation must be in \[-1.57"),
    (SLM, "defocus", float("inf"), r"defocus must be a finite real number \(m\)"),
    (Camera, "shift_y", "x", r"shift_y must be"),
    (Camera, "rotation", -1.6, r"rotation must be in \[-1.57"),
])
def test_alignment_fields_are_checked(element, field, value, message):
    args = ((8, 8), 8e-6) if element is SLM else ((8, 8), (8e-6, 8e-6))
    extra = {} if element is SLM else {"exposure": 1e-3}
    with pytest.raises(ValueError, match=message):
        element(*args, **extra, **{field: value})


def test_input_slm_defocus_and_a_camera_without_its_field_are_refused():
    with pytest.raises(ValueError, match="input_slm.defocus must be 0"):
        FourF(Laser(WAVELENGTH, POWER), Lens(0.1), Lens(0.1), input_slm=SLM((8, 8), 8e-6,
                                                                            defocus=1e-4))
    camera = Camera((8, 8), (8e-6, 8e-6), exposure=1e-3, rotation=0.1)
    with pytest.raises(ValueError, match="use capture"):
        camera.capture_irradiance(np.ones((8, 8)), 8e-6, WAVELENGTH)


def test_alignment_fields_are_swept_with_their_units():
    """``opticsim sweep --param fourier_slm.shift_x=…`` sets the field (rebuilding the element,
    which checks it) and plots it in its unit."""
    from opticsim import sweep

    camera = Camera((16, 16), (8e-6, 8e-6), exposure=1e-3)
    base = _fourier_slm_system(16, 8e-6, 0.1, 0.1, readout="intensity", camera=camera)
    point = dict([sweep.parameter("fourier_slm.shift_x=2e-6"), sweep.parameter(
        "camera.rotation=0.1"), sweep.parameter("fourier_slm.defocus=-3e-5")])
    moved = sweep.apply(base, {name: values[0] for name, values in point.items()})
    assert (moved.fourier_slm.shift_x, moved.camera.rotation, moved.fourier_slm.defocus) == \
        (2e-6, 0.1, -3e-5)
    with pytest.raises(ValueError, match=r"'camera.rotation': 3}: rotation must be in"):
        sweep.apply(base, {"camera.rotation": 3})
    assert [sweep.UNITS[f] for f in ("shift_x", "shift_y", "rotation", "defocus")] == \
        ["m", "m", "rad", "m"]
