"""Free-space propagation and the lens Fourier transform, each taking and returning a Field.

Conventions (documentation, docs/conventions.rst): time dependence exp(−iωt); the lens transform is
``U(u) = 1/(iλf) ∫ u(x) exp(−i2π x·u/(λf)) dx`` (Goodman eq. 5-19 without the quadratic
phase, i.e. input in the front focal plane), sampled at pitch ``λf/(N·dx)`` and conserving
power. Propagators include the exp(ikz) carrier, with phases formed in float64.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import scipy.fft

from . import _kernels, checks, fft
from .checks import SamplingWarning
from .field import Field
from .grid import coordinates, focal_pitch


def _stack(data: np.ndarray) -> np.ndarray:
    """View ``(..., ny, nx)`` samples as a 3-D ``(batch, ny, nx)`` stack."""
    return data.reshape((-1,) + data.shape[-2:])


@functools.lru_cache(maxsize=64)
def _centre_ramp(n: int, dtype_str: str) -> np.ndarray:
    """exp(i2π·c·(k − c)/n), c = n//2: the phase that moves an FFT's origin to the centre."""
    centre = n // 2
    k = np.arange(n) - centre
    ramp = np.exp(2j * np.pi * ((centre * k) % n) / n).astype(dtype_str)
    ramp.setflags(write=False)
    return ramp


def lens_ft(field: Field, focal_length: float, out_pitch=None, out_shape=None) -> Field:
    """Field in the back focal plane of a thin lens, input in its front focal plane.

    ``U(u) = 1/(iλf) Σ u(x) exp(−i2π x·u/(λf)) dx dy``. Without ``out_pitch``/``out_shape``
    the result is sampled at ``λf/(N·dx)`` on the same number of samples by one FFT (power
    conserved exactly). With either one, the focal plane is sampled exactly at the requested
    pitch ``(dy, dx)`` and shape, as for a Fourier-plane SLM of another pitch: by a matrix
    Fourier transform (Soummer et al., Opt. Express 15:15935, 2007), ``O(N³)``, for small
    grids, and by Bluestein's chirp-z transform, ``O(N² log N)``, from about
    :data:`CHIRP_Z_FROM` samples a side (:func:`lens_at_pitch`); the two agree to rounding.
    """
    checks.instance("field", field, Field)
    focal_length = checks.positive("focal_length", focal_length)
    if out_pitch is None and out_shape is None:
        return _lens_fft(field, focal_length)
    natural = focal_pitch(field.wavelength, focal_length, field.shape, field.pitch)
    pitch = natural if out_pitch is None else checks.pair("out_pitch", out_pitch)
    shape = field.shape if out_shape is None else checks.shape2("out_shape", out_shape)
    period = (field.wavelength * focal_length / field.pitch[0],
              field.wavelength * focal_length / field.pitch[1])
    window = (shape[0] * pitch[0], shape[1] * pitch[1])
    if window[0] > period[0] * (1 + 1e-9) or window[1] > period[1] * (1 + 1e-9):
        warnings.warn(
            f"focal-plane window {window} m exceeds the spectral period λf/dx = {period} m of "
            "the sampled input, so replicas of the spectrum appear; sample the input finer or "
            "ask for a smaller out_shape/out_pitch", SamplingWarning, stacklevel=2)
    return lens_at_pitch(field, focal_length, pitch, shape)


