from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.api.deps import AdminScope, FilterDep, IngestScope, ReadScope, RowId, SessionDep, SettingsDep, TenantDep
from app.db.base import MAX_ID
from app.schemas.jobs import JobErrorsPublic, JobPublic
from app.services import jobs as service
from app.workers.dispatch import notify

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic, dependencies=[ReadScope])
def get_job(job_id: RowId, session: SessionDep, tenant: TenantDep) -> JobPublic:
    """Status and counters: rows_total, rows_done, rows_failed, created, updated, unchanged, rate and ETA."""
    return service.to_public(service.get_or_raise(session=session, tenant_id=tenant, job_id=job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic, dependencies=[IngestScope])
def cancel_job(job_id: RowId, session: SessionDep, tenant: TenantDep) -> JobPublic:
    """Stop a queued or running job; chunks already stored stay stored."""
    return service.to_public(service.cancel(session=session, tenant_id=tenant, job_id=job_id))


@router.get(
    "/{job_id}/errors",
    response_model=JobErrorsPublic,
    dependencies=[ReadScope],
    responses={200: {"content": {"text/csv": {}}}},
)
def job_errors(
    job_id: RowId,
    session: SessionDep,
    tenant: TenantDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> JobErrorsPublic | Response:
    """Every rejected row with its row number, column and reason (CSV with ?format=csv)."""
    errors = service.list_errors(session=session, tenant_id=tenant, job_id=job_id, limit=limit, after=after)
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row_number", "column", "reason"])
        writer.writerows([e.row_number, e.column or "", e.reason] for e in errors)
        # BOM so that Excel opens the Japanese reasons as UTF-8
        return Response(
            "\ufeff" + buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="job-{job_id}-errors.csv"'},
        )
    more = len(errors) == limit
    return JobErrorsPublic(data=errors, count=len(errors), next_after=errors[-1].id if more else None)


@router.post("/rescore", status_code=202, response_model=JobPublic, dependencies=[AdminScope])
def rescore(
    request: Request, response: Response, session: SessionDep, tenant: TenantDep, f: FilterDep, settings: SettingsDep
) -> JobPublic:
    """Re-analyze stored feedback (all, or the filtered set) with the models now serving, in chunks with
    progress; every earlier analysis keeps its model versions."""
    job = service.create_rescore(session=session, tenant_id=tenant, f=f)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    notify(request.app.state, settings, job.id)
    return service.to_public(job)
