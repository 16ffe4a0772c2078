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
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

import opticsim
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


@pytest.mark.parametrize("first, second", [("lens1.zernike.4", "lens1.zernike.04"),
                                           ("readout", ".readout")])
def test_two_names_for_one_field_are_refused(bench, tmp_path, capsys, first, second):
    with pytest.raises(ValueError, match=f"{first!r} and {second!r} set the same field"):
        sweep.points(bench[1], {first: [0.1, 0.2], second: [0.3]})
    assert main(["sweep", "--param", f"{first}=0.1", "--param", f"{second}=0.3", "--workers",
                 "0", "--out", str(tmp_path / "s"), "--no-progress"]) == 1
    assert "set the same field" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


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

def test_local_processes_and_a_dask_cluster_give_the_same_table(bench, tmp_path):
    distributed = pytest.importorskip("distributed")
    import threading

    metric, base = bench
    here = sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, progress=False)
    processes = sweep.run(metric, base, PARAMETERS, repeats=2, workers=2, progress=False)
    out = tmp_path / "cluster"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def kill_a_worker():                    # once the first row is written
            while not (out / sweep.TABLE).exists():
                time.sleep(0.01)
            os.kill(pids[0], signal.SIGKILL)

        killer = threading.Thread(target=kill_a_worker, daemon=True)
        killer.start()
        cluster_rows = sweep.run(metric, base, PARAMETERS, repeats=2, progress=False,
                                 scheduler=cluster.scheduler_address, out=out)
        killer.join()
    assert processes == here
    assert cluster_rows == here                 # a worker killed mid-sweep: the same table
    assert [r["point"] for r in here] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_local_sweeps_need_no_dask_and_a_cluster_without_it_is_one_error(bench):
    """Dask is the optional ``cluster`` extra: a local sweep runs with it unimportable, and a
    scheduler address then says what to install."""
    script = textwrap.dedent("""
        import sys
        sys.modules["distributed"] = sys.modules["dask"] = None   # import raises ImportError
        import numpy as np
        from opticsim import FourF, Laser, Lens, sweep
        fourf = FourF(Laser(532e-9, 1e-6), Lens(0.1), Lens(0.1), shape=16, pitch=8e-6)
        metric = sweep.KernelError(np.ones((3, 3)), np.ones((1, 8, 8)))
        rows = sweep.run(metric, fourf, {"laser.power": [1e-6, 2e-6]}, workers=0,
                         progress=False)
        assert len(rows) == 2
        try:
            sweep.run(metric, fourf, {"laser.power": [1e-6]}, scheduler="tcp://127.0.0.1:1",
                      progress=False)
        except ValueError as error:
            print(error)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'opticsim[cluster]'" in done.stdout


def _serve(answer):
    """A local TCP port that accepts and then says nothing (``answer`` None) or answers
    ``answer`` (bytes) to what it reads, as a port of another service would."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            connection, _ = server.accept()
            if answer is not None:
                connection.recv(65536)
                connection.sendall(answer)
            threading.Timer(30, connection.close).start()

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("answer, named", [
    (None, "no Dask handshake within 1 s"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "does not answer as a dask scheduler"),
], ids=["silent", "http"])
def test_a_port_that_is_not_a_dask_scheduler_is_one_line_within_the_bound(
        bench, tmp_path, capsys, monkeypatch, answer, named):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", 1.0)
    address = _serve(answer)
    started = time.monotonic()
    with pytest.raises(ValueError, match=f"scheduler '{address}'.*{named}"):
        sweep.run(*bench, {"camera.read_noise": [1.0]}, scheduler=address, progress=False)
    assert time.monotonic() - started < 5                  # was a hang, or a 46-line traceback
    assert main(["sweep", "--param", "camera.read_noise=1", "--scheduler", address, "--out",
                 str(tmp_path / "s"), "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and named in error and not (tmp_path / "s").exists()


def _waiting_metric(seconds):
    class Waits:
        names = ("value",)

        def describe(self):
            return {"metric": "Waits"}

        def evaluate(self, fourf, seeds):
            time.sleep(seconds)
            return [{"value": fourf.camera.read_noise + s % 7} for s in seeds]

    return Waits()


def test_a_lost_scheduler_is_one_line_naming_resume_and_keeps_the_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    import threading

    parameters = {"camera.read_noise": [1.0, 2.0, 3.0, 4.0]}
    out = tmp_path / "s"
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)

    def lose_the_scheduler():
        while not (out / sweep.TABLE).exists():
            time.sleep(0.02)
        cluster.close()

    threading.Thread(target=lose_the_scheduler, daemon=True).start()
    with pytest.raises(sweep.SchedulerLost) as raised:
        sweep.run(_waiting_metric(0.3), system(), parameters, out=out, progress=False,
                  scheduler=cluster.scheduler_address)
    message = str(raised.value)
    assert isinstance(raised.value, OSError) and "\n" not in message    # the CLI's one line
    assert f"lost the scheduler {cluster.scheduler_address}" in message
    assert f"--resume --out {out}" in message
    kept = (out / sweep.TABLE).read_text()
    assert kept.count("\n") >= 2                                   # the header and a row
    whole = sweep.run(_waiting_metric(0), system(), parameters, workers=0, progress=False)
    assert sweep.run(_waiting_metric(0), system(), parameters, workers=0, out=out, resume=True,
                     progress=False) == whole
    assert (out / sweep.TABLE).read_text().startswith(kept)          # no row lost or redone


def test_the_payload_goes_to_the_cluster_once_not_in_every_task():
    distributed = pytest.importorskip("distributed")
    import warnings

    import dask

    metric = sweep.KernelError(kernel(), images(4, 48))           # a payload of ~0.2 MB
    base = metric.expose(system(), fill=0.7)
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "100kB"}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                     dashboard_address=None) as cluster, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = sweep.run(metric, base, {"camera.read_noise": [1.0, 2.0]}, progress=False,
                         scheduler=cluster.scheduler_address)
    assert not [w for w in caught if "large graph" in str(w.message)]
    assert rows == sweep.run(metric, base, {"camera.read_noise": [1.0, 2.0]}, workers=0,
                             progress=False)


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
        sweep.run(Slow(), base(), PARAMETERS, repeats=2, workers=int(sys.argv[2]),
                  out=sys.argv[1], resume=True, progress=False)
