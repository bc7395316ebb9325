"""Request dependencies as Annotated aliases, defined once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.api.ratelimit import rate_limit
from app.core.config import Settings
from app.core.errors import FieldError, Forbidden, Invalid, Unauthorized
from app.core.time import Moment, to_utc
from app.db.base import MAX_ID
from app.db.repositories.filters import FeedbackFilter
from app.schemas.keys import Scope
from app.schemas.nul import refuse_nul
from app.services import keys as keys_service
from app.services.group_commit import GroupCommit
from app.services.keys import Principal
from models.journey import stage_id
from models.pipeline import AnalysisPipeline


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request, used in the route's thread. Opening one does no I/O, nor does closing one whose
    work was committed; closing one with a transaction still open sends a ROLLBACK, which goes to the thread pool
    rather than block the event loop. (As a plain `def`, FastAPI ran it in the thread pool twice per request.)"""
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


# Dependencies that neither block nor touch the database are `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, and each such hop cost ~0.1 ms of CPU per request (measured with py-spy on POST /v1/feedback).


async def get_base_pipeline(request: Request) -> AnalysisPipeline:
    """The serving pipeline with the default taxonomy; `taxonomy.pipeline_for` gives a tenant's own (a read that
    belongs in the route's thread, with its other reads)."""
    return request.app.state.pipeline


BasePipelineDep = Annotated[AnalysisPipeline, Depends(get_base_pipeline)]


async def get_group_commit(request: Request) -> GroupCommit:
    return request.app.state.group_commit


GroupCommitDep = Annotated[GroupCommit, Depends(get_group_commit)]
SessionDep = Annotated[Session, Depends(get_session)]
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_app_settings(request: Request) -> Settings:
    """The settings create_app() was given. (A dependency override would do the same, but any override makes
    FastAPI re-resolve every dependency of every request: measured 2–4 ms of CPU per request.)"""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]

bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer koe_…`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or the API key in X-API-Key")


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller: its key's tenant and scopes; without a key, the default tenant when auth is not required.
    (Settings read from the app, not as a SettingsDep: each dependency costs ~20 µs of CPU, and this one is solved
    for every request.)"""
    settings: Settings = request.app.state.settings
    token = credentials.credentials if credentials else api_key
    if not token:
        if settings.requires_auth:
            raise Unauthorized("an API key is required (Authorization: Bearer, or X-API-Key)", code="missing_api_key")
        return keys_service.anonymous(settings.default_tenant)
    principal = await run_in_threadpool(keys_service.authenticate, session=session, token=token)
    if principal is None:
        raise Unauthorized("the API key is invalid or revoked", code="invalid_api_key")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_tenant(principal: PrincipalDep) -> str:
    return principal.tenant_id


TenantDep = Annotated[str, Depends(get_tenant)]


def require_scope(scope: Scope) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """A dependency that counts the request against the caller's rate limit, then lets it through only when its
    key has `scope` (or admin). Every /v1 route declares one (tests/api/test_auth.py, test_ratelimit.py check).
    One dependency for both: FastAPI walks a dependency's whole sub-tree again wherever it is declared, and the
    caller's sub-tree, walked once more for a separate rate-limit dependency, cost 3 % of a single-item POST's CPU."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        await rate_limit(request, principal)
        if not principal.allows(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope", code="insufficient_scope")
        return principal

    return check


IngestScope = Depends(require_scope("ingest"))
ReadScope = Depends(require_scope("read"))
AdminScope = Depends(require_scope("admin"))


ScoreBound = Annotated[int | None, Query(ge=0, le=10)]


async def get_filter(
    settings: SettingsDep,
    source: str | None = None,
    channel: str | None = None,
    stage: Annotated[
        str | None, Query(description="stage id or label: purchase / 購入; none / 未分類: no stage")
    ] = None,
    topic: Annotated[str | None, Query(description="topic id, e.g. delivery")] = None,
    sentiment: Annotated[str | None, Query(pattern="^(positive|neutral|negative|mixed)$")] = None,
    segment: str | None = None,
    written_from: Annotated[Moment | None, Query(alias="from", description="written_at ≥ this")] = None,
    written_to: Annotated[Moment | None, Query(alias="to", description="written_at < this")] = None,
    meta: Annotated[list[str], Query(description="metadata filter key=value, repeatable")] = [],  # noqa: B006
    nps_min: ScoreBound = None,
    nps_max: ScoreBound = None,
    csat_min: ScoreBound = None,
    csat_max: ScoreBound = None,
    ces_min: ScoreBound = None,
    ces_max: ScoreBound = None,
) -> FeedbackFilter:
    return make_filter(settings, **{k: v for k, v in locals().items() if k != "settings"})


def make_filter(
    settings: Settings,
    *,
    written_from: datetime | None = None,
    written_to: datetime | None = None,
    stage: str | None = None,
    meta: list[str] | None = None,
    nps_min: int | None = None,
    nps_max: int | None = None,
    csat_min: int | None = None,
    csat_max: int | None = None,
    ces_min: int | None = None,
    ces_max: int | None = None,
    **columns: str | None,
) -> FeedbackFilter:
    """The one way a filter is made, from query parameters or from a request body (compare)."""
    refuse_nul({**columns, "stage": stage, "meta": meta}, "/query", "NUL characters (U+0000) match nothing")
    return FeedbackFilter(
        **columns,
        stage=_stage(stage),
        written_from=to_utc(written_from, settings.timezone) if written_from else None,
        written_to=to_utc(written_to, settings.timezone) if written_to else None,
        metadata=_metadata(meta or []),
        nps=(nps_min, nps_max),
        csat=(csat_min, csat_max),
        ces=(ces_min, ces_max),
    )


NO_STAGE = ("none", "未分類")


def _stage(value: str | None) -> str | None:
    if value is None:
        return None
    if value in NO_STAGE:
        return ""  # FeedbackFilter: items without a stage
    found = stage_id(value)
    if found is None:
        raise Invalid(
            f"unknown stage {value!r}",
            [FieldError("/query/stage", "not a journey stage (or none / 未分類)", "invalid_stage")],
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
