"""The engine benchmark runs end to end on tiny grids and writes the JSON it promises
(timings are not checked: benchmarks are not tests)."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("pyfftw")

BENCH = Path(__file__).resolve().parents[1] / "benches" / "bench_engine.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_bench_writes_every_case(tmp_path, capsys):
    out = tmp_path / "results" / "bench_engine.json"
    document = _bench_module().main(["--quick", "--sizes", "64", "--batch", "2x32",
                                     "--rounds", "1", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(document))
    assert not list(out.parent.glob("*.tmp"))
    assert {"benchmark", "quick", "command", "environment", "targets", "timing",
            "results"} <= written.keys()
    assert written["quick"] is True
    cases = {(row["case"], tuple(row["shape"])) for row in written["results"]}
    assert cases == {("fourf_run", (1, 64, 64)), ("fourf_run_batch", (2, 32, 32)),
                     ("fourf_run_full", (1, 64, 64)), ("lens_ft", (1, 64, 64)),
                     ("composition", (1, 64, 64))}
    for row in written["results"]:
        assert {"engine_ms", "floor_ms", "numpy_ms", "ratio_floor", "ratio_numpy", "target",
                "meets_target", "relative_error", "background_load"} <= row.keys()
        assert row["relative_error"] < 1e-4          # the engine computes what NumPy does
    assert "x floor" in capsys.readouterr().out
