"""Jobs: long work done in chunks by a worker. Each chunk's rows, errors, counters and checkpoint commit in one
transaction, so a worker killed mid-job loses at most the chunk in flight, and the next worker resumes after
the checkpoint; re-running a chunk is harmless anyway because every row is an idempotent upsert. A worker asked
to stop (SIGTERM) hands its job back after the chunk in flight, queued for the next worker at once.

An upload of more than KOE_JOB_PART_ROWS rows is split, once counted, into parts: jobs of their own over ranges of
its rows, claimed by any worker (on any machine), each checkpointed and resumed like a whole job. The parent shows
their sum, and the part that finishes last settles the parent's status."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session, object_session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from app.core import metrics
from app.core.config import Settings
from app.core.errors import Invalid, NotFound, Unavailable
from app.db.base import utcnow
from app.db.repositories import feedback as feedback_repo
from app.db.repositories import jobs as repo
from app.db.repositories import statistics
from app.db.repositories.filters import FeedbackFilter
from app.db.session import retry_write_race, write_transaction
from app.db.tables import Job
from app.schemas.feedback import FeedbackCreate
from app.schemas.jobs import JobErrorPublic, JobPublic
from app.services import feedback, privacy
from app.services.analysis import text_problem
from app.services.analysis_ahead import AnalysisAhead
from models.pipeline import AnalysisInput, AnalysisPipeline

log = logging.getLogger("koe.jobs")
FINAL = ("succeeded", "failed", "cancelled")
# The jobs of a process count their rows together: a job's parts run one after another, each too small to reach
# the tenth of a large table after which a writer refreshes the planner's statistics.
PLANNER = statistics.PlannerStatistics()


@dataclass
class SourceRow:
    """One row of a job's input: the feedback fields it maps to, or why it cannot be stored."""

    number: int
    item: dict[str, Any] | None
    errors: list[tuple[str | None, str]] = field(default_factory=list)  # (column, reason)


class RowSource(Protocol):
    def count(self) -> int | None: ...

    def rows(self, after: int) -> Iterator[SourceRow]: ...


PipelineFor = Callable[[Session, str], AnalysisPipeline]
Announce = Callable[[list[int]], None]  # tells other workers of new parts (Celery); None where they poll


def source_for(job: Job, settings: Settings, session: Session) -> RowSource:
    """The rows of a job, by its kind."""
    if job.kind == "upload":
        from app.services.uploads import UploadSource  # uploads build on this module

        return UploadSource(job, settings)
    if job.kind == "rescore":
        return RescoreSource(job, session)
    raise ValueError(f"unknown job kind {job.kind!r}")


class RescoreSource:
    """Stored feedback matching the job's filter, by id (keyset pages: safe across the runner's commits)."""

    PAGE = 1_000

    def __init__(self, job: Job, session: Session) -> None:
        self.session, self.tenant_id = session, job.tenant_id
        self.filter = filter_from_json(job.options.get("filter", {}))

    def count(self) -> int:
        return feedback_repo.count(self.session, tenant_id=self.tenant_id, f=self.filter)

    def rows(self, after: int) -> Iterator[SourceRow]:
        while ids := feedback_repo.ids_after(
            self.session, tenant_id=self.tenant_id, f=self.filter, after=after, limit=self.PAGE
        ):
            yield from (SourceRow(i, {"id": i}) for i in ids)
            after = ids[-1]


@write_transaction
def create_rescore(*, session: Session, tenant_id: str, f: FeedbackFilter) -> Job:
    """Queue a re-analysis of stored feedback with the models now serving; old analyses keep their versions."""
    job = repo.add(
        session, Job(tenant_id=tenant_id, kind="rescore", status="queued", options={"filter": filter_to_json(f)})
    )
    session.commit()
    return job


def filter_to_json(f: FeedbackFilter) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(f).items() if v not in (None, {})}


def filter_from_json(data: dict[str, Any]) -> FeedbackFilter:
    moments = {k: datetime.fromisoformat(data[k]) for k in ("written_from", "written_to") if data.get(k)}
    return FeedbackFilter(**{**data, **moments})


