"""SLM: quantization through the LUT, pixelation with fill factor, fringing, against theory."""

import math
import warnings

import numpy as np
import pytest
from scipy.special import erf, j1

from opticsim import SLM, Field, SamplingWarning, _kernels, fft
from opticsim.grid import embed_centred
from opticsim.propagate import lens_ft

WAVELENGTH = 561e-9
FOCAL_LENGTH = 0.17
PITCH = 9.2e-6


def circular_error(a, b):
    difference = np.mod(np.asarray(a) - np.asarray(b), 2 * np.pi)
    return np.minimum(difference, 2 * np.pi - difference)


def orders(slm, gray, wavelength=WAVELENGTH):
    """Focal-plane power per sample as a fraction of the incident power; the panel fills the
    grid, so each diffraction order is one sample."""
    transmittance = slm.transmittance(gray, slm.sample_pitch, wavelength, dtype=np.complex128)
    focal = lens_ft(Field(transmittance, slm.sample_pitch, wavelength), FOCAL_LENGTH)
    incident = transmittance.size * slm.sample_pitch ** 2
    return focal.intensity * (focal.pitch[0] * focal.pitch[1]) / incident


# --- kernels against their NumPy twins ------------------------------------------------------


@pytest.mark.parametrize("period", [0.0, 2 * np.pi])
def test_quantize_kernel_matches_reference(period):
    rng = np.random.default_rng(3)
    keys = np.sort(rng.uniform(0, 2 * np.pi if period else 1, 37))
    grays = rng.permutation(37).astype(np.uint16)
    values = rng.uniform(-7, 13, 5000) if period else rng.uniform(0, 1, 5000)
    out = np.empty(values.size, np.uint16)
    tables = _kernels.search_tables(keys, period)
    assert _kernels.quantize_nearest(values, keys, grays, period, -np.inf, np.inf, tables, out)
    np.testing.assert_array_equal(
        out, _kernels.quantize_nearest_reference(values, keys, grays, period))
    values[17] = np.nan
    assert not _kernels.quantize_nearest(values, keys, grays, period, -np.inf, np.inf, tables,
                                         out)


def test_pixelate_kernel_matches_reference():
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 16, (3, 5, 4))
    levels = np.exp(1j * rng.uniform(0, 6, 16)).astype(np.complex64)
    coverage = np.array([0.3, 1.0, 1.0, 0.3], np.float32)
    out = np.empty((3, 7 * 4, 9 * 4), np.complex64)
    assert _kernels.pixelate(gray, 1, 3, levels, coverage, out)
    expected = _kernels.pixelate_reference(gray, 1, 3, levels, coverage, (7, 9))
    # two real factors on a complex64 level, multiplied in another order: 2u each, u = ε/2
    np.testing.assert_allclose(out, expected, rtol=2 * np.finfo(np.float32).eps)
    gray[2, 4, 0] = 16
    assert not _kernels.pixelate(gray, 1, 3, levels, coverage, out)


def test_quantize_kernel_ties_go_to_the_lower_key_with_uneven_keys():
    """Values exactly on keys and on midpoints, on a LUT whose keys crowd in places (several
    in one bucket of the search tables) and leave gaps."""
    keys = np.sort(np.concatenate([np.linspace(0, 0.01, 40), [0.3, 0.5, 0.5000001, 0.9, 1.0]]))
    values = np.concatenate([keys, (keys[1:] + keys[:-1]) / 2, np.linspace(-0.1, 1.1, 3001)])
    grays = np.arange(keys.size, dtype=np.uint16)
    out = np.empty(values.size, np.uint16)
    tables = _kernels.search_tables(keys, 0.0)
    assert _kernels.quantize_nearest(values, keys, grays, 0.0, -np.inf, np.inf, tables, out)
    np.testing.assert_array_equal(
        out, _kernels.quantize_nearest_reference(values, keys, grays, 0.0))
    assert np.any(tables[3] < 0) and np.any(tables[3] >= 0)   # both kinds of bucket


