"""``opticsim bench``: time, energy and FLOPs per image of the teacher, the digital student and
the optical-electronic hybrid against image size (:mod:`kd.optical_vs_gpu`)."""

from __future__ import annotations

from pathlib import Path

from .options import command_line, integers


def run(args, argv) -> int:
    from kd import optical_vs_gpu

    settings = optical_vs_gpu.Settings(
        teacher=args.teacher, sizes=args.sizes, measure_up_to=args.measure_up_to,
        repeats=args.repeats, threads=args.threads,
        processors=tuple(name for name in args.processors.split(",") if name.strip()),
        efficiency=args.efficiency, laser=args.laser,
        fourier_slm=args.fourier_slm, input_slm=args.input_slm, camera=args.camera,
        exposure=args.exposure, channels_per_frame=args.channels_per_frame,
        images_per_frame=args.images_per_frame, camera_roi=args.camera_roi,
        adc_energy=args.adc_energy, cpu_core_power=args.cpu_core_power,
        gpu_power=args.gpu_power)
    accuracy = None if args.accuracy is None else optical_vs_gpu.accuracies(args.accuracy)
    optical_vs_gpu.run(settings, Path(args.out), command_line(argv), accuracy=accuracy,
                       overwrite=args.overwrite)
    return 0


def add_parser(commands) -> None:
    """The ``bench`` subcommand; the bench checks the ranges of its values."""
    from kd import cost, optical_vs_gpu
    from kd.hardware import Bench

    bench = commands.add_parser(
        "bench", help="optical front end + electronic back end against the electronic "
        "teacher: time, energy and FLOPs per image against image size",
        description="Count FLOPs and bytes of a kd teacher and its optical student, time them "
        "with torch on this CPU (and CUDA when present), model GPUs by their rooflines, model "
        "the optical front end from the presets' frame rates and powers, search its designs "
        "(channels and images per camera frame), and write a JSON, Markdown tables, a log-log "
        "plot of time and energy per image against size with the crossover size, and a "
        "crossover map against frame rate and channels per frame (kd.optical_vs_gpu). It "
        "measures no accuracy: --accuracy reports those of a run.")
    default = Bench()
    settings = optical_vs_gpu.Settings()
    bench.add_argument("--teacher", default=settings.teacher, metavar="demo|paper|CHECKPOINT",
                       help="the electronic network and its optical student: the demo's, the "
                       "paper's (3×3 convolutions 32/128/256 at full resolution) or a kd "
                       "checkpoint's (default %(default)s)")
    integers(bench, "--sizes", default=optical_vs_gpu.SIZES, help="image sides N")
    bench.add_argument("--measure-up-to", type=int,
                       default=settings.measure_up_to,
                       help="time the models with torch up to this N; larger sizes are "
                       "modelled from FLOPs (default %(default)s)")
    bench.add_argument("--repeats", type=int, default=3,
                       help="timed calls per model and size; the fastest counts (default 3)")
    bench.add_argument("--threads", type=int, default=settings.threads,
                       help="torch CPU threads (default %(default)s: all of this machine's)")
    bench.add_argument("--processors", default=",".join(optical_vs_gpu.PROCESSORS),
                       help="processor presets modelled by their rooflines, comma-separated, "
                       "or '' for none (default %(default)s)")
    bench.add_argument("--efficiency", type=float, default=settings.efficiency,
                       help="fraction of a processor's peak FLOP/s and bandwidth its layers "
                       "reach (assumed; default %(default)s)")
    devices = bench.add_argument_group("optical bench (preset names: see `opticsim presets`)")
    devices.add_argument("--laser", default=default.laser, help="laser preset")
    devices.add_argument("--fourier-slm", default=default.fourier_slm,
                         help="Fourier SLM preset")
    devices.add_argument("--input-slm", help="input SLM preset (default: a second Fourier SLM "
                         "panel)")
    devices.add_argument("--camera", default=default.camera, help="camera preset")
    devices.add_argument("--exposure", type=float, default=default.exposure,
                         help="camera exposure in s (default %(default)s)")
    devices.add_argument("--channels-per-frame", type=int, default=1,
                         help="output channels tiled in one camera frame (default 1: one "
                         "frame per channel)")
    devices.add_argument("--images-per-frame", type=int, default=1,
                         help="input tiles side by side on the input SLM (default 1)")
    devices.add_argument("--camera-roi", action="store_true",
                         help="the camera reads only the rows its outputs cover, its frame "
                         "rate growing as its rows over those")
    power = bench.add_argument_group("assumed constants")
    power.add_argument("--adc-energy", type=float, default=cost.ADC_ENERGY,
                       help="J per ADC conversion (default %(default)s)")
    power.add_argument("--cpu-core-power", type=float, default=cost.CPU_CORE_POWER,
                       help="W per CPU thread running the models (default %(default)s)")
    power.add_argument("--gpu-power", type=float, default=cost.GPU_POWER,
                       help="W of a CUDA GPU running them (default %(default)s)")
    bench.add_argument("--accuracy", type=Path, metavar="RESULTS.json",
                       help="report the accuracies of this run: an opticsim demo results.json "
                       "or an opticsim train summary.json (default: none)")
    bench.add_argument("--out", default="bench-results",
                       help="folder for optical_vs_gpu.{json,md,png} and optical_vs_gpu_map.png, "
                       "or a .json file with the others beside it (default %(default)s)")
    bench.add_argument("--overwrite", action="store_true",
                       help="replace the JSON, table and plot of an earlier run")
    bench.set_defaults(handler=run)
