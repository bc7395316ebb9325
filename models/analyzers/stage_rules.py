"""Journey stage from text cues; the caller's stage or touchpoint, when given, is applied by the pipeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import yaml

from models.analyzers.base import DocumentResult, Evidence, Labelled
from models.document import Document
from models.journey import STAGES
from models.keywords import Hit, KeywordMatcher
from models.lexicon import LEXICON_DIR, content_hash

SMOOTHING = 0.5  # additive smoothing so one cue gives a confident but not certain stage


@lru_cache(maxsize=2)
def load_stage_cues(path: Path = LEXICON_DIR / "stages.yaml") -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    cues = {entry["id"]: list(entry["keywords"]) for entry in data["stages"]}
    unknown = set(cues) - set(STAGES)
    if unknown:
        raise ValueError(f"{path.name}: unknown stages {sorted(unknown)}")
    return cues


class RuleStageAnalyzer:
    """The stage whose cues appear most; no label (None) when the text has no cue at all."""

    name = "stage-rules"
    portable = True  # lexicons only: cheap to copy into another process

    def __init__(self, cues: dict[str, list[str]] | None = None) -> None:
        self._matcher = KeywordMatcher(cues or load_stage_cues())
        self.version = f"1.0.0+cues.{content_hash(LEXICON_DIR / 'stages.yaml')}"

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [self._analyze_document(doc) for doc in documents]

    def _analyze_document(self, doc: Document) -> DocumentResult:
        per_sentence = [self._matcher.hits(s) for s in doc.sentences]
        sentences = [_label(hits) for hits in per_sentence]
        return DocumentResult(_label([h for hits in per_sentence for h in hits]), sentences)


def _label(hits: list[Hit]) -> Labelled:
    if not hits:
        return Labelled(None, {}, [])
    counts = Counter(h.label for h in hits)
    total = sum(counts.values()) + SMOOTHING * len(STAGES)
    scores = {stage: round((counts[stage] + SMOOTHING) / total, 4) for stage in STAGES}
    # ties go to the later cue: "比較して購入した" is about the purchase
    best = max(counts, key=lambda s: (counts[s], max(h.start for h in hits if h.label == s)))
    return Labelled(best, scores, [Evidence(h.label, h.start, h.end, 1.0) for h in hits])
