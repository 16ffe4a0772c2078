"""Mask export for real SLMs: round trips per format and bit depth, re-simulation of an exported
file, the blazed-grating carrier against the grating equation, and refusals that leave nothing."""

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

import opticsim
from opticsim import SLM, FourF, Field, Lens, Laser, presets
from opticsim.export import load_mask, save_mask, sidecar_path
from opticsim.propagate import lens_ft

PANEL, MASK = (48, 64), (21, 34)


def _phases(seed=0):
    return np.random.default_rng(seed).uniform(-3 * np.pi, 3 * np.pi, MASK)


def _wrapped(phase):
    return np.angle(np.exp(1j * phase))


@pytest.mark.parametrize("name, bits", [
    ("m.png", 8), ("m.bmp", 8), ("m.png", 10), ("m.png", 12), ("m.png", 16),
    ("m.tif", 8), ("m.tiff", 10), ("m.tif", 12), ("m.tif", 16), ("m.npy", 12), ("m.npz", 8)])
def test_round_trip_gives_the_gray_levels_and_phases_within_one_step(tmp_path, name, bits):
    slm = SLM(PANEL, 8e-6, bits=bits)
    phases = _phases(bits)
    path = save_mask(tmp_path / name, phases, slm, fill=3)
    gray, meta = load_mask(path)
    top, left = (PANEL[0] - MASK[0]) // 2, (PANEL[1] - MASK[1]) // 2     # docs/conventions.rst: centred
    window = gray[top:top + MASK[0], left:left + MASK[1]]
    assert gray.shape == PANEL and gray.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert meta["offset"] == [top, left] and meta["bits"] == bits
    # the levels displayed encode the phases to within half a step 2π/2^bits (nearest level)
    step = 2 * np.pi / 2 ** bits
    assert np.abs(_wrapped(window * step - phases)).max() <= step / 2 + 1e-9
    outside = np.ones(PANEL, bool)
    outside[top:top + MASK[0], left:left + MASK[1]] = False
    assert (gray[outside] == 3).all()
    if path.suffix in (".png", ".bmp"):     # the container a viewer sees: unshifted levels
        with Image.open(path) as image:
            assert image.mode == ("L" if bits <= 8 else "I;16")
            assert (np.array(image) == gray).all()
    elif path.suffix in (".tif", ".tiff"):
        assert (tifffile.imread(path) == gray).all()
    else:
        assert np.array_equal(meta["mask"], phases)


