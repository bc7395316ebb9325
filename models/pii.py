"""Japanese PII detection and redaction: phone, email, postal code, address, card, My Number, person.

Numbers, emails and addresses are found by regexes over a *folded* copy of the text (full-width ASCII → ASCII,
hyphen variants → "-"), which has exactly the length of the original, so offsets need no mapping. Names come from
UniDic's 固有名詞,人名 tags (fugashi) plus honorifics. Every rule prefers a validated structure (digit counts,
Luhn, the My Number check digit, a place name before a street number) over bare digit runs, because feedback text
is full of prices, dates, order and model numbers that look like PII to a naive pattern.

Documented decisions: a room number alone ("302号室が寒い") or a place name alone ("東京駅", "大阪の店舗") is not
an address; a prefecture/city without a street number is an address only right after 住所/お届け先-like words.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import regex

from models.tokenize import _tagger

PII_TYPES = ("phone", "email", "postal_code", "address", "card", "my_number", "person")
LABELS = {
    "phone": "電話番号",
    "email": "メールアドレス",
    "postal_code": "郵便番号",
    "address": "住所",
    "card": "カード番号",
    "my_number": "マイナンバー",
    "person": "氏名",
}
# On equal length the more specific type wins (custom patterns rank before all built-ins).
_RANK = {t: i for i, t in enumerate(("card", "my_number", "email", "phone", "postal_code", "address", "person"))}


@dataclass(frozen=True, slots=True)
class PiiSpan:
    start: int
    end: int
    type: str
    text: str


# --- folding --------------------------------------------------------------------------------------------------

_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FOLD |= {ord(c): ord("-") for c in "‐‑‒–—―−﹣"}
# ー and its look-alikes are hyphens only between digits: elsewhere they are katakana long vowels.
_DIGIT_DASH = regex.compile(r"(?<=[0-9)])[ーｰ─━](?=[0-9(])")


def fold(text: str) -> str:
    """Width- and hyphen-folded copy of text with the same length (so offsets are shared)."""
    return _DIGIT_DASH.sub("-", text.translate(_FOLD))


def _before(folded: str, start: int, words: regex.Pattern[str], window: int = 16) -> bool:
    """Whether one of `words` occurs in the `window` characters before start (same line)."""
    head = folded[max(0, start - window) : start].rsplit("\n", 1)[-1]
    return words.search(head) is not None


def _words_in(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


# --- phone ----------------------------------------------------------------------------------------------------

_PHONE = regex.compile(
    r"(?:(?<![0-9A-Za-z.,+\-_#@/])|(?<=(?i:tel|fax)[.:]?)|(?<=[^0-9]/))"
    r"(?:"
    r"\+81[- ]?(?:\(0\)[- ]?)?\d{1,4}[- ]?\d{1,4}[- ]?\d{3,4}"
    r"|\(0\d{1,4}\)[- ]?\d{1,4}[- ]?\d{3,4}"
    r"|0\d{1,4}[- ]?\(\d{1,4}\)[- ]?\d{3,4}"
    r"|0\d{1,4}([-. ])\d{1,4}\1\d{3,4}"
    r"|0\d{9,10}"
    r")(?![0-9]|-\d| \d{3})"
)
# Digit runs after these words are order, tracking, member or product numbers: not phones, cards or My Numbers.
_REFERENCE = regex.compile(
    r"注文|伝票|追跡|問い?合わ?せ番号|受付|会員|客様?番号|契約番号|管理|荷物|送り状|品番|型番|口座|シリアル|JAN|コード|レシート|予約|ID|No\.?"
)
_MOBILE = regex.compile(r"0[789]0\d{8}")
_PHONE_CONTEXT = regex.compile(r"電話|TEL|Tel|tel|携帯|連絡先|ダイヤル|fax|FAX|ファックス|コール")


def _national(number: str) -> str:
    """The digits of a phone number as dialled inside Japan: +81 (0)90… → 090…."""
    number = number.strip()
    if number.startswith("+81"):
        number = "0" + number[3:].replace("(0)", "", 1)
    return _digits(number)


def _phones(folded: str) -> Iterator[tuple[int, int]]:
    for m in _PHONE.finditer(folded):
        if not _phone_digits_ok(_national(m.group())):
            continue
        # After 注文番号/型番…: a bare digit run is that number; a grouped one only when the word is right before.
        window = 16 if m.group().isdigit() and not _MOBILE.fullmatch(m.group()) else 8
        if _before(folded, m.start(), _REFERENCE, window) and not _before(folded, m.start(), _PHONE_CONTEXT):
            continue
        yield m.start(), m.end()


def _phone_digits_ok(digits: str) -> bool:
    """Japanese numbers: 10 digits (landline, 0120, 0570), 11 only for 050/070/080/090 and 0800."""
    if len(digits) == 10:
        return digits[1] != "0"
    return len(digits) == 11 and (digits[:3] in ("050", "060", "070", "080", "090") or digits[:4] == "0800")


# --- email ----------------------------------------------------------------------------------------------------

_EMAIL = regex.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)


def _emails(folded: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(folded):
        yield m.start(), m.end()


# --- postal code ----------------------------------------------------------------------------------------------

_POSTAL = regex.compile(r"(?<![0-9\-])(〒 ?)?(\d{3}-\d{4}|\d{7})(?![0-9]|-\d)")
_POSTAL_CONTEXT = regex.compile(r"〒|郵便|[Zz][Ii][Pp]|[Pp]ostal|住所|送付先|届け先")

# --- address --------------------------------------------------------------------------------------------------

_PREFECTURES = _words_in(
    "北海道 青森 岩手 宮城 秋田 山形 福島 茨城 栃木 群馬 埼玉 千葉 東京 神奈川 新潟 富山 石川 福井 山梨 長野 "
    "岐阜 静岡 愛知 三重 滋賀 京都 大阪 兵庫 奈良 和歌山 鳥取 島根 岡山 広島 山口 徳島 香川 愛媛 高知 福岡 "
    "佐賀 長崎 熊本 大分 宮崎 鹿児島 沖縄"
)
_PREF = r"(?:北海道|東京都|(?:京都|大阪)府|(?:" + "|".join(sorted(_PREFECTURES - {"北海道"})) + r")県)"
_PLACE = r"[\p{Han}\p{Katakana}ヶケ々ノー]"
_MUNI = rf"(?:{_PLACE}{{1,6}}?[市区町村郡]|\p{{Hiragana}}{{2,6}}市)"
_TOWN = rf"(?:{_PLACE}|(?<=\p{{Han}})[のがヶ](?=\p{{Han}})|\d{{1,2}}条){{0,10}}?"
_KANA_TOWN = rf"(?:{_PLACE}|\p{{Hiragana}}|\d{{1,2}}条){{0,10}}?"  # けやき台, ひばりが丘: only after a prefecture
_N = r"(?:\d{1,5}|[一二三四五六七八九十〇]{1,4})"
_NUMBER = (
    rf"(?:(?:{_N}(?:丁目|番地?|号室?|地割))+(?:\d{{1,5}}(?:-\d{{1,5}}){{0,2}})?(?:の\d{{1,4}})?"
    r"|\d{1,5}(?:-\d{1,5}){1,3}号?)"
)
_BUILDING_WORD = (
    r"(?:ビル(?:ディング)?|マンション|ハイツ|コーポ|レジデンス|タワー|ハウス|荘|アパート|パレス|メゾン|ヒルズ|コート|"
    r"プラザ|ガーデン|テラス|ハイム|ヴィラ|シャトー|棟|館|寮|団地|スクエア|センター)"
)
_UNITS = r"[日時月年分秒個回円%件人名枚本台点週歳才度倍割店社種冊杯泊部位着足箱袋]|[kcm]?[mg]\b|か月|ヶ月|カ月"
_UNIT_AFTER = rf"(?![\d\-]|{_UNITS})"
_ROOM = rf"(?:[A-Z]?\d{{1,4}}(?:号室|号|F|階)|\d{{1,4}}{_UNIT_AFTER})"
_BUILDING_NAME = r"[\p{Han}\p{Katakana}A-Za-z・ー&]"
# After the street number: a named building (ending in ビル/ハイツ/…, or followed by a room/floor number) or a room.
_BUILDING = (
    rf"(?: ?(?:{_BUILDING_NAME}{{0,24}}{_BUILDING_WORD}(?: ?{_BUILDING_NAME}{{0,12}}?{_ROOM})?"
    rf"|{_BUILDING_NAME}{{1,24}} ?{_ROOM}|\d{{1,4}}(?:号室|F|階)))"
)
_ADDRESS_START = r"(?:(?<![\p{Han}\p{Katakana}ヶ々ー])|(?<=住所|自宅|実家|弊社|当社|本社|支社|先|地|宅))"
# A prefecture is distinctive enough to start anywhere (弊社東京都…); a bare city needs a word boundary before it.
_ADDRESS = regex.compile(
    rf"(?:(?<!東){_PREF} ?(?:{_MUNI} ?){{1,3}}(?:{_KANA_TOWN} ?{_NUMBER}|{_TOWN}\d{{1,5}})"
    rf"|{_ADDRESS_START}(?:{_MUNI} ?){{1,3}}{_TOWN} ?{_NUMBER})(?:{_BUILDING}|{_UNIT_AFTER})"
)
_REGION = regex.compile(
    rf"{_ADDRESS_START}(?:{_PREF}{_MUNI}{{0,3}}|{_MUNI}{{1,3}}){_TOWN}(?![\p{{Han}}\p{{Katakana}}])"
)
_ADDRESS_CONTEXT = regex.compile(r"(?:住所|送付先|届け先|配送先|所在地|宛先)[はがをもの]?[:：\s]*$")


def _addresses(folded: str) -> Iterator[tuple[int, int]]:
    yield from ((m.start(), m.end()) for m in _ADDRESS.finditer(folded))
    for m in _REGION.finditer(folded):
        if _before(folded, m.start(), _ADDRESS_CONTEXT, window=10):
            yield m.start(), m.end()


def _postal_codes(folded: str) -> Iterator[tuple[int, int]]:
    """〒 or 郵便番号 before, or an address right after: a bare 123-4567 alone is too ambiguous."""
    for m in _POSTAL.finditer(folded):
        rest = folded[m.end() : m.end() + 12].lstrip()
        if m.group(1) or _before(folded, m.start(), _POSTAL_CONTEXT, window=12) or _REGION.match(rest):
            yield m.start(), m.end()


# --- card and My Number ---------------------------------------------------------------------------------------

_CARD = regex.compile(r"(?<![0-9\-])\d{2,6}(?:[- ]?\d{2,6}){1,5}(?![0-9]|-\d)")
_CARD_CONTEXT = regex.compile(
    r"カード|クレカ|クレジット|[Cc]ard|CARD|VISA|Visa|[Mm]aster|JCB|AMEX|Amex|アメックス|ダイナース"
)
# Point, member and gift cards have numbers too, but they are not payment cards.
_OTHER_CARD = regex.compile(r"ポイント|会員|メンバーズ|ギフト|プリペイド|スタンプ|診察|保険|図書|交通系")
_MY_NUMBER = regex.compile(r"(?<![0-9\-])\d{4}([- ]?)\d{4}\1\d{4}(?![0-9]|-\d)")
_MY_NUMBER_CONTEXT = regex.compile(r"マイナンバー|個人番号|[Mm]y ?[Nn]umber|通知カード")
_OTHER_NUMBER = regex.compile(rf"{_REFERENCE.pattern}|番号|電話|TEL|Tel")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def my_number_ok(digits: str) -> bool:
    """The official check digit of a 12-digit 個人番号 (総務省令 第五条)."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    body = [int(c) for c in reversed(digits[:11])]
    remainder = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(body, start=1)) % 11
    return int(digits[11]) == (0 if remainder <= 1 else 11 - remainder)


