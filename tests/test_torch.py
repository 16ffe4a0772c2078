"""``opticsim.torch``: the differentiable 4f against the NumPy engine, gradients, quantisers."""

import numpy as np
import pytest
import torch

import opticsim
from opticsim import SamplingWarning, _kernels
from opticsim import torch as ot
from opticsim.field import Field
from opticsim.propagate import lens_ft
from tolerances import fft_rounding

CUDA = [pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                      reason="no CUDA device"))]
DEVICES = ["cpu"] + CUDA
COMPLEX = {torch.float64: np.complex128, torch.float32: np.complex64}


def _relative(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def _fourf(shape, dtype=np.complex128, pupils=True) -> opticsim.FourF:
    """A 4f with everything that shapes its constants: Gaussian beam, lens-1 aperture and
    defocus, lens-2 aperture (Fourier-plane low-pass), unequal focal lengths and pitches."""
    laser = opticsim.Laser(633e-9, 2e-3, "gaussian", waist=60e-6)
    lens1 = opticsim.Lens(0.12, diameter=0.8e-3, zernike={4: 0.05}) if pupils else \
        opticsim.Lens(0.12)
    lens2 = opticsim.Lens(0.18, diameter=4e-3) if pupils else opticsim.Lens(0.18)
    return opticsim.FourF(laser, lens1, lens2, shape, (8e-6, 9e-6), dtype=dtype)


# --- lens transform and the fused 4f --------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("real", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(16, 16), (15, 18)])
def test_lens_ft_matches_engine(real, shape, device):
    complex_np = COMPLEX[real]
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal((2,) + shape) + 1j * rng.standard_normal((2,) + shape))
    field = Field(samples.astype(complex_np), (7e-6, 11e-6), 532e-9)
    expected = lens_ft(field, 0.15).data
    got = ot.lens_ft(torch.from_numpy(field.data).to(device), field.pitch, 532e-9, 0.15)
    assert got.dtype == ot.complex_dtype(real)
    # one FFT a side (ε·log2 N of the peak) and the shift and scale products
    assert _relative(got.cpu().numpy(), expected) < 4 * fft_rounding(real, shape[0] * shape[1])


@pytest.mark.parametrize("real", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(16, 16), (15, 18)])
def test_ideal_fourf_matches_engine_field_and_run(real, shape):
    complex_np = COMPLEX[real]
    fourf = _fourf(shape, complex_np)
    rng = np.random.default_rng(4)
    images = rng.random((2, 6, 7))
    masks = np.exp(2j * np.pi * rng.random((3,) + shape)) * rng.random((3,) + shape)
    model = ot.IdealFourF(fourf, (6, 7))
    got = model(torch.tensor(images, dtype=real)[:, None], torch.from_numpy(masks))
    # two lens transforms a side (ε·log2 N of the peak each, with their products), both
    # sides, doubled by |E|²
    tolerance = 16 * fft_rounding(real, shape[0] * shape[1])
    assert _relative(got.numpy(), fourf.field(images, masks).data) < tolerance
    assert _relative(ot.intensity(got).numpy(), fourf.run(images, masks)) < tolerance


def test_lens_transform_module_applies_pupil_then_transforms():
    lens = opticsim.Lens(0.1, diameter=60e-6, zernike={5: 0.1})
    rng = np.random.default_rng(5)
    field = Field(rng.standard_normal((12, 12)) + 0j, 5e-6, 800e-9)
    field = Field(field.data.astype(np.complex128), field.pitch, field.wavelength)
    module = ot.LensTransform(lens, (12, 12), 5e-6, 800e-9)
    got = module(torch.from_numpy(field.data))
    assert _relative(got.numpy(), lens.fourier(field).data) < 1e-12


# --- kernels and masks ----------------------------------------------------------------------


def test_mask_from_kernel_matches_engine_and_round_trips():
    fourf = _fourf((16, 14), pupils=False)
    kernel = np.random.default_rng(6).standard_normal((2, 5, 4))
    mask = ot.mask_from_kernel(fourf, torch.from_numpy(kernel))
    np.testing.assert_allclose(mask.numpy(), fourf.mask_from_kernel(kernel), atol=1e-12)
    back = ot.kernel_from_mask(fourf, mask, (5, 4))
    np.testing.assert_allclose(back.numpy(), kernel, atol=1e-12)
    full = ot.kernel_from_mask(fourf, mask)
    np.testing.assert_allclose(full.numpy(), fourf.kernel_from_mask(fourf.mask_from_kernel(kernel)),
                               atol=1e-12)
    assert np.abs(full.numpy()).sum() == pytest.approx(np.abs(kernel).sum(), rel=1e-12)


def test_mask_from_kernel_makes_the_4f_convolve():
    """Equal focal lengths: the upright output field is −(u ∗ h), the linear convolution."""
    laser = opticsim.Laser(532e-9, 1e-3)
    fourf = opticsim.FourF(laser, opticsim.Lens(0.1), opticsim.Lens(0.1), (24, 24), 8e-6,
                           dtype=np.complex128)
    rng = np.random.default_rng(7)
    image, kernel = rng.random((10, 10)), rng.standard_normal((5, 5))
    mask = ot.mask_from_kernel(fourf, torch.from_numpy(kernel))
    field = ot.IdealFourF(fourf, (10, 10))(torch.from_numpy(image), mask).numpy()
    amplitude = np.sqrt(laser.power / (24 * 24 * 64e-12))
    placed = np.zeros((24, 24))
    placed[7:17, 7:17] = image
    full = np.zeros((24, 24))
    for dy in range(5):
        for dx in range(5):
            full += kernel[dy, dx] * np.roll(placed, (dy - 2, dx - 2), axis=(0, 1))
    np.testing.assert_allclose(fourf.upright(field), -amplitude * full, atol=1e-9 * amplitude)


