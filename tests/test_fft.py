"""The FFT layer (pyFFTW plans and the scipy fallback) and the in-place kernels of the lens
transform, against numpy.fft."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft

from opticsim import Field, FourF, Laser, Lens, _kernels, fft
from opticsim.propagate import lens_ft
from tolerances import fft_rounding

SHAPES = [(2, 16, 16), (3, 15, 17), (1, 1, 8)]


def _complex(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def _tolerance(dtype, x, expected):
    # two FFTs of the planes of x in dtype (ours and numpy's) each round by ε·log2 N of the
    # largest output
    return dict(rtol=0, atol=2 * fft_rounding(dtype, x.shape[-2] * x.shape[-1])
                * np.abs(expected).max())


def _expected(x, inverse):
    n = x.shape[-1] * x.shape[-2]
    return np.fft.ifft2(x) * n if inverse else np.fft.fft2(x)


@pytest.fixture(params=["pyfftw", "scipy", "torch"])
def backend(request, monkeypatch):
    """Run a test on each backend OPTICSIM_FFT may name: scipy.fft, torch.fft (MKL) and
    pyFFTW's timed plans (fftw)."""
    if request.param == "pyfftw":
        monkeypatch.setattr(fft, "pyfftw", pytest.importorskip("pyfftw"))
    else:
        monkeypatch.setattr(fft, "pyfftw", None)
        monkeypatch.setattr(fft, "CHOSEN", request.param)
    return request.param


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inverse", [False, True])
def test_fft2_matches_numpy_unnormalised(backend, dtype, shape, inverse):
    rng = np.random.default_rng(7)
    x = _complex(rng, shape, dtype)
    original = x.copy()
    expected = _expected(original, inverse)
    result = fft.fft2(x, inverse=inverse)
    assert result.dtype == dtype and fft.is_aligned(result)
    np.testing.assert_allclose(result, expected, **_tolerance(dtype, x, expected))
    np.testing.assert_array_equal(x, original)              # out-of-place leaves x alone
    same = fft.fft2(x, inverse=inverse, out=x)
    assert same is x
    np.testing.assert_allclose(x, expected, **_tolerance(dtype, x, expected))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_scipy_backend_gives_scipy_fft_numbers_bit_for_bit(dtype, monkeypatch):
    """The scipy backend calls pocketfft's binding directly: the numbers of scipy.fft's own
    fft2, ifft2 and rfft2, on one thread or two."""
    monkeypatch.setattr(fft, "pyfftw", None)
    monkeypatch.setattr(fft, "CHOSEN", "scipy")
    rng = np.random.default_rng(9)
    x = _complex(rng, (3, 40, 36), dtype)
    real = np.ascontiguousarray(x.real)
    for workers in (1, 2):
        np.testing.assert_array_equal(fft.fft2(x, workers=workers),
                                      scipy.fft.fft2(x, workers=workers))
        np.testing.assert_array_equal(fft.fft2(x, inverse=True, workers=workers),
                                      scipy.fft.ifft2(x, norm="forward", workers=workers))
        half = fft.empty(fft.half_shape(real.shape), dtype)
        np.testing.assert_array_equal(fft.real_fft2(real, half, workers=workers),
                                      scipy.fft.rfft2(real, workers=workers))


def test_fft2_misaligned_and_strided_inputs(backend):
    """A misaligned or non-contiguous x gives the same transform and is never modified."""
    rng = np.random.default_rng(8)
    raw = _complex(rng, (2 * 24 * 24 + 1,), np.complex64)
    misaligned = raw[1:].reshape(2, 24, 24)
    assert not fft.is_aligned(misaligned)
    strided = _complex(rng, (2, 24, 48), np.complex64)[..., ::2]
    for x in (misaligned, strided):
        original = x.copy()
        out = np.empty_like(original)
        fft.fft2(x, out=out)
        expected = np.fft.fft2(original)
        np.testing.assert_allclose(out, expected, **_tolerance(np.complex64, x, expected))
        np.testing.assert_array_equal(x, original)


