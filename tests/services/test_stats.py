"""Interval formulas checked against values computed by hand from their definitions."""

from __future__ import annotations

import math

import pytest

from app.services.stats import difference_interval, wilson


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