# --- gradients ------------------------------------------------------------------------------


def _grid_model():
    fourf = _fourf((10, 12))
    return fourf, ot.IdealFourF(fourf, (5, 6))


MASKS = {
    "phase": lambda p: torch.exp(1j * p),
    "amplitude": lambda p: torch.sigmoid(p).to(torch.complex128),
    "complex": lambda p: torch.sigmoid(p[0]) * torch.exp(1j * p[1]),
}


@pytest.mark.parametrize("kind", sorted(MASKS))
def test_gradcheck_mask_parameters(kind):
    fourf, model = _grid_model()
    gen = torch.Generator().manual_seed(8)
    images = torch.rand((2, 1, 5, 6), generator=gen, dtype=torch.float64)
    shape = (2,) + fourf.shape if kind == "complex" else fourf.shape
    params = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    scale = 1 / float(model.intensity(images, MASKS[kind](params.detach())).max())

    def frames(p):
        return model.intensity(images, MASKS[kind](p)) * scale

    assert torch.autograd.gradcheck(frames, (params,), eps=1e-6, atol=1e-7)


def test_gradcheck_input():
    fourf, model = _grid_model()
    gen = torch.Generator().manual_seed(9)
    mask = torch.exp(1j * torch.randn(fourf.shape, generator=gen, dtype=torch.float64))
    images = torch.rand((2, 1, 5, 6), generator=gen, dtype=torch.float64, requires_grad=True)
    scale = 1 / float(model.intensity(images.detach(), mask).max())
    assert torch.autograd.gradcheck(lambda x: model.intensity(x, mask) * scale, (images,),
                                    eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("chirp_z", [False, True])
def test_gradcheck_through_transforms_of_another_fourier_pitch(chirp_z, monkeypatch):
    """The layer on a Fourier SLM of its own pitch (hardware off), through matrix or chirp-z
    transforms: gradients with respect to the phase mask and to the images."""
    monkeypatch.setattr(opticsim.propagate, "_use_chirp_z", lambda *shapes: chirp_z)
    fourf = _hardware_system(fourier_slm=opticsim.SLM((6, 6), 0.85 * 24e-6, "phase",
                                                      fill_factor=0.8, oversample=3))
    assert not fourf.fourier_by_fft
    layer = ot.Optical4fConv(fourf, 1, 1, 3, hardware=False, image_shape=(5, 4)).double()
    gen = torch.Generator().manual_seed(12)
    images = torch.rand((1, 1, 5, 4), generator=gen, dtype=torch.float64, requires_grad=True)
    phase = torch.randn(layer.phase.shape, generator=gen, dtype=torch.float64,
                        requires_grad=True)
    with torch.no_grad():
        scale = 1 / float(layer(images).abs().max())

    def frames(p, x):
        return torch.func.functional_call(layer, {"phase": p}, (x,)) * scale

    assert torch.autograd.gradcheck(frames, (phase, images), eps=1e-6, atol=1e-7)


def test_chirp_z_lens_equals_the_matrix_transform():
    """Both forms of :func:`lens_at_pitch` on a non-square grid to a grid of another pitch and
    shape (complex128): the same samples to rounding."""
    args = ((24, 30), (8e-6, 9e-6), (20, 27), (2.1e-4, 1.9e-4), 633e-9, 0.08, "<c16")
    field = torch.randn((2, 24, 30), dtype=torch.complex128,
                        generator=torch.Generator().manual_seed(3))
    matrices = [torch.tensor(f) for f in opticsim.propagate.mft_matrices(*args)]
    chirp = [torch.tensor(f) for f in opticsim.propagate.chirp_z_factors(*args)]
    expected = ot.lens_at_pitch(field, matrices)
    assert expected.shape == (2, 20, 27)
    assert _relative(ot.lens_at_pitch(field, chirp), expected) < 1e-12


def test_gradcheck_kernel_mask_helpers():
    fourf = _fourf((8, 9), pupils=False)
    kernel = torch.randn((3, 4), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: torch.view_as_real(ot.mask_from_kernel(fourf, k)),
                                    (kernel,))
    mask = torch.randn(fourf.shape, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda m: torch.view_as_real(ot.kernel_from_mask(fourf, m, (3, 3))), (mask,))


# --- quantisation, ADC, noise ---------------------------------------------------------------


@pytest.mark.parametrize("period", [0.0, 2 * np.pi])
def test_nearest_index_matches_engine_kernel(period):
    rng = np.random.default_rng(10)
    keys = np.sort(rng.random(37) * (2 * np.pi if period else 1.0))
    values = rng.uniform(-7.0, 13.0, 4000) if period else rng.random(4000)
    values[:37] = keys                       # exact hits
    grays = np.arange(37)
    expected = _kernels.quantize_nearest_reference(values, keys, grays, period)
    got = ot.nearest_index(torch.from_numpy(values), torch.from_numpy(keys), period)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_phase_quantiser_wraps_rounds_and_passes_gradient_straight_through():
    levels = ot.uniform_levels(3, 2 * np.pi)                   # 8 levels, π/4 apart
    phase = torch.tensor([0.1, 0.5, -0.5, 2 * np.pi - 0.1, 7.0, 3 * np.pi / 8 + 1e-9],
                         dtype=torch.float64, requires_grad=True)
    shown = ot.quantize(phase, levels, 2 * np.pi)
    step = np.pi / 4
    np.testing.assert_allclose(shown.detach().numpy(),
                               [0, step, 7 * step, 0, step * round((7 - 2 * np.pi) / step),
                                2 * step], atol=1e-15)
    (shown * torch.arange(6.0, dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(phase.grad.numpy(), np.arange(6.0))


def test_adc_rounds_clips_and_has_straight_through_gradient():
    electrons = torch.tensor([-50.0, 0.0, 12.34, 99.6, 5e4], dtype=torch.float64,
                             requires_grad=True)
    counts = ot.adc(electrons, gain=0.5, offset=10.0, bits=8)
    np.testing.assert_array_equal(counts.detach().numpy(), [0, 10, 16, 60, 255])
    counts.sum().backward()
    np.testing.assert_array_equal(electrons.grad.numpy(), [0, 0.5, 0.5, 0.5, 0])


@pytest.mark.parametrize("method", ["gaussian", "poisson"])
def test_shot_noise_has_poisson_statistics_seeded_and_unit_gradient(method):
    mean = torch.full((200_000,), 37.0, dtype=torch.float64, requires_grad=True)
    sample = ot.shot_noise(mean, ot.generator(11), method)
    again = ot.shot_noise(mean, ot.generator(11), method)
    assert torch.equal(sample, again)
    assert not torch.equal(sample, ot.shot_noise(mean, ot.generator(12), method))
    # 5 standard errors, whatever numbers the CPU's sampler draws: of the mean √(λ/n), of the
    # variance √((2λ² + λ)/n) for Poisson counts (2λ²/n for the normal draw)
    rate, n = 37.0, mean.numel()
    assert float(sample.detach().mean()) == pytest.approx(rate, abs=5 * np.sqrt(rate / n))
    assert float(sample.detach().var()) == pytest.approx(
        rate, abs=5 * np.sqrt((2 * rate ** 2 + rate) / n))
    if method == "poisson":
        assert torch.equal(sample, torch.round(sample))
    sample.sum().backward()
    assert torch.equal(mean.grad, torch.ones_like(mean))


def test_read_noise_variance_and_seed():
    electrons = torch.zeros(100_000, dtype=torch.float64)
    noisy = ot.read_noise(electrons, 2.5, ot.generator(13))
    # 5 standard errors of a standard deviation from n normal samples, σ/√(2n)
    assert float(noisy.std()) == pytest.approx(2.5, rel=5 / np.sqrt(2 * electrons.numel()))
    assert torch.equal(noisy, ot.read_noise(electrons, 2.5, ot.generator(13)))
    assert ot.read_noise(electrons, 0.0, ot.generator(13)) is electrons


# --- Optical4fConv against the engine -------------------------------------------------------

GRID, INPUT_PITCH = 48, 8e-6


def _ideal_system(readout="intensity", multiplex="time", dtype=np.complex128, camera=None):
    """Ideal modulators on a non-square grid, unequal focal lengths."""
    return opticsim.FourF(opticsim.Laser(532e-9, 1e-3), opticsim.Lens(0.1), opticsim.Lens(0.15),
                          (40, GRID), INPUT_PITCH, camera=camera, readout=readout,
                          multiplex=multiplex, dtype=dtype)


def _hardware_system(readout="intensity", multiplex="time", dtype=np.complex128,
                     fourier_slm=None, input_slm=None, camera=None):
    """Every element non-ideal: Gaussian beam, lens-1 aperture, a 5-bit amplitude input SLM, a
    6-bit phase Fourier SLM (3× oversampled, 80 % fill factor, fringing) whose pitch matches
    the Fourier plane, a camera of another pitch with dark current, offset, PRNU and DSNU."""
    focal_length = 24e-6 / 3 * GRID * INPUT_PITCH / 532e-9
    fourier_slm = fourier_slm or opticsim.SLM((16, 16), 24e-6, "phase", bits=6,
                                              fill_factor=0.8, crosstalk=1.0, oversample=3)
    input_slm = input_slm or opticsim.SLM((GRID, GRID), INPUT_PITCH, "amplitude", bits=5)
    camera = camera or opticsim.Camera((28, 28), 13e-6, exposure=1e-8, offset=20,
                                       dark_current=5e4, prnu=0.02, dsnu=0.5)
    return opticsim.FourF(opticsim.Laser(532e-9, 1e-3, "gaussian", waist=0.2e-3),
                          opticsim.Lens(focal_length, diameter=0.35e-3),
                          opticsim.Lens(1.25 * focal_length), input_slm=input_slm,
                          fourier_slm=fourier_slm, camera=camera, readout=readout,
                          multiplex=multiplex, dtype=dtype)


def _engine_frames(fourf, images, layout, mask=None, gray=None):
    """The engine's frames with the camera's noise off, from its public pieces (``run`` draws
    camera noise, so the noise-free capture is assembled here the same way)."""
    if fourf.camera is None or fourf.readout == "field":
        return fourf.run(images, mask, gray=gray, layout=layout)
    lead = np.shape(mask if mask is not None else gray)[:-2]
    source = (mask if mask is not None else gray).reshape((-1,) + fourf.mask_shape)
    displays = (fourf.fourier_transmittance(source) if mask is not None
                else fourf.fourier_transmittance(gray=source))
    irradiance = fourf.irradiance(layout.place(images, fourf.shape), displays)
    frames = fourf.camera.capture_irradiance(irradiance, fourf.output_pitch, fourf.wavelength,
                                             noise=False)
    if fourf.readout == "differential":
        frames = frames[:, 0::2] - frames[:, 1::2]
    if layout.tiled:
        frames = frames[:, 0]
    assert frames.shape[1:-2] == (() if layout.tiled else lead[:1])
    scale = fourf.output_pitch[1] / fourf.camera.pitch[1]
    return layout.extract(fourf.upright(frames), fourf.shape, scale)


SCHEMES = [(r, m) for r in ("intensity", "field", "differential") for m in ("time", "tiled")]


def _other_pitch_fourier_slm():
    """The hardware system's Fourier SLM at 0.85× its pitch: not the FFT's sampling, so both
    backends take matrix Fourier transforms."""
    return opticsim.SLM((16, 16), 0.85 * 24e-6, "phase", bits=6, fill_factor=0.8,
                        crosstalk=1.0, oversample=3)


@pytest.mark.parametrize("system", ["ideal", "hardware", "other_pitch", "chirp_z"])
@pytest.mark.parametrize("readout,multiplex", SCHEMES)
@pytest.mark.parametrize("real", [torch.float64, torch.float32])
def test_layer_matches_engine_for_every_readout(readout, multiplex, system, real, monkeypatch):
    complex_np = COMPLEX[real]
    tiled = multiplex == "tiled"
    channels, image_shape = ((1, 2), (5, 4)) if tiled else ((2, 3), (8, 6))
    if system != "ideal":
        channels = (1, channels[1])        # see test_fourier_slm_pixels_limit_kernel_shifts
    if system == "ideal":
        fourf, mask = _ideal_system(readout, multiplex, complex_np), "complex"
    elif system == "hardware":
        fourf, mask = _hardware_system(readout, multiplex, complex_np), "phase"
    else:               # chirp_z: both backends take the transforms of large grids
        if system == "chirp_z":
            monkeypatch.setattr(opticsim.propagate, "_use_chirp_z", lambda *shapes: True)
        fourf = _hardware_system(readout, multiplex, complex_np, _other_pitch_fourier_slm())
        mask = "phase"
        assert not fourf.fourier_by_fft
        lenses = ot.fourf_lens_factors(fourf)
        assert [len(lens) for lens in lenses] == [3 if system == "chirp_z" else 2] * 2
    layer = ot.Optical4fConv(fourf, *channels, 3, mask=mask, image_shape=image_shape).eval()
    layer = layer.to(real)
    gen = torch.Generator().manual_seed(20)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(2 * torch.randn(parameter.shape, generator=gen))
    images = torch.rand((2, channels[0]) + image_shape, generator=gen, dtype=real)
    got = layer(images).detach().numpy()
    layout = layer.layout(image_shape)
    if system == "ideal":
        expected = _engine_frames(fourf, images.numpy(), layout,
                                  mask=layer.transmittance().detach().numpy())
    else:
        expected = _engine_frames(fourf, images.numpy(), layout, gray=layer.export_gray())
    th, tw = layout.tile_shape
    if fourf.camera is None or readout == "field":
        assert got.shape == (2, channels[1], th, tw)
    assert got.shape == expected.shape
    if fourf.camera is not None and readout != "field":
        assert np.ptp(got) > 100 and got.max() < fourf.camera.max_level   # not clipped
    # two lens transforms a side (FFTs, matrix products or chirp-z), both sides, |E|², and the
    # ± captures of the differential readout subtracted
    assert _relative(got, expected) < 16 * fft_rounding(real, fourf.shape[0] * fourf.shape[1])


# Each misalignment at a size that changes the frames: sub-pixel shifts, small rotations,
# defocus within the sampling limits of the hardware system (λf²/(N·d²) = 5.8 mm and 9 mm).
ALIGNMENTS = [("fourier_slm", {"shift_x": 0.37 * 24e-6, "shift_y": -0.21 * 24e-6}),
              ("fourier_slm", {"rotation": 0.05}),
              ("fourier_slm", {"defocus": 1.5e-3}),
              ("camera", {"defocus": -1e-3}),
              ("camera", {"shift_x": 0.4 * 13e-6, "shift_y": -0.7 * 13e-6, "rotation": 0.04}),
              ("input_slm", {"shift_x": 0.3 * INPUT_PITCH, "shift_y": -1.6 * INPUT_PITCH})]


def _aligned_frames(fourf, images, layout, gray):
    """The engine's noise-free camera frames (or field) of a possibly misaligned system: the
    irradiance in the camera's axes (``FourF.run`` without its noise), captured noise-free."""
    if fourf.readout == "field":
        return fourf.run(images, gray=gray, layout=layout)
    placed = layout.place(images, fourf.shape)
    displays = fourf.fourier_transmittance(gray=gray.reshape((-1,) + fourf.mask_shape))
    irradiance = (fourf._camera_view(placed, displays) if fourf.camera.rotation
                  else fourf.irradiance(placed, displays))
    frames = fourf.camera._capture(irradiance, fourf.output_pitch, fourf.wavelength,
                                   fourf.camera.exposure, None, False)
    return layout.extract(fourf.upright(frames), fourf.shape,
                          fourf.output_pitch[1] / fourf.camera.pitch[1])


@pytest.mark.parametrize("element, fields", ALIGNMENTS)
@pytest.mark.parametrize("readout", ["intensity", "field"])
@pytest.mark.parametrize("real", [torch.float64, torch.float32])
def test_layer_matches_engine_with_misaligned_elements(element, fields, readout, real):
    """Layer equals engine with each misalignment on (two lens transforms a side, and the
    panel's or field's warp: FFT pairs along each step's axes), and the misalignment shows."""
    import dataclasses

    if readout == "field" and element == "camera" and "rotation" in fields:
        pytest.skip("the field readout is before the camera's pixels")
    aligned = _hardware_system(readout, dtype=COMPLEX[real])
    fourf = dataclasses.replace(aligned, **{element: dataclasses.replace(
        getattr(aligned, element), **fields)})
    image_shape = (8, 6)
    layers = [ot.Optical4fConv(system, 1, 2, 3, image_shape=image_shape).eval().to(real)
              for system in (fourf, aligned)]
    gen = torch.Generator().manual_seed(21)
    with torch.no_grad():
        for layer in layers:
            layer.phase.copy_(2 * torch.randn(layer.phase.shape, generator=gen.manual_seed(4)))
    images = torch.rand((2, 1) + image_shape, generator=gen, dtype=real)
    got = layers[0](images).detach().numpy()
    expected = _aligned_frames(fourf, images.numpy(), layers[0].layout(image_shape),
                               layers[0].export_gray())
    passes = 8                      # four lens FFTs and up to four warp FFT pairs a side
    tolerance = passes * 2 * fft_rounding(real, fourf.shape[0] * fourf.shape[1])
    assert _relative(got, expected) < tolerance
    assert _relative(layers[1](images).detach().numpy(), expected) > 100 * tolerance


def test_layer_sums_input_channels_as_fields_into_linear_convolutions():
    """Ideal field readout, two inputs, three outputs, kernels from a digital layer: the
    upright outputs are −(f1/f2)·A·Σ_i x_i ∗ h_ci / s (A the beam amplitude, s the passive
    scaling of :meth:`set_kernels`)."""
    fourf = _ideal_system("field")
    gen = torch.Generator().manual_seed(21)
    kernels = torch.randn((3, 2, 3, 5), generator=gen, dtype=torch.float64)
    images = torch.rand((2, 2, 7, 5), generator=gen, dtype=torch.float64)
    layer = ot.Optical4fConv(fourf, 2, 3, (3, 5), mask="complex", image_shape=(7, 5)).double()
    scale = layer.set_kernels(kernels)
    got = layer(images).detach()
    digital = torch.nn.functional.conv2d(images, kernels.flip(-2, -1), padding=(2, 4))
    amplitude = np.sqrt(fourf.laser.power / (40 * GRID * INPUT_PITCH ** 2))
    factor = -fourf.lens1.focal_length / fourf.lens2.focal_length * amplitude / scale
    # set_kernels keeps amplitudes below 1 − 1e-6 (the logit of sigmoid(a) stays finite)
    np.testing.assert_allclose(got.numpy(), factor * digital.numpy(),
                               atol=1e-5 * np.abs(factor * digital.numpy()).max())


@pytest.mark.parametrize("readout", ["intensity", "differential"])
@pytest.mark.parametrize("other_pitch", [False, True])
def test_masks_from_kernels_match_engine_on_a_pixelated_fourier_slm(readout, other_pitch):
    fourf = _hardware_system(readout, fourier_slm=_other_pitch_fourier_slm() if other_pitch
                             else None)
    with pytest.warns(SamplingWarning, match="replicas"):    # masks only, nothing imaged
        layout = fourf.layout(2, 3, (8, 6), (3, 3))
    kernels = np.random.default_rng(22).standard_normal((3, 2, 3, 3))
    got = ot.masks_from_kernels(fourf, torch.from_numpy(kernels), layout).numpy()
    np.testing.assert_allclose(got, fourf.masks_from_kernels(kernels, layout), atol=1e-6)
    mask = got.reshape((-1,) + fourf.mask_shape)
    np.testing.assert_allclose(ot.kernel_from_mask(fourf, torch.from_numpy(mask)).numpy(),
                               fourf.kernel_from_mask(mask), atol=1e-12)


def test_export_gray_is_what_the_slm_shows():
    fourf = _hardware_system()
    layer = ot.Optical4fConv(fourf, 1, 2, 3).double()
    with torch.no_grad():
        layer.phase.copy_(torch.linspace(-9, 9, layer.phase.numel()).reshape(layer.phase.shape))
    gray = layer.export_gray()
    assert gray.dtype == np.uint8 and gray.shape == (2, 16, 16) and gray.max() == 63
    phases = layer.phase.detach().double().numpy()
    np.testing.assert_array_equal(gray, fourf.fourier_slm.to_gray(phases, fourf.wavelength))
    np.testing.assert_array_equal(gray, fourf.fourier_gray(np.exp(1j * phases)))
    shown = layer.displays().detach().to(torch.complex128).numpy()
    np.testing.assert_allclose(shown, fourf.fourier_transmittance(gray=gray), atol=1e-12)


def test_export_gray_refuses_non_finite_displays():
    layer = ot.Optical4fConv(_hardware_system(), 1, 2, 3).double()
    with torch.no_grad():
        layer.phase[1, 0, 2] = float("nan")
    with pytest.raises(ValueError, match="the layer's displays .* contains NaN"):
        layer.export_gray()


def _fourier_slm(kind):
    lut = np.exp(2j * np.pi * np.arange(64) / 64) * np.linspace(0.6, 1.0, 64)  # phase-coupled
    return {"amplitude": opticsim.SLM((16, 16), 24e-6, "amplitude", bits=4, fill_factor=0.8,
                                      oversample=3),
            "binary": opticsim.SLM((16, 16), 24e-6, "binary", fill_factor=0.8, oversample=3,
                                   crosstalk=0.7),
            "complex-lut": opticsim.SLM((16, 16), 24e-6, "phase", bits=6, lut=lut,
                                        fill_factor=0.8, oversample=3, crosstalk=1.0)}[kind]


@pytest.mark.parametrize("kind,mask", [("amplitude", "amplitude"), ("binary", "amplitude"),
                                       ("complex-lut", "complex")])
def test_layer_matches_engine_for_other_fourier_slms(kind, mask):
    fourf = _hardware_system(fourier_slm=_fourier_slm(kind))
    layer = ot.Optical4fConv(fourf, 1, 3, 3, mask=mask, image_shape=(8, 6)).double().eval()
    gen = torch.Generator().manual_seed(33)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(2 * torch.randn(parameter.shape, generator=gen))
    images = torch.rand((2, 1, 8, 6), generator=gen, dtype=torch.float64)
    gray = layer.export_gray()
    assert np.unique(gray).size == fourf.fourier_slm.level_count
    np.testing.assert_array_equal(
        gray, fourf.fourier_gray(layer.transmittance().detach().numpy()))
    expected = _engine_frames(fourf, images.numpy(), layer.layout((8, 6)), gray=gray)
    assert _relative(layer(images).detach().numpy(), expected) < 1e-12


def test_fourier_slm_pixels_limit_kernel_shifts():
    """A Fourier SLM of oversample s replicates the kernel every N/s samples, so its pixels
    show the same carrier for shifts d and d ± N/s: two input channels side by side need
    shifts of half the replica period, which a 3× oversampled panel cannot show (the engine
    then puts the second channel's contribution in the wrong place); one panel pixel per
    sample can."""
    with pytest.raises(ValueError, match="fourf's Fourier SLM cannot hold"):
        ot.Optical4fConv(_hardware_system(), 2, 1, 3, image_shape=(8, 6))
    fourier_slm = opticsim.SLM((GRID, GRID), 8e-6, "phase", bits=6)
    fourf = _hardware_system(fourier_slm=fourier_slm)
    layer = ot.Optical4fConv(fourf, 2, 3, 3, image_shape=(8, 6)).double().eval()
    with torch.no_grad():
        layer.phase.copy_(torch.randn(layer.phase.shape, generator=torch.Generator()
                                      .manual_seed(31)))
    images = torch.rand((2, 2, 8, 6), generator=torch.Generator().manual_seed(32),
                        dtype=torch.float64)
    expected = _engine_frames(fourf, images.numpy(), layer.layout((8, 6)),
                              gray=layer.export_gray())
    assert _relative(layer(images).detach().numpy(), expected) < 1e-12


# --- gradients of the layer -----------------------------------------------------------------


def _small_hardware_system(fourier_mode):
    """A 16×16 grid with a 4-level Fourier SLM of 2× oversampling and fringing, a phase input
    SLM and a camera of another pitch, for float64 gradcheck with the quantisers off."""
    fourier_slm = None
    if fourier_mode is not None:
        fourier_slm = opticsim.SLM((8, 8), 16e-6, fourier_mode, bits=2, crosstalk=0.8,
                                   oversample=2)
    focal_length = 8e-6 * 16 * 8e-6 / 532e-9
    camera = opticsim.Camera((12, 12), 11e-6, exposure=1e-10, dark_current=0, read_noise=0)
    return opticsim.FourF(opticsim.Laser(532e-9, 1e-3), opticsim.Lens(focal_length),
                          opticsim.Lens(focal_length),
                          input_slm=opticsim.SLM((16, 16), 8e-6, "phase", bits=2,
                                                 crosstalk=0.5),
                          fourier_slm=fourier_slm, camera=camera, dtype=np.complex128)


@pytest.mark.parametrize("mask,fourier_mode", [("phase", "phase"), ("amplitude", "amplitude"),
                                               ("complex", None)])
def test_gradcheck_layer_masks_hardware_off(mask, fourier_mode):
    fourf = _small_hardware_system(fourier_mode)
    layer = ot.Optical4fConv(fourf, 1, 1, 3, mask=mask, hardware=False,
                             image_shape=(4, 4)).double()
    gen = torch.Generator().manual_seed(23)
    images = torch.rand((2, 1, 4, 4), generator=gen, dtype=torch.float64)
    parameters = [p for p in layer.parameters()]
    with torch.no_grad():
        for parameter in parameters:
            parameter.copy_(torch.randn(parameter.shape, generator=gen))
    names = [name for name, _ in layer.named_parameters()]

    def frames(*values):
        return torch.func.functional_call(layer, dict(zip(names, values)), (images,))

    assert float(frames(*parameters).detach().max()) < fourf.camera.max_level
    assert torch.autograd.gradcheck(frames, tuple(parameters), eps=1e-6, atol=1e-5)


def test_gradcheck_layer_masks_through_misaligned_elements():
    """Gradients flow through the warps and defocus phases of every misaligned element."""
    import dataclasses

    fourf = _small_hardware_system("phase")
    fourf = dataclasses.replace(
        fourf, input_slm=dataclasses.replace(fourf.input_slm, shift_x=3e-6),
        fourier_slm=dataclasses.replace(fourf.fourier_slm, shift_y=5e-6, rotation=0.1,
                                        defocus=2e-5),
        camera=dataclasses.replace(fourf.camera, shift_x=4e-6, rotation=-0.05, defocus=1e-5))
    layer = ot.Optical4fConv(fourf, 1, 1, 3, hardware=False, image_shape=(4, 4)).double()
    gen = torch.Generator().manual_seed(24)
    images = torch.rand((2, 1, 4, 4), generator=gen, dtype=torch.float64)
    phase = torch.randn(layer.phase.shape, generator=gen, dtype=torch.float64,
                        requires_grad=True)

    def frames(values):
        return torch.func.functional_call(layer, {"phase": values}, (images,))

    assert float(frames(phase).detach().max()) < fourf.camera.max_level
    assert torch.autograd.gradcheck(frames, (phase,), eps=1e-6, atol=1e-5)


def test_gradcheck_layer_input_hardware_off():
    fourf = _small_hardware_system("phase")
    layer = ot.Optical4fConv(fourf, 1, 2, 3, hardware=False, image_shape=(4, 5)).double()
    gen = torch.Generator().manual_seed(24)
    with torch.no_grad():
        layer.phase.copy_(torch.randn(layer.phase.shape, generator=gen))
    images = torch.rand((2, 1, 4, 5), generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (images,), eps=1e-6, atol=1e-5)


def test_quantised_gradient_is_the_ideal_gradient_at_the_shown_levels():
    """Straight-through: with hardware on, the gradient at φ equals the hardware-off gradient
    at the quantised phase φ_q, and the forward pass equals the one at φ_q."""
    fourf = _small_hardware_system("phase")
    hardware = ot.Optical4fConv(fourf, 1, 1, 3, image_shape=(4, 4)).double().eval()
    ideal = ot.Optical4fConv(fourf, 1, 1, 3, hardware=False, image_shape=(4, 4)).double()
    gen = torch.Generator().manual_seed(25)
    with torch.no_grad():
        hardware.phase.copy_(torch.randn(hardware.phase.shape, generator=gen))
        levels = fourf.fourier_slm.phases(fourf.wavelength)
        ideal.phase.copy_(torch.from_numpy(levels[hardware.export_gray()]))
    assert not torch.allclose(hardware.phase, ideal.phase)
    images = torch.rand((3, 1, 4, 4), generator=gen, dtype=torch.float64)
    images_q = torch.from_numpy(
        fourf.input_slm.phases(fourf.wavelength)[fourf.input_slm.to_gray(images.numpy())])
    out_hw, out_ideal = hardware(images), ideal(images_q)
    weights = torch.rand(out_hw.shape, generator=gen, dtype=torch.float64)
    (out_hw * weights).sum().backward()
    (out_ideal * weights).sum().backward()
    torch.testing.assert_close(out_hw, out_ideal, rtol=1e-12, atol=0)
    engine = _engine_frames(fourf, images.numpy(), hardware.layout((4, 4)),
                            gray=hardware.export_gray())
    assert _relative(out_hw.detach().numpy(), engine) < 1e-12
    torch.testing.assert_close(hardware.phase.grad, ideal.phase.grad, rtol=1e-10, atol=0)
    assert float(hardware.phase.grad.abs().max()) > 0


@pytest.mark.parametrize("device", DEVICES)
def test_layer_on_device_matches_engine_and_differentiates(device):
    fourf = _hardware_system(dtype=np.complex64)
    layer = ot.Optical4fConv(fourf, 1, 3, 3, image_shape=(8, 6)).to(device).eval()
    gen = torch.Generator().manual_seed(30)
    with torch.no_grad():
        layer.phase.copy_(2 * torch.randn(layer.phase.shape, generator=gen))
    images = torch.rand((2, 1, 8, 6), generator=gen)
    frames = layer(images.clone().to(device).requires_grad_(True))
    assert frames.device.type == device and frames.dtype == torch.float32
    expected = _engine_frames(fourf, images.numpy(), layer.layout((8, 6)),
                              gray=layer.export_gray())
    tolerance = 16 * fft_rounding(torch.float32, fourf.shape[0] * fourf.shape[1])   # as above
    assert _relative(frames.detach().cpu().numpy(), expected) < tolerance
    frames.sum().backward()
    assert torch.isfinite(layer.phase.grad).all() and float(layer.phase.grad.abs().max()) > 0


# --- noise ------------------------------------------------------------------------------------


def test_camera_noise_follows_photon_transfer_and_the_engine():
    """Uniform irradiance through the torch camera: mean and temporal variance match the EMVA
    1288 photon transfer ``σ_y² = K²σ_d² + 1/12 + K(μ_y − μ_y.dark)`` and the engine's frames
    (interior pixels; the edge pixels reach past the sampled window)."""
    camera = opticsim.Camera((40, 40), 5e-6, exposure=2e-3, gain=0.3, read_noise=3.0,
                             dark_current=400, offset=30, bits=12)
    irradiance = np.full((64, 80, 80), 2e-3)
    module = ot.CameraResponse(camera, (80, 80), 2.5e-6, 633e-9)
    frames = module(torch.from_numpy(irradiance), noise=True, generator=ot.generator(26))
    engine = camera.capture_irradiance(irradiance, 2.5e-6, 633e-9, rng=26).astype(float)
    mean = module(torch.from_numpy(irradiance[:1])).numpy()[0, 1:-1, 1:-1]
    np.testing.assert_allclose(mean, camera.capture_irradiance(
        irradiance[0], 2.5e-6, 633e-9, noise=False)[1:-1, 1:-1], rtol=1e-12)
    dark = 30 + 0.3 * 400 * 2e-3
    photons = 2e-3 * 25e-12 * 2e-3 * 633e-9 / (6.62607015e-34 * 299792458.0)
    assert (mean - dark) / 0.3 == pytest.approx(camera.qe * photons, rel=1e-9)
    expected_var = 0.3 ** 2 * (3.0 ** 2 + 400 * 2e-3) + 1 / 12 + 0.3 * (mean.mean() - dark)
    # 5 standard errors, whatever numbers the CPU's samplers draw: of the mean √(σ²/n), of the
    # variance σ²·√(2/n) (the Poisson fourth cumulant K⁴μ_e adds < 1 % to it)
    n = frames[:, 1:-1, 1:-1].numel()
    for sample in (frames.numpy()[:, 1:-1, 1:-1], engine[:, 1:-1, 1:-1]):
        assert sample.mean() == pytest.approx(mean.mean(), abs=5 * np.sqrt(expected_var / n))
        assert sample.var() == pytest.approx(expected_var, rel=5 * np.sqrt(2 / n))
    assert np.array_equal(frames.numpy(), np.round(frames.numpy()))


def test_noise_in_training_off_in_eval_and_seeded():
    fourf = _hardware_system(camera=opticsim.Camera((28, 28), 13e-6, exposure=1e-8,
                                                    read_noise=5.0))
    images = torch.rand((2, 1, 8, 6), generator=torch.Generator().manual_seed(27))
    first, second = (ot.Optical4fConv(fourf, 1, 1, 3, seed=5) for _ in range(2))
    a, b = first(images), first(images)
    assert not torch.equal(a, b)                          # fresh noise every frame
    assert torch.equal(a, second(images))                 # same seed, same frames
    assert torch.equal(a, torch.round(a))                 # ADC rounding
    first.eval()
    assert torch.equal(first(images), first(images))      # eval: mean response
    assert not torch.equal(first(images), torch.round(first(images)))
    first.eval_noise = True
    assert not torch.equal(first(images), first(images))
    seeded = [first(images, generator=ot.generator(3)) for _ in range(2)]
    assert torch.equal(*seeded)


# --- training -------------------------------------------------------------------------------


def _train(student, teacher, steps, seed):
    """Adam on fresh random images, loss the mean squared error relative to the target power;
    returns the relative error on held-out images before and after (noise off)."""
    gen = torch.Generator().manual_seed(seed)
    test = torch.rand((48, 1, 12, 12), generator=gen)
    with torch.no_grad():
        target = teacher(test.double()).float()

    def error():
        student.eval()
        with torch.no_grad():
            value = float((student(test) - target).norm() / target.norm())
        student.train()
        return value

    before = error()
    optimiser = torch.optim.Adam(student.parameters(), lr=0.05)
    for _ in range(steps):
        images = torch.rand((16, 1, 12, 12), generator=gen)
        with torch.no_grad():
            wanted = teacher(images.double()).float()
        loss = ((student(images) - wanted) ** 2).mean() / (wanted ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return before, error()


def test_training_a_phase_mask_reproduces_a_kernel():
    """A phase-only mask learns the output |x ∗ h|² of a 5×5 kernel (the teacher shows the
    kernel's exact complex mask). Hardware off: the error falls ≥ 10× (measured 1.66 → 0.067).
    Hardware on (8-bit phase SLM, camera with shot and read noise and 12-bit ADC while
    training): the error on noise-free frames reaches ≤ 0.1 (measured 1.66 → 0.068)."""
    n, dx, f = 32, 8e-6, 0.1
    laser = opticsim.Laser(532e-9, 5e-9)
    camera = opticsim.Camera((n, n), dx, exposure=1e-3)
    fourier_slm = opticsim.SLM((n, n), 532e-9 * f / (n * dx), "phase", bits=8)
    lenses = (opticsim.Lens(f), opticsim.Lens(f))
    kernel = torch.randn((1, 1, 5, 5), generator=torch.Generator().manual_seed(28))
    for system, threshold in (("ideal", None), ("hardware", 0.1)):
        hardware = system == "hardware"
        teacher_fourf = opticsim.FourF(laser, *lenses, (n, n), dx,
                                       camera=camera if hardware else None)
        fourf = opticsim.FourF(laser, *lenses, (n, n), dx, camera=teacher_fourf.camera,
                               fourier_slm=fourier_slm if hardware else None)
        teacher = ot.Optical4fConv(teacher_fourf, 1, 1, 5, mask="complex", hardware=False,
                                   image_shape=(12, 12)).double().eval()
        teacher.set_kernels(kernel)
        student = ot.Optical4fConv(fourf, 1, 1, 5, hardware=hardware, image_shape=(12, 12))
        before, after = _train(student, teacher, 300, seed=29)
        if threshold is None:
            assert after < before / 10
        else:
            assert after < threshold < before


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_raises_value_error_naming_the_argument():
    fourf = _hardware_system()
    layer = ot.Optical4fConv(fourf, 2, 3, 3)
    with pytest.raises(ValueError, match="channels but in_channels is 2"):
        layer(torch.rand(1, 3, 8, 6))
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        layer(torch.rand(1, 2, 2, 6))
    with pytest.raises(ValueError, match="images must be a"):
        layer(torch.rand(2, 8, 6))
    with pytest.raises(ValueError, match="fourf's Fourier SLM cannot hold"):
        ot.Optical4fConv(_hardware_system(multiplex="tiled"), 1, 4, 3, image_shape=(6, 6))
    with pytest.raises(ValueError, match="fourf cannot hold"):
        ot.Optical4fConv(fourf, 4, 1, 3, image_shape=(8, 6))
    with pytest.raises(ValueError, match="mask must be 'phase'"):
        ot.Optical4fConv(fourf, 1, 1, 3, mask="amplitude")
    with pytest.raises(ValueError, match="kernel_size"):
        ot.Optical4fConv(fourf, 1, 1, 60)
    with pytest.raises(ValueError, match="in_channels"):
        ot.Optical4fConv(fourf, 0, 1, 3)
    with pytest.raises(ValueError, match="export_gray needs"):
        ot.Optical4fConv(_ideal_system(), 1, 1, 3).export_gray()
