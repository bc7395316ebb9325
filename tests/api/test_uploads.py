"""Uploads end to end: the file as Excel writes it → 202 + job → rows stored once, bad rows reported by number."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Job
from app.services import jobs
from models.pipeline import AnalysisPipeline

ROWS = [
    ["レビューID", "投稿日", "満足度", "本文", "店舗"],
    ["R-1", "2026/11/03 14:05", "５", "スタッフの対応がとても丁寧でした！", "渋谷店"],
    ["R-2", "2026年11月4日", "2", "配送は早かったけど、\n箱が潰れていました。", "梅田店"],
    ["R-3", "2026/11/05", "9", "満足度が範囲外の行", "梅田店"],
    ["R-4", "2026/11/06", "1", "", "梅田店"],
    ["R-5", "昨日", "3", "日付が読めない行", "渋谷店"],
    ["R-6", "2026-11-07", "4", "普通に使えています。ｺｽﾊﾟは良い(^^)", "渋谷店"],
]


def cp932_csv(rows: list[list[str]], title: str | None = "2026年11月 店舗アンケート結果") -> bytes:
    """As Excel saves "CSV (comma delimited)" on a Japanese machine: CP932, CRLF, quotes where needed."""
    lines = [f"{title},,,," if title else None]
    for row in rows:
        lines.append(",".join(f'"{c}"' if ("\n" in c or "," in c) else c for c in row))
    return "\r\n".join(line for line in lines if line is not None).encode("cp932") + b"\r\n"


@pytest.fixture
def settings(migrated_engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        database_url=migrated_engine.url.render_as_string(hide_password=False),
        analyzer="rules",
        embedded_worker=False,
        upload_dir=str(tmp_path / "uploads"),
        job_chunk_rows=2,
        max_upload_bytes=200_000,
        auth_required=False,
    )


def drain(session: Session, settings: Settings, pipeline: AnalysisPipeline) -> int:
    """Run queued jobs inside the test's transaction, as the worker would."""
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    return jobs.run_pending(session_factory=factory, pipeline_for=lambda s, t: pipeline, settings=settings, worker="t")


def upload(client: TestClient, content: bytes, filename: str = "reviews.csv", **form: str) -> dict:
    response = client.post("/v1/uploads", files={"file": (filename, content)}, data={"source": "store_survey", **form})
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/jobs/{response.json()['id']}"
    return response.json()


def stored_texts(client: TestClient) -> Iterator[str]:
    return (
        d["text"] for d in client.get("/v1/feedback", params={"source": "store_survey", "limit": 500}).json()["data"]
    )


def test_excel_cp932_csv_every_row_stored_or_explained(client, session, settings, pipeline) -> None:
    job = upload(client, cp932_csv(ROWS))
    assert job["status"] == "queued" and job["options"]["encoding"] == "cp932"
    assert drain(session, settings, pipeline) == 1
    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded"
    assert (done["rows_total"], done["rows_done"], done["created"], done["rows_failed"]) == (6, 6, 3, 3)
    errors = client.get(f"/v1/jobs/{job['id']}/errors").json()["data"]
    assert [e["row_number"] for e in errors] == [5, 6, 7]  # title row 1, header row 2, data from row 3
    assert set(stored_texts(client)) == {ROWS[1][3], ROWS[2][3], ROWS[6][3]}  # the quoted newline kept


def test_reupload_stores_nothing_twice(client, session, settings, pipeline) -> None:
    first = upload(client, cp932_csv(ROWS))
    drain(session, settings, pipeline)
    second = upload(client, cp932_csv(ROWS))
    drain(session, settings, pipeline)
    again = client.get(f"/v1/jobs/{second['id']}").json()
    assert (again["created"], again["unchanged"]) == (0, 3)
    assert client.get(f"/v1/jobs/{first['id']}").json()["created"] == 3
    assert len(list(stored_texts(client))) == 3


