"""Header → koe field: the header row, a proposed mapping from Japanese and English headers, and mapping one row."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from app.core.errors import FieldError, Invalid
from app.ingest.values import (
    SCORE_RANGES,
    Cell,
    ParsedRow,
    cell_text,
    parse_datetime,
    parse_score,
    score_number,
    shown,
)
from models.journey import stage_id

ALIASES: dict[str, tuple[str, ...]] = {
    "text": (
        "本文", "レビュー", "レビュー本文", "コメント", "内容", "ご意見", "感想", "ご意見ご感想", "お問い合わせ内容",
        "問い合わせ内容", "自由記述", "口コミ", "クチコミ", "review", "comment", "comments", "text", "body",
        "feedback", "message",
    ),
    "nps": ("おすすめ度", "推奨度", "推奨意向", "nps", "npsスコア", "likelihoodtorecommend"),
    "csat": ("満足度", "総合満足度", "顧客満足度", "csat", "satisfaction"),
    "ces": ("ces", "手間", "顧客努力指標", "effort"),
    "written_at": (
        "投稿日", "投稿日時", "日時", "日付", "作成日", "作成日時", "回答日", "回答日時", "受付日時", "date",
        "createdat", "datetime", "timestamp", "submittedat",
    ),
    "external_id": (
        "id", "番号", "no", "no.", "レビューid", "チケット番号", "チケットid", "回答id", "reviewid", "ticketid",
    ),
    "channel": ("チャネル", "チャネル名", "チャンネル", "channel"),
    "source": ("ソース", "媒体", "掲載サイト", "source"),
    "segment": ("会員ランク", "セグメント", "顧客区分", "segment"),
    "customer_id": ("顧客id", "会員番号", "会員id", "ユーザーid", "customerid", "userid"),
    "touchpoint": ("タッチポイント", "touchpoint"),
    "stage": ("ステージ", "ジャーニー", "ジャーニーステージ", "stage", "journey"),
}  # fmt: skip
# A generic rating is csat or nps depending on its scale, which only its values (or a scale hint) tell.
GENERIC_SCORE = frozenset(("評価", "総合評価", "星", "星評価", "評点", "スコア", "点数", "rating", "stars", "score"))
# Known columns that are context, not koe fields: they help find the header row and land in metadata.
CONTEXT = frozenset(("店舗", "店舗名", "商品", "商品名", "カテゴリ", "カテゴリー", "性別", "年代", "地域", "都道府県"))
FIELDS = frozenset(ALIASES)
CHANNELS = {"レビュー": "review", "口コミ": "review", "チャット": "chat", "アンケート": "survey", "メール": "email"}
CHANNELS |= {"電話": "call", "sns": "sns", "その他": "other"}
CHANNEL_IDS = frozenset(("review", "chat", "survey", "email", "call", "sns", "other"))

_FIELD_BY_KEY = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_BRACKETS = re.compile(r"[(\[【<].*?[)\]】>]")
_SCALE_HINTS = (
    (re.compile(r"0\s*[-~〜–]\s*10|11段階|10点満点"), "nps"),
    (re.compile(r"1\s*[-~〜–]\s*5|5段階|5点満点"), "csat"),
    (re.compile(r"1\s*[-~〜–]\s*7|7段階"), "ces"),
)
_NPS_WORDS = ("すすめ", "薦め", "勧め", "推奨", "recommend")
TEXT_EMPTY = "本文が空です / text is empty"


def header_key(header: str) -> str:
    """Compare headers as NFKC, lower case, without spaces, underscores, hyphens or ・."""
    return re.sub(r"[\s_\-・]", "", unicodedata.normalize("NFKC", header)).lower()


def known_field(header: str) -> str | None:
    """The koe field a header names (text, nps, …), "score" for a generic rating, "context", or None."""
    key = header_key(header)
    for candidate in (key, _BRACKETS.sub("", key)):
        if candidate in _FIELD_BY_KEY:
            return _FIELD_BY_KEY[candidate]
        if candidate in GENERIC_SCORE:
            return "score"
        if candidate in CONTEXT:
            return "context"
    return None


def detect_header_row(rows: Sequence[Sequence[Cell]]) -> int:
    """1-based index of the row whose non-empty cells best match known headers (title rows above are skipped)."""
    filled = [[cell_text(cell).strip() for cell in row if cell_text(cell).strip()] for row in rows]
    scores = [sum(known_field(text) is not None for text in cells) for cells in filled]
    if scores and max(scores) > 0:
        return scores.index(max(scores)) + 1
    widths = [len(cells) for cells in filled]  # no known header: the widest row is likeliest the header
    return widths.index(max(widths)) + 1 if widths and max(widths) > 0 else 1


def propose_mapping(headers: Sequence[str], sample_rows: Sequence[Mapping[str, Cell]] = ()) -> dict[str, str]:
    """Header → koe field or "metadata.<header>"; each field takes the first column that claims it."""
    claims = {header: _claim(header, sample_rows) for header in headers}
    mapping: dict[str, str] = {}
    # Explicit names (満足度) claim before generic ratings (評価) so a generic column never steals a field.
    for generic in (False, True):
        for header, (name, is_generic) in claims.items():
            if is_generic == generic and name and name not in mapping.values():
                mapping[header] = name
    return {header: mapping.get(header, f"metadata.{header}") for header in headers}


def _claim(header: str, sample_rows: Sequence[Mapping[str, Cell]]) -> tuple[str | None, bool]:
    """The field a column asks for, and whether the ask is generic (a rating or a survey question)."""
    kind, key = known_field(header), header_key(header)
    if kind in FIELDS:
        return kind, False
    hinted = next(
        (name for pattern, name in _SCALE_HINTS if pattern.search(unicodedata.normalize("NFKC", header))), None
    )
    if kind == "score":
        return hinted or _scale_from_values(header, sample_rows), True
    # Survey tools use the question as the header: 「友人にすすめる可能性は？（0〜10）」 is the NPS question,
    # but 「おすすめ商品」 is not, so a question without the scale in it must hold scores.
    if kind is None and hinted == "nps":
        return "nps", True
    if kind is None and any(word in key for word in _NPS_WORDS) and _scale_from_values(header, sample_rows):
        return "nps", True
    return None, False


def _scale_from_values(header: str, sample_rows: Sequence[Mapping[str, Cell]]) -> str | None:
    values = [row.get(header) for row in sample_rows]
    scores = []
    for value in values:
        if cell_text(value).strip():
            try:
                scores.append(score_number(value))
            except ValueError:
                return None  # a column with non-scores in it is not a score, whatever its name says
    if not scores:
        return None
    if min(scores) >= 1 and max(scores) <= 5:
        return "csat"
    return "nps" if min(scores) >= 0 and max(scores) <= 10 else None


def validate_mapping(mapping: Mapping[str, str]) -> None:
    """Raise Invalid when a mapping names an unknown field or maps two columns to one field."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for header, name in mapping.items():
        if name not in FIELDS and not name.startswith("metadata."):
            errors.append(FieldError(f"/mapping/{pointer_part(header)}", f"不明な項目です / unknown field {name!r}"))
        elif name in seen:
            errors.append(
                FieldError(f"/mapping/{pointer_part(header)}", f"{name} は既に割り当て済みです / {name} twice")
            )
        seen.add(name)
    if "text" not in seen:
        errors.append(
            FieldError("/mapping", "本文の列が割り当てられていません / no column is mapped to text", "text_unmapped")
        )
    if errors:
        raise Invalid("列の割り当てが正しくありません / invalid column mapping", errors, code="invalid_mapping")


