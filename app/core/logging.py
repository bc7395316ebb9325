"""Logging of the koe loggers: one JSON object per line (or plain text), each carrying the request id.

Configured once per process by create_app(); only koe's own loggers are touched (uvicorn keeps its own).
Log lines never carry request or response bodies, so no feedback text reaches the logs."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

# Set by app/api/observability.RequestContext for the request being served; None outside a request.
request_id: ContextVar[str | None] = ContextVar("koe_request_id", default=None)

# What an access log line adds to a record (passed as `extra=`), in this order.
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """ts, level, logger, message, request_id, then the access fields a record has, then exc (a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        line.update({k: getattr(record, k) for k in ACCESS_FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (a test may have replaced it since)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(level: str, fmt: str) -> None:
    """(Re)configure the `koe` logger tree: one stderr handler, replaced on each call, never stacked."""
    logger = logging.getLogger("koe")
    for old in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(old)
    handler = _StderrHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    # Records still propagate: uvicorn and gunicorn leave the root logger without handlers, so nothing prints twice,
    # and pytest's caplog (on the root logger) keeps seeing them. A --log-config that gives root a handler would.
