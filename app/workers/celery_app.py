"""Scale-out: with KOE_BROKER_URL set, the API sends each job id through Celery (Redis) to `koe worker` processes
on any number of machines sharing the database. The job itself still lives in the database: a task only says
"run job N", the worker claims it with the same compare-and-set as the embedded worker, and an orphaned job
(its worker died) is picked up again by any worker's periodic sweep."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from kombu.exceptions import OperationalError
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from app.core.config import get_settings
from app.db.session import engine_for, session_factory
from app.services import jobs
from app.workers.embedded import pipeline_provider, worker_name

log = logging.getLogger("koe.worker")
settings = get_settings()
# Set on a warm shutdown (SIGTERM): the running job is released after its chunk in flight instead of being
# finished first, so that stopping a worker takes seconds and the next one resumes the job at once.
stopping = threading.Event()


class _AckFreesSlotQoS(kombu_redis.QoS):
    """Forgets a message whose ack failed, as one acked. Kombu keeps it as unacked in the worker when the ack
    raises (a broker gone silent, by firewall or failover, times it out), and with one message prefetched the worker
    then never takes another: wedged for good, as the silence resets no connection (tests/faults/test_broker.py).
    If the ack never reached Redis, the message comes back after the visibility timeout, and run_job then finds its
    job finished and skips it."""

    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)
        except Exception:
            virtual.QoS.ack(self, delivery_tag)  # the local part of the ack only: frees the prefetch slot
            raise  # still logged by Celery ("Couldn't ack")


class _Channel(kombu_redis.Channel):
    QoS = _AckFreesSlotQoS


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, but a failed ack cannot wedge the worker (see _AckFreesSlotQoS)."""

    Channel = _Channel


@lru_cache(maxsize=4)
def celery_for(broker_url: str) -> Celery:
    app = Celery("koe", broker=broker_url)
    if broker_url.startswith(("redis://", "rediss://")):
        app.conf.broker_transport = f"{__name__}:RedisTransport"
    app.conf.update(
        task_acks_late=True,  # a task whose worker dies is delivered again
        worker_prefetch_multiplier=1,  # one job at a time per process: jobs are long
        broker_connection_retry_on_startup=True,
        # A thread, not a forked child: SIGTERM reaches the main process only, and the job must hear of it there.
        worker_pool="threads",
        # The job lives in the database, not in the broker: a lost connection is no reason to stop it.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Bounded waits on a broker that is down or silently gone (failover, firewall): a publish (retried once, see
        # dispatch) fails within about 15 s instead of hanging the upload that dispatches it.
        broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 5},
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
    """Claim job `job_id` (unless another worker holds it) and run it to the end, or until the worker stops."""
    factory, pipeline_for = _runtime()
    ran = jobs.run_pending(
        session_factory=factory,
        pipeline_for=pipeline_for,
        settings=settings,
        worker=worker_name("celery"),
        only=job_id,
        stop=stopping,
        announce=_announce,
    )
    return "ran" if ran else "skipped"


@celery.task(name="koe.sweep")
def sweep() -> int:
    """Run every queued or orphaned job (a lost message, a worker killed mid-job)."""
    factory, pipeline_for = _runtime()
    return jobs.run_pending(
        session_factory=factory,
        pipeline_for=pipeline_for,
        settings=settings,
        worker=worker_name("celery"),
        stop=stopping,
        announce=_announce,
    )


def _announce(part_ids: list[int]) -> None:
    """A job split into parts: one task per part, so that every worker can take some (this one goes on with them
    too: run_job runs a job's parts)."""
    for part_id in part_ids:
        dispatch(part_id, celery.conf.broker_url)


@worker_ready.connect
def _sweep_on_start(**_: object) -> None:
    sweep.delay()


@worker_shutting_down.connect
def _release_on_shutdown(**_: object) -> None:
    stopping.set()  # runs in the signal handler: only set a flag


def dispatch(job_id: int, broker_url: str) -> None:
    """Tell the workers about a new job (by name: the API process need not load the worker's tasks). With the
    broker unreachable the job stays queued in the database, where every worker's periodic sweep (and a starting
    worker) finds it: the upload is still accepted, and starts once the broker is back."""
    try:
        # One retry: a broker gone silent costs socket timeouts (5 s each), and with Celery's default three retries
        # an upload waited 26 s (15.5 s so); a job not dispatched waits, queued, for the next sweep anyway.
        celery_for(broker_url).send_task("koe.run_job", args=[job_id], retry_policy={"max_retries": 1})
    except OperationalError as exc:
        log.warning("job %s queued but not dispatched, broker unreachable (%s): the next sweep runs it", job_id, exc)
