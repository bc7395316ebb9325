"""Terms of a document for analyst keyword views: compound nouns joined, adjective and verb lemmas, negation kept.

Computed once at analysis time from the tokens the analyzers already have, and stored with the analysis,
so that keyword aggregates never re-tokenize stored text."""

from __future__ import annotations

from collections.abc import Iterable

import regex

from models.document import Document
from models.tokenize import Token

NOUN_KINDS = ("普通名詞", "固有名詞")
PREDICATES = ("動詞", "形容詞", "形状詞")
NEGATION_LEMMAS = frozenset({"ない", "ず", "ぬ", "無い"})
NEGATED = "(否定)"
HONORIFICS = frozenset(["さん", "様", "さま", "ちゃん", "くん", "君", "氏", "殿", "たち", "達", "ら", "等"])
# Words every review uses: they carry no theme of their own.
STOP_LEMMAS = frozenset(
    [
        "する",
        "ある",
        "いる",
        "なる",
        "できる",
        "出来る",
        "思う",
        "言う",
        "云う",
        "行く",
        "来る",
        "くれる",
        "もらう",
        "貰う",
        "見る",
        "良い",
        "無い",
        "ない",
        "いい",
        "よい",
        "こと",
        "事",
        "もの",
        "物",
        "ため",
        "為",
        "よう",
        "様",
        "感じ",
        "方",
        "時",
        "今回",
        "前回",
        "自分",
        "私",
        "僕",
        "俺",
        "皆",
        "みんな",
        "等",
        "など",
        "的",
        "さん",
        "様子",
        "ところ",
        "所",
        "とき",
        "気",
        "点",
        "件",
        "際",
        "中",
        "後",
        "前",
        "回",
        "度",
        "日",
        "今",
        "何",
        "それ",
        "これ",
        "あれ",
        "そう",
        "こう",
        "ここ",
        "そこ",
    ]
)
_ONLY_KANA_CHAR = regex.compile(r"^[\p{Hiragana}ー]$")
_NUMERIC = regex.compile(r"^[\p{N}\p{P}\p{S}]+$")


def base_lemma(token: Token) -> str:
    """UniDic writes loanword lemmas as `サポート-support`; the part before the hyphen is the word."""
    return token.lemma.split("-", 1)[0] if "-" in token.lemma[1:] else token.lemma


def _is_noun(token: Token) -> bool:
    return token.pos == "名詞" and token.pos2 in NOUN_KINDS and not _NUMERIC.match(token.surface)


def _continues_noun(token: Token) -> bool:
    """A noun, or a noun-forming suffix (送料 → 料, 安全性 → 性), can extend a compound."""
    suffix = token.pos == "接尾辞" and token.pos2 == "名詞的" and token.surface not in HONORIFICS
    return _is_noun(token) or suffix


def _keep(term: str, stopwords: frozenset[str]) -> bool:
    return bool(term) and term not in stopwords and not _ONLY_KANA_CHAR.match(term) and not _NUMERIC.match(term)


def sentence_terms(tokens: list[Token], stopwords: frozenset[str] = STOP_LEMMAS) -> Iterable[str]:
    i = 0
    while i < len(tokens):
        token = tokens[i]
        prefixed = token.pos == "接頭辞" and i + 1 < len(tokens) and _is_noun(tokens[i + 1])  # 再 + 設定
        if _is_noun(token) or prefixed:
            j = i + 1 if prefixed else i
            while j + 1 < len(tokens) and _continues_noun(tokens[j + 1]):
                j += 1
            term = base_lemma(token) if j == i else "".join(t.surface for t in tokens[i : j + 1])
            if _keep(term, stopwords):
                yield term
            i = j + 1
            continue
        if token.pos in PREDICATES and token.pos2 != "非自立可能":
            term = base_lemma(token)
            if _keep(term, stopwords):
                negated = any(base_lemma(t) in NEGATION_LEMMAS for t in tokens[i + 1 : i + 3])
                yield term + NEGATED if negated else term
        i += 1


def document_terms(doc: Document, stopwords: frozenset[str] = STOP_LEMMAS) -> list[str]:
    """Distinct terms in order of first use: a document counts once per term, however often it repeats it."""
    return list(dict.fromkeys(term for s in doc.sentences for term in sentence_terms(s.tokens, stopwords)))