def pointer_part(header: str) -> str:
    """A header escaped as one RFC 6901 JSON-pointer token."""
    return header.replace("~", "~0").replace("/", "~1")


def map_row(row: ParsedRow, mapping: Mapping[str, str]) -> tuple[dict[str, Any], list[FieldError]]:
    """The feedback item a row holds under `mapping`, and an error per bad cell; unmapped cells go to metadata."""
    if row.error is not None:
        return {}, [FieldError(f"/rows/{row.number}", row.error, code="unreadable_row")]
    item: dict[str, Any] = {"metadata": {}}
    errors: list[FieldError] = []
    for header, value in row.cells.items():
        name = mapping.get(header, f"metadata.{header}")
        try:
            _apply(item, name, header, value)
        except ValueError as error:
            errors.append(FieldError(f"/rows/{row.number}/{pointer_part(header)}", str(error)))
    text_header = next((header for header, name in mapping.items() if name == "text"), None)
    if text_header is None:
        errors.append(
            FieldError(f"/rows/{row.number}", "本文の列が割り当てられていません / no column is mapped to text")
        )
    elif not item.get("text"):
        errors.append(FieldError(f"/rows/{row.number}/{pointer_part(text_header)}", TEXT_EMPTY, code="empty_text"))
    return item, errors


def _apply(item: dict[str, Any], name: str, header: str, value: Cell) -> None:
    if not cell_text(value).strip():
        return
    if name.startswith("metadata."):
        item["metadata"][name.removeprefix("metadata.")] = _json_value(value)
    elif name in SCORE_RANGES:
        item[name] = parse_score(value, name)
    elif name == "written_at":
        item[name] = parse_datetime(value)
    elif name == "stage":
        item[name] = _stage(value)
    elif name == "channel":
        item[name] = _channel(item, header, value)
    else:
        item[name] = cell_text(value).strip()


def _stage(value: Cell) -> str:
    found = stage_id(cell_text(value).strip())
    if found is None:
        raise ValueError(f"不明なジャーニーステージです / unknown stage: {shown(cell_text(value))}")
    return found


def _channel(item: dict[str, Any], header: str, value: Cell) -> str:
    label = cell_text(value).strip()
    channel = label.lower() if label.lower() in CHANNEL_IDS else CHANNELS.get(label.lower())
    if channel is None:
        item["metadata"][header] = label  # a CRM's own channel names are kept, the item counts as "other"
    return channel or "other"


def _json_value(value: Cell) -> str | int | float | bool:
    if isinstance(value, datetime | date | time) or value is None:
        return cell_text(value)
    return value
