"""Hostile files through the HTTP API (POST /v1/uploads/preview, /v1/uploads, then the job as the worker runs it):
each gets a clear answer — problem+json, or per-row job errors with row numbers — never a 500, never a lost row,
never unbounded memory; and formula-looking text comes back neutralized from every export."""

from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Invalid
from app.ingest.readers import iter_rows
from app.ingest.values import Limits
from models.pipeline import AnalysisPipeline
from tests.api.test_uploads import drain

GOOD = ["スタッフの対応がとても丁寧でした！", "配送が遅く、箱も潰れていました。", "普通に使えています。"]
TOO_LONG = "{line}行目からの行が長すぎます / the row starting at line {line} is over 1000000 chars"
FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3 ではなく", "@SUM(A1:A9)", '=HYPERLINK("http://x","押して")']
MB = 1024 * 1024


@pytest.fixture
def settings(migrated_engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        database_url=migrated_engine.url.render_as_string(hide_password=False),
        analyzer="rules",
        embedded_worker=False,
        upload_dir=str(tmp_path / "uploads"),
        max_upload_bytes=64 * MB,
        job_chunk_rows=2,
        auth_required=False,
    )


def imported(client: TestClient, content: bytes, filename: str = "reviews.csv", **form: str) -> dict[str, Any]:
    """Upload, run the job, and answer the job with its errors as (row, column, reason)."""
    response = client.post("/v1/uploads", files={"file": (filename, content)}, data={"source": "hostile", **form})
    assert response.status_code == 202, response.text
    drain(client.app_state["session"], client.app_state["settings"], client.app_state["pipeline"])
    job = client.get(f"/v1/jobs/{response.json()['id']}").json()
    errors = client.get(f"/v1/jobs/{job['id']}/errors").json()["data"]
    job["errors"] = [(e["row_number"], e["column"], e["reason"]) for e in errors]
    return job


@pytest.fixture
def uploads(client: TestClient, session: Session, settings: Settings, pipeline: AnalysisPipeline) -> TestClient:
    client.app_state = {"session": session, "settings": settings, "pipeline": pipeline}  # type: ignore[attr-defined]
    return client


def stored_texts(client: TestClient) -> list[str]:
    data = client.get("/v1/feedback", params={"source": "hostile", "limit": 500}).json()["data"]
    return sorted(d["text"] for d in data)


def assert_every_row_accounted_for(job: dict[str, Any], rows: int) -> None:
    assert job["status"] == "succeeded", job
    assert job["rows_total"] == job["rows_done"] == rows
    assert job["created"] + job["updated"] + job["unchanged"] + job["rows_failed"] == rows
    assert job["rows_failed"] == len({number for number, _, _ in job["errors"]})


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", header: tuple[str, str] = ("本文", "店舗")) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    return buffer.getvalue().encode(encoding)