def _cards(folded: str) -> Iterator[tuple[int, int]]:
    """13–19 digits after カード words; elsewhere 14–19 digits passing Luhn; never after ポイントカード-like words."""
    for m in _CARD.finditer(folded):
        digits = _digits(m.group())
        if not 13 <= len(digits) <= 19:
            continue
        if _before(folded, m.start(), _OTHER_CARD, window=24):
            continue
        if _before(folded, m.start(), _CARD_CONTEXT, window=24):
            yield m.start(), m.end()  # made-up or mistyped numbers right after カード words are still card numbers
        elif len(digits) > 13 and luhn_ok(digits) and not _before(folded, m.start(), _REFERENCE, window=24):
            yield m.start(), m.end()  # 13 digits without context are mostly JAN codes


def _my_numbers(folded: str) -> Iterator[tuple[int, int]]:
    for m in _MY_NUMBER.finditer(folded):
        if _before(folded, m.start(), _MY_NUMBER_CONTEXT, window=24) or (
            my_number_ok(_digits(m.group())) and not _before(folded, m.start(), _OTHER_NUMBER, window=24)
        ):
            yield m.start(), m.end()


# --- person ---------------------------------------------------------------------------------------------------

_HONORIFICS = _words_in("さん 様 さま サマ 氏 くん 君 ちゃん 殿 先生 宛 宛て はん")
_TITLES = _words_in(
    "部長 課長 係長 社長 店長 主任 専務 常務 会長 室長 所長 支店長 副店長 院長 マネージャー "
    "選手 監督 医師 弁護士 税理士 看護師 教授 講師 議員 記者 容疑者 被告"
)
_AFTER_NAME = _HONORIFICS | _TITLES
# Words UniDic tags as names that in feedback are trades, verbs, animals, deities or mascots (仲居さん, 許さん =
# 許さない, クマさん, 恵比寿さん, キティちゃん).
_NOT_NAMES = _words_in(
    "仲居 花屋 米屋 塩屋 紙屋 大家 許 女将 若 うさぎ 金魚 クマ ハム 恵比寿 天神 八幡 祇園 観音 伊勢 "
    "稲荷 大黒 布袋 不動 弁天 毘沙門 明神 キティ ミッキー ミニー アンパンマン ドラえもん ピカチュウ"
)
# Single-kanji common nouns that are also frequent surnames: names only before an honorific.
_NOUN_SURNAMES = _words_in("森 林 原 岡 関 辻 泉 谷 堤 沢 宮 浜 島 岩 東 西 南 北")
# Prefectural capitals, designated cities and big stations/districts that UniDic may tag as surnames: alone
# (no honorific, no given name) they are more often the place (梅田の店舗, 羽田から).
_PLACES = _words_in(
    "札幌 盛岡 仙台 水戸 宇都宮 前橋 横浜 川崎 相模原 金沢 甲府 名古屋 大津 神戸 松江 高松 松山 北九州 那覇 "
    "浜松 堺 上野 中野 品川 大塚 目黒 川口 梅田 羽田 成田 難波 京橋 大宮 浦和 立川 町田 藤沢 鎌倉 箱根 熱海 "
    "日光 小倉 北浜 舞浜 嵐山 貴船 宮島 宮古 高尾"
)
_SURNAME_LIKE = regex.compile(r"\p{Han}{1,2}[田川橋島野村井木本藤原沢澤谷山崎岡森林池宮尾坂塚浜瀬江]")
_NAME_JOINERS = frozenset(" 　・=＝")
_NAME_SCRIPT = regex.compile(r"[\p{Han}々〆ヶケノ]+|[\p{Katakana}ー]{2,}|\p{Hiragana}{2,}")
_KATAKANA = regex.compile(r"[\p{Katakana}ー]+")
_HIRAGANA = regex.compile(r"\p{Hiragana}+")
_KANJI = regex.compile(r"[\p{Han}々〆ヶケノ]+")
_KANJI_OR_KATAKANA = regex.compile(r"[\p{Han}々〆ヶケノ]+|[\p{Katakana}ー]{2,}")
_COMPANY = regex.compile(r"(?:株式会社|有限会社|合同会社|\(株\)|（株）|㈱) ?$")


