"""``opticsim export``: a kd student's and a saved Optical4fConv layer's masks written as the
gray levels the engine displays, one file per display, and one-line errors that write nothing."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from kd.hardware import Bench, student_gray
from kd.train import Settings, build_model, save_checkpoint
from opticsim import FourF, Laser, Lens, presets
from opticsim.cli import main
from opticsim.export import load_mask
from opticsim.torch import Optical4fConv, load_state

IMAGE = 16


def _window(gray, meta):
    (top, left), (h, w) = meta["offset"], meta["mask_shape"]
    return gray[top:top + h, left:left + w]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    settings = Settings(model="student", channels=(2, 3), hidden=(8,), spectral_kernel_size=3,
                        readout="differential")
    model = build_model(settings, 1, 10).eval()
    path = tmp_path_factory.mktemp("kd") / "student.pt"
    save_checkpoint(path, {"settings": settings.to_dict(), "epoch": 1,
                           "model": model.state_dict(), "history": {},
                           "rng": torch.get_rng_state()})
    return model, path


def test_a_student_exports_the_gray_levels_the_demo_displays(student, tmp_path):
    model, checkpoint = student
    code = main(["export", str(checkpoint), "--slm", "meadowlark", "-o", str(tmp_path / "m.png"),
                 "--image-size", str(IMAGE)])
    assert code == 0
    fourf = Bench(fourier_slm="meadowlark-1920x1152").fourf(
        (IMAGE, IMAGE), model.cascade.kernel_shape, "differential")
    expected = student_gray(model, fourf, fourf.layout(1, 3, (IMAGE, IMAGE),
                                                       model.cascade.kernel_shape))
    for channel in range(3):
        for part, sign in enumerate(("pos", "neg")):
            gray, meta = load_mask(tmp_path / f"m-{channel}-{sign}.png")
            assert gray.shape == (1152, 1920) and meta["slm"]["preset"] == "meadowlark-1920x1152"
            assert np.array_equal(_window(gray, meta), expected[channel, part])
            assert meta["source"]["channel"] == channel
            assert meta["source"]["display"] == "+-"[part]
    assert len(list(tmp_path.iterdir())) == 12


def test_a_saved_layer_exports_its_gray_levels_at_its_wavelength(tmp_path, capsys):
    window = presets.slm("pluto-2.1", shape=(16, 16))
    n, dx, wavelength = 3 * 16, window.pitch / 3, 633e-9
    f = n * dx * window.sample_pitch / wavelength
    fourf = FourF(Laser(wavelength, 1e-3), Lens(f), Lens(f), shape=n, pitch=dx,
                  fourier_slm=window)
    layer = Optical4fConv(fourf, 1, 2, 5, mask="phase", image_shape=(12, 12))
    layer.set_kernels(np.random.default_rng(4).standard_normal((2, 1, 5, 5)))
    state = layer.save(tmp_path / "layer.pt")
    with pytest.raises(FileExistsError, match="layer.pt"):
        layer.save(state)
    assert load_state(state)["wavelength"] == wavelength
    assert main(["export", str(state), "--slm", "meadowlark", "-o", str(tmp_path / "x.png")]) == 1
    assert "pitch 9.2e-06 m" in capsys.readouterr().err      # trained for PLUTO's 8 µm pixels
    out = tmp_path / "l.tif"
    assert main(["export", str(state), "--slm", "pluto", "-o", str(out), "--channel", "1"]) == 0
    gray, meta = load_mask(out)
    # PLUTO's phase stroke depends on the wavelength: the LUT of 633 nm, as the layer used
    assert meta["wavelength"] == wavelength
    assert np.array_equal(_window(gray, meta), layer.export_gray()[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.tif", "l.tif.json", "layer.pt"]


def test_errors_are_one_line_and_write_nothing(student, tmp_path, capsys):
    checkpoint = student[1]
    (tmp_path / "m-2-neg.png").write_bytes(b"kept")
    teacher = tmp_path / "teacher.pt"
    settings = Settings(model="teacher", channels=(2,), hidden=(8,))
    save_checkpoint(teacher, {"settings": settings.to_dict(), "epoch": 1, "history": {},
                              "model": build_model(settings, 1, 10).state_dict(),
                              "rng": torch.get_rng_state()})
    out = str(tmp_path / "m.png")
    cases = [
        ([str(checkpoint), "--slm", "no-such-panel", "-o", out], "no-such-panel"),
        ([str(tmp_path / "missing.pt"), "--slm", "pluto", "-o", out], "missing.pt"),
        ([str(checkpoint), "--slm", "meadowlark", "-o", out, "--image-size", str(IMAGE)],
         "m-2-neg.png exists"),
        ([str(checkpoint), "--slm", "dlp7000", "-o", out], "--slm dlp7000"),
        ([str(teacher), "--slm", "pluto", "-o", out], "teacher.pt holds a teacher"),
        ([str(checkpoint), "--slm", "pluto", "-o", out, "--channel", "3"], "--channel"),
        ([str(checkpoint), "--slm", "pluto", "-o", str(tmp_path / "m.bmp"), "--carrier", "1",
          "9"], "carrier"),
    ]
    for arguments, named in cases:
        assert main(["export"] + arguments) == 1
        error = capsys.readouterr().err
        assert error.startswith("opticsim export: error: ") and error.count("\n") == 1
        assert named in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-2-neg.png", "teacher.pt"]
    with pytest.raises(ValueError, match="student.pt is not a saved Optical4fConv state"):
        load_state(checkpoint)
    assert (tmp_path / "m-2-neg.png").read_bytes() == b"kept"


@pytest.mark.parametrize("size", [3000, 20000])
def test_an_image_size_beyond_the_panel_is_refused_before_computing(student, tmp_path,
                                                                     monkeypatch, capsys, size):
    import kd.hardware

    def computed(*args):
        raise AssertionError("the masks were computed")

    monkeypatch.setattr(kd.hardware, "student_phases", computed)
    assert main(["export", str(student[1]), "--slm", "pluto", "-o", str(tmp_path / "m.png"),
                 "--image-size", str(size)]) == 1
    error = capsys.readouterr().err
    assert f"--image-size {size}: the student's masks span" in error
    assert "1080×1920 panel of --slm pluto" in error and list(tmp_path.iterdir()) == []


def _export(student, out, *more):
    return main(["export", str(student[1]), "--slm", "meadowlark", "-o", str(out),
                 "--image-size", str(IMAGE), *more])


def _contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_a_failure_part_way_through_the_channels_writes_none(student, tmp_path, monkeypatch,
                                                             capsys):
    from opticsim import files

    write_temporary, written = files._write_temporary, []

    def disk_full_at_the_fifth(path, data):
        if len(written) == 4:
            raise OSError(28, "No space left on device", str(path) + ".1234.tmp")
        written.append(write_temporary(path, data))
        return written[-1]

    monkeypatch.setattr(files, "_write_temporary", disk_full_at_the_fifth)
    assert _export(student, tmp_path / "m.png") == 1
    assert capsys.readouterr().err.endswith("/m-1-pos.png: No space left on device\n")
    assert len(written) == 4 and list(tmp_path.iterdir()) == []


def test_a_failed_overwrite_keeps_the_earlier_export_whole(student, tmp_path, monkeypatch,
                                                           capsys):
    from opticsim import files

    assert _export(student, tmp_path / "m.png", "--fill", "3") == 0
    earlier = _contents(tmp_path)
    assert len(earlier) == 12
    write_temporary, calls = files._write_temporary, []

    def disk_full_at_the_seventh(path, data):
        calls.append(path)
        if len(calls) == 7:
            raise OSError(28, "No space left on device", str(path) + ".1234.tmp")
        return write_temporary(path, data)

    monkeypatch.setattr(files, "_write_temporary", disk_full_at_the_seventh)
    assert _export(student, tmp_path / "m.png", "--overwrite") == 1
    assert "No space left on device" in capsys.readouterr().err
    assert _contents(tmp_path) == earlier
    monkeypatch.undo()
    assert _export(student, tmp_path / "m.png", "--overwrite") == 0
    assert sorted(_contents(tmp_path)) == sorted(earlier)
    assert _contents(tmp_path) != earlier                          # the fill changed


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux",
                    reason="mounting a small tmpfs needs root on Linux")
def test_a_full_file_system_keeps_the_earlier_export_whole(student, tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        assert _export(student, disk / "m.png", "--fill", "3") == 0
        earlier = _contents(disk)
        largest = max(len(data) for data in earlier.values())
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(bytes(free - 2 * largest))   # room for one new image
        assert _export(student, disk / "m.png", "--overwrite") == 1
        assert "No space left on device" in capsys.readouterr().err
        (disk / "filler").unlink()
        assert _contents(disk) == earlier
    finally:
        subprocess.run(["umount", str(disk)], check=True)