def problem(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


# --- sizes -------------------------------------------------------------------------------------------------------


def test_a_row_of_a_million_columns_is_one_reported_row(uploads: TestClient) -> None:
    content = csv_bytes([[GOOD[0], "渋谷店"]]) + ",".join(["x"] * 1_000_000).encode() + b"\r\n"
    content += csv_bytes([[GOOD[1], "梅田店"]]).split(b"\r\n", 1)[1]
    preview = uploads.post("/v1/uploads/preview", files={"file": ("wide.csv", content)})
    assert preview.status_code == 200 and preview.json()["headers"] == ["本文", "店舗"]
    assert preview.json()["rows"][1]["error"] == TOO_LONG.format(line=3)
    job = imported(uploads, content)
    assert job["errors"] == [(3, None, TOO_LONG.format(line=3))]
    assert_every_row_accounted_for(job, 3)
    assert stored_texts(uploads) == sorted(GOOD[:2])


def test_a_50_mb_cell_is_a_row_error_in_bounded_memory(uploads: TestClient) -> None:
    long_text = "長文のレビュー" * 5_000  # 35,000 characters: readable, but over KOE_MAX_TEXT_GRAPHEMES
    content = csv_bytes([[GOOD[0], "渋谷店"], ["とても" * (50 * MB // 9), "新宿店"], [long_text, "池袋店"]])
    assert len(content) > 50 * MB
    tracemalloc.start()
    try:
        job = imported(uploads, content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300 * MB, peak  # the upload itself sits in memory in the test client; the rows never do
    (first, _, huge), (second, column, limit) = job["errors"]
    assert (first, huge) == (3, TOO_LONG.format(line=3))
    assert (second, column) == (4, "text") and "20,000" in limit
    assert_every_row_accounted_for(job, 3)
    assert stored_texts(uploads) == [GOOD[0]]


def zip_bomb(part: str = "xl/worksheets/sheet1.xml", megabytes: int = 300) -> bytes:
    """A real workbook whose sheet (or other part) inflates ~1,000× into one enormous cell."""
    workbook = Workbook()
    workbook.active.append(["本文"])
    workbook.active.append([GOOD[0]])
    source = io.BytesIO()
    workbook.save(source)
    bomb = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in original.infolist():
            if info.filename != part:
                out.writestr(info, original.read(info))
        with out.open(part, "w", force_zip64=True) as member:
            member.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            member.write(b'<row r="1"><c r="A1" t="inlineStr"><is><t>')
            for _ in range(megabytes):
                member.write(b"A" * MB)
            member.write(b"</t></is></c></row></sheetData></worksheet>")
    return bomb.getvalue()


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/styles.xml", "docProps/junk.bin"])
def test_a_zip_bomb_disguised_as_xlsx_is_refused_unopened(uploads: TestClient, part: str) -> None:
    content = zip_bomb(part)
    assert len(content) < 2 * MB
    tracemalloc.start()
    try:
        preview = uploads.post("/v1/uploads/preview", files={"file": ("reviews.xlsx", content)})
        upload = uploads.post("/v1/uploads", files={"file": ("reviews.xlsx", content)}, data={"source": "hostile"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * MB  # nothing was inflated
    for response in (preview, upload):
        body = problem(response)
        assert body["code"] == "zip_bomb" and part in body["detail"] and "zip bomb" in body["detail"]
    assert stored_texts(uploads) == []


def test_the_uncompressed_size_of_a_workbook_is_bounded_too(tmp_path: Path) -> None:
    workbook = Workbook()
    for text in GOOD:
        workbook.active.append([text])
    path = tmp_path / "reviews.xlsx"
    workbook.save(path)
    with pytest.raises(Invalid, match=r"the XLSX expands to [\d,]+ bytes > 10,000"):
        iter_rows(path, limits=Limits(max_xlsx_bytes=10_000))
    assert [row.cells for row in iter_rows(path, header_row=1)] == [{GOOD[0]: text} for text in GOOD[1:]]


# --- encodings and bytes -------------------------------------------------------------------------------------------


def test_invalid_utf8_in_a_file_declared_utf8_fails_only_its_row(uploads: TestClient) -> None:
    lines = [b"\xe6\x9c\xac\xe6\x96\x87,\xe5\xba\x97\xe8\x88\x97", GOOD[0].encode() + b",a", b"\xff\xfe\xc3(,b"]
    content = b"\r\n".join([*lines, GOOD[1].encode() + b",c"]) + b"\r\n"
    job = imported(uploads, content, encoding="utf-8")
    assert job["options"]["encoding"] == "utf-8"
    [(row, column, reason)] = job["errors"]
    assert (row, column) == (3, None) and "bytes not valid utf-8 on line 3" in reason
    assert_every_row_accounted_for(job, 3)
    assert stored_texts(uploads) == sorted(GOOD[:2])


def test_cp932_rows_inside_a_utf8_file_fail_row_by_row(uploads: TestClient) -> None:
    utf8 = [[f"{text}（{n}件目）", "渋谷店"] for n, text in enumerate(GOOD * 4)]
    content = csv_bytes(utf8[:5]) + csv_bytes([["文字化けする行です", "梅田店"]], "cp932").split(b"\r\n", 1)[1]
    content += csv_bytes(utf8[5:]).split(b"\r\n", 1)[1] + "ＣＰ９３２の行,新宿店\r\n".encode("cp932")
    job = imported(uploads, content)
    assert job["options"]["encoding"] == "utf-8"
    assert [(row, column) for row, column, _ in job["errors"]] == [(7, None), (15, None)]
    assert all("bytes not valid utf-8" in reason for _, _, reason in job["errors"])
    assert_every_row_accounted_for(job, 14)
    assert stored_texts(uploads) == sorted(text for text, _ in utf8)


def test_nul_bytes_inside_cells_fail_their_rows(uploads: TestClient) -> None:
    content = csv_bytes([[GOOD[0], "渋谷店"], ["壊れ\x00た行", "梅田店"], [GOOD[1], "新\x00宿店"], [GOOD[2], "上野店"]])
    preview = uploads.post("/v1/uploads/preview", files={"file": ("nul.csv", content)}).json()
    assert [row["error"] for row in preview["rows"]][1:3] == [
        "本文: NUL 文字が含まれています / the cell contains NUL bytes",
        "店舗: NUL 文字が含まれています / the cell contains NUL bytes",
    ]
    job = imported(uploads, content)
    assert [(row, column) for row, column, _ in job["errors"]] == [(3, None), (4, None)]
    assert_every_row_accounted_for(job, 4)
    assert stored_texts(uploads) == sorted([GOOD[0], GOOD[2]])


# --- exports -----------------------------------------------------------------------------------------------------


def test_formulas_come_back_neutralized_from_csv_and_xlsx_exports(uploads: TestClient) -> None:
    segments = ["=1+1", "@ゴールド", "-シルバー", "+ブロンズ", "=A1*10"]
    job = imported(
        uploads, csv_bytes(list(map(list, zip(FORMULAS, segments, strict=True))), header=("本文", "会員ランク"))
    )
    assert_every_row_accounted_for(job, len(FORMULAS))
    assert job["created"] == len(FORMULAS)
    params = {"source": "hostile"}
    for encoding in ("utf-8", "cp932"):
        exported = uploads.get("/v1/feedback/export", params={**params, "encoding": encoding})
        table = list(csv.DictReader(io.StringIO(exported.content.decode(encoding).removeprefix("\ufeff"))))
        assert sorted(row["text"] for row in table) == sorted("'" + text for text in FORMULAS)
        assert sorted(row["segment"] for row in table) == sorted("'" + segment for segment in segments)
        assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for row in table for cell in row.values())
    workbook = load_workbook(
        io.BytesIO(uploads.get("/v1/feedback/export", params={**params, "format": "xlsx"}).content)
    )
    cells = [cell for row in workbook.active.iter_rows(min_row=2) for cell in row if cell.value is not None]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]  # no cell is a formula
    hostile = [cell for cell in cells if isinstance(cell.value, str) and cell.value[1:] in [*FORMULAS, *segments]]
    assert len(hostile) == 2 * len(FORMULAS)
    assert all(cell.data_type == "s" and cell.value.startswith("'") for cell in hostile)  # text, shown as written
