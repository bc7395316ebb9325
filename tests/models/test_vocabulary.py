"""The encoder's vocabulary cut to Japanese scripts (models.vocabulary): which pieces stay, that the weights follow
their pieces, and that real Japanese text is cut into exactly the pieces the full vocabulary gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models import vocabulary
from models.encoder import E5Weights, build_tokenizer, read_e5_bin
from pipelines.base_model import bundled_model_path


@pytest.mark.parametrize(
    "piece", ["▁最高", "でした", "ｱﾌﾟﾘ", "▁the", "Wi", "４０４", "（´", "😡", "▁", "ω", "д", "ಠ", "é", "<s>"]
)
def test_pieces_of_japanese_text_and_every_single_character_stay(piece: str) -> None:
    assert vocabulary.kept(piece)


@pytest.mark.parametrize("piece", ["โอ", "▁Привет", "kém", "▁안녕", "ελ"])
def test_pieces_of_other_scripts_go(piece: str) -> None:
    assert not vocabulary.kept(piece)


def test_prune_keeps_rows_with_their_pieces_and_renumbers_the_special_ones() -> None:
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁最高", -5.0), ("โอ", -6.0)]
    pieces += [("ω", -7.0), ("привет", -8.0), ("<mask>", 0.0)]
    rows = np.arange(len(pieces) * 2, dtype=np.float32).reshape(-1, 2)
    weights = E5Weights(
        config={"hidden": 2, "vocab": len(pieces)},
        pieces=pieces,
        special={"bos": 0, "pad": 1, "eos": 2, "unk": 3},
        norm={},
        tensors={"emb.word": rows.reshape(-1), "emb.pos": np.zeros(4, np.float32)},
    )
    pruned, ids = vocabulary.prune(weights)
    assert ids == [0, 1, 2, 3, 4, 6, 8]
    assert [p for p, _ in pruned.pieces] == ["<s>", "<pad>", "</s>", "<unk>", "▁最高", "ω", "<mask>"]
    assert pruned.tensors["emb.word"].reshape(-1, 2).tolist() == rows[ids].tolist()
    assert pruned.special == weights.special and pruned.config["vocab"] == 7
    assert pruned.tensors["emb.pos"] is weights.tensors["emb.pos"]


TEXTS = [
    "注文から三日で届きました。梱包も丁寧で満足しています。",
    "安いけど遅い。悪くないけど、二度と買わないかも…",
    "ｱﾌﾟﾘが落ちる😡 ｱｯﾌﾟﾃﾞｰﾄ後から毎回ｴﾗｰ４０４",
    "店員さんの態度が悪くて残念でした（´・ω・｀）",
    "神対応すぎて草ｗｗｗ ( ﾟдﾟ) ಠ_ಠ ¯\\_(ツ)_/¯",
    "iPhone 15でQRコード決済がエラーになる件、Wi-Fiでも4Gでも同じです。",
    "めっちゃ美味しかったわ〜、また来るで！🍜🍜🍜 ★★★★☆",
    "〒100-0001 東京都千代田区千代田1-1 ①②③ ㈱ｺｴ",
    "The delivery was late and the box was damaged.",
]


@pytest.fixture(scope="module")
def tokenizers() -> tuple[Any, Any, list[int]]:
    weights = read_e5_bin(bundled_model_path())
    pruned, ids = vocabulary.prune(weights)
    return build_tokenizer(weights), build_tokenizer(pruned), ids


def test_japanese_text_is_cut_into_the_same_pieces_as_with_every_piece(tokenizers: tuple[Any, Any, list[int]]) -> None:
    full, pruned, ids = tokenizers
    for text in TEXTS:
        for prefix in ("query: ", "passage: "):
            expected = full(prefix + text)["input_ids"]
            assert [ids[i] for i in pruned(prefix + text)["input_ids"]] == expected, text


def test_text_of_a_dropped_script_is_cut_finer_not_lost(tokenizers: tuple[Any, Any, list[int]]) -> None:
    full, pruned, ids = tokenizers
    text = "課金が増えなければโอเค"
    assert pruned.decode(pruned(text)["input_ids"], skip_special_tokens=True) == text
    assert len(pruned(text)["input_ids"]) > len(full(text)["input_ids"])
    assert pruned.unk_token_id not in pruned(text)["input_ids"]
    assert len(pruned) == len(ids) < len(full) // 2