""")


def test_a_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    script = tmp_path / "slow_sweep.py"
    script.write_text(SLOW_SWEEP)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen([sys.executable, str(script), str(killed), "0"])
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
    subprocess.run([sys.executable, str(script), str(whole), "0"], check=True)
    assert table.read_text() == (whole / sweep.TABLE).read_text()
    assert table.read_text().splitlines()[:len(partial)] == partial  # kept, not recomputed
    assert len(resumed) == 16


def _dying_metric(marker, times):
    """A metric whose worker process is killed (SIGKILL) while evaluating, the first ``times``
    times (counted by the files beside ``marker``); defined here, so pickled by value."""
    class Dying:
        names = ("value",)

        def describe(self):
            return {"metric": "Dying"}

        def evaluate(self, fourf, seeds):
            for attempt in range(times):
                try:
                    os.close(os.open(f"{marker}-{attempt}", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    continue
                os.kill(os.getpid(), signal.SIGKILL)
            return [{"value": fourf.camera.read_noise + s % 7} for s in seeds]

    return Dying()


def test_a_killed_local_worker_is_replaced_and_the_table_is_whole(tmp_path):
    base = system()
    parameters = {"camera.read_noise": [1.0, 2.0, 3.0]}
    rows = sweep.run(_dying_metric(tmp_path / "killed", 1), base, parameters, workers=1,
                     out=tmp_path / "s", progress=False)
    assert rows == sweep.run(_dying_metric(tmp_path / "killed", 0), base, parameters,
                             workers=0, progress=False)
    assert (tmp_path / "killed-0").exists()                  # a worker did die


def test_workers_that_keep_dying_end_the_sweep_with_one_line_naming_resume(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(sweep, "WORKER_RETRIES", 1)
    out = tmp_path / "s"
    with pytest.raises(sweep.WorkersLost) as raised:
        sweep.run(_dying_metric(tmp_path / "killed", 2), system(),
                  {"camera.read_noise": [1.0, 2.0]}, workers=1, out=out, progress=False)
    message = str(raised.value)
    assert "\n" not in message and "died 2 times; 0 of 2 points" in message
    assert f"--resume --out {out}" in message
    assert isinstance(raised.value, OSError)                  # the CLI's one-line errors
    assert (out / sweep.SPEC).exists() and not (out / sweep.TABLE).exists()


def _children(pid):
    """Process ids whose parent is ``pid`` (Linux ``/proc``)."""
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat_file.parent.name))
    return children


def _alive(pid):
    """True while ``pid`` runs (a zombie left to a parent that does not reap it counts as
    gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists processes in /proc")
def test_local_workers_end_with_a_killed_client(tmp_path):
    script = tmp_path / "slow_sweep.py"
    script.write_text(SLOW_SWEEP)
    out = tmp_path / "s"
    client = subprocess.Popen([sys.executable, str(script), str(out), "2"])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                (out / sweep.TABLE).exists() and len(_children(client.pid)) >= 3):
            assert client.poll() is None
            time.sleep(0.05)
        children = set(_children(client.pid))   # two workers and the resource tracker
        assert len(children) >= 3
    finally:
        client.kill()
        client.wait()
    assert (out / sweep.TABLE).read_text().count("\n") < 1 + 2 * 8      # killed mid-sweep
    deadline = time.monotonic() + 10 * sweep.PARENT_POLL + 5
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _alive(pid)]


