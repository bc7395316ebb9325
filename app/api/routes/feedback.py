from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from app.api.deps import (
    BasePipelineDep,
    FilterDep,
    GroupCommitDep,
    IngestScope,
    ReadScope,
    RowId,
    SessionDep,
    TenantDep,
)
from app.schemas.feedback import FeedbackBatchCreate, FeedbackBatchResult, FeedbackPublic, FeedbacksPublic
from app.schemas.labels import LabelCreate, LabelPublic, LabelsPublic
from app.services import export, labels
from app.services import feedback as service
from app.services.keys import Principal

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post(
    "",
    response_model=FeedbackBatchResult,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "every item already existed (updated or unchanged)"}},
)
async def create_feedback(
    body: FeedbackBatchCreate,
    response: Response,
    session: SessionDep,
    base: BasePipelineDep,
    caller: Annotated[Principal, IngestScope],  # its tenant: a TenantDep would solve the caller's dependencies again
    group_commit: GroupCommitDep,
) -> FeedbackBatchResult:
    """Store and analyze 1–1,000 items; re-posting a (source, external_id) updates it or leaves it unchanged.
    Under load, concurrent requests of a tenant share a transaction (app/services/group_commit.py)."""
    result = await group_commit.ingest(session=session, base=base, tenant_id=caller.tenant_id, items=body.items)
    if result.created == 0:
        response.status_code = status.HTTP_200_OK
    return result


@router.get("", response_model=FeedbacksPublic, dependencies=[ReadScope])
def list_feedback(
    session: SessionDep,
    tenant: TenantDep,
    f: FilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> FeedbacksPublic:
    """Newest first, filtered; follow `next_cursor` for the next page."""
    return service.list_(session=session, tenant_id=tenant, f=f, limit=limit, cursor=cursor)


@router.get(
    "/export",
    dependencies=[ReadScope],
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}, export.XLSX: {}}}},
)
def export_feedback(
    session: SessionDep,
    tenant: TenantDep,
    f: FilterDep,
    format: Annotated[str, Query(pattern="^(csv|xlsx|jsonl)$")] = "csv",
    encoding: Annotated[str, Query(pattern="^(utf-8|cp932)$", description="CSV only; cp932 for old Excel")] = "utf-8",
) -> StreamingResponse:
    """Stored feedback with its current analysis, filtered, streamed; formulas in cells are neutralized."""
    records = export.rows(session, tenant_id=tenant, f=f)
    name = f"koe-feedback.{format}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "jsonl":
        return StreamingResponse(export.jsonl_stream(records), media_type="application/x-ndjson", headers=disposition)
    if format == "xlsx":
        return StreamingResponse(export.xlsx_file(records), media_type=export.XLSX, headers=disposition)
    return StreamingResponse(
        export.csv_stream(records, encoding), media_type=f"text/csv; charset={encoding}", headers=disposition
    )


@router.get("/{feedback_id}", response_model=FeedbackPublic, dependencies=[ReadScope])
def get_feedback(feedback_id: RowId, session: SessionDep, tenant: TenantDep) -> FeedbackPublic:
    return service.to_public(service.get_or_raise(session=session, tenant_id=tenant, feedback_id=feedback_id))


@router.delete("/{feedback_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[IngestScope])
def delete_feedback(feedback_id: RowId, session: SessionDep, tenant: TenantDep) -> Response:
    service.delete(session=session, tenant_id=tenant, feedback_id=feedback_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{feedback_id}/labels",
    response_model=LabelPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[IngestScope],
)
def correct_labels(feedback_id: RowId, body: LabelCreate, session: SessionDep, tenant: TenantDep) -> LabelPublic:
    """Correct the item's sentiment, topics, stage or emotions (any of them). Corrections are kept, newest last,
    with the analysis they correct; they are the gold data a tenant's retraining learns from."""
    return labels.correct(session=session, tenant_id=tenant, feedback_id=feedback_id, body=body)


@router.get("/{feedback_id}/labels", response_model=LabelsPublic, dependencies=[ReadScope])
def list_labels(feedback_id: RowId, session: SessionDep, tenant: TenantDep) -> LabelsPublic:
    return labels.of_item(session=session, tenant_id=tenant, feedback_id=feedback_id)
