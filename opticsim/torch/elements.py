"""The engine's elements as thin torch modules: SLM panel, camera, lens transform, ideal 4f."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from opticsim import checks
from opticsim.camera import Camera, photon_energy
from opticsim.fourf import FourF
from opticsim.grid import place_centred
from opticsim.slm import SLM, pixel_coverage

from .functional import (
    adc,
    complex_dtype,
    embed_centred,
    fourf_field,
    fourf_transfer,
    input_illumination,
    intensity,
    lens_ft,
    nearest_index,
    read_noise,
    real_dtype,
    shot_noise,
    straight_through,
    warp,
    warp_tensors,
)

SHOT_NOISE = ("poisson", "gaussian")


def _cached(cache: dict, key, build):
    """``cache[key]``, built once by ``build()``: element constants turned into tensors once per
    device and dtype."""
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _complex_buffer(values: np.ndarray) -> torch.Tensor:
    """Complex128 constants stored as a real ``(..., 2)`` tensor, so ``Module.to(dtype)``,
    ``.float()`` and ``.double()`` cast them with the parameters."""
    return torch.view_as_real(torch.from_numpy(np.ascontiguousarray(values, np.complex128)))


def _complex(buffer: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(buffer)


def gaussian_smooth(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of the last two axes with standard deviation ``sigma`` (samples),
    edges extended: ``scipy.ndimage.gaussian_filter(values, sigma, mode="nearest",
    axes=(-2, -1))`` (kernel truncated at 4σ), differentiable."""
    if values.is_complex():
        return torch.complex(gaussian_smooth(values.real, sigma),
                             gaussian_smooth(values.imag, sigma))
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights = torch.as_tensor(taps / taps.sum(), dtype=values.dtype, device=values.device)
    for dim in (-2, -1):
        moved = values.movedim(dim, -1)
        rows = F.pad(moved.reshape(-1, 1, moved.shape[-1]), (radius, radius), mode="replicate")
        values = F.conv1d(rows, weights.view(1, 1, -1)).reshape(moved.shape).movedim(-1, dim)
    return values


