"""Files are data: a checkpoint, a saved layer state, a sidecar or a run's settings with
hostile contents is refused naming the file, and the command line says so in one line."""

import json

import numpy as np
import pytest
import torch

from kd.hardware import Bench
from kd.train import Settings, build_model, load_checkpoint, save_checkpoint
from opticsim import presets
from opticsim.cli import main
from opticsim.export import load_mask, save_mask, sidecar_path
from opticsim.torch import Optical4fConv, load_state


def _one_line_error(capsys, command):
    error = capsys.readouterr().err
    assert error.startswith(f"opticsim {command}: error: ") and error.count("\n") == 1, error
    return error


@pytest.fixture(scope="module")
def checkpoint():
    settings = Settings(model="student", channels=(2, 3), hidden=(8,), spectral_kernel_size=3)
    return {"settings": settings.to_dict(), "epoch": 1, "history": {},
            "model": build_model(settings, 1, 10).state_dict(), "rng": torch.get_rng_state()}


@pytest.mark.parametrize("key, value, reason", [
    ("settings", None, "settings is a NoneType, not a dict"),
    ("settings", [1], "settings is a list"),
    ("settings", {"channels": "ab"}, "its settings are not valid"),
    ("model", torch.zeros(3), "model is not a dict of named tensors"),
    ("model", {"weight": 1}, "model is not a dict of named tensors"),
    ("epoch", "x", "epoch is 'x'"),
    ("history", [], "history is not a dict"),
    ("rng", [1, 2], "rng is not a torch RNG state"),
])
def test_a_checkpoint_with_hostile_contents_is_one_line(checkpoint, tmp_path, capsys, key, value,
                                                        reason):
    path = tmp_path / "student.pt"
    save_checkpoint(path, {**checkpoint, key: value})
    with pytest.raises(ValueError, match=f"checkpoint {path} is not a valid .*: {reason}"):
        load_checkpoint(path)
    for argv in (["eval", str(path), "--dataset", "digits", "--no-hardware"],
                 ["export", str(path), "--slm", "pluto", "-o", str(tmp_path / "m.png")],
                 ["sweep", "--checkpoint", str(path), "--dataset", "digits", "--param",
                  "camera.read_noise=1", "--out", str(tmp_path / "s")]):
        assert main(argv) == 1
        assert reason in _one_line_error(capsys, argv[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.pt"]


@pytest.fixture(scope="module")
def layer_state(tmp_path_factory):
    fourf = Bench(fourier_slm="pluto").fourf((12, 12), (5, 5))
    path = Optical4fConv(fourf, 1, 2, 5, mask="phase", image_shape=(12, 12)).save(
        tmp_path_factory.mktemp("layer") / "layer.pt")
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("change, reason", [
    ({"values": [1.0, 2.0]}, "values is not a float64 or complex128 tensor"),
    ({"values": torch.zeros(4)}, "values is not a float64"),
    ({"mask": None}, "mask is None"),
    ({"wavelength": "red"}, "wavelength must be a finite number > 0"),
    ({"fourier_slm": {"shape": [16, 16], "pitch": 8e-6, "mode": "phase"}},
     "fourier_slm is not None or a dict"),
    ({"fourier_slm": {"shape": 5, "pitch": 8e-6, "mode": "phase", "bits": 9.5}},
     "fourier_slm bits must be an integer"),
    ({"state_dict": 3}, "state_dict is not a dict"),
])
def test_a_layer_state_with_hostile_contents_is_one_line(layer_state, tmp_path, capsys, change,
                                                         reason):
    path = tmp_path / "layer.pt"
    torch.save({**layer_state, **change}, path)
    with pytest.raises(ValueError, match=f"{path} is not a valid Optical4fConv state"):
        load_state(path)
    assert main(["export", str(path), "--slm", "pluto", "-o", str(tmp_path / "m.png")]) == 1
    assert reason in _one_line_error(capsys, "export")


@pytest.mark.parametrize("key, value", [
    ("gray_shape", 5), ("mask_shape", ["a", 2]), ("offset", None), ("offset", [True, 0]),
    ("gray_sha256", 7), ("bits", "8"),
])
def test_a_sidecar_with_hostile_contents_is_refused_naming_the_file(tmp_path, key, value):
    path = save_mask(tmp_path / "m.png", np.zeros((4, 4)), presets.slm("pluto", shape=(8, 8)),
                     wavelength=633e-9)
    meta = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**meta, key: value}))
    with pytest.raises(ValueError, match=f"{path}: its sidecar m.png.json gives {key}="):
        load_mask(path)


def test_a_folder_given_as_a_checkpoint_is_named_as_a_folder(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    assert main(["eval", str(folder), "--dataset", "digits"]) == 1
    assert f"{folder}: is a folder, not a checkpoint file" in _one_line_error(capsys, "eval")


def test_a_corrupt_experiment_json_is_named_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "experiment.json").write_bytes(b"\xff{not json")
    assert main(["demo", "--dataset", "digits", "--out", str(out), "--resume"]) == 1
    error = _one_line_error(capsys, "demo")
    assert f"experiment settings {out / 'experiment.json'} is not readable" in error
