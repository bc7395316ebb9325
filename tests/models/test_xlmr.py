"""The serving encoder (models/xlmr.py, plain torch) computes what transformers' XLMRobertaModel computes, and its
tokenizer cuts and places tokens as transformers' fast tokenizer does; hub ids and other models still load through
`from_pretrained`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoTokenizer, XLMRobertaModel

from models import encoder, xlmr
from models.registry import DEFAULT_BASE_MODEL
from pipelines.common import ROOT
from tests.models.tiny import write_tiny_base

TEXTS = [
    "配送が遅いけど、商品は最高でした！",
    "ｱﾌﾟﾘが落ちてﾛｸﾞｲﾝできません(´・ω・`)",
    "悪くない😊",
    "サポートの方の対応がとても丁寧で、次回もこちらで購入したいと思います。ありがとうございました。",
]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_base(tmp_path_factory.mktemp("xlmr") / "base", layers=3)


def batch(tokenizer: xlmr.FastTokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """The texts as one padded batch of different lengths, with the special tokens."""
    ids = [
        [tokenizer.cls_token_id, *row, tokenizer.sep_token_id]
        for row in tokenizer(TEXTS, add_special_tokens=False)["input_ids"]
    ]
    width = max(map(len, ids))
    input_ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in ids])
    return input_ids, (input_ids != tokenizer.pad_token_id).long()


def assert_same_outputs(directory: Path) -> None:
    lean, tokenizer = xlmr.load(directory)
    assert isinstance(lean, xlmr.XLMRobertaEncoder)
    reference = XLMRobertaModel.from_pretrained(directory, add_pooling_layer=False).eval()
    input_ids, mask = batch(tokenizer)
    with torch.inference_mode():
        ours = lean(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        theirs = reference(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    real = mask.bool()
    assert ours.hidden_states is not None and len(ours.hidden_states) == len(theirs.hidden_states)
    for mine, expected in zip(ours.hidden_states, theirs.hidden_states, strict=True):
        torch.testing.assert_close(mine[real], expected[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.last_hidden_state[real], theirs.last_hidden_state[real], atol=1e-5, rtol=1e-5)


def test_a_tiny_encoder_matches_transformers_layer_by_layer(tiny_base: Path) -> None:
    assert_same_outputs(tiny_base)


def test_the_shipped_base_model_matches_transformers() -> None:
    assert_same_outputs(Path(DEFAULT_BASE_MODEL))


def test_tokens_and_offsets_match_the_transformers_tokenizer() -> None:
    ours = xlmr.FastTokenizer(Path(DEFAULT_BASE_MODEL))
    theirs = AutoTokenizer.from_pretrained(DEFAULT_BASE_MODEL)
    mine = ours(TEXTS, add_special_tokens=False, return_offsets_mapping=True)
    expected = theirs(TEXTS, add_special_tokens=False, return_offsets_mapping=True)
    assert mine["input_ids"] == expected["input_ids"]
    assert [[tuple(o) for o in row] for row in mine["offset_mapping"]] == [
        [tuple(o) for o in row] for row in expected["offset_mapping"]
    ]
    assert (
        ours("passage:", add_special_tokens=False)["input_ids"]
        == theirs("passage:", add_special_tokens=False)["input_ids"]
    )
    special = (theirs.cls_token_id, theirs.sep_token_id, theirs.pad_token_id)
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id) == special


def test_hub_ids_and_other_directories_load_through_from_pretrained(
    tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(encoder, "load_encoder", lambda name: asked.append(str(name)) or ("model", "tokenizer"))
    without_tokenizer_json = tmp_path / "no-tokenizer-json"
    shutil.copytree(tiny_base, without_tokenizer_json)
    (without_tokenizer_json / "tokenizer.json").unlink()

    assert xlmr.load("intfloat/multilingual-e5-small") == ("model", "tokenizer")
    assert xlmr.load(without_tokenizer_json) == ("model", "tokenizer")
    assert asked == ["intfloat/multilingual-e5-small", str(without_tokenizer_json)]
    assert xlmr.servable(tiny_base) and not xlmr.servable(without_tokenizer_json)


def test_bfloat16_layers_answer_in_float32_close_to_float32(tiny_base: Path) -> None:
    full, tokenizer = xlmr.load(tiny_base)
    half, _ = xlmr.load(tiny_base)
    assert isinstance(full, xlmr.XLMRobertaEncoder) and isinstance(half, xlmr.XLMRobertaEncoder)
    half.run_in_bfloat16()
    assert {p.dtype for p in half.encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in half.embeddings.parameters()} == {torch.float32}  # read from the file as they are
    input_ids, mask = batch(tokenizer)
    with torch.inference_mode():
        expected = full(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        found = half(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    assert found.hidden_states is not None and expected.hidden_states is not None
    assert all(state.dtype == torch.float32 for state in (found.last_hidden_state, *found.hidden_states))
    torch.testing.assert_close(found.hidden_states[0], expected.hidden_states[0])  # the embeddings: unchanged
    real = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(found.last_hidden_state[real], expected.last_hidden_state[real])
    assert cosine.min() > 0.99  # bfloat16 keeps 8 bits of mantissa: close, not equal
    assert not torch.equal(found.last_hidden_state, expected.last_hidden_state)


def test_loading_and_encoding_do_not_import_the_compiler(tiny_base: Path) -> None:
    """torch._dynamo is imported by nn.Embedding's random initialization, even on the meta device: 1.9 s and 70 MiB
    of every serving process's start, for weights that are loaded anyway. A new interpreter, as a server starts."""
    probe = (
        "import sys; from pathlib import Path; import torch; from models import xlmr\n"
        f"model, tokenizer = xlmr.load({str(tiny_base)!r})\n"
        "ids = torch.tensor([[tokenizer.cls_token_id, 5, tokenizer.sep_token_id]])\n"
        "model(input_ids=ids, attention_mask=torch.ones_like(ids))\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_texts_states_do_not_depend_on_the_padding_beside_it(tiny_base: Path) -> None:
    """The layers run on real tokens only (RealTokens): a short text beside a long one gets the states it gets
    alone, and the padding positions come back as zeros."""
    model, tokenizer = xlmr.load(tiny_base)
    input_ids, mask = batch(tokenizer)
    with torch.inference_mode():
        together = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        for row in range(len(TEXTS)):
            n = int(mask[row].sum())
            alone = model(input_ids=input_ids[row : row + 1, :n], attention_mask=mask[row : row + 1, :n])
            torch.testing.assert_close(together[row, :n], alone.last_hidden_state[0], atol=1e-5, rtol=1e-5)
            assert not together[row, n:].any()


def test_rows_come_in_few_sizes() -> None:
    """oneDNN compiles a kernel per matrix shape and keeps 32: the row counts of bfloat16 batches are rounded up to a
    few sizes, at most 1/8 more rows above 128 tokens."""
    sizes = {xlmr.rows_for(n) for n in range(1, 4097)}
    assert len(sizes) <= 8 + 8 * 5  # 16 … 128, then 8 per doubling up to 4,096
    for n in range(1, 4097):
        rows = xlmr.rows_for(n)
        assert rows >= n and rows % 16 == 0
        assert rows <= max(n + 15, n * 9 / 8)


def test_rounded_up_rows_change_no_state(tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows added in bfloat16 (copies of the first token) are computed and never read: every real token's states,
    hidden states included, are those of the real rows alone, and padding stays zero."""
    model, tokenizer = xlmr.load(tiny_base)
    model.run_in_bfloat16()
    input_ids, mask = batch(tokenizer)
    assert xlmr.rows_for(int(mask.sum())) > int(mask.sum())  # the batch does get rows added
    with torch.inference_mode():
        rounded = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        monkeypatch.setattr(xlmr, "rows_for", lambda tokens: tokens)
        exact = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    assert rounded.hidden_states is not None and exact.hidden_states is not None
    for found, expected in zip(rounded.hidden_states, exact.hidden_states, strict=True):
        torch.testing.assert_close(found, expected, atol=2e-2, rtol=2e-2)  # bfloat16: kernels differ by row count
    assert not rounded.last_hidden_state[~mask.bool()].any()


@pytest.mark.skipif(not xlmr.PackedLinear.available(torch.bfloat16), reason="oneDNN does not multiply bfloat16 here")
@pytest.mark.parametrize("gelu", [False, True])
def test_packed_weights_give_the_products_of_the_plain_layer(gelu: bool) -> None:
    """The weights oneDNN reordered once (xlmr.PackedLinear) give nn.Linear's bfloat16 products, with the exact GELU
    where it is fused, for a one-sentence request's rows and a batch's."""
    torch.manual_seed(0)
    linear = nn.Linear(384, 1536).to(torch.bfloat16)
    packed = xlmr.PackedLinear(linear, gelu=gelu)
    for rows in (1, 16, 300):
        x = torch.randn(rows, 384).to(torch.bfloat16)
        with torch.inference_mode():
            expected = linear(x).float()
            expected = torch.nn.functional.gelu(expected) if gelu else expected
            found = packed(x)
        assert found.shape == (rows, 1536) and found.dtype == torch.bfloat16
        torch.testing.assert_close(found.float(), expected, atol=0.05, rtol=0.02)  # bfloat16 rounding, fused or not


@pytest.mark.skipif(not xlmr.PackedLinear.available(torch.bfloat16), reason="oneDNN does not multiply bfloat16 here")
def test_bfloat16_layers_multiply_with_packed_weights(tiny_base: Path) -> None:
    model, _ = xlmr.load(tiny_base)
    assert isinstance(model, xlmr.XLMRobertaEncoder)
    model.run_in_bfloat16()
    layer = model.encoder.layer[0]
    products = [layer.attention.self.query, layer.attention.self.key, layer.attention.self.value]
    products += [layer.attention.output.dense, layer.intermediate, layer.output.dense]
    assert all(isinstance(p, xlmr.PackedLinear) for p in products)
    assert not any(isinstance(m, nn.Linear) for m in model.encoder.modules())


@pytest.mark.skipif(not xlmr.PackedLinear.available(torch.float32), reason="no oneDNN in this torch build")
def test_float32_packed_weights_give_the_plain_states(tiny_base: Path) -> None:
    """Served in float32, the layers multiply with packed weights too: the same states up to summation order."""
    plain, tokenizer = xlmr.load(tiny_base)
    packed, _ = xlmr.load(tiny_base)
    assert isinstance(packed, xlmr.XLMRobertaEncoder)
    packed.pack_weights()
    assert packed.weights_packed and isinstance(packed.encoder.layer[0].intermediate, xlmr.PackedLinear)
    input_ids, mask = batch(tokenizer)
    with torch.inference_mode():
        expected = plain(input_ids=input_ids, attention_mask=mask).last_hidden_state
        found = packed(input_ids=input_ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=1e-5)
