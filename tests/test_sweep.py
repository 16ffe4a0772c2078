"""Hardware sweeps: the kernel-error metric against scipy and Poisson statistics, points and
seeds that do not depend on where they ran (local processes, a Dask cluster), resume after a
kill, and bad sweeps refused before anything is written."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.signal

from opticsim import SLM, Camera, FourF, Laser, Lens, sweep
from opticsim.camera import photon_energy
from opticsim.cli import main
from tolerances import fft_rounding

N, PITCH, WAVELENGTH, FOCAL = 64, 8e-6, 532e-9, 0.1


def images(count=3, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, size, size)) * (rng.random((count, size, size)) > 0.5)


def kernel(seed=1, size=5):
    return np.random.default_rng(seed).standard_normal((size, size))


def system(readout="intensity", slm=True, camera=True, power=1e-6, **camera_fields):
    fourier = None
    if slm:
        fourier = SLM((N, N), WAVELENGTH * FOCAL / (N * PITCH), mode="phase", bits=8)
    sensor = None
    if camera:
        fields = dict(exposure=1e-4, read_noise=2.0, dark_current=0.0, full_well=20_000,
                      gain=0.5, bits=14, offset=10)
        fields.update(camera_fields)
        sensor = Camera((N, N), PITCH, **fields)
    return FourF(Laser(WAVELENGTH, power), Lens(FOCAL, diameter=0.01), Lens(FOCAL),
                 shape=N, pitch=PITCH, fourier_slm=fourier, camera=sensor, readout=readout)


@pytest.fixture(scope="module")
def bench():
    metric = sweep.KernelError(kernel(), images())
    return metric, metric.expose(system(), fill=0.7)


PARAMETERS = {"fourier_slm.bits": [2, 4, 8], "camera.read_noise": [1.0, 100.0]}


# --- the metric against theory ---------------------------------------------------------------

@pytest.mark.parametrize("readout", ["intensity", "field", "differential"])
def test_ideal_4f_has_no_error_against_scipy_convolution(readout):
    metric = sweep.KernelError(kernel(), images())
    (value,) = metric.evaluate(system(readout, slm=False, camera=False), [0])
    assert value["error"] < 8 * fft_rounding(np.complex64, N * N)   # two FFTs, |E|², ± parts
    wrong = sweep.KernelError(kernel(seed=2), images())            # a test that can fail
    wrong_ideal = wrong.ideal(readout)
    assert np.linalg.norm(wrong_ideal - metric.ideal(readout)) > 0.1 * np.linalg.norm(
        wrong_ideal)


def test_ideal_readout_is_the_full_linear_convolution():
    metric = sweep.KernelError(kernel(), images(1))
    expected = scipy.signal.fftconvolve(images(1)[0], kernel())
    np.testing.assert_allclose(metric.ideal("field")[0], expected, atol=1e-12)
    assert metric.ideal("intensity").shape == (1, 20, 20)


@pytest.mark.parametrize("fill", [0.02, 0.2])
def test_shot_noise_error_is_poisson(fill):
    """Ideal optics, a camera with only shot noise and ADC rounding: the relative error is
    ``√(Σ(K²μ + 1/12)) / √(Σ(Kμ)²)`` for the mean electrons μ, so it falls as 1/√fill."""
    metric = sweep.KernelError(kernel(), images())
    fourf = metric.expose(system(slm=False, read_noise=0.0, gain=1.0, bits=16, offset=0,
                                 full_well=50_000), fill=fill)
    layout = fourf.layout(1, 1, (16, 16), (5, 5))
    bare = dataclasses.replace(fourf, camera=None)
    irradiance = bare.run(images()[:, None], metric.displays(bare, layout)["mask"],
                          layout=layout)
    camera = fourf.camera
    mean = (irradiance.astype(np.float64) * PITCH ** 2 * camera.qe * camera.exposure
            / photon_energy(WAVELENGTH))
    # exposed() took the peak of another complex64 run: two FFTs of each, doubled by |E|²
    assert mean.max() == pytest.approx(fill * camera.full_well,
                                       rel=8 * fft_rounding(np.complex64, N * N))
    predicted = np.sqrt(np.sum(mean + 1 / 12) / np.sum(mean ** 2))
    errors = [v["error"] for v in metric.evaluate(fourf, range(6))]
    # error² = Σn²/Σμ² with n ~ N(0, σ² = μ + 1/12): its relative standard error is
    # √(2Σσ⁴)/Σσ², the error's half that; the mean of 6 runs within 5 standard errors
    spread = np.sqrt(2 * np.sum((mean + 1 / 12) ** 2)) / np.sum(mean + 1 / 12) / 2 / np.sqrt(6)
    assert np.mean(errors) == pytest.approx(predicted, rel=5 * spread)


def test_slm_bits_and_read_noise_move_the_error_as_physics_says(bench):
    metric, base = bench
    rows = sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, progress=False)
    table = {(r["fourier_slm.bits"], r["camera.read_noise"]): [] for r in rows}
    for r in rows:
        table[(r["fourier_slm.bits"], r["camera.read_noise"])].append(r["error"])
    error = {key: np.mean(values) for key, values in table.items()}
    assert error[(2, 1.0)] > 3 * error[(4, 1.0)] > 3 * error[(8, 1.0)] / 1.5
    assert error[(8, 100.0)] > 1.3 * error[(8, 1.0)]


# --- fields, points and seeds ----------------------------------------------------------------

def test_apply_sets_element_fields_and_zernike_terms(bench):
    _, base = bench
    changed = sweep.apply(base, {"fourier_slm.bits": 4, "camera.read_noise": 7.0,
                                 "lens1.zernike.4": 0.1, "readout": "differential"})
    assert changed.fourier_slm.bits == 4 and changed.camera.read_noise == 7.0
    assert dict(changed.lens1.zernike) == {4: 0.1} and changed.readout == "differential"
    assert base.fourier_slm.bits == 8 and not base.lens1.zernike           # base untouched
    assert sweep.value_of(base, "lens1.zernike.11") == 0.0
    assert sweep.value_of(changed, "camera.read_noise") == 7.0


@pytest.mark.parametrize("name, value, words", [
    ("camera.no_such_field", 1, ["camera.no_such_field", "read_noise"]),
    ("detector.read_noise", 1, ["detector.read_noise", "elements"]),
    ("input_slm.bits", 4, ["input_slm", "no input_slm"]),
    ("camera.read_noise", -1.0, ["camera.read_noise", "read_noise", "-1"]),
    ("fourier_slm.bits", 0, ["fourier_slm.bits", "bits"]),
    ("lens2.zernike.4", 0.1, ["lens2.zernike.4", "diameter"]),
    ("laser.power", float("nan"), ["laser.power", "power"]),
])
def test_bad_fields_and_values_are_named_and_nothing_is_written(bench, tmp_path, name, value,
                                                                words):
    metric, base = bench
    out = tmp_path / "sweep"
    with pytest.raises(ValueError) as error:
        sweep.run(metric, base, {name: [value]}, workers=0, out=out, progress=False)
    for word in words:
        assert word in str(error.value)
    assert not out.exists()


def test_points_are_the_grid_or_one_parameter_at_a_time(bench):
    _, base = bench
    grid = sweep.points(base, PARAMETERS)
    assert len(grid) == 6 and grid[1] == {"fourier_slm.bits": 2, "camera.read_noise": 100.0}
    alone = sweep.points(base, PARAMETERS, "one-at-a-time")
    assert len(alone) == 5
    assert alone[0] == {"fourier_slm.bits": 2, "camera.read_noise": 2.0}     # base's noise
    assert alone[3] == {"fourier_slm.bits": 8, "camera.read_noise": 1.0}     # base's bits
    with pytest.raises(ValueError, match="mode"):
        sweep.points(base, PARAMETERS, "random")
    with pytest.raises(ValueError, match="non-empty"):
        sweep.points(base, {"camera.read_noise": []})


def test_seeds_come_from_the_point_not_its_place():
    point = {"fourier_slm.bits": 4, "camera.read_noise": 2}
    seeds = sweep.point_seeds(point, 3, seed=5)
    assert len(set(seeds)) == 3
    assert sweep.point_seeds(dict(reversed(point.items())), 3, seed=5) == seeds
    assert sweep.point_seeds({"fourier_slm.bits": 4, "camera.read_noise": 2.0}, 3, 5) == seeds
    assert sweep.point_seeds(point, 3, seed=6) != seeds
    assert sweep.point_seeds({**point, "camera.read_noise": 3}, 3, 5) != seeds
    assert sweep.point_seeds(point, 5, seed=5)[:3] == seeds


# --- where it runs, resume, files ------------------------------------------------------------

def test_local_processes_and_a_dask_cluster_give_the_same_table(bench):
    distributed = pytest.importorskip("distributed")
    metric, base = bench
    here = sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, progress=False)
    processes = sweep.run(metric, base, PARAMETERS, repeats=2, workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        cluster_rows = sweep.run(metric, base, PARAMETERS, repeats=2, progress=False,
                                 scheduler=cluster.scheduler_address)
    assert processes == here
    assert cluster_rows == here
    assert [r["point"] for r in here] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


SLOW_SWEEP = textwrap.dedent("""
    import sys, time
    import numpy as np
    from opticsim import sweep

    class Slow:
        names = ("value",)

        def describe(self):
            return {"metric": "Slow"}

        def evaluate(self, fourf, seeds):
            time.sleep(0.4)
            return [{"value": fourf.camera.read_noise + np.random.default_rng(s).random()}
                    for s in seeds]

    def base():
        from opticsim import Camera, FourF, Laser, Lens
        return FourF(Laser(532e-9, 1e-6), Lens(0.1), Lens(0.1), shape=16, pitch=8e-6,
                     camera=Camera((16, 16), 8e-6, exposure=1e-4))

    PARAMETERS = {"camera.read_noise": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]}

    if __name__ == "__main__":
        sweep.run(Slow(), base(), PARAMETERS, repeats=2, workers=0, out=sys.argv[1],
                  resume=True, progress=False)