@pytest.mark.parametrize("period", [0.0, 2 * np.pi])
def test_encode_levels_kernel_matches_reference(period):
    """Values quantised, looked up and lit, the rest of the panel blank, the grid outside it
    dark; NaN flagged."""
    rng = np.random.default_rng(5)
    keys = np.sort(rng.uniform(0, 2 * np.pi if period else 1, 23))
    values = rng.uniform(-7, 13, (2, 6, 5)) if period else rng.uniform(0, 1, (2, 6, 5))
    levels = np.exp(1j * rng.uniform(0, 6, 23)).astype(np.complex64)
    illumination = (rng.random((10, 12)) + 1j * rng.random((10, 12))).astype(np.complex64)
    blank = np.complex64(0.3 - 0.1j)
    out = np.full((2, 10, 12), np.nan, np.complex64)
    tables = _kernels.search_tables(keys, period)
    low, high = (-np.inf, np.inf) if period else (0.0, 1.0)
    assert _kernels.encode_levels(values, keys, period, low, high, tables, levels, blank,
                                  illumination, 2, 3, (1, 9, 2, 11), out)
    expected = _kernels.encode_levels_reference(values, keys, period, levels, blank,
                                                illumination, 2, 3, (1, 9, 2, 11))
    # one complex64 product each side, √5·u at most (u = ε/2), the same factors
    np.testing.assert_allclose(out, expected, rtol=np.sqrt(5) * np.finfo(np.float32).eps, atol=0)
    values[1, 4, 2] = np.nan
    assert not _kernels.encode_levels(values, keys, period, low, high, tables, levels, blank,
                                      illumination, 2, 3, (1, 9, 2, 11), out)


ENCODE_CASES = [  # SLM keywords, panel, grid, values shape, in one pass
    (dict(mode="amplitude", bits=8), (24, 20), (24, 20), (3, 24, 20), True),
    (dict(mode="amplitude", bits=4, fill_factor=0.7), (24, 20), (30, 32), (2, 11, 9), True),
    (dict(mode="phase", bits=6), (24, 20), (16, 18), (1, 9, 12), True),      # panel cropped
    (dict(mode="phase", bits=8, phase_range=5.3 * np.pi), (16, 16), (16, 16), (2, 16, 16), True),
    (dict(mode="binary"), (12, 14), (20, 20), (2, 12, 14), True),
    (dict(mode="amplitude", bits=8, oversample=2), (8, 10), (20, 24), (1, 6, 7), False),
    (dict(mode="phase", bits=8, crosstalk=1.0), (12, 12), (12, 12), (1, 12, 12), False),
    (dict(mode="phase", bits=8), (24, 20), (16, 18), (1, 24, 20), False),     # values cropped
]


@pytest.mark.filterwarnings("ignore::opticsim.SamplingWarning")
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("options, panel, grid, shape, fused", ENCODE_CASES)
def test_encode_equals_quantise_pixelate_and_illuminate(options, panel, grid, shape, fused,
                                                        dtype):
    """SLM.encode (one pass where it can) gives embed(transmittance(to_gray(v)))·illumination."""
    slm = SLM(panel, PITCH, **options)
    assert (slm._fused_window(np.empty(shape), grid, slm.sample_pitch) is not None) == fused
    rng = np.random.default_rng(7)
    values = rng.uniform(-4, 4, shape) if slm.mode == "phase" else rng.random(shape)
    values = values.astype(np.float32)
    illumination = (rng.random(grid) + 1j * rng.random(grid)).astype(dtype)
    field = slm.encode(values, illumination, slm.sample_pitch, WAVELENGTH)
    panel_field = slm.transmittance(slm.to_gray(values, WAVELENGTH), slm.sample_pitch,
                                    WAVELENGTH, dtype=dtype)
    expected = embed_centred(panel_field, grid) * illumination
    assert field.shape == shape[:1] + grid and field.dtype == dtype
    # level·coverage² (two real products, u each, u = ε/2) times the illumination (√5·u), on
    # either side in its own order
    np.testing.assert_allclose(field, expected, rtol=(2 + np.sqrt(5)) * np.finfo(dtype).eps,
                               atol=0)


REAL_CASES = [  # panels of real levels: fused, oversampled and fringing paths
    (dict(mode="amplitude", bits=8), (24, 20), (24, 20), (3, 24, 20)),
    (dict(mode="amplitude", bits=4, fill_factor=0.7), (24, 20), (30, 32), (2, 11, 9)),
    (dict(mode="binary"), (12, 14), (20, 20), (2, 12, 14)),
    (dict(mode="amplitude", bits=8, oversample=2), (8, 10), (20, 24), (1, 6, 7)),
    (dict(mode="amplitude", bits=6, crosstalk=1.5), (12, 12), (12, 12), (1, 12, 12)),
]


@pytest.mark.filterwarnings("ignore::opticsim.SamplingWarning")
@pytest.mark.parametrize("real, complex_dtype", [(np.float32, np.complex64),
                                                 (np.float64, np.complex128)])
