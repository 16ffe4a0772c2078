"""The environment record written beside every result: versions of the packages that can
change a number, the CPU, thread counts and the numerical libraries loaded."""

import json
import platform

import numba
import numpy
import pyfftw
import scipy
import torch

import opticsim
from opticsim import fft
from opticsim.environment import cpu_model, environment


def test_the_record_names_versions_cpu_threads_and_libraries():
    record = environment()
    assert json.loads(json.dumps(record)) == record                # JSON as it is
    assert record["packages"] == {
        "opticsim": opticsim.__version__, "python": platform.python_version(),
        "torch": torch.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
        "numba": numba.__version__, "pyfftw": pyfftw.__version__}
    assert record["cpu"]["model"] == cpu_model() and record["cpu"]["usable_cores"] >= 1
    assert record["cpu"]["numba_target"]
    assert record["threads"] == {"torch": torch.get_num_threads(),
                                 "numba": numba.config.NUMBA_NUM_THREADS, "fft": fft.threads()}
    assert record["fft"] == {"backend": fft.BACKEND, "vendor": fft.VENDOR}
    assert record["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["torch"]["blas"]                                 # built in, e.g. "mkl"
    assert {"blas", "openmp"} <= {library["api"] for library in record["libraries"]}
    assert all(library["threads"] >= 1 for library in record["libraries"])
    assert record["device"] == "cpu"


def test_cpu_model_reads_cpuinfo_and_falls_back_to_the_platform(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B45 "
                   "128-Core Processor\nprocessor\t: 1\nmodel name\t: AMD EPYC 9B45 "
                   "128-Core Processor\n")
    arm = tmp_path / "arm"
    arm.write_text("Processor\t: ARMv7 Processor rev 4 (v7l)\nBogoMIPS\t: 38.40\n")
    assert cpu_model(x86) == "AMD EPYC 9B45 128-Core Processor"
    assert cpu_model(arm) == "ARMv7 Processor rev 4 (v7l)"
    assert cpu_model(tmp_path / "absent") == (platform.processor() or platform.machine()
                                              or "unknown")
