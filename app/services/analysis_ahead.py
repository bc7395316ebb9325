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
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from models.pipeline import AnalysisInput, AnalysisPipeline, DocumentAnalysis

log = logging.getLogger("koe.jobs")
Results = dict[AnalysisInput, DocumentAnalysis]
# Rows of a chunk → the analysis inputs the job will derive from them; pickled to the child, so a module-level
# function (or a functools.partial of one).
InputsOf = Callable[[Sequence[Any]], list[AnalysisInput]]


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
    """Child processes analyzing the chunks submitted to them, each under a key; `pipeline_for(key)` waits for
    that chunk's results."""

    def __init__(self, pipeline: AnalysisPipeline, inputs_of: InputsOf, processes: int = 1) -> None:
        self.pipeline, self.inputs_of, self.processes = pipeline, inputs_of, processes
        self.pending: dict[int, Future[Results]] = {}
        # spawn, not fork: the parent may be a threaded server whose locks a forked child would inherit held
        self.executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_install,
            initargs=(pickle.dumps(pipeline), os.getpid()),
        )

    def submit(self, key: int, rows: Sequence[Any]) -> None:
        if self.executor is None:
            return
        try:
            future = self.executor.submit(_analyze_rows, self.inputs_of, rows)
        except Exception as exc:  # the pool broke, or cannot start here (a daemonic process): analyze in process
            self._give_up(exc)
            return
        self.pending[key] = future

    def pipeline_for(self, key: int) -> AnalysisPipeline:
        future = self.pending.pop(key, None)
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


def _analyze_rows(inputs_of: InputsOf, rows: Sequence[Any]) -> Results:
    """In the child: a chunk's analysis inputs and their results."""
    assert _PIPELINE is not None
    inputs = list(dict.fromkeys(inputs_of(rows)))
    return dict(zip(inputs, _PIPELINE.analyze(inputs), strict=True))
