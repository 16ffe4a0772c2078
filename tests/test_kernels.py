"""The fused numba kernels of ``opticsim._kernels`` against their NumPy ``*_reference`` twins."""

import numpy as np
import pytest

from opticsim import _kernels
from tolerances import eps

DTYPES = [np.complex64, np.complex128]
SHAPES = [(16, 16), (15, 17), (1, 7)]


def _tolerance(dtype):
    # An output is at most a product of three factors or |f·z|². Kernel and reference each
    # round a product by at most 2√5·u (two complex products; Brent, Percival & Zimmermann
    # 2007), |f·z|² by 4u and 7u (NumPy's hypot, then the square), u = ε/2: they agree to 6ε.
    return dict(rtol=6 * eps(dtype), atol=0)


def _complex(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_shift_scale(dtype, shape):
    rng = np.random.default_rng(1)
    spectrum = _complex(rng, (3,) + shape, dtype)
    rows, cols = _complex(rng, shape[0], dtype), _complex(rng, shape[1], dtype)
    out = np.empty_like(spectrum)
    _kernels.shift_scale(spectrum, rows, cols, out, 0, 1)
    _kernels.shift_scale(spectrum, rows, cols, out, 1, shape[0])
    np.testing.assert_allclose(out, _kernels.shift_scale_reference(spectrum, rows, cols),
                               **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor_rows, first", [(1, 0), (5, 3), (12, 0)])
def test_multiply_checked(dtype, factor_rows, first):
    rng = np.random.default_rng(4)
    data, factor = _complex(rng, (12, 9), dtype), _complex(rng, (factor_rows, 9), dtype)
    out = np.empty_like(data)
    assert _kernels.multiply_checked(data, factor, first, out)
    np.testing.assert_allclose(out, _kernels.multiply_checked_reference(data, factor, first),
                               **_tolerance(dtype))
    factor[-1, 4] = complex(np.nan, 0)
    assert not _kernels.multiply_checked(data, factor, first, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_intensity_shift(dtype, shape):
    rng = np.random.default_rng(2)
    spectrum = _complex(rng, (2,) + shape, dtype)
    real = np.float32 if dtype == np.complex64 else np.float64
    out = np.empty(spectrum.shape, real)
    shifts = (shape[0] // 2, shape[1] // 2 + 3)
    _kernels.intensity_shift(spectrum, real(0.37), *shifts, out)
    expected = _kernels.intensity_shift_reference(spectrum, 0.37, *shifts)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [(0, 0), (3, 5), (6, 2)])
def test_encode_amplitude(dtype, offset):
    rng = np.random.default_rng(3)
    real = np.float32 if dtype == np.complex64 else np.float64
    images = (rng.random((2, 9, 11)) * 2 - 1).astype(real)
    illumination = _complex(rng, (15, 16), dtype)
    images[:, :2] = 0                   # dark rows at the top of both images, one at the bottom
    images[0, 8] = 0
    out = np.full((2, 15, 16), np.nan, dtype)
    assert _kernels.encode_amplitude(images, illumination, *offset, out) == (
        np.abs(images).max(), 2, 9)
    expected = _kernels.encode_amplitude_reference(images, illumination, *offset)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype))
    assert _kernels.encode_amplitude(np.zeros_like(images), illumination, *offset, out) == (
        0, 9, 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_amplitude_flags_non_finite_samples(bad):
    images = np.full((3, 8, 8), 0.25, np.float32)
    images[2, 7, 0] = bad
    out = np.empty((3, 64, 64), np.complex64)
    illumination = np.ones((64, 64), np.complex64)
    assert np.isnan(_kernels.encode_amplitude(images, illumination, 10, 20, out)[0])
    images[2, 7, 0] = -0.5
    assert _kernels.encode_amplitude(images, illumination, 10, 20, out)[0] == 0.5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_mask_to_fft_order(dtype, shape):
    rng = np.random.default_rng(4)
    mask = _complex(rng, (3,) + shape, dtype)
    out = np.empty_like(mask)
    assert _kernels.mask_to_fft_order(mask, out)
    np.testing.assert_allclose(out, _kernels.mask_to_fft_order_reference(mask),
                               **_tolerance(dtype))


@pytest.mark.parametrize("bad", [complex(np.nan, 0), complex(0, np.inf), complex(-np.inf, 1)])
def test_mask_to_fft_order_flags_non_finite_samples(bad):
    mask = np.ones((2, 64, 64), np.complex64)
    mask[1, 40, 3] = bad
    out = np.empty_like(mask)
    assert not _kernels.mask_to_fft_order(mask, out)
    mask[1, 40, 3] = 1
    assert _kernels.mask_to_fft_order(mask, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch, channels", [(1, 1), (3, 1), (1, 4), (2, 3)])
def test_spectrum_times_masks(dtype, batch, channels):
    rng = np.random.default_rng(5)
    spectrum = _complex(rng, (batch, 12, 13), dtype)
    masks = _complex(rng, (channels, 12, 13), dtype)
    out = np.empty((batch, channels, 12, 13), dtype)
    _kernels.spectrum_times_masks(spectrum, masks, out)
    np.testing.assert_allclose(out, _kernels.spectrum_times_masks_reference(spectrum, masks),
                               **_tolerance(dtype))


def test_spectrum_times_masks_in_place_single_channel():
    """FourF.run writes the single-channel product over its own spectrum."""
    rng = np.random.default_rng(6)
    spectrum = _complex(rng, (2, 8, 8), np.complex128)
    masks = _complex(rng, (1, 8, 8), np.complex128)
    expected = _kernels.spectrum_times_masks_reference(spectrum, masks)
    _kernels.spectrum_times_masks(spectrum, masks, spectrum.reshape(2, 1, 8, 8))
    np.testing.assert_allclose(spectrum[:, None], expected, rtol=1e-14)


def test_without_a_writable_numba_cache_the_kernels_compile_with_a_warning():
    import subprocess
    import sys

    # numba without a cache locator: what it finds with no writable home or source tree
    script = ("import warnings; warnings.simplefilter('always')\n"
              "import numba.core.caching as caching\n"
              "caching.CacheImpl._locator_classes = []\n"
              "import numpy as np\n"
              "from opticsim import _kernels\n"
              "print(_kernels._any_non_finite(np.array([1, np.nan], complex)))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"                                  # compiled and ran
    assert "RuntimeWarning: opticsim's numba kernels are compiled in every process" in done.stderr
    assert "NUMBA_CACHE_DIR" in done.stderr and "Traceback" not in done.stderr
