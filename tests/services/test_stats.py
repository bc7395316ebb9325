"""Interval formulas checked against values computed by hand from their definitions."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from app.services.stats import (
    benjamini_hochberg,
    difference_interval,
    nps_difference_interval,
    proportion_difference_interval,
    rise_test,
    wilson,
)


def test_wilson_matches_the_textbook_example() -> None:
    # 81 of 263 (Wilson 1927 / Newcombe 1998 example): 0.2553–0.3662
    low, high = wilson(81, 263)  # type: ignore[misc]
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_stays_inside_zero_one_at_extremes() -> None:
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0  # type: ignore[index]
    assert wilson(0, 0) is None


def test_nps_interval_uses_trinomial_variance() -> None:
    # 50 promoters, 20 detractors, 30 passives: NPS 0.30, var = (0.5 + 0.2 − 0.09) / 100
    low, high = difference_interval(50, 20, 100)  # type: ignore[misc]
    half = 1.959964 * math.sqrt(0.61 / 100)
    assert low == pytest.approx(0.30 - half, abs=1e-4) and high == pytest.approx(0.30 + half, abs=1e-4)


def test_interval_narrows_with_n() -> None:
    small, large = difference_interval(5, 2, 10), difference_interval(500, 200, 1000)
    assert (small[1] - small[0]) > 5 * (large[1] - large[0])  # type: ignore[index]


def test_newcombe_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 − 48/80 → 0.0524 to 0.3339 (method 10)
    low, high = proportion_difference_interval(56, 70, 48, 80)  # type: ignore[misc]
    assert low == pytest.approx(0.0524, abs=1e-4) and high == pytest.approx(0.3339, abs=1e-4)
    assert proportion_difference_interval(1, 0, 1, 5) is None


def test_nps_difference_adds_the_two_variances() -> None:
    # a: 50 promoters, 20 detractors of 100 (NPS 0.30); b: 30 / 30 of 100 (NPS 0)
    low, high = nps_difference_interval((50, 20, 100), (30, 30, 100))  # type: ignore[misc]
    half = 1.959964 * math.sqrt((0.5 + 0.2 - 0.09) / 100 + (0.3 + 0.3 - 0.0) / 100)
    assert low == pytest.approx(0.30 - half, abs=1e-4) and high == pytest.approx(0.30 + half, abs=1e-4)


def test_single_answer_and_all_promoters() -> None:
    # one promoter: NPS 1.0 with zero trinomial variance — the interval collapses, which low_n/indicative flag
    assert difference_interval(1, 0, 1) == (1.0, 1.0)
    assert difference_interval(400, 0, 400) == (1.0, 1.0)
    assert wilson(1, 1) == (pytest.approx(0.2065, abs=1e-4), 1.0)


def test_rise_test_is_one_sided() -> None:
    # 30 of 100 vs 10 of 100: pooled p = 0.2, z = 0.2 / sqrt(0.16 · 0.02) = 3.536
    assert rise_test(30, 100, 10, 100) == pytest.approx(1 - NormalDist().cdf(3.5355), abs=1e-5)
    assert rise_test(10, 100, 30, 100) > 0.99
    assert rise_test(0, 0, 5, 10) == 1.0


def test_benjamini_hochberg_known_answer() -> None:
    # p = 0.01, 0.04, 0.03, 0.20 (m = 4): sorted 0.01·4/1 = 0.04, 0.03·4/2 = 0.06, 0.04·4/3 = 0.0533 → 0.0533
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert adjusted == pytest.approx([0.04, 0.05333, 0.05333, 0.20], abs=1e-4)
