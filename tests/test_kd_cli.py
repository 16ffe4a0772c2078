"""``opticsim demo / train / eval`` end to end on a tiny setting: every file promised, the six
scores, mean ± std over seeds, resume without retraining, one-line errors that lose nothing."""

import csv
import json

import numpy as np
import pytest

from opticsim.cli import main

TINY = ["--train-size", "48", "--epochs", "1", "--channels", "2,2", "--teacher-channels", "2,2",
        "--hidden", "8", "--calibration-images", "8", "--validation-images", "8",
        "--finetune-images", "8", "--no-progress"]
KEYS = ("teacher", "baseline", "student_no_kd", "student", "student_hardware",
        "student_hardware_finetuned")


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kd") / "train"
    code = main(["train", "--seeds", "0", "1", "--out", str(folder)] + TINY)
    return code, folder


def test_train_writes_every_seed_and_the_summary(train_run):
    code, folder = train_run
    assert code == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    for key in KEYS:
        per_seed = [json.loads((folder / f"seed-{s}" / "results.json").read_text())[key]
                    ["accuracy"] for s in (0, 1)]
        entry = summary["summary"][key]
        assert entry["per_seed"] == per_seed
        assert entry["accuracy"] == pytest.approx(np.mean(per_seed))
        assert entry["accuracy_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert "± " in (folder / "summary.md").read_text()
    assert (folder / "accuracy.png").read_bytes().startswith(b"\x89PNG")


def test_a_run_folder_holds_results_figures_report_and_gray_levels(train_run):
    folder = train_run[1] / "seed-0"
    results = json.loads((folder / "results.json").read_text())
    for key in KEYS:
        assert 0 <= results[key]["accuracy"] <= 1
    assert results["experiment"]["seed"] == 0 and results["experiment"]["epochs"] == 1
    assert set(results["stage_seconds"]) >= set(KEYS[:4]) | {"finetune"}
    for name in results["files"]["figures"]:
        assert (folder / name).read_bytes().startswith(b"\x89PNG")
    assert set(results["files"]["figures"]) == {"accuracy.png", "masks.png", "psf.png",
                                                "frames.png", "curves.png"}
    gray = np.load(folder / "slm_gray.npz")
    grid = results["hardware"]["grid"]
    assert gray["student_finetuned"].shape == (2, *grid) and gray["student"].dtype == np.uint8
    assert "| student_hardware |" in (folder / "report.md").read_text()
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == sorted(
        f"{k}.pt" for k in ("teacher", "baseline", "student_no_kd", "student",
                            "student_hardware_finetuned"))


def test_resume_of_a_finished_run_trains_nothing_and_agrees(train_run, capsys):
    folder = train_run[1] / "seed-1"
    before = json.loads((folder / "results.json").read_text())
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "checkpoints").iterdir()}
    assert main(["demo", "--seed", "1", "--resume", "--out", str(folder)] + TINY) == 0
    after = json.loads((folder / "results.json").read_text())
    for key in KEYS:
        assert after[key] == before[key]
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "checkpoints").iterdir()} == stamps
    # another experiment in the same folder is refused, nothing changes
    assert main(["demo", "--seed", "1", "--resume", "--epochs", "2", "--out", str(folder)]
                + TINY[2:]) == 1
    assert "another experiment" in capsys.readouterr().err
    assert json.loads((folder / "results.json").read_text()) == after


def test_eval_scores_a_checkpoint_and_its_hardware(train_run, capsys):
    folder = train_run[1] / "seed-0"
    results = json.loads((folder / "results.json").read_text())
    assert main(["eval", str(folder / "checkpoints" / "student.pt"), "--no-progress",
                 "--calibration-images", "8"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == results["student"]["accuracy"]
    assert printed["hardware_accuracy"] == results["student_hardware"]["accuracy"]


def test_user_errors_are_one_line_and_lose_nothing(train_run, tmp_path, capsys):
    folder = train_run[1]
    before = (folder / "summary.json").read_bytes()
    assert main(["train", "--seeds", "0", "--out", str(folder)] + TINY) == 1
    assert main(["eval", str(folder / "summary.json")]) == 1
    assert main(["eval", str(tmp_path / "missing.pt")]) == 1
    assert main(["demo", "--fourier-slm", "no-such-slm", "--out", str(tmp_path / "x")]
                + TINY) == 1
    assert main(["demo", "--alpha", "2", "--out", str(tmp_path / "y")] + TINY) == 1
    file = tmp_path / "a-file"
    file.write_text("keep")
    assert main(["demo", "--out", str(file)] + TINY) == 1
    (tmp_path / "no-data").mkdir()
    assert main(["demo", "--dataset", "mnist", "--data-root", str(tmp_path / "no-data"),
                 "--out", str(tmp_path / "z")] + TINY) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 7 and all(e.startswith("opticsim ") and ": error: " in e
                                    for e in errors)
    assert "not empty" in errors[0] and "summary.json" in errors[1]
    assert "missing.pt" in errors[2] and "no-such-slm" in errors[3]
    assert "alpha" in errors[4] and "a-file" in errors[5] and "no-data" in errors[6]
    assert (folder / "summary.json").read_bytes() == before and file.read_text() == "keep"
    assert not (tmp_path / "z").exists()            # data missing: no run folder left
    assert main(["demo", "--channels", "two"]) == 2


def test_sweep_scores_a_student_on_the_bench_as_eval_does(train_run, tmp_path):
    from kd.data import load
    from kd.evaluate import student_on_hardware
    from kd.hardware import Bench, prepare
    from kd.train import restore

    checkpoint = train_run[1] / "seed-0" / "checkpoints" / "student.pt"
    out = tmp_path / "sweep"
    assert main(["sweep", "--checkpoint", str(checkpoint), "--param", "fourier_slm.bits=1,8",
                 "--repeats", "1", "--images", "32", "--calibration-images", "8",
                 "--workers", "0", "--out", str(out), "--no-progress"]) == 0
    with open(out / "sweep.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["fourier_slm.bits"] for row in rows] == ["1", "8"]
    test, train = load("cluttered", "test"), load("cluttered", "train")
    student, _ = restore(checkpoint, 1, len(test.classes))
    fourf, calibration = prepare(Bench(), student, train.images[:8])    # 8 bits: the preset
    expected = student_on_hardware(student, fourf, calibration, test.images[:32],
                                   test.labels[:32], seed=int(rows[1]["seed"]))["accuracy"]
    assert float(rows[1]["accuracy"]) == expected
    assert (out / "fourier_slm.bits.png").exists()
