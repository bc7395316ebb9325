"""Cells of review exports: rows built from them within limits, and pure parsers for scores and dates."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

Cell = str | int | float | datetime | date | time | bool | None


@dataclass
class ParsedRow:
    """One row of an upload: its number as a spreadsheet user sees it, its cells by header, or why it is unreadable."""

    number: int
    cells: dict[str, Cell] = field(default_factory=dict)
    error: str | None = None


SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
Values = list[Cell] | dict[str, Cell]  # a CSV/XLSX row's cells in column order, or a JSONL object
STARS = frozenset("★☆")
# Excel's 1900 date system counts from 1899-12-30 once its fake 1900-02-29 is behind (serial 61 on).
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_MAX_SERIAL = 2958465  # 9999-12-31
ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925}

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_SCORE_SUFFIX = re.compile(r"\s*(?:点|pt|pts|points?)$", re.IGNORECASE)
_WEEKDAY = re.compile(r"\s*\((?:[月火水木金土日]|mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\)", re.IGNORECASE)
_ERA = re.compile(r"^(令和|平成|昭和)(元|\d{1,2})年")
_DATE_TIME = re.compile(
    r"(?P<y>\d{4})[/.\-年](?P<m>\d{1,2})[/.\-月](?P<d>\d{1,2})日?"
    r"(?:[\sT]*(?P<H>\d{1,2})[:時](?:(?P<M>\d{1,2})分?)?(?::(?P<S>\d{1,2})(?:\.(?P<F>\d{1,6}))?|(?P<S2>\d{1,2})秒)?)?"
)


@dataclass(frozen=True)
class Limits:
    """Per-upload limits; a row over one is reported as an error, never truncated silently."""

    max_cell_chars: int = 200_000
    max_columns: int = 1_000
    max_row_chars: int = 1_000_000  # a record's physical size: bounds memory even for a 50 MB cell
    max_xlsx_strings_bytes: int = 256 * 1024 * 1024  # openpyxl loads an XLSX's shared strings whole
    max_xlsx_bytes: int = 2 * 1024 * 1024 * 1024  # an XLSX's parts, uncompressed, together
    max_xlsx_ratio: int = 100  # uncompressed / compressed per part: workbooks ~15, a zip bomb ~1,000


def cells_of(values: Values) -> list[Cell]:
    """A row's cells whatever its shape."""
    return list(values.values()) if isinstance(values, dict) else values


def trim(values: list[Cell]) -> list[Cell]:
    """Without trailing empty cells: Excel writes empty columns up to its used range."""
    end = len(values)
    while end and not cell_text(values[end - 1]).strip():
        end -= 1
    return values[:end]


def build_row(number: int, values: Values, headers: list[str], limits: Limits) -> ParsedRow:
    """A row's cells by header, with CRLF made LF; a row over a limit or with NUL bytes becomes an error."""
    values = values if isinstance(values, dict) else trim(values)
    if len(values) > limits.max_columns:
        return ParsedRow(number, error=f"列数が上限を超えています / {len(values)} columns > {limits.max_columns}")
    if isinstance(values, dict):
        pairs = list(values.items())
    else:
        pairs = [(headers[i] if i < len(headers) else column_name(i), value) for i, value in enumerate(values)]
    cells: dict[str, Cell] = dict.fromkeys(headers)
    for name, value in pairs:
        if isinstance(value, str):
            if len(value) > limits.max_cell_chars:
                return ParsedRow(number, error=f"{name}: セルが長すぎます / cell over {limits.max_cell_chars} chars")
            if "\x00" in value:
                return ParsedRow(number, error=f"{name}: NUL 文字が含まれています / the cell contains NUL bytes")
            value = value.replace("\r\n", "\n").replace("\r", "\n") or None
        if name in cells or value is not None:
            cells[name] = value
    return ParsedRow(number, cells)


def make_headers(values: list[Cell]) -> list[str]:
    """Header names: stripped, a 列E name for a blank header, a _2 suffix for a repeated one."""
    headers: dict[str, None] = {}  # ordered, with O(1) lookups for wide rows
    for index, value in enumerate(trim(values)):
        name = cell_text(value).replace("\ufeff", "").strip() or column_name(index)
        base, copy = name, 1
        while name in headers:
            copy += 1
            name = f"{base}_{copy}"
        headers[name] = None
    return list(headers)


