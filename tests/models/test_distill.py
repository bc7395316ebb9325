"""Distillation (pipelines.distill) on a tiny encoder: the student is the teacher cut to some layers, it learns from
the teacher's cached outputs, and it saves and loads as its layers and heads over the base's embeddings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, XLMRobertaModel

from models import multitask
from models.analyzers import neural
from models.document import prepare
from models.taxonomy import default_taxonomy
from pipelines import distill, train
from tests.models.tiny import write_tiny_base


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_base(tmp_path_factory.mktemp("tiny-base"), layers=3)


@pytest.fixture(scope="module")
def teacher_dir(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny teacher with (random) LoRA adapters, as pipelines.train saves koe-accurate."""
    spec = multitask.ModelSpec(
        name="koe-tiny", version="0.0.1", base_model=str(tiny_base), topics=[t.id for t in default_taxonomy().topics]
    )
    torch.manual_seed(1)
    encoder = XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False)
    model = multitask.MultiTaskModel(multitask.with_lora(encoder, 2), spec)
    for name, parameter in model.named_parameters():  # peft starts lora_B at zero: make the adapters matter
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)
    directory = tmp_path_factory.mktemp("teacher") / "koe-tiny"
    multitask.save(model, spec, directory)
    return directory


def load_teacher(teacher_dir: Path, tiny_base: Path) -> multitask.MultiTaskModel:
    return multitask.load(teacher_dir, XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False))


def docs(spec: multitask.ModelSpec, n: int = 10) -> list[train.Example]:
    return train.examples(train.split_rows("train")[:n], spec)