@dataclass(frozen=True, slots=True)
class _Word:
    surface: str
    pos: tuple[str, ...]
    start: int
    end: int

    @property
    def name_part(self) -> str:
        """ "姓", "名" or "一般" for UniDic person names, "地名" for places (many surnames are), else ""."""
        if self.pos[1] != "固有名詞":
            return ""
        return self.pos[3] if self.pos[2] == "人名" else ("地名" if self.pos[2] == "地名" else "")

    @property
    def is_person(self) -> bool:
        return self.name_part in ("姓", "名", "一般") and _NAME_SCRIPT.fullmatch(self.surface) is not None

    @property
    def is_noun(self) -> bool:
        return self.pos[0] == "名詞" and self.pos[1] not in ("数詞", "代名詞")


def _words(text: str) -> list[_Word]:
    words, pos = [], 0
    for word in _tagger()(text):
        pos += len(word.white_space)
        surface = word.surface
        words.append(_Word(surface, tuple(word.feature_raw.split(",", 4)[:4]), pos, pos + len(surface)))
        pos += len(surface)
    return words


def _next(words: list[_Word], j: int, text: str, gap: int = 1) -> _Word | None:
    """words[j] if it follows words[j - 1] after at most `gap` joiner characters (space, ・)."""
    if j >= len(words):
        return None
    between = text[words[j - 1].end : words[j].start]
    return words[j] if len(between) <= gap and set(between) <= _NAME_JOINERS else None