class SLMPanel(nn.Module):
    """An :class:`opticsim.SLM` at ``wavelength`` (m) in front of a centred ``grid_shape`` grid.

    ``forward(values, quantise)`` takes what :meth:`SLM.to_gray` takes: phases (rad) for a
    phase-only panel, amplitudes in [0, 1] for an amplitude or binary panel, complex
    transmittances for a panel with a complex LUT. With ``quantise`` each value becomes the
    nearest gray level (:meth:`gray`, ties and wrapping as ``to_gray``) and shows that level's
    phase or transmittance from the LUT, with a straight-through gradient; without, the value
    itself is shown. Then, as :meth:`SLM.transmittance`: a pattern smaller than the panel sits
    centred on it (the rest shows gray 0), each pixel is held over oversample² samples, the
    fringing field smooths the liquid-crystal state, the dead frame weights each sample by its
    active fraction, and the panel is embedded centred on the grid and moved by its shift and
    rotation (:meth:`SLM.on_grid`).
    """

    def __init__(self, slm: SLM, wavelength: float, grid_shape):
        super().__init__()
        checks.instance("slm", slm, SLM)
        self.slm = slm
        self.wavelength = checks.positive("wavelength", wavelength)
        self.grid_shape = checks.shape2("grid_shape", grid_shape)
        phases = slm.phases(self.wavelength)
        levels = slm.levels(self.wavelength)
        self.phase_only = phases is not None
        self.complex_levels = not self.phase_only and np.iscomplexobj(slm.lut)
        self.period = 2 * np.pi if self.phase_only else 0.0
        keys = np.mod(phases, 2 * np.pi) if self.phase_only else levels.real
        order = np.argsort(keys, kind="stable")
        coverage = pixel_coverage(slm.oversample, slm.fill_factor)
        frame = None if np.all(coverage == 1) else np.tile(np.outer(coverage, coverage), slm.shape)
        self._numpy = {"keys": keys[order], "grays": order, "levels": levels,
                       "states": phases if self.phase_only else levels, "frame": frame}
        self._steps = slm.warp_steps(self.grid_shape) if slm.moved else []
        self._cache = {}

    def _tensors(self, device, dtype) -> dict:
        def build():
            values = self._numpy
            state_dtype = dtype if self.phase_only else complex_dtype(dtype)
            return {"states": torch.as_tensor(values["states"]).to(device, state_dtype),
                    "frame": None if values["frame"] is None else
                    torch.as_tensor(values["frame"]).to(device, dtype),
                    "levels": torch.as_tensor(values["levels"]).to(device, complex_dtype(dtype)),
                    "keys": torch.as_tensor(values["keys"]).to(device, dtype),
                    "grays": torch.as_tensor(values["grays"], device=device),
                    "steps": warp_tensors(self._steps, torch.empty((), dtype=dtype,
                                                                   device=device))}
        return _cached(self._cache, (str(device), dtype), build)

    def _targets(self, values: torch.Tensor) -> torch.Tensor:
        """The complex transmittance each value asks for (panels described by complex levels)."""
        if values.is_complex():
            return values
        if self.slm.mode == "phase":
            return torch.exp(1j * values)
        return values.to(complex_dtype(values.dtype))

    def gray(self, values: torch.Tensor) -> torch.Tensor:
        """Gray level (int64) of the nearest level to each value, found in float64 as
        :meth:`SLM.to_gray` does, so the layer shows exactly what the SLM would."""
        values = values.detach()
        table = self._tensors(values.device, torch.float64)
        if self.complex_levels or values.is_complex():
            wide = torch.complex128 if values.is_complex() else torch.float64
            targets = self._targets(values.to(wide))
            return (targets[..., None] - table["levels"]).abs().argmin(dim=-1)
        return table["grays"][nearest_index(values.to(torch.float64), table["keys"], self.period)]

    def forward(self, values: torch.Tensor, quantise: bool = True) -> torch.Tensor:
        tensors = self._tensors(values.device, real_dtype(values.dtype))
        states = tensors["states"]
        state = values if self.phase_only else self._targets(values)
        if quantise:
            state = straight_through(state, states[self.gray(values)])
        state = self._on_panel(state, states[0])
        oversample = self.slm.oversample
        if oversample > 1:
            state = state.repeat_interleave(oversample, -2).repeat_interleave(oversample, -1)
        if self.slm.crosstalk > 0:
            state = gaussian_smooth(state, self.slm.fringing_sigma)
        field = torch.exp(1j * state) if self.phase_only else state
        if tensors["frame"] is not None:
            field = field * tensors["frame"]
        return warp(embed_centred(field, self.grid_shape), tensors["steps"])

    def _on_panel(self, state: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """A ``(..., h, w)`` pattern centred on the panel, showing gray level 0 (``fill``)
        around it."""
        h, w = state.shape[-2:]
        rows, cols = self.slm.shape
        if h > rows or w > cols:
            raise ValueError(f"a pattern of {(h, w)} pixels does not fit the {self.slm.shape} "
                             "panel")
        if (h, w) == self.slm.shape:
            return state
        oy, ox = place_centred((h, w), self.slm.shape)
        pads = (ox, cols - w - ox, oy, rows - h - oy)
        inside = F.pad(torch.ones((h, w), dtype=real_dtype(state.dtype), device=state.device),
                       pads)
        return F.pad(state, pads) + fill * (1 - inside)


def _overlap_matrix(band, samples: int) -> np.ndarray:
    """Dense ``(pixels, samples)`` overlaps (m) of a band of
    :func:`opticsim.camera.pixel_overlaps`."""
    start, weight = band
    matrix = np.zeros((len(start), samples))
    for pixel in range(len(start)):
        matrix[pixel, start[pixel]:start[pixel] + weight.shape[1]] = weight[pixel]
    return matrix


class CameraResponse(nn.Module):
    """An :class:`opticsim.Camera` (EMVA 1288 linear model) seeing an irradiance (W/m²) on a
    centred grid of ``sample_shape`` at ``sample_pitch`` (m) and ``wavelength`` (m).

    Power on each pixel's active area ``P = W_y·E·W_xᵀ`` (exact overlaps of sample cells and
    active windows), electrons ``μ_e = P·t·λ/(hc)·η·PRNU + μ_I·t``; without noise the mean
    response ``clip(offset + K·min(μ_e + DSNU, full_well), 0, 2^bits − 1)`` in DN (unrounded,
    as ``Camera.capture(noise=False)``); with noise, Poisson (or Gaussian) shot noise and
    Gaussian read noise drawn from ``generator``, then full well, gain, offset, rounding and
    clipping as ``Camera.capture``, the rounding with a straight-through gradient. The pixels
    sit at the camera's shift; its rotation and defocus act on the field before the irradiance
    (:class:`Optical4fConv` applies them, as :meth:`FourF.run` does).
    """

    def __init__(self, camera: Camera, sample_shape, sample_pitch, wavelength: float,
                 shot: str = "poisson"):
        super().__init__()
        checks.instance("camera", camera, Camera)
        if shot not in SHOT_NOISE:
            raise ValueError(f"shot must be one of {SHOT_NOISE}, got {shot!r}")
        self.camera = camera
        self.shot = shot
        sample_shape = checks.shape2("sample_shape", sample_shape)
        sample_pitch = checks.pair("sample_pitch", sample_pitch)
        rows, cols = (_overlap_matrix(band, n) for band, n in
                      zip(camera._overlaps(sample_shape, sample_pitch), sample_shape))
        response = (camera.exposure / photon_energy(checks.positive("wavelength", wavelength))
                    * camera.qe * camera.prnu_pattern)
        self._numpy = {"rows": rows, "cols": cols.T.copy(), "response": response,
                       "dsnu": camera.dsnu_pattern}
        self._cache = {}

    def _tensors(self, device, dtype) -> dict:
        return _cached(self._cache, (str(device), dtype), lambda: {
            name: torch.as_tensor(value).to(device, dtype) for name, value in self._numpy.items()})

    def electrons(self, irradiance: torch.Tensor) -> torch.Tensor:
        """Mean photo-electrons per pixel ``η·μ_p·PRNU`` ``(..., *camera.shape)``."""
        tensors = self._tensors(irradiance.device, irradiance.dtype)
        return tensors["rows"] @ irradiance @ tensors["cols"] * tensors["response"]

    def forward(self, irradiance: torch.Tensor, noise: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        camera = self.camera
        dsnu = self._tensors(irradiance.device, irradiance.dtype)["dsnu"]
        electrons = self.electrons(irradiance) + camera.dark_electrons()
        if noise:
            if generator is None:
                raise ValueError("generator must be a torch.Generator when noise is on")
            electrons = read_noise(shot_noise(electrons, generator, self.shot),
                                   camera.read_noise, generator)
        signal = (electrons + dsnu).clamp(max=camera.full_well)
        if noise:
            return adc(signal, camera.gain, camera.offset, camera.bits)
        return (camera.offset + camera.gain * signal).clamp(0, camera.max_level)


# --- modules --------------------------------------------------------------------------------


class LensTransform(nn.Module):
    """Lens ``lens`` (an :class:`opticsim.Lens`) as a Fourier-transforming element on a grid of
    ``pitch`` (m) at ``wavelength`` (m); its pupil is applied in the front focal plane, as in
    :meth:`opticsim.Lens.fourier`."""

    def __init__(self, lens, shape, pitch, wavelength: float):
        super().__init__()
        self.lens = lens
        self.pitch = checks.pair("pitch", pitch)
        self.wavelength = checks.positive("wavelength", wavelength)
        pupil = lens.pupil(checks.shape2("shape", shape), self.pitch, np.complex128)
        self.register_buffer("pupil", None if pupil is None else _complex_buffer(pupil))

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        if self.pupil is not None:
            field = field * _complex(self.pupil).to(field.dtype)
        return lens_ft(field, self.pitch, self.wavelength, self.lens.focal_length)


class IdealFourF(nn.Module):
    """The ideal 4f of ``fourf`` (laser, lens pupils and focal lengths from its elements; its
    modulators and camera ignored) for images of ``image_shape`` ``(h, w)``:
    ``forward(images, masks)`` returns the complex output field ``(..., ny, nx)`` in √(W/m²) of
    :meth:`FourF.field` without SLMs, :meth:`intensity` the irradiance of
    :meth:`FourF.irradiance`. ``images`` ``(B, 1, h, w)`` with ``masks`` ``(C, ny, nx)`` give
    ``(B, C, ny, nx)``."""

    def __init__(self, fourf: FourF, image_shape):
        super().__init__()
        checks.instance("fourf", fourf, FourF)
        image_shape = checks.shape2("image_shape", image_shape)
        if image_shape[0] > fourf.shape[0] or image_shape[1] > fourf.shape[1]:
            raise ValueError(f"image_shape {image_shape} does not fit the {fourf.shape} grid")
        self.fourf = fourf
        self.image_shape = image_shape
        bare = dataclasses.replace(fourf, input_slm=None, fourier_slm=None, camera=None)
        self.register_buffer("transfer", _complex_buffer(fourf_transfer(bare, image_shape)))
        self.register_buffer("illumination",
                             _complex_buffer(input_illumination(bare, image_shape)))

    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != self.image_shape:
            raise ValueError(f"images must end in {self.image_shape}, got {tuple(images.shape)}")
        if tuple(masks.shape[-2:]) != self.fourf.shape:
            raise ValueError(f"masks must end in the Fourier grid {self.fourf.shape}, got "
                             f"{tuple(masks.shape)}")
        dtype = complex_dtype(images.dtype)
        encoded = images.to(dtype) * _complex(self.illumination).to(dtype)
        return fourf_field(encoded, masks.to(dtype), _complex(self.transfer).to(dtype),
                           self.fourf.shape)

    def intensity(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Detector irradiance ``|E|²`` (W/m²)."""
        return intensity(self(images, masks))
