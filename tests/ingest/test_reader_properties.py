"""Property: any table written with Python's csv module, in any encoding an export uses, reads back through
app/ingest/readers.py with the same rows and cells (quotes, commas and line breaks inside cells included)."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingest.readers import iter_rows
from app.ingest.values import Cell

HEADERS = ["レビューID", "本文", "店舗", "満足度"]  # known headers: the header row is found, whatever the cells
JAPANESE = "あいうえおがぱゃっーアイウエオガパャッヴ漢字配送遅最高満足店員対応髙﨑①～、。「」（）！？ｶﾞｯｶﾘ　"
# Cells mix Japanese, ASCII and what CSV must quote (" , and line breaks); never ; | or tab, which would make the
# delimiter itself ambiguous, nor NUL, which the reader reports as an error by design.
cell_text = st.lists(
    st.one_of(
        st.sampled_from(JAPANESE),
        st.characters(min_codepoint=32, max_codepoint=126, exclude_characters=";|"),
        st.sampled_from(['"', ",", "\n", "\r\n", "\r", " "]),
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00\t;|"),
    ),
    max_size=12,
).map("".join)
ENCODINGS = ["utf-8", "utf-8-sig", "cp932"]
PROPERTY = settings(max_examples=150, deadline=None)


def encodable(cell: str, encoding: str) -> str:
    """The characters of `cell` that `encoding` spells and reads back as themselves."""
    return "".join(c for c in cell if _round_trips(c, encoding))


def _round_trips(char: str, encoding: str) -> bool:
    try:
        return char.encode(encoding).decode(encoding) == char
    except UnicodeError:
        return False


@st.composite
def tables(draw: st.DrawFn, encoding: str) -> list[list[str]]:
    rows = draw(st.lists(st.lists(cell_text, min_size=len(HEADERS), max_size=len(HEADERS)), min_size=1, max_size=8))
    return [[encodable(cell, encoding) for cell in row] for row in rows]


def written(table: list[list[str]], encoding: str, lineterminator: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=lineterminator).writerows([HEADERS, *table])
    return buffer.getvalue().encode(encoding)


def expected(table: list[list[str]]) -> list[dict[str, Cell]]:
    """What the reader promises: line breaks in cells as LF, blank rows skipped."""
    rows = [[cell.replace("\r\n", "\n").replace("\r", "\n") for cell in row] for row in table]
    return [dict(zip(HEADERS, map(blank_as_none, row), strict=True)) for row in rows if any(map(str.strip, row))]


def blank_as_none(cell: Cell) -> Cell:
    """Empty and whitespace-only cells say the same (nothing): trailing ones are trimmed as Excel's padding."""
    return None if cell is None or not str(cell).strip() else cell


def read_back(content: bytes, encoding: str | None) -> tuple[list[str], list[dict[str, Cell]]]:
    with TemporaryDirectory() as directory:
        path = Path(directory) / "export.csv"
        path.write_bytes(content)
        rows = iter_rows(path, encoding=encoding)
        try:
            parsed = list(rows)
        finally:
            rows.close()
    assert [row.error for row in parsed if row.error] == []
    return rows.headers, [{name: blank_as_none(cell) for name, cell in row.cells.items()} for row in parsed]


@PROPERTY
@given(st.sampled_from(ENCODINGS).flatmap(lambda e: st.tuples(st.just(e), tables(e))), st.sampled_from(["\r\n", "\n"]))
def test_any_csv_reads_back_cell_for_cell_in_the_encoding_named(
    encoded: tuple[str, list[list[str]]], lineterminator: str
) -> None:
    encoding, table = encoded
    if lineterminator == "\n":  # csv.writer then leaves a lone \r unquoted: no reader could tell it from a line end
        table = [[cell.replace("\r", "") for cell in row] for row in table]
    assert read_back(written(table, encoding, lineterminator), encoding) == (HEADERS, expected(table))


@PROPERTY
@given(st.sampled_from(ENCODINGS).flatmap(lambda e: st.tuples(st.just(e), tables(e))))
def test_any_csv_with_japanese_text_reads_back_with_its_encoding_detected(encoded: tuple[str, list[list[str]]]) -> None:
    encoding, table = encoded
    content = written(table, encoding, "\r\n")
    if encoding == "utf-8-sig":
        assert content.startswith(codecs.BOM_UTF8)
    assert read_back(content, None) == (HEADERS, expected(table))