def test_rows_without_id_are_deduplicated_by_content(client, session, settings, pipeline) -> None:
    rows = [[c for i, c in enumerate(r) if i != 0] for r in ROWS]
    upload(client, cp932_csv(rows, title=None))
    upload(client, cp932_csv(rows, title=None))
    drain(session, settings, pipeline)
    assert len(list(stored_texts(client))) == 3


def test_xlsx_first_sheet_with_title_row(client, session, settings, pipeline) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["店舗アンケート 2026年11月"])
    for row in ROWS[:3]:
        sheet.append([*row, None, None])  # trailing empty columns, as Excel leaves them
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload(client, buffer.getvalue(), filename="reviews.xlsx")
    drain(session, settings, pipeline)
    assert set(stored_texts(client)) == {ROWS[1][3], ROWS[2][3]}


def test_preview_proposes_a_mapping(client) -> None:
    body = client.post("/v1/uploads/preview", files={"file": ("r.csv", cp932_csv(ROWS))}).json()
    assert body["encoding"] == "cp932" and body["header_row"] == 2
    assert body["mapping"]["本文"] == "text" and body["mapping"]["レビューID"] == "external_id"
    assert body["rows"][0]["cells"]["本文"] == ROWS[1][3]


def test_explicit_mapping_and_clear_errors(client) -> None:
    bad = client.post("/v1/uploads", files={"file": ("r.csv", cp932_csv(ROWS))}, data={"mapping": '{"店舗": "text"'})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_mapping"
    none = client.post(
        "/v1/uploads", files={"file": ("r.csv", cp932_csv(ROWS))}, data={"mapping": '{"店舗": "segment"}'}
    )
    assert none.status_code == 422 and none.json()["errors"][0]["code"] == "text_unmapped"
    empty = client.post("/v1/uploads", files={"file": ("r.csv", b"")})
    assert empty.status_code == 422 and empty.json()["code"] == "empty_file"