def _lens_fft(field: Field, focal_length: float) -> Field:
    """fftshift(FFT(ifftshift(u))) as FFT(z), z[n] = u[n + c]·exp(i2π·c·n/N) per axis: one
    pass that shifts and scales into the output, then the FFT in place on it."""
    ny, nx = field.shape
    dtype = field.data.dtype
    scale = field.pitch[0] * field.pitch[1] / (1j * field.wavelength * focal_length)
    origin = sum(((n // 2) ** 2 % n) / n for n in (ny, nx))        # exp(i2π·c²/N) per axis
    row_factor = (scale * np.exp(2j * np.pi * origin) * _centre_ramp(ny, dtype.str)).astype(dtype)
    col_factor = _centre_ramp(nx, dtype.str)
    out = fft.empty(field.data.shape, dtype)
    data, target = _stack(field.data), _stack(out)
    _kernels.run_tasks(
        functools.partial(_kernels.shift_scale, data[b:b + 1], row_factor, col_factor,
                          target[b:b + 1], start, stop)
        for b, start, stop in _kernels.row_blocks(*target.shape))
    fft.fft2(out, out=out)
    pitch = focal_pitch(field.wavelength, focal_length, field.shape, field.pitch)
    return field.replace(out, pitch)


def _mft_matrix(n_out: int, out_pitch: float, n_in: int, in_pitch: float,
                wavelength: float, focal_length: float) -> np.ndarray:
    """exp(−i2π·u_k·x_n/(λf)) as an (n_out, n_in) complex128 matrix, phase in float64."""
    phase = np.outer(coordinates(n_out, out_pitch), coordinates(n_in, in_pitch))
    phase *= -2 * np.pi / (wavelength * focal_length)
    return np.exp(1j * phase)


@functools.lru_cache(maxsize=8)
def mft_matrices(in_shape, in_pitch, out_shape, out_pitch, wavelength: float,
                 focal_length: float, dtype_str: str) -> tuple[np.ndarray, np.ndarray]:
    """The lens transform sampled at ``out_pitch`` on ``out_shape`` as two matrices (read-only,
    kept for the next call): ``lens_ft(u) = rows @ u @ cols.T``, rows ``(M_y, N_y)`` holding
    the scale ``dx·dy/(iλf)``, cols ``(M_x, N_x)`` (Soummer et al., Opt. Express 15:15935)."""
    scale = in_pitch[0] * in_pitch[1] / (1j * wavelength * focal_length)
    rows = scale * _mft_matrix(out_shape[0], out_pitch[0], in_shape[0], in_pitch[0],
                               wavelength, focal_length)
    cols = _mft_matrix(out_shape[1], out_pitch[1], in_shape[1], in_pitch[1], wavelength,
                       focal_length)
    matrices = (rows.astype(dtype_str), cols.astype(dtype_str))
    for matrix in matrices:
        matrix.setflags(write=False)
    return matrices


def _lens_mft(field: Field, focal_length: float, pitch, shape) -> Field:
    """:func:`lens_ft` sampled at ``pitch`` on ``shape`` by two matrix products, unchecked."""
    dtype = field.data.dtype
    rows, cols = mft_matrices(field.shape, field.pitch, tuple(shape), tuple(pitch),
                              field.wavelength, focal_length, dtype.str)
    out = fft.empty(field.data.shape[:-2] + tuple(shape), dtype)
    np.matmul(np.matmul(rows, field.data), cols.T, out=out)
    return field.replace(out, pitch)


# Matrix products (BLAS) against the chirp-z transform (two FFTs of (N + M − 1)² samples) for
# N² → N² samples, complex64, on this project's 2-core machine (python benches/bench_chirp_z.py):
# matrix/chirp-z time 0.58 at N = 256, 0.55 at 512, 0.52 at 640, 1.10 at 768, 1.65 at 1024.
# The rule compares the products' multiply count My·Nx·(Ny + Mx) with c·Ly·Lx·log2(Ly·Lx),
# c chosen to put the switch at CHIRP_Z_FROM for square grids.
#: Grid side (samples) from which :func:`lens_ft` at another pitch takes the chirp-z transform.
CHIRP_Z_FROM = 768


def _use_chirp_z(in_shape, out_shape, crossover: int | None = None) -> bool:
    """True when the chirp-z transform is expected to beat the matrix products, for a backend
    whose square grids switch at ``crossover`` samples a side (default :data:`CHIRP_Z_FROM`)."""
    crossover = CHIRP_Z_FROM if crossover is None else crossover
    cost = crossover ** 3 * 2 / (4 * crossover ** 2 * math.log2(4 * crossover ** 2))
    lengths = [n + m - 1 for n, m in zip(in_shape, out_shape)]
    products = out_shape[0] * in_shape[1] * (in_shape[0] + out_shape[1])
    return products > cost * lengths[0] * lengths[1] * math.log2(lengths[0] * lengths[1])


def lens_at_pitch(field: Field, focal_length: float, pitch, shape) -> Field:
    """:func:`lens_ft` sampled at ``pitch`` on ``shape`` (unchecked): by the matrix products
    of :func:`mft_matrices` for small grids, by the chirp-z transform from about
    :data:`CHIRP_Z_FROM` samples a side."""
    if _use_chirp_z(field.shape, tuple(shape)):
        return _lens_chirp_z(field, focal_length, pitch, shape)
    return _lens_mft(field, focal_length, pitch, shape)


def _chirp(offset: np.ndarray, alpha: float, sign: float) -> np.ndarray:
    """exp(sign·iπα·offset²) for integer ``offset``, phase reduced modulo 2π in float64."""
    offset = offset.astype(np.float64)
    return np.exp(1j * np.pi * np.mod(sign * alpha * offset * offset, 2.0))


def _quadratic_phase(shape, pitch, length: float) -> np.ndarray:
    """exp(iπ(x² + y²)/length) on a centred ``shape`` grid of ``pitch`` (``length`` in m², λz
    for free space), complex128, phases reduced in float64."""
    return np.outer(*(_chirp(np.arange(n) - n // 2, d * d / length, 1.0)
                      for n, d in zip(shape, pitch)))


@functools.lru_cache(maxsize=8)
def chirp_z_factors(in_shape, in_pitch, out_shape, out_pitch, wavelength: float,
                    focal_length: float, dtype_str: str):
    """The lens transform sampled at ``out_pitch`` on ``out_shape`` as a chirp-z transform
    (Bluestein, IEEE Trans. Audio Electroacoust. 18:451, 1970), read-only and kept for the next
    call: ``(pre, kernel, post)``.

    Per axis, with n, k the input and output indices from their centres and α = dx·du/(λf),
    ``exp(−i2παnk) = exp(−iπαn²)·exp(−iπαk²)·exp(iπα(k − n)²)``, so the transform is
    ``post · (kernel ∗ (pre · u))``: ``pre`` ``(N_y, N_x)`` the input chirp, ``kernel`` the
    FFT of the chirp exp(iπα(k − n)²) on ``(L_y, L_x)`` samples, L ≥ N + M − 1 a fast FFT
    length (the linear convolution, not a circular one), divided by L_y·L_x, and ``post``
    ``(M_y, M_x)`` the output chirp times the scale ``dx·dy/(iλf)``.
    """
    pre, post, kernel, lengths = [], [], [], []
    for n_in, d_in, n_out, d_out in zip(in_shape, in_pitch, out_shape, out_pitch):
        alpha = d_in * d_out / (wavelength * focal_length)
        length = scipy.fft.next_fast_len(n_in + n_out - 1)
        pre.append(_chirp(np.arange(n_in) - n_in // 2, alpha, -1.0))
        post.append(_chirp(np.arange(n_out) - n_out // 2, alpha, -1.0))
        lags = np.arange(length)                   # k − n, the negative ones wrapped
        lags = np.where(lags < n_out, lags, lags - length) - (n_out // 2 - n_in // 2)
        kernel.append(np.fft.fft(_chirp(lags, alpha, 1.0)))
        lengths.append(length)
    scale = in_pitch[0] * in_pitch[1] / (1j * wavelength * focal_length)
    factors = (np.outer(pre[0], pre[1]),
               np.outer(kernel[0], kernel[1]) / (lengths[0] * lengths[1]),
               scale * np.outer(post[0], post[1]))
    factors = tuple(factor.astype(dtype_str) for factor in factors)
    for factor in factors:
        factor.setflags(write=False)
    return factors


def _lens_chirp_z(field: Field, focal_length: float, pitch, shape) -> Field:
    """:func:`lens_ft` sampled at ``pitch`` on ``shape`` by the chirp-z transform, unchecked:
    the chirped input zero-padded, two FFTs and the output chirp."""
    dtype = field.data.dtype
    pre, kernel, post = chirp_z_factors(field.shape, field.pitch, tuple(shape), tuple(pitch),
                                        field.wavelength, focal_length, dtype.str)
    ny, nx = field.shape
    work = fft.zeros(field.data.shape[:-2] + kernel.shape, dtype)
    np.multiply(field.data, pre, out=work[..., :ny, :nx])
    fft.fft2(work, out=work, rows=(0, ny))
    work *= kernel
    fft.fft2(work, inverse=True, out=work)
    out = fft.empty(field.data.shape[:-2] + tuple(shape), dtype)
    np.multiply(work[..., :shape[0], :shape[1]], post, out=out)
    return field.replace(out, tuple(pitch))


# --- free space ---------------------------------------------------------------------------


def _carrier_phase(wavelength: float, distance: float, freq_sq: np.ndarray) -> np.ndarray:
    """2π·z·√(1/λ² − f²) reduced modulo 2π in float64 (propagating components only)."""
    kz = np.sqrt(np.maximum(1.0 / wavelength ** 2 - freq_sq, 0.0))
    return np.mod(2 * np.pi * distance * kz, 2 * np.pi)


@functools.lru_cache(maxsize=8)
def _asm_transfer(shape, pitch, wavelength, distance, window, band_limit, dtype_str):
    """Band-limited angular-spectrum transfer function in FFT order, including 1/N."""
    fy = np.fft.fftfreq(shape[0], pitch[0])[:, None]
    fx = np.fft.fftfreq(shape[1], pitch[1])[None, :]
    freq_sq = fy ** 2 + fx ** 2
    transfer = np.exp(1j * _carrier_phase(wavelength, distance, freq_sq))
    evanescent = freq_sq > 1.0 / wavelength ** 2
    transfer[evanescent] = np.exp(-2 * np.pi * distance * np.sqrt(
        freq_sq[evanescent] - 1.0 / wavelength ** 2))
    if band_limit:
        limit_y, limit_x = (1.0 / (wavelength * math.hypot(distance / w, 1)) for w in window)
        transfer *= (np.abs(fy) <= limit_y) & (np.abs(fx) <= limit_x)
    transfer /= shape[0] * shape[1]
    transfer = transfer.astype(dtype_str)
    transfer.setflags(write=False)
    return transfer


def angular_spectrum(field: Field, distance: float, band_limit: bool = True) -> Field:
    """Propagate ``distance`` metres by the band-limited angular spectrum method.

    ``H(fx, fy) = exp(i2πz√(1/λ² − fx² − fy²))`` on a grid zero-padded to twice the window,
    so the result is the linear (not circular) convolution, cropped back to the input grid.
    With ``band_limit`` the transfer function is cut at ``1/(λ√((2Δf·z)² + 1))``, Δf = 1/(2S),
    S the window (Matsushima & Shimobaba, Opt. Express 17:19662, 2009), which removes the
    aliasing of its undersampled chirp at long distances.
    """
    distance = checks.distance("distance", distance, checks.instance("field", field,
                                                                     Field).wavelength)
    ny, nx = field.shape
    padded_shape = (2 * ny, 2 * nx)
    window = field.extent
    if not band_limit:
        limit = min(1.0 / (field.wavelength * math.hypot(distance / w, 1)) for w in window)
        nyquist = 1.0 / (2 * max(field.pitch))
        if limit < nyquist:
            warnings.warn(
                f"at z = {distance} m the angular-spectrum transfer function is undersampled "
                f"above {limit:.4g} 1/m (Nyquist {nyquist:.4g} 1/m) and aliases; "
                "use band_limit=True", SamplingWarning, stacklevel=2)
    dtype = field.data.dtype
    transfer = _asm_transfer(padded_shape, field.pitch, field.wavelength, distance, window,
                             bool(band_limit), dtype.str)
    padded = fft.zeros(field.data.shape[:-2] + padded_shape, dtype)
    oy, ox = padded_shape[0] // 2 - ny // 2, padded_shape[1] // 2 - nx // 2
    padded[..., oy:oy + ny, ox:ox + nx] = field.data
    fft.fft2(padded, out=padded)
    padded *= transfer
    fft.fft2(padded, inverse=True, out=padded)
    out = fft.empty(field.data.shape, dtype)
    out[...] = padded[..., oy:oy + ny, ox:ox + nx]
    return field.replace(out)


def critical_distance(field: Field) -> tuple[float, float]:
    """Fresnel critical distance ``N·dx²/λ`` per axis (metres), where ``dx = λz/L``."""
    checks.instance("field", field, Field)
    return tuple(n * d * d / field.wavelength for n, d in zip(field.shape, field.pitch))


@functools.lru_cache(maxsize=8)
def _fresnel_transfer(shape, pitch, wavelength, distance, method, dtype_str):
    """Fresnel transfer function in FFT order including 1/N: analytic (``"tf"``) or the FFT
    of the sampled impulse response (``"ir"``), both with the exp(ikz) carrier."""
    carrier = np.exp(1j * np.mod(2 * np.pi * distance / wavelength, 2 * np.pi))
    if method == "tf":
        fy = np.fft.fftfreq(shape[0], pitch[0])[:, None]
        fx = np.fft.fftfreq(shape[1], pitch[1])[None, :]
        chirp = np.mod(-np.pi * wavelength * distance * (fy ** 2 + fx ** 2), 2 * np.pi)
        transfer = carrier * np.exp(1j * chirp)
    else:
        impulse = carrier / (1j * wavelength * distance) * _quadratic_phase(
            shape, pitch, wavelength * distance)
        transfer = np.fft.fft2(np.fft.ifftshift(impulse)) * (pitch[0] * pitch[1])
    transfer /= shape[0] * shape[1]
    transfer = transfer.astype(dtype_str)
    transfer.setflags(write=False)
    return transfer


def _occupied(marginal: np.ndarray, positions: np.ndarray, fraction: float = 0.995):
    """Interval of ``positions`` holding ``fraction`` of the power in ``marginal``."""
    cumulative = np.cumsum(marginal)
    total = cumulative[-1]
    if total <= 0:
        return 0.0, 0.0
    tail = (1 - fraction) / 2 * total
    low = positions[np.searchsorted(cumulative, tail)]
    high = positions[min(np.searchsorted(cumulative, total - tail), len(positions) - 1)]
    return low, high


def fresnel(field: Field, distance: float, method: str = "auto") -> Field:
    """Propagate ``distance`` metres in the Fresnel (paraxial) approximation.

    ``method="tf"`` multiplies the spectrum by ``exp(ikz)·exp(−iπλz(fx² + fy²))``;
    ``"ir"`` convolves with ``exp(ikz)/(iλz)·exp(iπ(x² + y²)/(λz))``: both keep the input
    grid. ``"single"`` is the single-transform (one-step) Fresnel integral
    ``U(x') = exp(ikz)/(iλz)·exp(iπx'²/(λz))·Σ u(x)·exp(iπx²/(λz))·exp(−i2π x·x'/(λz)) dx dy``
    (Goodman eq. 4-17), one FFT whose output is sampled at pitch ``λz/(N·dx)`` per axis on
    the same number of samples, a window ``λz/dx`` that grows with z; power is conserved
    exactly and its input chirp is sampled for ``z ≥ N·dx²/λ``. ``"auto"`` picks the one
    whose chirp is sampled: the transfer function for ``z ≤ N·dx²/λ``, the impulse response
    beyond (Voelz & Roggemann, Appl. Opt. 48:6132, 2009), and the single transform beyond
    where the diffracted field would outgrow the input window and wrap around. A
    ``SamplingWarning`` says when the chosen chirp is undersampled or when the field wraps.
    """
    distance = checks.distance("distance", distance, checks.instance("field", field,
                                                                     Field).wavelength)
    if method not in ("auto", "tf", "ir", "single"):
        raise ValueError(f"method must be 'auto', 'tf', 'ir' or 'single', got {method!r}")
    critical = critical_distance(field)
    tf_valid = distance <= min(critical)
    ir_valid = distance >= max(critical)
    automatic = method == "auto"
    if automatic:
        if tf_valid or ir_valid:
            method = "tf" if tf_valid else "ir"
        else:
            method = "tf" if distance <= float(np.mean(critical)) else "ir"
            warnings.warn(
                f"z = {distance} m lies between the critical distances {critical} m of the two "
                "axes, so neither Fresnel method samples its chirp on both; use equal pitch "
                "and size on both axes or angular_spectrum", SamplingWarning, stacklevel=2)
    elif (method in ("ir", "single") and not ir_valid) or (method == "tf" and not tf_valid):
        better = "ir" if method == "tf" else "tf"
        warnings.warn(
            f"method={method!r} undersamples its chirp at z = {distance} m (critical distance "
            f"N·dx²/λ = {min(critical):.4g} m); use method={better!r} or 'auto'",
            SamplingWarning, stacklevel=2)
    if method == "single":
        return _fresnel_single(field, distance)
    spectrum = fft.fft2(field.data)
    wraps = _wrap_message(field, spectrum, distance)
    if wraps is not None and automatic and ir_valid:
        return _fresnel_single(field, distance)
    if wraps is not None:
        warnings.warn(wraps, SamplingWarning, stacklevel=2)
    dtype = field.data.dtype
    transfer = _fresnel_transfer(field.shape, field.pitch, field.wavelength, distance, method,
                                 dtype.str)
    spectrum *= transfer
    return field.replace(fft.fft2(spectrum, inverse=True, out=spectrum))


@functools.lru_cache(maxsize=16)
def _fresnel_chirp(shape, pitch, wavelength, distance, carrier: bool, dtype_str):
    """exp(iπ(x² + y²)/(λz)) on a centred grid, times exp(ikz) with ``carrier``; phases
    reduced modulo 2π in float64 before the cast (read-only, kept for the next call)."""
    chirp = _quadratic_phase(shape, pitch, wavelength * distance)
    if carrier:
        chirp *= np.exp(1j * np.mod(2 * np.pi * distance / wavelength, 2 * np.pi))
    chirp = chirp.astype(dtype_str)
    chirp.setflags(write=False)
    return chirp


def _fresnel_single(field: Field, distance: float) -> Field:
    """:func:`fresnel` by one transform: the input times its chirp, the lens transform of
    focal length z (scale dx·dy/(iλz), pitch λz/(N·dx)), times the output chirp and exp(ikz)."""
    dtype = field.data.dtype.str
    chirped = field.data * _fresnel_chirp(field.shape, field.pitch, field.wavelength, distance,
                                          False, dtype)
    result = _lens_fft(field.replace(chirped), distance)
    result.data[...] *= _fresnel_chirp(result.shape, result.pitch, field.wavelength, distance,
                                       True, dtype)
    return result


def _wrap_message(field: Field, spectrum: np.ndarray, distance: float) -> str | None:
    """Why the field's support plus its diffraction spread λz·f exceeds the window, or None
    when it fits."""
    intensity = field.intensity
    power_spectrum = spectrum.real ** 2 + spectrum.imag ** 2
    for axis, name in ((-2, "y"), (-1, "x")):
        other = -1 if axis == -2 else -2
        n, pitch = field.shape[axis], field.pitch[axis]
        positions = coordinates(n, pitch)
        marginal = intensity.sum(axis=other).reshape(-1, n).sum(axis=0)
        low, high = _occupied(marginal, positions)
        freqs = np.fft.fftshift(np.fft.fftfreq(n, pitch))
        spectral = np.fft.fftshift(power_spectrum.sum(axis=other).reshape(-1, n).sum(axis=0))
        f_low, f_high = _occupied(spectral, freqs)
        spread = field.wavelength * distance * max(abs(f_low), abs(f_high))
        half_window = n * pitch / 2
        if low - spread < -half_window or high + spread > half_window:
            return (f"at z = {distance} m the field spreads over [{low - spread:.4g}, "
                    f"{high + spread:.4g}] m along {name}, beyond the window "
                    f"±{half_window:.4g} m, and wraps around; zero-pad the field, use "
                    "angular_spectrum or, beyond N·dx²/λ, method='single'")
    return None