def test_fft2_accepts_any_stride_on_length_one_axes(backend):
    """x[None] is contiguous with a zero stride on its new axis; the cached plan of the same
    shape (made on standard strides) must still run on it."""
    rng = np.random.default_rng(12)
    x = _complex(rng, (16, 16), np.complex64)
    fft.fft2(np.ascontiguousarray(x[None]))
    out = fft.empty((1, 1, 16, 16), np.complex64)
    fft.fft2(x[None, None], out=out)
    expected = np.fft.fft2(x)
    np.testing.assert_allclose(out[0, 0], expected, **_tolerance(np.complex64, x, expected))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape, rows", [((64, 48), (16, 48)), ((3, 40, 40), (1, 21)),
                                         ((2, 33, 20), (30, 33)), ((32, 32), (0, 32))])
@pytest.mark.parametrize("inverse", [False, True])
def test_fft2_pruned_to_nonzero_rows(backend, dtype, shape, rows, inverse):
    """A zero-padded input transformed with ``rows`` (pruned row transforms, in place) gives
    the full transform, and so does the same promise on an out-of-place call."""
    rng = np.random.default_rng(13)
    x = np.zeros(shape, dtype)
    x[..., rows[0]:rows[1], :] = _complex(rng, x[..., rows[0]:rows[1], :].shape, dtype)
    expected = _expected(x, inverse)
    out = fft.fft2(x, inverse=inverse, rows=rows)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype, x, expected))
    fft.fft2(x, inverse=inverse, out=x, rows=rows)
    np.testing.assert_allclose(x, expected, **_tolerance(dtype, x, expected))


def test_fft2_rejects_bad_arguments():
    x = np.zeros((8, 8), np.complex64)
    with pytest.raises(ValueError, match="x must be complex"):
        fft.fft2(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="out must"):
        fft.fft2(x, out=np.zeros((8, 8), np.complex128))
    with pytest.raises(ValueError, match="out must"):
        fft.fft2(x, out=np.zeros((8, 16), np.complex64)[:, ::2])
    overlapping = np.zeros(8 * 8 + 1, np.complex64)
    with pytest.raises(ValueError, match="overlap"):
        fft.fft2(overlapping[:64].reshape(8, 8), out=overlapping[1:].reshape(8, 8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, rows", [((2, 16, 16), None), ((3, 15, 17), None),
                                         ((1, 9, 6), None), ((1, 144, 136), None),
                                         ((2, 40, 33), (10, 30)), ((1, 144, 136), (36, 108))])
def test_real_fft2_is_the_half_spectrum(backend, dtype, shape, rows):
    """Columns 0 … nx//2 of the DFT of a real array (numpy's rfft2), x kept; pruned to
    ``rows`` when the rest is zero (144 × 136 plans are measured)."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal(shape).astype(dtype)
    if rows is not None:
        x[..., :rows[0], :] = 0
        x[..., rows[1]:, :] = 0
    original = x.copy()
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    out = fft.empty(fft.half_shape(shape), complex_dtype)
    assert fft.real_fft2(x, out, rows=rows) is out
    expected = np.fft.rfft2(original)
    np.testing.assert_allclose(out, expected, **_tolerance(complex_dtype, x, expected))
    np.testing.assert_array_equal(x, original)


def test_real_fft2_rejects_bad_arguments():
    x = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="x must be"):
        fft.real_fft2(np.zeros((8, 8), np.complex64), np.zeros((8, 5), np.complex64))
    with pytest.raises(ValueError, match=r"out must be .* \(8, 5\)"):
        fft.real_fft2(x, np.zeros((8, 8), np.complex64))
    with pytest.raises(ValueError, match="complex64"):
        fft.real_fft2(x, np.zeros((8, 5), np.complex128))
    shared = np.zeros(40, np.complex64)
    with pytest.raises(ValueError, match="overlap"):
        fft.real_fft2(shared.view(np.float32)[:64].reshape(8, 8), shared.reshape(8, 5))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape", SHAPES + [(2, 9, 6), (1, 6, 9)])
def test_filter_half_spectrum_rebuilds_the_hermitian_half(dtype, shape):
    """From the half spectrum of real planes, the product of the whole spectrum with a centred
    mask: numpy's fft2 of the planes times ifftshift(mask), odd and even sides."""
    rng = np.random.default_rng(11)
    planes = rng.standard_normal(shape)
    half = np.fft.rfft2(planes).astype(dtype)
    mask = _complex(rng, shape[1:], dtype)
    out = np.empty(shape, dtype)
    _kernels.filter_half_spectrum(half, mask, out)
    expected = np.fft.fft2(planes) * np.fft.ifftshift(mask)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype, planes, expected))
    np.testing.assert_allclose(_kernels.filter_half_spectrum_reference(half, mask), expected,
                               **_tolerance(dtype, planes, expected))


