"""Fixtures shared by the test modules."""

import math

import pytest

from opticsim.fourf import frames


@pytest.fixture(params=["complex FFT", "real FFT"])
def first_transform(request, monkeypatch):
    """Run a test with the fused 4f path's first transform as it is on small grids (complex)
    and as on large ones, where a real input field takes the half-size real FFT."""
    monkeypatch.setattr(frames, "_HALF_SPECTRUM_SAMPLES",
                        0 if request.param == "real FFT" else math.inf)
    return request.param