def test_folder_holds_table_settings_and_a_plot_per_field(bench, tmp_path):
    metric, base = bench
    out = tmp_path / "sweep"
    rows = sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, progress=False)
    lines = (out / sweep.TABLE).read_text().splitlines()
    assert lines[0] == "point,fourier_slm.bits,camera.read_noise,repeat,seed,error,sha256"
    assert len(lines) == 13 and float(lines[1].split(",")[-2]) == rows[0]["error"]
    spec = json.loads((out / sweep.SPEC).read_text())
    assert spec["parameters"] == PARAMETERS and spec["repeats"] == 2
    assert spec["base"]["camera"]["read_noise"] == 2.0
    assert spec["environment"]["packages"]["opticsim"] == opticsim.__version__
    for name in PARAMETERS:
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(FileExistsError, match="resume"):
        sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, progress=False)
    with pytest.raises(ValueError, match=r"other settings \(repeats: 2 there, 3 now\)"):
        sweep.run(metric, base, PARAMETERS, repeats=3, workers=0, out=out, resume=True,
                  progress=False)
    assert (out / sweep.TABLE).read_text().splitlines() == lines          # nothing lost
    tampered = (out / sweep.TABLE).read_text().replace(",2,1.0,0,", ",2,1.5,0,", 1)
    (out / sweep.TABLE).write_text(tampered)
    with pytest.raises(ValueError, match="line 2"):
        sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, resume=True,
                  progress=False)
    cells = lines[3].split(",")
    cells[-2] = repr(float(cells[-2]) / 2)                  # a result edited, nothing else
    (out / sweep.TABLE).write_text("\n".join(lines[:3] + [",".join(cells)] + lines[4:]) + "\n")
    with pytest.raises(ValueError, match="line 4 does not match its sha256"):
        sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, resume=True,
                  progress=False)
    (out / sweep.TABLE).write_text("\n".join(lines[:3] + lines[5:]) + "\n")  # point 1 dropped
    resumed = sweep.run(metric, base, PARAMETERS, repeats=2, workers=0, out=out, resume=True,
                        progress=False)
    assert resumed == rows and (out / sweep.TABLE).read_text().splitlines() == lines


