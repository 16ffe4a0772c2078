"""Presets for real modulators, cameras and lasers, each with its source and its doubts.

``slm(name, **overrides)``, ``camera(name, **overrides)`` and ``laser(name, **overrides)``
build an :class:`~opticsim.SLM`, :class:`~opticsim.Camera` or :class:`~opticsim.Laser` from a
:class:`Preset` record; any keyword of the constructor overrides the preset's value
(``camera("imx250", exposure=2e-3)``); ``processor(name)`` builds a
:class:`~opticsim.processor.Processor`, the roofline of an electronic processor (a GPU) that
:mod:`kd.cost` models the electronic networks on. ``names()`` lists the presets by kind,
``info(name)`` returns a record: its constructor values, ``source`` (where they come from),
``unverified`` (values from secondary sources), ``assumptions`` (values the table does not
give, each with how it was chosen) and ``electrical_power`` (W, the running device's supply
power, for energy budgets; ``None`` where not known). Names are case-insensitive; spaces
and underscores count as hyphens, and each preset has a few aliases ("pluto"). :meth:`Preset.specs` gives a preset's key specifications as text (``opticsim
presets`` prints them; the documentation's hardware page tabulates them).

Three choices hold for every preset: an LCoS panel's crosstalk (fringing width, pixels) is
taken as its liquid-crystal thickness over its pitch, ``d/p`` with ``d = Γ/Δn`` from the
retardance Γ its phase stroke implies and Δn ≈ 0.2 (a typical nematic LC; Persson et al.,
Opt. Express 20:22334, 2012, show the fringing scales with d/p); panels with a fill factor below
one are sampled at ``oversample=3``, the fewest samples per pixel that resolve the dead frame
(a simulation choice, not a device property); cameras expose for 1 ms unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from . import checks
from .camera import Camera
from .laser import Laser
from .processor import Processor
from .slm import SLM

KINDS = {"slm": SLM, "camera": Camera, "laser": Laser, "processor": Processor}
KIND_NAMES = {"slm": "an SLM", "camera": "a camera", "laser": "a laser",
              "processor": "a processor"}
LC_BIREFRINGENCE = 0.2                  # Δn of a typical nematic liquid crystal (assumed)
VISIBLE_RETARDANCE = 700e-9             # m, Γ of a panel that reaches 2π across the visible
SIMULATION_OVERSAMPLE = 3               # samples per pixel that resolve a dead frame
CAMERA_EXPOSURE = 1e-3                  # s, a setting rather than a device property


@dataclass(frozen=True)
class PhaseStroke:
    """Phase stroke ``δ(λ) = 2π·Γ(λ)/λ`` (rad) of a liquid-crystal panel measured as
    ``strokes`` (rad) at ``wavelengths`` (m).

    The retardance ``Γ = d·Δn = δλ/(2π)`` is interpolated linearly in 1/λ between the measured
    wavelengths (their difference is the dispersion of Δn) and held at the nearest measured
    value outside them, where the dispersion of Δn is neglected and δ ∝ 1/λ.
    """

    wavelengths: tuple[float, ...]
    strokes: tuple[float, ...]

    def __post_init__(self):
        wavelengths = tuple(checks.positive("wavelengths", w) for w in self.wavelengths)
        strokes = tuple(checks.positive("strokes", s) for s in self.strokes)
        if not wavelengths or len(wavelengths) != len(strokes):
            raise ValueError(f"wavelengths and strokes must be equally long and non-empty, got "
                             f"{len(wavelengths)} and {len(strokes)} values")
        object.__setattr__(self, "wavelengths", wavelengths)
        object.__setattr__(self, "strokes", strokes)

    @property
    def retardances(self) -> tuple[float, ...]:
        """Measured retardances ``Γ = δλ/(2π)`` (m)."""
        return tuple(s * w / (2 * math.pi) for s, w in zip(self.strokes, self.wavelengths))

    def __call__(self, wavelength: float) -> float:
        wavelength = checks.positive("wavelength", wavelength)
        inverse = 1.0 / np.asarray(self.wavelengths)
        order = np.argsort(inverse)
        retardance = np.interp(1.0 / wavelength, inverse[order],
                               np.asarray(self.retardances)[order])
        return float(2 * math.pi * retardance / wavelength)


def fringing_width(retardance: float, pitch: float,
                   birefringence: float = LC_BIREFRINGENCE) -> float:
    """Fringing width in pixels, the LC thickness over the pitch: ``Γ/(Δn·p)``."""
    return retardance / (birefringence * pitch)


@dataclass(frozen=True, eq=False)
class Preset:
    """A named device: the keyword values of its ``kind``'s constructor and their provenance.

    ``source`` cites where the values come from; ``unverified`` names the values taken from
    secondary sources; ``assumptions`` maps each value the source does not give to how it was
    chosen; ``aliases`` are other names it is found under. ``electrical_power`` (W) is the
    running device's supply power — a laser's wall-plug power, an SLM's panel and driver, a
    camera head — which no constructor takes (the energy model of :mod:`kd.cost` reads it);
    ``unverified`` and ``assumptions`` may name it too.
    """

    name: str
    kind: str
    description: str
    values: Mapping[str, object]
    source: str
    unverified: tuple[str, ...] = ()
    assumptions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    electrical_power: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {tuple(KINDS)}, got {self.kind!r}")
        if not self.source:
            raise ValueError(f"preset {self.name!r} must cite a source")
        fields = _fields(self.kind)
        named = set(self.values) | (set(self.unverified) | set(self.assumptions)) - {
            "electrical_power"}
        if not named <= fields:
            raise ValueError(f"preset {self.name!r} names {sorted(named - fields)}, which are "
                             f"not {KINDS[self.kind].__name__} fields {sorted(fields)}")
        if self.electrical_power is not None:
            object.__setattr__(self, "electrical_power",
                               checks.positive("electrical_power", self.electrical_power))
        object.__setattr__(self, "values", types.MappingProxyType(dict(self.values)))
        object.__setattr__(self, "assumptions", types.MappingProxyType(dict(self.assumptions)))

    def __reduce__(self):           # a mappingproxy does not pickle; the constructor makes one
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        fields.update(values=dict(self.values), assumptions=dict(self.assumptions))
        return functools.partial(Preset, **fields), ()

    def specs(self) -> dict[str, str]:
        """The key specifications as ``{name: text with unit}``, a value marked ``*`` when
        ``unverified`` names it: for an SLM its pixels, pitch, mode, bits, fill factor and
        frame rate; for a camera its pixels, pitch, QE, read noise, full well, ADC bits and
        frame rate; for a laser its wavelength and power; for a processor its peak FLOP/s,
        memory bandwidth, ridge point and board power."""
        device, values = self.build(), self.values

        def mark(name: str, text: str) -> str:
            return text + ("*" if name in self.unverified else "")

        def rate(value) -> str:
            return "—" if value is None else mark("frame_rate", f"{value:,.0f} Hz")

        if self.kind == "processor":
            power = "—" if self.electrical_power is None else f"{self.electrical_power:g} W"
            return {"peak": mark("peak_flops", f"{device.peak_flops / 1e12:.3g} TFLOP/s "
                                 f"{device.precision}"),
                    "bandwidth": mark("bandwidth", f"{device.bandwidth / 1e9:,.0f} GB/s"),
                    "ridge": f"{device.ridge:.3g} FLOP/B",
                    "power": power}
        if self.kind == "laser":
            return {"wavelength": mark("wavelength", f"{device.wavelength * 1e9:g} nm"),
                    "power": mark("power", f"{device.power * 1e3:g} mW")}
        pitch = device.pitch[0] if self.kind == "camera" else device.pitch      # square pixels
        common = {"pixels": mark("shape", f"{device.shape[1]}×{device.shape[0]}"),
                  "pitch": mark("pitch", f"{pitch * 1e6:g} µm")}
        if self.kind == "camera":
            return {**common, "QE": mark("qe", f"{device.qe:.2g}"),
                    "read noise": mark("read_noise", f"{device.read_noise:.2g} e⁻"),
                    "full well": mark("full_well", f"{device.full_well:,.0f} e⁻"),
                    "ADC": mark("bits", f"{device.bits} bit"),
                    "frame rate": rate(values.get("frame_rate"))}
        return {**common, "mode": device.mode,
                "bits": mark("bits", "1" if device.mode == "binary" else str(device.bits)),
                "fill factor": mark("fill_factor", f"{device.fill_factor:.3g}"),
                "frame rate": rate(values.get("frame_rate"))}

    def build(self, **overrides):
        """The device with ``overrides`` replacing any of the preset's values."""
        unknown = set(overrides) - _fields(self.kind)
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not {KINDS[self.kind].__name__} fields; "
                             f"allowed: {sorted(_fields(self.kind))}")
        return KINDS[self.kind](**{**self.values, **overrides})