""")


def test_a_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    script = tmp_path / "slow_sweep.py"
    script.write_text(SLOW_SWEEP)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen([sys.executable, str(script), str(killed)])
    table = killed / sweep.TABLE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if table.exists() and table.read_text().count("\n") >= 1 + 2 * 3:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = table.read_text().splitlines()
    assert 1 + 2 * 3 <= len(partial) < 1 + 2 * 8                  # killed part-way, no torn row
    sys.path.insert(0, str(tmp_path))
    try:
        import slow_sweep
    finally:
        sys.path.remove(str(tmp_path))
    resumed = sweep.run(slow_sweep.Slow(), slow_sweep.base(), slow_sweep.PARAMETERS, repeats=2,
                        workers=0, out=killed, resume=True, progress=False)
    subprocess.run([sys.executable, str(script), str(whole)], check=True)
    assert table.read_text() == (whole / sweep.TABLE).read_text()
    assert table.read_text().splitlines()[:len(partial)] == partial  # kept, not recomputed
    assert len(resumed) == 16


def test_folder_holds_table_settings_and_a_plot_per_field(bench, tmp_path):
    metric, base = bench
    out = tmp_path / "sweep"
    rows = sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, progress=False)
    lines = (out / sweep.TABLE).read_text().splitlines()
    assert lines[0] == "point,fourier_slm.bits,camera.read_noise,repeat,seed,error"
    assert len(lines) == 13 and float(lines[1].split(",")[-1]) == rows[0]["error"]
    spec = json.loads((out / sweep.SPEC).read_text())
    assert spec["parameters"] == PARAMETERS and spec["repeats"] == 2
    assert spec["base"]["camera"]["read_noise"] == 2.0
    for name in PARAMETERS:
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(FileExistsError, match="resume"):
        sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, progress=False)
    with pytest.raises(ValueError, match="repeats"):
        sweep.run(metric, base, PARAMETERS, repeats=3, workers=0, out=out, resume=True,
                  progress=False)
    assert (out / sweep.TABLE).read_text().splitlines() == lines          # nothing lost
    tampered = (out / sweep.TABLE).read_text().replace(",2,1.0,0,", ",2,1.5,0,", 1)
    (out / sweep.TABLE).write_text(tampered)
    with pytest.raises(ValueError, match="line 2"):
        sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, resume=True,
                  progress=False)


def test_parquet_holds_the_same_table(bench, tmp_path):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    metric, base = bench
    rows = sweep.run(metric, base, {"fourier_slm.bits": [4, 8]}, workers=0, out=tmp_path / "s",
                     progress=False)
    table = pyarrow_parquet.read_table(tmp_path / "s" / sweep.PARQUET).to_pylist()
    assert table == rows


def test_cli_sweep_writes_the_folder_and_refuses_bad_fields(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["sweep", "--param", "fourier_slm.bits=4,8", "--param", "camera.read_noise=1",
                 "--images", "2", "--kernel-size", "3", "--repeats", "1", "--workers", "0",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    lines = (out / sweep.TABLE).read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("point,fourier_slm.bits,camera.read_noise")
    capsys.readouterr()
    code = main(["sweep", "--param", "camera.readnoise=1,2", "--workers", "0", "--out",
                 str(tmp_path / "bad"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0
    assert err.startswith("opticsim sweep: error:") and "camera.readnoise" in err
    assert not (tmp_path / "bad").exists()
