"""Streaming readers for review exports (CSV/TSV, XLSX, JSONL): detect format, encoding, dialect and header row."""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from itertools import chain, count, islice
from pathlib import Path, PurePath
from typing import IO, Any, Literal
from xml.etree.ElementTree import ParseError

import charset_normalizer
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from app.core.errors import Invalid
from app.ingest.mapping import detect_header_row, map_row, propose_mapping
from app.ingest.values import Cell, Limits, ParsedRow, Values, build_row, cell_text, cells_of, make_headers

Format = Literal["csv", "tsv", "jsonl", "xlsx"]
Record = tuple[int, Values, str | None]  # row number, cells, why the row is unreadable
HEAD_BYTES = 64 * 1024
RATIO_FLOOR = 1024 * 1024  # parts smaller than this expanded may compress as well as they like
HEADER_WINDOW = 10  # the header is searched for in this many first rows
EXTENSIONS: dict[str, Format] = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXTENSIONS |= {".xlsx": "xlsx", ".xlsm": "xlsx"}
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
JAPANESE = ("cp932", "euc_jp")
# Unrestricted, charset-normalizer names exotic code pages (cp1006 for Latin-1); these are the plausible others.
OTHER_ENCODINGS = ["cp1252", "gb18030", "big5", "cp949"]
DELIMITERS = ",\t;|"
SNIFF_CHARS = 16 * 1024  # csv.Sniffer's regexes slow down sharply on long samples
# Undecodable bytes become this lone surrogate, which no strict decode yields, so a row can say which line broke.
MARK = "\udcff"