def _fields(kind: str) -> set[str]:
    return {field.name for field in dataclasses.fields(KINDS[kind])}


def _key(name) -> str:
    if not isinstance(name, str):
        raise ValueError(f"preset name must be a string, got {name!r}")
    return "-".join(name.strip().lower().replace("_", " ").split())


# --- the devices --------------------------------------------------------------------------

PLUTO_STROKE = PhaseStroke(wavelengths=(530e-9, 633e-9), strokes=(6.9 * math.pi, 5.2 * math.pi))
_LC_CROSSTALK = ("fringing width = LC thickness/pitch, thickness Γ/Δn from the retardance "
                 "Γ = {gamma:.2f} µm{why} and Δn ≈ 0.2 (typical nematic LC)")
_TWO_PI = ("2π at the working wavelength: the vendor calibrates the LUT per wavelength "
           "(a measured lut overrides it)")
_OVERSAMPLE = "simulation choice: 3 samples per pixel, the fewest that resolve the dead frame"
_DMD_FILL = "about 92% mirror area, typical of TI DMDs (not in the source)"
_DMD_CROSSTALK = "0: mirrors tilt independently, no fringing field"
_POWER = "not in the source; {} assumed: {}; unverified"
_DMD_POWER = _POWER.format("15 W", "DMD board and controller, typical of a TI DLP evaluation kit")
_FP32 = ("fp32 peak of the CUDA cores: torch's default data type; cuDNN may run convolutions "
         "in TF32 on tensor cores, about 8× this peak on A100 and H100 (not modelled)")
