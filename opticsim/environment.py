"""The machine a result was computed on, recorded beside it (``results.json``, ``summary.json``,
``sweep.json``, ``opticsim eval``): package versions, CPU, thread counts and the BLAS, OpenMP
and FFT libraries loaded. Another CPU, thread count or library rounds floating point
differently; training amplifies that into other, statistically equivalent scores, so a number
is only comparable with one from the same environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
from pathlib import Path

from . import __version__, fft

# Distribution names of the packages whose versions can change a result.
PACKAGES = ("torch", "numpy", "scipy", "numba", "pyFFTW")


def cpu_model(cpuinfo="/proc/cpuinfo") -> str:
    """The CPU's model name: the first ``model name`` (x86) or ``Processor``/``cpu model``
    (Arm, MIPS) line of ``cpuinfo``, else :func:`platform.processor`, else the machine type."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    found = re.search(r"^(?:model name|Processor|cpu model)\s*:\s*(\S.*)$", text, re.MULTILINE)
    if found:
        return found.group(1).strip()
    return platform.processor() or platform.machine() or "unknown"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _libraries() -> list[dict]:
    """The BLAS and OpenMP libraries loaded in this process (threadpoolctl, which comes with
    scikit-learn), each with its version, threads and, for OpenBLAS, the kernels chosen."""
    from threadpoolctl import threadpool_info

    keys = {"user_api": "api", "internal_api": "library", "version": "version",
            "num_threads": "threads", "architecture": "architecture"}
    return [{**{new: info[old] for old, new in keys.items() if old in info},
             "file": os.path.basename(info["filepath"])} for info in threadpool_info()]


def _torch_build(torch) -> dict:
    """The BLAS/LAPACK torch was built with (``BLAS_INFO``, ``LAPACK_INFO``: linked in, so
    threadpoolctl does not see them) and the CPU instruction set its kernels dispatch to."""
    settings = dict(re.findall(r"\b(BLAS_INFO|LAPACK_INFO)=([^,\s]+)", torch.__config__.show()))
    return {"blas": settings.get("BLAS_INFO"), "lapack": settings.get("LAPACK_INFO"),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _host_cpu_name() -> str:
    """The CPU LLVM (numba) compiles for when ``NUMBA_CPU_NAME`` is not set."""
    from llvmlite import binding

    return binding.get_host_cpu_name()


def environment(device: str = "cpu") -> dict:
    """What a result depends on beyond its settings: ``packages`` (versions; ``None`` where
    not installed), ``cpu`` (model, logical cores of the machine and usable by this process,
    the instruction set numba compiles for), ``threads`` (torch's intra-op threads, numba's,
    and opticsim's FFT and kernel workers), ``fft`` (``OPTICSIM_FFT``'s backend, "auto" for
    :data:`opticsim.fft.RULE`, and the CPU vendor the rule reads), ``torch`` (its BLAS, LAPACK and
    CPU capability), ``libraries`` (BLAS/OpenMP loaded) and the torch ``device`` (with the
    GPU's name for CUDA)."""
    import numba
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {
        "packages": {"opticsim": __version__, "python": platform.python_version(),
                     **{name.lower(): _version(name) for name in PACKAGES}},
        "platform": platform.platform(),
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count(),
                "usable_cores": fft.threads(),
                "numba_target": numba.config.CPU_NAME or _host_cpu_name()},
        "threads": {"torch": torch.get_num_threads(), "numba": numba.config.NUMBA_NUM_THREADS,
                    "fft": fft.threads()},
        "fft": {"backend": fft.BACKEND, "vendor": fft.VENDOR},
        "torch": _torch_build(torch),
        "libraries": _libraries(),
        "device": str(device),
    }
