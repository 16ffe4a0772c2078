"""The 95 % interval every accuracy carries: Wilson's score interval against its closed form
at the ends, against scipy's independent implementation inside, and its record."""

import math

import pytest
from scipy.stats import binomtest

from kd.evaluate import accuracy_record, accuracy_text, wilson_interval

Z95 = 1.959963984540054                 # the normal quantile of 0.975


def test_wilson_interval_at_the_ends_is_its_closed_form():
    # p = 0: [0, z²/(n + z²)]; p = 1 mirrors it
    for n in (1, 13, 450):
        upper = Z95 ** 2 / (n + Z95 ** 2)
        assert wilson_interval(0, n) == (0.0, pytest.approx(upper, rel=1e-14))
        assert wilson_interval(n, n) == (pytest.approx(1 - upper, rel=1e-14), 1.0)


def test_wilson_interval_by_hand():
    # 29 of 37 at 90 %: z = 1.6448536269514722, p = 29/37,
    # centre = (p + z²/74)/(1 + z²/37), half = z·√(p(1−p)/37 + z²/5476)/(1 + z²/37)
    z, p = 1.6448536269514722, 29 / 37
    shrink = 1 + z * z / 37
    centre, half = (p + z * z / 74) / shrink, z * math.sqrt(p * (1 - p) / 37 + z * z / 5476) / shrink
    assert wilson_interval(29, 37, 0.9) == pytest.approx((centre - half, centre + half), rel=1e-14)


@pytest.mark.parametrize("successes, n, confidence", [(1, 3, 0.95), (319, 450, 0.95),
                                                      (57, 128, 0.99), (449, 450, 0.8)])
def test_wilson_interval_agrees_with_scipy(successes, n, confidence):
    expected = binomtest(successes, n).proportion_ci(confidence, method="wilson")
    low, high = wilson_interval(successes, n, confidence)
    assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-12)
    assert low < successes / n < high


@pytest.mark.parametrize("successes, n, confidence, named", [
    (1, 0, 0.95, "n"), (5, 4, 0.95, "successes"), (-1, 4, 0.95, "successes"),
    (1, 4, 1.0, "confidence"), (1, 4, 0.0, "confidence")])
def test_bad_counts_and_confidence_are_named(successes, n, confidence, named):
    with pytest.raises(ValueError, match=named):
        wilson_interval(successes, n, confidence)


def test_an_accuracy_record_carries_its_interval_and_count():
    record = accuracy_record(0.7, 450)                  # 315 of 450
    assert record == {"accuracy": 0.7, "interval": list(wilson_interval(315, 450)), "n": 450}
    assert accuracy_text(record) == "0.700 [0.656, 0.741]"


def test_the_accuracy_figure_draws_the_interval_or_the_spread():
    from kd.figures import _error_bar

    record = accuracy_record(0.7, 450)
    low, high = record["interval"]
    assert _error_bar(record, "accuracy") == pytest.approx((0.7 - low, high - 0.7))
    assert _error_bar({"accuracy": 0.7, "accuracy_std": 0.02}, "accuracy") == (0.02, 0.02)