def _joined(words: list[_Word], i: int, text: str) -> int:
    """End index of a name run from words[i]: 人名 tokens joined directly or by one space/・ (ジョン・スミス)."""
    j = i + 1
    while (word := _next(words, j, text)) is not None:
        joiner = word.surface in _NAME_JOINERS and (after := _next(words, j + 1, text, gap=0)) and after.is_person
        if not (joiner or word.is_person):
            break
        j += 1
    return j + _unknown_given_name(words, j, text) if words[j - 1].name_part == "姓" else j


def _unknown_given_name(words: list[_Word], j: int, text: str) -> int:
    """How many nouns after a surname form a given name UniDic does not know as one (桜井 翼さん): one or two,
    and only right before an honorific."""
    for extra in (1, 2):
        given = [_next(words, k, text) for k in range(j, min(j + extra, len(words)))]
        nouns = [
            w for w in given if w and w.is_noun and w.surface not in _AFTER_NAME and _NAME_SCRIPT.fullmatch(w.surface)
        ]
        if len(nouns) == extra and _after_name(words, j + extra, text):
            return extra
    return 0


def _after_name(words: list[_Word], j: int, text: str) -> bool:
    word = _next(words, j, text)
    return word is not None and word.surface in _AFTER_NAME


def _introduced(words: list[_Word], j: int) -> bool:
    """「…と申します」「…といいます」: whatever noun precedes is the speaker's name."""
    return (
        j + 1 < len(words)
        and words[j].surface == "と"
        and words[j + 1].surface in ("申し", "申す", "申し上げ", "いい", "言い", "もうし")
    )