@pytest.mark.parametrize("options, panel, grid, shape", REAL_CASES)
def test_panel_of_real_levels_encodes_a_real_field(options, panel, grid, shape, real,
                                                   complex_dtype):
    """Under a real beam a panel of real levels gives a real field: the same numbers as the
    complex one's real parts, whose imaginary parts are zero; a phase panel refuses."""
    slm = SLM(panel, PITCH, **options)
    rng = np.random.default_rng(9)
    values = rng.random(shape).astype(np.float32)
    beam = rng.random(grid)
    field = slm.encode(values, beam.astype(real), slm.sample_pitch, WAVELENGTH)
    reference = slm.encode(values, beam.astype(complex_dtype), slm.sample_pitch, WAVELENGTH)
    assert field.dtype == real and not np.any(reference.imag)
    np.testing.assert_array_equal(field, reference.real)
    gray = slm.to_gray(values, WAVELENGTH)
    np.testing.assert_array_equal(
        slm.transmittance(gray, slm.sample_pitch, WAVELENGTH, dtype=real),
        slm.transmittance(gray, slm.sample_pitch, WAVELENGTH, dtype=complex_dtype).real)
    phase = SLM(panel, PITCH, mode="phase")
    with pytest.raises(ValueError, match="real levels"):
        phase.transmittance(gray, phase.sample_pitch, WAVELENGTH, dtype=real)
    with pytest.raises(ValueError, match="real levels"):
        phase.encode(values, beam.astype(real), phase.sample_pitch, WAVELENGTH)


@pytest.mark.filterwarnings("ignore::opticsim.SamplingWarning")
@pytest.mark.parametrize("options, panel, grid, shape, fused", ENCODE_CASES[1:3])
def test_encode_in_row_blocks_on_two_threads(monkeypatch, options, panel, grid, shape, fused):
    """Blocks of 3 rows, taken by two threads in any order, give the one-block field."""
    slm = SLM(panel, PITCH, **options)
    rng = np.random.default_rng(8)
    values = rng.random(shape).astype(np.float32)
    illumination = (rng.random(grid) + 1j * rng.random(grid)).astype(np.complex64)
    whole = slm.encode(values, illumination, slm.sample_pitch, WAVELENGTH)
    monkeypatch.setattr(_kernels, "TASK_SAMPLES", 3 * grid[1])
    monkeypatch.setattr(fft, "threads", lambda: 2)
    assert len(_kernels.row_blocks(shape[0], *grid)) >= 2 * shape[0]
    np.testing.assert_array_equal(slm.encode(values, illumination, slm.sample_pitch,
                                             WAVELENGTH), whole)


def test_encode_rejects_what_to_gray_rejects():
    slm = SLM((8, 8), PITCH, mode="amplitude")
    illumination = np.ones((8, 8), np.complex64)
    for bad in (1.5, -0.1, np.nan, np.inf):
        values = np.full((1, 8, 8), 0.5)
        values[0, 3, 4] = bad
        with pytest.raises(ValueError, match="amplitudes"):
            slm.encode(values, illumination, PITCH)
    with pytest.raises(ValueError, match="field_pitch"):
        slm.encode(np.zeros((1, 8, 8)), illumination, 2 * PITCH)
    with pytest.raises(ValueError, match="panel"):
        slm.encode(np.zeros((1, 9, 8)), np.ones((9, 8), np.complex64), PITCH)


# --- quantization -------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 4, 8, 10])
def test_linear_phase_quantization(bits):
    slm = SLM((4, 4), PITCH, bits=bits)
    phase = np.linspace(-2 * np.pi, 4 * np.pi, 6 * 8 * 2 ** bits, endpoint=False) + 1e-4
    gray = slm.to_gray(phase)
    assert gray.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert np.unique(gray).size == 2 ** bits
    shown = np.angle(slm.displayed(gray))
    assert circular_error(shown, phase).max() <= np.pi / 2 ** bits * (1 + 1e-9)
    assert slm.to_gray(2 * np.pi - 1e-9) == 0


@pytest.mark.parametrize("bits", [1, 4, 8, 10])
def test_linear_amplitude_quantization(bits):
    slm = SLM((4, 4), PITCH, mode="amplitude", bits=bits)
    amplitude = np.linspace(0, 1, 8 * 2 ** bits)
    gray = slm.to_gray(amplitude)
    assert np.unique(gray).size == 2 ** bits
    error = np.abs(slm.displayed(gray).real - amplitude)
    assert error.max() <= 0.5 / (2 ** bits - 1) * (1 + 1e-9)


