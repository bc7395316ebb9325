"""Learn a tenant's topics from its analysts' corrections: `python -m pipelines.train --tenant T`.

The corrected items (`POST /v1/feedback/{id}/labels` with topics; the newest correction of an item counts) are
read from the database the service uses, their document vectors computed by the model the service serves, and one
logistic regression per topic of the tenant's active taxonomy fitted on them. Cross-validation on the corrections
says whether the head adds anything to what the tenant's topics already get (keyword rules, or for the default
taxonomy the model's own head); only then is it registered (`topic_head` table), and every API process and worker
uses it from its next request on. Re-score stored items with `POST /v1/jobs/rescore`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from sqlalchemy.orm import Session

from app.db.repositories import labels as labels_repo
from app.db.repositories import topic_heads
from app.db.session import write_transaction
from app.db.tables import TopicHead as TopicHeadRow
from app.services import taxonomy as taxonomy_service
from models.analyzers.tenant_topics import THRESHOLD, TopicHead
from models.document import prepare
from models.pipeline import AnalysisPipeline
from models.registry import served_model
from models.taxonomy import OTHER_TOPIC
from pipelines.calibrate import f1
from pipelines.heads import fit_linear

MIN_CORRECTIONS = 20
L2 = 1e-4
FOLDS = 5
SEED = 13
CHUNK = 256  # documents per forward pass of the vectors' model


class CannotTrain(ValueError):
    """No head can be trained: too few corrections, or no trained model serving to read vectors from."""


@dataclass
class TenantHeadReport:
    tenant_id: str
    examples: int
    positives: dict[str, int]
    micro_f1_known: float  # cross-validated on the corrections: the tenant's topics before the head
    micro_f1_with_head: float  # … and with it
    per_topic: dict[str, tuple[float, float]] = field(default_factory=dict)  # topic → (known, with head) F1
    registered: int | None = None  # the topic_head row id

    @property
    def improves(self) -> bool:
        return self.micro_f1_with_head > self.micro_f1_known

    def metrics(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "positives": self.positives,
            "folds": FOLDS,
            "micro_f1_known": round(self.micro_f1_known, 4),
            "micro_f1_with_head": round(self.micro_f1_with_head, 4),
        }


def train_head(
    session: Session,
    pipeline: AnalysisPipeline,
    tenant_id: str,
    *,
    force: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> TenantHeadReport:
    model = served_model(pipeline)
    if model is None:
        raise CannotTrain("the serving pipeline has no trained model: a topic head reads its vectors")
    known, taxonomy = taxonomy_service.known_topics(session=session, base=pipeline, tenant_id=tenant_id)
    corrections = labels_repo.topic_corrections(session, tenant_id=tenant_id)
    if len(corrections) < MIN_CORRECTIONS:
        raise CannotTrain(
            f"tenant {tenant_id!r} has {len(corrections)} items with corrected topics; at least {MIN_CORRECTIONS} "
            "are needed (POST /v1/feedback/{id}/labels with topics)"
        )
    ids = [t.id for t in taxonomy.topics]
    gold = torch.tensor([[t in topics for t in ids] for _, topics in corrections], dtype=torch.float32)
    documents = [prepare(text) for text, _ in corrections]
    vectors = torch.cat(
        [
            torch.stack([p.vector.float() for p in model.predict(documents[start : start + CHUNK])])
            for start in range(0, len(documents), CHUNK)
        ]
    )
    progress(f"{len(documents)} corrected items embedded")
    found = torch.tensor([[t in r.document.scores for t in ids] for r in known.analyze(documents)], dtype=torch.bool)
    with_head = _cross_validated(vectors, gold) | found
    truth = gold > 0.5
    report = TenantHeadReport(
        tenant_id,
        len(corrections),
        {t: int(gold[:, j].sum()) for j, t in enumerate(ids)},
        f1(found, truth),
        f1(with_head, truth),
        {t: (f1(found[:, j], truth[:, j]), f1(with_head[:, j], truth[:, j])) for j, t in enumerate(ids)},
    )
    if report.improves or force:
        weight, bias = fit_linear(vectors, gold, L2, multi_label=True)
        head = TopicHead(ids, weight, bias, model.version)
        report.registered = _register(session, tenant_id, taxonomy.digest, head, report).id
    return report


def _cross_validated(vectors: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Each item's topics as found by a head fitted on the other folds."""
    order = list(range(len(vectors)))
    random.Random(SEED).shuffle(order)
    found = torch.zeros_like(gold, dtype=torch.bool)
    for k in range(FOLDS):
        held = order[k::FOLDS]
        kept = sorted(set(order) - set(held))
        weight, bias = fit_linear(vectors[kept], gold[kept], L2, multi_label=True)
        found[held] = torch.sigmoid(vectors[held] @ weight.T + bias) >= THRESHOLD
    return found


@write_transaction
def _register(
    session: Session, tenant_id: str, taxonomy_digest: str, head: TopicHead, report: TenantHeadReport
) -> TopicHeadRow:
    row = topic_heads.register(
        session,
        TopicHeadRow(
            tenant_id=tenant_id,
            taxonomy_digest=taxonomy_digest,
            model_version=head.model_version,
            topics=head.topics,
            weights=head.to_bytes(),
            examples=report.examples,
            metrics=report.metrics(),
        ),
    )
    session.commit()
    return row


def rows(report: TenantHeadReport) -> list[Sequence[Any]]:
    """The per-topic table: corrected items with the topic, cross-validated F1 without and with the head."""
    lines: list[Sequence[Any]] = [
        [topic, report.positives[topic], *report.per_topic[topic]] for topic in report.positives if topic != OTHER_TOPIC
    ]
    return [*lines, ["all (micro)", sum(report.positives.values()), report.micro_f1_known, report.micro_f1_with_head]]