def _glued(words: list[_Word], i: int, j: int) -> bool:
    """A name fused with its neighbours is part of a bigger word: 山田電機, 豊田市, 伊藤園 (noun after), 成城石井,
    ジュンク堂 (proper noun before), 任天+堂 (one kanji after a noun), インフル+エンサー (katakana on both sides)."""
    after = words[j] if j < len(words) and words[j].start == words[j - 1].end else None
    if after and after.surface not in _AFTER_NAME and after.pos[0] in ("名詞", "接尾辞") and after.pos[1] != "数詞":
        return True
    before = words[i - 1] if i > 0 and words[i - 1].end == words[i].start else None
    if before and (before.pos[1] == "固有名詞" or (len(words[i].surface) == 1 and before.is_noun)):
        return True
    return _KATAKANA.fullmatch(words[i].surface) is not None and any(
        w is not None and _KATAKANA.fullmatch(w.surface) is not None for w in (before, after)
    )


def _noun_surname(surface: str) -> bool:
    """Surnames UniDic reads as common nouns (森, 大橋 "big bridge"): one kanji from a short list, or 2–3 kanji
    ending like most surnames do (…田, …橋, …島)."""
    return surface in _NOUN_SURNAMES or _SURNAME_LIKE.fullmatch(surface) is not None


def _speaker(words: list[_Word], i: int, j: int, text: str) -> bool:
    """A name alone at the start of a line before ：, as in chat logs ("宮崎：ログインできません")."""
    line_head = text[: words[i].start].rsplit("\n", 1)[-1]
    return not line_head.strip() and text[words[j - 1].end : words[j - 1].end + 1] in (":", "：")


