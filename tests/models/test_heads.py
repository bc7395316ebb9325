"""Head refitting (pipelines.heads): the probe fits, is chosen on dev, and replaces a head only when dev improves."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, XLMRobertaModel

from models import multitask
from models.taxonomy import default_taxonomy
from models.windows import pack
from pipelines import heads
from tests.models.tiny import write_tiny_base


def separable(n: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Vectors whose first coordinates decide every label: a linear probe can get them all right."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 32, generator=g)
    stage, sentiment = x[:, :7].argmax(-1), x[:, 27:31].argmax(-1)
    return x, {
        "doc_sentiment": sentiment,
        "topics": (x[:, 7:19] > 0.5).float(),
        "emotions": (x[:, 19:27] > 0.5).float(),
        "stage": stage,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[multitask.MultiTaskModel, object]:
    base = write_tiny_base(tmp_path_factory.mktemp("tiny-base"), layers=1)
    spec = multitask.ModelSpec(
        name="koe-tiny", version="0.0.1", base_model=str(base), topics=[t.id for t in default_taxonomy().topics]
    )
    torch.manual_seed(0)
    model = multitask.MultiTaskModel(XLMRobertaModel.from_pretrained(base, add_pooling_layer=False), spec)
    return model.eval(), AutoTokenizer.from_pretrained(base)


def test_probe_learns_separable_labels() -> None:
    x, gold = separable(600, seed=1)
    for task in heads.REFITTED:
        weight, bias = heads.fit_linear(x, gold[task], 1e-6, task in heads.MULTI_LABEL)
        assert heads.dev_score(task, x @ weight.T + bias, gold[task]) > 0.95


def test_refit_replaces_a_worse_head_and_keeps_a_better_one(tiny: tuple[multitask.MultiTaskModel, object]) -> None:
    model, _ = tiny
    train, dev = separable(800, seed=2), separable(300, seed=3)
    sentence_sentiment_before = model.heads["sentence_sentiment"].weight.clone()

    first = {r.task: r for r in heads.refit_heads(model, train, dev)}
    assert all(r.kept and r.dev_after > max(r.dev_before, 0.9) for r in first.values())
    assert all(r.l2 in heads.L2_GRID for r in first.values())
    with torch.no_grad():
        assert heads.dev_score("topics", model.heads["topics"](dev[0]), dev[1]["topics"]) == pytest.approx(
            first["topics"].dev_after, abs=1e-4
        )

    refitted = {task: model.heads[task].weight.clone() for task in heads.REFITTED}
    second = heads.refit_heads(model, train, dev)  # the same probe again: dev cannot improve, nothing is replaced
    assert not any(r.kept for r in second)
    assert all(torch.equal(model.heads[task].weight, refitted[task]) for task in heads.REFITTED)
    assert torch.equal(model.heads["sentence_sentiment"].weight, sentence_sentiment_before)  # never refitted


def test_document_vectors_are_what_the_heads_read_in_input_order(tiny: tuple[multitask.MultiTaskModel, object]) -> None:
    model, tokenizer = tiny
    documents = [["とても良かったです。", "また来ます！"], ["届くのが遅い😡"], ["安いけど、壊れやすい。"] * 3]
    seen: list[int] = []
    vectors = heads.document_vectors(model, tokenizer, documents, batch_size=2, after_batch=seen.append)
    assert seen == [2, 3]
    with torch.inference_mode():
        for d, sentences in enumerate(documents):
            alone, _ = model.pooled(pack(tokenizer, [sentences], model.spec.max_length))
            assert torch.allclose(vectors[d], alone[0], atol=1e-5)
            served = model(pack(tokenizer, [sentences], model.spec.max_length))["stage"][0]  # eval: no dropout
            assert torch.allclose(model.heads["stage"](vectors[d]), served, atol=1e-5)
