"""XLSX reading with openpyxl in read-only mode: sheet row numbers, title rows, Excel dates, sheets, broken files."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from app.core.errors import Invalid
from app.ingest.mapping import map_row
from app.ingest.readers import Limits, iter_rows, preview

TEXT = "配送は早かったけど、\n箱が潰れていました。"


def survey_workbook(path: Path) -> Path:
    """A store survey as an analyst saves it: title, blank row, header with trailing empties, a second sheet."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "回答"
    sheet["A1"] = "2026年11月 店舗アンケート結果"
    sheet.append([])
    sheet.append(["レビューID", "店舗", "投稿日", "評価", "本文", None, None])
    sheet.append([1001, "渋谷店", datetime(2026, 11, 3, 14, 5), "４", TEXT, None, None])
    sheet.append([None, None, None, None, None, None, None])
    sheet.append([1002, "新宿店", 46329.59, 5.0, "スタッフの対応が丁寧で満足です。"])
    sheet.append([1003, "池袋店", "2026/11/05", "★★☆☆☆", None])
    totals = book.create_sheet("集計")
    totals.append(["店舗", "件数"])
    totals.append(["渋谷店", 1])
    book.save(path)
    return path


def test_rows_keep_sheet_numbers_types_and_text(tmp_path: Path) -> None:
    rows = iter_rows(survey_workbook(tmp_path / "survey.xlsx"))
    assert (rows.header_row, rows.headers) == (3, ["レビューID", "店舗", "投稿日", "評価", "本文"])
    assert (rows.sheet, rows.sheets) == ("回答", ["回答", "集計"])
    parsed = list(rows)
    assert [row.number for row in parsed] == [4, 6, 7]
    assert rows.skipped_empty == 1
    assert parsed[0].cells == {
        "レビューID": 1001,
        "店舗": "渋谷店",
        "投稿日": datetime(2026, 11, 3, 14, 5),
        "評価": "４",
        "本文": TEXT,
    }
    assert parsed[1].cells["投稿日"] == 46329.59


def test_mapped_rows_parse_full_width_scores_excel_dates_and_stars(tmp_path: Path) -> None:
    path = survey_workbook(tmp_path / "survey.xlsx")
    result = preview(path, filename="survey.xlsx")
    mapping = result["mapping"]
    assert mapping == {
        "レビューID": "external_id",
        "店舗": "metadata.店舗",
        "投稿日": "written_at",
        "評価": "csat",
        "本文": "text",
    }
    rows = list(iter_rows(path))
    items = [map_row(row, mapping) for row in rows]
    assert items[0] == (
        {
            "external_id": "1001",
            "metadata": {"店舗": "渋谷店"},
            "written_at": datetime(2026, 11, 3, 14, 5),
            "csat": 4,
            "text": TEXT,
        },
        [],
    )
    assert items[1][0]["written_at"] == datetime(2026, 11, 3, 14, 9, 36)
    assert items[1][0]["csat"] == 5
    assert items[2][0]["csat"] == 2
    assert [error.as_dict() for error in items[2][1]] == [
        {"pointer": "/rows/7/本文", "detail": "本文が空です / text is empty", "code": "empty_text"}
    ]


def test_preview_reports_the_workbook(tmp_path: Path) -> None:
    result = preview(survey_workbook(tmp_path / "survey.xlsx"), filename="survey.xlsx", rows=1)
    assert {key: result[key] for key in ("format", "encoding", "dialect", "sheet", "sheets", "header_row")} == {
        "format": "xlsx",
        "encoding": None,
        "dialect": None,
        "sheet": "回答",
        "sheets": ["回答", "集計"],
        "header_row": 3,
    }
    assert result["rows"] == [
        {
            "number": 4,
            "cells": {
                "レビューID": "1001",
                "店舗": "渋谷店",
                "投稿日": "2026-11-03 14:05:00",
                "評価": "４",
                "本文": TEXT,
            },
            "error": None,
        }
    ]


def test_a_named_sheet(tmp_path: Path) -> None:
    rows = iter_rows(survey_workbook(tmp_path / "survey.xlsx"), sheet="集計")
    assert (rows.header_row, rows.headers) == (1, ["店舗", "件数"])
    assert [(row.number, row.cells) for row in rows] == [(2, {"店舗": "渋谷店", "件数": 1})]


def test_a_missing_sheet_lists_the_sheets(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as raised:
        iter_rows(survey_workbook(tmp_path / "survey.xlsx"), sheet="Sheet1")
    assert (
        raised.value.detail
        == "シート 'Sheet1' がありません（あるのは 回答, 集計）/ no sheet 'Sheet1'; sheets: 回答, 集計"
    )


def test_an_upload_without_the_xlsx_suffix_is_found_by_its_bytes(tmp_path: Path) -> None:
    path = survey_workbook(tmp_path / "survey.xlsx").rename(tmp_path / "upload-7f3a")
    assert preview(path, filename="upload-7f3a")["format"] == "xlsx"
    assert len(list(iter_rows(path))) == 3


def test_an_xlsx_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "reviews.xlsx"
    path.write_text("本文\r\n良い\r\n", encoding="cp932")
    with pytest.raises(Invalid, match="not a readable XLSX file"):
        iter_rows(path)


def test_a_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "reviews.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    with pytest.raises(Invalid, match="not a readable XLSX file"):
        iter_rows(path)


def test_too_much_shared_text_is_refused_before_openpyxl_loads_it(tmp_path: Path) -> None:
    path = survey_workbook(tmp_path / "survey.xlsx")
    with zipfile.ZipFile(path, "a") as archive:  # Excel keeps all cell text in this part; openpyxl writes inline
        archive.writestr("xl/sharedStrings.xml", "<sst>" + "<si><t>良い</t></si>" * 1000 + "</sst>")
    assert len(list(iter_rows(path))) == 3
    with pytest.raises(Invalid, match="over the limit"):
        iter_rows(path, limits=Limits(max_xlsx_strings_bytes=10_000))


def test_limits_apply_to_cells_and_columns(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["本文", "評価"])
    sheet.append(["良い", 5])
    sheet.append(["あ" * 32_000, 4])  # Excel's own cell limit is 32,767 characters
    sheet.cell(row=4, column=1, value="広い行")
    sheet.cell(row=4, column=16_384, value="XFD")
    book.save(tmp_path / "wide.xlsx")
    parsed = [
        (row.number, row.error) for row in iter_rows(tmp_path / "wide.xlsx", limits=Limits(max_cell_chars=10_000))
    ]
    assert parsed == [
        (2, None),
        (3, "本文: セルが長すぎます / cell over 10000 chars"),
        (4, "列数が上限を超えています / 16384 columns > 1000"),
    ]
