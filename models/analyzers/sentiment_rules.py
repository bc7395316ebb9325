"""Transparent lexicon sentiment: lemma and phrase scores, negation, contrast, intensifiers, emoji/kaomoji."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from models.analyzers.base import DocumentResult, Evidence, Labelled
from models.document import Document, Sentence
from models.lexicon import SentimentLexicon, load_sentiment_lexicon
from models.tokenize import Token

NEGATOR_LEMMAS = {"無い", "ない", "ず", "ぬ", "まい", "ねえ", "ねー"}
# Words that may stand between a sentiment word and its negator: 不満は|あり|ませ|ん, 良く|は|ない.
BRIDGE_LEMMAS = {"有る", "居る", "為る", "出来る", "成る", "訳", "事", "様", "の", "ん", "感じる", "思う"}
CONTRAST_PARTICLES = {"けれど", "けれども", "けど", "が", "のに", "ものの", "つつ"}
CONTRAST_OPENERS = (
    "しかし",
    "でも",
    "ただ",
    "だが",
    "ですが",
    "だけど",
    "けど",
    "とはいえ",
    "それでも",
    "ところが",
    "一方",
)
NEGATION_FACTOR = -0.7  # 悪くない is milder praise than 良い: a flipped word keeps 70 % of its strength
EARLIER_CLAUSE_FACTOR = 0.5  # 安いけど遅い: what comes before a contrast counts half
QUESTION_FACTOR = 0.5
NEVER_AGAIN = -1.5  # 二度と〜ない
AGENT_FACTOR = 0.3  # in a transcript, the agent's apologies and thanks are not the customer's opinion
_SPEAKER = re.compile(
    r"^\s*(?:(?P<customer>客|お客様|顧客|ユーザー|customer|user)|(?P<agent>担当者?|オペレーター|OP|"
    r"スタッフ|店員|サポート|CS|agent|operator|bot|ボット))\s*[:：]",
    re.IGNORECASE,
)


def _is_negator(token: Token) -> bool:
    return token.lemma in NEGATOR_LEMMAS and token.pos in ("助動詞", "形容詞")


PREDICATE_POS = ("形容詞", "動詞", "助動詞", "形状詞")


def _is_contrast(token: Token) -> bool:
    return token.pos2 == "接続助詞" and token.lemma in CONTRAST_PARTICLES


def contrast_cuts(tokens: Sequence[Token]) -> list[int]:
    """Offsets where a contrast clause ends: 〜けど, 〜が after a predicate (unidic tags 安いが's が as a case
    particle), and 〜のに (split into の + に)."""
    cuts = []
    for i, token in enumerate(tokens):
        after_predicate = i > 0 and tokens[i - 1].pos in PREDICATE_POS
        if _is_contrast(token) or (token.surface == "が" and token.pos == "助詞" and after_predicate):
            cuts.append(token.end)
        elif token.surface == "の" and after_predicate and i + 1 < len(tokens) and tokens[i + 1].surface == "に":
            cuts.append(tokens[i + 1].end)
    return cuts


def _negations_after(tokens: Sequence[Token], index: int) -> int:
    """How many negators follow tokens[index:] within the same predicate (二重否定 flips twice)."""
    count = 0
    for token in tokens[index : index + 7]:
        if _is_negator(token):
            count += 1
        elif (
            (token.pos in ("助詞", "助動詞") and not _is_contrast(token))
            or token.lemma in BRIDGE_LEMMAS
            or token.pos2 == "非自立可能"
            or token.pos in ("接尾辞", "副詞")  # 不満は特にありません
        ):
            continue
        else:
            break
    return count


def _first_token_at(tokens: Sequence[Token], position: int) -> int:
    for i, token in enumerate(tokens):
        if token.start >= position:
            return i
    return len(tokens)


class RuleSentimentAnalyzer:
    """Sentence and document sentiment from hand-written lexicons; every label comes with its evidence."""

    name = "sentiment-rules"
    portable = True  # lexicons only: cheap to copy into another process

    def __init__(self, lexicon: SentimentLexicon | None = None) -> None:
        self.lexicon = lexicon or load_sentiment_lexicon()
        self.version = f"1.0.0+lex.{self.lexicon.digest}"

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [self._analyze_document(doc) for doc in documents]

    def _analyze_document(self, doc: Document) -> DocumentResult:
        per_sentence = [self._sentence_evidence(s) for s in doc.sentences]
        speakers = _speakers(doc)
        sentences = [_label(ev, mixed=False) for ev in per_sentence]
        weighted: list[Evidence] = []
        for i, evidence in enumerate(per_sentence):
            if i and doc.sentences[i].text.startswith(CONTRAST_OPENERS):
                weighted = [_scaled(e, EARLIER_CLAUSE_FACTOR) for e in weighted]
            factor = AGENT_FACTOR if speakers[i] == "agent" else 1.0
            weighted.extend(_scaled(e, factor) for e in evidence)
        return DocumentResult(_label(weighted, mixed=True), sentences)

    def _sentence_evidence(self, sentence: Sentence) -> list[Evidence]:
        tokens = sentence.tokens
        surfaces = self._surface_evidence(sentence)
        found = surfaces + self._lemma_evidence(sentence, covered=surfaces)
        found += _never_again(sentence)
        found = [self._negated(e, tokens) for e in found if e.weight]
        found = _weigh_clauses(found, tokens)
        if sentence.text.rstrip().endswith(("?", "か")):
            found = [_scaled(e, QUESTION_FACTOR) for e in found]
        return found

    def _surface_evidence(self, sentence: Sentence) -> list[Evidence]:
        return [
            Evidence("", sentence.start + s, sentence.start + e, score)
            for s, e, score in self.lexicon.surfaces.find(sentence.text)
        ]

    def _lemma_evidence(self, sentence: Sentence, covered: list[Evidence]) -> list[Evidence]:
        found = []
        for i, token in enumerate(sentence.tokens):
            score = self.lexicon.lemmas.get(token.lemma)
            if score is None or any(c.start <= token.start < c.end for c in covered):
                continue
            found.append(Evidence("", token.start, token.end, score * self._intensity(sentence.tokens, i)))
        return found

    def _intensity(self, tokens: Sequence[Token], index: int) -> float:
        factor = 1.0
        for token in tokens[max(0, index - 2) : index]:
            factor *= self.lexicon.intensifiers.get(token.lemma, 1.0)
        return factor

    def _negated(self, evidence: Evidence, tokens: Sequence[Token]) -> Evidence:
        if evidence.weight == NEVER_AGAIN:
            return evidence
        flips = _negations_after(tokens, _first_token_at(tokens, evidence.end))
        return _scaled(evidence, NEGATION_FACTOR**flips) if flips else evidence


def _speakers(doc: Document) -> list[str | None]:
    """Who speaks each sentence of a transcript (客: / 担当: prefixes carry over to following sentences)."""
    speakers: list[str | None] = []
    current = None
    for sentence in doc.sentences:
        match = _SPEAKER.match(sentence.text)
        if match:
            current = "agent" if match.group("agent") else "customer"
        speakers.append(current)
    return speakers


def _never_again(sentence: Sentence) -> list[Evidence]:
    """二度と〜ない (never again) is a strong complaint even though no sentiment word appears."""
    text = sentence.text
    at = text.find("二度と")
    if at < 0:
        return []
    negator = next((t for t in sentence.tokens if t.start > sentence.start + at and _is_negator(t)), None)
    if negator is None:
        return []
    return [Evidence("", sentence.start + at, negator.end, NEVER_AGAIN)]


def _weigh_clauses(evidence: list[Evidence], tokens: Sequence[Token]) -> list[Evidence]:
    """Evidence before each contrast (〜けど, 〜が, 〜のに) counts half: the later clause carries the verdict."""
    cuts = contrast_cuts(tokens)
    return [_scaled(e, EARLIER_CLAUSE_FACTOR ** sum(1 for c in cuts if e.end <= c)) for e in evidence]


def _scaled(evidence: Evidence, factor: float) -> Evidence:
    weight = evidence.weight * factor
    return Evidence(_polarity(weight), evidence.start, evidence.end, weight)


def _polarity(weight: float) -> str:
    return "positive" if weight > 0 else "negative" if weight < 0 else "neutral"


def _label(evidence: list[Evidence], *, mixed: bool) -> Labelled:
    """Turn signed evidence into probabilities: strength → not neutral; balance → mixed (documents only)."""
    evidence = [Evidence(_polarity(e.weight), e.start, e.end, round(e.weight, 3)) for e in evidence]
    pos = sum(e.weight for e in evidence if e.weight > 0)
    neg = -sum(e.weight for e in evidence if e.weight < 0)
    total = pos + neg
    strength = 1.0 - math.exp(-1.5 * total)
    balance = 1.0 - abs(pos - neg) / total if total else 0.0
    p_mixed = strength * balance**2 if mixed and min(pos, neg) >= 0.3 else 0.0
    polar = strength - p_mixed
    scores = {
        "positive": polar * pos / total if total else 0.0,
        "neutral": 1.0 - strength,
        "negative": polar * neg / total if total else 0.0,
    }
    if mixed:
        scores["mixed"] = p_mixed
    scores = {k: round(v, 4) for k, v in scores.items()}
    return Labelled(max(scores, key=lambda k: scores[k]), scores, evidence)
