from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import BasePipelineDep, IngestScope, SessionDep, SettingsDep, TenantDep
from app.core.errors import FieldError, Invalid
from app.schemas.analysis import AnalyzeRequest, AnalyzeResponse
from app.services import analysis as service
from app.services import privacy, taxonomy

router = APIRouter(prefix="/v1", tags=["analyze"], dependencies=[IngestScope])


@router.post("/analyze", response_model=AnalyzeResponse)
def analyze(
    body: AnalyzeRequest, base: BasePipelineDep, settings: SettingsDep, session: SessionDep, tenant: TenantDep
) -> AnalyzeResponse:
    """Analyze 1–100 Japanese texts without storing them; an invalid document gets its own error entry."""
    if len(body.documents) > settings.max_analyze_documents:
        raise Invalid(
            f"{len(body.documents)} documents sent; at most {settings.max_analyze_documents}",
            [FieldError("/documents", "too many documents", "too_many_documents")],
            code="too_many_documents",
        )
    pipeline = taxonomy.pipeline_for(session=session, base=base, tenant_id=tenant)
    redact = privacy.redactor(session, tenant_id=tenant, settings=settings)
    return service.analyze_documents(pipeline=pipeline, documents=body.documents, settings=settings, redact=redact)
