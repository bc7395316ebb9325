"""Aspect–opinion tagging: gold spans → token tags → spans again, pairing, and the tagger's output mapped onto the
original text (a tiny model; the trained tagger's quality is in test_trained_models and docs/evaluation.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, XLMRobertaModel

from models import multitask
from models.analyzers import neural
from models.aspects import (
    TAGS,
    AspectTagger,
    Span,
    TokenTags,
    decode,
    document_tags,
    gold_spans,
    pair,
    spans_with_scores,
    token_tags,
)
from models.conversation import Turn, render
from models.pipeline import AnalysisInput, AnalysisPipeline
from models.registry import DEFAULT_BASE_MODEL
from tests.models.tiny import write_tiny_base


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(DEFAULT_BASE_MODEL)


def _offsets(tokenizer, text: str) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [tuple(o) for o in tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]


def test_labelled_spans_survive_tagging_and_decoding(tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "店員さんの対応はとても丁寧でした。でも料金が高すぎる！"
    gold = gold_spans(text, [["対応", "丁寧", "positive"], ["料金", "高すぎる", "negative"]])
    assert [(text[a.start : a.end], text[o.start : o.end], a.kind) for a, o in gold] == [
        ("対応", "丁寧", "POS"),
        ("料金", "高すぎる", "NEG"),
    ]
    offsets = _offsets(tokenizer, text)
    spans = decode(text, offsets, token_tags(offsets, [s for p in gold for s in p]))
    found = {(text[s.start : s.end], s.kind) for s in spans}
    assert {("対応", "POS"), ("料金", "NEG"), ("丁寧", "OP")} <= found
    assert any(t.startswith("高") and k == "OP" for t, k in found)


def test_a_repeated_term_is_the_occurrence_nearest_its_opinion() -> None:
    text = "味は普通。量は少ない。でも味が最高！"
    ((aspect, opinion),) = gold_spans(text, [["味", "最高", "positive"]])
    assert (aspect.start, opinion.start) == (text.rindex("味"), text.index("最高"))


def test_neutral_triples_and_missing_terms_are_left_out() -> None:
    assert gold_spans("普通の部屋。", [["部屋", "普通", "neutral"], ["風呂", "広い", "positive"]]) == []


def test_an_inside_tag_without_its_beginning_opens_a_span() -> None:
    text = "電池持ち悪い"
    offsets = [(0, 2), (2, 4), (4, 6)]
    tags = [TAGS.index("I-NEG"), TAGS.index("I-NEG"), TAGS.index("B-OP")]
    assert decode(text, offsets, tags) == [Span(0, 4, "NEG"), Span(4, 6, "OP")]


def test_aspects_pair_with_the_nearest_opinion_of_their_own_sentence() -> None:
    text = "接客は丁寧。部屋は狭い。駐車場。"
    starts = [0, 6, 12]
    spans = {
        Span(0, 2, "POS"): 0.9,
        Span(3, 5, "OP"): 0.8,
        Span(6, 8, "NEG"): 0.7,
        Span(9, 11, "OP"): 0.6,
        Span(12, 15, "NEG"): 0.5,
    }
    found = {(p.aspect, p.opinion, p.polarity, p.score) for p in pair(text, spans, starts)}
    assert found == {
        ("接客", "丁寧", "positive", 0.9),
        ("部屋", "狭い", "negative", 0.7),
        ("駐車場", None, "negative", 0.5),
    }


def test_scores_are_the_mean_probability_of_a_span() -> None:
    text = "音質最高"
    tagged = TokenTags([TAGS.index("B-POS"), TAGS.index("I-POS"), TAGS.index("B-OP")], [0.8, 0.6, 0.6])
    assert spans_with_scores(text, [(0, 1), (1, 2), (2, 4)], tagged) == {
        Span(0, 2, "POS"): pytest.approx(0.7),
        Span(2, 4, "OP"): pytest.approx(0.6),
    }


def test_a_span_is_scored_by_the_most_likely_tags_of_the_tagger() -> None:
    text = "音質最高"
    probs = torch.zeros(2, len(TAGS))
    probs[0, TAGS.index("B-POS")], probs[0, 0] = 0.8, 0.2
    probs[1, TAGS.index("B-OP")], probs[1, 0] = 0.6, 0.4
    (tagged,) = document_tags(probs, torch.tensor([0, 0]), torch.tensor([0, 1]), [2])
    assert spans_with_scores(text, [(0, 2), (2, 4)], tagged) == {
        Span(0, 2, "POS"): pytest.approx(0.8),
        Span(2, 4, "OP"): pytest.approx(0.6),
    }


def test_window_positions_gather_into_each_documents_tokens() -> None:
    probs = torch.eye(len(TAGS))[[0, 1, 2, 3, 5, 6]]  # six positions, one-hot tags
    owners = torch.tensor([0, 0, 0, 1, 1, -1])
    numbers = torch.tensor([-1, 1, 0, 0, 1, -1])  # position 0 is a frame token, position 5 padding
    first, second, unread = document_tags(probs, owners, numbers, [2, 2, 1])
    assert (first.tags, second.tags) == ([2, 1], [3, 5])
    assert first.scores == second.scores == [1.0, 1.0]
    assert (unread.tags, unread.scores) == ([0], [1.0])  # no window holds it: O, certainly


@pytest.fixture(scope="module")
def tagging_pipeline(tmp_path_factory: pytest.TempPathFactory) -> AnalysisPipeline:
    """A tiny model whose tagger says I-POS for every token: each document is one positive aspect, first sentence
    to last, whatever lies between its sentences in the original text."""
    root = tmp_path_factory.mktemp("tiny-aspects")
    write_tiny_base(root / "base", layers=1)
    spec = multitask.ModelSpec(
        name="koe-tiny",
        version="0.0.1",
        base_model=str(root / "base"),
        max_length=32,
        topics=["delivery"],
        aspect_layers=[0, 1],  # the embeddings and the one layer, side by side: 2 × 32 wide
    )
    model = multitask.MultiTaskModel(XLMRobertaModel.from_pretrained(root / "base", add_pooling_layer=False), spec)
    model.aspects = AspectTagger(64)
    with torch.no_grad():
        model.aspects.out.weight.zero_()
        model.aspects.out.bias.copy_(torch.tensor([0.0 if t != "I-POS" else 5.0 for t in TAGS]))
    multitask.save(model, spec, root / "model")
    return AnalysisPipeline(**neural.analyzers(root / "model", str(root / "base")))


def test_tagged_spans_map_onto_the_original_text(tagging_pipeline: AnalysisPipeline) -> None:
    text = (
        "　客: 注文した商品が届きません。\n\n担当: 申し訳ございません。確認いたします。\n客: 早めにお願いします(T_T)\n"
    )
    (result,) = tagging_pipeline.analyze([AnalysisInput(text)])
    assert result.aspects is not None
    ((found),) = result.aspects
    aspect = found["aspect"]
    assert text[aspect["offset"] : aspect["offset"] + aspect["length"]] == aspect["text"] == text.strip()
    assert found["opinion"] is None and found["polarity"] == "positive" and 0.0 < found["score"] <= 1.0
    assert result.model_versions["aspects"].startswith("koe-tiny-aspects@0.0.1.w")


def test_a_transcript_keeps_the_aspects_of_customer_turns(tagging_pipeline: AnalysisPipeline) -> None:
    turns = (Turn("customer", "箱が潰れてた。"), Turn("agent", "申し訳ございません。"), Turn("customer", "交換して"))
    rendered, _ = render(turns)
    (result,) = tagging_pipeline.analyze([AnalysisInput(rendered, turns=turns)])
    assert result.aspects is not None
    assert [a["aspect"]["text"] for a in result.aspects] == ["箱が潰れてた。", "交換して"]
    for a in result.aspects:
        assert rendered[a["aspect"]["offset"] : a["aspect"]["offset"] + a["aspect"]["length"]] == a["aspect"]["text"]


def test_a_model_without_a_tagger_has_no_aspects(tmp_path: Path) -> None:
    write_tiny_base(tmp_path / "base", layers=1)
    spec = multitask.ModelSpec(name="koe-tiny", version="0.0.1", base_model="", max_length=32, topics=["delivery"])
    encoder = XLMRobertaModel.from_pretrained(tmp_path / "base", add_pooling_layer=False)
    multitask.save(multitask.MultiTaskModel(encoder, spec), spec, tmp_path / "model")
    (result,) = AnalysisPipeline(**neural.analyzers(tmp_path / "model", str(tmp_path / "base"))).analyze(
        [AnalysisInput("接客が丁寧でした。")]
    )
    assert result.aspects is None and "aspects" not in result.model_versions


def test_a_bare_word_marker_does_not_become_a_span(tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "最高でした！"
    offsets = _offsets(tokenizer, text)
    assert offsets[0][1] > offsets[1][0]  # "▁" alone, mapped onto 最, then 最高
    tags = [TAGS.index("B-POS"), TAGS.index("B-OP")] + [0] * (len(offsets) - 2)
    assert [(text[s.start : s.end], s.kind) for s in decode(text, offsets, tags)] == [("最高", "OP")]


def test_a_windows_tags_do_not_depend_on_the_padding_of_its_batch() -> None:
    torch.manual_seed(0)
    tagger = AspectTagger(8, width=4).eval()
    short, long = torch.randn(1, 3, 8), torch.randn(1, 7, 8)
    alone = tagger(short, torch.ones(1, 3, dtype=torch.long))
    batch = torch.cat([torch.cat([short, torch.randn(1, 4, 8)], dim=1), long])  # padding of any value
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7])
    together = tagger(batch, mask)
    assert torch.allclose(together[0, :3], alone[0], atol=1e-6)
