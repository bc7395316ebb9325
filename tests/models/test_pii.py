"""PII detection and redaction (models/pii.py): each type, its look-alikes, overlaps, custom patterns, redaction."""

from __future__ import annotations

import itertools
import json

import pytest

from models.pii import LABELS, PII_TYPES, PiiDetector, PiiSpan, fold, luhn_ok, my_number_ok, redact
from pipelines.evaluate_pii import CORPUS, Gold, match

DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(s.type, s.text) for s in DETECTOR.find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("電話番号は03-1234-5678です", "03-1234-5678"),
        ("携帯（０９０－１２３４－５６７８）まで", "０９０－１２３４－５６７８"),
        ("携帯は０８０ー１１１１ー２２２２です", "０８０ー１１１１ー２２２２"),
        ("自宅(03)1234-5678", "(03)1234-5678"),
        ("03(1234)5678へ", "03(1234)5678"),
        ("窓口0120-123-456", "0120-123-456"),
        ("海外から+81-90-1234-5678", "+81-90-1234-5678"),
        ("海外から+81 (0)3 1234 5678", "+81 (0)3 1234 5678"),
        ("番号変わりました09012345678です", "09012345678"),
        ("TEL03-1234-5678", "03-1234-5678"),
        ("連絡先090.1234.5678", "090.1234.5678"),
    ],
)
def test_phone_formats(text: str, expected: str) -> None:
    assert found(text) == [("phone", expected)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("返信先 taro.yamada+shop@mail.example.co.jp まで", "taro.yamada+shop@mail.example.co.jp"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍに送ってください", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
        ("メールはk_ito@example.jpです。", "k_ito@example.jp"),
    ],
)
def test_email(text: str, expected: str) -> None:
    assert found(text) == [("email", expected)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("〒150-0041に送ってください", "〒150-0041"),
        ("〒1500041に送ってください", "〒1500041"),
        ("郵便番号は530-0001です", "530-0001"),
        ("郵便番号１６０－００２２", "１６０－００２２"),
    ],
)
def test_postal_code(text: str, expected: str) -> None:
    assert found(text) == [("postal_code", expected)]


def test_bare_postal_code_needs_context_or_a_following_address() -> None:
    assert found("品番123-4567の在庫") == []
    assert ("postal_code", "150-0041") in found("150-0041 東京都渋谷区神南1-2-3")


@pytest.mark.parametrize(
    "address",
    [
        "東京都渋谷区神南1-2-3",
        "大阪市北区梅田２丁目４番９号 梅田センタービル５F",
        "東京都世田谷区三軒茶屋2-11-22 サンハイツ三軒茶屋101",
        "北海道札幌市中央区北1条西2丁目3-4",
        "長野県北佐久郡軽井沢町大字軽井沢1234番地",
        "宮城県仙台市青葉区一番町二丁目5-8",
        "埼玉県所沢市けやき台1-2-3",
        "東京都 千代田区 永田町 1-7-1",
        "群馬県高崎市八島町222",
    ],
)
def test_address(address: str) -> None:
    assert found(f"住まいは{address}です。") == [("address", address)]


def test_region_is_an_address_only_after_an_address_word() -> None:
    assert found("住所は東京都世田谷区です") == [("address", "東京都世田谷区")]
    assert found("東京都世田谷区在住の者です") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("カード番号は4111 1111 1111 1111です", "4111 1111 1111 1111"),
        ("4242-4242-4242-4242で決済", "4242-4242-4242-4242"),
        ("AMEX 3782 822463 10005", "3782 822463 10005"),
        ("カード 1234-5678-9012-3456 が使えない", "1234-5678-9012-3456"),  # fails Luhn, but right after カード
    ],
)
def test_card(text: str, expected: str) -> None:
    assert found(text) == [("card", expected)]


def test_card_look_alikes() -> None:
    assert found("JANコード4901234567894の商品") == []
    assert found("番号 1234 5678 9012 3456 を控えました") == []  # no card word, fails Luhn
    assert found("ポイントカード番号 1234 5678 9012 3456") == []


def test_my_number() -> None:
    assert my_number_ok("123456789018") and not my_number_ok("123456789012")
    assert found("マイナンバーは1234 5678 9012です") == [("my_number", "1234 5678 9012")]
    assert found("確認しました: 1234-5678-9018") == [("my_number", "1234-5678-9018")]  # valid check digit
    assert found("追跡番号 1234-5678-9018 で調べて") == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("担当の佐藤様が丁寧でした", ["佐藤"]),
        ("山田太郎様、ご注文ありがとうございます", ["山田太郎"]),
        ("加藤 健一様より入電", ["加藤 健一"]),
        ("ジョン・スミス様から英語の問い合わせ", ["ジョン・スミス"]),
        ("ヤマダ タロウ様のご注文", ["ヤマダ タロウ"]),
        ("田中と申します", ["田中"]),
        ("平野と申します", ["平野"]),
        ("中村部長から折り返し", ["中村"]),
        ("森さんの説明が分かりやすい", ["森"]),
        ("大橋様ですね", ["大橋"]),
        ("宮崎：ログインできません", ["宮崎"]),
        ("桜井 翼さんの連絡先", ["桜井 翼"]),
    ],
)
def test_person(text: str, names: list[str]) -> None:
    assert [t for kind, t in found(text) if kind == "person"] == names