def _person_at(words: list[_Word], i: int, text: str) -> int | None:
    """End index of a person name starting at words[i], or None."""
    first = words[i]
    if first.surface in _NOT_NAMES or not _NAME_SCRIPT.fullmatch(first.surface):
        return None
    if i > 0 and words[i - 1].pos[0] == "接頭辞" and words[i - 1].end == first.start:
        return None  # お伊勢さん, お孫さん: nobody is called お佐藤さん
    j = _joined(words, i, text) if first.is_person else i + 1
    if not (first.is_person or first.is_noun or first.name_part == "地名") or _glued(words, i, j):
        return None
    if _after_name(words, j, text):
        # Hiragana 人名,一般 tokens before さん are dialect or slang (おやっさん), not names.
        kana_slang = first.name_part == "一般" and _HIRAGANA.fullmatch(first.surface) is not None
        named = first.is_person or first.name_part == "地名" or _noun_surname(first.surface)
        return j if named and not kana_slang else None
    if _speaker(words, i, j, text) and (first.is_person or first.name_part == "地名"):
        return j
    if _introduced(words, j) and len(first.surface) >= 2:
        return j
    if not first.is_person:
        return None
    if j > i + 1:  # a full name, unless every part is hiragana (dialect: うるさか + けん)
        return j if any(not _HIRAGANA.fullmatch(w.surface) for w in words[i:j]) else None
    # A lone token without honorific: a kanji or katakana surname (UniDic's 人名,一般 katakana are mostly loanwords:
    # デビット, パーカー; hiragana ones dialect: せや), not a well-known place also listed as a surname, not a company.
    script = _KANJI if first.name_part == "一般" else _KANJI_OR_KATAKANA
    lone_ok = first.name_part in ("姓", "一般") and len(first.surface) >= 2 and script.fullmatch(first.surface)
    if not lone_ok or first.surface in _PREFECTURES or first.surface in _PLACES:
        return None
    return None if _COMPANY.search(text, 0, first.start) else j


def _persons(text: str) -> Iterator[tuple[int, int]]:
    words = _words(text)
    i = 0
    while i < len(words):
        end = _person_at(words, i, text)
        if end is None:
            i += 1
            continue
        yield words[i].start, words[end - 1].end
        i = end


# --- detector -------------------------------------------------------------------------------------------------

_Finder = Callable[[str], Iterator[tuple[int, int]]]
_BUILTIN: tuple[tuple[str, _Finder], ...] = (
    ("phone", _phones),
    ("email", _emails),
    ("postal_code", _postal_codes),
    ("address", _addresses),
    ("card", _cards),
    ("my_number", _my_numbers),
)


class PiiDetector:
    """Finds PII spans; `custom_patterns` adds type → regex (matched on the folded text, label = type name)."""

    def __init__(self, custom_patterns: Mapping[str, str] | None = None):
        self._custom = {name: regex.compile(pattern) for name, pattern in (custom_patterns or {}).items()}

    def find(self, text: str) -> list[PiiSpan]:
        """Sorted, non-overlapping spans: the longest candidate wins, ties go to the more specific type."""
        folded = fold(text)
        found = [(s, e, kind) for kind, finder in _BUILTIN for s, e in finder(folded)]
        found += [
            (m.start(), m.end(), kind)
            for kind, p in self._custom.items()
            for m in p.finditer(folded)
            if m.end() > m.start()
        ]
        found += [(s, e, "person") for s, e in _persons(text)]
        kept: list[tuple[int, int, str]] = []
        for s, e, kind in sorted(found, key=lambda c: (c[0] - c[1], _RANK.get(c[2], -1), c[0])):
            if all(e <= ks or s >= ke for ks, ke, _ in kept):
                kept.append((s, e, kind))
        return [PiiSpan(s, e, kind, text[s:e]) for s, e, kind in sorted(kept)]


# --- redaction ------------------------------------------------------------------------------------------------

_NUMERIC = frozenset(("postal_code", "card", "my_number"))


def _normalized(span: PiiSpan) -> str:
    """The span text every spelling of the same value shares: 090-1234-5678 = ０９０１２３４５６７８."""
    folded = unicodedata.normalize("NFKC", span.text)
    if span.type == "phone":
        return _national(folded)
    if span.type in _NUMERIC:
        return _digits(folded)
    folded = "".join(folded.split())
    return folded.lower() if span.type == "email" else folded


def redact(text: str, spans: Sequence[PiiSpan], mode: Literal["off", "mask", "hash"], *, key: bytes = b"") -> str:
    """mask: 〔電話番号〕; hash: 〔電話番号:3f9a2c1b〕, HMAC-SHA256 of the normalized value (unlinkable without key)."""
    if mode not in ("off", "mask", "hash"):
        raise ValueError(f"unknown redaction mode {mode!r}")
    if mode == "off":
        return text
    out, pos = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < pos:
            continue
        label = LABELS.get(span.type, span.type)
        if mode == "hash":
            digest = hmac.new(key, _normalized(span).encode(), hashlib.sha256).hexdigest()[:8]
            label = f"{label}:{digest}"
        out += [text[pos : span.start], f"〔{label}〕"]
        pos = span.end
    out.append(text[pos:])
    return "".join(out)
