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


def test_an_example_script_reports_a_user_error_in_one_line(tmp_path):
    """Examples run their main through opticsim.cli.run_script: a user error is one line
    naming the file and exit code 1, not a traceback."""
    import subprocess
    import sys
    from pathlib import Path

    taken = tmp_path / "image.png"
    taken.write_bytes(b"a user's file")
    script = Path(__file__).parents[1] / "examples" / "image_4f.py"
    done = subprocess.run([sys.executable, str(script), str(taken)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == (f"image_4f.py: error: {taken} exists; pass --overwrite to replace "
                           "it or name another file\n")
    assert taken.read_bytes() == b"a user's file"


@pytest.mark.parametrize("error, code, line", [
    (ValueError("bits must be an integer in [1, 16], got 0"), 1,
     "error: bits must be an integer in [1, 16], got 0"),
    (FileNotFoundError(2, "No such file or directory", "data/train.idx"), 1,
     "error: data/train.idx: No such file or directory"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_run_script_turns_user_errors_into_one_line(error, code, line, capsys, monkeypatch):
    from opticsim.cli import run_script

    monkeypatch.setattr("sys.argv", ["study.py"])

    def main():
        raise error

    assert run_script(main) == code
    assert capsys.readouterr().err.strip() == f"study.py: {line}"
    assert run_script(lambda: None) == 0 and run_script(lambda: 3) == 3
