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


def interacting(n: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Labels no linear probe can draw: each topic is on where two coordinates have the same sign (XOR)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 32, generator=g) * 3 + 1  # neither centred nor of unit scale: the folded standardization
    gold = separable(n, seed)[1]
    gold["topics"] = torch.stack([(x[:, j] - 1) * (x[:, j + 12] - 1) > 0 for j in range(12)], dim=1).float()
    return x, gold


def test_the_two_layer_head_reads_raw_vectors_as_it_was_trained_on_standardized_ones() -> None:
    x, gold = interacting(4000, seed=4)
    head = heads.fit_mlp(x, gold["topics"])
    assert [type(m) for m in head] == [torch.nn.Linear, torch.nn.GELU, torch.nn.Linear]
    test_x, test_gold = interacting(500, seed=5)
    with torch.no_grad():
        assert heads.dev_score("topics", head(test_x), test_gold["topics"]) > 0.85  # measured 0.90
        weight, bias = heads.fit_linear(x, gold["topics"], 1e-6, multi_label=True)
        # no better than answering every topic (0.669 on these rows)
        assert heads.dev_score("topics", test_x @ weight.T + bias, test_gold["topics"]) < 0.7


def test_refit_chooses_two_layers_where_dev_needs_them_and_the_model_saves_and_loads_them(
    tiny: tuple[multitask.MultiTaskModel, object], tmp_path
) -> None:
    model, tokenizer = tiny
    reports = {r.task: r for r in heads.refit_heads(model, interacting(3000, seed=6), interacting(400, seed=7))}
    assert reports["topics"].l2 is None and reports["topics"].kept
    assert model.spec.head_hidden == {"topics": heads.MLP_HIDDEN}
    assert isinstance(model.heads["stage"], torch.nn.Linear)

    multitask.save(model, model.spec, tmp_path)
    loaded = multitask.load(tmp_path, XLMRobertaModel.from_pretrained(model.spec.base_model, add_pooling_layer=False))
    assert loaded.spec.head_hidden == {"topics": heads.MLP_HIDDEN}
    windows = pack(tokenizer, [["安いけど遅い。", "悪くない😊"], ["二度と買わない"]], model.spec.max_length)
    with torch.inference_mode():
        expected, found = model.eval()(windows), loaded(windows)
    for task in ("topics", "sentence_topics", "stage"):
        assert torch.allclose(found[task], expected[task], atol=1e-5)


def test_a_candidate_must_win_on_the_resamples_of_dev_not_only_on_dev() -> None:
    _, gold = separable(400, seed=8)
    perfect = torch.where(gold["topics"] > 0.5, 5.0, -5.0)
    noise = torch.randn(400, 12, generator=torch.Generator().manual_seed(9))
    assert heads.bootstrap_wins("topics", perfect, noise, gold["topics"]) == 1.0
    assert heads.bootstrap_wins("topics", noise, noise, gold["topics"]) == 0.0  # a tie is no win
    # one row's logits changed: a different score on some resamples at most, never a replacement
    nudged = noise.clone()
    nudged[0] = perfect[0]
    assert heads.bootstrap_wins("topics", nudged, noise, gold["topics"]) < heads.WINS_NEEDED
