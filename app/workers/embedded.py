"""The embedded worker: a thread of the API process that runs jobs from the database (no broker needed)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.services import jobs
from app.services import taxonomy as taxonomy_service
from models.pipeline import AnalysisPipeline

log = logging.getLogger("koe.worker")
POLL_SECONDS = 1.0


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


def pipeline_provider(base: AnalysisPipeline):
    def pipeline_for(session: Session, tenant_id: str) -> AnalysisPipeline:
        return taxonomy_service.pipeline_for(session=session, base=base, tenant_id=tenant_id)

    return pipeline_for


class EmbeddedWorker:
    """Polls for queued (or orphaned) jobs and runs them one at a time until stopped."""

    def __init__(self, session_factory: sessionmaker[Session], base: AnalysisPipeline, settings: Settings) -> None:
        self.session_factory, self.settings = session_factory, settings
        self.pipeline_for = pipeline_provider(base)
        self.name = worker_name("embedded")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="koe-embedded-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the chunk in flight, hand the running job back (queued at its checkpoint) and end the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                jobs.run_pending(
                    session_factory=self.session_factory,
                    pipeline_for=self.pipeline_for,
                    settings=self.settings,
                    worker=self.name,
                    stop=self._stop,
                )
            except Exception:  # keep the worker alive: the failure is logged and the job keeps its status
                log.exception("embedded worker loop")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
