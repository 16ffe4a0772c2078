"""Tolerances derived from the precision of what a test computes, not from the numbers one
CPU gives: they hold whatever SIMD width, FMA use or MKL/OpenBLAS/FFTW/torch code path another
x86-64 machine takes, since each bounds the rounding rather than measuring it."""

import math

import numpy as np


def eps(dtype) -> float:
    """Machine epsilon of a NumPy or torch dtype (of its real part for complex ones):
    1.19e-7 for float32 and complex64, 2.2e-16 for float64 and complex128."""
    if type(dtype).__module__ == "torch":
        import torch

        return float(torch.finfo(dtype).eps)
    return float(np.finfo(dtype).eps)


def fft_rounding(dtype, samples: int) -> float:
    """ε·log2 N: the rounding of an FFT of N ``samples`` in ``dtype`` relative to its largest
    output (or to its norm), each of its log2 N butterfly stages rounding by about ε (Higham,
    *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §24.1). A lens transform at
    another pitch (matrix products, chirp-z) rounds by about as much."""
    return eps(dtype) * math.log2(max(int(samples), 2))
