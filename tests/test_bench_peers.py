"""The peer comparison of benches/bench_engine.py: installed peers are timed against the engine
on the same frame, absent ones are skipped with the reason (timings are not checked)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyfftw")

BENCH = Path(__file__).resolve().parents[1] / "benches" / "bench_engine.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peers_run_when_installed_and_are_skipped_when_absent(monkeypatch):
    bench = _bench_module()
    monkeypatch.setattr(bench, "PEERS", ("torch_fft", "no_such_simulator"))
    peers = bench.bench_peers([32], rounds=1, seconds=0.001, rng=np.random.default_rng(0))
    assert set(peers["versions"]) == {"torch_fft"}
    assert "ModuleNotFoundError" in peers["missing"]["no_such_simulator"]
    (row,) = peers["rows"]
    assert row["peer"] == "torch_fft" and row["n"] == 32
    assert row["ratio"] == pytest.approx(row["peer_ms"] / row["engine_ms"])
    assert row["agreement"] > 0.999              # an all-pass 4f gives back the image
    text = bench.peer_table(peers)
    assert "torch_fft" in text and "not run: no_such_simulator" in text


def test_agreement_tells_a_blurred_frame_from_the_image():
    bench = _bench_module()
    image = np.random.default_rng(1).random((16, 16))
    assert bench._agreement(image[::-1, ::-1] ** 2, image) == pytest.approx(1.0)
    blurred = (image ** 2 + np.roll(image ** 2, 1, 0) + np.roll(image ** 2, 1, 1)) / 3
    assert bench._agreement(blurred, image) < 0.9


def test_cpu_clock_is_refused_on_more_than_one_cpu(monkeypatch, capsys):
    """This thread's CPU time counts one thread only: the bench refuses it on several CPUs."""
    bench = _bench_module()
    monkeypatch.setattr(bench.fft, "threads", lambda: 2)
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--sizes", "16", "--peers", "--clock", "cpu"])
    assert "--clock cpu counts one thread" in capsys.readouterr().err
