"""``opticsim bench`` (benches/optical_vs_gpu.py) runs end to end at tiny sizes and writes the
JSON, table and plot it promises (timings are not checked: benchmarks are not tests); its
argument errors are one line."""

import json

import pytest

from opticsim.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results" / "ovg.json"
    assert main(["bench", "--sizes", "32,16", "--measure-up-to", "16", "--repeats", "1",
                 "--out", str(out)]) == 0
    return out, json.loads(out.read_text())


def test_tiny_bench_writes_measured_and_modelled_rows(tiny_run):
    out, document = tiny_run
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert not list(out.parent.glob("*.tmp"))
    table = out.with_suffix(".md").read_text()
    assert "Crossover" in table and "| 32² |" in table
    rows = document["devices"]["cpu"]["rows"]
    assert [(row["size"], row["measured"]) for row in rows] == [(16, True), (32, False)]
    small, large = rows
    # the modelled time is the measured seconds per FLOP times the larger size's FLOPs
    for model, key in (("teacher", "teacher"), ("student", "student")):
        rate = small["seconds"][model] / small["flops"][key]["total"]
        assert large["seconds"][model] == pytest.approx(rate * large["flops"][key]["total"])
    # both sizes fit one shot: one frame per output channel of the demo's student (16)
    assert small["optics"]["frames"] == large["optics"]["frames"] == 16
    assert small["seconds"]["hybrid"] == max(small["seconds"]["optics"],
                                             small["seconds"]["hybrid_backend"])
    assert document["presets"]["camera"]["preset"] == "imx250"
    assert "electrical_power" in document["presets"]["fourier_slm"]["assumptions"]
    assert document["accuracy"]["size"] == 64


def test_bench_argument_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    bad = [["--sizes", "16,x"], ["--sizes", "4"], ["--exposure", "-1"],
           ["--fourier-slm", "santec-slm-200"], ["--measure-up-to", "8"],
           ["--camera", "no-such-camera"]]
    codes = [main(["bench", *options, "--out", out]) for options in bad]
    assert codes == [2, 1, 1, 1, 1, 1]                  # 2: argparse's usage error
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == len(bad)
    assert all(line.startswith("opticsim bench: error: ") for line in errors)
    for line, word in zip(errors, ("--sizes", "sizes", "exposure", "frame_rate",
                                   "measure_up_to", "no-such-camera")):
        assert word in line
    assert not (tmp_path / "x.json").exists()
