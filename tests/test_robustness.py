"""``opticsim robustness``: the tolerance's interpolation, the imperfections' registry, the
exposure that cannot amplify a weak laser, a study's files and figure data, bad names and
sizes refused before anything runs, and a killed study resumed to the uninterrupted table."""

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from kd import robustness
from kd.data import load
from kd.hardware import Bench, exposed
from kd.train import Settings, build_model, save_checkpoint
from opticsim.cli import main

TINY = ["--dataset", "digits", "--image-size", "16", "--test-images", "24",
        "--calibration-images", "8", "--finetune-images", "8", "--validation-images", "8",
        "--imperfections", "slm-bits,read-noise,aperture", "--sizes", "slm-bits=4,1,2",
        "--sizes", "read-noise=30,300", "--sizes", "aperture=2e-4,1e-4", "--workers", "0",
        "--no-progress"]
POINTS = 7


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    settings = Settings(model="student", channels=(2, 3), hidden=(8,), spectral_kernel_size=3)
    torch.manual_seed(0)
    model = build_model(settings, 1, 10).eval()
    path = tmp_path_factory.mktemp("robustness") / "student.pt"
    save_checkpoint(path, {"settings": settings.to_dict(), "epoch": 1,
                           "model": model.state_dict(), "history": {},
                           "rng": torch.get_rng_state()})
    return model, path


