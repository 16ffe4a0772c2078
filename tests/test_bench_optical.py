"""``opticsim bench`` (kd.optical_vs_gpu) runs end to end at tiny sizes and writes the JSON,
table and plot it promises (timings are not checked: benchmarks are not tests); it reports only
accuracies it is given, refuses to replace its files without --overwrite, and its argument
errors are one line."""

import json

import pytest
import torch

from opticsim.cli import main


TINY = ["--sizes", "32,16", "--measure-up-to", "16", "--repeats", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results" / "ovg.json"
    assert main(["bench", *TINY, "--out", str(out)]) == 0
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
    assert document["environment"]["cpu"]["model"]              # names the machine


def test_bench_reports_no_accuracy_it_was_not_given(tiny_run):
    out, document = tiny_run
    assert document["accuracy"] is None
    assert "Accuracy: none given" in out.with_suffix(".md").read_text()


def test_bench_refuses_to_replace_its_files_without_overwrite(tiny_run, capsys):
    out, _ = tiny_run
    before = {path: path.read_bytes() for path in out.parent.iterdir()}
    assert main(["bench", *TINY, "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("opticsim bench: error: ") and "--overwrite" in error
    assert {path: path.read_bytes() for path in out.parent.iterdir()} == before
    folder = out.parent / "folder"                  # --out without .json: a folder
    folder.mkdir()
    (folder / "optical_vs_gpu.png").write_bytes(b"")  # any one of the three files counts
    assert main(["bench", *TINY, "--out", str(folder)]) == 1
    assert main(["bench", *TINY, "--out", str(folder), "--overwrite"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "optical_vs_gpu.json", "optical_vs_gpu.md", "optical_vs_gpu.png",
        "optical_vs_gpu_map.png"]


def _run_results(folder, scores: dict, summary: bool):
    """A minimal results.json of one run, or summary.json of opticsim train, of ``scores``
    (model → (mean, std))."""
    experiment = {"dataset": "cluttered", "seed": 3}
    if summary:
        document = {"command": "opticsim train --seeds 3 4", "seeds": [3, 4],
                    "experiment": experiment,
                    "summary": {key: {"accuracy": mean, "accuracy_std": std, "per_seed": []}
                                for key, (mean, std) in scores.items()}}
    else:
        document = {"command": "opticsim demo", "experiment": experiment,
                    "data": {"image_shape": [1, 48, 48]},
                    **{key: {"accuracy": mean} for key, (mean, _) in scores.items()}}
    path = folder / ("summary.json" if summary else "results.json")
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("summary", [True, False])
def test_bench_reports_the_accuracies_of_the_run_it_is_given(tmp_path, summary):
    scores = {"teacher": (0.8125, 0.0125), "student": (0.6875, 0.0375),
              "student_hardware": (0.5625, 0.0625), "baseline": (0.25, 0.0)}
    source = _run_results(tmp_path, scores, summary)
    out = tmp_path / "ovg.json"
    assert main(["bench", *TINY, "--accuracy", str(source), "--out", str(out)]) == 0
    accuracy = json.loads(out.read_text())["accuracy"]
    expected = {"teacher": scores["teacher"], "student": scores["student"],
                "hybrid": scores["student_hardware"]}
    for path, (mean, std) in expected.items():
        assert accuracy[path] == [mean, std if summary else None]
    table = out.with_suffix(".md").read_text()
    assert ("0.812 ± 0.013" in table) == summary and "0.562" in table
    assert str(source) in table and ("48×48" in table) != summary


def test_bench_refuses_an_accuracy_file_that_is_no_run(tmp_path, capsys):
    source = tmp_path / "other.json"
    source.write_text(json.dumps({"teacher": {"accuracy": 0.5}}))
    out = tmp_path / "ovg.json"
    assert main(["bench", *TINY, "--accuracy", str(source), "--out", str(out)]) == 1
    assert main(["bench", *TINY, "--accuracy", str(tmp_path / "none.json"),
                 "--out", str(out)]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert "student_hardware" in errors[0] and "none.json does not exist" in errors[1]
    assert not out.exists()


def test_bench_argument_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    bad = [["--sizes", "16,x"], ["--sizes", "4"], ["--exposure", "-1"],
           ["--fourier-slm", "santec-slm-200"], ["--measure-up-to", "8"],
           ["--camera", "no-such-camera"], ["--efficiency", "0"], ["--processors", "imx250"],
           ["--teacher", "no-such-teacher"]]
    codes = [main(["bench", *options, "--out", out]) for options in bad]
    assert codes == [2, 1, 1, 1, 1, 1, 1, 1, 1]         # 2: argparse's usage error
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == len(bad)
    assert all(line.startswith("opticsim bench: error: ") for line in errors)
    for line, word in zip(errors, ("--sizes", "sizes", "exposure", "frame_rate",
                                   "measure_up_to", "no-such-camera", "efficiency",
                                   "processor presets", "no-such-teacher")):
        assert word in line
    assert not (tmp_path / "x.json").exists()


def test_modelled_processors_designs_and_map_follow_the_cost_model(tiny_run):
    """The roofline rows are kd.cost's steps on the preset; the best design per size is
    kd.cost.best_design's; the map's break-even rate is the first map rate at which the
    hybrid is as fast as that device's teacher."""
    from kd import cost, optical_vs_gpu
    from opticsim import presets

    out, document = tiny_run
    networks = optical_vs_gpu.models("demo")
    a100 = presets.processor("a100-sxm4-80gb")
    rows = document["devices"]["a100-sxm4-80gb"]["rows"]
    assert not document["devices"]["a100-sxm4-80gb"]["measured"]
    for row in rows:
        steps = cost.teacher_steps(networks["teacher"], row["size"])
        assert row["seconds"]["teacher"] == pytest.approx(cost.roofline_seconds(steps, a100, 0.5))
        assert row["joules"]["teacher"] == pytest.approx(row["seconds"]["teacher"] * 400.0)
    front_end = optical_vs_gpu.Settings().front_end()
    found = document["crossover_map"]
    for index, (design, row) in enumerate(zip(document["designs"], rows)):
        best, optics = cost.best_design(front_end, design["size"], 13, 16)
        assert (design["channels_per_frame"], design["images_per_frame"]) == (
            best.channels_per_frame, best.images_per_frame)
        teacher, backend = row["seconds"]["teacher"], row["seconds"]["hybrid_backend"]
        assert design["speedup"]["a100-sxm4-80gb"] == pytest.approx(
            teacher / max(optics["time"], backend))
        rate = found["break_even"]["a100-sxm4-80gb"]["rate"][index]
        faster = [max(time, backend) <= teacher for time in found["by_rate"][index]]
        assert rate == (found["rates"][faster.index(True)] if any(faster) else None)
    assert out.with_name(out.stem + "_map.png").read_bytes().startswith(b"\x89PNG")
    table = out.with_suffix(".md").read_text()
    assert "Best design per size" in table and "Break-even contour" in table
    assert any("roofline" in line or "max(F/(η·P)" in line for line in document["assumptions"])


def test_paper_teacher_and_checkpoints_choose_the_networks(tmp_path):
    from kd import optical_vs_gpu
    from kd.train import Settings, build_model, save_checkpoint

    out = tmp_path / "paper.json"
    assert main(["bench", "--teacher", "paper", "--sizes", "16", "--measure-up-to", "16",
                 "--repeats", "1", "--processors", "jetson", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["models"]["teacher"]["channels"] == [32, 128, 256]
    assert document["models"]["teacher"]["pools"] == []
    assert document["models"]["student"]["optical_outputs"] == 256
    assert document["models"]["student"]["collapsed_kernel"] == 7
    assert list(document["devices"])[1:] == ["jetson-agx-orin-64gb"]
    settings = Settings(model="teacher", channels=(3, 5), hidden=(8,), downsample=1)
    path = tmp_path / "teacher.pt"
    save_checkpoint(path, {"settings": settings.to_dict(), "epoch": 1, "history": {},
                           "model": build_model(settings, 2, 4).state_dict(),
                           "rng": torch.get_rng_state()})
    networks = optical_vs_gpu.models(str(path))
    assert networks["teacher"].features[0].in_channels == 2
    assert networks["student"].cascade.channels == (3, 5)
    assert networks["student"].backend.layers[-1].out_features == 4
    with pytest.raises(ValueError, match="teacher must be one of"):
        optical_vs_gpu.models(str(tmp_path / "none.pt"))
