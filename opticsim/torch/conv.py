"""The 4f convolution layer with learnable Fourier-plane masks."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from opticsim import checks, readout
from opticsim.checks import SamplingWarning
from opticsim.files import read_torch, write_atomic
from opticsim.fourf import FourF
from opticsim.fourf.fourier_plane import fourier_factor
from opticsim.fourf.frames import output_phase
from opticsim.grid import invert
from opticsim.slm import MODES

from .elements import SHOT_NOISE, CameraResponse, SLMPanel, _cached
from .functional import (
    complex_dtype,
    fourf_field,
    fourf_field_at_pitch,
    fourf_lens_factors,
    fourf_transfer,
    generator,
    input_illumination,
    intensity,
    masks_from_kernels,
    warp,
    warp_tensors,
)

MASKS = ("phase", "amplitude", "complex")
#: The ``format`` tag of a file written by :meth:`Optical4fConv.save`.
STATE_FORMAT = "opticsim.torch.Optical4fConv/1"
STATE_KEYS = {"format", "mask", "readout", "multiplex", "in_channels", "out_channels",
              "kernel_shape", "wavelength", "fourier_slm", "values", "state_dict"}


def load_state(path) -> dict:
    """The dict :meth:`Optical4fConv.save` wrote to ``path`` (``torch.load`` with
    ``weights_only=True``); ``ValueError`` naming the file when it is not one."""
    state = read_torch(path, "Optical4fConv state")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT \
            or not STATE_KEYS <= set(state):
        raise ValueError(f"{path} is not a saved Optical4fConv state (format {STATE_FORMAT})")
    problem = _state_problem(state)
    if problem is not None:
        raise ValueError(f"{path} is not a valid Optical4fConv state: {problem}")
    return state


def _state_problem(state: dict) -> str | None:
    """What in a loaded state is not of the kind :meth:`Optical4fConv.save` writes (a file is
    data: nothing in it is trusted to be well formed), or None."""
    values, slm = state["values"], state["fourier_slm"]
    if not torch.is_tensor(values) or values.dtype not in (torch.float64, torch.complex128) \
            or values.ndim not in (3, 4):
        return "values is not a float64 or complex128 tensor (D, [2,] h, w)"
    if state["mask"] not in MASKS:
        return f"mask is {state['mask']!r}, not one of {MASKS}"
    try:
        checks.positive("wavelength", state["wavelength"])
        if slm is not None:
            if not isinstance(slm, dict) or set(slm) != {"shape", "pitch", "mode", "bits"}:
                return "fourier_slm is not None or a dict of shape, pitch, mode and bits"
            checks.shape2("fourier_slm shape", slm["shape"])
            checks.positive("fourier_slm pitch", slm["pitch"])
            checks.integer("fourier_slm bits", slm["bits"], 1, 16)
            if slm["mode"] not in MODES:
                return f"fourier_slm mode is {slm['mode']!r}, not one of {MODES}"
    except ValueError as error:             # the checks' ArgumentTypeError too
        return str(error)
    if not isinstance(state["state_dict"], dict):
        return "state_dict is not a dict"
    return None


class Optical4fConv(nn.Module):
    """A convolution layer computed by the 4f correlator ``fourf``, with learnable Fourier masks.

    ``forward(images)`` takes ``(B, in_channels, H, W)`` images (amplitude transmittances, or
    what the input SLM quantises) and returns each output channel's upright full linear
    convolution ``(B, out_channels, H + K − 1, W + K − 1)`` as :meth:`FourF.run` with a
    :meth:`FourF.layout` does (in camera pixels when there is a camera): input channels side
    by side on the input plane, their contributions adding as fields on each output region;
    output channels time-multiplexed (one frame each) or tiled on one Fourier-SLM display
    (``fourf.multiplex``); irradiance (W/m²), digital numbers, their ± difference or the
    complex field according to ``fourf.readout`` and ``fourf.camera``.

    The learnable displays have shape ``(D, [2,] *fourf.mask_shape)``, D = out_channels
    (time) or 1 (tiled), the ± axis for the differential readout. ``mask="phase"`` learns a
    phase φ (transmittance exp(iφ)), ``"amplitude"`` a logit a (transmittance sigmoid(a)),
    ``"complex"`` both; it must suit the Fourier SLM (a phase-only panel takes phases, an
    amplitude or binary one amplitudes, a complex LUT anything).

    With ``hardware`` every element of ``fourf`` acts as in the engine: both SLMs quantise
    through their LUT (straight-through gradients; :meth:`export_gray` gives the Fourier-SLM
    gray levels shown), and the camera adds shot and read noise and rounds in its ADC while
    training, or in ``eval()`` when ``eval_noise`` (noise drawn from ``seed`` or a
    ``generator`` passed to ``forward``). Without, the SLMs show their values unquantised
    (pixel geometry, fill factor and fringing kept) and the camera reports its mean response.
    ``image_shape`` fixes the image size (else each batch is laid out for its own size).
    """

    def __init__(self, fourf: FourF, in_channels: int, out_channels: int, kernel_size,
                 mask: str = "phase", hardware: bool = True, *, image_shape=None,
                 eval_noise: bool = False, shot_noise: str = "poisson", seed: int = 0):
        super().__init__()
        self.fourf = checks.instance("fourf", fourf, FourF)
        self.in_channels = checks.integer("in_channels", in_channels, 1)
        self.out_channels = checks.integer("out_channels", out_channels, 1)
        self.kernel_shape = checks.shape2("kernel_size", kernel_size)
        if self.kernel_shape[0] > fourf.shape[0] or self.kernel_shape[1] > fourf.shape[1]:
            raise ValueError(f"kernel_size {self.kernel_shape} does not fit the {fourf.shape} "
                             "grid of fourf")
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
        if shot_noise not in SHOT_NOISE:
            raise ValueError(f"shot_noise must be one of {SHOT_NOISE}, got {shot_noise!r}")
        self.mask = mask
        self.hardware = bool(hardware)
        self.eval_noise = bool(eval_noise)
        if self.eval_noise and (not self.hardware or fourf.camera is None
                                or fourf.readout == "field"):
            raise ValueError("eval_noise applies to the camera noise of a hardware layer, and "
                             "this one has hardware=False, no camera or readout='field'; leave "
                             "eval_noise False")
        self.seed = checks.integer("seed", seed, 0)
        wavelength = fourf.wavelength
        self.input_panel = (None if fourf.input_slm is None
                            else SLMPanel(fourf.input_slm, wavelength, fourf.shape))
        self.fourier_panel = (None if fourf.fourier_slm is None
                              else SLMPanel(fourf.fourier_slm, wavelength, fourf.fourier_shape))
        self._check_mask_kind()
        self.camera = None
        if fourf.camera is not None and fourf.readout != "field":
            self.camera = CameraResponse(fourf.camera, fourf.shape, fourf.output_pitch,
                                         wavelength, shot_noise)
        displays = 1 if fourf.multiplex == "tiled" else self.out_channels
        shape = ((displays,) + ((2,) if fourf.readout == "differential" else ())
                 + tuple(fourf.mask_shape))
        if mask in ("phase", "complex"):
            self.phase = nn.Parameter(torch.zeros(shape))
        if mask in ("amplitude", "complex"):
            self.amplitude_logit = nn.Parameter(torch.zeros(shape))
        self._layouts, self._plans, self._constants, self._generators = {}, {}, {}, {}
        self.image_shape = None
        if image_shape is not None:
            self.image_shape = self._image_shape("image_shape", image_shape)
            self.layout(self.image_shape)

    def _check_mask_kind(self):
        panel = self.fourier_panel
        if panel is None or panel.complex_levels:
            return
        wanted = "phase" if panel.phase_only else "amplitude"
        if self.mask != wanted:
            raise ValueError(f"mask must be {wanted!r} for fourf's {panel.slm.mode} Fourier SLM "
                             f"(a real LUT displays {wanted}s only), got {self.mask!r}")

    def _image_shape(self, name: str, shape) -> tuple[int, int]:
        shape = checks.shape2(name, shape)
        if shape[0] < self.kernel_shape[0] or shape[1] < self.kernel_shape[1]:
            raise ValueError(f"{name} {shape} is smaller than kernel_size {self.kernel_shape}")
        return shape

    # --- layout -----------------------------------------------------------------------------

    def layout(self, image_shape) -> readout.Layout:
        """:meth:`FourF.layout` for images of ``image_shape``; ``ValueError`` naming ``fourf``
        when its grid, input SLM or Fourier SLM cannot hold the channels."""
        image_shape = self._image_shape("image_shape", image_shape)
        if image_shape in self._layouts:
            return self._layouts[image_shape]
        fourf = self.fourf
        channels = (f"{self.in_channels} input and {self.out_channels} output channels of "
                    f"{image_shape} images and {self.kernel_shape} kernels")
        with warnings.catch_warnings():
            warnings.simplefilter("error", SamplingWarning)
            try:
                layout = fourf.layout(self.in_channels, self.out_channels, image_shape,
                                      self.kernel_shape)
            except SamplingWarning as warning:
                raise ValueError(
                    f"fourf's Fourier SLM cannot hold {channels}: its pixels replicate the "
                    f"output every {fourf.replica_period} samples ({warning})") from None
            except ValueError as error:
                raise ValueError(f"fourf cannot hold {channels}: {error}") from None
        shifts = [abs(so[axis] - si[axis]) for so in layout.output_shifts
                  for si in layout.input_shifts for axis in (0, 1)]
        if fourf.fourier_slm is not None and max(shifts) >= min(fourf.replica_period) / 2:
            raise ValueError(
                f"fourf's Fourier SLM cannot hold {channels}: the layout shifts kernels by up "
                f"to {max(shifts)} samples, but on its pixels a shift d and d ± "
                f"{fourf.replica_period} samples show the same carrier, so shifts must stay "
                "below half that period; use one input channel, fewer tiles or a Fourier SLM "
                "of oversample 1")
        if fourf.input_slm is not None and any(
                g > p for g, p in zip(fourf.shape, fourf.input_slm.shape)):
            raise ValueError(f"fourf's input SLM of {fourf.input_slm.shape} pixels cannot hold "
                             f"the {fourf.shape} input pattern of the channel layout")
        self._layouts[image_shape] = layout
        return layout

    def _plan(self, image_shape, device) -> dict:
        """Index maps that place the input channels and cut the output regions (through the
        engine's own ``Layout.place``, ``invert`` and ``Layout.extract``)."""
        def build():
            layout = self.layout(image_shape)
            fourf = self.fourf
            count = self.in_channels * image_shape[0] * image_shape[1]
            numbers = np.arange(1, count + 1).reshape((1, self.in_channels) + image_shape)
            place = layout.place(numbers, fourf.shape)[0]
            frame_shape = fourf.shape if self.camera is None else fourf.camera.shape
            scale = 1.0 if self.camera is None else fourf.output_pitch[1] / fourf.camera.pitch[1]
            index = invert(np.arange(frame_shape[0] * frame_shape[1]).reshape(frame_shape))
            regions = layout.extract(index if layout.tiled else index[None], fourf.shape, scale)
            return {"place": torch.as_tensor(place.ravel(), device=device),
                    "regions": torch.as_tensor(np.ascontiguousarray(regions).ravel(),
                                               device=device),
                    "region_shape": regions.shape[-2:]}
        return _cached(self._plans, (tuple(image_shape), str(device)), build)

    # --- constants ----------------------------------------------------------------------------

    def _tensors(self, device, dtype) -> dict:
        """Illumination and the lens transforms as tensors: the FFT's transfer factor, or the
        lens transforms at other pitches (matrices or chirp-z factors) and lens-2 pupil when
        the Fourier SLM has its own pitch; the output phase of a defocused Fourier SLM and the
        steps into a rotated camera's axes (none when not). A uniform
        real illumination (flat beam, no lens-1 aperture) is folded into the first factor."""
        def build():
            fourf, cdtype = self.fourf, complex_dtype(dtype)
            illumination = input_illumination(fourf)
            uniform = not np.any(illumination.imag) and np.ptp(illumination.real) == 0
            brightness = illumination.real.flat[0] if uniform else 1.0
            tensors = {"illumination": None if uniform else
                       torch.as_tensor(illumination).to(device, cdtype)}
            phase = output_phase(fourf)                 # back from a defocused Fourier SLM
            tensors["output_phase"] = None if phase is None else \
                torch.as_tensor(phase).to(device, cdtype)
            steps = [] if self.camera is None else fourf.camera.view_steps(fourf.shape,
                                                                           fourf.output_pitch)
            tensors["camera_steps"] = warp_tensors(steps, torch.empty((), dtype=dtype))
            if fourf.fourier_by_fft:
                transfer = fourf_transfer(fourf, fourf.shape) * brightness
                tensors["transfer"] = torch.as_tensor(transfer).to(device, cdtype)
                return tensors
            first, second = fourf_lens_factors(fourf)
            first = (first[0] * brightness,) + first[1:]      # rows, or the input chirp
            tensors["lenses"] = tuple(tuple(torch.tensor(f, device=device, dtype=cdtype)
                                            for f in lens) for lens in (first, second))
            pupil = fourier_factor(fourf)                # lens-2 pupil, camera defocus
            tensors["pupil"] = None if pupil is None else torch.as_tensor(pupil).to(device, cdtype)
            return tensors
        return _cached(self._constants, (str(device), dtype), build)

    def _parameter(self) -> torch.Tensor:
        return self.phase if self.mask != "amplitude" else self.amplitude_logit

    # --- masks --------------------------------------------------------------------------------

    def transmittance(self) -> torch.Tensor:
        """The ideal (unquantised) complex transmittance of each display ``(D, [2,] h, w)``."""
        if self.mask == "phase":
            return torch.exp(1j * self.phase)
        amplitude = torch.sigmoid(self.amplitude_logit)
        if self.mask == "amplitude":
            return amplitude.to(complex_dtype(amplitude.dtype))
        return amplitude * torch.exp(1j * self.phase)

    def display_values(self) -> torch.Tensor:
        """What the Fourier SLM is asked to show ``(D, [2,] h, w)``: phases (rad) for a
        phase-only panel, amplitudes for an amplitude panel, else complex transmittances."""
        panel = self.fourier_panel
        if panel is None or panel.complex_levels:
            return self.transmittance()
        return self.phase if panel.phase_only else torch.sigmoid(self.amplitude_logit)

    def export_gray(self) -> np.ndarray:
        """Fourier-SLM gray levels ``(D, [2,] h, w)`` (uint8 up to 8 bits, else uint16) of the
        displays: what the hardware layer shows, and what ``FourF.run(gray=...)`` and a mask
        export take."""
        if self.fourier_panel is None:
            raise ValueError("export_gray needs fourf to have a fourier_slm")
        slm = self.fourier_panel.slm
        values = self.display_values().detach()
        checks.all_finite("the layer's displays (diverged training?)",
                          bool(torch.isfinite(values).all()))
        gray = self.fourier_panel.gray(values)
        return gray.cpu().numpy().astype(np.uint8 if slm.bits <= 8 else np.uint16)

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the layer's displays to ``path`` (atomically; an existing file is kept,
        ``FileExistsError``, unless ``overwrite``) as ``torch.save`` of a dict that
        :func:`load_state` and ``opticsim export`` read:

        ``format`` (:data:`STATE_FORMAT`), ``mask``, ``readout``, ``multiplex``,
        ``in_channels``, ``out_channels``, ``kernel_shape``, ``wavelength`` (m),
        ``fourier_slm`` (its ``shape``, ``pitch`` (m), ``mode`` and ``bits``, or None),
        ``values`` (:meth:`display_values` in float64 or complex128, ``(D, [2,] h, w)``: phases
        in rad for a phase-only panel) and ``state_dict``. The 4f itself is not stored: to
        resume training, build the layer on the same ``fourf`` and ``load_state_dict``.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        slm = None if self.fourier_panel is None else self.fourier_panel.slm
        values = self.display_values().detach().cpu()
        state = {
            "format": STATE_FORMAT, "mask": self.mask, "readout": self.fourf.readout,
            "multiplex": self.fourf.multiplex, "in_channels": self.in_channels,
            "out_channels": self.out_channels, "kernel_shape": list(self.kernel_shape),
            "wavelength": self.fourf.wavelength,
            "fourier_slm": None if slm is None else {
                "shape": list(slm.shape), "pitch": slm.pitch, "mode": slm.mode,
                "bits": slm.bits},
            "values": values.to(torch.complex128 if values.is_complex() else torch.float64),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(path, buffer.getvalue())
        return path

    def displays(self, values: torch.Tensor | None = None) -> torch.Tensor:
        """Fourier-plane transmittances on the grid ``(D·[2], ny, nx)``, one per frame, of
        ``values`` (what the Fourier SLM is asked to show, as :meth:`display_values` gives
        them; default the layer's own)."""
        if values is None:
            values = self.display_values()
        elif tuple(values.shape) != tuple(self._parameter().shape):
            raise ValueError(f"values must have the displays' shape "
                             f"{tuple(self._parameter().shape)}, got {tuple(values.shape)}")
        values = values.reshape((-1,) + values.shape[-2:])
        if self.fourier_panel is None:
            return values
        return self.fourier_panel(values, quantise=self.hardware)

    @torch.no_grad()
    def set_kernels(self, kernels, image_shape=None) -> float:
        """Set the displays to show ``kernels`` ``(out_channels, in_channels, Ky, Kx)`` (e.g. a
        trained digital layer's) on the layout for ``image_shape`` (default the layer's):
        :func:`~opticsim.torch.masks_from_kernels` divided by its largest modulus ``s`` (a passive SLM
        transmits at most 1), keeping the phase, the amplitude or both as the mask kind allows.
        Returns ``s``: the output field is the convolution divided by ``s``. NaN or infinite
        kernels are a ``ValueError`` (they would turn every parameter into NaN)."""
        image_shape = self.image_shape if image_shape is None else image_shape
        if image_shape is None:
            raise ValueError("image_shape must be given: the layer has no fixed image_shape")
        kernels = torch.as_tensor(kernels).detach().cpu()
        checks.all_finite("kernels", bool(torch.isfinite(kernels).all()))
        kernels = kernels.to(torch.complex128 if kernels.is_complex() else torch.float64)
        masks = masks_from_kernels(self.fourf, kernels, self.layout(image_shape))
        scale = float(masks.abs().max())
        if scale == 0:
            raise ValueError("kernels must not be all zero")
        masks = masks / scale
        parameter = self._parameter()
        if self.mask != "amplitude":
            self.phase.copy_(masks.angle().to(parameter))
        if self.mask != "phase":
            amplitude = masks.abs().clamp(1e-6, 1 - 1e-6)
            self.amplitude_logit.copy_(torch.logit(amplitude).to(parameter))
        return scale

    # --- forward ------------------------------------------------------------------------------

    @property
    def noise(self) -> bool:
        """Whether the camera adds noise now: hardware on, a camera, and training (or
        ``eval_noise``)."""
        return self.hardware and self.camera is not None and (self.training or self.eval_noise)

    def _generator(self, device) -> torch.Generator:
        return _cached(self._generators, str(device), lambda: generator(self.seed, device))

    def _check_images(self, images) -> torch.Tensor:
        if not torch.is_tensor(images) or images.ndim != 4:
            raise ValueError(f"images must be a (B, in_channels, H, W) tensor, got "
                             f"{tuple(getattr(images, 'shape', ()))}")
        if images.is_complex() or not images.is_floating_point():
            raise ValueError(f"images must be real floating point, got {images.dtype}")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"images have {images.shape[1]} channels but in_channels is "
                             f"{self.in_channels}")
        shape = tuple(images.shape[-2:])
        if shape[0] < self.kernel_shape[0] or shape[1] < self.kernel_shape[1]:
            raise ValueError(f"images of {shape} samples are smaller than kernel_size "
                             f"{self.kernel_shape}")
        if self.image_shape is not None and shape != self.image_shape:
            raise ValueError(f"images must be {self.image_shape} (image_shape), got {shape}")
        return images.to(self._parameter().dtype)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None, *,
                values: torch.Tensor | None = None) -> torch.Tensor:
        """Camera frames of ``images`` (see the class); ``values`` shows other displays than
        the layer's parameters (e.g. masks computed by another module, differentiable)."""
        images = self._check_images(images)
        batch, device, real = images.shape[0], images.device, images.dtype
        fourf = self.fourf
        plan = self._plan(tuple(images.shape[-2:]), device)
        if batch == 0:                          # nothing to transform (FFTs refuse it)
            dtype = complex_dtype(real) if fourf.readout == "field" else real
            return images.new_zeros((0, self.out_channels) + tuple(plan["region_shape"]),
                                    dtype=dtype)
        tensors = self._tensors(device, real)
        flat = torch.cat([images.new_zeros(batch, 1), images.flatten(1)], dim=1)
        pattern = flat[:, plan["place"]].reshape((batch,) + fourf.shape)       # channel layout
        if self.input_panel is None:
            source = pattern.to(complex_dtype(real))
        else:
            source = self.input_panel(pattern, quantise=self.hardware)          # input SLM
        if tensors["illumination"] is not None:
            source = source * tensors["illumination"]                           # laser, pupil 1
        if "transfer" in tensors:
            output = fourf_field(source[:, None], self.displays(values), tensors["transfer"],
                                 fourf.shape)                                   # lens, SLM, lens
        else:
            displays = self.displays(values)
            if tensors["pupil"] is not None:
                displays = displays * tensors["pupil"]
            output = fourf_field_at_pitch(source[:, None], displays, tensors["lenses"])
        if tensors["output_phase"] is not None:
            output = output * tensors["output_phase"]
        if fourf.readout == "field":
            frames = output
        else:
            frames = intensity(warp(output, tensors["camera_steps"]))       # camera's axes
            if self.camera is not None:                                         # camera
                noise = self.noise
                stream = (generator or self._generator(device)) if noise else None
                frames = self.camera(frames, noise, stream)
        if fourf.readout == "differential":
            frames = frames[:, 0::2] - frames[:, 1::2]
        regions = frames.flatten(2)[..., plan["regions"]]
        return regions.reshape((batch, self.out_channels) + tuple(plan["region_shape"]))
