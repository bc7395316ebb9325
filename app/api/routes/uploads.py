from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status

from app.api.deps import IngestScope, SessionDep, SettingsDep, TenantDep
from app.schemas.jobs import JobPublic
from app.services import jobs, uploads
from app.workers.dispatch import notify

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], dependencies=[IngestScope])


@router.post("/preview")
def preview_upload(
    file: Annotated[UploadFile, File(description="CSV, TSV, JSONL or XLSX")],
    settings: SettingsDep,
    encoding: Annotated[str | None, Form()] = None,
    sheet: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Detected format, encoding, dialect, header row and columns, a proposed column mapping, the first rows."""
    path = uploads.store_file(file.file, file.filename or "upload", settings)
    try:
        return uploads.inspect(path, filename=file.filename or "upload", encoding=encoding, sheet=sheet)
    finally:
        path.unlink(missing_ok=True)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def upload(
    request: Request,
    response: Response,
    session: SessionDep,
    tenant: TenantDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, TSV, JSONL or XLSX (UTF-8, Shift_JIS/CP932, EUC-JP)")],
    source: Annotated[str, Form(min_length=1, max_length=128)] = "upload",
    mapping: Annotated[str | None, Form(description='JSON {"column header": "field"}; default: proposed')] = None,
    encoding: Annotated[str | None, Form()] = None,
    sheet: Annotated[str | None, Form()] = None,
) -> JobPublic:
    """Queue an import of every row; answers 202 with the job (follow the Location header)."""
    chosen = uploads.parse_mapping(mapping)
    path = uploads.store_file(file.file, file.filename or "upload", settings)
    try:
        job = uploads.create_job(
            session=session,
            tenant_id=tenant,
            path=path,
            filename=file.filename or "upload",
            source=source,
            mapping=chosen,
            encoding=encoding,
            sheet=sheet,
        )
    except Exception:
        path.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    notify(request.app.state, settings, job.id)
    return jobs.to_public(job)
