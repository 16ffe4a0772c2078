"""The hardware-frame benchmark runs end to end on tiny grids and writes the JSON it promises
(timings are not checked: benchmarks are not tests)."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("pyfftw")

BENCH = Path(__file__).resolve().parents[1] / "benches" / "bench_hardware.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_hardware", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_bench_writes_every_case(tmp_path, capsys):
    out = tmp_path / "results" / "bench_hardware.json"
    document = _bench_module().main(["--quick", "--sizes", "32", "--batch", "2x32",
                                     "--rounds", "1", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(document))
    assert not list(out.parent.glob("*.tmp"))
    assert {"benchmark", "quick", "command", "environment", "setup", "target", "timing",
            "results"} <= written.keys()
    assert written["quick"] is True and written["benchmark"] == "bench_hardware"
    cases = [(row["case"], tuple(row["shape"])) for row in written["results"]]
    assert cases == [("hardware_frame", (1, 32, 32)), ("hardware_batch", (2, 32, 32))]
    for row in written["results"]:
        assert {"hardware_ms", "floor_ms", "ideal_ms", "ratio_floor", "ratio_ideal",
                "stages_ms", "target", "meets_target", "median_electrons",
                "exact_poisson_fraction", "background_load"} <= row.keys()
        assert set(row["stages_ms"]) == {"input_slm", "fourier_slm", "camera", "ffts", "other"}
        assert row["hardware_ms"] > 0 and row["floor_ms"] > 0
    assert written["results"][1]["target"] == 2.0      # the batch always has the target
    assert "x floor" in capsys.readouterr().out
