"""``opticsim sweep``: a kernel's 4f error, or a student's accuracy, over a grid of the bench's
element fields, on local processes or a Dask cluster (:mod:`opticsim.sweep`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .options import bench, bench_options, data_options


def add_parser(commands) -> None:
    from ..sweep import add_run_options, parameter

    sweep = commands.add_parser(
        "sweep", help="a kernel's 4f error or a student's accuracy over a grid of hardware "
        "fields, on local processes or a Dask cluster",
        description="Evaluate a metric over a grid of the bench's element fields "
        "(--param fourier_slm.bits=2,4,8 --param camera.read_noise=1,4,16; a Zernike term as "
        "lens1.zernike.4), repeated over noise seeds derived from each point: the relative "
        "error of a random kernel's convolution through the bench, or with --checkpoint a "
        "trained optical student's test accuracy. Writes sweep.csv (after each point; "
        "sweep.parquet too with pyarrow), sweep.json and a plot per field into --out; "
        "--resume continues an interrupted sweep.")
    sweep.add_argument("--param", action="append", type=parameter, metavar="FIELD=V1,V2,…",
                       help="a field and its values (no default: one is needed; repeat for several "
                       "fields)")
    sweep.add_argument("--one-at-a-time", dest="mode", action="store_const",
                       const="one-at-a-time", default="grid",
                       help="move each field alone from the bench (default: the full grid)")
    sweep.add_argument("--checkpoint", type=Path,
                       help="an optical student's checkpoint: sweep its test accuracy "
                       "(default: the kernel error)")
    sweep.add_argument("--kernel-size", type=int, default=9,
                       help="size of the random kernel of the error metric (default 9)")
    sweep.add_argument("--kernel-seed", type=int, default=7,
                       help="seed of the random kernel of the error metric")
    sweep.add_argument("--images", type=int,
                       help="test images per point (default 16 for the kernel error, the whole "
                       "test set for a student)")
    data_options(sweep)
    bench_options(sweep)
    add_run_options(sweep, out_help="default runs/sweep-YYYYmmdd-HHMMSS")
    sweep.set_defaults(handler=run)


def run(args, argv) -> int:
    from kd.data import load
    from kd.hardware import expose

    from ..sweep import KernelError, run_options
    from ..sweep import run as sweep_grid

    if not args.param:
        raise ValueError("give at least one --param FIELD=V1,V2,… to sweep")
    parameters = dict(args.param)
    if len(parameters) != len(args.param):
        raise ValueError("each --param field may be given once")
    hardware_bench = bench(args)
    test = load(args.dataset, "test", seed=args.data_seed, root=args.data_root,
                size=args.image_size)
    count = args.images if args.images is not None else (
        len(test) if args.checkpoint is not None else 16)
    images = test.images[:count]
    if args.checkpoint is not None:
        from kd.evaluate import HardwareAccuracy
        from kd.train import restore_student

        student = restore_student(args.checkpoint, test.images.shape[1], len(test.classes))
        train = load(args.dataset, "train", seed=args.data_seed, root=args.data_root,
                     size=args.image_size)
        calibration = train.images[:args.calibration_images]
        metric = HardwareAccuracy(student, images, test.labels[:count], calibration)
        base = expose(hardware_bench, student, calibration)
    else:
        kernel = np.random.default_rng(args.kernel_seed).standard_normal((args.kernel_size,) * 2)
        metric = KernelError(kernel, images[:, 0])
        base = metric.expose(hardware_bench.fourf(images.shape[-2:], kernel.shape),
                             hardware_bench.fill)
    folder = Path(args.out)
    records = sweep_grid(metric, base, parameters, mode=args.mode,
                  **{**run_options(args), "out": folder})
    for name in metric.names:
        values = [r[name] for r in records]
        print(f"{name}: {min(values):.4g} … {max(values):.4g} over {len(records)} rows")
    print(f"wrote {folder}/ ({', '.join(sorted(p.name for p in folder.iterdir()))})")
    return 0
