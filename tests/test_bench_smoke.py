"""The engine benchmark runs end to end on tiny grids and writes the JSON it promises
(timings are not checked: benchmarks are not tests)."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tolerances import fft_rounding

pytest.importorskip("pyfftw")

BENCH = Path(__file__).resolve().parents[1] / "benches" / "bench_engine.py"

ENGINE_CASES = {("fourf_run", (1, 64, 64)), ("fourf_run_batch", (2, 32, 32)),
                ("fourf_run_full", (1, 64, 64)), ("lens_ft", (1, 64, 64)),
                ("composition", (1, 64, 64))}
HARDWARE_CASES = {("hardware_frame", (1, 64, 64)), ("hardware_batch", (2, 32, 32))}
PUBLIC_PATH_CASES = {("composition_batch", (2, 32, 32))}


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run on tiny grids: (returned document, JSON path, printed text)."""
    out = tmp_path_factory.mktemp("bench") / "results" / "bench_engine.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        document = _bench_module().main(["--quick", "--sizes", "64", "--batch", "2x32",
                                         "--rounds", "1", "--out", str(out),
                                         "--plot", str(out.with_suffix(".png"))])
    return document, out, printed.getvalue()


def _rows(written: dict, cases: set) -> list[dict]:
    return [row for row in written["results"] if row["case"] in {case for case, _ in cases}]


def test_quick_bench_writes_every_case(quick_run):
    document, out, printed = quick_run
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(document))
    assert not list(out.parent.glob("*.tmp"))
    assert {"benchmark", "quick", "command", "environment", "hardware_setup", "targets",
            "timing", "results"} <= written.keys()
    assert written["quick"] is True
    cases = {(row["case"], tuple(row["shape"])) for row in written["results"]}
    assert cases == ENGINE_CASES | HARDWARE_CASES | PUBLIC_PATH_CASES
    for row in written["results"]:
        assert {"engine_ms", "floor_ms", "ratio_floor", "ratio_floor_paired", "target",
                "meets_target", "background_load"} <= row.keys()
        assert row["engine_ms"] > 0 and row["floor_ms"] > 0
    for row in _rows(written, ENGINE_CASES):
        assert {"numpy_ms", "ratio_numpy", "relative_error"} <= row.keys()
        # the engine computes what NumPy does: two complex64 FFTs each, doubled by |E|²
        assert row["relative_error"] < 8 * fft_rounding(np.complex64, np.prod(row["shape"][1:]))
    assert "x floor" in printed


def test_quick_bench_times_the_hardware_stages(quick_run):
    _, out, printed = quick_run
    written = json.loads(out.read_text())
    rows = {row["case"]: row for row in _rows(written, HARDWARE_CASES)}
    for row in rows.values():
        assert {"ideal_ms", "ratio_ideal", "fourier_new_ms", "stages_ms", "median_electrons",
                "exact_poisson_fraction"} <= row.keys()
        assert set(row["stages_ms"]) == {"input_slm", "fourier_slm", "camera", "ffts", "other"}
        assert row["ideal_ms"] > 0 and 0 <= row["exact_poisson_fraction"] <= 1
        assert row["ratio_pair"] == pytest.approx(row["engine_ms"] / row["pair_ms"])
    assert rows["hardware_frame"]["target"] is None        # 2.5 applies at N = 1024 only
    assert rows["hardware_batch"]["target"] == 2.5         # the batch always has the target
    assert written["targets"]["hardware_frame"] == {"ratio": 2.5, "n": 1024}
    assert "x ideal" in printed and "x pair" in printed
    assert printed.count("hardware_batch") == 2


def test_quick_bench_compares_the_public_path_with_fourf_run(quick_run):
    _, out, _ = quick_run
    row, = _rows(json.loads(out.read_text()), PUBLIC_PATH_CASES)
    assert row["fourf_run_ms"] > 0 and row["ratio_fourf_run_floor"] > 0
    # both compute the same frames: two complex64 FFTs each, doubled by |E|²
    assert row["relative_error"] < 8 * fft_rounding(np.complex64, np.prod(row["shape"][1:]))
    assert row["target"] == 1.6


@pytest.mark.parametrize("backend", ["engine", "torch"])
def test_chirp_z_bench_times_both_forms_of_each_backend(backend, tmp_path, monkeypatch):
    """bench_chirp_z.py imports bench_engine as a sibling script, as it runs from benches/."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_chirp_z",
                                                  BENCH.parent / "bench_chirp_z.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "chirp_z.json"
    with contextlib.redirect_stdout(io.StringIO()):
        document = module.main(["--backend", backend, "--sizes", "16", "24", "--rounds", "1",
                                "--out", str(out)])
    assert json.loads(out.read_text()) == document
    assert document["backend"] == backend and [row["n"] for row in document["results"]] == [16, 24]
    for row in document["results"]:
        # complex64 matrix products against chirp-z FFTs on a grid padded to 2N a side
        tolerance = 8 * fft_rounding(np.complex64, (2 * row["n"]) ** 2)
        assert row["relative_difference"] < tolerance and row["chosen"] == "matrix"
        assert row["matrix_ms"] > 0 and row["chirp_z_ms"] > 0


def test_fft_backend_bench_times_fftw_against_torch(tmp_path, monkeypatch):
    """bench_fft_backends.py on tiny grids: one row per size and thread count, torch's
    thread count restored."""
    import torch

    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_fft_backends",
                                                  BENCH.parent / "bench_fft_backends.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = torch.get_num_threads()
    out = tmp_path / "fft.json"
    with contextlib.redirect_stdout(io.StringIO()):
        document = module.main(["--sizes", "16", "32", "--threads", "1", "--rounds", "1",
                                "--no-same", "--out", str(out)])
    assert torch.get_num_threads() == before
    assert json.loads(out.read_text()) == document
    assert [(row["n"], row["threads"]) for row in document["results"]] == [(16, 1), (32, 1)]
    assert all(row["fftw_ms"] > 0 and row["torch_ms"] > 0 and row["real_ms"] > 0
               and row["ratio_scipy"] == row["scipy_ms"] / row["fftw_ms"] > 0
               and row["ratio_estimate"] > 0 and row["ratio_numpy"] > 0
               and row["relative_difference"] < 2 * fft_rounding(np.complex64, row["n"] ** 2)
               for row in document["results"])      # two complex64 FFTs of the same numbers
    assert document["spin_ms"] >= 0 and document["spin_count"] == str(module.fft.SPIN_COUNT)


def test_fft_backend_bench_compares_numbers_in_fresh_processes(monkeypatch):
    """The determinism table: pocketfft's numbers agree in three fresh processes at 2, 2 and
    1 threads."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_fft_backends",
                                                  BENCH.parent / "bench_fft_backends.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SAME_BACKENDS", ("scipy",))
    assert module.same_numbers([16, 24]) == {"scipy": {16: "yes", 24: "yes"}}
