"""Uploads: keep the file, detect its layout, queue a job that streams its rows into feedback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import FieldError, Invalid, PayloadTooLarge
from app.db.repositories import jobs as jobs_repo
from app.db.session import write_transaction
from app.db.tables import Job
from app.ingest.mapping import map_row, validate_mapping
from app.ingest.readers import Dialect, iter_rows, preview
from app.schemas.nul import refuse_nul
from app.services.jobs import SourceRow

COPY_CHUNK = 1024 * 1024


def store_file(stream: IO[bytes], filename: str, settings: Settings) -> Path:
    """Copy the upload to the upload directory chunk by chunk (never whole in memory), enforcing the size limit."""
    directory = Path(settings.upload_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{uuid.uuid4().hex}{Path(filename).suffix.lower()[:8]}"
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(COPY_CHUNK):
            size += len(chunk)
            if size > settings.max_upload_bytes:
                out.close()
                target.unlink(missing_ok=True)
                raise PayloadTooLarge(
                    f"the file is larger than {settings.max_upload_bytes:,} bytes (KOE_MAX_UPLOAD_BYTES)"
                )
            out.write(chunk)
    if size == 0:
        target.unlink(missing_ok=True)
        raise Invalid("the file is empty", [FieldError("/file", "empty file", "empty_file")], code="empty_file")
    return target


def parse_mapping(raw: str | None) -> dict[str, str] | None:
    if raw is None or not raw.strip():
        return None
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(
            "mapping is not JSON", [FieldError("/mapping", str(exc), "invalid_json")], code="invalid_mapping"
        ) from exc
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise Invalid('mapping must be {"column header": "field"}', code="invalid_mapping")
    validate_mapping(mapping)
    return mapping


def inspect(path: Path, *, filename: str, encoding: str | None, sheet: str | None, rows: int = 20) -> dict[str, Any]:
    """Detected layout and proposed mapping; a file that cannot be read at all is a clear 422."""
    try:
        return preview(path, filename=filename, encoding=encoding, sheet=sheet, rows=rows)
    except (LookupError, UnicodeError) as exc:
        raise Invalid(
            f"cannot read the file: {exc}", [FieldError("/encoding", str(exc), "bad_encoding")], code="unreadable_file"
        ) from exc


@write_transaction
def create_job(
    *,
    session: Session,
    tenant_id: str,
    path: Path,
    filename: str,
    source: str,
    mapping: dict[str, str] | None,
    encoding: str | None,
    sheet: str | None,
) -> Job:
    """Queue the upload: the detected layout and the mapping (given, else proposed) are fixed in the job."""
    layout = inspect(path, filename=filename, encoding=encoding, sheet=sheet, rows=50)
    chosen = mapping or layout["mapping"]
    if "text" not in chosen.values():
        raise Invalid(
            'no column is mapped to text; pass mapping, e.g. {"本文": "text"}',
            [FieldError("/mapping", f"columns: {', '.join(layout['headers'])}", "text_unmapped")],
            code="text_unmapped",
        )
    missing = [header for header in chosen if header not in layout["headers"]]
    if missing:
        raise Invalid(
            f"mapped columns not in the file: {', '.join(missing)}",
            [FieldError(f"/mapping/{h}", "no such column", "unknown_column") for h in missing],
            code="unknown_column",
        )
    options = {
        "path": str(path),
        "filename": filename,
        "source": source,
        "mapping": chosen,
        "format": layout["format"],
        "encoding": layout["encoding"],
        "dialect": layout["dialect"],
        "sheet": layout["sheet"],
        "header_row": layout["header_row"],
    }
    refuse_nul(options)  # stored as JSON with the job
    job = jobs_repo.add(session, Job(tenant_id=tenant_id, kind="upload", status="queued", options=options))
    session.commit()
    return job


class UploadSource:
    """A job's file (or its part of one) read again from the top, rows after the checkpoint mapped to feedback
    fields."""

    def __init__(self, job: Job, settings: Settings) -> None:
        self.options, self.settings = job.options, settings

    def _table(self):
        o = self.options
        dialect = Dialect(o["dialect"]["delimiter"]) if o.get("dialect") else None
        return iter_rows(
            o["path"],
            fmt=o["format"],
            encoding=o["encoding"],
            dialect=dialect,
            sheet=o["sheet"],
            header_row=o["header_row"],
        )

    def count(self) -> int:
        table = self._table()
        try:
            total = sum(1 for _ in table)
        finally:
            table.close()
        if total > self.settings.max_upload_rows:
            raise ValueError(
                f"the file has {total:,} rows; at most {self.settings.max_upload_rows:,} (KOE_MAX_UPLOAD_ROWS)"
            )
        return total

    def rows(self, after: int) -> Iterator[SourceRow]:
        """Rows after the checkpoint `after` (a row number), within the job's part of the file if it is one (a
        range of positions: reached by reading the rows before it, as a text file cannot be entered mid-way)."""
        first, stop = self.options.get("part") or (0, None)
        table = self._table()
        try:
            for position, row in enumerate(table):
                if position == stop:
                    break
                if position < first or row.number <= after:
                    continue
                item, errors = map_row(row, self.options["mapping"])
                problems = [
                    (e.pointer.rsplit("/", 1)[-1] if e.pointer.count("/") > 2 else None, e.detail) for e in errors
                ]
                yield SourceRow(row.number, None if problems else item, problems)
        finally:
            table.close()
