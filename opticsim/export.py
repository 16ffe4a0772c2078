"""Masks for real SLMs: the gray levels a panel displays, written as an image with a JSON sidecar.

:func:`save_mask` places a mask on the panel at its native resolution, adds an optional
blazed-grating carrier, quantises through the SLM's LUT (:meth:`SLM.to_gray`) and writes the
gray levels by the file's suffix:

- ``.png``: 8-bit grayscale for panels of up to 8 bits, 16-bit grayscale for 9–16 bits;
- ``.bmp``: 8-bit grayscale only (a panel of more bits is a ``ValueError``);
- ``.tif``/``.tiff``: uint8 or uint16, as PNG;
- ``.npy``/``.npz``: the gray levels and the unquantised mask (see :func:`save_mask`).

Gray levels of 9–15-bit panels are stored *unshifted* in 16-bit containers (a 10-bit level
1023 is the pixel value 1023, not 65 472); the sidecar's ``bits`` says how many are used.
Beside ``mask.png`` the sidecar ``mask.png.json`` holds what reproduces the file: the SLM's
fields (and preset name), the wavelength, the sha256 of its LUT (of the complex128
transmittance of every gray level), bits, offset, fill level, carrier, package version, the
mask's shape and sha256, the sha256 of the gray levels written (:func:`digest`), and the
sha256 of the sidecar's own entries (``sidecar_sha256``). :func:`load_mask` reads a file back
and refuses one that its sidecar does not describe, or a sidecar that was edited.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np

from . import __version__, checks, presets
from .files import check_targets, error_summary, write_files
from .grid import place_centred
from .slm import SLM

FORMAT = "opticsim-slm-mask/1"
SUFFIXES = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".npy": "NPY",
            ".npz": "NPZ"}
MAX_BITS = {"PNG": 16, "BMP": 8, "TIFF": 16, "NPY": 16, "NPZ": 16}
MIN_CARRIER_PERIOD = 2.0        # pixels: a shorter period aliases on the pixel grid


def sidecar_path(path) -> Path:
    """The JSON sidecar of ``path``: the same name with ``.json`` appended."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def digest(array: np.ndarray) -> str:
    """sha256 (hex) of ``array``'s samples in C order, little-endian, as in the sidecar."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(array.astype(array.dtype.newbyteorder("<")).tobytes()).hexdigest()


def carrier_phase(shape, periods, offset=(0, 0)) -> np.ndarray:
    """Blazed-grating phase (rad) ``2π·(col/P_x + row/P_y)`` over a ``shape`` ``(h, w)`` window
    whose first pixel is panel pixel ``offset`` ``(row, col)``; ``periods`` ``(P_x, P_y)`` in
    pixels (signed: the sign sets the direction; ``inf``: no tilt along that axis). On a panel of
    pitch p it deflects light by ``sin θ = λ/(P·p)``: in the back focal plane of a lens of focal
    length f to ``x = λf/(P_x·p)``, ``y = λf/(P_y·p)`` (the lens transform's sign convention)."""
    rows = np.arange(offset[0], offset[0] + shape[0], dtype=np.float64)[:, None]
    cols = np.arange(offset[1], offset[1] + shape[1], dtype=np.float64)[None, :]
    return 2 * np.pi * (cols / periods[0] + rows / periods[1])


def _carrier(carrier) -> tuple[float, float] | None:
    if carrier is None:
        return None
    values = np.atleast_1d(np.asarray(carrier, dtype=object))
    message = (f"carrier must be (period_x, period_y) in pixels, each a number with |P| >= "
               f"{MIN_CARRIER_PERIOD:g} (inf: no tilt on that axis), got {carrier!r}")
    if values.ndim != 1 or values.size != 2:
        raise ValueError(message)
    try:
        periods = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if any(math.isnan(p) or abs(p) < MIN_CARRIER_PERIOD for p in periods) \
            or all(math.isinf(p) for p in periods):
        raise ValueError(message)
    return periods


def _container(path: Path, bits: int) -> tuple[str, type]:
    """Format name and pixel dtype of ``path`` for gray levels of ``bits``."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: the suffix must be one of {', '.join(SUFFIXES)} "
                         f"(it chooses the format), got {path.suffix!r}")
    if bits > MAX_BITS[kind]:
        raise ValueError(f"{path}: {kind} holds gray levels of at most {MAX_BITS[kind]} bits, "
                         f"but the SLM has bits={bits}; use .png or .tif")
    return kind, (np.uint8 if bits <= 8 else np.uint16)


def _slm_record(slm: SLM, preset: str | None, wavelength) -> dict:
    stroke = None
    if slm.mode == "phase" and slm.lut is None:
        stroke = slm.phase_stroke(wavelength)
    return {"preset": preset, "shape": list(slm.shape), "pitch": slm.pitch, "mode": slm.mode,
            "bits": slm.bits, "fill_factor": slm.fill_factor, "crosstalk": slm.crosstalk,
            "oversample": slm.oversample, "frame_rate": slm.frame_rate,
            "lut": "linear" if slm.lut is None else "measured", "phase_stroke": stroke}


def _encoded(kind: str, gray: np.ndarray, values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    if kind in ("PNG", "BMP"):
        from PIL import Image

        Image.fromarray(gray).save(buffer, format=kind)
    elif kind == "TIFF":
        import tifffile

        tifffile.imwrite(buffer, gray)
    elif kind == "NPZ":
        np.savez_compressed(buffer, gray=gray, mask=values)
    else:
        record = np.zeros((), [("gray", gray.dtype, gray.shape),
                               ("mask", values.dtype, values.shape)])
        record["gray"], record["mask"] = gray, values
        np.save(buffer, record, allow_pickle=False)
    return buffer.getvalue()


def save_mask(path, mask, slm, *, wavelength=None, overwrite: bool = False, carrier=None,
              offset=None, fill: int = 0, source: dict | None = None) -> Path:
    """Write the gray levels ``slm`` displays for ``mask`` to ``path`` and its JSON sidecar
    ``path + ".json"``; returns ``path``.

    ``slm``: an :class:`~opticsim.SLM` or a preset name (:func:`opticsim.presets.slm`, the
    whole panel). The file holds the whole panel, ``slm.shape`` ``(H, W)`` pixels: ``mask``
    ``(h, w)`` at ``offset`` ``(row, col)`` (default centred, ((H − h)//2, (W − w)//2)), every
    other pixel at gray level ``fill``. ``mask`` is what :meth:`SLM.to_gray` takes: phases
    (rad) for a phase panel, amplitudes in [0, 1] for an amplitude or binary panel, or complex
    transmittances (the nearest level in the complex plane); ``wavelength`` (m) picks the LUT
    of a panel whose phase stroke depends on it. ``carrier`` ``(P_x, P_y)`` (pixels, phase
    panels only) adds the blazed grating :func:`carrier_phase` to the mask's phase before
    quantisation (``mask·exp(iφ_c)`` for a complex mask), wrapped modulo 2π by the LUT, which
    moves the mask's light to the diffraction angle ``sin θ = λ/(P·pitch)`` off the zero order.

    ``.npy`` holds a record with fields ``gray`` and ``mask`` (the unquantised ``mask`` as
    given, float64 or complex128), ``.npz`` the arrays ``gray`` and ``mask``. ``source`` (a
    JSON-ready dict, e.g. the checkpoint and channel it came from) is kept in the sidecar.

    Both files are written atomically, together or not at all (:func:`opticsim.files.write_files`:
    on any error the files that were there are kept as they were); an existing file or sidecar
    is kept (``FileExistsError``) unless ``overwrite``.
    """
    path = Path(path)
    check_targets([path, sidecar_path(path)], overwrite)
    write_files(mask_files(path, mask, slm, wavelength=wavelength, carrier=carrier,
                           offset=offset, fill=fill, source=source))
    return path


def mask_files(path, mask, slm, *, wavelength=None, carrier=None, offset=None, fill: int = 0,
               source: dict | None = None) -> dict[Path, bytes]:
    """What :func:`save_mask` writes, ``{path: image bytes, sidecar: JSON bytes}``, without
    writing it: several masks can then be written all or none
    (:func:`opticsim.files.write_files`)."""
    path = Path(path)
    preset = None
    if isinstance(slm, str):
        preset = presets.info(slm).name
        slm = presets.slm(slm)
    elif not isinstance(slm, SLM):
        raise TypeError(f"slm must be an opticsim.SLM or a preset name, got {type(slm).__name__}")
    kind, dtype = _container(path, slm.bits)
    values = np.asarray(mask)
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.number) \
            or np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"mask must be a 2-D array of phases (rad), amplitudes or complex "
                         f"transmittances, got shape {values.shape} and dtype {values.dtype}")
    if not values.size:
        raise ValueError(f"mask must hold at least one pixel, got shape {values.shape}")
    values = values.astype(np.complex128 if np.iscomplexobj(values) else np.float64)
    checks.finite_array("mask", values)
    largest = float(np.abs(values).max()) if np.iscomplexobj(values) else 0.0
    if largest > 1 + 4 * np.finfo(np.float64).eps:         # |M| rounded in complex128
        raise ValueError(f"mask: complex transmittances must have modulus |M| <= 1 (a panel "
                         f"passes at most all the light), got max |M| = {largest:.6g}")
    if values.shape[0] > slm.shape[0] or values.shape[1] > slm.shape[1]:
        raise ValueError(f"mask of {values.shape} pixels is larger than the SLM panel "
                         f"{slm.shape}")
    if offset is not None:
        pair = np.atleast_1d(np.asarray(offset, dtype=object))
        if pair.shape != (2,):
            raise ValueError(f"offset must be a (row, col) pair of pixels, got {offset!r}")
        offset = tuple(checks.integer("offset", value, 0) for value in pair)
    offset = place_centred(values.shape, slm.shape, offset)
    fill = checks.integer("fill", fill, 0, slm.level_count - 1)
    if wavelength is not None:
        wavelength = checks.positive("wavelength", wavelength)
    periods = _carrier(carrier)
    shown = values
    if periods is not None:
        if slm.mode != "phase":
            raise ValueError(f"carrier needs a phase panel (a blazed grating is a phase ramp); "
                             f"this SLM's mode is {slm.mode!r}")
        ramp = carrier_phase(values.shape, periods, offset)
        shown = values * np.exp(1j * ramp) if np.iscomplexobj(values) else values + ramp

    gray = np.full(slm.shape, fill, dtype)
    gray[offset[0]:offset[0] + values.shape[0], offset[1]:offset[1] + values.shape[1]] = \
        slm.to_gray(shown, wavelength)
    meta = {
        "format": FORMAT,
        "file": path.name,
        "opticsim_version": __version__,
        "slm": _slm_record(slm, preset, wavelength),
        "wavelength": wavelength,
        "lut_sha256": digest(slm.levels(wavelength)),
        "bits": slm.bits,
        "container": {"format": kind, "dtype": np.dtype(dtype).name},
        "values": ("phase (rad)" if slm.mode == "phase" and not np.iscomplexobj(values)
                   else "complex transmittance" if np.iscomplexobj(values) else "amplitude"),
        "mask_shape": list(values.shape),
        "mask_sha256": digest(values),
        "offset": list(offset),
        "fill": fill,
        "carrier": None if periods is None else {
            "period": [p if math.isfinite(p) else None for p in periods],
            "unit": "pixels (x, y); null: no tilt along that axis",
            "phase": "2*pi*(col/period_x + row/period_y) at panel pixel (row, col), added "
                     "before quantisation, wrapped modulo 2*pi"},
        "gray_shape": list(gray.shape),
        "gray_sha256": digest(gray),
        "source": source,
    }
    meta["sidecar_sha256"] = _sidecar_digest(meta)
    document = (json.dumps(meta, indent=2, allow_nan=False) + "\n").encode()
    return {path: _encoded(kind, gray, values), sidecar_path(path): document}


def _sidecar_digest(meta: dict) -> str:
    """sha256 (hex) of a sidecar's entries other than ``sidecar_sha256``, as compact JSON with
    sorted keys: an edit to any of them (the wavelength, the offset) changes it."""
    entries = {key: value for key, value in meta.items() if key != "sidecar_sha256"}
    text = json.dumps(entries, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _decoded(path: Path, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray levels and (``.npy``/``.npz``) the unquantised mask read from ``path``."""
    try:
        if kind in ("PNG", "BMP"):
            from PIL import Image

            with Image.open(path, formats=[kind]) as image:
                image.load()
                gray = np.array(image)
            return gray, None
        if kind == "TIFF":
            import tifffile

            return tifffile.imread(path), None
        stored = np.load(path, allow_pickle=False)
        if kind == "NPZ":
            with stored:
                return stored["gray"], stored["mask"]
        return stored["gray"], stored["mask"]
    except Exception as error:          # each reader raises its own kinds
        raise ValueError(f"{path} is not a readable {kind} mask file "
                         f"({error_summary(error)})") from None


def _sidecar(path: Path, kind: str) -> dict:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise ValueError(f"{path} has no sidecar {sidecar.name}: without it the gray levels "
                         "cannot be checked or reproduced")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: its sidecar {sidecar.name} is not valid JSON ({error})") \
            from None
    required = {"format", "bits", "container", "gray_shape", "gray_sha256", "mask_shape",
                "mask_sha256", "offset", "slm", "sidecar_sha256"}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not required <= set(meta) \
            or not isinstance(meta["slm"], dict):
        raise ValueError(f"{path}: its sidecar {sidecar.name} is not an {FORMAT} sidecar")
    bits = meta["bits"]
    if not isinstance(bits, int) or not 1 <= bits <= MAX_BITS[kind] \
            or meta["container"] != {"format": kind,
                                     "dtype": "uint8" if bits <= 8 else "uint16"}:
        raise ValueError(f"{path}: its sidecar {sidecar.name} gives bits={bits!r} in "
                         f"{meta['container']!r}, which a {kind} file of this kind cannot be")
    for key in ("gray_shape", "mask_shape", "offset"):
        value = meta[key]
        if not isinstance(value, list) or len(value) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise ValueError(f"{path}: its sidecar {sidecar.name} gives {key}={value!r}, not a "
                             "pair of pixel counts")
    for key in ("gray_sha256", "mask_sha256"):
        if not isinstance(meta[key], str):
            raise ValueError(f"{path}: its sidecar {sidecar.name} gives {key}={meta[key]!r}, "
                             "not a sha256 digest")
    try:
        intact = meta["sidecar_sha256"] == _sidecar_digest(meta)
    except ValueError:                      # NaN or infinity: no sidecar holds them
        intact = False
    if not intact:
        raise ValueError(f"{path}: its sidecar {sidecar.name} does not match its "
                         "sidecar_sha256 (the sidecar was edited)")
    return meta


def load_mask(path) -> tuple[np.ndarray, dict]:
    """The gray levels ``(H, W)`` (uint8 up to 8 bits, else uint16) of a file written by
    :func:`save_mask`, and its sidecar as a dict (with ``"mask"``, the unquantised mask, for
    ``.npy``/``.npz``). ``ValueError`` naming the file when its sidecar is missing or corrupt,
    or when the pixels do not match it (shape, bits, sha256 of the gray levels or of the mask);
    ``FileNotFoundError`` when the file is missing."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: the suffix must be one of {', '.join(SUFFIXES)}, got "
                         f"{path.suffix!r}")
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} does not exist")
    meta = _sidecar(path, kind)
    gray, values = _decoded(path, kind)
    dtype = np.dtype(meta["container"]["dtype"])
    if gray.ndim != 2 or gray.dtype != dtype or list(gray.shape) != meta["gray_shape"] \
            or list(gray.shape) != meta["slm"].get("shape"):
        raise ValueError(f"{path} holds {gray.dtype} pixels of shape {gray.shape}, but its "
                         f"sidecar describes {dtype} gray levels of shape "
                         f"{tuple(meta['gray_shape'])}")
    if gray.size and int(gray.max()) >= 2 ** meta["bits"]:
        raise ValueError(f"{path} holds gray level {int(gray.max())}, above the "
                         f"{meta['bits']}-bit range of its sidecar")
    if digest(gray) != meta["gray_sha256"]:
        raise ValueError(f"{path}: its gray levels do not match the sha256 in its sidecar "
                         "(the file or the sidecar was changed)")
    if values is not None:
        if list(values.shape) != meta["mask_shape"] or digest(values) != meta["mask_sha256"]:
            raise ValueError(f"{path}: its unquantised mask does not match the shape and sha256 "
                             "in its sidecar")
        meta["mask"] = values
    return gray, meta
