"""Multi-label topics from a taxonomy's keyword rules, per sentence and per document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from models.analyzers.base import DocumentResult, Evidence, Labelled
from models.document import Document
from models.keywords import KeywordMatcher
from models.taxonomy import OTHER_TOPIC, Taxonomy, default_taxonomy

MISS_RATE = 0.4  # a keyword hit is taken to be wrong 40 % of the time; independent hits compound


def _confidence(hits: int) -> float:
    return round(1.0 - MISS_RATE**hits, 4)


class RuleTopicAnalyzer:
    """Topics a tenant's taxonomy names; `other` when no keyword of any topic appears."""

    name = "topic-rules"
    portable = True  # lexicons only: cheap to copy into another process

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or default_taxonomy()
        self.version = f"1.0.0+{self.taxonomy.name}.v{self.taxonomy.version}.{self.taxonomy.digest}"
        self._matcher = KeywordMatcher({t.id: t.keywords for t in self.taxonomy.topics})

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]:
        return [self._analyze_document(doc) for doc in documents]

    def _analyze_document(self, doc: Document) -> DocumentResult:
        sentences = [self._label(self._matcher.hits(s)) for s in doc.sentences]
        evidence = [e for s in sentences for e in s.evidence]
        return DocumentResult(self._label_evidence(evidence), sentences)

    def _label(self, hits) -> Labelled:
        return self._label_evidence([Evidence(h.label, h.start, h.end, 1.0) for h in hits])

    def _label_evidence(self, evidence: list[Evidence]) -> Labelled:
        counts = Counter(e.label for e in evidence)
        scores = {topic: _confidence(n) for topic, n in counts.most_common()}
        if not scores:
            return Labelled(OTHER_TOPIC, {OTHER_TOPIC: 1.0}, [])
        return Labelled(next(iter(scores)), scores, evidence)
