"""The ``opticsim`` command line.

- ``opticsim demo``: the main job. On the embedded cluttered-digits set it trains a nonlinear
  CNN teacher, a linear CNN baseline and the SCLC optical student without and with knowledge
  distillation, evaluates the student on a hardware bench through the engine and after
  hardware-aware fine-tuning, exports the Fourier-SLM gray levels, and writes
  ``results.json``, figures and ``report.md`` into a new run folder (:mod:`kd.experiment`);
  ``--quick`` does all of it on a small slice as a smoke test.
- ``opticsim train``: the same comparison with every knob exposed, over several ``--seeds``,
  summarised as mean ± std and each seed's 95 % interval.
- ``opticsim eval``: one checkpoint's test accuracy, and a student's on the hardware bench.
- ``opticsim sweep``: a kernel's convolution error, or a student's accuracy, over a grid of
  the bench's element fields, on local processes or a Dask cluster (:mod:`opticsim.sweep`).
- ``opticsim robustness``: a trained student's accuracy against the size of each hardware
  imperfection, as it is and after hardware-aware fine-tuning, and each imperfection's
  tolerance (:mod:`kd.robustness`), as a resumable sweep.
- ``opticsim export``: the Fourier-SLM masks of a kd student checkpoint or a saved
  ``Optical4fConv`` state as gray-level files for a real panel (:mod:`opticsim.export`).
- ``opticsim bench``: time, energy and FLOPs per image of the teacher, the digital student and
  the optical-electronic hybrid against image size (:mod:`kd.optical_vs_gpu`).
- ``opticsim presets``: the SLM, camera and laser presets with their key specs and sources
  (:mod:`opticsim.presets`).

A list option takes its values comma- or space-separated, or both: ``--channels 8,16,16``
and ``--channels 8 16 16`` are the same.

Every user error is one line ``opticsim <command>: error: …`` and a non-zero exit code; Ctrl-C
is one line (with the command that resumes a demo, train, sweep or robustness study) and exit
code 130.

Each subcommand is a module here with ``add_parser(commands)`` and ``run(args, argv)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from . import bench, demo, evaluate, export, presets, robustness, sweep, train
from .options import RUNS, Parser, check_counts, resume_command, run_folder, user_error

#: The subcommands in the order ``opticsim --help`` lists them.
COMMANDS = (demo, train, evaluate, sweep, robustness, export, bench, presets)


def parser() -> argparse.ArgumentParser:
    """The ``opticsim`` argument parser, one subcommand per job."""
    root = Parser(prog="opticsim", description="opticsim: a 4f optical bench simulator for "
                  "hybrid optical-electronic neural networks. Each command has its own --help.")
    root.add_argument("--version", action="version", version=f"opticsim {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return root


def run_script(main: Callable[[], int | None]) -> int:
    """Run an example script's ``main()`` as the command line runs a command: a user error
    (``ValueError``, ``OSError``) is one line on stderr and exit code 1, Ctrl-C one line and
    130; otherwise ``main``'s exit code (0 for None). Use as ``sys.exit(run_script(main))``."""
    prog = Path(sys.argv[0]).name
    try:
        return main() or 0
    except (ValueError, OSError) as error:
        print(f"{prog}: error: {user_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    """Run the ``opticsim`` command line on ``argv`` (default ``sys.argv[1:]``); returns the
    exit code: 0, 1 for a user error (one line on stderr), 2 for a usage error, 130 for
    Ctrl-C (one line, with the command that resumes a run)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        for option in ("out", "data_root"):
            if getattr(args, option, None) == "":
                raise ValueError(f"--{option.replace('_', '-')} must be a path, got an empty "
                                 "string")
        check_counts(args)
        if args.command in RUNS:
            args.out = str(run_folder(args))
        return args.handler(args, argv)
    except (ValueError, OSError) as error:  # FileExistsError, PermissionError… are OSErrors
        print(f"opticsim {args.command}: error: {user_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        resume = (f"; resume with: {resume_command(args, argv)}"
                  if args.command in RUNS and args.out else "")
        print(f"\nopticsim {args.command}: interrupted{resume}", file=sys.stderr)
        return 130
