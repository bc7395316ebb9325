"""Score and date parsers: the ways Japanese spreadsheets and CRM exports write them, and clear refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from app.ingest.values import cell_text, parse_datetime, parse_score

JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        (9, "nps", 9),
        ("９", "nps", 9),
        ("１０", "nps", 10),
        ("0", "nps", 0),
        ("9点", "nps", 9),
        ("７ 点", "ces", 7),
        ("★★★★☆", "csat", 4),
        ("★★★★★", "csat", 5),
        ("4.0", "csat", 4),
        ("４．０", "csat", 4),
        (4.0, "csat", 4),
        (" 3 ", "ces", 3),
    ],
)
def test_scores(value: object, field: str, expected: int) -> None:
    assert parse_score(value, field) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("11", "nps", "nps は 0〜10 の範囲で指定してください / nps must be 0–10 (got 11)"),
        ("0", "csat", "csat は 1〜5 の範囲で指定してください / csat must be 1–5 (got 0)"),
        ("８", "ces", "ces は 1〜7 の範囲で指定してください / ces must be 1–7 (got 8)"),
        ("☆☆☆☆☆", "csat", "csat は 1〜5 の範囲で指定してください / csat must be 1–5 (got 0)"),
        ("4.5", "csat", "スコアは整数で指定してください / a score must be a whole number: '4.5'"),
        ("★★★", "nps", "★ は 5 段階評価にだけ使えます / stars only fit a 1–5 scale: '★★★'"),
        ("とても良い", "csat", "スコアとして読めません / not a score: 'とても良い'"),
        ("", "nps", "スコアとして読めません / not a score: ''"),
        (True, "nps", "スコアとして読めません / not a score: True"),
        (float("inf"), "nps", "スコアは整数で指定してください / a score must be a whole number: inf"),
        ("5", "rating", "rating はスコアの項目ではありません / rating is not a score field"),
    ],
)
def test_bad_scores(value: object, field: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_score(value, field)  # type: ignore[arg-type]
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-03T14:05:00+09:00", datetime(2026, 11, 3, 14, 5, tzinfo=JST)),
        ("2026-11-03T05:05:00Z", datetime(2026, 11, 3, 5, 5, tzinfo=UTC)),
        ("2026-11-03 14:05:09", datetime(2026, 11, 3, 14, 5, 9)),
        ("2026-11-03", datetime(2026, 11, 3)),
        ("20261103", datetime(2026, 11, 3)),
        ("2026/11/03 14:05", datetime(2026, 11, 3, 14, 5)),
        ("2026/11/3", datetime(2026, 11, 3)),
        ("2026/11/3 9:05:30.25", datetime(2026, 11, 3, 9, 5, 30, 250000)),
        ("2026.11.03", datetime(2026, 11, 3)),
        ("2026年11月3日", datetime(2026, 11, 3)),
        ("2026年11月3日 14時05分", datetime(2026, 11, 3, 14, 5)),
        ("2026年11月3日(火) 14時05分30秒", datetime(2026, 11, 3, 14, 5, 30)),
        ("２０２６／１１／０３　１４：０５", datetime(2026, 11, 3, 14, 5)),
        ("令和8年11月3日", datetime(2026, 11, 3)),
        ("令和元年5月1日", datetime(2019, 5, 1)),
        ("平成31年4月30日", datetime(2019, 4, 30)),
        (46329.59, datetime(2026, 11, 3, 14, 9, 36)),
        ("46329", datetime(2026, 11, 3)),
        (1762146300, datetime(2025, 11, 3, 5, 5, tzinfo=UTC)),
        (1762146300000, datetime(2025, 11, 3, 5, 5, tzinfo=UTC)),
        (datetime(2026, 11, 3, 14, 5), datetime(2026, 11, 3, 14, 5)),
        (date(2026, 11, 3), datetime(2026, 11, 3)),
    ],
)
def test_datetimes(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value)  # type: ignore[arg-type]
    assert parsed == expected
    assert parsed.tzinfo == expected.tzinfo  # naive stays naive: the caller applies Asia/Tokyo


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026/13/03", "存在しない日時です / invalid date '2026/13/03': month must be in 1..12"),
        ("2026/11/03 25:00", "存在しない日時です / invalid date '2026/11/03 25:00': hour must be in 0..23"),
        ("昨日", "日時として読めません / not a date: '昨日'"),
        ("", "日時として読めません / not a date: ''"),
        (-3, "日時として読めません / not a date: -3.0"),
        (time(14, 5), "日時として読めません / not a date: datetime.time(14, 5)"),
    ],
)
def test_bad_datetimes(value: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_datetime(value)  # type: ignore[arg-type]
    assert str(raised.value) == message


def test_messages_cut_huge_values_short() -> None:
    with pytest.raises(ValueError) as raised:
        parse_score("とても" * 10_000, "csat")
    assert str(raised.value) == "スコアとして読めません / not a score: '" + ("とても" * 13)[:38] + "…"


def test_cell_text_shows_what_a_spreadsheet_shows() -> None:
    assert [cell_text(value) for value in (None, 12345.0, 4.5, 7, "渋谷店", datetime(2026, 11, 3, 14, 5))] == [
        "",
        "12345",
        "4.5",
        "7",
        "渋谷店",
        "2026-11-03 14:05:00",
    ]