def shown(value: Cell, width: int = 40) -> str:
    """A value quoted for an error message, cut short so that a huge cell does not flood the report."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def column_name(index: int) -> str:
    """The name of a column without a header, as a spreadsheet user sees it: 列E."""
    return f"列{_letters(index)}"


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def parse_score(value: Cell, field: str) -> int:
    """A 0–10 / 1–5 / 1–7 score from 9, "９", "9点", "4.0" or "★★★★☆" (stars only for 1–5 scales)."""
    if field not in SCORE_RANGES:
        raise ValueError(f"{field} はスコアの項目ではありません / {field} is not a score field")
    low, high = SCORE_RANGES[field]
    score = score_number(value, stars_allowed=high == 5)
    if not low <= score <= high:
        raise ValueError(
            f"{field} は {low}〜{high} の範囲で指定してください / {field} must be {low}–{high} (got {score})"
        )
    return score


def score_number(value: Cell, *, stars_allowed: bool = True) -> int:
    """The whole number a score cell holds, without a range check."""
    if isinstance(value, bool) or value is None or isinstance(value, date | time):
        raise ValueError(f"スコアとして読めません / not a score: {shown(value)}")
    if isinstance(value, int | float):
        return _whole(float(value), value)
    text = unicodedata.normalize("NFKC", value).strip()
    if text and set(text) <= STARS:
        if not stars_allowed:
            raise ValueError(f"★ は 5 段階評価にだけ使えます / stars only fit a 1–5 scale: {shown(value)}")
        return text.count("★")
    text = _SCORE_SUFFIX.sub("", text)
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"スコアとして読めません / not a score: {shown(value)}")
    return _whole(float(text), value)


def _whole(number: float, original: Cell) -> int:
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"スコアは整数で指定してください / a score must be a whole number: {shown(original)}")
    return int(number)


def cell_text(value: Cell) -> str:
    """A cell as the text a spreadsheet shows: 12345.0 → "12345", datetimes in ISO form, None → ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def parse_datetime(value: Cell) -> datetime:
    """A datetime from ISO 8601, 2026/11/03 14:05, 2026年11月3日, 令和8年11月3日, an Excel serial or epoch seconds."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, bool) or value is None or isinstance(value, time):
        raise ValueError(f"日時として読めません / not a date: {shown(value)}")
    if isinstance(value, int | float):
        return from_number(float(value))
    return _parse_text(value)


def from_number(number: float) -> datetime:
    """An Excel serial date (naive, as the sheet shows it) or Unix seconds / milliseconds (aware UTC)."""
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"日時として読めません / not a date: {number!r}")
    if number <= EXCEL_MAX_SERIAL:
        days = number if number >= 61 else number + 1  # serials 1–60 sit before Excel's fake leap day
        moment = EXCEL_EPOCH + timedelta(days=days)
        return moment.replace(microsecond=0) + timedelta(seconds=round(moment.microsecond / 1e6))
    # Helpdesk APIs (Intercom, Freshdesk exports) write Unix time; Excel serials never reach 1e9.
    if 1e9 <= number < 1e10:
        return datetime.fromtimestamp(number, UTC)
    if 1e12 <= number < 1e13:
        return datetime.fromtimestamp(number / 1000, UTC)
    raise ValueError(f"日時として読めません / not a date: {number!r}")


def _parse_text(value: str) -> datetime:
    text = _WEEKDAY.sub("", unicodedata.normalize("NFKC", value)).strip()
    # 8 digits is ISO's basic 20261103; any other bare number is an Excel serial or Unix time.
    if _NUMBER.fullmatch(text) and not (text.isdigit() and len(text) == 8):
        return from_number(float(text))
    text = _ERA.sub(_era_year, text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"日時として読めません / not a date: {shown(value)}")
    try:
        return _from_match(match)
    except ValueError as error:
        raise ValueError(f"存在しない日時です / invalid date {shown(value)}: {error}") from None


def _era_year(match: re.Match[str]) -> str:
    number = 1 if match.group(2) == "元" else int(match.group(2))
    return f"{ERAS[match.group(1)] + number}年"


def _from_match(match: re.Match[str]) -> datetime:
    hour, minute, second = int(match["H"] or 0), int(match["M"] or 0), int(match["S"] or match["S2"] or 0)
    micro = int((match["F"] or "0").ljust(6, "0"))
    return datetime(int(match["y"]), int(match["m"]), int(match["d"]), hour, minute, second, micro)
