"""Request dependencies as Annotated aliases, defined once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.errors import FieldError, Invalid
from app.core.time import to_utc
from app.db.repositories.filters import FeedbackFilter
from app.services import taxonomy as taxonomy_service
from models.journey import stage_id
from models.pipeline import AnalysisPipeline


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


def get_tenant(settings: Annotated[Settings, Depends(get_settings)]) -> str:
    # One tenant until API keys arrive; every query already goes through this value.
    return settings.default_tenant


def get_base_pipeline(request: Request) -> AnalysisPipeline:
    return request.app.state.pipeline


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]


def get_pipeline(
    session: SessionDep, tenant: TenantDep, base: Annotated[AnalysisPipeline, Depends(get_base_pipeline)]
) -> AnalysisPipeline:
    return taxonomy_service.pipeline_for(session=session, base=base, tenant_id=tenant)


PipelineDep = Annotated[AnalysisPipeline, Depends(get_pipeline)]


def get_filter(
    settings: SettingsDep,
    source: str | None = None,
    channel: str | None = None,
    stage: Annotated[str | None, Query(description="stage id or label: purchase / 購入")] = None,
    topic: Annotated[str | None, Query(description="topic id, e.g. delivery")] = None,
    sentiment: Annotated[str | None, Query(pattern="^(positive|neutral|negative|mixed)$")] = None,
    segment: str | None = None,
    written_from: Annotated[datetime | None, Query(alias="from", description="written_at ≥ this")] = None,
    written_to: Annotated[datetime | None, Query(alias="to", description="written_at < this")] = None,
    meta: Annotated[list[str], Query(description="metadata filter key=value, repeatable")] = [],  # noqa: B006
) -> FeedbackFilter:
    return FeedbackFilter(
        source=source,
        channel=channel,
        stage=_stage(stage),
        topic=topic,
        sentiment=sentiment,
        segment=segment,
        written_from=to_utc(written_from, settings.timezone) if written_from else None,
        written_to=to_utc(written_to, settings.timezone) if written_to else None,
        metadata=_metadata(meta),
    )


def _stage(value: str | None) -> str | None:
    if value is None:
        return None
    found = stage_id(value)
    if found is None:
        raise Invalid(
            f"unknown stage {value!r}",
            [FieldError("/query/stage", "not a journey stage", "invalid_stage")],
            code="invalid_stage",
        )
    return found


def _metadata(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Invalid(
                f"metadata filter {pair!r} is not key=value",
                [FieldError("/query/meta", "expected key=value", "invalid_meta_filter")],
                code="invalid_meta_filter",
            )
        parsed[key] = value
    return parsed


FilterDep = Annotated[FeedbackFilter, Depends(get_filter)]
