"""CSV/TSV reading: Excel's layout (title row, CRLF, quoted newlines, trailing columns), dialects, hostile rows."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import pytest

from app.core.errors import Invalid
from app.ingest.readers import Limits, detect_format, iter_rows, preview, sniff_dialect
from tests.ingest import FIRST_TEXT, SURVEY_CSV, SURVEY_HEADERS

TOO_LONG = "{line}行目からの行が長すぎます / the row starting at line {line} is over {limit} chars"


def write(tmp_path: Path, text: str, name: str = "reviews.csv", encoding: str = "cp932") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")  # newlines exactly as given: Excel writes CRLF
    return path


def test_excel_cp932_survey(tmp_path: Path) -> None:
    rows = iter_rows(write(tmp_path, SURVEY_CSV))
    assert (rows.header_row, rows.headers) == (2, SURVEY_HEADERS)
    parsed = list(rows)
    assert [row.number for row in parsed] == [3, 5, 6]
    assert rows.skipped_empty == 1
    assert parsed[0].cells == {"店舗": "渋谷店", "投稿日": "2026/11/03 14:05", "評価": "★★★★☆", "本文": FIRST_TEXT}
    assert parsed[1].cells["評価"] == "５"
    assert parsed[2].cells == {"店舗": "池袋店", "投稿日": "2026/11/05", "評価": "2", "本文": None}


def test_preview_of_an_excel_csv(tmp_path: Path) -> None:
    result = preview(write(tmp_path, SURVEY_CSV), filename="アンケート.csv")
    assert {key: result[key] for key in ("format", "encoding", "dialect", "header_row", "skipped_empty")} == {
        "format": "csv",
        "encoding": "cp932",
        "dialect": {"delimiter": ",", "quotechar": '"'},
        "header_row": 2,
        "skipped_empty": 1,
    }
    assert result["mapping"] == {"店舗": "metadata.店舗", "投稿日": "written_at", "評価": "csat", "本文": "text"}
    assert result["rows"][1] == {
        "number": 5,
        "cells": {
            "店舗": "新宿店",
            "投稿日": "2026年11月4日 9時30分",
            "評価": "５",
            "本文": "スタッフの対応が丁寧で満足です。",
        },
        "error": None,
    }
    assert result["errors"] == [
        {"pointer": "/rows/6/本文", "detail": "本文が空です / text is empty", "code": "empty_text"}
    ]


def test_crlf_inside_a_quoted_cell_becomes_lf_and_rows_count_records(tmp_path: Path) -> None:
    text = '本文,評価\r\n"一行目\r\n二行目\r\n三行目",4\r\n次の行,5\r\n'
    parsed = list(iter_rows(write(tmp_path, text, encoding="utf-8")))
    assert [(row.number, row.cells["本文"]) for row in parsed] == [(2, "一行目\n二行目\n三行目"), (3, "次の行")]


def test_quotes_delimiters_and_doubled_quotes_inside_cells(tmp_path: Path) -> None:
    text = '本文,評価\r\n"店員さんが「最高」と、言った, 本当に ""神"" 対応",5\r\n'
    [row] = iter_rows(write(tmp_path, text, encoding="utf-8"))
    assert row.cells == {"本文": '店員さんが「最高」と、言った, 本当に "神" 対応', "評価": "5"}


@pytest.mark.parametrize(("name", "delimiter"), [("r.tsv", "\t"), ("r.txt", "\t"), ("r.csv", ";"), ("r.csv", "|")])
def test_other_delimiters(tmp_path: Path, name: str, delimiter: str) -> None:
    lines = [["ID", "本文", "NPS"], ["1", "遅い, 高い", "3"], ["2", '"早い"', "9"]]
    text = "".join(delimiter.join(line) + "\r\n" for line in lines)
    path = write(tmp_path, text, name=name, encoding="utf-8")
    result = preview(path, filename=name)
    assert result["dialect"]["delimiter"] == delimiter
    assert [row["cells"] for row in result["rows"]] == [
        {"ID": "1", "本文": "遅い, 高い", "NPS": "3"},
        {"ID": "2", "本文": "早い", "NPS": "9"},
    ]


def test_sniffing_falls_back_to_the_format_default() -> None:
    assert sniff_dialect("本文\r\n良い\r\n", "csv").delimiter == ","
    assert sniff_dialect("本文\r\n良い\r\n", "tsv").delimiter == "\t"
    quoted_newline = '店舗,本文\r\n渋谷店,"配送は早かったけど、\r\n箱が潰れていました。"\r\n新宿店,良い\r\n'
    assert sniff_dialect(quoted_newline).delimiter == ","


def test_format_from_extension_then_content() -> None:
    assert detect_format("a.CSV", b"x\ty\tz") == "csv"
    assert detect_format("upload", b"id\ttext\r\n1\t\xe8\x89\xaf\r\n") == "tsv"
    assert detect_format("upload", b"id,text\r\n") == "csv"
    assert detect_format("upload", b'\xef\xbb\xbf{"text": 1}\n') == "jsonl"
    assert detect_format("upload", b"PK\x03\x04....") == "xlsx"
    with pytest.raises(Invalid, match="use JSON Lines, not an array"):
        detect_format("export.json", b'[{"text": "ok"}]')
    with pytest.raises(Invalid, match=r"\.xls is not supported"):
        detect_format("old.xls", b"\xd0\xcf\x11\xe0")


def test_blank_and_duplicate_headers_and_cells_past_the_header(tmp_path: Path) -> None:
    text = "コメント,,コメント\r\n良い,x,悪い,,はみ出し\r\n"
    rows = iter_rows(write(tmp_path, text, encoding="utf-8"), header_row=1)
    assert rows.headers == ["コメント", "列B", "コメント_2"]
    assert [row.cells for row in rows] == [{"コメント": "良い", "列B": "x", "コメント_2": "悪い", "列E": "はみ出し"}]


def test_explicit_header_row(tmp_path: Path) -> None:
    rows = iter_rows(write(tmp_path, SURVEY_CSV), header_row=3)
    assert rows.headers == ["渋谷店", "2026/11/03 14:05", "★★★★☆", FIRST_TEXT]
    assert [row.number for row in rows] == [5, 6]
    with pytest.raises(Invalid, match="the file has no row 40"):
        iter_rows(write(tmp_path, SURVEY_CSV), header_row=40)
    with pytest.raises(Invalid, match="header_row must be 1 or more, not -1"):
        iter_rows(write(tmp_path, SURVEY_CSV), header_row=-1)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="the file is empty"):
        iter_rows(write(tmp_path, ""))


def test_unclosed_quote_at_the_end_keeps_the_rest_as_one_cell(tmp_path: Path) -> None:
    parsed = list(iter_rows(write(tmp_path, '本文,評価\r\n"閉じ忘れ,5\r\n次の行\r\n', encoding="utf-8")))
    assert [(row.number, row.cells["本文"]) for row in parsed] == [(2, "閉じ忘れ,5\n次の行\n")]


def test_nul_bytes_are_reported_with_the_row(tmp_path: Path) -> None:
    text = "本文,評価\r\n良い,5\r\n壊れ\x00た,4\r\n普通,3\r\n"
    parsed = list(iter_rows(write(tmp_path, text, encoding="utf-8")))
    assert [(row.number, row.error) for row in parsed] == [
        (2, None),
        (3, "本文: NUL 文字が含まれています / the cell contains NUL bytes"),
        (4, None),
    ]


def test_a_50_mb_cell_is_one_bad_row_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write("店舗,本文\r\n渋谷店,良い\r\n")
        file.write('新宿店,"' + "長い" * 12_500_000 + '"\r\n')  # 50 MB of UTF-8 on one line
        file.write('池袋店,"' + "改行\n" * 400_000 + '"\r\n')  # a huge quoted cell over many lines
        file.write("上野店,普通\r\n")
    tracemalloc.start()
    try:
        parsed = [(row.number, row.error, row.cells) for row in iter_rows(path)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsed == [
        (2, None, {"店舗": "渋谷店", "本文": "良い"}),
        (3, TOO_LONG.format(line=3, limit=1_000_000), {}),
        (4, TOO_LONG.format(line=4, limit=1_000_000), {}),
        (5, None, {"店舗": "上野店", "本文": "普通"}),
    ]
    assert peak < 30_000_000


def test_a_million_columns_in_one_row(tmp_path: Path) -> None:
    text = "ID,本文\r\n1,良い\r\n" + ",".join(["x"] * 1_000_000) + "\r\n2,普通\r\n"
    path = write(tmp_path, text, encoding="utf-8")
    assert [(row.number, row.error) for row in iter_rows(path)] == [
        (2, None),
        (3, TOO_LONG.format(line=3, limit=1_000_000)),
        (4, None),
    ]
    wide = iter_rows(path, limits=Limits(max_row_chars=3_000_000))
    assert [(row.number, row.error) for row in wide][1] == (3, "列数が上限を超えています / 1000000 columns > 1000")
    assert csv.field_size_limit() > 3_000_000


def test_a_header_over_the_column_limit(tmp_path: Path) -> None:
    path = write(tmp_path, ",".join(f"質問{i}" for i in range(5000)) + "\r\nx\r\n", encoding="utf-8")
    with pytest.raises(Invalid, match="the header has 5000 columns > 1000"):
        iter_rows(path, header_row=1)


def test_cell_and_column_limits_are_parameters(tmp_path: Path) -> None:
    text = "ID,本文\r\n1,とても長いご意見です\r\n2,短い,,,\r\n3,a,b,c\r\n"
    limits = Limits(max_cell_chars=8, max_columns=3)
    parsed = [(row.number, row.error) for row in iter_rows(write(tmp_path, text, encoding="utf-8"), limits=limits)]
    assert parsed == [
        (2, "本文: セルが長すぎます / cell over 8 chars"),
        (3, None),
        (4, "列数が上限を超えています / 4 columns > 3"),
    ]
