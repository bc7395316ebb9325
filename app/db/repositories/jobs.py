"""Job persistence: claim, checkpoint, parts, errors. Claiming is a compare-and-set so two workers never share a
job. A job split into parts is never claimed itself (its parts are); only whole jobs are visible to tenants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.tables import Job, JobError

ACTIVE = ("queued", "running")


def get(session: Session, *, tenant_id: str, job_id: int) -> Job | None:
    stmt = select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id, Job.parent_id.is_(None))
    return session.scalars(stmt).first()


def parts(session: Session, job_id: int) -> list[Job]:
    """A split job's parts as stored now (their workers commit elsewhere: nothing is taken from the session)."""
    stmt = select(Job).where(Job.parent_id == job_id).order_by(Job.id).execution_options(populate_existing=True)
    return list(session.scalars(stmt))


def lock(session: Session, job_id: int) -> Job | None:
    """The job, read afresh and locked until the transaction ends (on PostgreSQL; SQLite has one writer anyway)."""
    return session.get(Job, job_id, with_for_update=True, populate_existing=True)


def cancel_parts(session: Session, job_id: int) -> None:
    """Cancel a job's unfinished parts; the workers running them fail their next commit (the version moved)."""
    session.execute(
        update(Job)
        .where(Job.parent_id == job_id, Job.status.in_(ACTIVE))
        .values(status="cancelled", finished_at=utcnow(), version=Job.version + 1)
    )


def add(session: Session, job: Job) -> Job:
    session.add(job)
    return job


def _claimable(stale_after: timedelta) -> ColumnElement[bool]:
    """Queued, or running with a worker that stopped sending heartbeats (it died: resume); never a split job."""
    stale = utcnow() - stale_after
    waiting = or_(Job.status == "queued", (Job.status == "running") & (Job.heartbeat_at < stale))
    return and_(waiting, Job.parts == 0)


def claimable(session: Session, *, stale_after: timedelta, only: int | None = None) -> list[int]:
    """Jobs a worker may take, oldest first; with `only`, that job or its parts."""
    stmt = select(Job.id).where(_claimable(stale_after)).order_by(Job.id)
    if only is not None:
        stmt = stmt.where(or_(Job.id == only, Job.parent_id == only))
    return list(session.scalars(stmt))


def claim(session: Session, job_id: int, *, worker: str, stale_after: timedelta) -> bool:
    """Take the job if nobody else holds it; one UPDATE, so the database arbitrates between workers."""
    now = utcnow()
    stmt = (
        update(Job)
        .where(Job.id == job_id, _claimable(stale_after))
        .values(status="running", worker=worker, heartbeat_at=now, started_at=now, version=Job.version + 1)
    )
    claimed = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.commit()
    return claimed


def add_errors(session: Session, job: Job, errors: Sequence[tuple[int, str | None, str]]) -> None:
    session.add_all(JobError(job_id=job.id, row_number=r, column=c, reason=why) for r, c, why in errors)


def errors(session: Session, *, tenant_id: str, job_id: int, limit: int, after: int) -> list[JobError]:
    """The job's and its parts', in the order they were found: file order within a part (its chunks commit in
    sequence), parts interleaved as they ran side by side."""
    stmt = (
        select(JobError)
        .join(Job, Job.id == JobError.job_id)
        .where(
            Job.tenant_id == tenant_id,
            or_(Job.id == job_id, Job.parent_id == job_id),
            JobError.id > after,
        )
        .order_by(JobError.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def status_of(session: Session, job_id: int) -> str | None:
    return session.scalar(select(Job.status).where(Job.id == job_id).execution_options(populate_existing=True))


def touch(job: Job, now: datetime | None = None) -> None:
    job.heartbeat_at = now or utcnow()
