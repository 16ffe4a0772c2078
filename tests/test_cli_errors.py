"""The command line refuses bad settings before any work, in one line naming the option, and
leaves nothing behind (issue 16)."""

import pytest

from opticsim.cli import main


def _one_line_error(capsys, command):
    error = capsys.readouterr().err
    assert error.startswith(f"opticsim {command}: error: ") and error.count("\n") == 1, error
    return error.strip()


@pytest.mark.parametrize("argv, named", [
    (["sweep", "--param", "camera.read_noise=1", "--images", "0"],
     "--images must be an integer >= 1, got 0"),
    (["sweep", "--param", "camera.read_noise=1", "--kernel-size", "-1"], "--kernel-size must be"),
    (["sweep", "--param", "camera.read_noise=1", "--kernel-seed", "-1"], "--kernel-seed must be"),
    (["sweep", "--param", "camera.read_noise=1", "--calibration-images", "0"],
     "--calibration-images must be"),
    (["eval", "missing.pt", "--calibration-images", "0"], "--calibration-images must be"),
    (["eval", "missing.pt", "--data-seed", "-2"], "--data-seed must be"),
    (["train", "--seeds", "0", "-1"], "--seeds must be an integer >= 0, got -1"),
    (["demo", "--epochs", "0"], "--epochs must be"),
    (["export", "x.pt", "--slm", "pluto", "-o", "m.png", "--channel", "-1"], "--channel must be"),
])
def test_counts_out_of_range_are_refused_naming_the_option(argv, named, capsys, tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv + (["--out", "o"] if argv[0] in ("sweep", "train", "demo") else [])) == 1
    assert named in _one_line_error(capsys, argv[0])
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_duplicate_seeds_before_training(capsys, tmp_path, monkeypatch):
    import kd.experiment

    monkeypatch.setattr(kd.experiment, "run", lambda *args, **kwargs: pytest.fail("trained"))
    assert main(["train", "--seeds", "0", "1", "0", "--out", str(tmp_path / "o")]) == 1
    assert "--seeds must be distinct, got 0 1 0" in _one_line_error(capsys, "train")
    assert list(tmp_path.iterdir()) == []


def test_train_makes_no_folder_when_the_data_do_not_load(capsys, tmp_path):
    out = tmp_path / "o"
    assert main(["train", "--dataset", "mnist", "--data-root", str(tmp_path / "none"),
                 "--seeds", "0", "--out", str(out)]) == 1
    assert "mnist file" in _one_line_error(capsys, "train")
    assert list(tmp_path.iterdir()) == []