def test_wavelength_dependent_stroke():
    retardance = 633e-9  # d·Δn (m): a 2π stroke at 633 nm
    slm = SLM((4, 4), PITCH, bits=6, phase_range=lambda wavelength: 2 * np.pi * retardance /
              wavelength)
    stroke = 2 * np.pi * 633 / 488
    assert math.isclose(slm.phase_stroke(488e-9), stroke)
    np.testing.assert_allclose(np.angle(slm.displayed(np.array([10]), 488e-9)),
                               np.angle(np.exp(1j * 10 * stroke / 64)))
    phase = np.linspace(0, 2 * np.pi, 3001)
    shown = np.angle(slm.displayed(slm.to_gray(phase, 488e-9), 488e-9))
    assert circular_error(shown, phase).max() <= stroke / 64 / 2 * (1 + 1e-9)
    with pytest.raises(ValueError, match="wavelength"):
        slm.to_gray(phase)


def test_measured_lut_inverted_to_nearest_level():
    gray_axis = np.arange(2 ** 7) / (2 ** 7 - 1)
    lut = 2.2 * np.pi * gray_axis ** 1.7  # gamma-like, 2.2π stroke
    slm = SLM((4, 4), PITCH, bits=7, lut=lut)
    phase = np.random.default_rng(5).uniform(-np.pi, 3 * np.pi, 4000)
    shown = np.angle(slm.displayed(slm.to_gray(phase)))
    best = circular_error(lut[None, :], phase[:, None]).min(axis=1)
    np.testing.assert_allclose(circular_error(shown, phase), best, atol=1e-12)
    assert circular_error(shown, phase).max() > np.pi / 2 ** 7  # nonlinear: coarse in places

    coupled = (0.55 + 0.45 * gray_axis) * np.exp(1j * 1.9 * np.pi * gray_axis ** 1.3)
    slm = SLM((4, 4), PITCH, mode="amplitude", bits=7, lut=coupled)
    rng = np.random.default_rng(6)
    target = rng.uniform(0, 1, 3000) * np.exp(1j * rng.uniform(0, 2 * np.pi, 3000))
    chosen = np.abs(slm.displayed(slm.to_gray(target)) - target)
    np.testing.assert_allclose(chosen, np.abs(coupled[None] - target[:, None]).min(axis=1))


def test_bad_values():
    with pytest.raises(ValueError, match="values"):
        SLM((4, 4), PITCH, mode="amplitude").to_gray([0.2, 1.3])
    with pytest.raises(ValueError, match="values"):
        SLM((4, 4), PITCH).to_gray([0.2, np.nan])


# --- pixelation ---------------------------------------------------------------------------


@pytest.mark.parametrize("side", [0.75, 0.8])  # 0.8·32 samples: edges inside a sample
def test_fill_factor_sinc_envelope(side):
    slm = SLM((8, 8), PITCH, mode="amplitude", fill_factor=side ** 2, oversample=32)
    focal = orders(slm, np.full((8, 8), 255))
    centre, step = focal.shape[0] // 2, 8  # orders every λf/pitch = 8 focal samples
    assert math.isclose(focal[centre, centre], side ** 4, rel_tol=1e-9)  # |mean t|² = FF²
    for m in (1, 2):
        ratio = focal[centre, centre + m * step] / focal[centre, centre]
        assert ratio == pytest.approx(np.sinc(m * side) ** 2, rel=0.02)
    diagonal = focal[centre + step, centre - step] / focal[centre, centre]
    assert diagonal == pytest.approx(np.sinc(side) ** 4, rel=0.02)