def test_a_student_keeping_every_layer_is_the_teacher(teacher_dir: Path, tiny_base: Path) -> None:
    teacher = load_teacher(teacher_dir, tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    items = docs(teacher.spec)
    outputs = distill.teacher_outputs(teacher, tokenizer, items)
    same = distill.student_of(teacher, [0, 1, 2], "koe-tiny-fast", "0.0.1").eval()
    copied = distill.teacher_outputs(same, tokenizer, items)
    for task, values in outputs.documents.items():
        torch.testing.assert_close(copied.documents[task], values)
    torch.testing.assert_close(copied.sentence_vectors, outputs.sentence_vectors)

    cut = distill.student_of(teacher, [0, 2], "koe-tiny-fast", "0.0.1").eval()
    assert len(cut.encoder.encoder.layer) == 2 and cut.encoder.config.num_hidden_layers == 2
    assert len(teacher.encoder.encoder.layer) == 3  # the teacher is not cut with it
    assert not any(p.requires_grad for p in cut.encoder.embeddings.parameters())
    assert all(p.requires_grad for p in cut.encoder.encoder.layer.parameters())  # the loaded teacher is frozen
    moved = distill.teacher_outputs(cut, tokenizer, items).documents["doc_sentiment"]
    assert not torch.allclose(moved, outputs.documents["doc_sentiment"])


def test_teacher_rows_follow_each_documents_sentences(teacher_dir: Path, tiny_base: Path) -> None:
    teacher = load_teacher(teacher_dir, tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    items = docs(teacher.spec)
    outputs = distill.teacher_outputs(teacher, tokenizer, items)
    assert outputs.sentence_vectors.shape[0] == sum(len(e.sentences) for e in items)
    for d in (0, 3, 9):  # each document alone through the teacher: the same rows
        alone = distill.teacher_outputs(teacher, tokenizer, [items[d]])
        doc_rows, sentence_rows = outputs.rows([d], [len(items[d].sentences)])
        torch.testing.assert_close(
            outputs.sentences["sentence_sentiment"][sentence_rows],
            alone.sentences["sentence_sentiment"],
            atol=1e-5,
            rtol=1e-4,
        )
        torch.testing.assert_close(outputs.documents["stage"][doc_rows], alone.documents["stage"], atol=1e-5, rtol=1e-4)


def test_augmented_documents_are_made_of_train_sentences_with_their_gold() -> None:
    spec = multitask.ModelSpec(name="x", version="0", base_model="", topics=[t.id for t in default_taxonomy().topics])
    items = docs(spec, 30)
    extra = distill.augmented(items, 20, seed=7)
    labelled = {(text, label) for e in items for text, label in zip(e.sentences, e.sentence_sentiment, strict=True)}
    alone = [e for e in extra if len(e.sentences) == 1]
    mixed = [e for e in extra if len(e.sentences) > 1]
    assert len(alone) == sum(
        len(e.sentences) for e in items if len(e.sentences) > 1 and all(t.strip() for t in e.sentences)
    )
    assert len(mixed) == 20 and all(2 <= len(e.sentences) <= 5 for e in mixed)
    for e in extra:
        assert e.targets == {}  # no document labels: the teacher's alone
        assert set(zip(e.sentences, e.sentence_sentiment, strict=True)) <= labelled
    again = distill.augmented(items, 20, seed=7)
    assert [e.sentences for e in again] == [e.sentences for e in extra]


def test_gold_loss_skips_the_document_tasks_of_unlabelled_examples() -> None:
    spec = multitask.ModelSpec(name="x", version="0", base_model="", topics=[t.id for t in default_taxonomy().topics])
    labelled, unlabelled = docs(spec, 1)[0], train.Example(["いいね", "遅い"], {}, [0, 2])
    outputs = {task: torch.randn(2, n) for task, n in spec.head_sizes().items()}
    outputs["sentence_sentiment"] = torch.randn(len(labelled.sentences) + 2, 3)
    both = train.loss_of(outputs, [labelled, unlabelled])

    def moved(row: int) -> dict[str, torch.Tensor]:
        out = {task: v.clone() for task, v in outputs.items()}
        for task in ("doc_sentiment", "topics", "stage", "emotions"):
            out[task][row] += 3.0
        return out

    torch.testing.assert_close(train.loss_of(moved(1), [labelled, unlabelled]), both)  # no document gold: no part
    assert not torch.allclose(train.loss_of(moved(0), [labelled, unlabelled]), both)
    sentences = torch.randn(4, 3)
    torch.testing.assert_close(
        train.loss_of(outputs | {"sentence_sentiment": sentences}, [unlabelled, unlabelled]),
        torch.nn.functional.cross_entropy(sentences, torch.tensor([0, 2, 0, 2])),
    )


def test_the_loss_is_zero_only_for_the_teachers_own_outputs() -> None:
    logits = {task: torch.randn(4, 3) for task in (*distill.SOFTMAX_TASKS, *distill.SIGMOID_TASKS)}
    same = distill.soft_loss(logits, logits)
    other = distill.soft_loss({t: v.flip(0) for t, v in logits.items()}, logits)
    # KL is 0 for equal distributions; the multi-label part is the teacher's own entropy, a constant
    entropy = sum(
        torch.nn.functional.binary_cross_entropy_with_logits(logits[t], torch.sigmoid(logits[t]))
        for t in distill.SIGMOID_TASKS
    )
    torch.testing.assert_close(same, entropy)
    assert other > same
    vectors = torch.randn(5, 8)
    assert float(distill.vector_loss(vectors, 3 * vectors)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill.vector_loss(vectors, -vectors)) == pytest.approx(2.0)


def test_distill_end_to_end_saves_a_student_the_service_loads(
    teacher_dir: Path, tiny_base: Path, tmp_path: Path
) -> None:
    out = tmp_path / "koe-tiny-fast"
    args = ["--base", str(tiny_base), "--teacher", str(teacher_dir), "--out", str(out), "--cache", str(tmp_path)]
    distill.main([*args, "--layers", "0", "2", "--epochs", "1", "--batch-size", "4", "--limit", "12", "--mixes", "6"])

    assert (out / "layers.safetensors").exists() and not (out / "adapter").exists()
    trained = load_file(out / "layers.safetensors")
    initial = load_teacher(teacher_dir, tiny_base).encoder.encoder.layer[2].state_dict()
    moved = [k for k, v in initial.items() if not torch.equal(trained[f"encoder.layer.1.{k}"], v)]
    assert len(moved) == len(initial)  # every tensor of the student's layers was trained
    assert len(list(tmp_path.glob("teacher-*.pt"))) == 1  # the teacher's outputs, cached
    spec = multitask.load_spec(out)
    assert spec.name == "koe-fast" and spec.student_layers == [0, 2]
    extra = distill.augmented(train.examples(train.split_rows("train")[:12], spec), 6, train.SEED)
    assert spec.provenance["train_documents"] == 12 and spec.provenance["augmented_documents"] == len(extra)
    assert spec.provenance["training"]["steps"] == spec.provenance["training"]["planned_steps"] > 3
    assert spec.provenance["teacher"] == f"koe-tiny {multitask.load_spec(teacher_dir).version}"
    assert set(spec.temperatures) == {"doc_sentiment", "stage", "sentence_sentiment"}
    assert spec.version.endswith(f".w{multitask.weights_digest(out, spec)}")
    assert "a student of 2 transformer layers" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")

    served = neural.NeuralModel(out, str(tiny_base))
    assert len(served.model.encoder.encoder.layer) == 2
    found = served.predict([prepare("対応が早くて助かりました。でも値段は高いです。")])[0]
    assert found.sentences["sentence_sentiment"].shape == (2, 3)
    assert all(torch.isfinite(v).all() for v in found.document.values())


def test_a_saved_student_loads_with_its_own_weights(teacher_dir: Path, tiny_base: Path, tmp_path: Path) -> None:
    teacher = load_teacher(teacher_dir, tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    student = distill.student_of(teacher, [1, 2], "koe-tiny-fast", "0.0.1")
    with torch.no_grad():  # weights the base does not have: loading must take them from the student's file
        for parameter in student.encoder.encoder.layer.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    multitask.save(student, student.spec, tmp_path / "s")
    loaded = multitask.load(tmp_path / "s", XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False))
    items = docs(teacher.spec, 4)
    before = distill.teacher_outputs(student.eval(), tokenizer, items)
    after = distill.teacher_outputs(loaded, tokenizer, items)
    for task, values in before.documents.items():
        torch.testing.assert_close(after.documents[task], values)

    spec = multitask.load_spec(tmp_path / "s")
    spec.student_layers = [0, 1, 2]
    multitask.save_spec(spec, tmp_path / "s")
    with pytest.raises(ValueError, match="does not fit 3 base layers"):
        multitask.load(tmp_path / "s", XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False))


def test_merge_lora_equals_peft_merge_and_unload(teacher_dir: Path, tiny_base: Path) -> None:
    """koe's own merge (no peft import when serving) gives the weights peft's merge_and_unload gives."""
    from peft import PeftModel

    fresh = lambda: XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False)  # noqa: E731
    ours = multitask.merge_lora(fresh(), teacher_dir / "adapter").state_dict()
    theirs = PeftModel.from_pretrained(fresh(), teacher_dir / "adapter").merge_and_unload().state_dict()
    base = fresh().state_dict()
    assert ours.keys() == theirs.keys()
    changed = [k for k in ours if not torch.equal(ours[k], base[k])]
    # per layer: query, key, value and the three "dense" projections (attention output, intermediate, output)
    assert len(changed) == 3 * 6 and all(k.endswith(".weight") for k in changed)
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-6, rtol=1e-5)


def test_an_adapter_with_a_peft_feature_koe_does_not_merge_goes_to_peft(
    teacher_dir: Path, tiny_base: Path, tmp_path: Path
) -> None:
    adapter = tmp_path / "adapter"
    shutil.copytree(teacher_dir / "adapter", adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps(config | {"use_rslora": True}))
    fresh = lambda: XLMRobertaModel.from_pretrained(tiny_base, add_pooling_layer=False)  # noqa: E731
    plain = multitask.merge_lora(fresh(), teacher_dir / "adapter").state_dict()
    rslora = multitask.merge_lora(fresh(), adapter).state_dict()  # peft scales by alpha / sqrt(r) instead
    key = "encoder.layer.0.attention.self.query.weight"
    base = fresh().state_dict()[key]
    torch.testing.assert_close((rslora[key] - base), (plain[key] - base) * (2**0.5), atol=1e-6, rtol=1e-4)
