"""`python -m pipelines.aspects` end to end on a tiny model: the tagger is trained on the corpus's aspect labels,
scored on dev and test, saved beside the model, and the model then answers aspects under a new release number."""

from __future__ import annotations

from pathlib import Path

from transformers import XLMRobertaModel

from models import multitask
from models.analyzers import neural
from models.aspects import Span, above
from models.pipeline import AnalysisInput, AnalysisPipeline
from pipelines import aspects
from tests.models.tiny import write_tiny_base


def test_training_saves_a_tagger_the_service_loads(tmp_path: Path) -> None:
    write_tiny_base(tmp_path / "base", layers=2)
    spec = multitask.ModelSpec(name="koe-tiny", version="0.3.0", base_model="", max_length=64, topics=["delivery"])
    encoder = XLMRobertaModel.from_pretrained(tmp_path / "base", add_pooling_layer=False)
    multitask.save(multitask.MultiTaskModel(encoder, spec), spec, tmp_path / "model")
    before = multitask.load_spec(tmp_path / "model").version

    aspects.main(["--model", str(tmp_path / "model"), "--base-model", str(tmp_path / "base"), "--epochs", "1"])

    saved = multitask.load_spec(tmp_path / "model")
    assert saved.aspect_layers == [1, 2]  # the middle and the last of 2 layers
    assert saved.version.startswith("0.4.0+") and saved.version != before
    assert saved.version.endswith(f".w{multitask.weights_digest(tmp_path / 'model', saved)}")
    assert saved.thresholds["aspect"] in aspects.THRESHOLDS  # chosen on dev
    report = saved.provenance["aspects"]
    assert report["items"] == {"train": 2944, "dev": 450, "test": 280} and report["epoch_kept"] == 1
    assert report["test_metrics"]["labelled_aspects"] == 357 and 0.0 <= report["test_metrics"]["aspect_f1"] <= 1.0
    assert "Aspect–opinion tagger" in (tmp_path / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")

    pipeline = AnalysisPipeline(**neural.analyzers(tmp_path / "model", str(tmp_path / "base"), bfloat16=False))
    (result,) = pipeline.analyze([AnalysisInput("店員さんの対応がとても丁寧でした。")])
    assert result.aspects is not None and result.model_versions["aspects"] == f"koe-tiny-aspects@{saved.version}"

    # The threshold alone chosen again for the same tagger: same weights, a new release (its answers may differ).
    tagger = (tmp_path / "model" / multitask.ASPECTS_FILE).read_bytes()
    aspects.main(["--model", str(tmp_path / "model"), "--base-model", str(tmp_path / "base"), "--keep-tagger"])
    kept = multitask.load_spec(tmp_path / "model")
    assert (tmp_path / "model" / multitask.ASPECTS_FILE).read_bytes() == tagger
    assert kept.version.startswith("0.5.0+") and kept.aspect_layers == [1, 2]
    assert set(kept.provenance["aspects"]["dev_aspect_f1_by_threshold"]) == {str(t) for t in aspects.THRESHOLDS}
    assert kept.provenance["aspects"]["epoch_kept"] == 1  # the training report stays with the tagger it describes


def test_a_threshold_drops_weak_aspect_terms_and_keeps_every_opinion() -> None:
    weak, strong, opinion = Span(0, 2, "NEG"), Span(3, 5, "POS"), Span(6, 8, "OP")
    spans = {weak: 0.45, strong: 0.91, opinion: 0.2}
    assert above(spans, 0.5) == {strong: 0.91, opinion: 0.2}
    assert above(spans, 0.0) == spans


def test_release_numbers() -> None:
    assert multitask.release("2.3.0+20261126.w27a7d0a9") == "2.3.0"
    assert multitask.next_minor("2.3.0+20261126.w27a7d0a9") == "2.4.0"
    assert multitask.next_minor("1.0.0+20261126.wf40551c3") == "1.1.0"