def test_overwrite_removes_the_earlier_sweeps_files_and_no_other(bench, tmp_path):
    metric, base = bench
    out = tmp_path / "sweep"
    sweep.run(metric, base, {"camera.read_noise": [1.0, 2.0]}, workers=0, out=out,
              progress=False)
    (out / "holiday.png").write_bytes(b"the user's")
    (out / "notes.csv").write_bytes(b"the user's")
    sweep.run(metric, base, {"fourier_slm.bits": [4, 8]}, workers=0, out=out, overwrite=True,
              progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["holiday.png", "notes.csv", "fourier_slm.bits.png", sweep.TABLE, sweep.SPEC]
        + [sweep.PARQUET] * ((out / sweep.PARQUET).exists()))     # the old plot is gone
    assert (out / "holiday.png").read_bytes() == (out / "notes.csv").read_bytes() == b"the user's"


def test_a_table_that_is_not_utf8_is_named_on_resume(bench, tmp_path):
    spoil = b"\xff\xfe point"
    metric, base = bench
    out = tmp_path / "s"
    sweep.run(metric, base, {"camera.read_noise": [1.0]}, workers=0, out=out, progress=False)
    (out / sweep.TABLE).write_bytes(spoil)
    with pytest.raises(ValueError, match=f"cannot read the sweep table {out / sweep.TABLE}: "):
        sweep.run(metric, base, {"camera.read_noise": [1.0]}, workers=0, out=out, resume=True,
                  progress=False)
    assert (out / sweep.TABLE).read_bytes() == spoil


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


def test_plots_give_units_on_x_and_the_metric_on_y():
    records = [{"laser.power": p, "lens2.diameter": d, "readout": "intensity", "error": e}
               for p, d, e in ((1e-5, 2e-3, 0.1), (1e-8, 2e-3, 0.4), (1e-6, 4e-3, 0.2))]
    names = ["laser.power", "lens2.diameter", "readout"]
    definition = sweep.definitions(sweep.KernelError(kernel(), images()))["error"]
    power = sweep.plot_data(records, "laser.power", "error", ["laser.power"], None, definition)
    assert power["xlabel"] == "laser.power (W)" and power["xscale"] == "log"   # three decades
    (_, x, mean, _), = power["series"]
    assert x == [1e-8, 1e-6, 1e-5] and list(mean) == [0.4, 0.2, 0.1]          # in order
    assert power["ylabel"].startswith(f"error: {definition}") and "‖" in definition
    undefined = type("Undefined", (), {"names": ("a", "b")})()      # a metric defining none
    assert sweep.definitions(undefined) == {"a": "a", "b": "b"}
    diameter = sweep.plot_data(records, "lens2.diameter", "error", ["lens2.diameter"])
    assert diameter["xlabel"] == "lens2.diameter (m)" and diameter["xscale"] == "linear"
    assert sweep.plot_data(records, "readout", "error", names)["xlabel"] == "readout"
    with_none = [{"lens2.diameter": d, "error": 0.1} for d in (None, 2e-3)]
    assert sweep.plot_data(with_none, "lens2.diameter", "error", ["lens2.diameter"])[
        "xticks"] == ["None", "2 mm"]
    for field, unit in (("fourier_slm.crosstalk", "px"), ("camera.exposure", "s"),
                        ("fourier_slm.fill_factor", "fraction of the pixel area"),
                        ("camera.bits", "bits"), ("lens1.zernike.4", "waves RMS")):
        rows = [{field: 1, "error": 0.1}]
        assert sweep.plot_data(rows, field, "error", [field])["xlabel"] == f"{field} ({unit})"