def test_an_exported_file_resimulates_to_the_frames_of_the_mask_in_memory(tmp_path):
    window = presets.slm("pluto-2.1", shape=(32, 32))
    n, dx, wavelength = 3 * 32, window.pitch / 3, 532e-9
    f = n * dx * window.sample_pitch / wavelength
    system = FourF(Laser(wavelength, 1e-3), Lens(f), Lens(f), shape=n, pitch=dx,
                   fourier_slm=window)
    kernel = np.random.default_rng(2).standard_normal((5, 5))
    mask = system.mask_from_kernel(kernel)
    mask = mask / np.abs(mask).max()
    path = save_mask(tmp_path / "pluto.png", np.angle(mask), "pluto", wavelength=wavelength)
    gray, meta = load_mask(path)
    assert gray.shape == (1080, 1920) and meta["slm"]["preset"] == "pluto-2.1"
    (top, left), (h, w) = meta["offset"], meta["mask_shape"]
    assert (top, left) == ((1080 - 32) // 2, (1920 - 32) // 2)
    images = np.random.default_rng(3).random((2, 24, 24))
    expected = system.run(images, mask)
    frames = system.run(images, gray=gray[top:top + h, left:left + w])
    assert expected.max() > 0 and np.array_equal(frames, expected)


@pytest.mark.parametrize("periods", [(8.0, -16.0), (-6.0, np.inf)])
def test_the_carrier_moves_the_far_field_peak_to_the_grating_angle(tmp_path, periods):
    pitch, wavelength, focal_length = 9.2e-6, 633e-9, 0.15
    rows, cols = 64, 96
    slm = SLM((rows, cols), pitch, bits=8)
    path = save_mask(tmp_path / "c.png", np.zeros((rows, cols)), slm, carrier=periods)
    gray, meta = load_mask(path)
    assert meta["carrier"]["period"] == [p if np.isfinite(p) else None for p in periods]
    field = Field(slm.displayed(gray)[None], pitch, wavelength)
    far = lens_ft(field, focal_length).intensity[0]
    peak = np.unravel_index(np.argmax(far), far.shape)
    # grating equation sin θ = λ/(P·p); the lens maps it to x = λf/(P·p), in samples of
    # λf/(N·p): N/P from the axis (paraxial: tan θ ≈ sin θ)
    out_pitch = wavelength * focal_length / (np.array([rows, cols]) * pitch)
    angle = np.arcsin(wavelength / (np.array([periods[1], periods[0]]) * pitch))
    predicted = np.array([rows // 2, cols // 2]) + focal_length * np.tan(angle) / out_pitch
    assert np.allclose(peak, predicted, atol=0.01)
    assert far[peak] / far.sum() > 0.99         # 8 or 16 pixels a period: a whole blaze
    flat = save_mask(tmp_path / "flat.png", np.zeros((rows, cols)), slm)
    plain = lens_ft(Field(slm.displayed(load_mask(flat)[0])[None], pitch, wavelength),
                    focal_length).intensity[0]
    assert np.unravel_index(np.argmax(plain), plain.shape) == (rows // 2, cols // 2)


def test_the_sidecar_holds_what_reproduces_the_file(tmp_path):
    source = {"checkpoint": "run/student.pt", "channel": 1}
    path = save_mask(tmp_path / "m.png", _phases(), "santec", offset=(5, 7), fill=512,
                     carrier=(10, np.inf), source=source)
    meta = json.loads(sidecar_path(path).read_text())
    slm = presets.slm("santec")
    assert meta["slm"]["preset"] == "santec-slm-200" and meta["slm"]["shape"] == [1200, 1920]
    assert meta["bits"] == 10 and meta["container"] == {"format": "PNG", "dtype": "uint16"}
    assert meta["offset"] == [5, 7] and meta["fill"] == 512 and meta["source"] == source
    assert meta["mask_shape"] == list(MASK) and meta["opticsim_version"] == opticsim.__version__
    assert meta["wavelength"] is None and meta["carrier"]["period"] == [10, None]
    other = save_mask(tmp_path / "other.png", _phases(), SLM(slm.shape, slm.pitch, bits=10,
                                                              phase_range=1.8 * np.pi))
    assert load_mask(other)[1]["lut_sha256"] != meta["lut_sha256"]
    gray, _ = load_mask(path)
    ramp = 2 * np.pi * (np.arange(7, 7 + MASK[1]) / 10)[None, :]
    step = 2 * np.pi / 1024
    shown = gray[5:5 + MASK[0], 7:7 + MASK[1]] * step
    assert np.abs(_wrapped(shown - _phases() - ramp)).max() <= step / 2 + 1e-9


# --- refusals ---------------------------------------------------------------------------------

def _nothing_written(folder):
    return list(folder.iterdir()) == []


def test_unknown_preset_larger_mask_bad_bits_suffix_and_carrier_are_refused(tmp_path):
    cases = [
        (dict(path=tmp_path / "a.png", slm="no-such-panel"), ValueError, "no-such-panel"),
        (dict(path=tmp_path / "a.png", mask=np.zeros((49, 10))), ValueError, "larger than"),
        (dict(path=tmp_path / "a.bmp", slm=SLM(PANEL, 8e-6, bits=10)), ValueError,
         "bits=10"),
        (dict(path=tmp_path / "a.jpg"), ValueError, "suffix"),
        (dict(path=tmp_path / "a.png", slm=SLM(PANEL, 8e-6, mode="amplitude"),
              mask=np.ones(MASK) / 2, carrier=(8, 8)), ValueError, "carrier"),
        (dict(path=tmp_path / "a.png", carrier=(1.5, np.inf)), ValueError, "carrier"),
        (dict(path=tmp_path / "a.png", offset=(40, 0)), ValueError, "offset"),
        (dict(path=tmp_path / "a.png", offset=(2.5, 0)), ValueError, "offset"),
        (dict(path=tmp_path / "a.png", fill=256), ValueError, "fill"),
        (dict(path=tmp_path / "none" / "a.png"), FileNotFoundError, "none"),
        (dict(path=tmp_path / "file" / "a.png"), FileNotFoundError, "file"),
    ]
    (tmp_path / "file").write_bytes(b"")
    for given, error, named in cases:
        arguments = {"path": None, "mask": _phases(), "slm": SLM(PANEL, 8e-6), **given}
        with pytest.raises(error, match=named):
            save_mask(arguments.pop("path"), arguments.pop("mask"), arguments.pop("slm"),
                      **arguments)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("mode", ["amplitude", "phase"])
def test_a_complex_mask_beyond_unit_modulus_and_an_empty_mask_are_refused(tmp_path, mode):
    slm = SLM(PANEL, 8e-6, mode=mode)
    with pytest.raises(ValueError, match=r"modulus \|M\| <= 1 .* got max \|M\| = 1.5"):
        save_mask(tmp_path / "m.png", np.full((4, 4), 1.5 + 0j), slm)
    if mode == "amplitude":                         # as the real 1.5 is refused
        with pytest.raises(ValueError, match=r"amplitudes in \[0, 1\]"):
            save_mask(tmp_path / "m.png", np.full((4, 4), 1.5), slm)
    with pytest.raises(ValueError, match=r"at least one pixel, got shape \(0, 0\)"):
        save_mask(tmp_path / "m.png", np.zeros((0, 0)), slm)
    assert _nothing_written(tmp_path)
    unit = np.exp(1j * np.linspace(0, 6, 16)).reshape(4, 4)
    save_mask(tmp_path / "m.png", unit, slm)                        # |M| = 1 within rounding


def test_a_failed_sidecar_write_leaves_no_image_and_keeps_an_earlier_pair(tmp_path,
                                                                          monkeypatch):
    from opticsim import files

    def refuse_sidecars(path, data):
        if path.name.endswith(".json"):
            raise PermissionError(13, "Permission denied", str(path) + ".1234.tmp")
        return write_temporary(path, data)

    write_temporary = files._write_temporary
    monkeypatch.setattr(files, "_write_temporary", refuse_sidecars)
    with pytest.raises(PermissionError, match="m.png.json"):
        save_mask(tmp_path / "m.png", _phases(), SLM(PANEL, 8e-6))
    assert _nothing_written(tmp_path)
    monkeypatch.undo()
    path = save_mask(tmp_path / "m.png", _phases(0), SLM(PANEL, 8e-6))
    earlier = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(files, "_write_temporary", refuse_sidecars)
    with pytest.raises(PermissionError, match="m.png.json"):
        save_mask(path, _phases(1), SLM(PANEL, 8e-6), overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == earlier


def test_an_existing_file_or_sidecar_is_replaced_only_with_overwrite(tmp_path):
    slm = SLM(PANEL, 8e-6)
    path = save_mask(tmp_path / "m.png", _phases(0), slm)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="m.png"):
        save_mask(path, _phases(1), slm)
    assert path.read_bytes() == before
    orphan = tmp_path / "n.png.json"
    orphan.write_text("{}")
    with pytest.raises(FileExistsError, match="n.png.json"):
        save_mask(tmp_path / "n.png", _phases(1), slm)
    assert not (tmp_path / "n.png").exists()
    save_mask(path, _phases(1), slm, overwrite=True)
    assert path.read_bytes() != before and load_mask(path)[1]["mask_sha256"] != json.loads(
        orphan.read_text()).get("mask_sha256")


def _tamper_pixel(path):
    with Image.open(path) as image:
        pixels = np.array(image)
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(path)


def _edit_sidecar(key, value, rehash=True):
    """Edit a sidecar entry, and (``rehash``) its sidecar_sha256 too, as a forger would: the
    checks of the pixels against the sidecar are then what refuses it."""
    def edit(path):
        from opticsim.export import _sidecar_digest

        sidecar = sidecar_path(path)
        meta = json.loads(sidecar.read_text())
        meta[key] = value
        if rehash:
            meta["sidecar_sha256"] = _sidecar_digest(meta)
        sidecar.write_text(json.dumps(meta))
    return edit


@pytest.mark.parametrize("spoil, named", [
    (lambda path: sidecar_path(path).unlink(), "no sidecar"),
    (lambda path: sidecar_path(path).write_text("{not json"), "not valid JSON"),
    (lambda path: path.write_bytes(path.read_bytes()[:100]), "not a readable"),
    (_tamper_pixel, "sha256"),
    (_edit_sidecar("gray_shape", [48, 63]), "shape"),
    (_edit_sidecar("bits", 7), "7-bit"),
    (_edit_sidecar("format", "something-else"), "sidecar"),
    (_edit_sidecar("slm", 5), "sidecar"),
    (_edit_sidecar("wavelength", 532e-9, rehash=False), "the sidecar was edited"),
    (_edit_sidecar("offset", [0, 1], rehash=False), "the sidecar was edited"),
    (_edit_sidecar("sidecar_sha256", None, rehash=False), "the sidecar was edited"),
])
def test_a_corrupt_or_tampered_file_or_sidecar_is_refused(tmp_path, spoil, named):
    path = save_mask(tmp_path / "m.png", _phases(), SLM(PANEL, 8e-6))
    spoil(path)
    with pytest.raises(ValueError, match=named) as error:
        load_mask(path)
    assert "m.png" in str(error.value)


def test_a_tampered_unquantised_mask_is_refused(tmp_path):
    path = save_mask(tmp_path / "m.npz", _phases(), SLM(PANEL, 8e-6))
    with np.load(path) as stored:
        gray, mask = stored["gray"], stored["mask"]
    mask[0, 0] += 0.1
    with open(path, "wb") as stream:
        np.savez_compressed(stream, gray=gray, mask=mask)
    with pytest.raises(ValueError, match="m.npz.*unquantised"):
        load_mask(path)
