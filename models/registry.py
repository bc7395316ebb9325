"""Analyzer registry: pipeline name → role analyzers. The service asks for a pipeline by name, never a class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.analyzers.base import Analyzer
from models.analyzers.sentiment_rules import RuleSentimentAnalyzer
from models.analyzers.stage_rules import RuleStageAnalyzer
from models.analyzers.topic_rules import RuleTopicAnalyzer
from models.pipeline import AnalysisPipeline
from models.taxonomy import Taxonomy

ARTIFACTS = Path(__file__).parent / "artifacts"
DEFAULT_BASE_MODEL = str(Path(__file__).resolve().parents[1] / "data" / "base-model" / "multilingual-e5-small")


@dataclass(frozen=True)
class ModelOptions:
    base_model: str = DEFAULT_BASE_MODEL  # a local directory or a hub id (from_pretrained)
    artifacts: Path = ARTIFACTS
    quantize: bool = False  # int8 measured −7 points macro-F1 on the corpus test split: off by default
    bfloat16: bool | None = None  # the encoder's layers in bfloat16; None: where the CPU does it natively


def _rules(_: ModelOptions) -> dict[str, Any]:
    return {"sentiment": RuleSentimentAnalyzer(), "topics": RuleTopicAnalyzer(), "stage": RuleStageAnalyzer()}


def _trained(name: str) -> Callable[[ModelOptions], dict[str, Any]]:
    def build(options: ModelOptions) -> dict[str, Any]:
        from models.analyzers import neural  # torch is imported only when a trained model is asked for

        directory = options.artifacts / name
        if not (directory / "koe_model.json").exists():
            raise FileNotFoundError(f"model {name!r} is not in {directory}: train it with `python -m pipelines.train`")
        return {
            **_rules(options),
            **neural.analyzers(directory, options.base_model, quantize=options.quantize, bfloat16=options.bfloat16),
        }

    return build


PIPELINES: dict[str, Callable[[ModelOptions], dict[str, Any]]] = {
    "rules": _rules,
    "accurate": _trained("koe-accurate"),
    "fast": _trained("koe-fast"),  # distilled from koe-accurate (pipelines.distill): for batch jobs of many rows
}


def names() -> list[str]:
    return sorted(PIPELINES)


def available() -> list[str]:
    """Pipelines that can be built here: rules always, trained models when their artifacts exist."""
    return ["rules", *(n for n in names() if n != "rules" and (ARTIFACTS / f"koe-{n}" / "koe_model.json").exists())]


def resolve(name: str, options: ModelOptions | None = None) -> str:
    """`auto` is the trained model when its adapters and its base encoder are here, else the rules."""
    if name != "auto":
        return name
    base = (options or ModelOptions()).base_model
    base_ready = not Path(base).is_absolute() or (Path(base) / "config.json").exists()  # a hub id, or a dir
    return "accurate" if "accurate" in available() and base_ready else "rules"


def build_pipeline(
    name: str = "rules", *, touchpoint_stages: dict[str, str] | None = None, options: ModelOptions | None = None
) -> AnalysisPipeline:
    name = resolve(name, options)
    if name not in PIPELINES:
        raise KeyError(f"unknown analyzer {name!r}; available: {', '.join(names())}")
    return AnalysisPipeline(**PIPELINES[name](options or ModelOptions()), touchpoint_stages=touchpoint_stages)


def topic_analyzer(taxonomy: Taxonomy) -> Analyzer:
    """A topic analyzer for a tenant's own taxonomy (keyword rules: works without training data)."""
    return RuleTopicAnalyzer(taxonomy)


TENANT_TOPICS = "tenant-topics"  # the name of a topic analyzer with a tenant's head (models.analyzers.tenant_topics)


def served_model(pipeline: AnalysisPipeline) -> Any | None:
    """The trained model behind a pipeline's roles (its vectors are what a tenant's topic head reads), if any."""
    analyzers = (pipeline.sentiment, pipeline.topics, pipeline.stage, pipeline.emotions)
    return next((a.model for a in analyzers if a is not None and hasattr(a, "model")), None)


def with_topic_head(
    topics: Analyzer, pipeline: AnalysisPipeline, *, head_topics: list[str], weights: bytes, model_version: str
) -> Analyzer:
    """`topics` plus what a tenant's head (saved by models.analyzers.tenant_topics.TopicHead.to_bytes) finds, when
    the pipeline serves the model the head was trained on; else `topics` alone (the head would read vectors it
    never saw)."""
    model = served_model(pipeline)
    if model is None or model.version != model_version:
        return topics
    from models.analyzers.tenant_topics import TenantTopicAnalyzer, TopicHead  # torch only with a trained model

    return TenantTopicAnalyzer(topics, model, TopicHead.from_bytes(head_topics, weights, model_version))
