"""Analysis ahead of storage for upload jobs: while a job stores one chunk, a second process analyzes the next.

Storing a chunk (validation, lookups, inserts, rollup) and analyzing it each keep a core busy; one after the other
in one process, an upload ran at about half the pipeline's docs/s. The child holds a copy of the pipeline (only a
portable one: lexicons, not model weights) and returns its results keyed by their exact input. The job's own
upsert takes a result only for an identical input and analyzes anything else itself, so what is stored is what
would have been stored without this; if the child fails, the job analyzes in process and carries on."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from app.core.config import Settings
from app.schemas.feedback import FeedbackCreate
from app.services import feedback, privacy
from app.services.privacy import Mode
from models.pipeline import AnalysisInput, AnalysisPipeline, DocumentAnalysis

log = logging.getLogger("koe.jobs")
Results = dict[AnalysisInput, DocumentAnalysis]


class Prepared(AnalysisPipeline):
    """The pipeline, answering from results computed elsewhere for the inputs they were computed for."""

    def __init__(self, pipeline: AnalysisPipeline, results: Results) -> None:
        super().__init__(
            sentiment=pipeline.sentiment,
            topics=pipeline.topics,
            stage=pipeline.stage,
            touchpoint_stages=pipeline.touchpoint_stages,
        )
        self.results = results

    def analyze(self, inputs: Sequence[AnalysisInput]) -> list[DocumentAnalysis]:
        missing = list(dict.fromkeys(i for i in inputs if i not in self.results))
        computed = dict(zip(missing, super().analyze(missing), strict=True))
        return [self.results.get(i) or computed[i] for i in inputs]


class AnalysisAhead:
    """Child processes analyzing the chunks submitted to them; `pipeline_for(rows)` waits for a chunk's results."""

    def __init__(
        self, pipeline: AnalysisPipeline, *, source: str, settings: Settings, redaction: Mode, processes: int = 1
    ) -> None:
        self.pipeline, self.source, self.settings, self.redaction = pipeline, source, settings, redaction
        self.processes = processes
        self.pending: dict[int, Future[Results]] = {}
        # spawn, not fork: the parent may be a threaded server whose locks a forked child would inherit held
        self.executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_install,
            initargs=(pickle.dumps(pipeline), os.getpid()),
        )

    def submit(self, rows: Sequence[object]) -> None:
        if self.executor is None or not rows:
            return
        try:
            future = self.executor.submit(_analyze_rows, rows, self.source, self.settings, self.redaction)
        except Exception as exc:  # the pool broke, or cannot start here (a daemonic process): analyze in process
            self._give_up(exc)
            return
        self.pending[_first(rows)] = future

    def pipeline_for(self, rows: Sequence[object]) -> AnalysisPipeline:
        future = self.pending.pop(_first(rows), None) if rows else None
        if future is None:
            return self.pipeline
        try:
            return Prepared(self.pipeline, future.result())
        except Exception as exc:  # whatever broke the child, the job itself can still analyze
            self._give_up(exc)
            return self.pipeline

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        self.pending.clear()

    def __enter__(self) -> AnalysisAhead:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _give_up(self, exc: BaseException) -> None:
        log.warning("analysis ahead stopped, the job analyzes in process: %s: %s", type(exc).__name__, exc)
        self.close()


def _first(rows: Sequence[object]) -> int:
    return int(getattr(rows[0], "number"))  # noqa: B009 - SourceRow lives in app.services.jobs, which imports this


_PIPELINE: AnalysisPipeline | None = None  # the child's copy


def _install(pipeline: bytes, parent: int) -> None:
    global _PIPELINE
    _PIPELINE = pickle.loads(pipeline)  # pickled by the parent process a moment ago
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """A pool's worker waits on a queue whose write end it holds itself: when its parent is SIGKILLed it would wait
    for ever. Once the parent is gone, so is the child."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _analyze_rows(rows: Sequence[object], source: str, settings: Settings, redaction: Mode) -> Results:
    """In the child: the analysis inputs of a chunk's valid rows, as the job will derive them, and their results."""
    from app.services.jobs import validated  # the child imports the job module only to read rows the same way

    assert _PIPELINE is not None
    redact = privacy.redaction(redaction, settings)
    items = [item for row in rows if isinstance(item := validated(row, source, settings), FeedbackCreate)]  # type: ignore[arg-type]
    inputs = list(dict.fromkeys(feedback.analysis_input(item, settings, redact) for item in items))
    return dict(zip(inputs, _PIPELINE.analyze(inputs), strict=True))
