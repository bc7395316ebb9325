"""Uncertainty for analyst numbers: every share and score comes with a 95 % interval."""

from __future__ import annotations

import math
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)
LOW_N = 30  # below this a share is shown but flagged: its interval is wider than most decisions tolerate


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (good at small n and near 0 or 1, unlike the normal one)."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def difference_interval(plus: int, minus: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Interval of p(plus) − p(minus) from one trinomial sample (NPS, net sentiment):
    Var = (p₊ + p₋ − (p₊ − p₋)²) / n, normal approximation, clipped to [−1, 1]."""
    if n == 0:
        return None
    p_plus, p_minus = plus / n, minus / n
    estimate = p_plus - p_minus
    half = z * math.sqrt(max(0.0, p_plus + p_minus - estimate**2) / n)
    return round(max(-1.0, estimate - half), 4), round(min(1.0, estimate + half), 4)
