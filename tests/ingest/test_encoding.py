"""Encoding detection on realistic Japanese exports, explicit overrides, and bytes that do not decode."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from app.core.errors import Invalid
from app.ingest.readers import HEAD_BYTES, detect_encoding, iter_rows, normalize_encoding, preview
from tests.ingest import FIRST_TEXT, SURVEY_CSV

SAMPLES = [
    SURVEY_CSV,
    "本文\r\n良い\r\n",
    "レビュー\r\nとても満足です。また利用します。\r\n",
    "ID,コメント\r\n1,アプリの表示が遅い\r\n2,ｻｰﾋﾞｽ良好\r\n",
    "店舗,評価\r\n渋谷店,５\r\n",
    "満足",
    "森鴎外",
]
CP932_ONLY = "会社,本文\r\n㈱髙橋商店,①梱包が丁寧 ②配送が早い～\r\n"  # NEC/IBM extensions that Shift_JIS lacks


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("encoding", ["utf-8", "cp932", "euc_jp"])
def test_detects_realistic_japanese_including_short_files(text: str, encoding: str) -> None:
    assert detect_encoding(text.encode(encoding)) == encoding


def test_half_width_katakana_only_cp932() -> None:
    # Legacy systems write half-width katakana only; these bytes are also valid EUC-JP, so plausibility decides.
    assert detect_encoding("ｺﾒﾝﾄ\r\nﾖｶｯﾀ\r\n".encode("cp932")) == "cp932"
    assert detect_encoding("ﾒｲ,ｺﾒﾝﾄ\r\nﾔﾏﾀﾞ,ｻｰﾋﾞｽｶﾞﾖｶｯﾀ\r\n".encode("cp932")) == "cp932"


def test_bom_tells_utf8_sig_and_utf16() -> None:
    assert detect_encoding(SURVEY_CSV.encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding(SURVEY_CSV.encode("utf-16")) == "utf-16"


def test_shift_jis_and_its_cp932_extensions_read_as_cp932() -> None:
    assert detect_encoding(SURVEY_CSV.encode("shift_jis")) == "cp932"
    assert detect_encoding(CP932_ONLY.encode("cp932")) == "cp932"


def test_ascii_is_utf8_and_jis_is_iso2022() -> None:
    assert detect_encoding(b"id,text\r\n1,great service\r\n") == "utf-8"
    assert detect_encoding("本文\r\n良い\r\n".encode("iso2022_jp")) == "iso2022_jp"


def test_non_japanese_legacy_files_get_a_plausible_code_page() -> None:
    assert detect_encoding("café,naïve\nrésumé,crème brûlée\n".encode("cp1252")) == "cp1252"


@pytest.mark.parametrize("encoding", ["utf-8", "cp932", "euc_jp"])
def test_head_cut_in_the_middle_of_a_character(encoding: str) -> None:
    body = "".join(f"{i},配送が早くて助かりました。梱包も丁寧でした！\r\n" for i in range(3000)).encode(encoding)
    for cut in range(HEAD_BYTES - 3, HEAD_BYTES + 1):
        assert detect_encoding(body[:cut]) == encoding


def test_utf8_with_a_stray_byte_is_still_utf8() -> None:
    body = SURVEY_CSV.encode() * 20
    assert detect_encoding(body[:300] + b"\xff" + body[300:]) == "utf-8"


def test_explicit_names_are_canonical() -> None:
    assert normalize_encoding("Shift_JIS") == "cp932"
    assert normalize_encoding("sjis") == "cp932"
    assert normalize_encoding("EUC-JP") == "euc_jp"
    assert normalize_encoding("utf-8", codecs.BOM_UTF8 + b"a") == "utf-8-sig"
    with pytest.raises(Invalid, match="unknown encoding 'klingon'"):
        normalize_encoding("klingon")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932", "euc_jp", "utf-16"])
def test_every_encoding_reads_the_same_rows(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "survey.csv"
    path.write_text(SURVEY_CSV, encoding=encoding, newline="")
    result = preview(path, filename="survey.csv")
    assert result["encoding"] == encoding
    assert [row["number"] for row in result["rows"]] == [3, 5, 6]
    assert result["rows"][0]["cells"]["本文"] == FIRST_TEXT
    assert result["headers"] == ["店舗", "投稿日", "評価", "本文"]


def test_invalid_utf8_in_a_declared_utf8_file_flags_the_row(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    good = "本文,評価\r\n良い,5\r\n"
    path.write_bytes(good.encode() + b"\xe8\x89\xaf\xff\xfe,4\r\n" + "普通,3\r\n".encode())
    rows = list(iter_rows(path, encoding="utf-8"))
    assert [(row.number, row.error) for row in rows] == [
        (2, None),
        (3, "3行目に utf-8 として読めないバイトがあります / bytes not valid utf-8 on line 3"),
        (4, None),
    ]
    assert rows[2].cells == {"本文": "普通", "評価": "3"}


def test_cp932_file_read_as_utf8_reports_each_row_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("ID,本文\r\n1,良い\r\n2,hello\r\n".encode("cp932"))
    with pytest.raises(Invalid, match="the header row is unreadable"):
        iter_rows(path, encoding="utf-8", header_row=1)
    rows = iter_rows(path, encoding="cp932")
    assert [(row.number, row.cells) for row in rows] == [
        (2, {"ID": "1", "本文": "良い"}),
        (3, {"ID": "2", "本文": "hello"}),
    ]


def test_bad_bytes_on_a_last_line_without_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "last.csv"
    path.write_bytes("本文\r\n良い\r\n".encode() + b"\x82\xa0")
    rows = list(iter_rows(path, encoding="utf-8"))
    assert [(row.number, row.error) for row in rows] == [
        (2, None),
        (3, "3行目に utf-8 として読めないバイトがあります / bytes not valid utf-8 on line 3"),
    ]


def test_bad_bytes_inside_a_multiline_cell_name_the_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_bytes('本文,評価\r\n"一行目\r\n二行目'.encode() + b"\x81" + '",4\r\n次,5\r\n'.encode())
    rows = list(iter_rows(path, encoding="utf-8"))
    assert [(row.number, row.error) for row in rows] == [
        (2, "3行目に utf-8 として読めないバイトがあります / bytes not valid utf-8 on line 3"),
        (3, None),
    ]
