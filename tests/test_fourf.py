"""The 4f correlator: imaging (inversion, magnification, power), the fused path against the
element-by-element path, linear convolution by a Fourier-plane mask, the coherent cutoff of a
pinhole, and argument checks."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from opticsim import SLM, FourF, Laser, Lens, fft
from opticsim.fourf import frames as fourf_frames
from tolerances import fft_rounding

WAVELENGTH, POWER = 532e-9, 2e-3


def _system(shape, pitch=8e-6, f1=0.15, f2=0.15, dtype=np.complex128, **lenses):
    return FourF(Laser(WAVELENGTH, POWER), Lens(f1, lenses.get("diameter1"),
                                                lenses.get("zernike1")),
                 Lens(f2, lenses.get("diameter2"), lenses.get("zernike2")), shape, pitch,
                 dtype=dtype)



def _flat_amplitude(system):
    """√(W/m²) of the flat laser over the input window."""
    return np.sqrt(POWER / (system.shape[0] * system.shape[1]
                            * system.pitch[0] * system.pitch[1]))


# --- imaging ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 32), (31, 33), (30, 27)])
def test_all_pass_mask_inverts_the_image(shape):
    """f1 = f2 and a unit mask: u_out[n] = −u_in[(2·(N//2) − n) mod N], i.e. n → (N − n) mod N
    for even N and n → N − 1 − n for odd N; the irradiance is unchanged."""
    system = _system(shape)
    rng = np.random.default_rng(11)
    image = rng.random(shape)
    out = system.field(image, np.ones(shape))
    assert out.pitch == pytest.approx(system.pitch)
    rows = np.array([(-n) % shape[0] if shape[0] % 2 == 0 else shape[0] - 1 - n
                     for n in range(shape[0])])
    cols = np.array([(-n) % shape[1] if shape[1] % 2 == 0 else shape[1] - 1 - n
                     for n in range(shape[1])])
    expected = -_flat_amplitude(system) * image[rows[:, None], cols[None, :]]
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    np.testing.assert_allclose(system.upright(system.run(image, np.ones(shape))),
                               _flat_amplitude(system) ** 2 * image ** 2, rtol=1e-10)


def test_unequal_focal_lengths_magnify_and_conserve_power():
    """f1 = 100 mm, f2 = 200 mm: M = −2, output pitch 2·dx, amplitude ×1/|M|, same power."""
    system = _system((64, 64), pitch=6e-6, f1=0.1, f2=0.2)
    assert system.magnification == -2
    assert system.output_pitch == pytest.approx((12e-6, 12e-6))
    assert system.fourier_pitch == pytest.approx((WAVELENGTH * 0.1 / (64 * 6e-6),) * 2)
    image = np.random.default_rng(12).random((40, 50))
    source = system.input_field(image)
    out = system.field(image, np.ones((64, 64)))
    assert out.pitch == pytest.approx(system.output_pitch)
    np.testing.assert_allclose(system.upright(out.data), -0.5 * source.data[0], atol=1e-10
                               * np.abs(source.data).max())
    assert out.power == pytest.approx(float(source.power[0]), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("image_shape, mask_shape", [
    ((20, 24), (48, 40)), ((3, 20, 24), (48, 40)), ((20, 24), (2, 48, 40)),
    ((3, 20, 24), (2, 48, 40))])
@pytest.mark.parametrize("aberrated", [False, True])
def test_fused_run_equals_the_element_by_element_field(dtype, image_shape, mask_shape,
                                                      aberrated, first_transform):
    """Also with a lens-1 clear aperture and an aberrated, apertured lens 2; shapes
    (B, [C,] ny, nx) with the batch and channel axes dropped for 2-D inputs. An aberrated
    lens 1 makes the input field complex: no real FFT for it."""
    system = _system((48, 40), 9e-6, 0.12, 0.18, dtype, diameter1=0.3e-3, diameter2=5e-3,
                     zernike1={7: 0.1} if aberrated else None, zernike2={4: 0.2, 8: -0.1})
    assert system._real_input is not aberrated
    rng = np.random.default_rng(13)
    images = rng.random(image_shape)
    masks = rng.random(mask_shape) * np.exp(2j * np.pi * rng.random(mask_shape))
    fused = system.run(images, masks)
    reference = system.field(images, masks).intensity
    expected_shape = image_shape[:-2] + mask_shape[:-2] + (48, 40)
    assert fused.shape == reference.shape == expected_shape
    assert fused.dtype == (np.float32 if dtype == np.complex64 else np.float64)
    rtol = 8 * fft_rounding(dtype, 48 * 40)     # two FFTs a path, both paths, doubled by |E|²
    np.testing.assert_allclose(fused, reference, rtol=0, atol=rtol * reference.max())
    if len(image_shape) == 3 and len(mask_shape) == 3:
        single = system.run(images[2], masks[1])
        np.testing.assert_allclose(fused[2, 1], single, rtol=0, atol=rtol * reference.max())


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_dark_rows_of_the_images_are_left_out_of_the_first_transform(dtype, first_transform):
    """Rows that are dark in every image (here 12 at the top, 1 at the bottom, of images
    placed 4 rows down) are zero in the input field: the fused path transforms the others only,
    and its frames are still the element-by-element field's."""
    system = _system((48, 40), 9e-6, 0.12, 0.18, dtype)
    rng = np.random.default_rng(23)
    images = rng.random((3, 40, 24))
    images[:, :12] = 0
    images[:, 39] = 0
    images[1, 12] = 0                       # dark in one image only: still transformed
    stack, _ = system._images(images, None)
    out = fft.empty((3, 48, 40), dtype)
    assert system._encode(stack, out) == (4 + 12, 4 + 39)
    mask = rng.random((48, 40)) * np.exp(2j * np.pi * rng.random((48, 40)))
    fused = system.run(images, mask)
    reference = system.field(images, mask).intensity
    atol = 8 * fft_rounding(dtype, 48 * 40) * reference.max()   # as in the test above
    np.testing.assert_allclose(fused, reference, rtol=0, atol=atol)


@pytest.mark.parametrize("masks", [1, 3])
def test_batch_of_small_frames_on_two_threads_equals_frame_by_frame(monkeypatch, masks):
    """Small frames run in chunks on every core with one-thread FFTs: 37 frames in chunks of
    15 (one mask) or 5 (three), taken by two threads in any order, give what each frame gives
    alone; the input SLM, which splits its own work into tasks, runs them in turn inside a
    chunk (a nested run_tasks on a busy pool would wait for itself)."""
    monkeypatch.setattr(fourf_frames, "_CORE_CHUNK_BYTES", 5 * 3 * 32 * 30 * 8)
    monkeypatch.setattr(fft, "threads", lambda: 2)
    rng = np.random.default_rng(16)
    images = rng.random((37, 12, 10)).astype(np.float32)
    mask = np.exp(2j * np.pi * rng.random((masks, 32, 30)))
    for system in (_system((32, 30), dtype=np.complex64),
                   FourF(Laser(WAVELENGTH, POWER), Lens(0.15), Lens(0.15),
                         input_slm=SLM((32, 30), 8e-6, mode="amplitude", bits=6))):
        batch = system.run(images, mask)
        for index in (0, 4, 5, 36):
            np.testing.assert_array_equal(batch[index], system.run(images[index], mask))


# --- Fourier-plane filtering --------------------------------------------------------------


@pytest.mark.parametrize("order, passes", [(17, True), (24, False), (30, False)])
@pytest.mark.parametrize("axis", [0, 1])
def test_pinhole_coherent_cutoff(order, passes, axis):
    """A disk of diameter D = 41 Fourier samples passes spatial frequencies below D/(2λf)
    (order 20.5 of the 256-sample window) and blocks those above, including order 30, which
    an incoherent system (cutoff 2×) would still pass."""
    system = _system((256, 256))
    radius = 20.5 * system.fourier_pitch[1]
    cutoff = 2 * radius / (2 * WAVELENGTH * system.lens1.focal_length)
    frequency = order / (256 * system.pitch[1])
    assert (frequency < cutoff) == passes
    v, u = (np.arange(256) - 128)[:, None], (np.arange(256) - 128)[None, :]
    pinhole = (np.hypot(u, v) * system.fourier_pitch[1] <= radius).astype(float)
    n = np.arange(256)
    grating = np.broadcast_to(0.5 * (1 + np.cos(2 * np.pi * order * n / 256)), (256, 256))
    image = grating if axis == 1 else grating.T
    irradiance = system.upright(system.run(image, pinhole))
    passed = image ** 2 if passes else np.full((256, 256), 0.25)
    np.testing.assert_allclose(irradiance, _flat_amplitude(system) ** 2 * passed, rtol=1e-9,
                               atol=1e-9 * irradiance.max())


def _placed_convolution(full, shape, image_shape, kernel_shape):
    """Where the 4f system puts the full linear convolution on its N-sample output grid
    (after :meth:`FourF.upright`): sample p lands at p + (N − H)//2 − K//2, modulo N."""
    out = np.zeros(shape, full.dtype)
    index = [(np.arange(full.shape[axis]) + (shape[axis] - image_shape[axis]) // 2
              - kernel_shape[axis] // 2) % shape[axis] for axis in (0, 1)]
    np.add.at(out, (index[0][:, None], index[1][None, :]), full)
    return out


@pytest.mark.parametrize("shape", [(36, 40), (35, 37)])
@pytest.mark.parametrize("kernel_shape", [(5, 7), (4, 6), (1, 8)])
@pytest.mark.parametrize("complex_kernel", [False, True])
def test_mask_from_kernel_gives_the_linear_convolution(shape, kernel_shape, complex_kernel,
                                                      first_transform):
    """With N ≥ H + K − 1 the upright output is −(f1/f2)·A·(image ∗ kernel), A the laser
    amplitude, sample for sample (scipy.signal.fftconvolve, mode='full')."""
    system = _system(shape, 7e-6, 0.1, 0.16)
    rng = np.random.default_rng(14)
    image = rng.random((20, 23))
    kernel = rng.standard_normal(kernel_shape)
    if complex_kernel:
        kernel = kernel + 1j * rng.standard_normal(kernel_shape)
    full = fftconvolve(image, kernel, mode="full")
    assert full.shape[0] <= shape[0] and full.shape[1] <= shape[1]
    expected = (-0.1 / 0.16 * _flat_amplitude(system)
                * _placed_convolution(full, shape, image.shape, kernel_shape))
    mask = system.mask_from_kernel(kernel)
    out = system.upright(system.field(image, mask).data)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(system.upright(system.run(image, mask)), np.abs(expected) ** 2,
                               rtol=0, atol=1e-10 * scale ** 2)


def _slm_system(shape, pixels, step, pitch=8e-6, f1=0.15, f2=0.15, **options):
    """A 4f system on ``shape`` with a 16-bit amplitude Fourier SLM of ``pixels`` whose pitch is
    ``step`` times the FFT's Fourier-plane pitch λ·f1/(N·dx)."""
    fft_pitch = WAVELENGTH * f1 / (shape[1] * pitch)
    slm = SLM((pixels, pixels), step * fft_pitch, mode="amplitude", bits=16)
    return FourF(Laser(WAVELENGTH, POWER), Lens(f1), Lens(f2), shape, pitch, fourier_slm=slm,
                 dtype=np.complex128, **options)


@pytest.mark.parametrize("n, pixels", [(64, 48), (48, 64), (45, 50)])
def test_fourier_slm_at_any_pitch_convolves_within_its_replica_period(n, pixels):
    """P pixels spanning one spectral period λf1/dx of the input samples, at a pitch of N/P FFT
    samples, replicate the output every P output samples: with H + K − 1 ≤ min(N, P) the
    upright output is the linear convolution (scipy.signal.fftconvolve), sample for sample,
    through matrix Fourier transforms at the SLM's own pitch. The kernel g∗g, g symmetric about
    the centre of its taps, has the real mask |G|² in [0, 1], shown by a 16-bit amplitude
    panel."""
    system = _slm_system((n, n), pixels, n / pixels, f2=0.2)
    assert not system.fourier_by_fft and system.fourier_shape == (pixels, pixels)
    assert system.replica_period == pytest.approx((pixels, pixels))
    taps = np.convolve([1, 2, 2, 1], [1, 2, 2, 1])
    kernel = np.outer(taps, taps) / taps.sum() ** 2
    image = np.random.default_rng(21).random((20, 20))
    mask = system.mask_from_kernel(kernel)
    assert mask.shape == (pixels, pixels) and np.abs(mask.imag).max() < 1e-12
    full = fftconvolve(image, kernel, mode="full")
    expected = -0.15 / 0.2 * _flat_amplitude(system) * _placed_convolution(
        full, (n, n), image.shape, kernel.shape)
    mask = np.clip(mask.real, 0, 1)                     # rounding may leave 1 + 1e-16
    out = system.upright(system.field(image, mask).data)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5 * scale)     # 16-bit levels
    np.testing.assert_allclose(system.upright(system.run(image, mask)),
                               np.abs(out) ** 2, rtol=1e-9, atol=1e-12 * scale ** 2)
    recovered = system.kernel_from_mask(mask)[n // 2 - 3:n // 2 + 4, n // 2 - 3:n // 2 + 4]
    np.testing.assert_allclose(recovered, kernel, atol=1e-12)


@pytest.mark.parametrize("shape, pixels, step", [((64, 64), 20, 1.7), ((63, 63), 25, 0.9)])
def test_fourier_slm_panel_is_a_rectangular_pupil_of_dirichlet_response(shape, pixels, step):
    """A point input through an all-pass panel of P pixels at pitch s: the output field is
    the product of Dirichlet kernels |sin(πPs·x/(λf2))/sin(πs·x/(λf2))|, zero at multiples
    of λf2/(P·s) (the coherent cutoff of the panel at any pitch)."""
    system = _slm_system(shape, pixels, step)
    image = np.zeros(shape)
    image[shape[0] // 2, shape[1] // 2] = 1
    out = np.abs(system.field(image, np.ones((pixels, pixels))).data)
    n = np.arange(shape[1]) - shape[1] // 2
    phase = np.pi * step * n / shape[1]         # π·s·x/(λ·f2), x = n·dx·f2/f1
    with np.errstate(invalid="ignore", divide="ignore"):
        dirichlet = np.where(n == 0, pixels, np.abs(np.sin(pixels * phase) / np.sin(phase)))
    expected = np.outer(dirichlet, dirichlet)
    np.testing.assert_allclose(out / out.max(), expected / expected.max(), atol=1e-12)


def test_too_small_a_grid_wraps_the_convolution_around():
    """H = N = 24 and K = 7: the 4f output is the circular convolution; its edge columns
    differ from the linear one by order one, which padding to N ≥ H + K − 1 = 30 removes."""
    rng = np.random.default_rng(15)
    image, kernel = rng.random((24, 24)), rng.random((7, 7))
    full = fftconvolve(image, kernel, mode="full")
    small, padded = _system((24, 24), 7e-6), _system((30, 30), 7e-6)
    circular = -_flat_amplitude(small) * _placed_convolution(full, (24, 24), (24, 24), (7, 7))
    out = small.upright(small.field(image, small.mask_from_kernel(kernel)).data)
    np.testing.assert_allclose(out, circular, rtol=0, atol=1e-10 * np.abs(circular).max())
    linear = -_flat_amplitude(small) * full[3:27, 3:27]
    assert np.abs(out - linear).max() > 0.2 * np.abs(linear).max()
    out = padded.upright(padded.field(image, padded.mask_from_kernel(kernel)).data)
    expected = -_flat_amplitude(padded) * _placed_convolution(full, (30, 30), (24, 24), (7, 7))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-10 * np.abs(expected).max())


def test_kernel_from_mask_inverts_mask_from_kernel():
    system = _system((16, 15))
    kernel = np.random.default_rng(16).standard_normal((2, 3, 4))
    recovered = system.kernel_from_mask(system.mask_from_kernel(kernel))
    placed = np.zeros((2, 16, 15))
    placed[:, 8 - 1:8 + 2, 7 - 2:7 + 2] = kernel
    np.testing.assert_allclose(recovered, placed, atol=1e-12)


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["run", "field"])
def test_bad_masks_are_rejected(method):
    system = _system((16, 16), dtype=np.complex64)
    image = np.ones((8, 8))
    for mask in (np.ones((16, 15)), np.ones((2, 2, 16, 16)), np.ones(16)):
        with pytest.raises(ValueError, match="mask"):
            getattr(system, method)(image, mask)
    for bad in (np.nan, np.inf, complex(0, np.nan)):
        mask = np.ones((3, 16, 16), np.complex64)
        mask[2, 5, 9] = bad
        with pytest.raises(ValueError, match="mask"):
            getattr(system, method)(image, mask)


@pytest.mark.parametrize("method", ["run", "field"])
def test_bad_images_are_rejected(method):
    system = _system((16, 16), dtype=np.complex64)
    mask = np.ones((16, 16))
    for bad in (np.nan, np.inf, -np.inf):
        images = np.ones((4, 8, 8))
        images[3, 7, 7] = bad
        with pytest.raises(ValueError, match="images"):
            getattr(system, method)(images, mask)
    for images in (np.ones(8), np.ones((1, 1, 8, 8)), np.ones((17, 8)), np.ones((8, 8)) * 1j,
                   np.array([["a"]])):
        with pytest.raises(ValueError, match="images"):
            getattr(system, method)(images, mask)


@pytest.mark.parametrize("kwargs, name", [
    (dict(laser="laser"), "laser"),
    (dict(lens1=0.1), "lens1"),
    (dict(lens2=None), "lens2"),
    (dict(shape=(0, 16)), "shape"),
    (dict(shape=16.5), "shape"),
    (dict(pitch=-1e-6), "pitch"),
    (dict(pitch=np.nan), "pitch"),
    (dict(dtype=np.float64), "dtype"),
])
def test_bad_system_arguments_are_rejected(kwargs, name):
    arguments = dict(laser=Laser(WAVELENGTH, POWER), lens1=Lens(0.1), lens2=Lens(0.1),
                     shape=(16, 16), pitch=8e-6)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        FourF(**arguments)


def test_bad_kernels_are_rejected():
    system = _system((16, 16))
    with pytest.raises(ValueError, match="kernel"):
        system.mask_from_kernel(np.ones((17, 3)))
    with pytest.raises(ValueError, match="kernel"):
        system.mask_from_kernel(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="kernel"):
        system.mask_from_kernel(np.ones(3))