def test_fill_factor_needs_oversampling():
    with pytest.warns(SamplingWarning, match="oversample"):
        SLM((4, 4), PITCH, fill_factor=0.9, oversample=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SLM((4, 4), PITCH, fill_factor=0.9, oversample=3)


def test_binary_phase_grating_and_crosstalk():
    width, oversample = 256, 8
    grating = (np.arange(width)[None, :] % 2) * 128  # 0 / π, period 2 pixels

    def first_orders(crosstalk):
        slm = SLM((1, width), PITCH, oversample=oversample, crosstalk=crosstalk)
        focal = orders(slm, grating)
        centre = np.array(focal.shape) // 2
        return focal[centre[0], centre[1] + width // 2], focal[centre[0], centre[1] - width // 2]

    plus, minus = first_orders(0.0)
    assert plus == pytest.approx((2 / np.pi) ** 2, rel=0.015)
    assert minus == pytest.approx(plus, rel=1e-9)
    efficiency = [sum(first_orders(c)) / 2 for c in (0.0, 0.25, 0.5, 1.0, 1.5)]
    assert np.all(np.diff(efficiency) < 0)
    # with a 1-pixel FWHM the phase is a sinusoid of amplitude 2·exp(−π²σ²/2) (σ in pixels)
    sigma = 1.0 / (2 * math.sqrt(2 * math.log(2)))
    assert efficiency[3] == pytest.approx(j1(2 * math.exp(-np.pi ** 2 * sigma ** 2 / 2)) ** 2,
                                          rel=0.04)


def test_fringing_smooths_the_displayed_phase():
    """A step from gray 0 to gray 255 (phase 0 → 2π − δ) rises through π as the LC phase
    does; smoothing exp(iφ) instead would stay near 1. Profile: φ̄·(1 + erf(x/(√2σ)))/2."""
    slm = SLM((1, 8), PITCH, oversample=10, crosstalk=1.3)
    gray = np.repeat([[0, 255]], 4, axis=1)
    phase = np.unwrap(np.angle(slm.transmittance(gray, slm.sample_pitch)[0].astype(complex)))
    x = (np.arange(80) + 0.5 - 40) / 10  # pixels from the step
    step = 255 * 2 * np.pi / 256
    sigma = 1.3 / (2 * math.sqrt(2 * math.log(2)))
    expected = step * (1 + erf(x / (math.sqrt(2) * sigma))) / 2
    inside = np.abs(x) < 3
    np.testing.assert_allclose(phase[inside], expected[inside], atol=0.02)


def test_dmd_checkerboard_orders():
    slm = SLM((16, 16), 7.56e-6, mode="binary", oversample=16)
    board = np.indices((16, 16)).sum(axis=0) % 2
    transmittance = slm.transmittance(board, slm.sample_pitch)
    assert set(np.unique(transmittance)) == {0, 1}
    focal = orders(slm, board)
    centre, step = focal.shape[0] // 2, 8  # half the pixel frequency
    assert focal[centre, centre] == pytest.approx(0.25, rel=1e-6)
    for dy, dx in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        assert focal[centre + dy * step, centre + dx * step] == pytest.approx(4 / np.pi ** 4,
                                                                              rel=0.01)
    assert focal[centre, centre + step] < 1e-12


def test_modulate_places_pattern_and_keeps_batch():
    slm = SLM((6, 8), PITCH, mode="amplitude", bits=2, oversample=2, frame_rate=400)
    assert slm.frame_period == pytest.approx(2.5e-3)
    assert slm.extent == pytest.approx((6 * PITCH, 8 * PITCH))
    field = Field(np.ones((3, 16, 20)), slm.sample_pitch, WAVELENGTH)
    out = slm.modulate(field, np.full((2, 3), 3))
    assert out.data.shape == (3, 16, 20)
    panel = np.zeros((6, 8))
    panel[2:4, 2:5] = 1  # centred at ((6 − 2)//2, (8 − 3)//2)
    expected = np.zeros((16, 20))
    expected[2:14, 2:18] = np.kron(panel, np.ones((2, 2)))
    np.testing.assert_allclose(np.abs(out.data[1]), expected)
    shifted = slm.modulate(field, np.full((2, 3), 3), offset=(0, 5))
    assert np.abs(shifted.data[0, 2:6, 12:18]).min() == 1
    with pytest.raises(ValueError, match="pitch/oversample"):
        slm.modulate(Field(np.ones((16, 20)), PITCH, WAVELENGTH), np.zeros((6, 8), int))


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, name", [
    (dict(bits=0), "bits"), (dict(bits=17), "bits"), (dict(mode="binary", bits=8), "bits"),
    (dict(fill_factor=0.0), "fill_factor"), (dict(fill_factor=1.2), "fill_factor"),
    (dict(crosstalk=-0.1), "crosstalk"), (dict(oversample=0), "oversample"),
    (dict(pitch=0.0), "pitch"), (dict(frame_rate=0.0), "frame_rate"),
    (dict(phase_range=-1.0), "phase_range"), (dict(mode="hologram"), "mode"),
    (dict(lut=np.zeros(255)), "lut"),
])
def test_bad_construction(kwargs, name):
    arguments = dict(shape=(4, 4), pitch=PITCH) | kwargs
    with pytest.raises(ValueError, match=name):
        SLM(**arguments)


def test_bad_gray():
    slm = SLM((4, 4), PITCH, bits=4)
    with pytest.raises(ValueError, match="gray"):
        slm.transmittance(np.zeros((5, 4), int), PITCH)
    with pytest.raises(ValueError, match="gray"):
        slm.transmittance(np.full((4, 4), 16), PITCH)
    with pytest.raises(ValueError, match="gray"):
        slm.displayed(np.array([-1]))
