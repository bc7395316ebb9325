"""The training pipeline end to end on a tiny randomly initialised encoder and a few corpus documents: it runs,
fits calibration on dev, chooses roles against the rules, scores test, and saves a model the service loads."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, XLMRobertaModel

from models import multitask
from models.analyzers import neural
from models.document import prepare
from models.pipeline import AnalysisInput, AnalysisPipeline
from models.taxonomy import default_taxonomy
from pipelines import train
from tests.models.tiny import write_tiny_base


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_base(tmp_path_factory.mktemp("tiny-base"), layers=1)


def test_train_calibrate_choose_and_save(tiny_base: Path, tmp_path: Path) -> None:
    rows = {split: train.split_rows(split)[:12] for split in ("train", "dev", "test")}
    spec = multitask.ModelSpec(
        name="koe-tiny", version="0.0.1", base_model=str(tiny_base), topics=[t.id for t in default_taxonomy().topics]
    )
    encoder = XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = multitask.MultiTaskModel(multitask.with_lora(encoder, 2), spec)
    docs = train.examples(rows["train"], spec)
    assert sum(len(d.sentence_sentiment) for d in docs) == sum(len(r["sentences"]) for r in rows["train"])

    report = train.train(model, tokenizer, docs, epochs=1, batch_size=4, max_minutes=5, seed=1)
    assert report["steps"] == report["planned_steps"] == 3

    dev = train.examples(rows["dev"], spec)
    logits = train.logits_of(model, tokenizer, dev)
    assert logits.tasks["doc_sentiment"].shape == (12, 4)
    assert logits.tasks["sentence_sentiment"].shape[0] == sum(len(d.sentences) for d in dev)
    train.calibrate(spec, logits, dev)
    assert set(spec.temperatures) == {"doc_sentiment", "stage", "sentence_sentiment"}
    assert all(t > 0 for t in spec.temperatures.values())
    assert {f"topic:{t}" for t in spec.topics} <= spec.thresholds.keys()

    choice = train.choose_roles(spec, logits, rows["dev"])
    assert choice["serves"] == spec.serves and set(spec.serves) <= {"sentiment", "topics", "stage", "emotions"}
    assert 0.0 <= choice["sentiment"]["rules"] <= 1.0 and 0.0 <= choice["stage"]["koe-tiny"] <= 1.0

    metrics = train.test_metrics(model, tokenizer, spec, train.examples(rows["test"], spec))
    assert set(metrics) == {
        "doc_sentiment_macro_f1",
        "sentence_sentiment_macro_f1",
        "topics_micro_f1",
        "stage_accuracy",
        "emotions_macro_f1",
    }
    assert all(0.0 <= v <= 1.0 for v in metrics.values())

    spec.serves = ["sentiment", "topics", "stage"]
    multitask.save(model, spec, tmp_path / "model")
    served = AnalysisPipeline(**neural.analyzers(tmp_path / "model", str(tiny_base), bfloat16=False))
    result = served.analyze([AnalysisInput(rows["test"][0]["text"])])[0]
    assert result.model_versions["sentiment"] == f"koe-tiny-sentiment@{spec.version}"
    assert spec.version == f"0.0.1.w{multitask.weights_digest(tmp_path / 'model', spec)}"
    # a threshold or temperature chosen anew is a new version, though no weight moved
    stricter = replace(spec, thresholds={**spec.thresholds, "topic:delivery": 0.99})
    assert multitask.weights_digest(tmp_path / "model", stricter) != multitask.weights_digest(tmp_path / "model", spec)
    assert len(result.sentences) >= 1


def test_refit_heads_of_a_saved_model(tiny_base: Path, tmp_path: Path) -> None:
    """`--refit-heads`: the saved adapters stay byte for byte, the version moves, the refit and test scores are
    recorded, and the result loads."""
    spec = multitask.ModelSpec(
        name="koe-tiny", version="0.0.1", base_model=str(tiny_base), topics=[t.id for t in default_taxonomy().topics]
    )
    encoder = XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False)
    model = multitask.MultiTaskModel(multitask.with_lora(encoder, 2), spec)
    out = tmp_path / "model"
    spec.thresholds, spec.provenance = {"aspect": 0.7}, {"date": "2026-11-01"}
    multitask.save(model, spec, out)
    adapter = {p.name: p.read_bytes() for p in (out / "adapter").iterdir()}

    train.main(["--base", str(tiny_base), "--out", str(out), "--refit-heads", "--limit", "40"])

    saved = multitask.load_spec(out)
    assert saved.version.startswith("0.1.0+")  # the next minor release of the saved model's own version
    assert saved.thresholds["aspect"] == 0.7  # the tagger's, not the heads': kept
    assert saved.provenance["date"] == "2026-11-01"  # when it was trained, not when its heads were refitted
    assert saved.provenance["heads_refitted"] == f"{date.today()}"
    assert set(saved.provenance["head_refit"]) == {"minutes", "doc_sentiment", "topics", "emotions", "stage"}
    assert saved.provenance["test_metrics"].keys() >= {"topics_micro_f1", "emotions_macro_f1", "stage_accuracy"}
    assert {p.name: p.read_bytes() for p in (out / "adapter").iterdir()} == adapter
    loaded = neural.NeuralModel(out, str(tiny_base), bfloat16=False)
    assert loaded.version == saved.version
    assert all(
        torch.isfinite(v).all() for v in loaded.predict([prepare("対応が早くて助かりました。")])[0].document.values()
    )


def test_batches_keep_to_the_document_and_character_budgets() -> None:
    def example(length: int) -> train.Example:
        return train.Example(["あ" * length], {}, [0])

    items = [example(n) for n in (5, 40, 900, 1_500, 2_400, 30, 3_000, 4_500, 60)]
    planned = train.batches(items, 3, random.Random(1))
    assert sorted(id(e) for b in planned for e in b) == sorted(map(id, items))  # every document once
    for batch in planned:
        assert len(batch) <= 3
        assert len(batch) == 1 or sum(e.length for e in batch) <= train.BATCH_CHARACTERS
    assert [e.length for b in planned for e in b if len(b) == 1 and e.length > train.BATCH_CHARACTERS] == [4_500]
    again = train.batches(items, 3, random.Random(1))  # same seed, same plan
    assert [[e.length for e in b] for b in planned] == [[e.length for e in b] for b in again]


def test_the_version_names_the_weights(tiny_base: Path, tmp_path: Path) -> None:
    spec = multitask.ModelSpec(
        name="koe-tiny", version="0.0.1", base_model=str(tiny_base), topics=[t.id for t in default_taxonomy().topics]
    )
    model = multitask.MultiTaskModel(XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False), spec)
    multitask.save(model, spec, tmp_path / "a")
    first = spec.version
    multitask.save(model, spec, tmp_path / "b")  # the same weights again: the same version, no second suffix
    assert spec.version == first and first.count(".w") == 1
    with torch.no_grad():
        model.heads["topics"].bias += 0.1
    multitask.save(model, spec, tmp_path / "c")
    assert spec.version != first and spec.version.startswith("0.0.1.w")
