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


def nps_variance(promoters: int, detractors: int, n: int) -> float:
    """Variance of an NPS (as a fraction) from one trinomial sample."""
    p_plus, p_minus = promoters / n, detractors / n
    return max(0.0, p_plus + p_minus - (p_plus - p_minus) ** 2) / n


def nps_difference_interval(
    a: tuple[int, int, int], b: tuple[int, int, int], z: float = Z95
) -> tuple[float, float] | None:
    """Interval of NPS(a) − NPS(b) for independent groups given as (promoters, detractors, n); in fractions."""
    if a[2] == 0 or b[2] == 0:
        return None
    estimate = (a[0] - a[1]) / a[2] - (b[0] - b[1]) / b[2]
    half = z * math.sqrt(nps_variance(*a) + nps_variance(*b))
    return round(max(-2.0, estimate - half), 4), round(min(2.0, estimate + half), 4)


def proportion_difference_interval(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval for p1 − p2 of independent samples (built on the Wilson intervals;
    far better than the Wald interval at small n or shares near 0 and 1)."""
    first, second = wilson(x1, n1), wilson(x2, n2)
    if first is None or second is None:
        return None
    p1, p2 = x1 / n1, x2 / n2
    lower = p1 - p2 - math.sqrt((p1 - first[0]) ** 2 + (second[1] - p2) ** 2)
    upper = p1 - p2 + math.sqrt((first[1] - p1) ** 2 + (p2 - second[0]) ** 2)
    return round(max(-1.0, lower), 4), round(min(1.0, upper), 4)


def rise_test(x1: int, n1: int, x2: int, n2: int) -> float:
    """One-sided p-value that share x1/n1 (recent) exceeds x2/n2 (baseline): pooled two-proportion z-test."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    return 1.0 - NormalDist().cdf((x1 / n1 - x2 / n2) / spread)


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Adjusted p-values (false discovery rate) for many simultaneous tests, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = running
    return adjusted
