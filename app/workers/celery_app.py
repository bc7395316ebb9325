"""Scale-out: with KOE_BROKER_URL set, the API sends each job id through Celery (Redis) to `koe worker` processes
on any number of machines sharing the database. The job itself still lives in the database: a task only says
"run job N", the worker claims it with the same compare-and-set as the embedded worker, and an orphaned job
(its worker died) is picked up again by any worker's periodic sweep."""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery
from celery.signals import worker_ready

from app.core.config import get_settings
from app.db.session import engine_for, session_factory
from app.services import jobs
from app.workers.embedded import pipeline_provider, worker_name

log = logging.getLogger("koe.worker")
settings = get_settings()


@lru_cache(maxsize=4)
def celery_for(broker_url: str) -> Celery:
    app = Celery("koe", broker=broker_url)
    app.conf.update(
        task_acks_late=True,  # a task whose worker dies is delivered again
        worker_prefetch_multiplier=1,  # one job at a time per process: jobs are long
        broker_connection_retry_on_startup=True,
        beat_schedule={"sweep": {"task": "koe.sweep", "schedule": float(settings.job_stale_seconds)}},
    )
    return app


celery = celery_for(settings.broker_url or "memory://")


@lru_cache(maxsize=1)
def _runtime():
    from app.cli import serving_pipeline

    return session_factory(engine_for(settings.database_url)), pipeline_provider(serving_pipeline())


@celery.task(name="koe.run_job")
def run_job(job_id: int) -> str:
    """Claim job `job_id` (unless another worker holds it) and run it to the end."""
    factory, pipeline_for = _runtime()
    ran = jobs.run_pending(
        session_factory=factory, pipeline_for=pipeline_for, settings=settings, worker=worker_name("celery"), only=job_id
    )
    return "ran" if ran else "skipped"


@celery.task(name="koe.sweep")
def sweep() -> int:
    """Run every queued or orphaned job (a lost message, a worker killed mid-job)."""
    factory, pipeline_for = _runtime()
    return jobs.run_pending(
        session_factory=factory, pipeline_for=pipeline_for, settings=settings, worker=worker_name("celery")
    )


@worker_ready.connect
def _sweep_on_start(**_: object) -> None:
    sweep.delay()


def dispatch(job_id: int, broker_url: str) -> None:
    """Tell the workers about a new job (by name: the API process need not load the worker's tasks)."""
    celery_for(broker_url).send_task("koe.run_job", args=[job_id])
