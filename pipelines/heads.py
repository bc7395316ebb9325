"""Refit the document sentiment, topic, emotion and stage heads on the fine-tuned encoder's frozen document vectors.

In multi-task fine-tuning every head shares the adapters' small learning rate and a loss led by sentiment, so the
multi-label heads end under-fitted: koe-accurate 2.0's topic head needed dev thresholds of 0.10–0.15 and reached a
dev micro-F1 of 0.41, below the keyword rules. A linear probe fitted to convergence (L-BFGS) on the same document
vectors, its L2 strength chosen on dev, replaces a head only where dev says it is better. The document sentiment
head is under-fitted the same way (a probe on koe-accurate 2.2's vectors: test macro-F1 0.900 against its head's
0.880). The encoder, the adapters and the sentence sentiment head are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import one_hot

from models.multitask import MultiTaskModel
from models.windows import pack
from pipelines.calibrate import f1, fit_thresholds

L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3)
MULTI_LABEL = ("topics", "emotions")
REFITTED = ("doc_sentiment", *MULTI_LABEL, "stage")


@torch.no_grad()  # not inference_mode: the probe is fitted with autograd on these vectors
def document_vectors(
    model: MultiTaskModel,
    tokenizer: object,
    documents: Sequence[Sequence[str]],
    batch_size: int = 32,
    after_batch: Callable[[int], None] = lambda done: None,
) -> torch.Tensor:
    """The pooled vector of each document (as the heads read it, without dropout), in input order."""
    model.eval()
    order = sorted(range(len(documents)), key=lambda d: sum(map(len, documents[d])))
    vectors = torch.empty(len(documents), _head(model, "stage").in_features)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        pooled, _ = model.pooled(pack(tokenizer, [documents[d] for d in batch], model.spec.max_length))
        vectors[batch] = pooled.float()
        after_batch(min(start + batch_size, len(order)))
    return vectors


def _head(model: MultiTaskModel, task: str) -> nn.Linear:
    head = model.heads[task]
    assert isinstance(head, nn.Linear)
    return head


def fit_linear(x: torch.Tensor, y: torch.Tensor, l2: float, multi_label: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights [out, in] and bias of a logistic regression (one-vs-rest sigmoid or softmax) fitted to convergence."""
    outputs = y.shape[1] if multi_label else int(y.max()) + 1
    weight = torch.zeros(outputs, x.shape[1], requires_grad=True)
    bias = torch.zeros(outputs, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=500, history_size=20, line_search_fn="strong_wolfe")
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = (
        torch.nn.functional.binary_cross_entropy_with_logits if multi_label else torch.nn.functional.cross_entropy
    )
    target = y.float() if multi_label else y.long()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(x @ weight.T + bias, target) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def dev_score(task: str, logits: torch.Tensor, gold: torch.Tensor) -> float:
    """Topics: micro-F1, emotions: macro-F1 (each with its dev-fitted thresholds, as served); document sentiment:
    macro-F1 (the figure it is judged by); stage: accuracy."""
    if task == "doc_sentiment":
        classes = logits.shape[-1]
        return _macro_f1(one_hot(logits.argmax(-1), classes).bool(), one_hot(gold, classes).bool())
    if task not in MULTI_LABEL:
        return float((logits.argmax(-1) == gold).float().mean())
    names = [str(j) for j in range(gold.shape[1])]
    thresholds = fit_thresholds(logits, gold, names)
    predicted = torch.sigmoid(logits) >= torch.tensor([thresholds[n] for n in names])
    truth = gold > 0.5
    return f1(predicted, truth) if task == "topics" else _macro_f1(predicted, truth)


def _macro_f1(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """The mean over columns (labels) of each column's F1."""
    return sum(f1(predicted[:, j], truth[:, j]) for j in range(truth.shape[1])) / truth.shape[1]


@dataclass(frozen=True)
class Refit:
    task: str
    l2: float
    dev_before: float
    dev_after: float

    @property
    def kept(self) -> bool:
        return self.dev_after > self.dev_before


def refit_heads(
    model: MultiTaskModel,
    train: tuple[torch.Tensor, dict[str, torch.Tensor]],
    dev: tuple[torch.Tensor, dict[str, torch.Tensor]],
) -> list[Refit]:
    """Replace each of the topic, emotion and stage heads by its probe where the probe scores higher on dev.
    `train` and `dev` are (document vectors, gold per task)."""
    (train_x, train_gold), (dev_x, dev_gold) = train, dev
    report = []
    for task in REFITTED:
        head = _head(model, task)
        with torch.no_grad():
            before = dev_score(task, head(dev_x), dev_gold[task])
        fits = {l2: fit_linear(train_x, train_gold[task], l2, task in MULTI_LABEL) for l2 in L2_GRID}
        scores = {l2: dev_score(task, dev_x @ w.T + b, dev_gold[task]) for l2, (w, b) in fits.items()}
        l2 = max(L2_GRID, key=lambda k: scores[k])
        result = Refit(task, l2, round(before, 4), round(scores[l2], 4))
        if result.kept:
            with torch.no_grad():
                head.weight.copy_(fits[l2][0])
                head.bias.copy_(fits[l2][1])
        report.append(result)
        print(f"head {task}: dev {result.dev_before:.3f} → {result.dev_after:.3f} (L2 {l2:g}), kept: {result.kept}")
    return report
