"""``opticsim demo``: the main job, the demo's experiment (:mod:`kd.experiment`) with one seed
into a run folder."""

from __future__ import annotations

from pathlib import Path

from .experiment import experiment_options, print_scores, run_one


def add_parser(commands) -> None:
    demo = commands.add_parser(
        "demo", help="the main job: teacher, linear baseline and optical student without and "
        "with KD, on ideal optics and on a hardware bench",
        description="Distil a nonlinear CNN into an optical 4f student on the embedded "
        "cluttered digits; evaluate it ideal, on a hardware bench through the engine and after "
        "hardware-aware fine-tuning; write results.json, figures, report.md and the SLM gray "
        "levels into a run folder (default runs/demo-YYYYmmdd-HHMMSS).")
    experiment_options(demo, seeds=False)
    demo.set_defaults(handler=run)


def run(args, argv) -> int:
    from kd.experiment import SMOKE

    folder = Path(args.out)
    results = run_one(args, args.seed, folder, argv)
    print_scores(results)
    print(f"wrote {folder}/ (results.json, report.md, figures, slm_gray.npz) in "
          f"{results['elapsed_seconds']:.0f} s" + (f"; quick preset: {SMOKE}"
                                                    if results["preset"] == "quick" else ""))
    return 0
