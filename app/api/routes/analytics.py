from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from app.api.deps import FilterDep, SessionDep, SettingsDep, TenantDep, make_filter
from app.core.errors import FieldError, Invalid
from app.schemas.analytics import (
    AspectRankingPublic,
    ComparePublic,
    CompareRequest,
    DriversPublic,
    EmergingPublic,
    EmotionBreakdownPublic,
    JourneyPublic,
    KeywordsPublic,
    PainPointsPublic,
    ScoresPublic,
    TrendsPublic,
)
from app.services import analytics as service
from app.services import aspects, emotions, signals
from app.services.analytics_tables import csv_bytes
from app.services.keywords import characteristic_terms

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

Format = Annotated[Literal["json", "csv"], Query(description="csv: the same numbers as one flat table")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}
}


def respond(result: BaseModel, fmt: str, name: str) -> BaseModel | Response:
    if fmt == "csv":
        return Response(
            csv_bytes(result),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="koe-{name}.csv"'},
        )
    return result


@router.get("/journey", response_model=JourneyPublic, responses=CSV_RESPONSE)
def journey(session: SessionDep, tenant: TenantDep, f: FilterDep, format: Format = "json") -> BaseModel | Response:
    """Counts and sentiment shares per journey stage, per topic and per stage × topic."""
    return respond(service.journey(session=session, tenant_id=tenant, f=f), format, "journey")


@router.get("/emotions", response_model=EmotionBreakdownPublic, responses=CSV_RESPONSE)
def emotion_breakdown(
    session: SessionDep, tenant: TenantDep, f: FilterDep, format: Format = "json"
) -> BaseModel | Response:
    """Plutchik emotions expressed, overall and per journey stage: items, and shares of the items a trained model
    scored for emotions (`scored`)."""
    return respond(emotions.breakdown(session=session, tenant_id=tenant, f=f), format, "emotions")


@router.get("/scores", response_model=ScoresPublic, responses=CSV_RESPONSE)
def scores(session: SessionDep, tenant: TenantDep, f: FilterDep, format: Format = "json") -> BaseModel | Response:
    """NPS, CSAT (% 4–5) and CES mean with their n, overall and by stage, channel and segment."""
    return respond(service.scores(session=session, tenant_id=tenant, f=f), format, "scores")


@router.get("/trends", response_model=TrendsPublic, responses=CSV_RESPONSE)
def trends(
    session: SessionDep,
    tenant: TenantDep,
    settings: SettingsDep,
    f: FilterDep,
    interval: Literal["day", "week", "month"] = "week",
    by: Annotated[Literal["topic", "stage"] | None, Query(description="one series per topic or stage")] = None,
    timezone: Annotated[str | None, Query(description="calendar zone; default KOE_TIMEZONE")] = None,
    format: Format = "json",
) -> BaseModel | Response:
    """Counts, sentiment shares and NPS per calendar day / week / month, with the change from the bucket before."""
    zone = _zone(timezone or settings.timezone)
    result = service.trends(session=session, tenant_id=tenant, f=f, interval=interval, timezone=zone, by=by)
    return respond(result, format, "trends")


@router.get("/pain-points", response_model=PainPointsPublic, responses=CSV_RESPONSE)
def pain_points(
    session: SessionDep,
    tenant: TenantDep,
    f: FilterDep,
    rank_by: Literal["negative", "change"] = "negative",
    by: Literal["topic", "stage_topic"] = "topic",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    format: Format = "json",
) -> BaseModel | Response:
    """Topics (or stage × topic cells) ranked by negative volume or its rise vs the previous period of equal
    length (default period: the 30 days up to the newest item), with representative quotes."""
    result = signals.pain_points(session=session, tenant_id=tenant, f=f, rank_by=rank_by, by=by, limit=limit)
    return respond(result, format, "pain-points")


@router.get("/aspects", response_model=AspectRankingPublic, responses=CSV_RESPONSE)
def aspect_ranking(
    session: SessionDep,
    tenant: TenantDep,
    f: FilterDep,
    rank_by: Literal["mentions", "negative"] = "mentions",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    format: Format = "json",
) -> BaseModel | Response:
    """The things customers judge (aspect terms from a trained model: koe-accurate or koe-fast), with how often
    each was judged positive and negative; `rank_by=negative` puts the most criticized first."""
    result = aspects.ranking(session=session, tenant_id=tenant, f=f, rank_by=rank_by, limit=limit)
    return respond(result, format, "aspects")


@router.get("/drivers", response_model=DriversPublic, responses=CSV_RESPONSE)
def drivers(
    session: SessionDep,
    tenant: TenantDep,
    f: FilterDep,
    target: Literal["nps", "csat"] = "nps",
    format: Format = "json",
) -> BaseModel | Response:
    """Which topics move NPS or CSAT: the score with vs without each topic, and a regression coefficient."""
    return respond(signals.drivers(session=session, tenant_id=tenant, f=f, target=target), format, "drivers")


@router.get("/emerging", response_model=EmergingPublic, responses=CSV_RESPONSE)
def emerging(
    session: SessionDep,
    tenant: TenantDep,
    f: FilterDep,
    recent_days: Annotated[int, Query(ge=1, le=90)] = 7,
    baseline_days: Annotated[int, Query(ge=1, le=365)] = 28,
    format: Format = "json",
) -> BaseModel | Response:
    """Topics and terms whose volume or negativity rose in the recent window against the baseline before it."""
    result = signals.emerging(
        session=session, tenant_id=tenant, f=f, recent_days=recent_days, baseline_days=baseline_days
    )
    return respond(result, format, "emerging")


@router.get("/keywords", response_model=KeywordsPublic, responses=CSV_RESPONSE)
def keywords(
    session: SessionDep,
    tenant: TenantDep,
    settings: SettingsDep,
    f: FilterDep,
    stopwords: Annotated[list[str], Query(description="terms to leave out, repeatable")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
    format: Format = "json",
) -> BaseModel | Response:
    """Terms characteristic of the filtered segment against the rest of the period, with co-occurring pairs."""
    result = characteristic_terms(
        session=session,
        tenant_id=tenant,
        segment=f,
        stopwords=frozenset(settings.keyword_stopwords) | frozenset(stopwords),
        limit=limit,
    )
    return respond(result, format, "keywords")


@router.post("/compare", response_model=ComparePublic, responses=CSV_RESPONSE)
def compare(
    body: CompareRequest, session: SessionDep, tenant: TenantDep, settings: SettingsDep, format: Format = "json"
) -> BaseModel | Response:
    """Two segments or periods side by side: scores, journey, pain points, topic shares and terms."""
    filters = [make_filter(settings, **side.model_dump(exclude={"label"})) for side in (body.a, body.b)]
    labels = (body.a.label or "A", body.b.label or "B")
    result = service.compare(session=session, tenant_id=tenant, a=filters[0], b=filters[1], labels=labels)
    return respond(result, format, "compare")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"unknown time zone {name!r}",
            [FieldError("/query/timezone", "not an IANA time zone such as Asia/Tokyo", "invalid_timezone")],
            code="invalid_timezone",
        ) from None
    return name
