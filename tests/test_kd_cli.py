"""``opticsim demo / train / eval`` end to end on a tiny setting: every file promised, the six
scores with their intervals and the environment, mean ± std over seeds, the quick and paper
presets, stages, Ctrl-C and resume without retraining, one-line errors that lose nothing."""

import csv
import json
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import kd.experiment
from kd.evaluate import wilson_interval
from opticsim.cli import main, parser
from opticsim.cli.experiment import experiment as _experiment
from test_kd_data import write_cifar, write_mnist

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
        assert entry["range"] == [min(per_seed), max(per_seed)]
        assert entry["per_seed_interval"] == [
            list(wilson_interval(round(a * 450), 450)) for a in per_seed]
    table = (folder / "summary.md").read_text()
    assert "± " in table and "95 % interval" in table
    low, high = summary["summary"]["student"]["per_seed_interval"][1]
    assert f"[{low:.3f}, {high:.3f}]" in table
    assert summary["environment"]["packages"]["opticsim"] == summary["opticsim_version"]
    assert (folder / "accuracy.png").read_bytes().startswith(b"\x89PNG")


def test_a_run_folder_holds_results_figures_report_and_gray_levels(train_run):
    folder = train_run[1] / "seed-0"
    results = json.loads((folder / "results.json").read_text())
    count = results["data"]["test"]
    for key in KEYS:
        accuracy = results[key]["accuracy"]
        assert results[key] == {"accuracy": accuracy, "n": count,
                                "interval": list(wilson_interval(round(accuracy * count),
                                                                 count))}
    assert results["experiment"]["seed"] == 0 and results["experiment"]["epochs"] == 1
    assert results["preset"] is None and "note" not in results
    assert {"packages", "cpu", "threads", "libraries", "device"} <= set(results["environment"])
    assert set(results["stage_seconds"]) >= set(KEYS[:4]) | {"finetune"}
    for name in results["files"]["figures"]:
        assert (folder / name).read_bytes().startswith(b"\x89PNG")
    assert set(results["files"]["figures"]) == {"accuracy.png", "masks.png", "psf.png",
                                                "frames.png", "curves.png"}
    gray = np.load(folder / "slm_gray.npz")
    grid = results["hardware"]["grid"]
    assert gray["student_finetuned"].shape == (2, *grid) and gray["student"].dtype == np.uint8
    low, high = results["student_hardware"]["interval"]
    report = (folder / "report.md").read_text()
    assert f"| student_hardware | {results['student_hardware']['accuracy']:.3f} [{low:.3f}, " \
           f"{high:.3f}] |" in report
    assert "not meaningful" not in report
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
    capsys.readouterr()
    assert main(["demo", "--seed", "1", "--resume", "--dropout", "0.3", "--out", str(folder)]
                + TINY[:2] + ["--epochs", "2"] + TINY[4:]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "another experiment (dropout: 0.1 there, 0.3 now; epochs: " \
        "1 there, 2 now)" in error
    assert json.loads((folder / "results.json").read_text()) == after


def test_eval_scores_a_checkpoint_and_its_hardware(train_run, capsys):
    folder = train_run[1] / "seed-0"
    results = json.loads((folder / "results.json").read_text())
    assert main(["eval", str(folder / "checkpoints" / "student.pt"), "--no-progress",
                 "--calibration-images", "8"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == results["student"]["accuracy"]
    assert printed["interval"] == results["student"]["interval"]
    assert printed["hardware_accuracy"] == results["student_hardware"]["accuracy"]
    assert printed["hardware_interval"] == results["student_hardware"]["interval"]
    assert printed["environment"]["device"] == "cpu"


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


def test_quick_is_a_preset_of_the_experiment_that_given_options_override():
    default = kd.experiment.Experiment()
    assert _experiment(parser().parse_args(["demo"]), 0) == default     # the full demo's
    quick = _experiment(parser().parse_args(["demo", "--quick", "--epochs", "3"]), 0)
    assert quick == kd.experiment.Experiment(**{**kd.experiment.PRESETS["quick"], "epochs": 3,
                                                "preset": "quick"})
    assert quick == _experiment(parser().parse_args(["demo", "--preset", "quick", "--epochs",
                                                     "3"]), 0)
    assert quick.quick and quick.train_size < 4041 and quick.test_size < 450
    assert quick.calibration_images < default.calibration_images


def test_ctrl_c_prints_the_command_that_resumes_and_resume_finds_the_latest_run(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    real_fit = kd.experiment.fit

    def interrupted_in_the_baseline(*args, **kwargs):
        if kwargs["desc"] == "baseline":
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(kd.experiment, "fit", interrupted_in_the_baseline)
    assert main(["demo", "--quick", "--overwrite"] + TINY) == 130
    err = capsys.readouterr().err
    (folder,) = (tmp_path / "runs").iterdir()
    assert "Traceback" not in err and err.splitlines()[-1] == (
        "opticsim demo: interrupted; resume with: opticsim demo --quick "
        + shlex.join(TINY) + f" --out runs/{folder.name} --resume")
    assert "stage 2/6: linear CNN baseline" in err and "stage 3/6" not in err
    monkeypatch.setattr(kd.experiment, "fit", real_fit)
    # without --quick it is another experiment: the settings that differ are named
    assert main(["demo", "--resume"] + TINY) == 1
    assert "preset: 'quick' there, None now; test_size: 128 there, None now" in \
        capsys.readouterr().err
    assert main(["demo", "--quick", "--resume"] + TINY) == 0           # the latest run
    err = capsys.readouterr().err
    assert f"run folder runs/{folder.name} (resuming) — quick preset" in err
    assert all(f"stage {k}/6: " in err for k in range(1, 7))
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [folder.name]
    results = json.loads((folder / "results.json").read_text())
    assert results["preset"] == "quick" and results["data"]["test"] == 128
    assert "not meaningful" in results["note"] and "not meaningful" in \
        (folder / "report.md").read_text()


def test_resume_without_a_run_says_out_is_needed_and_starts_nothing(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--resume"] + TINY) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "--out" in error and "runs/demo-*" in error
    assert not (tmp_path / "runs").exists()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "experiment.json").write_text("{ not json")
    assert main(["demo", "--resume", "--out", str(broken)] + TINY) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(broken / "experiment.json") in error


def test_ctrl_c_in_a_process_is_one_line_and_exit_code_130(tmp_path):
    command = [sys.executable, "-c", "import sys; from opticsim.cli import main; sys.exit(main())",
               "demo", "--out", str(tmp_path / "run")] + TINY[:2] + ["--epochs", "1000"] + TINY[4:]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:                 # the teacher is training
            if line.startswith("stage 1/6"):
                break
        process.send_signal(signal.SIGINT)
        err = process.stderr.read()
        assert process.wait(timeout=60) == 130
    finally:
        process.kill()
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "opticsim demo: interrupted; resume with: " + shlex.join(
            ["opticsim"] + command[3:] + ["--resume"])]


# --- the paper preset ---------------------------------------------------------------------------

def test_the_paper_preset_sets_the_papers_teacher_and_distillation(tmp_path):
    paper = _experiment(parser().parse_args(["demo", "--preset", "paper", "--data-root",
                                             str(tmp_path)]), 0)
    assert paper.preset == "paper" and not paper.quick and paper.dataset == "mnist"
    teacher, student = paper.settings("teacher"), paper.settings("student")
    assert teacher.channels == (32, 128, 256) and teacher.downsample == 1
    assert (student.temperature, student.alpha) == (10.0, 0.5)
    assert student.channels == (32, 64, 256) and student.spectral_kernel_size == 3
    given = _experiment(parser().parse_args(["train", "--preset", "paper", "--dataset", "cifar10",
                                             "--temperature", "4", "--downsample", "2"]), 1)
    assert (given.dataset, given.temperature, given.downsample) == ("cifar10", 4.0, 2)
    assert given.alpha == 0.5 and given.teacher_channels == (32, 128, 256)


@pytest.mark.parametrize("in_channels, side", [(1, 28), (3, 32)])     # MNIST, CIFAR-10
def test_the_paper_scale_models_take_full_resolution_images(in_channels, side):
    from kd.train import build_model

    paper = kd.experiment.Experiment(**kd.experiment.PRESETS["paper"])
    images = torch.rand(2, in_channels, side, side)
    for name in ("teacher", "baseline", "student"):
        model = build_model(paper.settings(name), in_channels, 10).eval()
        with torch.no_grad():
            assert model(images).shape == (2, 10)
    teacher = build_model(paper.settings("teacher"), in_channels, 10)
    assert teacher.features(images).shape == (2, 256, side, side)          # no pooling
    student = build_model(paper.settings("student"), in_channels, 10)
    assert student.camera_signal(images).shape == (2, 256, side + 6, side + 6)   # 7×7 kernel


def _paper_tiny(root):
    return ["demo", "--preset", "paper", "--data-root", str(root), "--train-size", "24",
            "--test-size", "8", "--epochs", "1", "--teacher-channels", "4,4,4", "--channels",
            "2,2,2", "--hidden", "8", "--calibration-images", "4", "--validation-images", "4",
            "--finetune-images", "4", "--no-progress"]


def test_the_paper_preset_runs_every_stage_on_a_tiny_mnist_slice(tmp_path):
    rng = np.random.default_rng(3)
    write_mnist(tmp_path, rng.integers(0, 256, (32, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, 32).astype(np.uint8))
    assert main(_paper_tiny(tmp_path) + ["--out", str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["preset"] == "paper" and "note" not in results
    assert results["data"]["image_shape"] == [1, 28, 28] and results["data"]["test"] == 8
    assert results["experiment"]["temperature"] == 10 and results["experiment"]["downsample"] == 1
    assert all(key in results for key in KEYS)
    assert "; from the paper preset." in (tmp_path / "run" / "report.md").read_text()


def test_the_paper_preset_refuses_what_it_cannot_run_before_training(tmp_path, capsys):
    assert main(["demo", "--preset", "paper", "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "opticsim demo: error: the mnist data set needs root, the folder holding its files "
        "(--data-root on the command line)"]
    assert not (tmp_path / "run").exists()


def test_the_paper_preset_runs_colour_images_through_the_bench(tmp_path):
    """CIFAR-10's three colour channels are three input tiles side by side on a grid wide
    enough for them and their cross terms (Bench.grid), through every stage."""
    write_cifar(tmp_path / "cifar", np.random.default_rng(4))
    assert main(_paper_tiny(tmp_path / "cifar") + ["--dataset", "cifar10", "--out",
                                                   str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["data"]["image_shape"] == [3, 32, 32]
    assert all(key in results for key in KEYS)


def test_the_bench_grid_holds_every_input_tile_and_its_cross_terms():
    """Bench.grid is the smallest FFT-friendly side that readout.layout accepts for C input
    tiles of a 32² image and a 7² kernel (tile 38): 2·38 for one (the linear convolution's
    room), 38 + 2(C − 1)(2·38 + 1) for several, one sample fewer of which layout refuses."""
    from scipy.fft import next_fast_len

    from kd.hardware import Bench
    from opticsim import readout

    bench = Bench()
    for channels, width in ((1, 76), (2, 192), (3, 346)):
        side = bench.grid((32, 32), (7, 7), channels)
        assert side == next_fast_len(width)
        readout.layout(channels, 4, (32, 32), (7, 7), (side, side))
        if channels > 1:
            with pytest.raises(ValueError, match="cannot hold"):
                readout.layout(channels, 4, (32, 32), (7, 7), (side, width - 1))
