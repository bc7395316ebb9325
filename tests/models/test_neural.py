"""The trained-model analyzers' plumbing, on a tiny randomly initialised model built here (fast, no training):
windows for long texts, offsets, probabilities, thresholds, versions. Quality is tested on the real model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import XLMRobertaModel

from models import multitask, xlmr
from models.analyzers import neural
from models.document import prepare
from models.emotions import EMOTIONS
from models.journey import STAGES
from models.pipeline import AnalysisInput, AnalysisPipeline
from models.taxonomy import default_taxonomy
from tests.models.tiny import write_tiny_base

CHAT = "客: 注文した商品が届きません。\n担当: 申し訳ございません。確認いたします。\n客: 早めにお願いします(T_T)\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2-layer, 32-wide encoder with the real tokenizer, plus LoRA adapters and heads saved like a trained model."""
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_base(root / "base")
    spec = multitask.ModelSpec(
        name="koe-tiny",
        version="0.0.1",
        base_model=str(root / "base"),
        max_length=32,
        topics=[t.id for t in default_taxonomy().topics],
        # delivery and anger always on, every other emotion never (probabilities stay below 1.01)
        thresholds={"topic:delivery": 0.0, **{f"emotion:{e}": 1.01 for e in EMOTIONS}, "emotion:anger": 0.0},
        temperatures={"doc_sentiment": 2.0},
        serves=["sentiment", "topics", "stage", "emotions"],
    )
    encoder = XLMRobertaModel.from_pretrained(root / "base", add_pooling_layer=False)
    multitask.save(multitask.MultiTaskModel(multitask.with_lora(encoder, 4), spec), spec, root / "model")
    return root / "model", root / "base"


@pytest.fixture(scope="module")
def pipeline(tiny: tuple[Path, Path]) -> AnalysisPipeline:
    return AnalysisPipeline(**neural.analyzers(tiny[0], str(tiny[1]), quantize=True))


def test_every_part_is_well_formed(pipeline: AnalysisPipeline, tiny: tuple[Path, Path]) -> None:
    result = pipeline.analyze([AnalysisInput(CHAT)])[0]
    assert set(result.sentiment["scores"]) == {"positive", "neutral", "negative", "mixed"}
    assert sum(result.sentiment["scores"].values()) == pytest.approx(1, abs=1e-3)
    assert result.stage["predicted"] in STAGES and sum(result.stage["scores"].values()) == pytest.approx(1, abs=1e-3)
    assert "delivery" in [t["id"] for t in result.topics]  # threshold 0.0 in the spec: always on
    for sentence in result.sentences:
        assert CHAT[sentence["offset"] : sentence["offset"] + sentence["length"]] == sentence["text"]
        assert sum(sentence["sentiment"]["scores"].values()) == pytest.approx(1, abs=1e-3)
    version = multitask.load_spec(tiny[0]).version  # 0.0.1.w<weights digest>
    assert version.startswith("0.0.1.w")
    assert result.model_versions["sentiment"] == f"koe-tiny-sentiment@{version}+int8"
    assert result.model_versions["emotions"] == f"koe-tiny-emotions@{version}+int8"
    assert result.emotions is not None and result.emotions["present"] == ["anger"]
    assert 0.0 <= result.emotions["scores"]["anger"] <= 1.0


def test_long_text_is_read_whole_in_windows(pipeline: AnalysisPipeline) -> None:
    text = "配送が遅くて本当に困りました。" * 40 + "でも店員さんは親切でした。"
    result = pipeline.analyze([AnalysisInput(text)])[0]
    assert len(result.sentences) == 41  # max_length 32: many windows, every sentence still scored
    assert result.sentences[-1]["text"] == "でも店員さんは親切でした。"