@pytest.mark.parametrize(
    "text",
    [
        "お客様と店員さんと担当者様",
        "お疲れ様です、皆様",
        "CAさんが親切でした",
        "仲居さんの気配りが素晴らしい",
        "山田電機で安く売っていた",
        "豊田市のイベント",
        "伊藤園のお茶",
        "デビットカードが使えない",
        "待ち時間ゼロは正義",
        "梅田の百貨店で見かけました",
        "福岡の店舗限定ですか",
        "お伊勢さんにお参りしました",
        "株式会社マルヤマに発注しました",
    ],
)
def test_person_look_alikes(text: str) -> None:
    assert [s for s in DETECTOR.find(text) if s.type == "person"] == []


@pytest.mark.parametrize(
    "text",
    [
        "12,800円のコースで￥3,980の追加",
        "2026/11/03 14:05に注文、11月5日に到着",
        "型番KX-2000とSKU-4491-22",
        "v2.3.1に更新したら10:00-19:00の間つながらない",
        "302号室が寒い",
        "東京駅と大阪の店舗",
        "配送に3-4日かかる",
        "横浜市で2-3日待った",
        "注文番号2026110312345の件",
        "会員番号0012345678でログイン",
        "お客様番号 0312345678 でお問い合わせください",
        "ポイント還元率が5%から3%に",
    ],
)
def test_no_pii(text: str) -> None:
    assert DETECTOR.find(text) == []


def test_fold_keeps_length_and_only_turns_dashes_between_digits() -> None:
    text = "０９０ー１２３４　ラーメン－"
    assert len(fold(text)) == len(text)
    assert fold(text) == "090-1234 ラーメン-"


def test_spans_are_sorted_disjoint_and_exact() -> None:
    text = "〒150-0041 東京都渋谷区神南1-2-3 山田太郎様 090-1234-5678 taro@example.com"
    spans = DETECTOR.find(text)
    assert [s.type for s in spans] == ["postal_code", "address", "person", "phone", "email"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_custom_pattern_has_its_own_label() -> None:
    detector = PiiDetector({"order_number": r"ORD-\d{8}"})
    text = "注文ORD-12345678の件で090-1234-5678に"
    spans = detector.find(text)
    assert [(s.type, s.text) for s in spans] == [("order_number", "ORD-12345678"), ("phone", "090-1234-5678")]
    assert redact(text, spans, "mask") == "注文〔order_number〕の件で〔電話番号〕に"


def test_redact_modes() -> None:
    text = "田中です。090-1234-5678、＋８１ ９０ １２３４ ５６７８まで"
    spans = DETECTOR.find(text)
    assert redact(text, spans, "off") == text
    assert redact(text, spans, "mask") == "〔氏名〕です。〔電話番号〕、〔電話番号〕まで"
    hashed = redact(text, spans, "hash", key=b"secret")
    tokens = [part.split("〕")[0] for part in hashed.split("〔")[1:]]
    assert tokens[1] == tokens[2]  # the same number in two spellings gives the same token
    assert tokens[1].startswith("電話番号:") and len(tokens[1].split(":")[1]) == 8
    assert redact(text, spans, "hash", key=b"other") != hashed  # unlinkable without the key
    with pytest.raises(ValueError):
        redact(text, spans, "erase")  # type: ignore[arg-type]


def test_labels_cover_every_type() -> None:
    assert set(LABELS) == set(PII_TYPES)
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_match_counts_each_gold_span_once() -> None:
    gold = [Gold(0, 10, "phone")]
    predicted = [PiiSpan(0, 4, "phone", "x"), PiiSpan(5, 10, "phone", "y"), PiiSpan(0, 10, "email", "z")]
    hits, false_pos, false_neg = match(gold, predicted)
    assert len(hits) == 1 and len(false_pos) == 2 and false_neg == []


def test_dev_set_offsets_are_exact() -> None:
    """Every gold span of the dev set names real text: a guard against hand-edited offsets."""
    for line in (CORPUS / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for span in row["spans"]:
            assert span["type"] in PII_TYPES
            piece = row["text"][span["start"] : span["end"]]
            assert piece and piece == piece.strip()