_TDP = "the datasheet's maximum board power (TDP) while it runs the models; unverified"
_DMD_GREY = ("binary patterns only: a DMD's grey levels are bit planes shown in turn, whose "
             "square-law images a coherent 4f camera frame sums, not their fields")


def _lc_crosstalk(pitch: float, retardance: float, why: str) -> tuple[float, str]:
    width = fringing_width(retardance, pitch)
    return round(width, 2), _LC_CROSSTALK.format(gamma=retardance * 1e6, why=why)


_PLUTO_XT = _lc_crosstalk(8.0e-6, max(PLUTO_STROKE.retardances), " of the 6.9π stroke at 530 nm")
_VIS_2PI = " (2π up to 700 nm, assumed)"
_GAEA_XT = _lc_crosstalk(3.74e-6, VISIBLE_RETARDANCE, _VIS_2PI)
_MEADOWLARK_XT = _lc_crosstalk(9.2e-6, VISIBLE_RETARDANCE, _VIS_2PI)
_SANTEC_XT = _lc_crosstalk(8.0e-6, VISIBLE_RETARDANCE, _VIS_2PI)
_HAMAMATSU_XT = _lc_crosstalk(12.5e-6, VISIBLE_RETARDANCE, _VIS_2PI)

PRESETS = (
    Preset(
        "pluto-2.1", "slm", "Holoeye PLUTO-2.1 LCoS phase-only SLM, VIS-016 panel",
        {"shape": (1080, 1920), "pitch": 8.0e-6, "mode": "phase", "bits": 8,
         "fill_factor": 0.93, "phase_range": PLUTO_STROKE, "crosstalk": _PLUTO_XT[0],
         "oversample": SIMULATION_OVERSAMPLE, "frame_rate": 60.0},
        source="holoeye.com product page (PLUTO-2.1, VIS-016 panel)",
        unverified=("fill_factor", "frame_rate"),
        assumptions={"electrical_power": _POWER.format(
                         "5 W", "panel and driver unit, typical of an HDMI-fed LCoS SLM"),
                     "phase_range": "6.9π at 530 nm and 5.2π at 633 nm (source), "
                                    "interpolated in 1/λ; outside 530–633 nm the dispersion of "
                                    "Δn is neglected (δ ∝ 1/λ)",
                     "crosstalk": _PLUTO_XT[1], "oversample": _OVERSAMPLE},
        electrical_power=5.0,
        aliases=("holoeye-pluto-2.1", "pluto", "pluto-2", "pluto2.1")),
    Preset(
        "gaea-2", "slm", "Holoeye GAEA-2 4K LCoS phase-only SLM",
        {"shape": (2160, 3840), "pitch": 3.74e-6, "mode": "phase", "bits": 8,
         "fill_factor": 0.90, "phase_range": 2 * math.pi, "crosstalk": _GAEA_XT[0],
         "oversample": SIMULATION_OVERSAMPLE, "frame_rate": 60.0},
        source="holoeye.com (GAEA-2); some listings give 4160×2464 pixels",
        unverified=("fill_factor", "frame_rate"),
        assumptions={"phase_range": _TWO_PI, "crosstalk": _GAEA_XT[1],
                     "frame_rate": "upper end of the 30–60 Hz listed",
                     "oversample": _OVERSAMPLE},
        aliases=("holoeye-gaea-2", "gaea", "gaea2")),
    Preset(
        "meadowlark-1920x1152", "slm", "Meadowlark 1920×1152 LCoS phase-only SLM",
        {"shape": (1152, 1920), "pitch": 9.2e-6, "mode": "phase", "bits": 8,
         "fill_factor": 0.956, "phase_range": 2 * math.pi, "crosstalk": _MEADOWLARK_XT[0],
         "oversample": SIMULATION_OVERSAMPLE, "frame_rate": 500.0},
        source="meadowlark.com (1920×1152 SLM)",
        unverified=("pitch", "fill_factor", "bits", "frame_rate"),
        assumptions={"electrical_power": _POWER.format(
                         "10 W", "panel and driver, typical of an LCoS SLM"),
                     "bits": "8-bit images (8–12 bits listed)",
                     "phase_range": "≥2π over the visible (source); " + _TWO_PI,
                     "crosstalk": _MEADOWLARK_XT[1],
                     "frame_rate": "the ~500 Hz upper limit listed",
                     "oversample": _OVERSAMPLE},
        electrical_power=10.0,
        aliases=("meadowlark", "meadowlark-1920-1152")),
    Preset(
        "santec-slm-200", "slm", "Santec SLM-200 LCoS phase-only SLM",
        {"shape": (1200, 1920), "pitch": 8.0e-6, "mode": "phase", "bits": 10,
         "fill_factor": 1.0, "phase_range": 2 * math.pi, "crosstalk": _SANTEC_XT[0]},
        source="slmsuite santec.py (github.com/slmsuite/slmsuite)",
        unverified=("shape",),
        assumptions={"fill_factor": "not listed; 1 (no dead frame modelled)",
                     "phase_range": "set to 2π per wavelength table (source); " + _TWO_PI,
                     "crosstalk": _SANTEC_XT[1], "frame_rate": "not listed; None"},
        aliases=("santec", "slm-200", "santec-slm200")),
    Preset(
        "hamamatsu-x15213", "slm", "Hamamatsu X15213 LCOS-SLM (phase-only)",
        {"shape": (1024, 1272), "pitch": 12.5e-6, "mode": "phase", "bits": 8,
         "fill_factor": 0.96, "phase_range": 2 * math.pi, "crosstalk": _HAMAMATSU_XT[0],
         "oversample": SIMULATION_OVERSAMPLE},
        source="slmsuite hamamatsu.py (github.com/slmsuite/slmsuite)",
        unverified=("fill_factor",),
        assumptions={"phase_range": _TWO_PI, "crosstalk": _HAMAMATSU_XT[1],
                     "frame_rate": "not listed; None", "oversample": _OVERSAMPLE},
        aliases=("x15213", "hamamatsu-lcos-x15213")),
    Preset(
        "dlp9000", "slm", "TI DLP9000 DMD with DLPC900 controller, binary patterns",
        {"shape": (1600, 2560), "pitch": 7.56e-6, "mode": "binary", "fill_factor": 0.92,
         "crosstalk": 0.0, "oversample": SIMULATION_OVERSAMPLE, "frame_rate": 1 / 105e-6},
        source="TI E2E forum (DLP9000 + DLPC900: ~9.5 kHz binary, 105 µs minimum exposure)",
        unverified=("pitch",),
        assumptions={"electrical_power": _DMD_POWER, "mode": _DMD_GREY,
                     "fill_factor": _DMD_FILL, "crosstalk": _DMD_CROSSTALK,
                     "frame_rate": "1/(105 µs minimum exposure)", "oversample": _OVERSAMPLE},
        electrical_power=15.0,
        aliases=("ti-dlp9000", "dlp9000-dlpc900")),
    Preset(
        "dlp9000x", "slm", "TI DLP9000X DMD with DLPC910 controller, binary patterns",
        {"shape": (1600, 2560), "pitch": 7.56e-6, "mode": "binary", "fill_factor": 0.92,
         "crosstalk": 0.0, "oversample": SIMULATION_OVERSAMPLE, "frame_rate": 15e3},
        source="TI E2E forum (DLP9000X + DLPC910)",
        unverified=("frame_rate",),
        assumptions={"electrical_power": _DMD_POWER, "mode": _DMD_GREY,
                     "fill_factor": _DMD_FILL, "crosstalk": _DMD_CROSSTALK,
                     "oversample": _OVERSAMPLE},
        electrical_power=15.0,
        aliases=("ti-dlp9000x", "dlp9000x-dlpc910")),
    Preset(
        "dlp7000", "slm", "TI DLP7000 DMD, binary patterns",
        {"shape": (768, 1024), "pitch": 13.68e-6, "mode": "binary", "fill_factor": 0.92,
         "crosstalk": 0.0, "oversample": SIMULATION_OVERSAMPLE, "frame_rate": 32552.0},
        source="TI E2E forum (DLP7000: 32,552 Hz binary)",
        unverified=("pitch",),
        assumptions={"electrical_power": _DMD_POWER, "mode": _DMD_GREY,
                     "fill_factor": _DMD_FILL, "crosstalk": _DMD_CROSSTALK,
                     "oversample": _OVERSAMPLE},
        electrical_power=15.0,
        aliases=("ti-dlp7000",)),
    Preset(
        "imx250", "camera", "Sony IMX250 CMOS sensor (e.g. Teledyne Genie Nano M2450), 12-bit",
        {"shape": (2056, 2464), "pitch": 3.45e-6, "exposure": CAMERA_EXPOSURE, "qe": 0.68,
         "gain": 4095 / 10_700, "read_noise": 2.3, "dark_current": 5.0, "full_well": 10_700.0,
         "bits": 12, "frame_rate": 80.0},
        source="EMVA 1288 datasheet (Genie Nano M2450): full well 10.7 ke⁻, 12-bit, "
               "SNRmax 40.3 dB, DNR 71.2 dB",
        unverified=("qe", "read_noise", "frame_rate"),
        assumptions={"electrical_power": _POWER.format(
                         "3.5 W", "a GigE machine-vision camera head draws 3–4 W"),
                     "qe": "0.68 within the ~65–70% listed at ~530 nm",
                     "gain": "the 12-bit ADC spans the full well: K = 4095/10 700 DN/e⁻ "
                             "(with read noise 2.3 e⁻ this gives DNR ≈ 71.1 dB, as measured)",
                     "dark_current": "5 e⁻/s, a plausible room-temperature CMOS value",
                     "frame_rate": "upper end of the 57–80 fps listed",
                     "exposure": "1 ms, a setting"},
        electrical_power=3.5,
        aliases=("sony-imx250", "genie-nano-m2450", "m2450")),
    Preset(
        "orca-flash4.0-v2", "camera", "Hamamatsu ORCA-Flash4.0 v2 sCMOS camera, 16-bit",
        {"shape": (2048, 2048), "pitch": 6.5e-6, "exposure": CAMERA_EXPOSURE, "qe": 0.82,
         "gain": 65535 / 30_000, "read_noise": 1.6, "dark_current": 0.06,
         "full_well": 30_000.0, "bits": 16, "offset": 100.0, "frame_rate": 100.0},
        source="Hamamatsu vendor page / UCSF Nikon Imaging Center camera table",
        unverified=("read_noise", "full_well", "bits", "frame_rate"),
        assumptions={"electrical_power": _POWER.format(
                         "40 W", "a Peltier-cooled sCMOS head with its supply"),
                     "read_noise": "1.6 e⁻ RMS, the upper end of the 0.8–1.6 e⁻ listed",
                     "gain": "the 16-bit ADC spans the full well: K = 65535/30 000 DN/e⁻",
                     "dark_current": "0.06 e⁻/s, a typical cooled-sCMOS value",
                     "offset": "100 DN black level, so the dark noise is not clipped",
                     "exposure": "1 ms, a setting"},
        electrical_power=40.0,
        aliases=("orca", "orca-flash4", "orca-flash4.0", "hamamatsu-orca-flash4.0-v2")),
    Preset(
        "pco-edge-4.2-lt", "camera", "pco.edge 4.2 LT sCMOS camera, 16-bit",
        {"shape": (2048, 2048), "pitch": 6.5e-6, "exposure": CAMERA_EXPOSURE, "qe": 0.82,
         "gain": 65535 / 30_000, "read_noise": 0.8, "dark_current": 0.5,
         "full_well": 30_000.0, "bits": 16, "offset": 100.0, "frame_rate": 40.0},
        source="pco vendor listing (pco.edge 4.2 LT)",
        assumptions={"qe": "the 'up to 82%' peak listed, used at ~530 nm",
                     "full_well": "not listed; 30 ke⁻ as for other 6.5 µm sCMOS sensors",
                     "gain": "the 16-bit ADC spans the assumed full well: K = 65535/30 000",
                     "dark_current": "0.5 e⁻/s, a plausible air-cooled sCMOS value",
                     "offset": "100 DN black level, so the dark noise is not clipped",
                     "exposure": "1 ms, a setting"},
        aliases=("pco.edge-4.2-lt", "pco-edge", "pco.edge", "pco-edge-4.2")),
    Preset(
        "phantom-v2640", "camera", "Vision Research Phantom v2640 high-speed CMOS camera, 12-bit",
        {"shape": (1952, 2048), "pitch": 13.5e-6, "exposure": 100e-6, "qe": 0.6,
         "gain": 4095 / 30_000, "read_noise": 7.0, "dark_current": 50.0,
         "full_well": 30_000.0, "bits": 12, "frame_rate": 6600.0},
        source="Vision Research (AMETEK) Phantom v2640 product listing, phantomhighspeed.com: "
               "2048×1952 pixels of 13.5 µm, 12-bit, 6,600 fps at full frame and 11,750 fps at "
               "1920×1080 (as reported by elektormagazine.fr, 2017)",
        unverified=("pitch", "frame_rate"),
        assumptions={"electrical_power": _POWER.format(
                         "250 W", "a high-speed camera body with its frame memory and fans"),
                     "qe": "not in the source; 0.6, typical of a front-illuminated "
                           "high-speed CMOS sensor at ~530 nm",
                     "gain": "the 12-bit ADC spans the assumed full well",
                     "read_noise": "not in the source; 7 e⁻, typical of high-speed CMOS",
                     "dark_current": "not in the source; 50 e⁻/s",
                     "full_well": "not in the source; 30 ke⁻ for its 13.5 µm pixels",
                     "exposure": "100 µs, a setting within the 152 µs full-frame period"},
        electrical_power=250.0,
        aliases=("phantom", "v2640")),
    Preset(
        "emva1288-sim", "camera", "Defaults of the emva1288 package's camera simulator",
        {"shape": (480, 640), "pitch": 5e-6, "exposure": 1e-3, "qe": 0.655, "gain": 0.1,
         "read_noise": math.sqrt(10.0), "dark_current": 15.0, "full_well": 15_000.0,
         "bits": 8, "offset": 1.0},
        source="emva1288 camera simulator defaults (github.com/EMVA1288/emva1288, "
               "emva1288/camera/camera.py): K = 0.1 DN/e⁻, σ²_d0 = 10 e⁻², 15 000 e⁻, 8-bit, "
               "640×480 pixels of 25 µm², 1 ms, dark current 30 e⁻/s at 30 °C doubling every "
               "8 °C",
        assumptions={"qe": "the simulator's Gaussian QE model at its 525 nm default",
                     "dark_current": "30 e⁻/s at 30 °C, halved for its 22 °C default",
                     "offset": "its 10 e⁻ electronic dark signal × K = 1 DN"},
        aliases=("emva1288", "emva")),
    Preset(
        "a100-sxm4-80gb", "processor", "NVIDIA A100 SXM4 80 GB GPU, FP32 on CUDA cores",
        {"peak_flops": 19.5e12, "bandwidth": 2039e9, "precision": "fp32"},
        source="NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/content/dam/en-zz/Solutions/"
               "Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf): FP32 "
               "19.5 TFLOPS, 2,039 GB/s HBM2e, max TDP 400 W; read here through its citation "
               "in glennklockwood.com/garden/processors/A100",
        unverified=("peak_flops", "bandwidth"),
        assumptions={"precision": _FP32, "electrical_power": _TDP},
        electrical_power=400.0,
        aliases=("a100",)),
    Preset(
        "h100-sxm5-80gb", "processor", "NVIDIA H100 SXM5 80 GB GPU, FP32 on CUDA cores",
        {"peak_flops": 67e12, "bandwidth": 3.35e12, "precision": "fp32"},
        source="NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100): "
               "SXM FP32 67 TFLOPS, 3.35 TB/s HBM3, max TDP up to 700 W; read here through "
               "glennklockwood.com/garden/processors/h100 (FP32 66.9 TFLOPS, 3.35 TB/s, 700 W)",
        unverified=("peak_flops", "bandwidth"),
        assumptions={"precision": _FP32, "electrical_power": _TDP},
        electrical_power=700.0,
        aliases=("h100",)),
    Preset(
        "rtx-4090", "processor", "NVIDIA GeForce RTX 4090 consumer GPU, FP32",
        {"peak_flops": 82.6e12, "bandwidth": 1008e9, "precision": "fp32"},
        source="NVIDIA Ada Lovelace GPU architecture whitepaper v1.0, appendix table "
               "(GeForce RTX 4090: 82.6 TFLOPS FP32 at boost clock, 1,008 GB/s GDDR6X, 450 W "
               "total graphics power); read here through NVIDIA's launch figures as reported "
               "by the press (82.6 TFLOPS FP32, 1,008 GB/s, 450 W)",
        unverified=("peak_flops", "bandwidth"),
        assumptions={"precision": _FP32, "electrical_power": "the 450 W total graphics power"},
        electrical_power=450.0,
        aliases=("4090", "geforce-rtx-4090")),
    Preset(
        "jetson-agx-orin-64gb", "processor",
        "NVIDIA Jetson AGX Orin 64 GB embedded module, GPU FP32, MAXN mode",
        {"peak_flops": 2048 * 2 * 1.3e9, "bandwidth": 204.8e9, "precision": "fp32"},
        source="NVIDIA Jetson AGX Orin Series data sheet (DS-10662-001): 2048-core Ampere GPU "
               "at up to 1.3 GHz, 204.8 GB/s LPDDR5, module power 15–60 W; the GPU's 2048 CUDA "
               "cores and 5.3 FP32 TFLOPS as in the Jetson AGX Orin Series Technical Brief",
        unverified=("bandwidth",),
        assumptions={"peak_flops": "2048 CUDA cores × 2 FLOP (a fused multiply-add) × 1.3 GHz "
                                   "= 5.3 TFLOP/s; the data sheet quotes tensor-core TOPS",
                     "precision": _FP32,
                     "electrical_power": "60 W, the module's maximum power mode"},
        electrical_power=60.0,
        aliases=("jetson", "agx-orin", "jetson-agx-orin")),
    Preset(
        "dpss-532", "laser", "532 nm frequency-doubled DPSS laser, expanded flat beam",
        {"wavelength": 532e-9, "power": 10e-3},
        source="532 nm lasers of published 4f correlators (Chang et al. 2018, Sci. Rep. "
               "8:12324)",
        assumptions={"electrical_power": _POWER.format(
                         "1 W", "a 10 mW DPSS module and driver at ~1% wall-plug efficiency"),
                     "power": "10 mW, a typical laboratory DPSS module"},
        electrical_power=1.0,
        aliases=("532", "532nm", "532-nm", "dpss")),
    Preset(
        "hene-633", "laser", "632.8 nm helium-neon laser, expanded flat beam",
        {"wavelength": 632.8e-9, "power": 5e-3},
        source="633 nm lasers of published 4f correlators",
        assumptions={"electrical_power": _POWER.format(
                         "5 W", "a 5 mW HeNe tube and supply are about 0.1% efficient"),
                     "wavelength": "the HeNe line, 632.8 nm, for the 633 nm listed",
                     "power": "5 mW, a typical laboratory HeNe"},
        electrical_power=5.0,
        aliases=("633", "633nm", "633-nm", "hene", "he-ne")),
)