def test_batch_results_follow_input_order(pipeline: AnalysisPipeline) -> None:
    texts = ["最高でした！", CHAT * 3, "普通。", "二度と買いません。" * 20]
    together = pipeline.analyze([AnalysisInput(t) for t in texts])
    alone = [pipeline.analyze([AnalysisInput(t)])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        # int8 dynamic quantization scales activations per batch tensor: neighbours move scores by < 0.01
        assert a.sentiment["scores"] == pytest.approx(b.sentiment["scores"], abs=1e-2)
        assert len(a.sentences) == len(b.sentences)


def test_temperature_softens_probabilities(tiny: tuple[Path, Path]) -> None:
    model = neural.NeuralModel(tiny[0], str(tiny[1]), quantize=False)
    logits = torch.tensor([2.0, 0.0, -1.0, 0.5])
    assert model.softmax("doc_sentiment", logits).max() < torch.softmax(logits, -1).max()


def test_bfloat16_where_the_cpu_multiplies_it_and_the_version_says_so(
    tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, base = tiny[0], str(tiny[1])
    monkeypatch.setattr(xlmr, "native_bfloat16", lambda: False)
    plain = neural.NeuralModel(model, base)
    assert plain.version == multitask.load_spec(model).version
    monkeypatch.setattr(xlmr, "native_bfloat16", lambda: True)
    assert neural.NeuralModel(model, base).version == plain.version + "+bf16"
    assert neural.NeuralModel(model, base, bfloat16=False).version == plain.version
    assert neural.NeuralModel(model, base, quantize=True).version == plain.version + "+int8"  # never both
    with pytest.raises(ValueError, match="bfloat16 needs"):
        neural.NeuralModel(model, base, quantize=True, bfloat16=True)


def test_probabilities_of_a_call_are_each_documents_own(tiny: tuple[Path, Path]) -> None:
    """One softmax or sigmoid per task over the whole call gives each document what its own logits say: the
    calibrated softmax for single-label tasks (a sentence's stage at the stage temperature), a sigmoid for topics
    and emotions, one row per sentence."""
    model = neural.NeuralModel(tiny[0], str(tiny[1]), bfloat16=False)
    documents = [prepare(t) for t in (CHAT, "安いけど遅い。", "最高でした！また泊まりたいです😊")]
    logits, probabilities = model.predict(documents), model.probabilities(documents)
    assert [len(p.sentences["sentence_sentiment"]) for p in probabilities] == [len(d.sentences) for d in documents]
    for lg, p in zip(logits, probabilities, strict=True):
        assert p.document["doc_sentiment"] == pytest.approx(
            model.softmax("doc_sentiment", lg.document["doc_sentiment"]).tolist()
        )
        assert p.document["topics"] == pytest.approx(torch.sigmoid(lg.document["topics"]).tolist())
        assert p.document["emotions"] == pytest.approx(torch.sigmoid(lg.document["emotions"]).tolist())
        for i, row in enumerate(p.sentences["sentence_stage"]):
            assert row == pytest.approx(model.softmax("stage", lg.sentences["sentence_stage"][i]).tolist())
    assert model.probabilities([]) == []


def test_a_text_repeated_in_a_call_is_analyzed_once(tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Survey exports repeat 特になし by the hundred: the model reads each distinct text once per call, and what
    differs between the repeats (a stage the caller gives) still applies to each."""
    pipeline = AnalysisPipeline(**neural.analyzers(tiny[0], str(tiny[1]), bfloat16=False))
    model = pipeline.sentiment.model  # type: ignore[attr-defined]
    read: list[list[str]] = []
    predict = model._predict
    monkeypatch.setattr(
        model, "_predict", lambda documents: read.append([d.text for d in documents]) or predict(documents)
    )
    inputs = [
        AnalysisInput("特になし"),
        AnalysisInput("配送が遅い。"),
        AnalysisInput("特になし", stage="support"),
        AnalysisInput("配送が遅い。"),
    ]
    results = pipeline.analyze(inputs)
    assert read == [["特になし", "配送が遅い。"]]
    assert results[0].sentiment == results[2].sentiment and results[1] == results[3]
    assert (results[0].stage["source"], results[2].stage["source"]) == ("predicted", "given")
    assert results[2].stage["label"] == "support" and results[2].stage["predicted"] == results[0].stage["predicted"]


def test_heap_trimmed_after_a_large_forward_pass_only(tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """malloc_trim walks the whole heap (≈ 1 ms): after a one-sentence request it would give back next to nothing,
    after a batch of TRIM_TOKENS or more it returns the fragmented activations."""
    trims: list[int] = []

    class Libc:
        def malloc_trim(self, pad: int) -> int:
            trims.append(pad)
            return 1

    monkeypatch.setattr(neural, "_LIBC", Libc())
    model = neural.NeuralModel(tiny[0], str(tiny[1]), bfloat16=False)
    model.predict([prepare("最高でした")])
    assert trims == []
    model.predict([prepare(CHAT * 10)])  # one long document: 15 windows, 405 positions
    assert trims == [0]
