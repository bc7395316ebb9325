"""Documents as encoder windows: each text tokenized once, whole sentences packed into windows, and for every
token the document and the sentence it belongs to, so one forward pass yields document and sentence vectors.

A sentence longer than a window is split across consecutive windows; its vector still pools all its tokens.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import torch

PASSAGE = "passage: "  # e5 convention: texts to classify are passages


@dataclass
class Windows:
    """A batch of windows ready for the encoder, with the pooling index of every token position."""

    input_ids: torch.Tensor  # [windows, length]
    attention_mask: torch.Tensor  # [windows, length]
    document_of_token: torch.Tensor  # [windows * length]: document number (prefix included), -1 for </s>, padding
    sentence_of_token: torch.Tensor  # [windows * length]: sentence number across the batch, -1 likewise
    documents: int
    sentences: int
    # [windows * length]: the position's token number in its document's encoding, -1 for the frame and padding;
    # with `offsets` (each document's (start, end) character span per token), what maps tags back onto the text
    token_of_position: torch.Tensor
    offsets: list[list[tuple[int, int]]]


def pack(tokenizer: Any, documents: Sequence[Sequence[str]], max_length: int) -> Windows:
    """Windows for documents given as their sentences (a document's text is its sentences joined)."""
    texts = ["".join(sentences) for sentences in documents]
    # whole texts, longer than the encoder takes: the windows below cut them (verbose=False: no length warning)
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    prefix = tokenizer(PASSAGE.rstrip(), add_special_tokens=False)["input_ids"]
    head, tail = [tokenizer.cls_token_id, *prefix], [tokenizer.sep_token_id]
    budget = max_length - len(head) - len(tail)
    rows: list[tuple[list[int], list[int], list[int], list[int]]] = []  # ids, document, sentence, token numbers
    sentence_base = 0
    for d, sentences in enumerate(documents):
        starts = list(accumulate((len(s) for s in sentences[:-1]), initial=0))
        owner = [sentence_base + max(0, bisect_right(starts, start) - 1) for start, _ in encoded["offset_mapping"][d]]
        window: tuple[list[int], list[int], list[int]] = ([], [], [])
        first_row = len(rows)
        for piece in _sentence_runs(encoded["input_ids"][d], owner, budget):
            if window[0] and len(window[0]) + len(piece[0]) > budget:
                rows.append(_framed(head, tail, window, d))
                window = ([], [], [])
            window = (window[0] + piece[0], window[1] + piece[1], window[2] + piece[2])
        if window[0] or len(rows) == first_row:  # an empty document still gets its (empty) window
            rows.append(_framed(head, tail, window, d))
        sentence_base += len(sentences)
    width = max(len(r[0]) for r in rows)
    pad = tokenizer.pad_token_id
    ids_t = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    doc_index = torch.tensor([r[1] + [-1] * (width - len(r[1])) for r in rows]).reshape(-1)
    sentence_index = torch.tensor([r[2] + [-1] * (width - len(r[2])) for r in rows]).reshape(-1)
    token_index = torch.tensor([r[3] + [-1] * (width - len(r[3])) for r in rows]).reshape(-1)
    offsets = [list(map(tuple, spans)) for spans in encoded["offset_mapping"]]
    return Windows(ids_t, mask, doc_index, sentence_index, len(documents), sentence_base, token_index, offsets)


def _sentence_runs(ids: list[int], owner: list[int], budget: int) -> list[tuple[list[int], list[int], list[int]]]:
    """The token runs of each sentence (ids, sentence numbers, token numbers), a run longer than the budget cut
    into budget-sized pieces."""
    runs: list[tuple[list[int], list[int], list[int]]] = []
    for i, (token, sentence) in enumerate(zip(ids, owner, strict=True)):
        if i == 0 or sentence != owner[i - 1] or len(runs[-1][0]) == budget:
            runs.append(([], [], []))
        runs[-1][0].append(token)
        runs[-1][1].append(sentence)
        runs[-1][2].append(i)
    return runs


def _framed(
    head: list[int], tail: list[int], window: tuple[list[int], list[int], list[int]], document: int
) -> tuple[list[int], list[int], list[int], list[int]]:
    ids, sentences, tokens = window
    outside = [-1] * len(head)
    return (
        head + ids + tail,
        [document] * len(head) + [document] * len(ids) + [-1] * len(tail),
        outside + sentences + [-1] * len(tail),
        outside + tokens + [-1] * len(tail),
    )


def segment_mean(hidden: torch.Tensor, index: torch.Tensor, segments: int) -> torch.Tensor:
    """Mean of the token vectors of each segment ([segments, hidden]); tokens with index -1 are left out."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    keep = index >= 0
    sums = torch.zeros(segments, flat.shape[-1], dtype=flat.dtype).index_add_(0, index[keep], flat[keep])
    counts = torch.bincount(index[keep], minlength=segments).clamp(min=1).unsqueeze(-1)
    return sums / counts.to(flat.dtype)
