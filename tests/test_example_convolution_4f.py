"""``examples/convolution_4f.py``: optical 4f outputs equal the digital convolutions, files
are safe."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tolerances import fft_rounding

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "convolution_4f.py"
_spec = importlib.util.spec_from_file_location("convolution_4f", EXAMPLE)
_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_example)
main = _example.main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "run"
    code = main(["--out", str(folder), "--count", "2", "--no-progress"])
    return code, folder


def test_demo_writes_figure_results_and_report(run):
    code, folder = run
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["demo.png", "report.md", "results.json"]
    assert (folder / "demo.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    results = json.loads((folder / "results.json").read_text())
    assert {"parameters", "cases", "files", "command"} <= results.keys()
    assert results["parameters"]["wavelength"] == 532e-9
    assert results["parameters"]["digits"] == 2
    assert results["cases"].keys() == {"all-pass", "edge", "low-pass"}
    assert "| low-pass |" in (folder / "report.md").read_text()


def test_demo_optics_matches_digital_convolution(run):
    results = json.loads((run[1] / "results.json").read_text())
    cases = results["cases"]
    # exact on the grid, up to the round-off of two complex64 FFTs, doubled by |E|²
    tolerance = 4 * fft_rounding(np.complex64, results["parameters"]["grid"] ** 2)
    for name in ("all-pass", "edge"):
        assert cases[name]["field_relative_error"] < tolerance
        assert cases[name]["irradiance_relative_error"] < tolerance
    # pinhole against the closed-form Airy kernel: edge sampling and periodic wrap only
    assert cases["low-pass"]["field_relative_error"] < 3e-2
    assert cases["low-pass"]["irradiance_relative_error"] < 1e-2


def test_demo_refuses_non_empty_folder_without_overwrite(run, capsys):
    folder = run[1]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert main(["--out", str(folder), "--count", "1", "--no-progress"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()} == before


def test_demo_overwrite_replaces_files(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text("stale")
    assert main(["--out", str(folder), "--count", "1", "--no-progress",
                 "--overwrite"]) == 0
    assert json.loads((folder / "results.json").read_text())["parameters"]["digits"] == 1
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_help_and_usage_errors_return_exit_codes(capsys):
    assert main(["--help"]) == 0
    assert "--overwrite" in capsys.readouterr().out
    assert main(["--count", "0"]) == 2
