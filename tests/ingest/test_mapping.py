"""Header row detection, proposed mappings from Japanese and English headers, and mapping one row."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.core.errors import Invalid
from app.ingest.mapping import detect_header_row, map_row, propose_mapping, validate_mapping
from app.ingest.values import Cell, ParsedRow


def test_japanese_helpdesk_headers() -> None:
    headers = ["チケット番号", "受付日時", "お問い合わせ内容", "チャネル", "顧客ID", "会員ランク", "タッチポイント"]
    headers += ["ステージ", "商品名", "担当者"]
    assert propose_mapping(headers) == {
        "チケット番号": "external_id",
        "受付日時": "written_at",
        "お問い合わせ内容": "text",
        "チャネル": "channel",
        "顧客ID": "customer_id",
        "会員ランク": "segment",
        "タッチポイント": "touchpoint",
        "ステージ": "stage",
        "商品名": "metadata.商品名",
        "担当者": "metadata.担当者",
    }


def test_english_headers_and_spelling_variants() -> None:
    headers = ["ID", "Created At", "Review", "NPS", "CSAT", "CES", "Source", "Segment", "customer_id"]
    assert propose_mapping(headers) == {
        "ID": "external_id",
        "Created At": "written_at",
        "Review": "text",
        "NPS": "nps",
        "CSAT": "csat",
        "CES": "ces",
        "Source": "source",
        "Segment": "segment",
        "customer_id": "customer_id",
    }


def test_scale_hints_in_headers() -> None:
    headers = ["おすすめ度（0〜10）", "満足度(5段階)", "この店舗を友人にすすめる可能性は？", "ご意見・ご感想"]
    assert propose_mapping(headers) == {
        "おすすめ度（0〜10）": "nps",
        "満足度(5段階)": "csat",
        "この店舗を友人にすすめる可能性は？": "metadata.この店舗を友人にすすめる可能性は？",
        "ご意見・ご感想": "text",
    }
    assert propose_mapping(["スコア（0-10）", "本文"])["スコア（0-10）"] == "nps"
    assert propose_mapping(["友人や知人に薦める可能性（0〜10）"]) == {"友人や知人に薦める可能性（0〜10）": "nps"}


def test_a_survey_question_is_nps_only_when_it_holds_scores() -> None:
    question = "この店舗を友人にすすめる可能性はどのくらいありますか？"
    rows: list[dict[str, Cell]] = [{question: "8", "おすすめ商品": "抹茶ラテ", "本文": "良い"}, {question: 3}]
    assert propose_mapping([question, "おすすめ商品", "本文"], rows) == {
        question: "nps",
        "おすすめ商品": "metadata.おすすめ商品",
        "本文": "text",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["★★★★☆", "5", "１"], "csat"),
        ([4.0, 3, None, ""], "csat"),
        (["0", "9", "10"], "nps"),
        (["7", "3"], "nps"),
        (["良い", "3"], "metadata.評価"),
        (["12", "3"], "metadata.評価"),
        ([], "metadata.評価"),
    ],
)
def test_a_generic_rating_is_decided_by_its_values(values: list[object], expected: str) -> None:
    rows = [{"評価": value, "本文": "良い"} for value in values]
    assert propose_mapping(["評価", "本文"], rows) == {"評価": expected, "本文": "text"}  # type: ignore[arg-type]


def test_one_column_per_field_and_explicit_names_first() -> None:
    rows = [{"評価": "4", "満足度": "5", "レビュー": "良い", "コメント": "店長より"}]
    assert propose_mapping(["評価", "満足度", "レビュー", "コメント"], rows) == {
        "評価": "metadata.評価",
        "満足度": "csat",
        "レビュー": "text",
        "コメント": "metadata.コメント",
    }


def test_header_row_below_a_title() -> None:
    rows: list[list[Cell]] = [
        ["2026年11月 店舗アンケート結果", None, None],
        [],
        ["店舗", "投稿日", "本文"],
        ["渋谷店", "2026/11/03", "良い"],
    ]
    assert detect_header_row(rows) == 3
    assert detect_header_row([["会社概要"], ["列1", "列2", "列3"], ["a", "b"]]) == 2  # no known header: widest row
    assert detect_header_row([]) == 1


MAPPING = {
    "ID": "external_id",
    "日時": "written_at",
    "本文": "text",
    "NPS": "nps",
    "満足度": "csat",
    "CES": "ces",
    "チャネル": "channel",
    "ステージ": "stage",
    "会員番号": "customer_id",
    "店舗": "metadata.店舗",
}


def test_a_full_row() -> None:
    cells: dict[str, Cell] = {
        "ID": 1001.0,
        "日時": "2026年11月3日 14時05分",
        "本文": "  配送は早かったけど、\n箱が潰れていました。 ",
        "NPS": "７",
        "満足度": "★★★★☆",
        "CES": "2",
        "チャネル": "アンケート",
        "ステージ": "購入",
        "会員番号": "M-0042",
        "店舗": "渋谷店",
        "備考": "初回購入",
        "空": None,
    }
    assert map_row(ParsedRow(3, cells), MAPPING) == (
        {
            "external_id": "1001",
            "written_at": datetime(2026, 11, 3, 14, 5),
            "text": "配送は早かったけど、\n箱が潰れていました。",
            "nps": 7,
            "csat": 4,
            "ces": 2,
            "channel": "survey",
            "stage": "purchase",
            "customer_id": "M-0042",
            "metadata": {"店舗": "渋谷店", "備考": "初回購入"},
        },
        [],
    )


def test_every_bad_cell_is_reported_with_its_pointer() -> None:
    cells: dict[str, Cell] = {
        "日時": "昨日",
        "本文": " ",
        "NPS": "11",
        "ステージ": "検品",
        "日付/時刻": "x",
        "チャネル": "Webフォーム",
    }
    item, errors = map_row(ParsedRow(7, cells), {**MAPPING, "日付/時刻": "metadata.日付/時刻"})
    assert [(error.pointer, error.detail) for error in errors] == [
        ("/rows/7/日時", "日時として読めません / not a date: '昨日'"),
        ("/rows/7/NPS", "nps は 0〜10 の範囲で指定してください / nps must be 0–10 (got 11)"),
        ("/rows/7/ステージ", "不明なジャーニーステージです / unknown stage: '検品'"),
        ("/rows/7/本文", "本文が空です / text is empty"),
    ]
    assert item == {"channel": "other", "metadata": {"日付/時刻": "x", "チャネル": "Webフォーム"}}
    assert map_row(ParsedRow(8, {"日付/時刻": "x"}), {"日付/時刻": "nps"})[1][0].pointer == "/rows/8/日付~1時刻"


def test_unreadable_rows_and_a_missing_text_column() -> None:
    assert [error.as_dict() for error in map_row(ParsedRow(4, error="壊れた行"), MAPPING)[1]] == [
        {"pointer": "/rows/4", "detail": "壊れた行", "code": "unreadable_row"}
    ]
    assert [error.detail for error in map_row(ParsedRow(5, {"店舗": "渋谷店"}), {"店舗": "metadata.店舗"})[1]] == [
        "本文の列が割り当てられていません / no column is mapped to text"
    ]


def test_validate_mapping() -> None:
    validate_mapping({"レビュー": "text", "評価": "csat", "店舗": "metadata.店舗"})
    with pytest.raises(Invalid) as raised:
        validate_mapping({"レビュー": "text", "満足度": "csat", "評価": "csat", "店舗": "shop"})
    assert [(error.pointer, error.detail) for error in raised.value.errors] == [
        ("/mapping/評価", "csat は既に割り当て済みです / csat twice"),
        ("/mapping/店舗", "不明な項目です / unknown field 'shop'"),
    ]
