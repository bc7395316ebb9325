"""Analyzer registry: role → name → factory. The service asks for a pipeline by name, never a class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.analyzers.base import Analyzer
from models.analyzers.sentiment_rules import RuleSentimentAnalyzer
from models.analyzers.stage_rules import RuleStageAnalyzer
from models.analyzers.topic_rules import RuleTopicAnalyzer
from models.pipeline import AnalysisPipeline
from models.taxonomy import Taxonomy

REGISTRY: dict[str, dict[str, Callable[..., Analyzer]]] = {
    "sentiment": {"rules": RuleSentimentAnalyzer},
    "topics": {"rules": RuleTopicAnalyzer},
    "stage": {"rules": RuleStageAnalyzer},
}


def names() -> list[str]:
    """Pipeline names every role can build."""
    return sorted(set.intersection(*(set(by_name) for by_name in REGISTRY.values())))


def build_pipeline(name: str = "rules", *, touchpoint_stages: dict[str, str] | None = None) -> AnalysisPipeline:
    if name not in names():
        raise KeyError(f"unknown analyzer {name!r}; available: {', '.join(names())}")
    built = {role: by_name[name]() for role, by_name in REGISTRY.items()}
    return AnalysisPipeline(**built, touchpoint_stages=touchpoint_stages)


def topic_analyzer(taxonomy: Taxonomy, name: str = "rules") -> Analyzer:
    """A topic analyzer for a tenant's own taxonomy."""
    factory: Callable[..., Any] = REGISTRY["topics"][name]
    return factory(taxonomy)
