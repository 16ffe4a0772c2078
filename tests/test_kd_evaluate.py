"""Scores: the Wilson interval of an accuracy against its closed form."""

import math

import pytest

from kd.evaluate import wilson_interval


def test_wilson_interval_matches_the_score_interval():
    # 7 of 20: the interval's ends are the roots p of (p̂ − p)² = z²·p(1 − p)/n.
    z, n, observed = 1.959964, 20, 0.35
    low, high = wilson_interval(observed, n)
    for end in (low, high):
        assert (observed - end) ** 2 == pytest.approx(z * z * end * (1 - end) / n, rel=1e-12)
    assert low < observed < high
    # None right: the upper end is z²/(n + z²), the lower 0.
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, z * z / (10 + z * z)), abs=1e-15)
    assert math.isclose(sum(wilson_interval(0.5, 10)), 1.0)


def test_wilson_interval_refuses_what_is_not_a_proportion():
    with pytest.raises(ValueError, match="accuracy"):
        wilson_interval(1.5, 10)
    with pytest.raises(ValueError, match="n"):
        wilson_interval(0.5, 0)
