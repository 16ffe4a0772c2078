"""``opticsim train``: the demo's comparison with every knob, over several seeds, summarised as
mean ± std and each seed's 95 % interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..files import check_folder, write_atomic
from .experiment import SEED_KEYS, experiment, experiment_options, run_one
from .options import command_line, device


def add_parser(commands) -> None:
    train = commands.add_parser(
        "train", help="the demo's comparison with every knob, over several seeds",
        description="Run the teacher / baseline / student comparison for each of --seeds into "
        "OUT/seed-S/ and summarise it as mean ± std in OUT/summary.{json,md}.")
    experiment_options(train, seeds=True)
    train.set_defaults(handler=run)


def summarise(runs: dict) -> dict:
    """Mean, sample standard deviation and range over seeds of each model's accuracy, with
    each seed's 95 % interval; ``runs`` maps seed → results."""
    summary = {}
    for key in SEED_KEYS:
        values = np.array([results[key]["accuracy"] for results in runs.values()])
        summary[key] = {"accuracy": float(values.mean()),
                        "accuracy_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "range": [float(values.min()), float(values.max())],
                        "per_seed": values.tolist(),
                        "per_seed_interval": [results[key]["interval"]
                                              for results in runs.values()],
                        "n": [results[key]["n"] for results in runs.values()]}
    gains = np.array([r["student"]["accuracy"] - r["student_no_kd"]["accuracy"]
                      for r in runs.values()])
    summary["kd_gain"] = {"mean": float(gains.mean()),
                          "std": float(gains.std(ddof=1)) if len(gains) > 1 else 0.0,
                          "per_seed": gains.tolist()}
    return summary


def summary_markdown(summary: dict, seeds, command: str) -> str:
    """The table of :func:`summarise` in Markdown: mean ± std, range and each seed's score
    with its 95 % interval."""
    from kd.evaluate import accuracy_text

    lines = [f"Test accuracy over seeds {', '.join(map(str, seeds))}: mean ± sample std, range, "
             "and each seed's score [95 % Wilson interval from its test images]:", "",
             "| model | mean ± std | range | per seed [95 % interval] |", "|---|---|---|---|"]
    for key in SEED_KEYS:
        entry = summary[key]
        per_seed = [accuracy_text({"accuracy": value, "interval": interval})
                    for value, interval in zip(entry["per_seed"], entry["per_seed_interval"])]
        lines.append(f"| {key} | {entry['accuracy']:.3f} ± {entry['accuracy_std']:.3f} | "
                     f"{entry['range'][0]:.3f} – {entry['range'][1]:.3f} | "
                     + ", ".join(per_seed) + " |")
    gain = summary["kd_gain"]
    lines += ["", f"KD gain (student − student_no_kd): {gain['mean']:+.3f} ± {gain['std']:.3f} "
              "(" + ", ".join(f"{v:+.3f}" for v in gain["per_seed"]) + ")", "",
              f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def run(args, argv) -> int:
    from kd.figures import accuracy_bars

    from ..environment import environment

    folder = Path(args.out)
    device(args.device)
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds must be distinct, got {' '.join(map(str, args.seeds))}")
    experiment(args, args.seeds[0])            # bad settings fail before any folder is made
    if not args.resume:                         # made by the first run, once its data loaded
        check_folder(folder, args.overwrite)
    runs = {}
    for seed in args.seeds:
        runs[seed] = run_one(args, seed, folder / f"seed-{seed}", argv)
    summary = summarise(runs)
    command = command_line(argv)
    document = {"command": command, "opticsim_version": __version__, "seeds": list(args.seeds),
                "summary": summary,
                "experiment": {k: v for k, v in runs[args.seeds[0]]["experiment"].items()
                               if k != "seed"},
                "environment": environment(args.device)}
    write_atomic(folder / "summary.json", (json.dumps(document, indent=2) + "\n").encode())
    table = summary_markdown(summary, args.seeds, command)
    write_atomic(folder / "summary.md", table.encode())
    write_atomic(folder / "accuracy.png", accuracy_bars(
        summary, title=f"test accuracy, mean ± std over seeds {list(args.seeds)}"))
    print(table)
    print(f"wrote {folder}/ (summary.json, summary.md, accuracy.png, seed-*/)")
    return 0