@pytest.fixture(scope="module")
def study(checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("robustness") / "whole"
    assert main(["robustness", str(checkpoint[1]), "--out", str(folder)] + TINY) == 0
    return folder


def test_the_tolerance_is_interpolated_where_the_accuracy_crosses_five_points_below_ideal():
    # 0.80 → 0.70 between sizes 2 and 4: the line 0.75 is crossed halfway, at 3
    assert robustness.tolerance([1, 2, 4], [0.80, 0.80, 0.70], 0.80) == pytest.approx(3.0)
    # on a log axis (sizes over two decades): halfway between 1e-6 and 1e-8 in log is 1e-7
    assert robustness.tolerance([1e-4, 1e-6, 1e-8], [0.9, 0.9, 0.8], 0.9) == pytest.approx(1e-7)
    assert robustness.tolerance([1, 2], [0.7, 0.6], 0.8) == "below the range"
    assert robustness.tolerance([1, 2], [0.78, 0.76], 0.8) == "beyond the range"


def test_sizes_come_mildest_first_and_unknown_names_are_refused_naming_the_allowed():
    chosen = robustness.choose(["slm-bits", "fringing"], {"slm-bits": [1, 4, 2]})
    assert chosen == {"slm-bits": (4, 2, 1),
                      "fringing": robustness.IMPERFECTIONS["fringing"].sizes}
    with pytest.raises(ValueError, match="unknown imperfection 'warp'.*slm-bits, fringing"):
        robustness.choose(["warp"])
    with pytest.raises(ValueError, match="distinct"):
        robustness.choose(["slm-bits"], {"slm-bits": [2, 2.0]})
    assert robustness.IMPERFECTIONS["photon-budget"].unit == "W"


def test_the_exposure_attenuates_a_strong_laser_and_keeps_a_weak_one(checkpoint):
    student = checkpoint[0]
    images = load("digits", "train", size=16).images[:8]
    fourf = Bench().fourf(images.shape[-2:], student.cascade.kernel_shape)
    needed = exposed(student, fourf, images, 0.8).laser.power
    assert needed < fourf.laser.power                     # the 10 mW preset is attenuated
    weak = robustness.sweep.apply(fourf, {"laser.power": needed / 10})
    assert exposed(student, weak, images, 0.8).laser.power == needed / 10


def test_a_study_writes_its_table_figures_and_summary_from_the_sweep(study):
    results = json.loads((study / robustness.RESULTS).read_text())
    rows = list(csv.DictReader((study / robustness.TABLE).open()))
    assert [(r["imperfection"], float(r["size"])) for r in rows] == [
        ("slm-bits", 4), ("slm-bits", 2), ("slm-bits", 1), ("read-noise", 30),
        ("read-noise", 300), ("aperture", 2e-4), ("aperture", 1e-4)]
    points = list(csv.DictReader((study / "points" / "sweep.csv").open()))
    assert [float(r["naive"]) for r in rows] == [float(p["naive"]) for p in points]
    assert [float(r["finetuned"]) for r in rows] == [float(p["finetuned"]) for p in points]
    for row in rows:
        deployed = row["finetuned"] if float(row["kept"]) else row["naive"]
        assert row["deployed"] == deployed
    assert results["environment"]["packages"]["opticsim"]
    assert results["command"].startswith("opticsim robustness ")
    assert results["bench"] == Bench().to_dict()
    shown = robustness.plot_data(results, "read-noise")
    assert shown["sizes"] == [30.0, 300.0]
    assert list(shown["naive"][0]) == [float(r["naive"]) for r in rows[3:5]]
    assert list(shown["naive"][1]) == [float(r["naive_low"]) for r in rows[3:5]]
    assert shown["ideal"] == (results["ideal"]["accuracy"], *results["ideal"]["interval"])
    assert shown["line"] == pytest.approx(results["ideal"]["accuracy"] - 0.05)
    assert shown["xlabel"] == "camera.read_noise (e⁻ RMS)" and shown["bench"] == 2.3
    for name in ("slm-bits", "read-noise", "aperture"):
        assert (study / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        naive = [float(r["naive"]) for r in rows if r["imperfection"] == name]
        sizes = [float(r["size"]) for r in rows if r["imperfection"] == name]
        expected = robustness.tolerance(sizes, naive, results["ideal"]["accuracy"])
        assert results["tolerances"][name]["naive"] == expected
        assert robustness.size_text(expected, robustness.IMPERFECTIONS[name].unit) in (
            study / robustness.SUMMARY).read_text()


@pytest.mark.parametrize("words, says", [
    (["--imperfections", "slm-bits,warp"], "unknown imperfection 'warp'.*fringing"),
    (["--sizes", "slm-bits=4,0"], "slm-bits .fourier_slm.bits. cannot be 0.*bits"),
    (["--sizes", "aperture=-1e-3"], "aperture .lens2.diameter. cannot be -0.001"),
    (["--sizes", "slm-bits=two"], "sizes of slm-bits must be numbers"),
])
def test_bad_names_and_sizes_are_one_line_before_anything_runs(checkpoint, tmp_path, capsys,
                                                                words, says):
    folder = tmp_path / "study"
    assert main(["robustness", str(checkpoint[1]), "--out", str(folder), *TINY[:-9],
                 *words, "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("opticsim robustness: error:")
    assert re.search(says, error), error
    assert not folder.exists()


def test_a_killed_study_resumes_to_the_uninterrupted_table(checkpoint, study, tmp_path):
    killed = tmp_path / "killed"
    command = ["robustness", str(checkpoint[1]), "--out", str(killed)] + TINY
    process = subprocess.Popen([sys.executable, "-c", "import sys; from opticsim.cli import "
                                f"main; sys.exit(main({command!r}))"])
    table = killed / "points" / "sweep.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if table.exists() and table.read_text().count("\n") >= 1 + 2:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = table.read_text().splitlines()
    assert 1 + 2 <= len(partial) < 1 + POINTS                   # killed part-way
    assert not (killed / robustness.TABLE).exists()
    assert main(command + ["--resume"]) == 0
    assert (killed / robustness.TABLE).read_text() == (study / robustness.TABLE).read_text()
    assert (killed / robustness.SUMMARY).read_text().split("Command:")[0] == (
        study / robustness.SUMMARY).read_text().split("Command:")[0]
    assert table.read_text().splitlines()[:len(partial)] == partial   # kept, not recomputed
    assert not math.isnan(json.loads((killed / robustness.RESULTS).read_text())["ideal"][
        "accuracy"])
