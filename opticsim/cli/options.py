"""What the ``opticsim`` subcommands share: the parser class, the option groups (data, bench,
progress and device), list-of-integers options, range checks of counts, and the run folder of
the commands that resume (``demo``, ``train``, ``sweep``, ``robustness``)."""

from __future__ import annotations

import argparse
import datetime
import shlex
from pathlib import Path

from .. import checks

# The commands that write a run folder and resume it, and the file that marks a run there.
RUNS = {"demo": "experiment.json", "train": "seed-*/experiment.json", "sweep": "sweep.json",
        "robustness": "points/sweep.json"}


class HelpFormatter(argparse.HelpFormatter):
    """Help that gives every option's default: appended as ``(default X)`` unless the help
    already says it; flags and options without a default (None) say what they do instead."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or not action.option_strings or action.nargs == 0
                or default is None or default is argparse.SUPPRESS):
            return text
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        shown = f"default {default}".replace("%", "%%")
        return f"{text} ({shown})" if text else shown


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, as every other user error
    (argparse would print the whole usage first), and whose help gives every default
    (:class:`HelpFormatter`); subcommand parsers inherit both."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Integer options and their least values, checked before any work so that the error names the
# option (the libraries name their arguments, and some counts only matter later in a run).
LEAST = {"images": 1, "kernel_size": 1, "kernel_seed": 0, "calibration_images": 1,
         "data_seed": 0, "seed": 0, "seeds": 0, "repeats": 1, "workers": 0, "train_size": 1,
         "image_size": 1, "epochs": 1, "batch_size": 1, "validation_images": 1,
         "finetune_images": 1, "finetune_epochs": 1, "test_images": 1, "input_bits": 1,
         "channel": 0, "fill": 0}


def check_counts(args: argparse.Namespace) -> None:
    """``ValueError`` naming the option when an integer option of :data:`LEAST` is below its
    least value."""
    for option, least in LEAST.items():
        values = getattr(args, option, None)
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if value is not None:
                checks.integer(f"--{option.replace('_', '-')}", value, least)


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas or spaces, "
                                         f"got {text!r}")


class _Integers(argparse.Action):
    """Joins the comma-separated groups of a list option given space-separated
    (``8,16 16`` → ``(8, 16, 16)``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, tuple(n for group in values for n in group))


def integers(group, *names, default, help: str) -> None:
    """Add a list-of-integers option to ``group``, taking ``1,2,3``, ``1 2 3`` or both."""
    group.add_argument(*names, type=_csv_ints, nargs="+", action=_Integers, metavar="N",
                       default=tuple(default),
                       help=f"{help} (default {','.join(map(str, default))})")


def command_line(argv) -> str:
    return "opticsim " + " ".join(argv)


def device(name: str) -> str:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device must be a torch device such as cpu or cuda, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is available here")
    return name


def run_folder(args) -> Path:
    """The run folder of a command of :data:`RUNS`: ``--out``; with ``--resume`` alone the run
    folder ``runs/<command>-*`` whose run started last; else a new ``runs/<command>-<time>``."""
    if args.out:
        return Path(args.out)
    marker = RUNS[args.command]
    if args.resume:
        started = {folder: max(path.stat().st_mtime for path in folder.glob(marker))
                   for folder in Path("runs").glob(f"{args.command}-*")
                   if any(folder.glob(marker))}
        if not started:
            raise ValueError(f"--resume without --out continues the latest run folder "
                             f"runs/{args.command}-* (one holding {marker}), and there is none "
                             f"in {Path.cwd()}; give the run folder with --out")
        return max(started, key=started.get)
    return Path(datetime.datetime.now().strftime(f"runs/{args.command}-%Y%m%d-%H%M%S"))


def resume_command(args, argv) -> str:
    """The command line that resumes the interrupted run of ``argv``: the same options with
    its run folder as ``--out``, ``--resume`` and no ``--overwrite``."""
    words = [word for word in argv if word != "--overwrite"]
    if not any(word == "--out" or word.startswith("--out=") for word in words):
        words += ["--out", str(args.out)]
    if "--resume" not in words:
        words.append("--resume")
    return "opticsim " + shlex.join(words)


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bars")
    parser.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda)")


def data_options(parser: argparse.ArgumentParser) -> None:
    from kd.data import DATASETS

    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default="cluttered", choices=DATASETS,
                       help="data set (default cluttered: digits on cluttered 64×64 scenes)")
    group.add_argument("--data-root", help="folder of the MNIST / Fashion-MNIST / CIFAR-10 files "
                       "(no default: needed for those data sets)")
    group.add_argument("--image-size", type=int,
                       help="resample the images to this size (default: the data set's own)")
    group.add_argument("--data-seed", type=int, default=0,
                       help="seed of the embedded data set (default 0)")


def bench(args: argparse.Namespace):
    """The :class:`kd.hardware.Bench` of the options of :func:`bench_options`."""
    from kd.hardware import Bench

    return Bench(laser=args.laser, fourier_slm=args.fourier_slm, camera=args.camera,
                 exposure=args.exposure, input_bits=args.input_bits)


def bench_options(parser: argparse.ArgumentParser) -> None:
    from kd.hardware import Bench

    default = Bench()
    group = parser.add_argument_group("hardware bench (preset names: see `opticsim presets`)")
    group.add_argument("--laser", default=default.laser, help="laser preset")
    group.add_argument("--fourier-slm", default=default.fourier_slm,
                       help=f"phase-only Fourier SLM preset (default {default.fourier_slm})")
    group.add_argument("--camera", default=default.camera, help="camera preset")
    group.add_argument("--exposure", type=float, default=default.exposure,
                       help=f"camera exposure in s (default {default.exposure:g})")
    group.add_argument("--input-bits", type=int, default=default.input_bits,
                       help="bit depth of the amplitude input SLM")
    group.add_argument("--calibration-images", type=int, default=256,
                       help="training images that set the exposure and camera gain "
                       "(default 256)")


def user_error(error: Exception) -> str:
    """One line for a user error: an ``OSError`` as ``path: reason`` (the path the user gave,
    not a temporary file beside it), anything else as its message."""
    if isinstance(error, OSError) and error.strerror:
        path = error.filename2 or error.filename
        return f"{path}: {error.strerror}" if path else error.strerror
    return " ".join(str(error).split())
