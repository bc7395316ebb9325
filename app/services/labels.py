"""Analysts correct an item's labels; corrections are kept as gold data for a tenant's retraining."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.errors import FieldError, Invalid
from app.db.repositories import feedback as feedback_repo
from app.db.repositories import labels as repo
from app.db.session import write_transaction
from app.db.tables import FeedbackLabel
from app.schemas.labels import LabelCreate, LabelPublic, LabelsPublic
from app.services import taxonomy
from app.services.feedback import get_or_raise


@write_transaction
def correct(*, session: Session, tenant_id: str, feedback_id: int, body: LabelCreate) -> LabelPublic:
    item = get_or_raise(session=session, tenant_id=tenant_id, feedback_id=feedback_id)
    known = {t.id for t in taxonomy.active(session=session, tenant_id=tenant_id).topics}
    unknown = [(i, t) for i, t in enumerate(body.topics or []) if t not in known]
    if unknown:
        raise Invalid(
            f"topics not in the active taxonomy: {', '.join(t for _, t in unknown)}",
            [FieldError(f"/topics/{i}", f"unknown topic {t!r}", "unknown_topic") for i, t in unknown],
            code="unknown_topic",
        )
    analysis = feedback_repo.current_analysis(item)
    label = repo.add(
        session,
        FeedbackLabel(
            tenant_id=tenant_id,
            feedback_id=item.id,
            sentiment=body.sentiment,
            topics=None if body.topics is None else list(dict.fromkeys(body.topics)),
            stage=body.stage,
            emotions=None if body.emotions is None else list(dict.fromkeys(body.emotions)),
            analysis_id=analysis.id if analysis else None,
        ),
    )
    session.commit()
    return LabelPublic.model_validate(label)


def of_item(*, session: Session, tenant_id: str, feedback_id: int) -> LabelsPublic:
    get_or_raise(session=session, tenant_id=tenant_id, feedback_id=feedback_id)
    rows = repo.of_item(session, tenant_id=tenant_id, feedback_id=feedback_id)
    return LabelsPublic(data=[LabelPublic.model_validate(r) for r in rows], count=len(rows))