def test_upload_over_the_size_limit_is_413(client, settings) -> None:
    big = cp932_csv(ROWS) * (settings.max_upload_bytes // len(cp932_csv(ROWS)) + 1)
    response = client.post("/v1/uploads", files={"file": ("big.csv", big)})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_cancel_and_errors_as_csv(client, session, settings, pipeline) -> None:
    job = upload(client, cp932_csv(ROWS))
    assert client.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert drain(session, settings, pipeline) == 0
    assert client.post(f"/v1/jobs/{job['id']}/cancel").json()["code"] == "job_finished"
    other = upload(client, cp932_csv(ROWS))
    drain(session, settings, pipeline)
    exported = client.get(f"/v1/jobs/{other['id']}/errors", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.lstrip("\ufeff").splitlines()[0] == "row_number,column,reason"
    assert client.get("/v1/jobs/999999").status_code == 404


def test_cancel_wins_over_a_worker_commit_since_the_job_was_read(client, session, settings, pipeline) -> None:
    job = upload(client, cp932_csv(ROWS))
    read = jobs_repo.get(session, tenant_id="default", job_id=job["id"])  # held: the session keeps it as read
    assert read is not None
    # A worker commits a chunk meanwhile (the version moves on), behind the session's back
    table = Job.__table__
    moved = update(table).where(table.c.id == job["id"]).values(rows_done=2, version=read.version + 1)
    session.connection().execute(moved)
    session.commit()
    cancelled = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["rows_done"]) == ("cancelled", 2)


MATRIX_ROWS = [
    ["ID", "投稿日", "おすすめ度", "ご意見"],
    ["M-1", "2026/11/03 14:05", "10", "店員さんが親切で、また来たいと思いました。"],
    ["M-2", "2026年11月4日", "3", "配送が遅く、梱包も雑でした…"],
    ["M-3", "2026-11-05", "７", "値段は安いけど、サポートの電話がつながりにくい。"],
]


def _delimited(delimiter: str, encoding: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(MATRIX_ROWS)
    return buffer.getvalue().encode(encoding)


def _jsonl(encoding: str) -> bytes:
    """JSON Lines is UTF-8 by RFC 8259, yet exports in CP932 / EUC-JP exist and are read the same way."""
    header, *rows = MATRIX_ROWS
    return "".join(json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) + "\n" for r in rows).encode(
        encoding
    )


def _xlsx() -> bytes:
    book = Workbook()
    for row in MATRIX_ROWS:
        book.active.append(row)  # type: ignore[union-attr]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS = {
    "csv": lambda encoding: _delimited(",", encoding),
    "tsv": lambda encoding: _delimited("\t", encoding),
    "jsonl": _jsonl,
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932", "euc-jp"])
@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_every_text_format_in_every_encoding(client, session, settings, pipeline, fmt: str, encoding: str) -> None:
    job = upload(client, FORMATS[fmt](encoding), filename=f"export.{fmt}")
    drain(session, settings, pipeline)
    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert (done["status"], done["created"], done["rows_failed"]) == ("succeeded", 3, 0), done
    assert set(stored_texts(client)) == {row[3] for row in MATRIX_ROWS[1:]}
    nps = sorted(d["nps"] for d in client.get("/v1/feedback", params={"source": "store_survey"}).json()["data"])
    assert nps == [3, 7, 10]  # おすすめ度 read as NPS 0–10, the full-width ７ too


def test_xlsx_upload(client, session, settings, pipeline) -> None:
    job = upload(client, _xlsx(), filename="export.xlsx")
    drain(session, settings, pipeline)
    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert (done["status"], done["created"], done["rows_failed"]) == ("succeeded", 3, 0), done
    assert set(stored_texts(client)) == {row[3] for row in MATRIX_ROWS[1:]}


# Regressions found by tests/fuzz/test_api_schema.py.


def test_a_file_with_old_mac_line_breaks_is_previewed_not_500(client) -> None:
    # A lone \r ends a line: the dialect sniffer read it with a newline-translating StringIO and raised csv.Error.
    for content in (b"\r0\r\n", "本文,店舗\r良い,渋谷店\r悪い,梅田店\r".encode()):
        response = client.post("/v1/uploads/preview", files={"file": ("old_mac.csv", content)})
        assert response.status_code == 200, response.text
    assert [row["cells"]["本文"] for row in response.json()["rows"]] == ["良い", "悪い"]


def test_job_ids_and_cursors_past_64_bits_are_422_not_500(client) -> None:
    huge = 2**63
    for response in (client.get(f"/v1/jobs/{huge}"), client.post(f"/v1/jobs/{huge}/cancel")):
        assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/path/job_id"
    job = upload(client, cp932_csv(ROWS))
    errors = client.get(f"/v1/jobs/{job['id']}/errors", params={"after": huge})
    assert errors.status_code == 422 and errors.json()["errors"][0]["pointer"] == "/query/after"


def test_an_encoding_name_with_nul_is_a_clear_422(client) -> None:
    response = client.post("/v1/uploads/preview", files={"file": ("r.csv", cp932_csv(ROWS))}, data={"encoding": "\x00"})
    assert response.status_code == 422 and "unknown encoding" in response.json()["detail"]


def test_nul_characters_in_a_form_field_or_a_jsonl_key_are_a_clear_422(client) -> None:
    # The job's options (source, mapping) are stored as JSON: PostgreSQL answered 500 on a NUL.
    response = client.post("/v1/uploads", files={"file": ("r.csv", cp932_csv(ROWS))}, data={"source": "店舗\x00"})
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/source"
    jsonl = '{"本文": "良い", "店\\u0000舗": "渋谷店"}\n'.encode()
    response = client.post("/v1/uploads", files={"file": ("r.jsonl", jsonl)})
    assert response.status_code == 422 and response.json()["code"] == "nul_character"