@pytest.mark.parametrize("bad", [complex(np.nan, 0), complex(0, np.inf), complex(-np.inf, 1)])
@pytest.mark.parametrize("shape", [(32, 32), (2, 31, 24)])
def test_non_finite_sample_spoils_every_fft_output(backend, bad, shape):
    """filter_spectrum does not check its mask: FourF.run relies on one bad sample (even
    where the spectrum is zero) making every sample of the next FFT non-finite."""
    spectrum = np.zeros(shape, np.complex64)
    spectrum[..., 5:9, :] = 1
    mask = np.ones(shape[-2:], np.complex64)
    mask[-1, 3] = bad
    _kernels.filter_spectrum(spectrum.reshape((-1,) + shape[-2:]), mask)
    assert not np.isfinite(fft.fft2(spectrum)).any()


@pytest.mark.parametrize("shape", [(16, 16), (15, 17), (2, 9, 6)])
def test_lens_ft_is_the_scaled_centred_fft(backend, shape):
    """U = dx·dy/(iλf)·fftshift(fft2(ifftshift(u))), on either FFT backend."""
    rng = np.random.default_rng(11)
    data = _complex(rng, shape, np.complex128)
    pitch, wavelength, focal_length = (3e-6, 5e-6), 0.8e-6, 0.05
    result = lens_ft(Field(data, pitch, wavelength), focal_length)
    centred = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(data, axes=(-2, -1))), axes=(-2, -1))
    expected = centred * pitch[0] * pitch[1] / (1j * wavelength * focal_length)
    np.testing.assert_allclose(result.data, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert result.pitch == pytest.approx((wavelength * focal_length / (shape[-2] * pitch[0]),
                                          wavelength * focal_length / (shape[-1] * pitch[1])))


@pytest.mark.parametrize("bad", [np.nan, np.inf, complex(0, -np.inf)])
def test_fused_4f_rejects_a_single_non_finite_mask_sample(bad):
    """The fused FourF.run path checks its one mask through the output (see above)."""
    system = FourF(Laser(633e-9, 1e-3), Lens(0.1), Lens(0.1), (32, 40), 8e-6)
    mask = np.ones((32, 40), np.complex64)
    mask[31, 0] = bad
    with pytest.raises(ValueError, match="mask contains NaN"):
        system.run(np.ones((3, 10, 10)), mask)
    mask[31, 0] = 0
    assert np.isfinite(system.run(np.ones((3, 10, 10)), mask)).all()


@pytest.mark.parametrize("user", [None, "123"])
def test_pyfftw_loads_with_a_short_spin_and_the_environment_is_left_as_it_was(user):
    """pyFFTW (whose OpenMP runtime reads GOMP_SPINCOUNT as it loads) is imported with
    SPIN_COUNT unless the user chose a spin count, and the environment is then as it was."""
    pytest.importorskip("pyfftw")
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env["OPTICSIM_FFT"] = "fftw"
    if user is not None:
        env["GOMP_SPINCOUNT"] = user
    code = """if True:
        import os, sys
        seen = []
        class Spy:                      # records the variable as pyfftw is imported
            def find_spec(self, name, path=None, target=None):
                if name == "pyfftw":
                    seen.append(os.environ.get("GOMP_SPINCOUNT"))
        sys.meta_path.insert(0, Spy())
        import opticsim.fft
        print(seen, os.environ.get("GOMP_SPINCOUNT"))"""
    shown = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    during = str(fft.SPIN_COUNT) if user is None else user
    assert shown == f"['{during}'] {user}"


@pytest.mark.parametrize("value, expected", [
    (None, "auto"), ("scipy", "scipy"), ("torch", "torch"), ("fftw", "pyfftw"),
    ("mkl", "OPTICSIM_FFT must be one of ('auto', 'scipy', 'torch', 'fftw'), got 'mkl'")])
def test_the_backend_follows_the_rule_unless_one_is_asked_for(value, expected):
    """By default the rule picks a deterministic backend per CPU and size; OPTICSIM_FFT names
    one for every size (fftw: pyFFTW's timed plans); another value is refused at import,
    naming the variable and the values it may take."""
    if value == "fftw":
        pytest.importorskip("pyfftw")
    env = {k: v for k, v in os.environ.items() if k != "OPTICSIM_FFT"}
    if value is not None:
        env["OPTICSIM_FFT"] = value
    done = subprocess.run([sys.executable, "-c", "import opticsim.fft as f; print(f.BACKEND)"],
                          env=env, capture_output=True, text=True)
    shown = done.stdout.strip() if done.returncode == 0 else done.stderr.strip().splitlines()[-1]
    assert shown.endswith(expected)


@pytest.mark.parametrize("vendor, shape, expected", [
    ("Mixed", (3, 2048, 2048), "torch"), ("Mixed", (2049, 2048), "scipy"),
    ("Mixed", (96, 80), "torch"), ("AuthenticAMD", (256, 256), "scipy"),
    ("AuthenticAMD", (4096, 4096), "scipy"), ("GenuineIntel", (512, 512), "scipy"),
    ("unknown", (64, 64), fft.DEFAULT_BACKEND)])
def test_the_rule_looks_up_the_backend_by_vendor_and_plane_size(vendor, shape, expected,
                                                                  monkeypatch):
    """The lookup walks a vendor's steps by plane size (a made-up vendor "Mixed" has MKL up to
    2048² and pocketfft above); the shipped rows keep AMD and Intel on pocketfft."""
    monkeypatch.setitem(fft.RULE, "Mixed", ((2048 * 2048, "torch"), (None, "scipy")))
    assert fft.rule(vendor, shape) == expected


def test_the_rule_is_what_fft2_runs_by_default(monkeypatch):
    """With OPTICSIM_FFT unset, fft2 runs the backend the rule names for this CPU and shape:
    bit for bit the same numbers as that backend asked for by name, not the other's."""
    rng = np.random.default_rng(5)
    x = _complex(rng, (2, 48, 40), np.complex64)
    monkeypatch.setattr(fft, "pyfftw", None)
    named = {}
    for chosen in ("scipy", "torch"):
        monkeypatch.setattr(fft, "CHOSEN", chosen)
        named[chosen] = fft.fft2(x).copy()
    assert not np.array_equal(named["scipy"], named["torch"])
    monkeypatch.setattr(fft, "CHOSEN", "auto")
    monkeypatch.setitem(fft.RULE, "Mixed", ((None, "torch"),))
    for vendor in ("Mixed", "GenuineIntel", "AuthenticAMD"):
        monkeypatch.setattr(fft, "VENDOR", vendor)
        np.testing.assert_array_equal(fft.fft2(x), named[fft.rule(vendor, x.shape)])


def test_cpu_vendor_reads_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n")
    assert fft.cpu_vendor(cpuinfo) == "GenuineIntel"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")                # Arm
    assert fft.cpu_vendor(cpuinfo) == "unknown"
    assert fft.cpu_vendor(tmp_path / "missing") == "unknown"
