"""Same inputs and seed, same frames, bit for bit, in every process: fresh interpreters at two
threads and at one give identical ``FourF.run`` frames, on the complex path, the real-input path
(from 512²) and through a camera's noise, on the backend the FFT rule picks on this machine and
on each deterministic backend ``OPTICSIM_FFT`` may name."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

# Prints one digest per case; run in fresh processes by the test below.
FRAMES = r"""if True:
    import hashlib, os, sys
    if sys.argv[1] == "1":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy as np
    from opticsim import SLM, Camera, FourF, Laser, Lens, fft

    def digest(array):
        return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]

    rng = np.random.default_rng(7)
    images = rng.random((3, 40, 40))
    kernel = rng.standard_normal((9, 9))
    lens = Lens(0.1, diameter=12e-3, zernike={4: 0.05})
    ideal = FourF(Laser(633e-9, 1e-3), lens, lens, (192, 160), 8e-6)
    fourier_pitch = 633e-9 * 0.1 / (512 * 8e-6)
    hardware = FourF(Laser(633e-9, 1e-3), Lens(0.1), Lens(0.1), 512, 8e-6,
                     input_slm=SLM((512, 512), 8e-6, mode="amplitude", bits=8),
                     fourier_slm=SLM((512, 512), fourier_pitch, mode="phase", bits=8,
                                     crosstalk=0.5),
                     camera=Camera((96, 96), 8e-6, exposure=2e-6, read_noise=2.0))
    print(fft.plan_threads((512, 512)))
    for chosen in ("auto", "scipy", "torch"):      # what OPTICSIM_FFT would choose at import
        fft.CHOSEN = chosen
        print(chosen, fft.backend(ideal.shape), fft.backend(hardware.shape),
              digest(ideal.run(images, ideal.mask_from_kernel(kernel))),
              digest(hardware.run(images, hardware.mask_from_kernel(kernel), rng=3)))
"""


def _frames(threads: str) -> tuple[int, dict]:
    """The FFT threads of a fresh process and, per OPTICSIM_FFT value, the backends of the
    two systems and the digests of their frames."""
    env = {k: v for k, v in os.environ.items() if k != "OPTICSIM_FFT"}
    done = subprocess.run([sys.executable, "-c", FRAMES, threads], check=True, env=env,
                          capture_output=True, text=True, timeout=300)
    lines = done.stdout.split("\n")
    return int(lines[0]), {line.split()[0]: tuple(line.split()[1:]) for line in lines[1:4]}


def test_three_fresh_processes_give_bit_identical_frames():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to compare a threaded process with a single-threaded one")
    runs = [_frames(threads) for threads in ("all", "all", "1")]
    assert runs[0][0] >= 2 and runs[2][0] == 1               # threaded, and not
    assert runs[0][1] == runs[1][1] == runs[2][1], runs
    frames = runs[0][1]
    assert frames["scipy"][2:] != frames["torch"][2:]           # the backends round differently
    picked = frames["auto"][:2]                                 # the rule's, system by system
    assert frames["auto"][2:] == (frames[picked[0]][2], frames[picked[1]][3])


@pytest.mark.parametrize("backend", ["scipy", "torch", "pyfftw"])
def test_frames_do_not_depend_on_where_an_array_lies(backend, monkeypatch):
    """A transform gives the same numbers wherever its array lies: FFTW's codelets for
    unaligned memory round differently from the SIMD ones, so with FFTW an array that does not
    start on a SIMD boundary is transformed in an aligned copy."""
    from opticsim import fft

    if backend == "pyfftw":
        monkeypatch.setattr(fft, "pyfftw", pytest.importorskip("pyfftw"))
    else:
        monkeypatch.setattr(fft, "pyfftw", None)
        monkeypatch.setattr(fft, "CHOSEN", backend)

    rng = np.random.default_rng(1)
    values = (rng.standard_normal((2, 64, 48)) + 1j * rng.standard_normal((2, 64, 48)))
    aligned = fft.empty(values.shape, np.complex64)
    aligned[...] = values
    raw = np.empty(aligned.nbytes + fft.ALIGNMENT, np.uint8)
    start = (-raw.ctypes.data) % fft.ALIGNMENT + 8                   # 8 bytes off a boundary
    shifted = raw[start:start + aligned.nbytes].view(np.complex64).reshape(values.shape)
    shifted[...] = values
    assert fft.is_aligned(aligned) and not fft.is_aligned(shifted)
    expected = fft.fft2(aligned).copy()
    assert hashlib.sha256(fft.fft2(shifted).tobytes()).digest() == \
        hashlib.sha256(expected.tobytes()).digest()
    fft.fft2(shifted, out=shifted)                                    # in place, too
    np.testing.assert_array_equal(shifted, fft.fft2(aligned, out=aligned))
    real = np.ascontiguousarray(values.real, np.float32)
    half = fft.empty(fft.half_shape(real.shape), np.complex64)
    raw_half = np.empty(half.nbytes + fft.ALIGNMENT, np.uint8)
    start = (-raw_half.ctypes.data) % fft.ALIGNMENT + 8
    shifted_half = raw_half[start:start + half.nbytes].view(np.complex64).reshape(half.shape)
    np.testing.assert_array_equal(fft.real_fft2(real, shifted_half), fft.real_fft2(real, half))