# --- lookup ---------------------------------------------------------------------------------

def _index() -> dict[str, Preset]:
    index = {}
    for preset in PRESETS:
        for key in (preset.name,) + preset.aliases:
            if _key(key) in index:
                raise ValueError(f"preset name {key!r} is used twice")
            index[_key(key)] = preset
    return index


def names(kind: str | None = None):
    """Preset names: ``{kind: (name, ...)}`` for every kind, or the tuple of one ``kind``
    (``"slm"``, ``"camera"`` or ``"laser"``)."""
    listing = {k: tuple(p.name for p in PRESETS if p.kind == k) for k in KINDS}
    if kind is None:
        return listing
    if kind not in listing:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
    return listing[kind]


def info(name: str) -> Preset:
    """The :class:`Preset` record of ``name`` (case-insensitive, aliases allowed)."""
    preset = _index().get(_key(name))
    if preset is None:
        known = "; ".join(f"{kind}: {', '.join(listed)}" for kind, listed in names().items())
        raise ValueError(f"unknown preset {name!r}; known presets are {known}")
    return preset


def _build(kind: str, name: str, overrides: dict):
    preset = info(name)
    if preset.kind != kind:
        raise ValueError(f"{name!r} is {KIND_NAMES[preset.kind]} preset, not "
                         f"{KIND_NAMES[kind]}; {kind} presets are {', '.join(names(kind))}")
    return preset.build(**overrides)


def slm(name: str, **overrides) -> SLM:
    """An :class:`~opticsim.SLM` (LCoS or DMD) from preset ``name``; keywords override."""
    return _build("slm", name, overrides)


def camera(name: str, **overrides) -> Camera:
    """A :class:`~opticsim.Camera` from preset ``name``; keywords override (e.g. exposure)."""
    return _build("camera", name, overrides)


def laser(name: str, **overrides) -> Laser:
    """A :class:`~opticsim.Laser` from preset ``name``; keywords override (e.g. power)."""
    return _build("laser", name, overrides)


def processor(name: str, **overrides) -> Processor:
    """A :class:`~opticsim.processor.Processor` roofline from preset ``name``; keywords
    override (e.g. ``peak_flops``)."""
    return _build("processor", name, overrides)