def _mark(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return MARK, error.end


codecs.register_error("koe-mark", _mark)


class Dialect(csv.Dialect):
    """Excel's CSV conventions with a detected delimiter; lenient so that a stray quote never stops a file."""

    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL
    strict = False

    def __init__(self, delimiter: str = ",") -> None:
        self.delimiter = delimiter
        super().__init__()


def detect_format(filename: str, head: bytes) -> Format:
    """The upload's format from its extension, else from its first bytes."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".xls" or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise Invalid("旧形式の Excel (.xls) は読めません。.xlsx か CSV で保存し直してください / .xls is not supported")
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if suffix == ".json" and text.startswith(b"["):
        raise Invalid(
            "JSON 配列は読めません。1 行 1 オブジェクトの JSONL にしてください / use JSON Lines, not an array"
        )
    if head.startswith(b"PK"):
        return "xlsx"
    if text.startswith(b"{"):
        return "jsonl"
    return "tsv" if head.count(b"\t") > head.count(b",") else "csv"


def detect_encoding(head: bytes) -> str:
    """utf-8, utf-8-sig, utf-16, cp932 (for any Shift_JIS) or euc_jp, from the first ~64 KB of a file."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    if b"\x1b$B" in head or b"\x1b$@" in head:
        return "iso2022_jp"  # 7-bit JIS, as old mail systems write it, would otherwise pass as ASCII
    if _decodes(head, "utf-8") or _mostly_utf8(head):
        return "utf-8"  # Japanese in CP932 or EUC-JP is practically never valid UTF-8
    fitting = [name for name in JAPANESE if _decodes(head, name)]
    if len(fitting) == 1:
        return fitting[0]
    if fitting:  # EUC-JP bytes often decode as CP932 too: real Japanese reads as kana and kanji, not half-width junk
        return max(fitting, key=lambda name: _plausibility(head.decode(name, "ignore")))
    best = charset_normalizer.from_bytes(head[:HEAD_BYTES], cp_isolation=OTHER_ENCODINGS).best()
    if best is not None and _decodes(head, best.encoding):
        return best.encoding
    # No encoding reads every byte: take the closest one and let the broken rows report themselves.
    return min(("utf-8", *JAPANESE), key=lambda name: head.decode(name, "replace").count("\ufffd"))


def _decodes(head: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)  # the head may end mid-character
    except UnicodeDecodeError:
        return False
    return True


def _mostly_utf8(head: bytes) -> bool:
    """UTF-8 with a few broken bytes: it can still decode as CP932 (mojibake), so decide before trying CP932."""
    text = head.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    return broken * 20 <= sum(not char.isascii() for char in text) - broken


def _plausibility(text: str) -> float:
    common = sum(char.isascii() or "\u3000" <= char <= "\u30ff" or "\u4e00" <= char <= "\u9fff" for char in text)
    return common / max(len(text), 1)


def normalize_encoding(name: str, head: bytes = b"") -> str:
    """An explicit encoding checked and canonicalized: any Shift_JIS is read as its superset cp932."""
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a name with NUL in it
        raise Invalid(f"不明な文字コードです / unknown encoding {name!r}") from None
    if canonical.startswith("shift_jis") or canonical == "cp932":
        return "cp932"
    return "utf-8-sig" if canonical == "utf-8" and head.startswith(codecs.BOM_UTF8) else canonical


def sniff_dialect(sample: str, fmt: str = "csv") -> csv.Dialect:
    """The delimiter among , tab ; | that splits the sample most consistently (csv.Sniffer's pick wins ties)."""
    default = "\t" if fmt == "tsv" else ","
    try:
        sniffed = csv.Sniffer().sniff(sample[:SNIFF_CHARS], delimiters=DELIMITERS).delimiter
    except csv.Error:  # the Sniffer gives up on quoted newlines and single columns
        sniffed = default
    candidates = list(dict.fromkeys([sniffed, default, *DELIMITERS]))
    scores = [_consistency(sample, delimiter) for delimiter in candidates]
    return Dialect(candidates[scores.index(max(scores))] if max(scores) > 0 else default)


def _consistency(sample: str, delimiter: str) -> float:
    # newline="": a lone \r ends a line here as it does for the reader proper (else csv.Error on old Mac files)
    records = [row for row in csv.reader(io.StringIO(sample, newline=""), Dialect(delimiter)) if any(row)]
    widths = [len(row) for row in records[:-1] or records]  # the last record may be cut off by the sample's end
    if not widths:
        return 0.0
    modal = max(set(widths), key=widths.count)
    return widths.count(modal) / len(widths) if modal > 1 else 0.0


class Rows(Iterator[ParsedRow]):
    """The data rows of an upload, lazily; headers are known up front and fully empty rows are counted."""

    def __init__(
        self, headers: list[str], header_row: int | None, source: Iterator[Record], limits: Limits, closing: Any = None
    ) -> None:
        self.headers, self.header_row, self.limits = headers, header_row, limits
        self.skipped_empty = 0
        self.sheet: str | None = None
        self.sheets: list[str] = []
        self._source, self._closing = source, closing

    def __next__(self) -> ParsedRow:
        for number, values, error in self._source:
            if error is not None:
                return ParsedRow(number, error=error)
            if all(not cell_text(value).strip() for value in cells_of(values)):
                self.skipped_empty += 1
                continue
            return build_row(number, values, self.headers, self.limits)
        raise StopIteration

    def close(self) -> None:
        """Release the file now rather than when the iterator is collected."""
        if self._closing is not None:
            self._closing.close()


def iter_rows(
    path: str | Path,
    *,
    fmt: Format | None = None,
    encoding: str | None = None,
    dialect: csv.Dialect | type[csv.Dialect] | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    limits: Limits | None = None,
) -> Rows:
    """The data rows of an upload; what is not given (format, encoding, dialect, header row) is detected."""
    limits = limits or Limits()
    head = read_head(path)
    fmt = fmt or detect_format(str(path), head)
    if fmt == "xlsx":
        return _xlsx_rows(path, sheet, header_row, limits)
    encoding = normalize_encoding(encoding, head) if encoding else detect_encoding(head)
    if fmt == "jsonl":
        return _jsonl_rows(path, encoding, limits)
    dialect = dialect or sniff_dialect(_sample(head, encoding), fmt)
    source = _csv_records(path, encoding, dialect, limits)
    return _table(source, header_row, limits, source)


def read_head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a file, for detection."""
    with open(path, "rb") as file:
        return file.read(size)


def _sample(head: bytes, encoding: str) -> str:
    text = head.decode(encoding, "replace")
    if len(head) < HEAD_BYTES:
        return text
    return text[: text.rfind("\n") + 1] or text  # the head may end inside a record


def _table(source: Iterator[Record], header_row: int | None, limits: Limits, closing: Any) -> Rows:
    try:
        window = list(islice(source, max(HEADER_WINDOW, header_row or 0)))
        headers, header_row = _headers(window, header_row, limits)
    except Invalid:
        closing.close()
        raise
    return Rows(headers, header_row, chain(window[header_row:], source), limits, closing)


def _headers(window: list[Record], header_row: int | None, limits: Limits) -> tuple[list[str], int]:
    if not window:
        raise Invalid("ファイルが空です / the file is empty")
    if header_row is not None and header_row < 1:
        raise Invalid(f"見出し行は 1 以上です / header_row must be 1 or more, not {header_row}")
    header_row = header_row or detect_header_row([cells_of(values) for _, values, _ in window])
    if header_row > len(window):
        raise Invalid(f"見出し行 {header_row} 行目がありません / the file has no row {header_row}")
    _, values, error = window[header_row - 1]
    if error is not None:
        raise Invalid(f"見出し行 ({header_row} 行目) を読めません / the header row is unreadable: {error}")
    headers = make_headers(cells_of(values))
    if len(headers) > limits.max_columns:
        raise Invalid(
            f"見出しの列数が上限を超えています / the header has {len(headers)} columns > {limits.max_columns}"
        )
    return headers, header_row


class _TooLong(Exception):
    """A record outgrew Limits.max_row_chars before it ended."""


class _Lines(Iterator[str]):
    """Physical lines of a text stream, read in bounded pieces, with what the record being parsed has consumed."""

    def __init__(self, stream: IO[str], limit: int, quotechar: str | None) -> None:
        self.stream, self.limit, self.quotechar = stream, limit, quotechar
        self.line, self.ended = 0, True  # the physical line read last, and whether it was read to its end
        self.start()

    def start(self) -> None:
        """Begin a new record: csv.reader pulls exactly the lines of one record per next(), so counts are exact."""
        self.first, self.chars, self.quotes = self.line + 1, 0, 0
        self.bad_lines: list[int] = []

    def __next__(self) -> str:
        text = self._read(self.limit - self.chars + 1)
        if not text:
            raise StopIteration
        self.chars += len(text)
        if self.chars > self.limit:
            raise _TooLong
        if MARK in text:
            self.bad_lines.append(self.line)
        return text

    def _read(self, size: int) -> str:
        text = self.stream.readline(size)
        if text:
            self.line += self.ended
            self.ended = text.endswith(("\n", "\r"))
            self.quotes += text.count(self.quotechar) if self.quotechar else 0
        return text

    def skip(self) -> None:
        """Drop the rest of an oversize record: its line, then more lines while a quoted cell is still open."""
        while not self.ended or self.quotes % 2:
            if not self._read(HEAD_BYTES):
                break


def _open_text(path: str | Path, encoding: str) -> IO[str]:
    return io.TextIOWrapper(open(path, "rb"), encoding=encoding, errors="koe-mark", newline="")


def _csv_records(path: str | Path, encoding: str, dialect: Any, limits: Limits) -> Iterator[Record]:
    # The field limit is process-wide: only ever raise it, and keep it above a whole record so _TooLong fires first.
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_row_chars + 1))
    with _open_text(path, encoding) as stream:
        lines = _Lines(stream, limits.max_row_chars, getattr(dialect, "quotechar", '"'))
        reader = csv.reader(lines, dialect)
        for number in count(1):
            lines.start()
            try:
                values: list[Cell] = list(next(reader))
            except StopIteration:
                return
            except (_TooLong, csv.Error) as error:
                lines.skip()
                yield number, [], _too_long(lines.first, limits) if isinstance(error, _TooLong) else str(error)
                continue
            problem = _bad_bytes(lines, encoding)
            yield number, [] if problem else values, problem


def _too_long(line: int, limits: Limits) -> str:
    return f"{line}行目からの行が長すぎます / the row starting at line {line} is over {limits.max_row_chars} chars"


def _bad_bytes(lines: _Lines, encoding: str) -> str | None:
    if not lines.bad_lines:
        return None
    where = ", ".join(map(str, lines.bad_lines))
    return f"{where}行目に {encoding} として読めないバイトがあります / bytes not valid {encoding} on line {where}"


def _jsonl_rows(path: str | Path, encoding: str, limits: Limits) -> Rows:
    source = _jsonl_records(path, encoding, limits)
    window = list(islice(source, HEADER_WINDOW))
    keys = [key for _, row, _ in window if isinstance(row, dict) for key in row]
    return Rows(list(dict.fromkeys(keys)), None, chain(window, source), limits, closing=source)


def _jsonl_records(path: str | Path, encoding: str, limits: Limits) -> Iterator[Record]:
    with _open_text(path, encoding) as stream:
        lines = _Lines(stream, limits.max_row_chars, None)
        while True:
            lines.start()
            try:
                text = next(lines)
            except StopIteration:
                return
            except _TooLong:
                lines.skip()
                yield lines.first, {}, _too_long(lines.first, limits)
                continue
            error = _bad_bytes(lines, encoding)
            yield (lines.first, {}, error) if error else _json_object(lines.first, text)


def _json_object(number: int, text: str) -> Record:
    if not text.strip():
        return number, {}, None
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError as error:
        return number, {}, f"JSON として読めません / invalid JSON: {error.msg} (column {error.colno})"
    if not isinstance(value, dict):
        return number, {}, f"JSON オブジェクトではありません / not a JSON object: {type(value).__name__}"
    return number, {str(key): _json_cell(cell) for key, cell in value.items()}, None


def _json_cell(value: object) -> Cell:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)  # nested data is kept whole, as text, in metadata
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _xlsx_rows(path: str | Path, sheet: str | None, header_row: int | None, limits: Limits) -> Rows:
    # A file object, kept open while rows are read: openpyxl refuses paths without an .xlsx suffix, as uploads have.
    file = open(path, "rb")  # noqa: SIM115
    try:
        workbook = _open_workbook(file, limits)
        name = _sheet_name(workbook, sheet)
    except Invalid:
        file.close()
        raise
    source = _xlsx_records(file, workbook, name)
    rows = _table(source, header_row, limits, source)
    rows.sheet, rows.sheets = name, list(workbook.sheetnames)
    return rows


def _open_workbook(file: IO[bytes], limits: Limits) -> Any:
    try:
        with zipfile.ZipFile(file) as archive:  # a passed file object stays open
            parts = archive.infolist()
        _refuse_zip_bomb(parts, limits)
        strings = sum(i.file_size for i in parts if i.filename.lower().endswith("sharedstrings.xml"))
        if strings > limits.max_xlsx_strings_bytes:
            # openpyxl holds the shared strings (all of a sheet's text) in memory even in read-only mode.
            raise Invalid(f"XLSX の文字列が大きすぎます / the XLSX holds {strings} bytes of text, over the limit")
        return load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ParseError, ValueError, OSError) as error:
        raise Invalid(f"XLSX ファイルとして開けません / not a readable XLSX file: {error}") from None


def _refuse_zip_bomb(parts: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Judge a workbook by the sizes its zip declares, before inflating anything: zipfile never inflates a part
    past its declared size, so these bound what openpyxl can be made to read."""
    total = sum(part.file_size for part in parts)
    if total > limits.max_xlsx_bytes:
        raise Invalid(
            f"XLSX を展開すると大きすぎます / the XLSX expands to {total:,} bytes > {limits.max_xlsx_bytes:,}",
            code="xlsx_too_large",
        )
    for part in parts:
        if part.file_size > max(RATIO_FLOOR, limits.max_xlsx_ratio * part.compress_size):
            ratio = part.file_size // max(part.compress_size, 1)
            raise Invalid(
                f"XLSX の {part.filename} の圧縮率が異常です（zip bomb）/ {part.filename} expands {ratio:,}× "
                f"to {part.file_size:,} bytes, more than a workbook does (zip bomb?)",
                code="zip_bomb",
            )


def _sheet_name(workbook: Any, sheet: str | None) -> str:
    if sheet is None or sheet in workbook.sheetnames:
        return sheet or str(workbook.sheetnames[0])
    names = ", ".join(workbook.sheetnames)
    workbook.close()
    raise Invalid(f"シート {sheet!r} がありません（あるのは {names}）/ no sheet {sheet!r}; sheets: {names}")


def _xlsx_records(file: IO[bytes], workbook: Any, sheet: str) -> Iterator[Record]:
    worksheet = workbook[sheet]
    worksheet.reset_dimensions()  # exporters often write a wrong <dimension>, which would cut columns off
    number = 0
    try:
        # read-only iter_rows yields an empty tuple for each missing row, so enumerating gives sheet row numbers
        for number, values in enumerate(worksheet.iter_rows(min_row=1, values_only=True), start=1):
            yield number, list(values), None
    except (ParseError, zipfile.BadZipFile, ValueError) as error:
        raise Invalid(
            f"{number + 1}行目付近でシートが壊れています / the sheet is corrupt near row {number + 1}: {error}"
        ) from error
    finally:
        workbook.close()
        file.close()


def preview(
    path: str | Path,
    *,
    filename: str,
    encoding: str | None = None,
    sheet: str | None = None,
    rows: int = 20,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """What an analyst checks before importing: detected format and layout, proposed mapping, first rows and errors."""
    head = read_head(path)
    fmt = detect_format(filename, head)
    encoding = None if fmt == "xlsx" else normalize_encoding(encoding, head) if encoding else detect_encoding(head)
    dialect = sniff_dialect(_sample(head, encoding), fmt) if fmt in ("csv", "tsv") and encoding else None
    table = iter_rows(path, fmt=fmt, encoding=encoding, dialect=dialect, sheet=sheet, limits=limits)
    try:
        sample = list(islice(table, rows))
    finally:
        table.close()
    mapping = propose_mapping(table.headers, [row.cells for row in sample if row.error is None])
    layout = {"format": fmt, "encoding": encoding, "dialect": _dialect_info(dialect), "sheet": table.sheet}
    return layout | {
        "sheets": table.sheets,
        "header_row": table.header_row,
        "headers": table.headers,
        "mapping": mapping,
        "rows": [{"number": row.number, "cells": _shown(row), "error": row.error} for row in sample],
        "errors": [error.as_dict() for row in sample for error in map_row(row, mapping)[1]],
        "skipped_empty": table.skipped_empty,
    }


def _dialect_info(dialect: csv.Dialect | None) -> dict[str, str] | None:
    return {"delimiter": dialect.delimiter, "quotechar": str(dialect.quotechar)} if dialect else None


def _shown(row: ParsedRow) -> dict[str, str]:
    return {header: cell_text(value) for header, value in row.cells.items()}
