"""Telling a worker that a job is waiting: Celery when a broker is configured, else the embedded thread."""

from __future__ import annotations

from typing import Any

from app.core.config import Settings


def notify(app_state: Any, settings: Settings, job_id: int) -> None:
    if settings.broker_url:
        from app.workers.celery_app import dispatch  # Celery is imported only where it is used

        dispatch(job_id, settings.broker_url)
    elif getattr(app_state, "worker", None) is not None:
        app_state.worker.wake()
