"""Export stored feedback with its analysis as CSV (UTF-8 with BOM, or CP932 for old Excel), XLSX or JSONL,
streamed page by page so that a million rows never sit in memory."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from sqlalchemy.orm import Session

from app.db.repositories import feedback as repo
from app.db.repositories.filters import FeedbackFilter
from app.db.tables import Feedback

PAGE = 1_000
COLUMNS = [
    "id",
    "source",
    "external_id",
    "channel",
    "written_at",
    "text",
    "nps",
    "csat",
    "ces",
    "segment",
    "customer_id",
    "touchpoint",
    "stage",
    "stage_source",
    "sentiment",
    "p_positive",
    "p_negative",
    "topics",
    "emotions",
    "aspects",
    "model_versions",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# XML 1.0 cannot hold these C0 controls, and openpyxl refuses them: an XLSX cell shows each as its Control
# Pictures glyph instead (\x07 → ␇), visibly. CSV and JSONL keep them as they are.
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# CP932 cannot spell emoji and some symbols: they become 〓 (the geta mark Japanese print uses for a missing
# glyph), visibly, never silently dropped. UTF-8 exports keep everything.
def _geta(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "〓", error.end


codecs.register_error("koe-geta", _geta)


def rows(session: Session, *, tenant_id: str, f: FeedbackFilter) -> Iterator[dict[str, Any]]:
    """Matching items page by page. The first page is read now: a database that is down then answers 503 before
    a streamed response has started, instead of a 200 cut short."""
    first = repo.list_page(session, tenant_id=tenant_id, f=f, limit=PAGE, before_id=None)
    return _pages(session, first, tenant_id=tenant_id, f=f)


def _pages(
    session: Session, page: Sequence[Feedback], *, tenant_id: str, f: FeedbackFilter
) -> Iterator[dict[str, Any]]:
    while page:
        yield from (_flat(row) for row in page)
        before = page[-1].id
        session.expunge_all()  # keep memory flat across pages
        page = repo.list_page(session, tenant_id=tenant_id, f=f, limit=PAGE, before_id=before)


def _flat(row: Feedback) -> dict[str, Any]:
    analysis = repo.current_analysis(row)
    scores = analysis.sentiment_scores if analysis else {}
    return {
        "id": row.id,
        "source": row.source,
        "external_id": row.external_id,
        "channel": row.channel,
        "written_at": row.written_at.isoformat(),
        "text": row.text,
        "nps": row.nps,
        "csat": row.csat,
        "ces": row.ces,
        "segment": row.segment,
        "customer_id": row.customer_id,
        "touchpoint": row.touchpoint,
        "stage": analysis.stage if analysis else None,
        "stage_source": analysis.stage_source if analysis else None,
        "sentiment": analysis.sentiment if analysis else None,
        "p_positive": scores.get("positive"),
        "p_negative": scores.get("negative"),
        "topics": "|".join(t.name for t in analysis.topics) if analysis else "",
        "emotions": "|".join(analysis.emotions["present"]) if analysis and analysis.emotions else "",
        "aspects": "|".join(f"{a['aspect']['text']}:{a['polarity']}" for a in analysis.aspects or [])
        if analysis
        else "",
        "model_versions": ";".join(f"{k}={v}" for k, v in (analysis.model_versions if analysis else {}).items()),
    }


def safe_cell(value: Any) -> Any:
    """Neutralize spreadsheet formula injection (=cmd|…): a text cell may never start a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xlsx_cell(value: Any) -> Any:
    """safe_cell, and the control characters an XLSX cannot hold made visible."""
    value = safe_cell(value)
    return XML_ILLEGAL.sub(lambda m: chr(0x2400 + ord(m.group())), value) if isinstance(value, str) else value


def csv_stream(records: Iterator[dict[str, Any]], encoding: str, columns: Sequence[str] = COLUMNS) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    prefix = "\ufeff" if encoding == "utf-8" else ""  # Excel reads UTF-8 only with a BOM
    for i, record in enumerate(records, start=1):
        writer.writerow({k: safe_cell(v) for k, v in record.items()})
        if i % 500 == 0:
            yield (prefix + buffer.getvalue()).encode(encoding, errors="koe-geta")
            prefix = ""
            buffer.seek(0)
            buffer.truncate()
    yield (prefix + buffer.getvalue()).encode(encoding, errors="koe-geta")


def jsonl_stream(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for record in records:
        yield (json.dumps(record, ensure_ascii=False) + "\n").encode()


def xlsx_file(records: Iterator[dict[str, Any]]) -> tempfile.SpooledTemporaryFile[bytes]:
    """openpyxl's write-only mode streams rows to disk; the finished file is then streamed to the client."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("feedback")
    sheet.append(COLUMNS)
    for record in records:
        sheet.append([xlsx_cell(record[c]) for c in COLUMNS])
    handle: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115  (the response streams and closes it)
    workbook.save(handle)
    handle.seek(0)
    return handle