def get_or_raise(*, session: Session, tenant_id: str, job_id: int) -> Job:
    job = repo.get(session, tenant_id=tenant_id, job_id=job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist", code="job_not_found")
    return job


COUNTERS = ("rows_done", "rows_failed", "created", "updated", "unchanged")


def to_public(job: Job) -> JobPublic:
    """The job as the API shows it; a split job's counters are its parts' sums (read through the job's session)."""
    public = JobPublic.model_validate(job, from_attributes=True)
    if job.parts:
        session = object_session(job)
        assert session is not None
        parts = repo.parts(session, job.id)
        public = public.model_copy(update={c: sum(getattr(p, c) for p in parts) for c in COUNTERS})
    elapsed = ((job.finished_at or utcnow()) - job.started_at).total_seconds() if job.started_at else 0.0
    rate = public.rows_done / elapsed if elapsed > 0 else None
    remaining = (job.rows_total - public.rows_done) if job.rows_total is not None else None
    eta = remaining / rate if rate and remaining is not None and job.status == "running" else None
    return public.model_copy(
        update={"rows_per_second": round(rate, 1) if rate else None, "eta_seconds": round(eta, 1) if eta else None}
    )


CANCEL_ATTEMPTS = 5


@write_transaction
def cancel(*, session: Session, tenant_id: str, job_id: int) -> Job:
    """Cancel the job and its unfinished parts. A worker that commits the job between this read and this write (a
    chunk, a split, a last part settling it) fails this commit's optimistic version check: read it again, and try
    again; the worker's next commit then fails instead, and it stops."""
    for _ in range(CANCEL_ATTEMPTS):
        job = get_or_raise(session=session, tenant_id=tenant_id, job_id=job_id)
        if job.status in FINAL:
            raise Invalid(f"job {job_id} already {job.status}", code="job_finished")
        job.status, job.finished_at = "cancelled", utcnow()
        try:
            repo.cancel_parts(session, job.id)  # flushes the job first
            session.commit()
            return job
        except StaleDataError:
            session.rollback()  # expires what the session read: the next attempt reads the job afresh
    raise Unavailable(f"job {job_id} changed while it was being cancelled; try again", code="job_busy")


def list_errors(*, session: Session, tenant_id: str, job_id: int, limit: int, after: int) -> list[JobErrorPublic]:
    get_or_raise(session=session, tenant_id=tenant_id, job_id=job_id)
    return [
        JobErrorPublic.model_validate(e, from_attributes=True)
        for e in repo.errors(session, tenant_id=tenant_id, job_id=job_id, limit=limit, after=after)
    ]


def source_name(job: Job) -> str:
    return str(job.options.get("source", "upload"))


def row_key(item: dict[str, Any]) -> str:
    """The external id of a row that has none: its content, so that a re-upload finds it again."""
    content = f"{item.get('text', '')}\u241f{item.get('written_at', '')}"
    return "row:" + hashlib.sha256(content.encode()).hexdigest()[:40]


def validated(row: SourceRow, source: str, settings: Settings) -> FeedbackCreate | list[tuple[str | None, str]]:
    """The row as an item to store, or its errors as (column, reason)."""
    if row.errors or row.item is None:
        return row.errors or [(None, "row could not be read")]
    item = {"source": source, **row.item}
    item.setdefault("external_id", row_key(item))
    try:
        parsed = FeedbackCreate.model_validate(item)
    except ValidationError as exc:
        return [(".".join(map(str, e["loc"])), str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()]
    problem = text_problem(parsed.text, settings=settings)
    return [("text", problem[1])] if problem else parsed


def process_chunk(
    session: Session, job: Job, chunk: Sequence[SourceRow], pipeline: AnalysisPipeline, settings: Settings
) -> None:
    """Store a chunk's valid rows, record its bad ones, advance counters and checkpoint, and commit: together."""
    before = _outcomes(job)
    retry_write_race(session, lambda: _store_chunk(session, job, chunk, pipeline, settings))
    metrics.job_rows(**{k: n - before[k] for k, n in _outcomes(job).items()})  # reached once the chunk committed


def _outcomes(job: Job) -> dict[str, int]:
    return {"created": job.created, "updated": job.updated, "unchanged": job.unchanged, "failed": job.rows_failed}


def _store_chunk(
    session: Session, job: Job, chunk: Sequence[SourceRow], pipeline: AnalysisPipeline, settings: Settings
) -> None:
    if job.kind == "rescore":
        rescored, unchanged = feedback.rescore(
            session=session, pipeline=pipeline, tenant_id=job.tenant_id, ids=[row.number for row in chunk]
        )
        job.updated, job.unchanged = job.updated + rescored, job.unchanged + unchanged
        _advance(session, job, chunk, failed=0)
        return
    valid: list[FeedbackCreate] = []
    failures: list[tuple[int, str | None, str]] = []
    for row in chunk:
        result = validated(row, source_name(job), settings)
        if isinstance(result, FeedbackCreate):
            valid.append(result)
        else:
            failures.extend((row.number, column, reason) for column, reason in result)
    for run in feedback.distinct_key_runs(valid):
        outcomes = feedback.upsert(
            session=session,
            pipeline=pipeline,
            tenant_id=job.tenant_id,
            items=[valid[i] for i in run],
            settings=settings,
        )
        for status in ("created", "updated", "unchanged"):
            setattr(job, status, getattr(job, status) + sum(o.status == status for o in outcomes))
    repo.add_errors(session, job, failures)
    _advance(session, job, chunk, failed=len({number for number, _, _ in failures}))


def _advance(session: Session, job: Job, chunk: Sequence[SourceRow], *, failed: int) -> None:
    job.rows_done += len(chunk)
    job.rows_failed += failed
    job.checkpoint = chunk[-1].number
    repo.touch(job)
    session.commit()


def _chunks(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def run(
    job_id: int,
    *,
    session_factory: sessionmaker[Session],
    pipeline_for: PipelineFor,
    settings: Settings,
    stop: threading.Event | None = None,
    announce: Announce | None = None,
) -> str:
    """Run (or resume) a claimed job to its end, or until `stop` is set: then it is released after the chunk in
    flight. A large upload is split into parts instead (announced to other workers), and left running for them.
    Returns the status the job is left in."""
    with session_factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        try:
            source = source_for(job, settings, session)
            if job.rows_total is None:
                job.rows_total = source.count()
                session.commit()
            if splits(job, settings):
                part_ids = split(session, job, settings.job_part_rows)
                if announce is not None:
                    announce(part_ids)
                return job.status
            pipeline = pipeline_for(session, job.tenant_id)
            with _ahead(session, job, pipeline, settings) as ahead:
                chunks = _chunks(source.rows(after=job.checkpoint), settings.job_chunk_rows)
                depth = ahead.processes if ahead is not None else 0
                window: deque[list[SourceRow]] = deque()
                while True:
                    while len(window) <= depth and (upcoming := next(chunks, None)) is not None:
                        window.append(upcoming)
                        if ahead is not None:
                            ahead.submit(upcoming[0].number, upcoming)  # analyzed while earlier chunks are stored
                    if not window:
                        break
                    if stop is not None and stop.is_set():
                        return _release(session, job)
                    chunk = window.popleft()
                    chunk_pipeline = ahead.pipeline_for(chunk[0].number) if ahead is not None else pipeline
                    process_chunk(session, job, chunk, chunk_pipeline, settings)
                    PLANNER.wrote(session, len(chunk))
            job.status, job.finished_at = "succeeded", utcnow()
            settle_parent(session, job)
            session.commit()
        except StaleDataError:  # cancelled, or taken over by another worker: stop without touching it
            session.rollback()
            return repo.status_of(session, job_id) or "unknown"
        except Exception as exc:  # the job fails with its reason; the committed chunks stay stored
            session.rollback()
            log.exception("job %s failed", job_id)
            job.status, job.error, job.finished_at = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
            settle_parent(session, job)
            session.commit()
        return job.status


def splits(job: Job, settings: Settings) -> bool:
    """An upload not yet started, of more rows than a part."""
    fresh = job.kind == "upload" and job.parent_id is None and not job.parts and job.rows_done == 0
    return fresh and bool(settings.job_part_rows) and (job.rows_total or 0) > settings.job_part_rows


def split(session: Session, job: Job, part_rows: int) -> list[int]:
    """Parts over consecutive ranges of the job's rows (by position in the file), queued; the job keeps running
    until its last part settles it. Returns the parts' ids."""
    assert job.rows_total is not None
    parts = [
        Job(
            tenant_id=job.tenant_id,
            kind=job.kind,
            status="queued",
            parent_id=job.id,
            rows_total=min(part_rows, job.rows_total - start),
            options={**job.options, "part": [start, min(start + part_rows, job.rows_total)]},
        )
        for start in range(0, job.rows_total, part_rows)
    ]
    session.add_all(parts)
    job.parts, job.worker = len(parts), None
    session.commit()
    log.info("job %s split into %s parts of up to %s rows", job.id, len(parts), part_rows)
    return [part.id for part in parts]


def settle_parent(session: Session, part: Job) -> None:
    """When `part` was its job's last unfinished part, finish the job: failed if a part failed (with that part's
    reason), else succeeded. Parts finishing at once queue on the parent's lock, so the last one sees all others."""
    if part.parent_id is None:
        return
    parent = repo.lock(session, part.parent_id)
    if parent is None or parent.status in FINAL:
        return
    parts = repo.parts(session, parent.id)
    if any(p.status not in FINAL for p in parts):
        return
    failed = next((p for p in parts if p.status == "failed"), None)
    parent.status, parent.finished_at = ("failed" if failed else "succeeded"), utcnow()
    if failed is not None:
        first, last = failed.options["part"]
        parent.error = f"rows {first + 1:,}–{last:,} (part {parts.index(failed) + 1} of {len(parts)}): {failed.error}"


@contextmanager
def _ahead(
    session: Session, job: Job, pipeline: AnalysisPipeline, settings: Settings
) -> Iterator[AnalysisAhead | None]:
    """Processes analyzing ahead, for uploads of more than a chunk left with a portable pipeline."""
    worth_it = (job.rows_total or 0) - job.rows_done > settings.job_chunk_rows
    if job.kind != "upload" or not (settings.job_analysis_processes and pipeline.portable and worth_it):
        yield None
        return
    redaction, _ = privacy.mode_for(session, tenant_id=job.tenant_id, settings=settings)
    inputs_of = partial(analysis_inputs, source=source_name(job), settings=settings, redaction=redaction)
    try:
        ahead = AnalysisAhead(pipeline, inputs_of, processes=settings.job_analysis_processes)
    except (OSError, RuntimeError) as exc:
        log.warning("job %s analyzes in process: %s", job.id, exc)
        yield None
        return
    with ahead:
        yield ahead


def analysis_inputs(
    rows: Sequence[SourceRow], *, source: str, settings: Settings, redaction: privacy.Mode
) -> list[AnalysisInput]:
    """What the analyzers will see of a chunk's valid rows, derived as `_store_chunk` and `feedback.upsert` do (run
    in an analysis child, from a redaction mode read once per job)."""
    redact = privacy.redaction(redaction, settings)
    valid = (validated(row, source, settings) for row in rows)
    return [feedback.analysis_input(item, settings, redact) for item in valid if isinstance(item, FeedbackCreate)]


def _release(session: Session, job: Job) -> str:
    """Hand a job back, queued at its checkpoint: the next worker resumes it at once, where a job left
    "running" would wait KOE_JOB_STALE_SECONDS for its heartbeat to go stale."""
    job.status, job.worker = "queued", None
    session.commit()
    log.info("job %s released at row %s (worker stopping)", job.id, job.checkpoint)
    return job.status


def run_pending(
    *,
    session_factory: sessionmaker[Session],
    pipeline_for: PipelineFor,
    settings: Settings,
    worker: str,
    only: int | None = None,
    stop: threading.Event | None = None,
    announce: Announce | None = None,
) -> int:
    """Claim and run, one at a time, every job that is waiting or whose worker died (or just job `only` and its
    parts), until none is left or `stop` is set; returns how many ran."""
    stale, ran = timedelta(seconds=settings.job_stale_seconds), 0
    while stop is None or not stop.is_set():
        with session_factory() as session:
            candidates = repo.claimable(session, stale_after=stale, only=only)
            job_id = next((j for j in candidates if repo.claim(session, j, worker=worker, stale_after=stale)), None)
        if job_id is None:
            break
        run(
            job_id,
            session_factory=session_factory,
            pipeline_for=pipeline_for,
            settings=settings,
            stop=stop,
            announce=announce,
        )
        ran += 1
    return ran
