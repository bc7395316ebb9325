"""Realistic Japanese feedback for tests: reviews, chats and survey answers, polite and casual."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import regex
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.services import keys
from models.analyzers.base import DocumentResult, Labelled
from models.aspects import term_key
from models.document import Document

_ids = itertools.count(1)

REVIEW_NEGATIVE = "注文から1週間たっても届きません。問い合わせても返信がなく、本当に困っています😡"
REVIEW_POSITIVE = "スタッフの方の接客がとても丁寧で、気持ちよく買い物ができました！また利用します(^^)"
REVIEW_CONTRAST = "値段は安いけど、配送が遅すぎる。"
CHAT = (
    "客: すみません、昨日注文した商品のキャンセルってできますか？\n"
    "担当: お問い合わせありがとうございます。ご注文番号をお知らせいただけますか。\n"
    "客: 12345です。\n"
    "担当: 確認いたしました。キャンセル手続きを完了しました。\n"
    "客: ありがとうございます、助かりました！\n"
)
SURVEY_DETRACTOR = "解約の手続きがわかりにくく、電話もつながらない。二度と契約しません。"


def item(text: str | None = REVIEW_NEGATIVE, **fields: Any) -> dict[str, Any]:
    """A POST /v1/feedback item with a unique external id unless one is given (text=None: no text field)."""
    base = {"source": "test_reviews", "external_id": f"ext-{next(_ids)}", "channel": "review"}
    return {**base, **({"text": text} if text is not None else {}), **fields}


def v1_operations(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every operation under /v1 in the OpenAPI schema, path parameters set to 1."""
    operations = [
        (method, regex.sub(r"\{[^}]+\}", "1", path))
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method in item
        if path.startswith("/v1")
    ]
    assert len(operations) > 15
    return operations


def api_key(session: Session, tenant: str = "default", *scopes: str, name: str = "テスト用キー") -> dict[str, str]:
    """Authorization headers of a new API key of `tenant` (scopes default to ingest + read)."""
    _, token = keys.create(session=session, tenant_id=tenant, name=name, scopes=list(scopes or ("ingest", "read")))
    return {"Authorization": f"Bearer {token}"}


EMOTION_CUES = {"ふざけ": {"anger": 0.91, "disgust": 0.62}, "😡": {"anger": 0.8}, "最高": {"joy": 0.9}}


# `<aspect>が/は<opinion stem>`: the aspect a run of kanji, katakana or letters, the opinion one of these stems
ASPECT_OPINIONS = {
    **dict.fromkeys(("丁寧", "親切", "良", "安", "早", "使いやす"), "positive"),
    **dict.fromkeys(("悪", "高", "遅", "雑", "使いにく", "わかりにく", "分かりにく"), "negative"),
}
ASPECT_CUE = regex.compile(rf"(\p{{Han}}|\p{{Katakana}}|ー|\p{{Latin}})+(?:が|は)({'|'.join(ASPECT_OPINIONS)})")


class CueAspects:
    """A stand-in aspect tagger for service tests (the trained tagger is tested on the model itself): pairs found
    by one pattern, `<aspect>が<opinion>`, at a fixed score."""

    name, version, portable = "aspects-stand-in", "0.1", True

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [DocumentResult(self._found(doc.normalized.original), []) for doc in documents]

    def _found(self, text: str) -> list[dict[str, Any]]:
        found = []
        for match in ASPECT_CUE.finditer(text):
            aspect_end = match.start(2) - 1
            aspect = {
                "text": text[match.start() : aspect_end],
                "offset": match.start(),
                "length": aspect_end - match.start(),
            }
            opinion = {"text": match.group(2), "offset": match.start(2), "length": len(match.group(2))}
            polarity = ASPECT_OPINIONS[match.group(2)]
            found.append(
                {
                    "aspect": aspect,
                    "term": term_key(aspect["text"]),
                    "opinion": opinion,
                    "polarity": polarity,
                    "score": 0.9,
                }
            )
        return found


class CueEmotions:
    """A stand-in emotion analyzer for service tests (the trained model's emotions are tested on the model itself):
    emotions from a few cues, each at a fixed probability."""

    name, version, portable = "emotions-stand-in", "0.1", True

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [DocumentResult(self._found(doc.text), []) for doc in documents]

    def _found(self, text: str) -> Labelled:
        scores: dict[str, float] = {}
        for cue, emotions in EMOTION_CUES.items():
            if cue in text:
                scores |= {e: max(p, scores.get(e, 0.0)) for e, p in emotions.items()}
        ranked = dict(sorted(scores.items(), key=lambda kv: -kv[1]))
        return Labelled(next(iter(ranked), None), ranked)
