"""The koe application: create_app() wires settings, database, analyzer and routes."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from app.api import errors
from app.api.deps import ReadScope
from app.api.limits import BodySizeLimit, InFlightLimit
from app.api.observability import RequestContext
from app.api.ratelimit import build_buckets
from app.api.routes import analytics, analyze, feedback, jobs, privacy, taxonomy, uploads
from app.api.routes import dashboard as dashboard_routes
from app.api.routes import health as health_routes
from app.api.routes import keys as keys_routes
from app.api.routes import metrics as metrics_routes
from app.api.routes import models as models_routes
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.db.session import engine_for, session_factory
from app.services import health
from app.services.group_commit import GroupCommit
from app.workers.embedded import EmbeddedWorker
from models.registry import ModelOptions, build_pipeline, resolve

log = logging.getLogger("koe")
GIL_SWITCH_SECONDS = 0.001
DESCRIPTION = """日本語の顧客の声（レビュー・チャット・アンケート）を取り込み、
感情・トピック・カスタマージャーニー段階を分析して保存し、アナリスト向けに集計します。
Errors are RFC 9457 `application/problem+json`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        health.require_migrated(app.state.engine)
        # Request handlers run in this process's thread pool (anyio's default: 40 threads). Measured on 2 cores at
        # 200 single-item POSTs/s offered: 8 threads answered 179-183/s, 40 threads 139-145/s, their extra open
        # transactions waiting on the GIL while holding rollup row locks.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        # Loaded once per process: lexicons, fugashi dictionary, (later) model weights.
        options = ModelOptions(base_model=settings.base_model, quantize=settings.quantize, bfloat16=settings.bfloat16)
        app.state.analyzer_name = resolve(settings.analyzer, options)
        app.state.pipeline = build_pipeline(
            app.state.analyzer_name, touchpoint_stages=settings.touchpoint_stages, options=options
        )
        log.info("analysis pipeline %s: %s", app.state.analyzer_name, app.state.pipeline.model_versions)
        app.state.group_commit = GroupCommit(
            settings,
            transactions=settings.ingest_transactions,
            max_items=settings.max_batch_items,
            overlap_after=settings.ingest_overlap_after_ms / 1000,
        )
        app.state.worker = None
        if settings.embedded_worker and not settings.broker_url:
            app.state.worker = EmbeddedWorker(app.state.session_factory, app.state.pipeline, settings)
            app.state.worker.start()
        # A request thread back from a database round trip waits for the GIL until the thread holding it lets go,
        # by default after 5 ms: a POST makes 8 round trips. 1 ms, measured (PostgreSQL, 2 workers, 150 POSTs/s
        # offered): p50 18.6 → 10.5 ms, p99 184 → 47 ms; at 250/s p99 396 → 104 ms, for no more CPU per request.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        # What startup built (modules, lexicons, model weights) lives as long as the process: kept out of the
        # collector's view, a full collection walks only request garbage (160,000 objects cost a 60 ms pause,
        # a sixth of the slowest analytics calls' p95).
        gc.collect()
        gc.freeze()
        yield
        await app.state.group_commit.idle()  # uvicorn has drained the requests; a statistics refresh may still run
        gc.unfreeze()  # an app built again in this process (tests) must not leave its objects uncollectable
        if app.state.worker is not None:
            app.state.worker.stop()

    app = FastAPI(title="koe", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings  # what request dependencies read (app.api.deps.get_app_settings)
    app.state.engine = engine_for(settings.database_url)
    app.state.session_factory = session_factory(app.state.engine)
    app.state.rate_limiter = build_buckets(settings)
    errors.install(app)
    # Every /v1 route declares its scope (IngestScope, ReadScope, AdminScope: app/api/deps.py), which needs a caller
    # (a key, when auth is required) and rate limits it.
    for module in (analyze, feedback, uploads, jobs, taxonomy, models_routes, keys_routes, privacy):
        app.include_router(module.router, responses=errors.V1_PROBLEMS)
    app.include_router(analytics.router, dependencies=[ReadScope], responses=errors.V1_PROBLEMS)
    app.include_router(health_routes.router)
    app.include_router(metrics_routes.router)  # open like /healthz: no key, no rate limit
    app.include_router(dashboard_routes.router)
    app.mount("/static", dashboard_routes.static_files(), name="static")
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, path_limits={"/v1/uploads": settings.max_upload_bytes + 65536}
    )
    app.add_middleware(InFlightLimit, max_in_flight=settings.max_in_flight)
    app.add_middleware(RequestContext)  # added last, so outermost: it sees (and times) every answer, 413s included

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
