"""The analyzer interface: every analyzer has a name, a version and analyzes a batch of documents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from models.document import Document


@dataclass(frozen=True, slots=True)
class Evidence:
    """A span of the normalized text that pushed a label, with its signed weight."""

    label: str
    start: int
    end: int
    weight: float


@dataclass(slots=True)
class Labelled:
    label: str | None
    scores: dict[str, float]
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(slots=True)
class DocumentResult:
    """One analyzer's answer for one document: a document-level result and one per sentence."""

    document: Any
    sentences: list[Any]


class Analyzer(Protocol):
    name: str
    version: str
    # Cheap to pickle into another process (lexicons, not model weights): jobs may then analyze ahead in one.
    portable: bool

    def analyze(self, documents: Sequence[Document]) -> list[DocumentResult]: ...
