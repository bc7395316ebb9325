"""Job persistence: claim, checkpoint, errors. Claiming is a compare-and-set so two workers never share a job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.tables import Job, JobError

ACTIVE = ("queued", "running")


def get(session: Session, *, tenant_id: str, job_id: int) -> Job | None:
    return session.scalars(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id)).first()


def add(session: Session, job: Job) -> Job:
    session.add(job)
    return job


def claimable(session: Session, *, stale_after: timedelta) -> list[int]:
    """Queued jobs, and running jobs whose worker stopped sending heartbeats (it died: resume them)."""
    stale = utcnow() - stale_after
    stmt = (
        select(Job.id)
        .where(or_(Job.status == "queued", (Job.status == "running") & (Job.heartbeat_at < stale)))
        .order_by(Job.id)
    )
    return list(session.scalars(stmt))


def claim(session: Session, job_id: int, *, worker: str, stale_after: timedelta) -> bool:
    """Take the job if nobody else holds it; one UPDATE, so the database arbitrates between workers."""
    now, stale = utcnow(), utcnow() - stale_after
    stmt = (
        update(Job)
        .where(Job.id == job_id, or_(Job.status == "queued", (Job.status == "running") & (Job.heartbeat_at < stale)))
        .values(status="running", worker=worker, heartbeat_at=now, started_at=now, version=Job.version + 1)
    )
    claimed = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.commit()
    return claimed


def add_errors(session: Session, job: Job, errors: Sequence[tuple[int, str | None, str]]) -> None:
    session.add_all(JobError(job_id=job.id, row_number=r, column=c, reason=why) for r, c, why in errors)


def errors(session: Session, *, tenant_id: str, job_id: int, limit: int, after: int) -> list[JobError]:
    """In insertion order, which is file order: chunks are processed and committed in sequence."""
    stmt = (
        select(JobError)
        .join(Job, Job.id == JobError.job_id)
        .where(Job.tenant_id == tenant_id, JobError.job_id == job_id, JobError.id > after)
        .order_by(JobError.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def status_of(session: Session, job_id: int) -> str | None:
    return session.scalar(select(Job.status).where(Job.id == job_id).execution_options(populate_existing=True))


def touch(job: Job, now: datetime | None = None) -> None:
    job.heartbeat_at = now or utcnow()
