"""Calibration fitted on the dev split: temperature scaling (Guo et al., 2017) and per-label thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 that minimizes the negative log-likelihood of softmax(logits / T)."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)
    logits, labels = logits.detach().float().clone(), labels.long().clone()  # leave inference mode

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return round(float(log_t.detach().exp()), 4)


def fit_thresholds(logits: torch.Tensor, targets: torch.Tensor, names: Sequence[str]) -> dict[str, float]:
    """Per label, the sigmoid threshold with the best F1 on dev (0.5 when dev has no positive)."""
    probabilities = torch.sigmoid(logits.detach().float().clone())
    grid = [round(0.05 * k, 2) for k in range(2, 19)]
    chosen = {}
    for j, name in enumerate(names):
        gold = targets[:, j] > 0.5
        if not gold.any():
            chosen[name] = 0.5
            continue
        chosen[name] = max(grid, key=lambda t: (f1(probabilities[:, j] >= t, gold), -abs(t - 0.5)))
    return chosen


def f1(predicted: torch.Tensor, gold: torch.Tensor) -> float:
    """F1 of boolean decisions against boolean gold (0 when nothing is right)."""
    tp = float((predicted & gold).sum())
    fp = float((predicted & ~gold).sum())
    fn = float((~predicted & gold).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
