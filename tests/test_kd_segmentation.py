"""kd.segmentation: logit maps at the input resolution; the optical student is the collapsed
cascade read by a camera; pixel-wise KD trains its optics; the example runs end to end."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kd.losses import kd_loss
from kd.segmentation import SegBaseline, SegStudent, SegTeacher

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kd_segmentation.py"
MODELS = ("teacher", "baseline", "student_no_kd", "student")


def _example():
    spec = importlib.util.spec_from_file_location("kd_segmentation", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", [SegTeacher, SegBaseline, SegStudent,
                                   lambda: SegStudent(readout="differential")],
                         ids=["teacher", "baseline", "intensity", "differential"])
def test_logit_maps_at_input_resolution(model):
    assert model()(torch.rand(2, 1, 64, 64)).shape == (2, 2, 64, 64)


def test_student_camera_reads_square_of_layer_by_layer_convolution():
    torch.manual_seed(3)
    student = SegStudent(channels=(3, 5, 4), kernel_size=5).double()
    images = torch.rand(2, 1, 20, 23, dtype=torch.float64)
    fields = images
    for weight in student.cascade.weights:      # full convolution, one layer at a time
        fields = F.conv2d(fields, weight, padding=weight.shape[-1] - 1)
    margin = (student.cascade.kernel_shape[0] - 1) // 2     # 6 for three 5-tap layers
    expected = fields[..., margin:-margin, margin:-margin] ** 2
    signal = student.backend.crop(student.camera_signal(images))
    assert signal.shape == (2, 4, 20, 23)
    torch.testing.assert_close(signal, expected, rtol=1e-10, atol=1e-12)


def test_baseline_and_student_share_weights_and_decoder_but_not_the_camera():
    torch.manual_seed(0)
    baseline = SegBaseline()
    torch.manual_seed(0)
    student = SegStudent()
    for a, b in zip(baseline.state_dict().values(), student.state_dict().values()):
        torch.testing.assert_close(a, b)
    images = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(student.features(images), baseline.features(images) ** 2)


def test_pixelwise_kd_gradient_reaches_the_cascade():
    torch.manual_seed(1)
    images = torch.rand(2, 1, 32, 32)
    masks = (images[:, 0] > 0.7).long()
    student = SegStudent()
    with torch.no_grad():
        teacher = SegTeacher().eval()(images)
    loss = kd_loss(student(images), teacher, masks, temperature=2.0, alpha=1.0)  # soft term only
    loss.backward()
    assert loss.ndim == 0 and loss > 0
    for weight in student.cascade.weights:
        assert weight.grad is not None and weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kd_segmentation") / "run"
    code = _example().main(["--epochs", "1", "--train-size", "64", "--test-size", "32",
                            "--out", str(folder), "--no-progress"])
    return code, folder


def test_example_writes_scores_of_the_four_models(example_run):
    code, folder = example_run
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["results.json", "segmentation.png"]
    assert (folder / "segmentation.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    results = json.loads((folder / "results.json").read_text())
    assert tuple(results["scores"]) == MODELS
    for scores in results["scores"].values():
        assert 0 <= scores["miou"] <= 1 and 0 <= scores["dice"] <= 1
    assert (results["data"]["train"], results["data"]["test"]) == (64, 32)
    assert results["settings"]["student"]["alpha"] > 0
    assert results["settings"]["student_no_kd"]["alpha"] == 0


def test_example_refuses_non_empty_folder_without_overwrite(example_run, capsys):
    folder = example_run[1]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert _example().main(["--epochs", "1", "--train-size", "64", "--out", str(folder),
                            "--no-progress"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()} == before
