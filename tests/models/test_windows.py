"""Packing documents into encoder windows: every token read once, sentences kept whole where they fit, and the
pooling index of each token pointing at its own document and sentence."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from models.registry import DEFAULT_BASE_MODEL
from models.windows import pack, segment_mean


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(DEFAULT_BASE_MODEL)


def _content(tokenizer, windows, document: int) -> str:  # type: ignore[no-untyped-def]
    """The document's text as read by the encoder: its sentence tokens across windows, decoded."""
    ids = windows.input_ids.reshape(-1)
    keep = (windows.document_of_token == document) & (windows.sentence_of_token >= 0)
    return tokenizer.decode(ids[keep].tolist()).replace(" ", "")


def test_documents_are_read_whole_and_in_order(tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = ["配送が遅くて本当に困りました。"] * 12 + ["でも店員さんは親切（＾＾）"]
    documents = [["最高でした！", "また買います😊"], long, ["悪くない。"]]
    windows = pack(tokenizer, documents, max_length=48)
    assert windows.documents == 3 and windows.sentences == 2 + 13 + 1
    assert windows.input_ids.shape[1] <= 48
    assert windows.input_ids.shape[0] > 3  # the long document needed several windows
    for d, sentences in enumerate(documents):
        assert _content(tokenizer, windows, d) == tokenizer.decode(
            tokenizer("".join(sentences), add_special_tokens=False)["input_ids"]
        ).replace(" ", "")


def test_each_token_points_at_its_sentence(tokenizer) -> None:  # type: ignore[no-untyped-def]
    documents = [["安いけど", "遅い。"], ["二度と買わない。"]]
    windows = pack(tokenizer, documents, max_length=64)
    ids = windows.input_ids.reshape(-1)
    read = {s: tokenizer.decode(ids[windows.sentence_of_token == s].tolist()).strip() for s in range(3)}
    assert read == {0: "安いけど", 1: "遅い。", 2: "二度と買わない。"}


def test_a_sentence_longer_than_a_window_is_split_not_cut(tokenizer) -> None:  # type: ignore[no-untyped-def]
    sentence = "とても" * 60 + "良い。"
    windows = pack(tokenizer, [[sentence]], max_length=32)
    rows_with_sentence = (windows.sentence_of_token.reshape(windows.input_ids.shape) == 0).any(1).sum()
    assert rows_with_sentence > 1
    assert _content(tokenizer, windows, 0).replace("▁", "") == sentence


def test_an_empty_document_still_has_a_vector(tokenizer) -> None:  # type: ignore[no-untyped-def]
    windows = pack(tokenizer, [[""], ["よかった"]], max_length=32)
    hidden = torch.ones(*windows.input_ids.shape, 4)
    pooled = segment_mean(hidden, windows.document_of_token, windows.documents)
    assert torch.equal(pooled, torch.ones(2, 4))  # the prefix tokens stand in for the missing text


def test_segment_mean_averages_only_its_tokens() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [10.0], [0.0]]])
    index = torch.tensor([0, 0, 1, -1])
    assert segment_mean(hidden, index, 3).flatten().tolist() == [2.0, 10.0, 0.0]


def test_every_token_has_one_position_and_its_offsets(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """What maps a tagger's per-position output back onto the text: each token of a document sits at exactly one
    window position, and its offsets are spans of the document's text."""
    long = ["配送が遅くて本当に困りました。"] * 12 + ["でも店員さんは親切（＾＾）"]
    documents = [long, ["ＵＳＢケーブルが短すぎ…", "😡"]]
    windows = pack(tokenizer, documents, max_length=48)
    for d, sentences in enumerate(documents):
        numbers = windows.token_of_position[(windows.document_of_token == d) & (windows.token_of_position >= 0)]
        assert sorted(numbers.tolist()) == list(range(len(windows.offsets[d])))
        text = "".join(sentences)
        assert all(0 <= start <= end <= len(text) for start, end in windows.offsets[d])
    ids = windows.input_ids.reshape(-1)
    first = (windows.document_of_token == 1) & (windows.token_of_position == 2)
    start, end = windows.offsets[1][2]
    assert tokenizer.decode(ids[first].tolist()).strip() == "".join(documents[1])[start:end].strip()
