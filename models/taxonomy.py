"""CX topic taxonomies: the default one shipped with koe, or a tenant's own (YAML or JSON)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_TAXONOMY = Path(__file__).parent / "taxonomy" / "default.yaml"
OTHER_TOPIC = "other"


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_\-]{1,64}$", description="stable identifier used in filters")
    label: str = Field(min_length=1, max_length=64, description="display name, e.g. 配送")
    description: str = ""
    keywords: list[str] = Field(min_length=1, description="UniDic lemmas or substrings that signal the topic")

    @field_validator("keywords")
    @classmethod
    def _strip(cls, words: list[str]) -> list[str]:
        cleaned = [w.strip() for w in words if w.strip()]
        if not cleaned:
            raise ValueError("a topic needs at least one non-empty keyword")
        return cleaned


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    version: int = Field(default=1, ge=1)
    topics: list[Topic] = Field(min_length=1, max_length=200)

    @field_validator("topics")
    @classmethod
    def _unique_ids(cls, topics: list[Topic]) -> list[Topic]:
        ids = [t.id for t in topics]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate topic ids: {', '.join(duplicates)}")
        if OTHER_TOPIC in ids:
            raise ValueError(f"'{OTHER_TOPIC}' is reserved: it is assigned when no topic matches")
        return topics

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:8]

    def labels(self) -> dict[str, str]:
        return {t.id: t.label for t in self.topics} | {OTHER_TOPIC: "その他"}


def parse_taxonomy(raw: str | bytes) -> Taxonomy:
    """Parse YAML or JSON text (JSON is YAML) into a validated taxonomy."""
    data = yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise ValueError("a taxonomy is a mapping with 'name' and 'topics'")
    return Taxonomy.model_validate(data)


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    return parse_taxonomy(DEFAULT_TAXONOMY.read_bytes())


def taxonomy_from_json(data: str) -> Taxonomy:
    return Taxonomy.model_validate(json.loads(data))
